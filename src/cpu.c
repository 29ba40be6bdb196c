/* cpu.c: the forward pass on the CPU: cblas products, bias fused with the activation. */
#include <math.h>

#include <cblas.h>

#include "cpu.h"

/* y (n, k) += b (k), then tanh. */
static void bias_tanh(float *y, const float *b, int n, int k) {
    for (int r = 0; r < n; r++) {
        float *row = y + (size_t)r * k;
        for (int c = 0; c < k; c++) row[c] = tanhf(row[c] + b[c]);
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

void cpu_forward(float *const *act, const float *params, const mnist_tensor *t, const int *sizes, int nl, int n) {
    for (int l = 0; l < nl; l++) {
        int in = sizes[l], out = sizes[l + 1];
        const float *w = params + t[2 * l].offset, *b = params + t[2 * l + 1].offset;
        // x (n, in), w (in, out), y (n, out)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, act[l], in, w, out, 0.0f,
                    act[l + 1], out);
        if (l < nl - 1)
            bias_tanh(act[l + 1], b, n, out);
        else
            bias_log_softmax(act[l + 1], b, n, out);
    }
}
