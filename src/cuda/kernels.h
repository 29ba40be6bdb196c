/* kernels.h: the CUDA backend's arithmetic, internal to src/cuda/. Each launcher mirrors a loop of
 * src/backend_cpu.c or src/cpu.c, enqueues its work on stream s and returns the launch's error
 * (cudaGetLastError). Arrays are row-major, as on the CPU; the comment of each launcher gives the
 * shapes. kernels.cu, optim.cu and this header's inline functions are compiled with -fmad=false
 * (see the Makefile), so that the element-wise arithmetic rounds as the CPU's does: the tanh
 * approximation, the dropout scaling and the SGD, momentum and Adam updates give the same bits. */
#ifndef MNIST_CUDA_KERNELS_H
#define MNIST_CUDA_KERNELS_H

#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "mnist.h"
#include "tanh.h"
}
#include "hash.h"

/* kernel<<<grid, block, 0, stream>>>(args), spelled LAUNCH(grid, block, stream, kernel)(args) so that
 * the CUDA emulator (tests/emu), which defines its own LAUNCH, runs the same source on the host. */
#ifndef LAUNCH
#define LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<(grid), (block), 0, (stream)>>>
#endif

#define NCOUNTS (1 + MNIST_CLASSES * MNIST_CLASSES) /* evaluation's counts: correct, then the confusion matrix */

/* What a step needs beside its inputs, filled on the host with the CPU backend's float arithmetic
 * and read on the device, so that one captured graph serves every epoch: the graph bakes in where
 * step j's scalars live, not their values. */
typedef struct {
    float lr, neg_lr; /* the learning rate, and -lr (cuBLAS' alpha of the fused SGD product) */
    float decay;      /* 1 - lr * weight_decay (its beta) */
    float c1, c2;     /* Adam: 1 / (1 - beta1^t), 1 / (1 - beta2^t), t = step + 1 */
    uint64_t step;    /* optimizer steps taken before this one: the dropout masks' key */
} step_scalars;

/* What the last layer's kernel does with dz beside computing it. */
typedef enum {
    LAST_SGD,  /* b = decay * b - lr * column sums of dz: the fused SGD step */
    LAST_GRAD  /* db = column sums of dz, into a gradient buffer */
} last_mode;

/* ---- shared with the host (tests compile these for the CPU too) ---------------------------- */

/* The hashes of dropout's masks and of the shifts and mirrors: src/hash.h, the CPU's own source
 * (step_key, dropout_keep, augment_move). */

/* tanh as src/cpu.c computes it: the same source (src/tanh.h), built without fused
 * multiply-adds, so the same bits. */
#define cuda_tanh tanh_approx

/* ---- device helpers shared by kernels.cu and mm.cu ------------------------------------------- */

/* A hidden layer's activation of v (act 0 tanh, 1 relu), and d through its derivative at the
 * output h: the CPU's cpu_dense and cpu_act_grad. */
static inline __host__ __device__ float act_out(float v, int act) {
    return act == 0 ? cuda_tanh(v) : (v > 0.0f ? v : 0.0f);
}
static inline __host__ __device__ float act_back(float d, float h, int act) {
    return act == 1 ? (h > 0.0f ? d : 0.0f) : d * (1.0f - h * h);
}

/* What a fused step writes for a parameter p whose gradient is g: the SGD step, or g itself. */
static inline __host__ __device__ float step_or_grad(float p, float g, last_mode mode, const step_scalars *sc) {
    return mode == LAST_SGD ? sc->decay * p - sc->lr * g : g;
}

/* A bias from dz (n rows of ld floats, its first k columns): each column summed over the rows in
 * order (as cpu_col_sums), then stepped or stored by mode; by the block's threads c < k. */
static inline __device__ void col_steps(float *b_out, const float *dz, int n, int k, int ld, last_mode mode,
                                        const step_scalars *sc) {
    for (int c = threadIdx.y * blockDim.x + threadIdx.x; c < k; c += blockDim.x * blockDim.y) {
        float s = 0.0f;
        for (int r = 0; r < n; r++) s += dz[(size_t)r * ld + c];
        b_out[c] = step_or_grad(b_out[c], s, mode, sc);
    }
}

/* ---- kernels.cu: the forward and backward passes' element-wise work ------------------------ */

/* x (n, in) = images of examples idx[0..n) (or start..start+n when idx is NULL) as bytes / 255;
 * y (n) = their labels. images (N, in) bytes, labels (N). With shift > 0 (augmenting a training
 * batch: idx given, sc non-NULL), row r's image (side x side) is mirrored and moved as
 * augment_move(seed, sc->step, r, shift, flip) says, the pixels it uncovers 0; flip likewise. */
cudaError_t k_gather(float *x, int32_t *y, const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                     int start, int n, int in, int shift, int flip, int side, uint32_t seed, const step_scalars *sc,
                     cudaStream_t s);
/* h (n, k) = act(h + b (k)), act 0 tanh, 1 relu. With mask non-NULL (dropout while training):
 * mask (n, k) = keep ? 1 / (1 - p) : 0 for element r * k + c, keyed by (seed, sc->step, layer),
 * and drop (n, k) = h * mask, what the next layer reads. */
cudaError_t k_bias_act(float *h, const float *b, int n, int k, int act, float *drop, float *mask, uint32_t seed,
                       int layer, uint64_t threshold, float keep_scale, const step_scalars *sc, cudaStream_t s);
/* The last layer in training, one block: lp (n, k) = log_softmax(lp + b); dz (n, k) =
 * (exp(lp) - onehot(y)) / n; *loss = mean of -lp[r, y[r]] (in double); then, by mode, b (k)
 * takes the SGD step with sc's lr and decay, or db (k) gets the column sums of dz. */
cudaError_t k_softmax_xent(float *lp, float *dz, const float *b, const int32_t *y, int n, int k, last_mode mode,
                           float *b_out, const step_scalars *sc, double *loss, cudaStream_t s);
/* The last layer of a training step in two kernels, where it has at most LAST_MAX outputs (the
 * lab's 10), instead of three small products and two kernels (see bench/notes/gpu.md):
 * k_last_forward, one block a row: z (k) = h[r] w + b, log-softmax, dz[r] (k) = (exp(lp) -
 * onehot(y[r])) / n, rowloss[r] = -lp[y[r]]. h (n, in) is the layer's input, w (in, k). */
#define LAST_MAX 32
#define LAST_ROWS 2048 /* k_last_backward's blocks each walk all n rows: for larger batches, the products */
cudaError_t k_last_forward(float *dz, double *rowloss, const float *h, const float *w, const float *b,
                           const int32_t *y, int n, int in, int k, cudaStream_t s);
/* k_last_backward, a block per 32 inputs of the layer: with a hidden layer below (hidden), dh (n,
 * in) = (dz w^T) * mask (when non-NULL) * act'(hact), and that layer's bias b_prev (in) takes the
 * SGD step with dh's column sums (or gets them, LAST_GRAD); the weights w_out (in, k) = decay w -
 * lr h^T dz (w_out == w: in place; each block reads its rows of w before it writes them), or h^T dz
 * into a gradient buffer; the last bias b_last (k) likewise with dz's column sums; *loss = mean of
 * rowloss (in double). h (n, in) the layer's input, hact (n, in) the activation under it. */
cudaError_t k_last_backward(float *dh, float *w_out, float *b_prev, float *b_last, double *loss, const float *w,
                            const float *dz, const double *rowloss, const float *h, const float *hact,
                            const float *mask, int n, int in, int k, int hidden, int act, last_mode mode,
                            const step_scalars *sc, cudaStream_t s);
/* lp (n, k) = log_softmax(lp + b): prediction. */
cudaError_t k_log_softmax(float *lp, const float *b, int n, int k, cudaStream_t s);
/* Evaluation of n rows, one block: lp (n, k) = log_softmax(lp + b); *loss_part = sum of
 * -lp[r, y[r]] (in double); correct += rows whose first maximum is y[r]; confusion[y][best]
 * += 1 for best < MNIST_CLASSES (confusion (MNIST_CLASSES, MNIST_CLASSES) ints). */
cudaError_t k_eval_rows(float *lp, const float *b, const int32_t *y, int n, int k, double *loss_part, int *correct,
                        int *confusion, cudaStream_t s);
/* A hidden layer's backward, after dh = dz_next w^T: dh (n, k) *= mask (when non-NULL), then
 * *= act'(h) with h (n, k) the activation's output; then by mode, b (k) takes the SGD step with
 * the column sums of the new dh, or db (k) gets them. */
cudaError_t k_act_grad_bias(float *dh, const float *h, const float *mask, int n, int k, int act, last_mode mode,
                            float *b_out, const step_scalars *sc, cudaStream_t s);
/* Whether this build's machine code (or its PTX) runs on the current GPU: cudaSuccess, or
 * cudaErrorNoKernelImageForDevice and the like. */
cudaError_t k_check_image(void);

/* ---- optim.cu: the optimizers over the flat buffers ------------------------------------------ */

/* v = mu v + g; p = decay p - lr (nesterov ? g + mu v : v). p, g, v (n). */
cudaError_t k_momentum(float *p, const float *g, float *v, size_t n, float mu, int nesterov, const step_scalars *sc,
                       cudaStream_t s);
/* m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g; p = decay p - lr (m c1) / (sqrt(v c2) + eps). */
cudaError_t k_adam(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float eps,
                   const step_scalars *sc, cudaStream_t s);
/* Loads the optimizers' kernels, which the warm-up pass before a graph's capture does not run (they
 * would take a step): a driver older than CUDA 12.3's cannot load a kernel lazily during a capture. */
cudaError_t k_load_optimizers(void);

/* ---- mm.cu: our own products (FP32, or TF32 on the tensor cores), shaped for 128 rows -------- */

/* An own product c (m, n) = a (m, k) b (k, n), row-major, a or b read transposed (ta: a is stored
 * (k, m); tb: b is stored (n, k)), in tiles of MM_BM x MM_BN outputs, 256 threads each. Where the
 * tiles are fewer than the GPU's multiprocessors, k is split across blocks (split-K): each slice's
 * block writes its partial sums to a workspace, and the last of a tile's blocks to finish adds
 * them, in slice order, and applies the epilogue; so the result does not depend on which block is
 * last. What the epilogue does with each element v of the product, at row r, column j, i = r n + j: */
typedef enum {
    MM_STORE,    /* c[i] = v */
    MM_BIAS_ACT, /* c[i] = act(v + bias[j]); with mask (dropout): mask[i], drop[i] as k_bias_act */
    MM_ACT_GRAD, /* c[i] = act'(hact[i]) applied to v * mask[i] (mask may be NULL), as k_act_grad_bias */
    MM_STEP      /* c[i] = step_or_grad(c[i], v): the SGD step in place, or the gradient; with bias_out,
                    the blocks of rows 0.. also step bias_out (n) from b's column sums (b is dz) */
} mm_epi_kind;

typedef struct {
    mm_epi_kind kind;
    int act;                                    /* MM_BIAS_ACT, MM_ACT_GRAD: 0 tanh, 1 relu */
    const float *bias;                          /* MM_BIAS_ACT */
    float *drop, *mask;                         /* dropout: written by MM_BIAS_ACT, mask read by MM_ACT_GRAD */
    uint32_t seed;                              /* dropout's key: (seed, sc->step, layer) */
    int layer;
    uint64_t threshold;
    float keep_scale;
    const float *hact;                          /* MM_ACT_GRAD */
    last_mode mode;                             /* MM_STEP */
    float *bias_out;                            /* MM_STEP, or NULL */
    const step_scalars *sc;                     /* MM_STEP, and dropout's step */
    /* With a_bytes, a is not read: the batch is gathered on the way in (k_gather's work, no shift),
     * a's batch row r being image a_idx[r] of a_bytes as bytes / 255: in the forward product (ta =
     * 0, MM_BIAS_ACT: rows of a) and in the weights' (ta = 1, MM_STEP: a stored (k, m), the batch
     * along k). The forward one also writes y[r] = labels[a_idx[r]] when y is non-NULL. */
    const uint8_t *a_bytes;
    const int32_t *a_idx;
    const uint8_t *labels;
    int32_t *y;
} mm_epi;

#ifdef MNIST_CUDA_EMU
/* The CUDA emulator refuses a launch whose pointer arguments are not device memory (NULL aside), as a
 * GPU would fault on them; an mm_epi, passed by value, carries ten more, each checked alike. */
static inline int emu_arg_ok(const char *name, int i, const mm_epi &e) {
    const void *p[] = {e.bias, e.drop, e.mask, e.hact, e.bias_out, e.sc, e.a_bytes, e.a_idx, e.labels, e.y};
    int ok = 1;
    for (const void *q : p) ok &= emu_arg_ok(name, i, q);
    return ok;
}
#endif

#define MM_BM 64
#define MM_BN 64
#define MM_BK 16
#define MM_SPLIT_MAX 8 /* slices of k at most */

/* How the products multiply: in FP32 by each thread's fmaf; in TF32 on the tensor cores, the
 * inputs rounded to TF32 (to nearest), sums in FP32 (--tf32); or to FP32's accuracy on the tensor
 * cores, each input x split into its TF32 part hi and the TF32 rounding of what is left, lo, and
 * the product taken as hi lo' + lo hi' + hi hi' (lo lo', ~2^-22 of it, dropped): "3xTF32", three
 * TF32 products for one, each term within ~2^-21 of FP32's (MNIST_CUDA_GEMM=own3). An infinite
 * input makes NaN there where FP32 makes an infinity (its hi times the other's lo, 0 where that is
 * a TF32 number, is NaN): either way the loss is not finite, and training stops as diverged. */
typedef enum { MM_FP32, MM_TF32, MM_TF32X3 } mm_prec;

/* What split-K needs: a workspace of MM_SPLIT_MAX * sms * MM_BM * MM_BN floats and sms tile
 * counters, zero at first (each tile's last block puts its counter back to 0). One product at a
 * time uses them: the products that share a context must be on one stream. */
typedef struct {
    float *ws;
    int *counts;
    int sms;     /* the GPU's multiprocessors */
    mm_prec prec; /* how the products multiply */
} mm_ctx;

/* How many slices of k a product of m x n outputs over k gets: 1 where the tiles alone fill the
 * GPU; else, of up to MM_SPLIT_MAX slices of at least 64 k and up to two blocks a multiprocessor,
 * the count that gives the busiest multiprocessor the least k to multiply (of two that tie, the
 * larger: more warps to hide latency). The lab's 128 x 1024 products: 4 slices over 784 (128
 * blocks), 8 over 1024 (256 blocks, two a multiprocessor). */
int mm_splits(const mm_ctx *g, int m, int n, int k);
/* The product with its epilogue; splits 0 chooses (mm_splits), else that many slices (1 ..
 * MM_SPLIT_MAX; more than 1 only where the tiles are at most the multiprocessors). The layouts and
 * epilogues the backend uses: ta = tb = 0 with MM_STORE or MM_BIAS_ACT (forward); tb = 1 with
 * MM_STORE or MM_ACT_GRAD (input gradients); ta = 1 with MM_STEP or MM_STORE (weights); a from
 * bytes with the forward MM_BIAS_ACT and MM_STEP only; others return cudaErrorInvalidValue. */
cudaError_t k_mm(const mm_ctx *g, int ta, int tb, float *c, const float *a, const float *b, int m, int n, int k,
                 const mm_epi *e, int splits, cudaStream_t s);

/* ---- gemm.cu: cuBLAS, loaded when first needed, and the products through it ------------------ */

/* The few cuBLAS functions the backend calls. cuBLAS (and cuBLASLt, which it loads) is over half
 * a gigabyte of shared library: linked in, every run of the program would map it, also when no
 * GPU is used; so it is opened with dlopen by the first CUDA backend instead. */
typedef struct {
    cublasStatus_t (*create)(cublasHandle_t *h);
    cublasStatus_t (*destroy)(cublasHandle_t h);
    cublasStatus_t (*set_stream)(cublasHandle_t h, cudaStream_t s);
    cublasStatus_t (*set_pointer_mode)(cublasHandle_t h, cublasPointerMode_t mode);
    cublasStatus_t (*set_workspace)(cublasHandle_t h, void *workspace, size_t bytes);
    cublasStatus_t (*gemm_ex)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const void *alpha, const void *a, cudaDataType at, int lda, const void *b,
                              cudaDataType bt, int ldb, const void *beta, void *c, cudaDataType ct, int ldc,
                              cublasComputeType_t compute, cublasGemmAlgo_t algo);
    const char *(*status_string)(cublasStatus_t s);
} cublas_api;

/* cuBLAS, opened once (libcublas.so.N as the headers' major version N, through the library path
 * and the program's run path, then in the CUDA folder the build found); NULL with one line in
 * why when it cannot be. */
const cublas_api *cublas_load(char *why, size_t cap);

/* Products go through cuBLAS in pointer mode device: alpha and beta are device floats. */
typedef struct {
    const cublas_api *api;
    cublasHandle_t h;
    cublasComputeType_t compute; /* CUBLAS_COMPUTE_32F, or _FAST_TF32 with --tf32 */
    const float *one, *zero;     /* device constants 1 and 0 */
} gemm_ctx;

/* y (n, out) = x (n, in) w (in, out). */
cublasStatus_t mm_forward(const gemm_ctx *g, float *y, const float *x, const float *w, int n, int in, int out);
/* dh (n, in) = dz (n, out) w^T, w (in, out). */
cublasStatus_t mm_input_grad(const gemm_ctx *g, float *dh, const float *dz, const float *w, int n, int in, int out);
/* w (in, out) = beta w + alpha h^T (in, n) dz (n, out): the weight gradient (alpha 1, beta 0 into a
 * gradient buffer) or the fused SGD step (alpha -lr, beta 1 - lr wd, into the weights). */
cublasStatus_t mm_weight_grad(const gemm_ctx *g, float *w, const float *h, const float *dz, int n, int in, int out,
                              const float *alpha, const float *beta);

#endif
