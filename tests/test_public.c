/* test_public.c: build/libmnist.a as a program of someone else's links it. The archive exports
 * only the mnist_ names of mnist.h: this file defines functions with the names the library uses
 * inside (errf, now_seconds, cpu_forward, backend_create, atomic_open), which would clash at link
 * time were those global there, and it trains, saves, loads and predicts through mnist.h alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mnist.h"

/* The library's inner names, ours here: each counts its calls, which must stay 0. */
static int ours;
int errf(void) { return ++ours; }
double now_seconds(void) { return ++ours; }
void cpu_forward(void) { ++ours; }
void *backend_create(void) { return ++ours, NULL; }
int atomic_open(void) { return ++ours; }

/* splitmix64's finaliser, mnist.h's mix */
static uint64_t mix(uint64_t z) {
    z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u;
    z = (z ^ z >> 27) * 0x94d049bb133111ebu;
    return z ^ z >> 31;
}

int main(void) {
    enum { SIDE = 4, N = 40 };
    static uint8_t images[N * SIDE * SIDE], labels[N];
    mnist_rng r;
    mnist_rng_seed(&r, 5);
    for (int i = 0; i < N * SIDE * SIDE; i++) images[i] = (uint8_t)(mnist_rng_u32(&r) & 255);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)(i % MNIST_CLASSES);
    mnist_split s = {.n = N, .rows = SIDE, .cols = SIDE, .images = images, .labels = labels};
    mnist_data d = {.train = s, .test = s};
    mnist_model m, back;
    mnist_err err;
    int ok = mnist_model_create(&m, (int[]){SIDE * SIDE, 12, MNIST_CLASSES}, 3, &err) == 0;
    check(ok, "a model is made through mnist.h");
    if (!ok) return check_status();
    mnist_model_init_lab(&m, 0.1, 0);
    mnist_train_opts o = mnist_train_defaults();
    o.batch = 8, o.epochs = 2, o.lr = 0.1, o.threads = 1;
    mnist_eval_result before, after;
    ok = mnist_evaluate(&m, &s, 1, &before, &err) == 0 && mnist_train(&m, &d, &o, NULL, NULL, &err) == 0 &&
         mnist_evaluate(&m, &s, 1, &after, &err) == 0;
    check(ok && after.loss < before.loss, "it trains: loss %.4f before, %.4f after", before.loss, after.loss);
    char path[] = "/tmp/mnist-test-public-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    ok = fd >= 0 && mnist_model_save(&m, path, &err) == 0 && mnist_model_load(&back, path, &err) == 0;
    check(ok && back.nparams == m.nparams && !memcmp(back.params, m.params, m.nparams * sizeof(float)),
          "it saves and loads back bit for bit%s%s", ok ? "" : ": ", ok ? "" : err.msg);
    float x[SIDE * SIDE], p[MNIST_CLASSES];
    for (int i = 0; i < SIDE * SIDE; i++) x[i] = images[i] / 255.0f;
    double sum = 0;
    ok = mnist_predict(&m, x, 1, p, &err) == 0;
    for (int j = 0; j < MNIST_CLASSES; j++) sum += p[j];
    check(ok && fabs(sum - 1) < 1e-5, "it predicts: the probabilities sum to %.7f", sum);
    /* mnist_augment as mnist.h writes it out, with flip and without (no mirroring then) */
    int differ = 0, mirrored[2] = {0, 0};
    for (int flip = 0; flip < 2; flip++)
        for (int row = 0; row < 64; row++) {
            uint64_t k = mix((uint64_t)9 << 40 ^ (uint64_t)5 << 8 ^ 255);
            uint64_t v = mix(k + (uint64_t)(row + 1) * 0x9e3779b97f4a7c15u);
            int dx, dy, mirror;
            mnist_augment(9, 5, row, 3, flip, &dx, &dy, &mirror);
            differ += dx != (int)((v >> 32) % 7) - 3 || dy != (int)((v & 0xffffffff) % 7) - 3 ||
                      mirror != (flip ? (int)(mix(v) >> 63) : 0);
            mirrored[flip] += mirror;
        }
    check(!differ && mirrored[0] == 0 && mirrored[1] > 0,
          "mnist_augment is mnist.h's formula: %d of 128 rows differ; %d of 64 mirrored without flip, %d with", differ,
          mirrored[0], mirrored[1]);
    /* a device that is neither (an enum's value out of range) was taken for CUDA: usable where a GPU is */
    float q[MNIST_CLASSES];
    check(mnist_device_check((mnist_device)7, &err) == -1 && strstr(err.msg, "device 7 is not cpu or cuda"),
          "mnist_device_check of device 7 is refused: \"%s\"", err.msg);
    check(mnist_predict_on(&m, x, 1, (mnist_device)7, q, &err) == -1 && strstr(err.msg, "device 7 is not cpu or cuda"),
          "mnist_predict_on device 7 is refused: \"%s\"", err.msg);
    /* the library has no flags: a GPU that cannot be used is said in its terms (it said "--device cuda: ...") */
    int gpu = mnist_device_check(MNIST_CUDA, &err) == 0;
    check(gpu || !strstr(err.msg, "--"), "mnist_device_check(MNIST_CUDA) names no flag: \"%s\"", gpu ? "usable" : err.msg);
    mnist_model none;
    check(mnist_model_load(&none, "/nonexistent/model.safetensors", &err) == -1 && strstr(err.msg, "/nonexistent"),
          "its errors come back through mnist_err: \"%s\"", err.msg);
    /* a confusion matrix named by NULL classes: the digits (it read through NULL); a log read with err NULL (it wrote
     * through it) */
    int conf[MNIST_CLASSES][MNIST_CLASSES] = {{0}};
    conf[3][5] = 7;
    ok = mnist_plot_confusion(path, (const int(*)[MNIST_CLASSES])conf, NULL, &err) == 0;
    char svg[1 << 16] = "";
    FILE *f = ok ? fopen(path, "r") : NULL;
    size_t got = f ? fread(svg, 1, sizeof svg - 1, f) : 0;
    if (f) fclose(f);
    svg[got] = '\0';
    check(ok && strstr(svg, ">3</text>") && strstr(svg, ">9</text>"),
          "mnist_plot_confusion with classes NULL names the rows and columns 0 to 9%s%s", ok ? "" : ": ", ok ? "" : err.msg);
    mnist_epoch_stats es[4];
    f = fopen(path, "w");
    if (f) fputs("{\"epoch\":0,\"loss\":2.3}\n{\"epoch\":1,\"loss\":1.9}\n", f), fclose(f);
    check(mnist_read_log(path, es, 4, NULL) == 2 && mnist_read_log("/nonexistent/log.jsonl", es, 4, NULL) == -1,
          "mnist_read_log takes err NULL, as every other function does");
    /* the library has no command line: a line that is no record, and a model given as a checkpoint, are said in its
     * terms (they said "not a record of 'mnist train --log'", "checkpoints come from 'mnist train --checkpoint'") */
    f = fopen(path, "w");
    if (f) fputs("{\"epoch\":0,\"loss\":2.3}\nnot a record\n", f), fclose(f);
    check(mnist_read_log(path, es, 4, &err) == -1 && strstr(err.msg, "line 2") && !strstr(err.msg, "--"),
          "mnist_read_log of a line that is no record names no flag: \"%s\"", err.msg);
    mnist_run_state st;
    mnist_train_opts co;
    mnist_model cm;
    int refused = mnist_model_save(&m, path, &err) == 0 && mnist_checkpoint_load(path, &cm, &co, &st, &err) == -1;
    check(refused && strstr(err.msg, "not a checkpoint") && !strstr(err.msg, "--"),
          "mnist_checkpoint_load of a model file names no flag: \"%s\"", err.msg);
    check(ours == 0, "none of this program's own errf, now_seconds, cpu_forward, backend_create, atomic_open was "
                     "called by the library (%d calls)", ours);
    unlink(path);
    mnist_model_free(&m);
    if (ok) mnist_model_free(&back);
    return check_status();
}
