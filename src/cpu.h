/* cpu.h: the CPU arithmetic shared by the CPU backend and prediction. Shapes are the caller's
 * promise; each function says them in its comment. */
#ifndef MNIST_CPU_H
#define MNIST_CPU_H

#include <stddef.h>

#include "mnist.h"

typedef enum { CPU_TANH = MNIST_TANH, CPU_RELU = MNIST_RELU, CPU_LOG_SOFTMAX } cpu_act;

/* The threaded layer functions below split a layer's output columns into one slab per thread
 * (multiples of 16 columns), each thread computing its slab's product and everything element-wise
 * on it while it is in cache. OpenBLAS runs on the calling thread only (cpu_threads sets it so):
 * its threads, spinning between calls, would compete with ours. Each output element is computed by
 * one thread, so the same thread count gives the same bits; another count gives other slabs, and
 * OpenBLAS's sums depend on the width it is given in their last bits. */

/* The threads to use for `requested` (0: all cores this process may use, or OMP_NUM_THREADS; at
 * most MNIST_MAX_THREADS); sets OpenBLAS to one thread. The threads are team.c's. */
int cpu_threads(int requested);

/* A batch of inputs by their nonzeros, in groups of CPU_GROUP (src/sparse.c): for each group of
 * rows, the inputs where any of them is nonzero, with the rows' CPU_GROUP values there (the
 * forward product); for the weight gradient, for each group of inputs, the rows where any of them
 * is nonzero, with the inputs' values. A product over these does the arithmetic of the nonzeros
 * and of the zeros that share a group with one: on batches of MNIST's digits (19% nonzero) 29% of
 * the dense product's in the forward pass and 22% in the weight gradient. With finite weights
 * each output is a sum over its nonzero terms in index order (adding 0 * w changes no sum), so
 * neither the grouping nor the threads change it; it is another order than BLAS's, so the last
 * bits differ from the dense product's. */
#define CPU_GROUP 2
/* Whether the CPU backend takes the sparse products: in builds for AVX-512, where they were
 * measured at 0.6 of cblas's time. Built for AVX2 (16 vector registers, so half the tile) they
 * only matched it, so such builds keep the dense products; the tests run the sparse ones in
 * every build. */
#ifdef __AVX512F__
#define CPU_SPARSE 1
#else
#define CPU_SPARSE 0
#endif
typedef struct {
    int cap, in;         /* capacity in rows, inputs per row */
    int n;               /* rows held */
    int *gn;             /* (cap / CPU_GROUP, rounded up) entries of each row group, from g in */
    int *gidx;           /* an entry's input */
    float *gval;         /* an entry's CPU_GROUP values: of rows CPU_GROUP g + 0, 1, ... */
    int *kn;             /* (in / CPU_GROUP, rounded up) entries of each input group, from q cap */
    int *kidx;           /* an entry's row, ascending */
    float *kval;         /* an entry's CPU_GROUP values: of inputs CPU_GROUP q + 0, 1, ... */
} cpu_sparse;

/* 0, or -1 when out of memory (s is then freed). */
int cpu_sparse_alloc(cpu_sparse *s, int cap, int in);
void cpu_sparse_free(cpu_sparse *s);
/* s = x (n, in) by row groups, and by input groups too when `columns`; 1 when x is sparse enough
 * for the sparse products to pay (the row groups' entries at most half of the dense product's
 * work), else 0 and s holds nothing (so too when n > s->cap or in != s->in). */
int cpu_sparse_build(cpu_sparse *s, int nth, const float *x, int n, int in, int columns);

/* Columns [a, b) of y (n, out) = sp (n, in) w (in, out); b - a and out as cpu_layer_forward's. */
void cpu_sparse_forward(float *y, const cpu_sparse *sp, const float *w, int out, int a, int b);
/* Columns [a, b) of the weight gradient h^T dz, h given by sp's input groups, dz (n, out): into gw,
 * or the SGD step w = decay w - lr h^T dz when gw is NULL, as cpu_layer_weight_grad. */
void cpu_sparse_weight_grad(float *w, float *gw, const cpu_sparse *sp, const float *dz, int in, int out, int a, int b,
                            float lr, float decay);

/* y (n, out) = act(x (n, in) w (in, out) + b (out)); x given dense, or by sp when sp != NULL. */
void cpu_layer_forward(int nth, float *y, const float *x, const cpu_sparse *sp, const float *w, const float *b, int n,
                       int in, int out, cpu_act act);
/* dh (n, in) = (dz (n, out) w^T) * mask (n, in) * act'(h (n, in)); mask NULL: no dropout. */
void cpu_layer_input_grad(int nth, float *dh, const float *dz, const float *w, const float *mask, const float *h, int n,
                          int in, int out, mnist_activation act);
/* The weight gradient of a layer with input h (n, in) (or sp) and output gradient dz (n, out).
 * gw == NULL: the SGD step folded in, w (in, out) = decay w - lr h^T dz, b (out) = decay b - lr
 * colsum(dz). Otherwise gw (in, out) = h^T dz and gb (out) = colsum(dz); w and b are untouched. */
void cpu_layer_weight_grad(int nth, float *w, float *b, float *gw, float *gb, const float *h, const cpu_sparse *sp,
                           const float *dz, int n, int in, int out, float lr, float decay);

/* y (n, out) = act(x (n, in) w (in, out) + b (out)), on the calling thread (prediction). */
void cpu_dense(float *y, const float *x, const float *w, const float *b, int n, int in, int out, cpu_act act);
/* act[0] holds n inputs (n, sizes[0]); act[l+1] gets layer l's output (n, sizes[l+1]): `hidden`
 * on hidden layers, log-softmax on the last. */
void cpu_forward(float *const *act, const float *params, const mnist_tensor *t, const int *sizes, int nl, int n,
                 mnist_activation hidden);
/* y (n) = tanh(x), the approximation the forward pass uses; y may be x. */
void cpu_tanh(float *y, const float *x, size_t n);
/* dh (n) *= act'(z), given the activation's output h (n): 1 - h^2 for tanh, h > 0 for relu. */
void cpu_act_grad(float *dh, const float *h, size_t n, mnist_activation act);
/* s (k) = column sums of x (n, k; rows ld floats apart), rows in order. */
void cpu_col_sums(float *s, const float *x, int n, int k, size_t ld);

#endif
