/* layers.c: each of the CPU backend's products of one training step, alone, on real batches.
 *
 *   layers [--data DIR] [--threads N] [--steps N]
 *
 * For the lab's shapes (784, 1024, 1024, 10; 128 rows): the first layer's forward product and
 * weight gradient over the input's nonzeros (cpu_sparse) and dense (cblas), the building of the
 * sparse groups, and the second layer's three dense products. Times are the mean per step over
 * --steps random batches of MNIST's training images; "dense-equivalent GFLOP/s" counts the dense
 * product's arithmetic, so a sparse product above the dense one's rate is that much faster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "mnist.h"
#include "util.h"

enum { B = 128, IN = 784, H = 1024 };

static float *rnd(size_t n, mnist_rng *r, double scale) {
    float *p = malloc(n * sizeof *p);
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)(scale * mnist_rng_gauss(r));
    return p;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int threads = 0, steps = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: layers [--data DIR] [--threads N] [--steps N]\n");
            return 2;
        }
    }
    char path[4096];
    mnist_err err;
    mnist_data d;
    if (mnist_data_dir(path, sizeof path, dir, &err) || mnist_data_load(&d, mnist_dataset_get("mnist"), path, 0, &err)) {
        fprintf(stderr, "layers: %s (run 'make data')\n", err.msg);
        return 1;
    }
    int nth = cpu_threads(threads);
    mnist_rng r;
    mnist_rng_seed(&r, 0);
    float *x = malloc(sizeof(float) * B * IN), *b = calloc(H, sizeof(float)), *y = malloc(sizeof(float) * B * H);
    float *w1 = rnd((size_t)IN * H, &r, 0.1), *w2 = rnd((size_t)H * H, &r, 0.1), *h = rnd((size_t)B * H, &r, 0.5);
    float *dz = rnd((size_t)B * H, &r, 0.01), *dh = malloc(sizeof(float) * B * H);
    cpu_sparse sp;
    if (!x || !b || !y || !dh || cpu_sparse_alloc(&sp, B, IN)) return 1;
    enum { BUILD, FWD1_SPARSE, FWD1_DENSE, WGRAD1_SPARSE, WGRAD1_DENSE, FWD2, IGRAD2, WGRAD2, NT };
    static const char *name[NT] = {"build the sparse groups",  "layer 1 forward, sparse",
                                   "layer 1 forward, dense",   "layer 1 weight gradient + SGD, sparse",
                                   "layer 1 weight gradient + SGD, dense", "layer 2 forward",
                                   "layer 2 input gradient",   "layer 2 weight gradient + SGD"};
    static const double flop[NT] = {0, 2.0 * B * IN * H, 2.0 * B * IN * H, 2.0 * B * IN * H, 2.0 * B * IN * H,
                                    2.0 * B * H * H, 2.0 * B * H * H, 2.0 * B * H * H};
    double t[NT] = {0};
    int sparse = 0;
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < B; i++) {
            const uint8_t *src = d.train.images + (size_t)(mnist_rng_u32(&r) % (uint32_t)d.train.n) * IN;
            for (int k = 0; k < IN; k++) x[i * IN + k] = (float)src[k] / 255.0f;
        }
        double t0 = now_seconds(), t1;
        int is_sparse = cpu_sparse_build(&sp, nth, x, B, IN, 1);
        sparse += is_sparse;
        t[BUILD] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_forward(nth, y, x, is_sparse ? &sp : NULL, w1, b, B, IN, H, CPU_TANH);
        t[FWD1_SPARSE] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_forward(nth, y, x, NULL, w1, b, B, IN, H, CPU_TANH);
        t[FWD1_DENSE] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_weight_grad(nth, w1, b, NULL, NULL, x, is_sparse ? &sp : NULL, dz, B, IN, H, 1e-9f, 1.0f);
        t[WGRAD1_SPARSE] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_weight_grad(nth, w1, b, NULL, NULL, x, NULL, dz, B, IN, H, 1e-9f, 1.0f);
        t[WGRAD1_DENSE] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_forward(nth, y, h, NULL, w2, b, B, H, H, CPU_TANH);
        t[FWD2] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_input_grad(nth, dh, dz, w2, NULL, h, B, H, H, MNIST_TANH);
        t[IGRAD2] += (t1 = now_seconds()) - t0, t0 = t1;
        cpu_layer_weight_grad(nth, w2, b, NULL, NULL, h, NULL, dz, B, H, H, 1e-9f, 1.0f);
        t[WGRAD2] += now_seconds() - t0;
    }
    printf("%d threads, %d steps of %d MNIST training images (%d taken as sparse)\n\n", nth, steps, B, sparse);
    printf("| product | ms per step | dense-equivalent GFLOP/s |\n| --- | --- | --- |\n");
    for (int i = 0; i < NT; i++) {
        double ms = t[i] / steps * 1e3;
        if (flop[i] > 0)
            printf("| %s | %.3f | %.0f |\n", name[i], ms, flop[i] / (ms * 1e-3) * 1e-9);
        else
            printf("| %s | %.3f | |\n", name[i], ms);
    }
    cpu_sparse_free(&sp);
    free(x), free(b), free(y), free(w1), free(w2), free(h), free(dz), free(dh);
    mnist_data_free(&d);
    return 0;
}
