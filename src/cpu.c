/* cpu.c: the CPU arithmetic: cblas products, element-wise loops written so that the compiler
 * vectorises them, and the CPU backend's layers threaded over column slabs (the products over a
 * sparse input are in sparse.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cpu.h"
#include "tanh.h"
#include "team.h"
#include "util.h"

void cpu_tanh(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanh_approx(x[i]);
}

// y (n, out) columns [a, e) = act(y + bias): tanh or relu
static void bias_act_cols(float *restrict y, const float *restrict bias, int n, int out, int a, int e, cpu_act act) {
    for (int r = 0; r < n; r++) {
        float *restrict row = y + (size_t)r * out;
        if (act == CPU_TANH)
            for (int c = a; c < e; c++) row[c] = tanh_approx(row[c] + bias[c]);
        else
            for (int c = a; c < e; c++) {
                float v = row[c] + bias[c];
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
    else {
        blas_alone();
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out);
    }
    if (act == CPU_LOG_SOFTMAX)
        bias_log_softmax(y, b, n, out);
    else
        bias_act_cols(y, b, n, out, 0, out, act);
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

void cpu_col_sums(float *restrict s, const float *restrict x, int n, int k, size_t ld) {
    for (int c = 0; c < k; c++) s[c] = 0.0f;
    for (int r = 0; r < n; r++) {
        const float *restrict row = x + (size_t)r * ld;
        for (int c = 0; c < k; c++) s[c] += row[c];
    }
}

/* ---- the CPU backend's threaded layers ---- */

#define SLAB_COLS 16 /* slabs are multiples of 16 columns (64 bytes); not sparse.c's VW, a vector's floats */

int cpu_threads(int requested) {
    blas_alone();
    int n = requested;
    if (n <= 0) { /* OMP_NUM_THREADS (its first number), as OpenMP programs read it, else all cores */
        const char *env = getenv("OMP_NUM_THREADS");
        char *end = NULL;
        long v = env ? strtol(env, &end, 10) : 0;
        int valid = env && end != env && (*end == '\0' || *end == ',') && v > 0;
        n = valid ? (v > MNIST_MAX_THREADS ? MNIST_MAX_THREADS : (int)v) : team_cores();
    }
    return n > MNIST_MAX_THREADS ? MNIST_MAX_THREADS : n;
}

/* Share t of nt's slab [*a, *b) of `cols` columns, in units of SLAB_COLS. */
static void slab(int cols, int t, int nt, int *a, int *b) {
    long units = (cols + SLAB_COLS - 1) / SLAB_COLS;
    *a = (int)(units * t / nt) * SLAB_COLS;
    *b = (int)(units * (t + 1) / nt) * SLAB_COLS;
    if (*a > cols) *a = cols;
    if (*b > cols) *b = cols;
}

/* A layer's arguments, for its threads. */
typedef struct {
    float *y, *w, *b, *gw, *gb, *dh;
    const float *x, *dz, *mask, *h;
    const float *cw, *cb; /* w and b, read only */
    const cpu_sparse *sp;
    int n, in, out, act;
    float lr, decay;
} layer_job;

static void forward_slab(void *p, int t, int nt) {
    const layer_job *j = p;
    int a, e;
    slab(j->out, t, nt, &a, &e);
    if (a >= e) return;
    blas_alone();
    if (j->sp)
        cpu_sparse_forward(j->y, j->sp, j->cw, j->out, a, e);
    else
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->n, e - a, j->in, 1.0f, j->x, j->in, j->cw + a, j->out,
                   0.0f, j->y + a, j->out);
    if (j->act != CPU_LOG_SOFTMAX) bias_act_cols(j->y, j->cb, j->n, j->out, a, e, (cpu_act)j->act);
}

static void log_softmax_rows(void *p, int t, int nt) {
    const layer_job *j = p;
    long a, e;
    team_share(j->n, t, nt, &a, &e);
    for (long r = a; r < e; r++) bias_log_softmax(j->y + (size_t)r * j->out, j->cb, 1, j->out);
}

void cpu_layer_forward(int nth, float *y, const float *x, const cpu_sparse *sp, const float *w, const float *b, int n,
                       int in, int out, cpu_act act) {
    layer_job j = {.y = y, .x = x, .sp = sp, .cw = w, .cb = b, .n = n, .in = in, .out = out, .act = act};
    team_run(nth, forward_slab, &j);
    if (act == CPU_LOG_SOFTMAX) team_run(nth, log_softmax_rows, &j); /* each row needs all its columns */
}

static void input_grad_slab(void *p, int t, int nt) {
    const layer_job *j = p;
    int a, b, in = j->in;
    slab(in, t, nt, &a, &b);
    if (a >= b) return;
    blas_alone();
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, b - a, j->out, 1.0f, j->dz, j->out,
               j->cw + (size_t)a * j->out, j->out, 0.0f, j->dh + a, in);
    for (int r = 0; r < j->n; r++) {
        size_t o = (size_t)r * in + a;
        if (j->mask)
            for (int c = 0; c < b - a; c++) j->dh[o + c] *= j->mask[o + c];
        cpu_act_grad(j->dh + o, j->h + o, (size_t)(b - a), (mnist_activation)j->act);
    }
}

void cpu_layer_input_grad(int nth, float *dh, const float *dz, const float *w, const float *mask, const float *h, int n,
                          int in, int out, mnist_activation act) {
    layer_job j = {.dh = dh, .dz = dz, .cw = w, .mask = mask, .h = h, .n = n, .in = in, .out = out, .act = act};
    team_run(nth, input_grad_slab, &j);
}

static void weight_grad_slab(void *p, int t, int nt) {
    const layer_job *j = p;
    int a, e, out = j->out;
    slab(out, t, nt, &a, &e);
    if (a >= e) return;
    blas_alone();
    if (j->sp)
        cpu_sparse_weight_grad(j->w, j->gw, j->sp, j->dz, j->in, out, a, e, j->lr, j->decay);
    else // gw = h^T dz, or w = decay w - lr h^T dz
        blas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->in, e - a, j->n, j->gw ? 1.0f : -j->lr, j->h, j->in,
                   j->dz + a, out, j->gw ? 0.0f : j->decay, (j->gw ? j->gw : j->w) + a, out);
    // the bias: column sums of dz, SLAB_COLS columns at a time
    float s[SLAB_COLS];
    for (int c0 = a; c0 < e; c0 += SLAB_COLS) {
        int m = e - c0 < SLAB_COLS ? e - c0 : SLAB_COLS;
        cpu_col_sums(s, j->dz + c0, j->n, m, (size_t)out);
        for (int c = 0; c < m; c++) {
            if (j->gb)
                j->gb[c0 + c] = s[c];
            else
                j->b[c0 + c] = j->decay * j->b[c0 + c] - j->lr * s[c];
        }
    }
}

void cpu_layer_weight_grad(int nth, float *w, float *b, float *gw, float *gb, const float *h, const cpu_sparse *sp,
                           const float *dz, int n, int in, int out, float lr, float decay) {
    layer_job j = {.w = w, .b = b, .gw = gw, .gb = gb, .h = h, .sp = sp, .dz = dz, .n = n, .in = in, .out = out,
                   .lr = lr, .decay = decay};
    team_run(nth, weight_grad_slab, &j);
}
