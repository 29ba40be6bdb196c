/* bench.c: the floor and the program, measured in one run.
 *
 *   bench [--data DIR] [--threads N] [--epochs N]
 *
 * The floor is the time of exactly the matrix products of one epoch of the lab's recipe: for
 * each of the 468 steps, the 8 cblas_sgemm calls the backend makes (3 forward, 2 input
 * gradients, 3 weight gradients with the update folded in), same shapes, same BLAS, same
 * threads, nothing else. A round of it runs after each epoch; the ratio is the median of each
 * epoch over the floor measured next to it, so that whatever else the machine is doing weighs on
 * both alike. Prints one JSON object; bench/run.py makes the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cpu.h"
#include "mnist.h"
#include "util.h"

static const int L[4] = {784, 1024, 1024, 10};
enum { B = 128, STEPS = 468 };

static float *rnd(size_t n, mnist_rng *r) {
    float *p = malloc(n * sizeof *p);
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)(0.1 * mnist_rng_gauss(r));
    return p;
}

/* OpenBLAS's own threads for the floor; the CPU backend sets OpenBLAS to one thread and runs
 * its own (src/cpu.h), so each round sets them and puts the backend's setting back. */
static int floor_threads;

static double floor_epoch(void) {
    static float *a[4], *w[3], *d[4];
    openblas_set_num_threads(floor_threads);
    if (!a[0]) {
        mnist_rng r;
        mnist_rng_seed(&r, 1);
        for (int l = 0; l < 4; l++) a[l] = rnd((size_t)B * L[l], &r), d[l] = rnd((size_t)B * L[l], &r);
        for (int l = 0; l < 3; l++) w[l] = rnd((size_t)L[l] * L[l + 1], &r);
    }
    double t0 = now_seconds();
    for (int s = 0; s < STEPS; s++) {
        for (int l = 0; l < 3; l++)  // forward: a[l+1] (B, out) = a[l] (B, in) w[l] (in, out)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, L[l + 1], L[l], 1.0f, a[l], L[l], w[l],
                        L[l + 1], 0.0f, a[l + 1], L[l + 1]);
        for (int l = 2; l >= 0; l--) {
            if (l > 0)  // d[l] (B, in) = d[l+1] (B, out) w[l]^T
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, L[l], L[l + 1], 1.0f, d[l + 1], L[l + 1],
                            w[l], L[l + 1], 0.0f, d[l], L[l]);
            // w[l] (in, out) -= lr * a[l]^T (in, B) d[l+1] (B, out)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L[l], L[l + 1], B, -1e-9f, a[l], L[l], d[l + 1],
                        L[l + 1], 1.0f, w[l], L[l + 1]);
        }
    }
    double t = now_seconds() - t0;
    openblas_set_num_threads(1);
    return t;
}

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    double train[64], eval[64], floor[64];
    int n;
} epochs;

/* After each epoch, a round of the floor: epochs and floors interleave, so that whatever else
 * the machine is doing weighs on both alike. */
static int on_epoch(void *ud, const mnist_epoch_stats *s) {
    epochs *e = ud;
    double f = floor_epoch();
    if (e->n < 64) e->train[e->n] = s->seconds, e->eval[e->n] = s->eval_seconds, e->floor[e->n] = f, e->n++;
    fprintf(stderr, "  epoch %d: %.3f s, evaluation %.3f s, test accuracy %.4f; floor %.3f s\n", s->epoch, s->seconds,
            s->eval_seconds, s->test.accuracy, f);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int threads = 0, nepochs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--epochs")) nepochs = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench [--data DIR] [--threads N] [--epochs N]\n");
            return 2;
        }
    }
    floor_threads = cpu_threads(threads); /* the backend's count, for OpenBLAS's own threads */
    char path[4096];
    mnist_err err;
    mnist_data d;
    if (mnist_data_dir(path, sizeof path, dir, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double t0 = now_seconds();
    if (mnist_data_load(&d, mnist_dataset_get("mnist"), path, 1, &err)) {
        fprintf(stderr, "bench: %s (run 'make data')\n", err.msg);
        return 1;
    }
    double load = now_seconds() - t0;

    floor_epoch(); /* warm up: threads started, pages touched */
    mnist_model m;
    mnist_model_create(&m, L, 4, &err);
    mnist_model_init_lab(&m, 0.1, 0);
    mnist_train_opts o = mnist_train_defaults();
    o.epochs = nepochs;
    o.threads = threads;
    epochs e = {0};
    mnist_train_hooks hooks = {.on_epoch = on_epoch, .ud = &e};
    if (mnist_train(&m, &d, &o, &hooks, NULL, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double ratios[64];
    for (int i = 0; i < e.n; i++) ratios[i] = e.train[i] / e.floor[i];
    double ratio = median(ratios, e.n), fl = median(e.floor, e.n), ep = median(e.train, e.n), ev = median(e.eval, e.n);
    printf("{\"threads\":%d,\"load_s\":%.4f,\"floor_s\":%.4f,\"epoch_s\":%.4f,\"ratio\":%.4f,\"eval_s\":%.4f,"
           "\"eval_fraction\":%.4f,\"gflop_per_s\":%.1f}\n",
           floor_threads, load, fl, ep, ratio, ev, ev / ep, 573.0 / fl);
    mnist_model_free(&m);
    mnist_data_free(&d);
    return 0;
}
