/* sparse.c: the first layer's products over the nonzeros of its input (cpu_sparse, src/cpu.h).
 *
 * A tile is CPU_GROUP rows (or inputs) by TILE columns of the output, its CPU_GROUP * NV
 * vectors of sums kept in registers while the group's entries go by: for each entry, NV vectors
 * of the other operand loaded once and multiplied by each member's value. The tiling does not
 * change a sum: each is its terms in index order, whatever the vector width. Built with
 * -ffp-contract=fast (Makefile) so that those multiply-adds are fused, one rounding each, as in
 * BLAS's kernels; cpu.c's tanh must not be, so this lives in its own file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "team.h"

/* One vector register of floats, loaded and stored at any float's alignment, and the tile's
 * width in them: the tile's CPU_GROUP * NV sums, NV loaded values and a broadcast must fit in the
 * registers (32 with AVX-512, 16 with AVX2 or SSE), or every multiply-add spills to the stack
 * (AVX-512's tile on AVX2 ran 6x slower than the dense product). */
#if defined(__AVX512F__)
#define VW 16
#define NV 8
#elif defined(__AVX__)
#define VW 8
#define NV 4
#else
#define VW 4
#define NV 4
#endif
typedef float vec __attribute__((vector_size(VW * sizeof(float)), aligned(4)));
#define TILE (VW * NV) /* columns of a tile: 128 with AVX-512, 32 with AVX2 */

int cpu_sparse_alloc(cpu_sparse *s, int cap, int in) {
    int rg = (cap + CPU_GROUP - 1) / CPU_GROUP, kg = (in + CPU_GROUP - 1) / CPU_GROUP;
    *s = (cpu_sparse){.cap = cap, .in = in};
    s->gn = malloc((size_t)rg * sizeof(int));
    s->gidx = malloc((size_t)rg * in * sizeof(int));
    s->gval = malloc((size_t)rg * in * CPU_GROUP * sizeof(float));
    s->kn = malloc((size_t)kg * sizeof(int));
    s->kidx = malloc((size_t)kg * cap * sizeof(int));
    s->kval = malloc((size_t)kg * cap * CPU_GROUP * sizeof(float));
    if (s->gn && s->gidx && s->gval && s->kn && s->kidx && s->kval) return 0;
    cpu_sparse_free(s);
    return -1;
}

void cpu_sparse_free(cpu_sparse *s) {
    free(s->gn), free(s->gidx), free(s->gval), free(s->kn), free(s->kidx), free(s->kval);
    *s = (cpu_sparse){0};
}

/* idx[0..), val[0..) CPU_GROUP at a time = the places i in [0, len) where any of the vectors
 * x + g * gstride, g < m, is nonzero at x[i * stride], with their values; the count. */
static int nonzeros(int *idx, float *val, const float *x, int len, size_t stride, size_t gstride, int m) {
    int e = 0;
    for (int i = 0; i < len; i++) {
        float v[CPU_GROUP] = {0};
        int any = 0;
        for (int g = 0; g < m; g++) any |= (v[g] = x[(size_t)i * stride + g * gstride]) != 0.0f;
        if (!any) continue;
        idx[e] = i;
        memcpy(val + (size_t)e * CPU_GROUP, v, sizeof v);
        e++;
    }
    return e;
}

typedef struct {
    cpu_sparse *s;
    const float *x;
    int n, in;
} sparse_job;

// row groups: the inputs where any of the group's rows is nonzero, with the rows' values
static void row_groups(void *p, int t, int nt) {
    const sparse_job *j = p;
    cpu_sparse *s = j->s;
    int n = j->n, in = j->in;
    long a, b;
    team_share((n + CPU_GROUP - 1) / CPU_GROUP, t, nt, &a, &b);
    for (long g = a; g < b; g++) {
        int r0 = (int)g * CPU_GROUP, m = n - r0 < CPU_GROUP ? n - r0 : CPU_GROUP;
        s->gn[g] = nonzeros(s->gidx + (size_t)g * in, s->gval + (size_t)g * in * CPU_GROUP, j->x + (size_t)r0 * in, in, 1,
                            (size_t)in, m);
    }
}

// input groups: the rows where any of the group's inputs is nonzero, with the inputs' values
static void input_groups(void *p, int t, int nt) {
    const sparse_job *j = p;
    cpu_sparse *s = j->s;
    int n = j->n, in = j->in;
    long a, b;
    team_share((in + CPU_GROUP - 1) / CPU_GROUP, t, nt, &a, &b);
    for (long q = a; q < b; q++) {
        int k0 = (int)q * CPU_GROUP, m = in - k0 < CPU_GROUP ? in - k0 : CPU_GROUP;
        s->kn[q] = nonzeros(s->kidx + (size_t)q * s->cap, s->kval + (size_t)q * s->cap * CPU_GROUP, j->x + k0, n,
                            (size_t)in, 1, m);
    }
}

int cpu_sparse_build(cpu_sparse *s, int nth, const float *x, int n, int in, int columns) {
    s->n = 0;
    if (n > s->cap || in != s->in) return 0; /* not what s was made for: the dense products */
    int rg = (n + CPU_GROUP - 1) / CPU_GROUP;
    sparse_job j = {.s = s, .x = x, .n = n, .in = in};
    team_run(nth, row_groups, &j);
    long total = 0;
    for (int g = 0; g < rg; g++) total += s->gn[g]; /* the entries, all groups' */
    s->n = total <= (long)rg * in / 2 ? n : 0;
    if (!s->n || !columns) return s->n > 0;
    team_run(nth, input_groups, &j);
    return 1;
}

/* acc[i][0..nv) = sum over entries e in [0, ne) of val[e][i] * m[idx[e] * ld + (0..nv*VW)], for
 * the CPU_GROUP rows i of a tile: nv vec of m loaded once per entry, CPU_GROUP * nv
 * multiply-adds. */
static inline __attribute__((always_inline)) void tile(vec acc[CPU_GROUP][NV], int nv, const int *idx, const float *val, int ne,
                                                            const float *m, size_t ld) {
    for (int i = 0; i < CPU_GROUP; i++)
#pragma GCC unroll 8
        for (int u = 0; u < nv; u++) acc[i][u] = (vec){0};
    for (int e = 0; e < ne; e++) {
        const vec *mr = (const vec *)(m + (size_t)idx[e] * ld);
        vec mv[NV];
#pragma GCC unroll 8
        for (int u = 0; u < nv; u++) mv[u] = mr[u];
#pragma GCC unroll 8
        for (int i = 0; i < CPU_GROUP; i++) {
            float x = val[(size_t)e * CPU_GROUP + i];
#pragma GCC unroll 8
            for (int u = 0; u < nv; u++) acc[i][u] += x * mv[u];
        }
    }
}

/* The same for one column: acc[i] over the entries. fmaf, not `+= *`: left to itself gcc
 * vectorises this loop over the entries with the products rounded apart from the sums, and the
 * remainder fused, so that where the rounding changed would depend on the group's entry count. */
static void tile1(float acc[CPU_GROUP], const int *idx, const float *val, int ne, const float *m, size_t ld) {
    for (int i = 0; i < CPU_GROUP; i++) acc[i] = 0.0f;
    for (int e = 0; e < ne; e++)
        for (int i = 0; i < CPU_GROUP; i++) acc[i] = fmaf(val[(size_t)e * CPU_GROUP + i], m[(size_t)idx[e] * ld], acc[i]);
}

void cpu_sparse_forward(float *y, const cpu_sparse *sp, const float *w, int out, int a, int b) {
    vec acc[CPU_GROUP][NV];
    float acc1[CPU_GROUP];
    int rg = (sp->n + CPU_GROUP - 1) / CPU_GROUP;
    for (int j = a; j < b;) {
        int nv = b - j >= TILE ? NV : b - j >= VW ? 1 : 0;
        for (int g = 0; g < rg; g++) {
            int r0 = g * CPU_GROUP, m = sp->n - r0 < CPU_GROUP ? sp->n - r0 : CPU_GROUP;
            float *yr = y + (size_t)r0 * out + j;
            const int *gi = sp->gidx + (size_t)g * sp->in;
            const float *gv = sp->gval + (size_t)g * sp->in * CPU_GROUP;
            if (nv == NV) {
                tile(acc, NV, gi, gv, sp->gn[g], w + j, (size_t)out);
                for (int i = 0; i < m; i++) memcpy(yr + (size_t)i * out, acc[i], TILE * sizeof(float));
            } else if (nv == 1) {
                tile(acc, 1, gi, gv, sp->gn[g], w + j, (size_t)out);
                for (int i = 0; i < m; i++) memcpy(yr + (size_t)i * out, acc[i], sizeof(vec));
            } else {
                tile1(acc1, gi, gv, sp->gn[g], w + j, (size_t)out);
                for (int i = 0; i < m; i++) yr[(size_t)i * out] = acc1[i];
            }
        }
        j += nv ? nv * VW : 1;
    }
}

/* One row of a weight tile, n floats: with gw, gw = g; else w = decay w - lr g. */
static void weight_row(float *w, float *gw, const float *g, int n, float lr, float decay) {
    if (gw)
        memcpy(gw, g, (size_t)n * sizeof(float));
    else
        for (int c = 0; c < n; c++) w[c] = decay * w[c] - lr * g[c];
}

void cpu_sparse_weight_grad(float *w, float *gw, const cpu_sparse *sp, const float *dz, int in, int out, int a,
                            int b, float lr, float decay) {
    vec acc[CPU_GROUP][NV];
    float acc1[CPU_GROUP];
    int kg = (in + CPU_GROUP - 1) / CPU_GROUP;
    for (int j = a; j < b;) {
        int nv = b - j >= TILE ? NV : b - j >= VW ? 1 : 0, width = nv ? nv * VW : 1;
        for (int q = 0; q < kg; q++) {
            int k0 = q * CPU_GROUP, m = in - k0 < CPU_GROUP ? in - k0 : CPU_GROUP;
            const int *ki = sp->kidx + (size_t)q * sp->cap;
            const float *kv = sp->kval + (size_t)q * sp->cap * CPU_GROUP;
            if (nv == NV)
                tile(acc, NV, ki, kv, sp->kn[q], dz + j, (size_t)out);
            else if (nv == 1)
                tile(acc, 1, ki, kv, sp->kn[q], dz + j, (size_t)out);
            else
                tile1(acc1, ki, kv, sp->kn[q], dz + j, (size_t)out);
            for (int i = 0; i < m; i++) {
                size_t o = (size_t)(k0 + i) * out + j;
                weight_row(w + o, gw ? gw + o : NULL, nv ? (const float *)acc[i] : &acc1[i], width, lr, decay);
            }
        }
        j += width;
    }
}
