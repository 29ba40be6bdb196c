/* cpu.c: the CPU arithmetic: cblas products, and element-wise loops written so that the
 * compiler vectorises them (no calls, no branches inside). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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

/* ---- the CPU backend's threaded layers ---- */

void openblas_set_num_threads(int n);

/* 16 floats, loaded and stored at any float's alignment: one AVX-512 register, or two or four
 * narrower ones where the machine has no AVX-512. */
typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define VW 16      /* floats in a v16 */
#define PREFETCH 8 /* entries ahead that a tile's loop asks the cache for */
#define TILE 128    /* columns of a sparse product's tile: 4 v16 for each of GROUP rows */

/* The sparse products' multiply-adds fused (one rounding, as BLAS's kernels do): ISO C mode
 * leaves gcc contracting nothing, and the rest of this file (tanh) must not be contracted. */
#if defined(__GNUC__) && !defined(__clang__)
#define FUSED __attribute__((optimize("fp-contract=fast")))
#else
#define FUSED
#endif

int cpu_threads(int requested) {
    openblas_set_num_threads(1);
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    (void)requested;
    return 1;
#endif
}

/* This thread's slab [*a, *b) of `cols` columns, in units of VW. */
static void slab(int cols, int *a, int *b) {
#ifdef _OPENMP
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    int t = 0, nt = 1;
#endif
    long units = (cols + VW - 1) / VW;
    *a = (int)(units * t / nt) * VW;
    *b = (int)(units * (t + 1) / nt) * VW;
    if (*a > cols) *a = cols;
    if (*b > cols) *b = cols;
}

int cpu_sparse_alloc(cpu_sparse *s, int cap, int in) {
    int rg = (cap + GROUP - 1) / GROUP, kg = (in + GROUP - 1) / GROUP;
    *s = (cpu_sparse){.cap = cap, .in = in};
    s->gn = malloc((size_t)rg * sizeof(int));
    s->gidx = malloc((size_t)rg * in * sizeof(int));
    s->gval = malloc((size_t)rg * in * GROUP * sizeof(float));
    s->kn = malloc((size_t)kg * sizeof(int));
    s->kidx = malloc((size_t)kg * cap * sizeof(int));
    s->kval = malloc((size_t)kg * cap * GROUP * sizeof(float));
    if (s->gn && s->gidx && s->gval && s->kn && s->kidx && s->kval) return 0;
    cpu_sparse_free(s);
    return -1;
}

void cpu_sparse_free(cpu_sparse *s) {
    free(s->gn), free(s->gidx), free(s->gval), free(s->kn), free(s->kidx), free(s->kval);
    *s = (cpu_sparse){0};
}

/* idx[0..), val[0..) GROUP at a time = the places i in [0, len) where any of the GROUP vectors
 * x + g * gstride (those with g < m) is nonzero at x[i * stride], with their values; the count. */
static int nonzeros(int *idx, float *val, const float *x, int len, size_t stride, size_t gstride, int m) {
    int e = 0;
    for (int i = 0; i < len; i++) {
        float v[GROUP] = {0};
        int any = 0;
        for (int g = 0; g < m; g++) any |= (v[g] = x[(size_t)i * stride + g * gstride]) != 0.0f;
        if (!any) continue;
        idx[e] = i;
        memcpy(val + (size_t)e * GROUP, v, sizeof v);
        e++;
    }
    return e;
}

int cpu_sparse_build(cpu_sparse *s, int nth, const float *x, int n, int in, int columns) {
    int rg = (n + GROUP - 1) / GROUP, kg = (in + GROUP - 1) / GROUP;
    long total = 0;
    // row groups: the inputs where any of the group's rows is nonzero, with the rows' values
#pragma omp parallel for num_threads(nth) schedule(static) reduction(+ : total)
    for (int g = 0; g < rg; g++) {
        int r0 = g * GROUP, m = n - r0 < GROUP ? n - r0 : GROUP;
        s->gn[g] = nonzeros(s->gidx + (size_t)g * in, s->gval + (size_t)g * in * GROUP, x + (size_t)r0 * in, in, 1,
                            (size_t)in, m);
        total += s->gn[g];
    }
    s->n = total <= (long)rg * in / 2 ? n : 0;
    if (!s->n || !columns) return s->n > 0;
    // input groups: the rows where any of the group's inputs is nonzero, with the inputs' values
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int q = 0; q < kg; q++) {
        int k0 = q * GROUP, m = in - k0 < GROUP ? in - k0 : GROUP;
        s->kn[q] = nonzeros(s->kidx + (size_t)q * s->cap, s->kval + (size_t)q * s->cap * GROUP, x + k0, n, (size_t)in,
                            1, m);
    }
    return 1;
}

/* acc[i][0..nv) = sum over entries e in [0, ne) of val[e][i] * m[idx[e] * ld + (0..nv*VW)], for
 * the GROUP rows i of a tile: nv v16 of m loaded once per entry, GROUP * nv multiply-adds. */
FUSED static inline __attribute__((always_inline)) void tile(v16 acc[GROUP][TILE / VW], int nv, const int *idx, const float *val, int ne,
                                                            const float *m, size_t ld) {
    for (int i = 0; i < GROUP; i++)
#pragma GCC unroll 8
        for (int u = 0; u < nv; u++) acc[i][u] = (v16){0};
    for (int e = 0; e < ne; e++) {
        const v16 *mr = (const v16 *)(m + (size_t)idx[e] * ld);
        if (e + PREFETCH < ne) {
            const v16 *next = (const v16 *)(m + (size_t)idx[e + PREFETCH] * ld);
#pragma GCC unroll 8
            for (int u = 0; u < nv; u++) __builtin_prefetch(next + u);
        }
        v16 mv[TILE / VW];
#pragma GCC unroll 8
        for (int u = 0; u < nv; u++) mv[u] = mr[u];
#pragma GCC unroll 8
        for (int i = 0; i < GROUP; i++) {
            float x = val[(size_t)e * GROUP + i];
#pragma GCC unroll 8
            for (int u = 0; u < nv; u++) acc[i][u] += x * mv[u];
        }
    }
}

/* The same for one column: acc[i] over the entries. */
FUSED static void tile1(float acc[GROUP], const int *idx, const float *val, int ne, const float *m, size_t ld) {
    for (int i = 0; i < GROUP; i++) acc[i] = 0.0f;
    for (int e = 0; e < ne; e++)
        for (int i = 0; i < GROUP; i++) acc[i] += val[(size_t)e * GROUP + i] * m[(size_t)idx[e] * ld];
}

// y (n, out) columns [a, b) = sp (n, in) w (in, out)
FUSED static void sparse_forward(float *y, const cpu_sparse *sp, const float *w, int out, int a, int b) {
    v16 acc[GROUP][TILE / VW];
    float acc1[GROUP];
    int rg = (sp->n + GROUP - 1) / GROUP;
    for (int j = a; j < b;) {
        int nv = b - j >= TILE ? TILE / VW : b - j >= VW ? 1 : 0;
        for (int g = 0; g < rg; g++) {
            int r0 = g * GROUP, m = sp->n - r0 < GROUP ? sp->n - r0 : GROUP;
            float *yr = y + (size_t)r0 * out + j;
            const int *gi = sp->gidx + (size_t)g * sp->in;
            const float *gv = sp->gval + (size_t)g * sp->in * GROUP;
            if (nv == TILE / VW) {
                tile(acc, TILE / VW, gi, gv, sp->gn[g], w + j, (size_t)out);
                for (int i = 0; i < m; i++) memcpy(yr + (size_t)i * out, acc[i], TILE * sizeof(float));
            } else if (nv == 1) {
                tile(acc, 1, gi, gv, sp->gn[g], w + j, (size_t)out);
                for (int i = 0; i < m; i++) memcpy(yr + (size_t)i * out, acc[i], sizeof(v16));
            } else {
                tile1(acc1, gi, gv, sp->gn[g], w + j, (size_t)out);
                for (int i = 0; i < m; i++) yr[(size_t)i * out] = acc1[i];
            }
        }
        j += nv ? nv * VW : 1;
    }
}

/* Row i of a weight tile, n floats: with gw, gw = g; else w = decay w - lr g. */
FUSED static void weight_row(float *w, float *gw, const float *g, int n, float lr, float decay) {
    if (gw)
        memcpy(gw, g, (size_t)n * sizeof(float));
    else
        for (int c = 0; c < n; c++) w[c] = decay * w[c] - lr * g[c];
}

// the weight gradient h^T dz, h by input groups, for columns [a, b) of w (in, out), as cpu_layer_weight_grad
FUSED static void sparse_weight_grad(float *w, float *gw, const cpu_sparse *sp, const float *dz, int in, int out, int a,
                               int b, float lr, float decay) {
    v16 acc[GROUP][TILE / VW];
    float acc1[GROUP];
    int kg = (in + GROUP - 1) / GROUP;
    for (int j = a; j < b;) {
        int nv = b - j >= TILE ? TILE / VW : b - j >= VW ? 1 : 0, width = nv ? nv * VW : 1;
        for (int q = 0; q < kg; q++) {
            int k0 = q * GROUP, m = in - k0 < GROUP ? in - k0 : GROUP;
            const float *g[GROUP];
            const int *ki = sp->kidx + (size_t)q * sp->cap;
            const float *kv = sp->kval + (size_t)q * sp->cap * GROUP;
            if (nv == TILE / VW)
                tile(acc, TILE / VW, ki, kv, sp->kn[q], dz + j, (size_t)out);
            else if (nv == 1)
                tile(acc, 1, ki, kv, sp->kn[q], dz + j, (size_t)out);
            else
                tile1(acc1, ki, kv, sp->kn[q], dz + j, (size_t)out);
            for (int i = 0; i < m; i++) {
                size_t o = (size_t)(k0 + i) * out + j;
                g[i] = nv ? (const float *)acc[i] : &acc1[i];
                weight_row(w + o, gw ? gw + o : NULL, g[i], width, lr, decay);
            }
        }
        j += width;
    }
}

// y (n, out) columns [a, b) = act(y + b)
static void bias_act_cols(float *restrict y, const float *restrict bias, int n, int out, int a, int b, cpu_act act) {
    for (int r = 0; r < n; r++) {
        float *restrict row = y + (size_t)r * out;
        if (act == CPU_TANH)
            for (int c = a; c < b; c++) row[c] = tanh_approx(row[c] + bias[c]);
        else
            for (int c = a; c < b; c++) {
                float v = row[c] + bias[c];
                row[c] = v > 0.0f ? v : 0.0f;
            }
    }
}

void cpu_layer_forward(int nth, float *y, const float *x, const cpu_sparse *sp, const float *w, const float *b, int n,
                       int in, int out, cpu_act act) {
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        int a, e;
        slab(out, &a, &e);
        if (a < e) {
            if (sp)
                sparse_forward(y, sp, w, out, a, e);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, e - a, in, 1.0f, x, in, w + a, out, 0.0f,
                            y + a, out);
            if (act != CPU_LOG_SOFTMAX) bias_act_cols(y, b, n, out, a, e, act);
        }
        if (act == CPU_LOG_SOFTMAX) {
#pragma omp barrier
#pragma omp for schedule(static)
            for (int r = 0; r < n; r++) bias_log_softmax(y + (size_t)r * out, b, 1, out);
        }
    }
}

void cpu_layer_input_grad(int nth, float *dh, const float *dz, const float *w, const float *mask, const float *h, int n,
                          int in, int out, mnist_activation act) {
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        int a, b;
        slab(in, &a, &b);
        if (a < b) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, b - a, out, 1.0f, dz, out, w + (size_t)a * out, out,
                        0.0f, dh + a, in);
            for (int r = 0; r < n; r++) {
                size_t o = (size_t)r * in + a;
                if (mask)
                    for (int c = 0; c < b - a; c++) dh[o + c] *= mask[o + c];
                cpu_act_grad(dh + o, h + o, (size_t)(b - a), act);
            }
        }
    }
}

void cpu_layer_weight_grad(int nth, float *w, float *b, float *gw, float *gb, const float *h, const cpu_sparse *sp,
                           const float *dz, int n, int in, int out, float lr, float decay) {
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        int a, e;
        slab(out, &a, &e);
        if (a < e) {
            if (sp)
                sparse_weight_grad(w, gw, sp, dz, in, out, a, e, lr, decay);
            else if (gw)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, e - a, n, 1.0f, h, in, dz + a, out, 0.0f,
                            gw + a, out);
            else
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, e - a, n, -lr, h, in, dz + a, out, decay,
                            w + a, out);
            // the bias: column sums of dz, rows in order
            float s[VW];
            for (int c0 = a; c0 < e; c0 += VW) {
                int m = e - c0 < VW ? e - c0 : VW;
                for (int c = 0; c < m; c++) s[c] = 0.0f;
                for (int r = 0; r < n; r++)
                    for (int c = 0; c < m; c++) s[c] += dz[(size_t)r * out + c0 + c];
                for (int c = 0; c < m; c++) {
                    if (gb)
                        gb[c0 + c] = s[c];
                    else
                        b[c0 + c] = decay * b[c0 + c] - lr * s[c];
                }
            }
        }
    }
}
