/* test_no_memory.c: mnist.h's functions that do not say they return MNIST_NO_MEMORY return -1 out of
 * memory, as its conventions say, with a message naming the file. malloc, calloc and realloc are
 * wrapped (the Makefile links this program with --wrap): the k-th call made by the library during
 * one call of a function returns NULL, for each k in turn until the call makes fewer than k. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mnist.h"

static long fail_at, calls; /* 0: none fails */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
static int fails(void) { return fail_at && ++calls == fail_at; }
void *__wrap_malloc(size_t n) { return fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return fails() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return fails() ? NULL : __real_realloc(p, n); }

enum { LOAD, CHECKPOINT, PICTURE, LOG, NCALLS };
static const char *const names[NCALLS] = {"mnist_model_load", "mnist_checkpoint_load", "mnist_picture_png",
                                          "mnist_read_log"};

/* call's function on path; what it made freed */
static int call(int which, const char *path, mnist_err *err) {
    static const uint8_t images[2 * MNIST_PIXELS], labels[2] = {3, 4};
    mnist_model m;
    mnist_train_opts o;
    mnist_run_state st;
    mnist_epoch_stats s[4];
    int rc = which == LOAD         ? mnist_model_load(&m, path, err)
             : which == CHECKPOINT ? mnist_checkpoint_load(path, &m, &o, &st, err)
             : which == PICTURE    ? mnist_picture_png(path, images, labels, 2, err)
                                   : mnist_read_log(path, s, 4, err);
    if (rc >= 0 && (which == LOAD || which == CHECKPOINT)) mnist_model_free(&m);
    if (rc >= 0 && which == CHECKPOINT) mnist_run_state_free(&st);
    return rc;
}

int main(void) {
    char dir[] = "/tmp/mnist-test-no-memory-XXXXXX", paths[NCALLS][64];
    if (!mkdtemp(dir)) return check(0, "a temporary folder"), check_status();
    const char *file[NCALLS] = {"m.safetensors", "c.safetensors", "p.png", "log.jsonl"};
    for (int i = 0; i < NCALLS; i++) snprintf(paths[i], sizeof paths[i], "%s/%s", dir, file[i]);
    mnist_model m;
    mnist_err err;
    mnist_run_state st;
    mnist_train_opts o = mnist_train_defaults();
    o.optimizer = MNIST_ADAM;
    mnist_split train = {.n = 1, .rows = 2, .cols = 2, .images = (uint8_t[4]){0}, .labels = (uint8_t[1]){0}};
    FILE *f = fopen(paths[LOG], "w");
    int ok = f && fputs("{\"epoch\": 0, \"loss\": 0.5, \"test_loss\": 0.4, \"test_accuracy\": 0.9}\n", f) >= 0;
    ok = f && !fclose(f) && ok && mnist_model_create(&m, (int[]){4, 3, MNIST_CLASSES}, 3, &err) == 0;
    ok = ok && mnist_model_save(&m, paths[LOAD], &err) == 0 && mnist_run_state_start(&st, &m, &o, &train, &err) == 0;
    ok = ok && mnist_checkpoint_save(paths[CHECKPOINT], &m, &o, &st, &err) == 0;
    check(ok, "the files to read are written%s%s", ok ? "" : ": ", ok ? "" : err.msg);
    if (ok) mnist_run_state_free(&st), mnist_model_free(&m);
    for (int which = 0; ok && which < NCALLS; which++) {
        int failed = 0, other = 0, unnamed = 0;
        long k;
        for (k = 1;; k++) {
            calls = 0, fail_at = k;
            strcpy(err.msg, "");
            int rc = call(which, paths[which], &err);
            fail_at = 0;
            if (rc >= 0 && calls < k) break; /* no k-th allocation: all were failed in turn */
            if (rc >= 0) continue;           /* one it can do without */
            failed++;
            if (rc != -1 && !other++)
                printf("  %s, allocation %ld failing: %d, \"%s\"\n", names[which], k, rc, err.msg);
            if (!strstr(err.msg, paths[which]) && !unnamed++)
                printf("  %s, allocation %ld failing: \"%s\"\n", names[which], k, err.msg);
        }
        check(failed > 0 && !other && !unnamed,
              "%s: each of its %ld allocations failing in turn, %d failures, %d of them not -1, %d not naming the file",
              names[which], k - 1, failed, other, unnamed);
    }
    for (int i = 0; i < NCALLS; i++) unlink(paths[i]);
    rmdir(dir);
    return check_status();
}
