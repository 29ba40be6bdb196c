/* kernels.cu: the element-wise work of the forward and backward passes on the GPU, each kernel
 * the twin of a loop in src/backend_cpu.c or src/cpu.c: the batch gather and scaling, bias with
 * the activation (and the dropout masks), log-softmax with the NLL and its gradient, the
 * activation's gradient with the bias's, and evaluation. Built with -fmad=false (see kernels.h). */
#include <math.h>

#include "kernels.h"

#define EVAL_THREADS 1024 /* one block evaluates a chunk of rows */
#define XENT_THREADS 256  /* one block takes the last layer of a training step */

static cudaError_t launched(void) { return cudaGetLastError(); }

/* ---- gather ------------------------------------------------------------------------------- */

// x (n, in), y (n); images (N, in) bytes, labels (N); one block a row
__global__ void gather_kernel(float *x, int32_t *y, const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                              int start, int n, int in, int shift, int flip, int side, uint32_t seed,
                              const step_scalars *sc) {
    __shared__ float scale[256]; /* byte -> float32(byte) / 255, as the CPU backend's table */
    for (int i = threadIdx.x; i < 256; i += blockDim.x) scale[i] = (float)i / 255.0f;
    __syncthreads();
    for (int r = blockIdx.x; r < n; r += gridDim.x) {
        size_t e = idx ? (size_t)idx[r] : (size_t)(start + r);
        const uint8_t *src = images + e * (size_t)in;
        float *dst = x + (size_t)r * in;
        if (shift || flip) { /* the CPU's augment_rows */
            int dx, dy, mirror;
            cuda_augment(seed, sc->step, r, shift, flip, &dx, &dy, &mirror);
            for (int k = threadIdx.x; k < in; k += blockDim.x) {
                int si = k / side - dy, sj = mirror ? side - 1 - (k % side - dx) : k % side - dx;
                dst[k] = si >= 0 && si < side && sj >= 0 && sj < side ? scale[src[si * side + sj]] : 0.0f;
            }
        } else if ((in & 3) == 0) { /* rows of whole words: 4 bytes in, 16 out per thread */
            const uchar4 *s4 = (const uchar4 *)src;
            float4 *d4 = (float4 *)dst;
            for (int k = threadIdx.x; k < in / 4; k += blockDim.x) {
                uchar4 v = s4[k];
                d4[k] = make_float4(scale[v.x], scale[v.y], scale[v.z], scale[v.w]);
            }
        } else {
            for (int k = threadIdx.x; k < in; k += blockDim.x) dst[k] = scale[src[k]];
        }
        if (threadIdx.x == 0) y[r] = labels[e];
    }
}

cudaError_t k_gather(float *x, int32_t *y, const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                     int start, int n, int in, int shift, int flip, int side, uint32_t seed, const step_scalars *sc,
                     cudaStream_t s) {
    int blocks = n < 65535 ? n : 65535;
    LAUNCH(blocks, 256, s, gather_kernel)(x, y, images, labels, idx, start, n, in, shift, flip, side, seed, sc);
    return launched();
}

/* ---- bias and activation, with dropout's masks -------------------------------------------- */

// h (n, k), b (k); with DROP: drop (n, k), mask (n, k)
template <int ACT, bool DROP>
__global__ void bias_act_kernel(float *h, const float *b, int n, int k, float *drop, float *mask, uint32_t seed,
                                int layer, uint64_t threshold, float keep_scale, const step_scalars *sc) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= k) return;
    float bc = b[c];
    uint64_t key = DROP ? cuda_dropout_key(seed, sc->step, layer) : 0;
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        size_t i = (size_t)r * k + c;
        float v = h[i] + bc;
        v = ACT == 0 ? cuda_tanh(v) : (v > 0.0f ? v : 0.0f);
        h[i] = v;
        if (DROP) {
            float m = cuda_dropout_keep(key, i, threshold) ? keep_scale : 0.0f;
            mask[i] = m;
            drop[i] = v * m;
        }
    }
}

cudaError_t k_bias_act(float *h, const float *b, int n, int k, int act, float *drop, float *mask, uint32_t seed,
                       int layer, uint64_t threshold, float keep_scale, const step_scalars *sc, cudaStream_t s) {
    dim3 grid((unsigned)((k + 255) / 256), (unsigned)(n < 65535 ? n : 65535));
    if (mask) {
        if (act == 0)
            LAUNCH(grid, 256, s, bias_act_kernel<0, true>)(h, b, n, k, drop, mask, seed, layer, threshold, keep_scale, sc);
        else
            LAUNCH(grid, 256, s, bias_act_kernel<1, true>)(h, b, n, k, drop, mask, seed, layer, threshold, keep_scale, sc);
    } else {
        if (act == 0) LAUNCH(grid, 256, s, bias_act_kernel<0, false>)(h, b, n, k, NULL, NULL, 0, 0, 0, 0.0f, NULL);
        else LAUNCH(grid, 256, s, bias_act_kernel<1, false>)(h, b, n, k, NULL, NULL, 0, 0, 0, 0.0f, NULL);
    }
    return launched();
}

/* ---- log-softmax, NLL and its gradient ---------------------------------------------------- */

/* row (k) += b, then row = row - logsumexp(row): the CPU's bias_log_softmax, operation for operation. */
__device__ static void row_log_softmax(float *row, const float *b, int k) {
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

/* Sum of part[0..blockDim.x) into part[0]; blockDim.x a power of two. Ends with a barrier. */
__device__ static void block_sum(double *part) {
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
}

// lp (n, k), dz (n, k), b (k), y (n); b_out (k) is b (SGD) or its gradient
__global__ void softmax_xent_kernel(float *lp, float *dz, const float *b, const int32_t *y, int n, int k,
                                    last_mode mode, float *b_out, const step_scalars *sc, double *loss) {
    __shared__ double part[XENT_THREADS];
    float inv_n = 1.0f / (float)n;
    double nll = 0.0;
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
        float *row = lp + (size_t)r * k;
        row_log_softmax(row, b, k);
        int yr = y[r];
        nll -= row[yr];
        float *d = dz + (size_t)r * k;
        for (int c = 0; c < k; c++) d[c] = (expf(row[c]) - (c == yr ? 1.0f : 0.0f)) * inv_n;
    }
    part[threadIdx.x] = nll;
    block_sum(part); /* its barriers also make every row of dz visible, and end the reads of b */
    if (threadIdx.x == 0) *loss = part[0] / n;
    for (int c = threadIdx.x; c < k; c += blockDim.x) {
        float s = 0.0f; /* rows in order, as cpu_col_sums */
        for (int r = 0; r < n; r++) s += dz[(size_t)r * k + c];
        b_out[c] = mode == LAST_SGD ? sc->decay * b_out[c] - sc->lr * s : s;
    }
}

cudaError_t k_softmax_xent(float *lp, float *dz, const float *b, const int32_t *y, int n, int k, last_mode mode,
                           float *b_out, const step_scalars *sc, double *loss, cudaStream_t s) {
    LAUNCH(1, XENT_THREADS, s, softmax_xent_kernel)(lp, dz, b, y, n, k, mode, b_out, sc, loss);
    return launched();
}

// lp (n, k), b (k); a thread a row
__global__ void log_softmax_kernel(float *lp, const float *b, int n, int k) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n; r += gridDim.x * blockDim.x)
        row_log_softmax(lp + (size_t)r * k, b, k);
}

cudaError_t k_log_softmax(float *lp, const float *b, int n, int k, cudaStream_t s) {
    int blocks = (n + 127) / 128 < 4096 ? (n + 127) / 128 : 4096;
    LAUNCH(blocks, 128, s, log_softmax_kernel)(lp, b, n, k);
    return launched();
}

/* ---- evaluation --------------------------------------------------------------------------- */

// lp (n, k), b (k), y (n); confusion (MNIST_CLASSES, MNIST_CLASSES)
__global__ void eval_rows_kernel(float *lp, const float *b, const int32_t *y, int n, int k, double *loss_part,
                                 int *correct, int *confusion) {
    __shared__ double part[EVAL_THREADS];
    __shared__ int conf[MNIST_CLASSES * MNIST_CLASSES], good;
    for (int i = threadIdx.x; i < MNIST_CLASSES * MNIST_CLASSES; i += blockDim.x) conf[i] = 0;
    if (threadIdx.x == 0) good = 0;
    __syncthreads();
    double nll = 0.0;
    int mine = 0;
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
        float *row = lp + (size_t)r * k;
        row_log_softmax(row, b, k);
        int yr = y[r], best = 0; /* the first maximum, as numpy's argmax */
        nll -= row[yr];
        for (int j = 1; j < k; j++)
            if (row[j] > row[best]) best = j;
        mine += best == yr;
        if (best < MNIST_CLASSES) atomicAdd(&conf[yr * MNIST_CLASSES + best], 1);
    }
    atomicAdd(&good, mine);
    part[threadIdx.x] = nll;
    block_sum(part);
    if (threadIdx.x == 0) {
        *loss_part = part[0];
        atomicAdd(correct, good);
    }
    for (int i = threadIdx.x; i < MNIST_CLASSES * MNIST_CLASSES; i += blockDim.x)
        if (conf[i]) atomicAdd(&confusion[i], conf[i]);
}

cudaError_t k_eval_rows(float *lp, const float *b, const int32_t *y, int n, int k, double *loss_part, int *correct,
                        int *confusion, cudaStream_t s) {
    LAUNCH(1, EVAL_THREADS, s, eval_rows_kernel)(lp, b, y, n, k, loss_part, correct, confusion);
    return launched();
}

/* ---- a hidden layer's backward ------------------------------------------------------------ */

/* Blocks of 32 columns x 32 row groups: a warp reads 32 consecutive columns of a row; each
 * column's sum is taken per row group, then over the groups in order. */
// dh (n, k), h (n, k), mask (n, k) or NULL; b_out (k) is b (SGD) or its gradient
template <int ACT>
__global__ void act_grad_bias_kernel(float *dh, const float *h, const float *mask, int n, int k, last_mode mode,
                                     float *b_out, const step_scalars *sc) {
    __shared__ float part[32][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < k)
        for (int r = threadIdx.y; r < n; r += 32) {
            size_t i = (size_t)r * k + c;
            float d = dh[i], hv = h[i];
            if (mask) d *= mask[i];
            d = ACT == 1 ? (hv > 0.0f ? d : 0.0f) : d * (1.0f - hv * hv);
            dh[i] = d;
            s += d;
        }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < k) {
        float t = 0.0f;
        for (int g = 0; g < 32; g++) t += part[g][threadIdx.x];
        b_out[c] = mode == LAST_SGD ? sc->decay * b_out[c] - sc->lr * t : t;
    }
}

cudaError_t k_act_grad_bias(float *dh, const float *h, const float *mask, int n, int k, int act, last_mode mode,
                            float *b_out, const step_scalars *sc, cudaStream_t s) {
    dim3 block(32, 32);
    unsigned blocks = (unsigned)((k + 31) / 32);
    if (act == 0) LAUNCH(blocks, block, s, act_grad_bias_kernel<0>)(dh, h, mask, n, k, mode, b_out, sc);
    else LAUNCH(blocks, block, s, act_grad_bias_kernel<1>)(dh, h, mask, n, k, mode, b_out, sc);
    return launched();
}

/* Whether this build's machine code (or PTX) runs on the current GPU. */
cudaError_t k_check_image(void) {
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, gather_kernel);
}
