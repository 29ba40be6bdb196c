/* cpu.c: the CPU arithmetic: cblas products, and element-wise loops written so that the
 * compiler vectorises them (no calls, no branches inside). */
#include <math.h>

#include <cblas.h>

#include "cpu.h"
#include "tanh.h"

void cpu_tanh(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanh_approx(x[i]);
}

/* y (n, k) = tanh(y + b). */
static void bias_tanh(float *restrict y, const float *restrict b, int n, int k) {
    for (int r = 0; r < n; r++) {
        float *restrict row = y + (size_t)r * k;
        for (int c = 0; c < k; c++) row[c] = tanh_approx(row[c] + b[c]);
    }
}

/* y (n, k) = max(0, y + b). */
static void bias_relu(float *restrict y, const float *restrict b, int n, int k) {
    for (int r = 0; r < n; r++) {
        float *restrict row = y + (size_t)r * k;
        for (int c = 0; c < k; c++) {
            float v = row[c] + b[c];
            row[c] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* y (n, k) += b (k), then each row becomes its log-softmax: y - logsumexp(y). */
static void bias_log_softmax(float *y, const float *b, int n, int k) {
    for (int r = 0; r < n; r++) {
        float *row = y + (size_t)r * k;
        float max = -INFINITY;
        for (int c = 0; c < k; c++) {
            row[c] += b[c];
            if (row[c] > max) max = row[c];
        }
        float sum = 0.0f;
        for (int c = 0; c < k; c++) sum += expf(row[c] - max);
        float lse = max + logf(sum);
        for (int c = 0; c < k; c++) row[c] -= lse;
    }
}

/* y (out) = x (in) w (in, out), for one input: prediction. OpenBLAS's sgemm packs all of w
 * first (5x slower than this for one row), and its threaded sgemv sums in an order that depends
 * on the thread count; this sums in one fixed order, four rows of w at a time, on the calling
 * thread alone, so a server's threads can call it at once and `predict` gets the same numbers
 * whatever the threads. Groups of four inputs that are all 0 (most of a digit's background) are
 * skipped: they add nothing. */
static void dense_one(float *restrict y, const float *restrict x, const float *restrict w, int in, int out) {
    for (int c = 0; c < out; c++) y[c] = 0.0f;
    int i = 0;
    for (; i + 4 <= in; i += 4) {
        float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        if (x0 == 0.0f && x1 == 0.0f && x2 == 0.0f && x3 == 0.0f) continue;
        const float *restrict w0 = w + (size_t)i * out, *restrict w1 = w0 + out, *restrict w2 = w1 + out,
                              *restrict w3 = w2 + out;
        for (int c = 0; c < out; c++) y[c] += (x0 * w0[c] + x1 * w1[c]) + (x2 * w2[c] + x3 * w3[c]);
    }
    for (; i < in; i++) {
        const float *restrict wi = w + (size_t)i * out;
        for (int c = 0; c < out; c++) y[c] += x[i] * wi[c];
    }
}

void cpu_dense(float *y, const float *x, const float *w, const float *b, int n, int in, int out, cpu_act act) {
    if (n == 1)
        dense_one(y, x, w, in, out);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out);
    if (act == CPU_TANH)
        bias_tanh(y, b, n, out);
    else if (act == CPU_RELU)
        bias_relu(y, b, n, out);
    else
        bias_log_softmax(y, b, n, out);
}

void cpu_forward(float *const *act, const float *params, const mnist_tensor *t, const int *sizes, int nl, int n,
                 mnist_activation hidden) {
    for (int l = 0; l < nl; l++)
        cpu_dense(act[l + 1], act[l], params + t[2 * l].offset, params + t[2 * l + 1].offset, n, sizes[l],
                  sizes[l + 1], l < nl - 1 ? (cpu_act)hidden : CPU_LOG_SOFTMAX);
}

void cpu_act_grad(float *restrict dh, const float *restrict h, size_t n, mnist_activation act) {
    if (act == MNIST_RELU)
        for (size_t i = 0; i < n; i++) dh[i] = h[i] > 0.0f ? dh[i] : 0.0f;
    else
        for (size_t i = 0; i < n; i++) dh[i] *= 1.0f - h[i] * h[i];
}

void cpu_col_sums(float *restrict s, const float *restrict x, int n, int k) {
    for (int c = 0; c < k; c++) s[c] = 0.0f;
    for (int r = 0; r < n; r++) {
        const float *restrict row = x + (size_t)r * k;
        for (int c = 0; c < k; c++) s[c] += row[c];
    }
}
