/* test_sparse.c: the CPU backend's threaded layers, above all the products over a sparse input
 * (src/cpu.h, src/sparse.c), against sums in double precision and against the dense (cblas) path.
 *
 * Shapes are chosen to reach every branch: rows not a multiple of CPU_GROUP, inputs not a
 * multiple of CPU_GROUP, and output widths that need the 128-column tiles, the 16-column tiles and
 * single columns (on one thread 150 = 128 + 16 + 6, on two 300 = 144 + 156; 37 = 2 * 16 + 5; 5),
 * on 1, 2 and 3 threads. Some rows and some inputs are all zero. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"

enum { N = 37, IN = 51 };

static double urand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (double)(*s >> 8) / 16777216.0;
}

static float maxabs(const float *a, const float *b, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN becomes the maximum */
    }
    return m;
}

/* x (N, IN): about 20% nonzero, values in (0, 1]; row 5 and input 7 all zero. */
static void sparse_input(float *x, unsigned seed) {
    for (int r = 0; r < N; r++)
        for (int k = 0; k < IN; k++) {
            double u = urand(&seed);
            x[r * IN + k] = r == 5 || k == 7 || u > 0.2 ? 0.0f : (float)(urand(&seed) * 0.99 + 0.01);
        }
}

static void fill(float *p, size_t n, double scale, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((urand(&seed) - 0.5) * 2 * scale);
}

static void test_forward(int out) {
    float *x = malloc(sizeof(float) * N * IN), *w = malloc(sizeof(float) * IN * out), *b = malloc(sizeof(float) * out);
    float *ys = malloc(sizeof(float) * N * out), *yd = malloc(sizeof(float) * N * out), *y3 = malloc(sizeof(float) * N * out);
    double *ref = malloc(sizeof(double) * N * out);
    cpu_sparse sp;
    sparse_input(x, 1u + out);
    fill(w, (size_t)IN * out, 1.0, 2u + out);
    fill(b, out, 0.5, 3u + out);
    if (cpu_sparse_alloc(&sp, N, IN)) {
        check(0, "forward, %d outputs: allocate", out);
        return;
    }
    check(cpu_sparse_build(&sp, 2, x, N, IN, 0) == 1, "forward, %d outputs: a 20%%-nonzero input is taken as sparse", out);
    for (int act = CPU_TANH; act <= CPU_LOG_SOFTMAX; act++) {
        for (int r = 0; r < N; r++) {
            double mx = -INFINITY, s = 0.0;
            for (int j = 0; j < out; j++) {
                double z = b[j];
                for (int k = 0; k < IN; k++) z += (double)x[r * IN + k] * w[k * out + j];
                ref[r * out + j] = act == CPU_TANH ? tanh(z) : act == CPU_RELU ? (z > 0 ? z : 0) : z;
                if (z > mx) mx = z;
            }
            if (act == CPU_LOG_SOFTMAX) {
                for (int j = 0; j < out; j++) s += exp(ref[r * out + j] - mx);
                for (int j = 0; j < out; j++) ref[r * out + j] -= mx + log(s);
            }
        }
        cpu_layer_forward(1, ys, x, &sp, w, b, N, IN, out, (cpu_act)act);
        cpu_layer_forward(2, yd, x, NULL, w, b, N, IN, out, (cpu_act)act);
        double err = 0.0;
        for (int i = 0; i < N * out; i++) {
            double d = fabs(ys[i] - ref[i]);
            if (!(d <= err)) err = d;
        }
        /* sums of about 10 nonzero terms of size 1 in float: ~10 * 6e-8 * 10 = 6e-6; the tanh
         * approximation adds 4e-7 */
        const char *name = act == CPU_TANH ? "tanh" : act == CPU_RELU ? "relu" : "log-softmax";
        check(err < 2e-5, "forward, %d outputs, %s: sparse vs double, max error %.2g", out, name, err);
        float dd = maxabs(ys, yd, (size_t)N * out);
        check(dd < 2e-5, "forward, %d outputs, %s: sparse vs dense (cblas), max difference %.2g", out, name, dd);
        for (int nth = 2; nth <= 3; nth++) {
            cpu_layer_forward(nth, y3, x, &sp, w, b, N, IN, out, (cpu_act)act);
            check(memcmp(ys, y3, sizeof(float) * N * out) == 0, "forward, %d outputs, %s: %d threads give 1 thread's bits",
                  out, name, nth);
        }
    }
    /* A row's sums do not depend on the rows grouped with it: change row 1 (row 0's group mate)
     * and row 0 keeps its bits. */
    memcpy(yd, ys, sizeof(float) * N * out);
    for (int k = 0; k < IN; k++) x[1 * IN + k] = k % 7 ? 0.0f : 0.5f;
    int ok = cpu_sparse_build(&sp, 2, x, N, IN, 0);
    cpu_layer_forward(2, ys, x, &sp, w, b, N, IN, out, CPU_LOG_SOFTMAX);
    check(ok && memcmp(ys, yd, sizeof(float) * out) == 0,
          "forward, %d outputs: row 0's bits do not depend on row 1's zeros", out);
    cpu_sparse_free(&sp);
    free(x), free(w), free(b), free(ys), free(yd), free(y3), free(ref);
}

static void test_weight_grad(int out) {
    size_t nw = (size_t)IN * out;
    float *x = malloc(sizeof(float) * N * IN), *dz = malloc(sizeof(float) * N * out), *w = malloc(sizeof(float) * nw);
    float *b = malloc(sizeof(float) * out), *gw = malloc(sizeof(float) * nw), *gb = malloc(sizeof(float) * out);
    float *gwd = malloc(sizeof(float) * nw), *gbd = malloc(sizeof(float) * out), *w1 = malloc(sizeof(float) * nw);
    float *b1 = malloc(sizeof(float) * out), *w3 = malloc(sizeof(float) * nw), *b3 = malloc(sizeof(float) * out);
    cpu_sparse sp;
    sparse_input(x, 11u + out);
    fill(dz, (size_t)N * out, 0.1, 12u + out);
    fill(w, nw, 1.0, 13u + out);
    fill(b, out, 1.0, 14u + out);
    if (cpu_sparse_alloc(&sp, N, IN)) {
        check(0, "weight gradient, %d outputs: allocate", out);
        return;
    }
    cpu_sparse_build(&sp, 2, x, N, IN, 1);
    memset(gw, 0xff, sizeof(float) * nw); /* NaN everywhere: every entry must be written */
    cpu_layer_weight_grad(2, w, b, gw, gb, x, &sp, dz, N, IN, out, 0.0f, 1.0f);
    cpu_layer_weight_grad(2, w, b, gwd, gbd, x, NULL, dz, N, IN, out, 0.0f, 1.0f);
    double err = 0.0;
    for (int k = 0; k < IN; k++)
        for (int j = 0; j < out; j++) {
            double g = 0.0;
            for (int r = 0; r < N; r++) g += (double)x[r * IN + k] * dz[r * out + j];
            double d = fabs(gw[k * out + j] - g);
            if (!(d <= err)) err = d;
        }
    /* about 7 nonzero terms of size 0.1 per sum: float error ~1e-7 */
    check(err < 1e-6, "weight gradient, %d outputs: sparse vs double, max error %.2g", out, err);
    float dd = maxabs(gw, gwd, nw);
    check(dd < 1e-6, "weight gradient, %d outputs: sparse vs dense (cblas), max difference %.2g", out, dd);
    int zero = 1;
    for (int j = 0; j < out; j++) zero &= gw[7 * out + j] == 0.0f;
    check(zero, "weight gradient, %d outputs: an input zero in every row gets exactly 0", out);
    check(memcmp(gb, gbd, sizeof(float) * out) == 0, "weight gradient, %d outputs: the bias gradient, both paths", out);

    /* The SGD step folded in: w = decay w - lr g, b = decay b - lr gb; with decay 1 an input
     * that is zero in every row keeps its weights' bits; with 3 threads, the same bits. */
    float lr = 0.25f;
    for (int pass = 0; pass < 2; pass++) {
        float decay = pass ? 0.5f : 1.0f;
        memcpy(w1, w, sizeof(float) * nw), memcpy(b1, b, sizeof(float) * out);
        cpu_layer_weight_grad(1, w1, b1, NULL, NULL, x, &sp, dz, N, IN, out, lr, decay);
        double e = 0.0;
        for (size_t i = 0; i < nw; i++) {
            double d = fabs(w1[i] - ((double)decay * w[i] - (double)lr * gw[i]));
            if (!(d <= e)) e = d;
        }
        check(e < 1e-6, "SGD step, %d outputs, decay %g: w = decay w - lr g, max error %.2g", out, decay, e);
        double eb = 0.0;
        for (int j = 0; j < out; j++) {
            double d = fabs(b1[j] - ((double)decay * b[j] - (double)lr * gb[j]));
            if (!(d <= eb)) eb = d;
        }
        check(eb < 1e-6, "SGD step, %d outputs, decay %g: b = decay b - lr gb, max error %.2g", out, decay, eb);
        int kept = 1;
        for (int j = 0; j < out; j++) kept &= w1[7 * out + j] == (pass ? decay * w[7 * out + j] : w[7 * out + j]);
        check(kept, "SGD step, %d outputs, decay %g: an all-zero input's weights are only decayed", out, decay);
        for (int nth = 2; nth <= 3; nth++) {
            memcpy(w3, w, sizeof(float) * nw), memcpy(b3, b, sizeof(float) * out);
            cpu_layer_weight_grad(nth, w3, b3, NULL, NULL, x, &sp, dz, N, IN, out, lr, decay);
            check(memcmp(w1, w3, sizeof(float) * nw) == 0 && memcmp(b1, b3, sizeof(float) * out) == 0,
                  "SGD step, %d outputs, decay %g: %d threads give 1 thread's bits", out, decay, nth);
        }
    }
    cpu_sparse_free(&sp);
    free(x), free(dz), free(w), free(b), free(gw), free(gb), free(gwd), free(gbd), free(w1), free(b1), free(w3), free(b3);
}

/* The input gradient: dh = (dz w^T) * mask * (1 - h^2), against double. */
static void test_input_grad(void) {
    enum { OUT = 37, WIDE = 150 };
    float *dz = malloc(sizeof(float) * N * OUT), *w = malloc(sizeof(float) * WIDE * OUT);
    float *h = malloc(sizeof(float) * N * WIDE), *mask = malloc(sizeof(float) * N * WIDE);
    float *dh = malloc(sizeof(float) * N * WIDE);
    fill(dz, (size_t)N * OUT, 0.1, 21u);
    fill(w, (size_t)WIDE * OUT, 1.0, 22u);
    fill(h, (size_t)N * WIDE, 1.0, 23u);
    for (int i = 0; i < N * WIDE; i++) mask[i] = i % 5 ? 1.25f : 0.0f;
    cpu_layer_input_grad(2, dh, dz, w, mask, h, N, WIDE, OUT, MNIST_TANH);
    double err = 0.0;
    for (int r = 0; r < N; r++)
        for (int k = 0; k < WIDE; k++) {
            double s = 0.0;
            for (int j = 0; j < OUT; j++) s += (double)dz[r * OUT + j] * w[k * OUT + j];
            int i = r * WIDE + k;
            double d = fabs(dh[i] - s * mask[i] * (1.0 - (double)h[i] * h[i]));
            if (!(d <= err)) err = d;
        }
    /* 37 terms of size 0.1: ~37 * 6e-8 * 0.1 * 4 */
    check(err < 1e-6, "input gradient through dropout's mask and tanh: max error %.2g", err);
    free(dz), free(w), free(h), free(mask), free(dh);
}

int main(void) {
    int outs[] = {300, 150, 37, 5};
    for (int i = 0; i < 4; i++) test_forward(outs[i]);
    for (int i = 0; i < 4; i++) test_weight_grad(outs[i]);
    test_input_grad();

    /* A dense input is left to cblas. */
    float *x = malloc(sizeof(float) * N * IN);
    cpu_sparse sp;
    for (int i = 0; i < N * IN; i++) x[i] = i % 10 ? 0.5f : 0.0f;
    check(cpu_sparse_alloc(&sp, N, IN) == 0 && cpu_sparse_build(&sp, 2, x, N, IN, 1) == 0,
          "a 90%%-nonzero input is not taken as sparse");
    cpu_sparse_free(&sp);
    free(x);
    return check_status();
}
