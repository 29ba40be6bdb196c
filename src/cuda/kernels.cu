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
            augment_move(seed, sc->step, r, shift, flip, &dx, &dy, &mirror);
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
    uint64_t key = DROP ? step_key(seed, sc->step, layer) : 0;
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        size_t i = (size_t)r * k + c;
        float v = act_out(h[i] + bc, ACT);
        h[i] = v;
        if (DROP) {
            float m = dropout_keep(key, i, threshold) ? keep_scale : 0.0f;
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

/* A row's gradient of the mean NLL from its log-probabilities: d (k) = (exp(lp) - onehot(y)) / n. */
__device__ static void row_xent_grad(float *d, const float *lp, int y, int k, float inv_n) {
    for (int c = 0; c < k; c++) d[c] = (expf(lp[c]) - (c == y ? 1.0f : 0.0f)) * inv_n;
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
        row_xent_grad(dz + (size_t)r * k, row, yr, k, inv_n);
    }
    part[threadIdx.x] = nll;
    block_sum(part); /* its barriers also make every row of dz visible, and end the reads of b */
    if (threadIdx.x == 0) *loss = part[0] / n;
    col_steps(b_out, dz, n, k, k, mode, sc);
}

cudaError_t k_softmax_xent(float *lp, float *dz, const float *b, const int32_t *y, int n, int k, last_mode mode,
                           float *b_out, const step_scalars *sc, double *loss, cudaStream_t s) {
    LAUNCH(1, XENT_THREADS, s, softmax_xent_kernel)(lp, dz, b, y, n, k, mode, b_out, sc, loss);
    return launched();
}

/* ---- the last layer fused: forward, loss and backward in two kernels ---------------------- */

#define LAST_THREADS 256

// dz (n, k), rowloss (n); h (n, in), w (in, k), b (k), y (n); block r takes row r
__global__ void last_forward_kernel(float *dz, double *rowloss, const float *h, const float *w, const float *b,
                                    const int32_t *y, int n, int in, int k) {
    __shared__ float part[LAST_THREADS][LAST_MAX + 1];
    int r = blockIdx.x, t = threadIdx.x;
    const float *hr = h + (size_t)r * in;
    float acc[LAST_MAX];
#pragma unroll
    for (int c = 0; c < LAST_MAX; c++) acc[c] = 0.0f;
    for (int j = t; j < in; j += LAST_THREADS) { /* this thread's inputs of the row */
        float hv = hr[j];
        const float *wj = w + (size_t)j * k;
#pragma unroll
        for (int c = 0; c < LAST_MAX; c++)
            if (c < k) acc[c] += hv * wj[c];
    }
#pragma unroll
    for (int c = 0; c < LAST_MAX; c++)
        if (c < k) part[t][c] = acc[c];
    __syncthreads();
    /* the sums over the threads: 8 groups of 32, each by one thread, then the groups in order */
    __shared__ float group[8][LAST_MAX + 1];
    if (t < 8 * k) {
        int g = t / k, c = t % k;
        float sum = 0.0f;
        for (int i = 32 * g; i < 32 * g + 32; i++) sum += part[i][c];
        group[g][c] = sum;
    }
    __syncthreads();
    if (t == 0) {
        float *row = group[0]; /* the row's sums, in place of the first group's */
        for (int c = 0; c < k; c++) {
            float sum = 0.0f;
            for (int g = 0; g < 8; g++) sum += group[g][c];
            row[c] = sum;
        }
        row_log_softmax(row, b, k);
        int yr = y[r];
        rowloss[r] = -(double)row[yr];
        row_xent_grad(dz + (size_t)r * k, row, yr, k, 1.0f / (float)n);
    }
}

cudaError_t k_last_forward(float *dz, double *rowloss, const float *h, const float *w, const float *b,
                           const int32_t *y, int n, int in, int k, cudaStream_t s) {
    if (k > LAST_MAX) return cudaErrorInvalidValue;
    LAUNCH(n, LAST_THREADS, s, last_forward_kernel)(dz, rowloss, h, w, b, y, n, in, k);
    return launched();
}

/* Blocks of 32 inputs (columns of h, rows of w), 256 threads. A block reads its rows of w into
 * shared memory before it writes them: no other block reads them, so the update is in place. The
 * rows of h and dz pass through shared memory 32 at a time: each thread takes dh for its column at
 * every 8th row, and up to 4 of the block's 32 x k weights' gradients, summing rows in order. */
// dh, h, hact, mask (n, in); w, w_out (in, k); dz (n, k); rowloss (n); b_prev (in), b_last (k)
template <int ACT>
__global__ void last_backward_kernel(float *dh, float *w_out, float *b_prev, float *b_last, double *loss,
                                     const float *w, const float *dz, const double *rowloss, const float *h,
                                     const float *hact, const float *mask, int n, int in, int k, int hidden,
                                     last_mode mode, const step_scalars *sc) {
    __shared__ float wold[32][LAST_MAX + 1];
    __shared__ float hs[32][33];            /* 32 rows of h's 32 columns */
    __shared__ float dzs[32][LAST_MAX + 1]; /* those rows of dz */
    __shared__ float part[8][33];
    int tx = threadIdx.x, ty = threadIdx.y, t = ty * 32 + tx, j0 = blockIdx.x * 32, j = j0 + tx;
    for (int i = t; i < 32 * k; i += 256) {
        int jj = i / k, c = i % k;
        wold[jj][c] = j0 + jj < in ? w[(size_t)(j0 + jj) * k + c] : 0.0f;
    }
    float s = 0.0f, g[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* dh's column sum; gradients of pairs t + 256 q */
    for (int r0 = 0; r0 < n; r0 += 32) {
        int rows = n - r0 < 32 ? n - r0 : 32;
        __syncthreads(); /* wold is in; the last chunk is done with */
        for (int i = t; i < 32 * 32; i += 256) {
            int rr = i / 32, jj = i % 32;
            hs[rr][jj] = rr < rows && j0 + jj < in ? h[(size_t)(r0 + rr) * in + j0 + jj] : 0.0f;
        }
        for (int i = t; i < 32 * k; i += 256) {
            int rr = i / k, c = i % k;
            dzs[rr][c] = rr < rows ? dz[(size_t)(r0 + rr) * k + c] : 0.0f;
        }
        __syncthreads();
        if (hidden && j < in) // dh = dz w^T, through the mask and the activation
            for (int rr = ty; rr < rows; rr += 8) {
                float d = 0.0f;
                for (int c = 0; c < k; c++) d += dzs[rr][c] * wold[tx][c];
                size_t i = (size_t)(r0 + rr) * in + j;
                if (mask) d *= mask[i];
                d = act_back(d, hact[i], ACT);
                dh[i] = d;
                s += d;
            }
#pragma unroll
        for (int q = 0; q < 4; q++) { // h^T dz for this thread's pairs (input jj, output c)
            int p = t + 256 * q, jj = p / k, c = p % k;
            if (p < 32 * k)
                for (int rr = 0; rr < rows; rr++) g[q] += hs[rr][jj] * dzs[rr][c];
        }
    }
    if (hidden) { // the bias below: dh's column sums, row groups in order
        part[ty][tx] = s;
        __syncthreads();
        if (ty == 0 && j < in) {
            float sum = 0.0f;
            for (int gr = 0; gr < 8; gr++) sum += part[gr][tx];
            b_prev[j] = step_or_grad(b_prev[j], sum, mode, sc);
        }
    }
#pragma unroll
    for (int q = 0; q < 4; q++) { // this block's rows of the weights
        int p = t + 256 * q, jj = p / k, c = p % k;
        if (p < 32 * k && j0 + jj < in) {
            size_t wi = (size_t)(j0 + jj) * k + c;
            w_out[wi] = step_or_grad(wold[jj][c], g[q], mode, sc);
        }
    }
    if (blockIdx.x == 0) { // the last bias, and the loss
        col_steps(b_last, dz, n, k, k, mode, sc);
        if (t == 0) {
            double l = 0.0;
            for (int r = 0; r < n; r++) l += rowloss[r];
            *loss = l / n;
        }
    }
}

cudaError_t k_last_backward(float *dh, float *w_out, float *b_prev, float *b_last, double *loss, const float *w,
                            const float *dz, const double *rowloss, const float *h, const float *hact,
                            const float *mask, int n, int in, int k, int hidden, int act, last_mode mode,
                            const step_scalars *sc, cudaStream_t s) {
    if (k > LAST_MAX) return cudaErrorInvalidValue;
    dim3 block(32, 8);
    unsigned blocks = (unsigned)((in + 31) / 32);
    if (act == 0)
        LAUNCH(blocks, block, s, last_backward_kernel<0>)(dh, w_out, b_prev, b_last, loss, w, dz, rowloss, h, hact,
                                                          mask, n, in, k, hidden, mode, sc);
    else
        LAUNCH(blocks, block, s, last_backward_kernel<1>)(dh, w_out, b_prev, b_last, loss, w, dz, rowloss, h, hact,
                                                          mask, n, in, k, hidden, mode, sc);
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

// lp (n, k), b (k), y (n); confusion (MNIST_CLASSES, MNIST_CLASSES). A block of 1024 threads runs only
// with at most 64 registers a thread: __launch_bounds__ makes the compiler keep to that
__global__ void __launch_bounds__(EVAL_THREADS) eval_rows_kernel(float *lp, const float *b, const int32_t *y, int n,
                                                                 int k, double *loss_part, int *correct,
                                                                 int *confusion) {
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
        int yr = y[r], best = 0; /* the first maximum or the first NaN, as numpy's argmax */
        nll -= row[yr];
        for (int j = 0; j < k && !isnan(row[best]); j++)
            if (row[j] > row[best] || isnan(row[j])) best = j;
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
 * column's sum is taken per row group, then over the groups in order. 1024 threads: at most 64
 * registers each (__launch_bounds__), as eval_rows_kernel. */
// dh (n, k), h (n, k), mask (n, k) or NULL; b_out (k) is b (SGD) or its gradient
template <int ACT>
__global__ void __launch_bounds__(32 * 32) act_grad_bias_kernel(float *dh, const float *h, const float *mask, int n,
                                                                int k, last_mode mode, float *b_out,
                                                                const step_scalars *sc) {
    __shared__ float part[32][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < k)
        for (int r = threadIdx.y; r < n; r += 32) {
            size_t i = (size_t)r * k + c;
            float d = dh[i];
            if (mask) d *= mask[i];
            d = act_back(d, h[i], ACT);
            dh[i] = d;
            s += d;
        }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < k) {
        float t = 0.0f;
        for (int g = 0; g < 32; g++) t += part[g][threadIdx.x];
        b_out[c] = step_or_grad(b_out[c], t, mode, sc);
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
