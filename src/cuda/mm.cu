/* mm.cu: our own products (kernels.h says what they compute), for the training step's products of
 * 128 rows, which give cuBLAS few tiles to spread over the GPU, and whose element-wise work after
 * the product (bias and tanh, the activation's gradient, the SGD step) is each a kernel of its own
 * otherwise. A block takes a tile of MM_BM x MM_BN outputs over its slice of k, MM_BK at a time
 * through shared memory; the next MM_BK are read into registers while the current ones are
 * multiplied. In FP32 each of its 256 threads computes 4 x 4 outputs with fmaf (fused also under
 * -fmad=false); in TF32 (MM_TF32, --tf32) the warps' tensor cores do, through the warp matrix
 * functions (wmma, m16n16k8), the inputs rounded with __float_to_tf32; in 3xTF32 (MM_TF32X3) the
 * tensor cores do three such products, of each input's TF32 part and of what is left of it
 * (kernels.h). Either way the epilogue is the element-wise kernels' own functions, so it rounds as
 * those do. */
#include <math.h>

#include <mma.h>

#include "kernels.h"

#define MM_THREADS 256

/* The product's operands as the kernel reads them: a (m, k) stored (m, k) or, with TA, (k, m);
 * b (k, n) stored (k, n) or, with TB, (n, k). */
struct mm_shape {
    int m, n, k, kc; /* kc: the k of a slice, a multiple of MM_BK */
};

/* Element e = t + 256 q of a tile of A (MM_BM x MM_BK) or B (MM_BK x MM_BN): its row and column in
 * the tile, chosen so that consecutive threads read consecutive addresses of the stored array. With
 * AB, A's stored rows are images ai[row] of ab, bytes / 255 (as k_gather's table). */
template <bool TA, bool TB, bool AB> struct mm_tiles {
    __device__ static float byte_at(const uint8_t *ab, const int32_t *ai, int row, int col, int width) {
        return (float)ab[(size_t)ai[row] * width + col] / 255.0f;
    }
    __device__ static void load(float ra[4], float rb[4], const float *a, const uint8_t *ab, const int32_t *ai,
                                const float *b, const mm_shape &s, int m0, int n0, int k0, int k1) {
        int t = threadIdx.x;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            int e = t + MM_THREADS * q;
            int mm = TA ? e % MM_BM : e / MM_BK, ka = TA ? e / MM_BM : e % MM_BK;
            int m = m0 + mm, ki = k0 + ka;
            if (AB)
                ra[q] = m < s.m && ki < k1 ? (TA ? byte_at(ab, ai, ki, m, s.m) : byte_at(ab, ai, m, ki, s.k)) : 0.0f;
            else
                ra[q] = m < s.m && ki < k1 ? (TA ? a[(size_t)ki * s.m + m] : a[(size_t)m * s.k + ki]) : 0.0f;
            int nn = TB ? e / MM_BK : e % MM_BN, kb = TB ? e % MM_BK : e / MM_BN;
            int n = n0 + nn, kj = k0 + kb;
            rb[q] = n < s.n && kj < k1 ? (TB ? b[(size_t)n * s.k + kj] : b[(size_t)kj * s.n + n]) : 0.0f;
        }
    }
    __device__ static void store(float (*as)[MM_BM + 4], float (*bs)[MM_BN + 4], const float ra[4],
                                 const float rb[4]) {
        int t = threadIdx.x;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            int e = t + MM_THREADS * q;
            as[TA ? e / MM_BM : e % MM_BK][TA ? e % MM_BM : e / MM_BK] = ra[q];
            bs[TB ? e % MM_BK : e / MM_BN][TB ? e / MM_BK : e % MM_BN] = rb[q];
        }
    }
};

/* What the epilogue writes for element (r, j) of the product, v. */
template <mm_epi_kind EPI, int ACT, bool DROP>
__device__ static void mm_put(const mm_epi &e, float *c, int n, int r, int j, float v, uint64_t key) {
    size_t i = (size_t)r * n + j;
    if (EPI == MM_STORE) {
        c[i] = v;
    } else if (EPI == MM_BIAS_ACT) {
        v = act_out(v + e.bias[j], ACT);
        c[i] = v;
        if (DROP) {
            float m = dropout_keep(key, i, e.threshold) ? e.keep_scale : 0.0f;
            e.mask[i] = m;
            e.drop[i] = v * m;
        }
    } else if (EPI == MM_ACT_GRAD) {
        if (e.mask) v *= e.mask[i];
        c[i] = act_back(v, e.hact[i], ACT);
    } else { /* the gradient is v: the weights are read only for the step */
        c[i] = e.mode == LAST_SGD ? step_or_grad(c[i], v, LAST_SGD, e.sc) : v;
    }
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
/* A fragment's elements rounded to TF32, in place; with lo, what that left of each, rounded too.
 * CUDA leaves the low 13 bits of __float_to_tf32's result unspecified (the tensor cores read only
 * the 19 above them): they are cleared where the result is taken for the float it rounds to. */
template <typename F> __device__ static void tf32_split(F &hi, F *lo) {
    for (int e = 0; e < hi.num_elements; e++) {
        float x = hi.x[e], h = nvcuda::wmma::__float_to_tf32(x);
        if (lo) {
            h = __uint_as_float(__float_as_uint(h) & 0xffffe000u);
            lo->x[e] = nvcuda::wmma::__float_to_tf32(x - h); /* x - h is exact */
        }
        hi.x[e] = h;
    }
}
#endif

/* acc = this thread's 4 x 4 of the tile (rows m0 + 4 ty.., columns n0 + 4 tx..) over k0..k1: in
 * FP32 by the thread, or (PREC MM_TF32 or MM_TF32X3) by the tensor cores, each warp a 32 x 16 of
 * the tile as two 16 x 16 fragments, put through shared memory into the same 4 x 4 per thread. With
 * sums, also sums[j] = the sum over k0..k1, in order, of b's column n0 + 4 tx + j, as it passes
 * through shared memory (the threads of ty 0 only). */
template <bool TA, bool TB, mm_prec PREC, bool AB>
__device__ static void mm_accumulate(float acc[4][4], float sums[4], bool want_sums, const float *a, const uint8_t *ab,
                                     const int32_t *ai, const float *b, const mm_shape &s, int m0, int n0, int k0,
                                     int k1) {
    __shared__ __align__(32) float as[MM_BK][MM_BM + 4]; /* a's tile, k-major: a thread reads 4 rows at once */
    __shared__ __align__(32) float bs[MM_BK][MM_BN + 4];
    int t = threadIdx.x, tx = t % 16, ty = t / 16;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    int wm = t / 32 / 4, wn = t / 32 % 4; /* the warp's rows 32 wm.., columns 16 wn.. */
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> f[2];
    if (PREC != MM_FP32) wmma::fill_fragment(f[0], 0.0f), wmma::fill_fragment(f[1], 0.0f);
#else
    if (PREC != MM_FP32) __trap(); /* TF32 products need compute capability 8.0 */
#endif
    float ra[4], rb[4];
    mm_tiles<TA, TB, AB>::load(ra, rb, a, ab, ai, b, s, m0, n0, k0, k1);
    for (int kt = k0; kt < k1; kt += MM_BK) {
        mm_tiles<TA, TB, AB>::store(as, bs, ra, rb);
        __syncthreads();
        if (kt + MM_BK < k1) mm_tiles<TA, TB, AB>::load(ra, rb, a, ab, ai, b, s, m0, n0, kt + MM_BK, k1);
        if constexpr (PREC != MM_FP32) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#pragma unroll
            for (int ks = 0; ks < MM_BK; ks += 8) {
                const bool x3 = PREC == MM_TF32X3;
                wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb, fb_lo;
                wmma::load_matrix_sync(fb, &bs[ks][16 * wn], MM_BN + 4);
                tf32_split(fb, x3 ? &fb_lo : NULL);
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa, fa_lo;
                    wmma::load_matrix_sync(fa, &as[ks][32 * wm + 16 * i], MM_BM + 4);
                    tf32_split(fa, x3 ? &fa_lo : NULL);
                    if (x3) { /* the small terms first, then the large one */
                        wmma::mma_sync(f[i], fa_lo, fb, f[i]);
                        wmma::mma_sync(f[i], fa, fb_lo, f[i]);
                    }
                    wmma::mma_sync(f[i], fa, fb, f[i]);
                }
            }
#endif
        } else {
#pragma unroll
            for (int kk = 0; kk < MM_BK; kk++) {
                float4 av = *(const float4 *)&as[kk][ty * 4], bv = *(const float4 *)&bs[kk][tx * 4];
                float ar[4] = {av.x, av.y, av.z, av.w}, br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
            }
        }
        if (want_sums && ty == 0)
            for (int kk = 0; kk < MM_BK; kk++)
                for (int j = 0; j < 4; j++) sums[j] += bs[kk][tx * 4 + j];
        __syncthreads();
    }
    if constexpr (PREC != MM_FP32) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
        __shared__ __align__(32) float cs[MM_BM][MM_BN + 4];
        for (int i = 0; i < 2; i++)
            wmma::store_matrix_sync(&cs[32 * wm + 16 * i][16 * wn], f[i], MM_BN + 4, wmma::mem_row_major);
        __syncthreads();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = cs[ty * 4 + i][tx * 4 + j];
#endif
    }
}

// c (m, n); a, b as mm_shape says (a as e.a_bytes with AB); ws (gridDim.z, m, n) and counts (tiles)
// when split
template <bool TA, bool TB, mm_prec PREC, bool AB, mm_epi_kind EPI, int ACT, bool DROP>
__global__ void __launch_bounds__(MM_THREADS) mm_kernel(mm_epi e, float *c, const float *a, const float *b,
                                                        mm_shape s, float *ws, int *counts) {
    __shared__ int last;
    int t = threadIdx.x, tx = t % 16, ty = t / 16;
    int m0 = blockIdx.y * MM_BM, n0 = blockIdx.x * MM_BN;
    int k0 = blockIdx.z * s.kc, k1 = k0 + s.kc < s.k ? k0 + s.kc : s.k;
    float acc[4][4], sums[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    /* the bias's step needs b's (dz's) column sums: the tile's first row of blocks takes them, on
     * the way through when k is not split */
    bool bias = EPI == MM_STEP && e.bias_out && blockIdx.y == 0;
    mm_accumulate<TA, TB, PREC, AB>(acc, sums, bias && gridDim.z == 1, a, e.a_bytes, e.a_idx, b, s, m0, n0, k0, k1);
    if (AB && !TA && e.y && blockIdx.x == 0 && blockIdx.z == 0 && t < MM_BM && m0 + t < s.m)
        e.y[m0 + t] = e.labels[e.a_idx[m0 + t]]; /* the batch's labels, as k_gather writes them */
    int r0 = m0 + ty * 4, j0 = n0 + tx * 4;
    if (gridDim.z > 1) { /* split-K: the partial sums out; the tile's last block adds them in order */
        size_t mn = (size_t)s.m * s.n;
        float *part = ws + blockIdx.z * mn;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                if (r0 + i < s.m && j0 + j < s.n) part[(size_t)(r0 + i) * s.n + j0 + j] = acc[i][j];
        /* the block's partials are seen by the other blocks before its count says so: every
         * thread's fence, the barrier, then thread 0's fence (cumulative over the block's writes)
         * and the count; the last block fences before it reads the others' */
        __threadfence();
        __syncthreads();
        int tile = blockIdx.y * gridDim.x + blockIdx.x;
        if (t == 0) {
            __threadfence();
            last = atomicAdd(&counts[tile], 1) == (int)gridDim.z - 1;
            if (last) __threadfence();
        }
        __syncthreads();
        if (!last) return;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                if (r0 + i < s.m && j0 + j < s.n) {
                    size_t at = (size_t)(r0 + i) * s.n + j0 + j;
                    float v = 0.0f;
                    for (unsigned z = 0; z < gridDim.z; z++) v += __ldcg(ws + z * mn + at); /* past L1 */
                    acc[i][j] = v;
                }
        if (t == 0) counts[tile] = 0; /* for the next product */
    }
    uint64_t key = DROP ? step_key(e.seed, e.sc->step, e.layer) : 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (r0 + i < s.m && j0 + j < s.n) mm_put<EPI, ACT, DROP>(e, c, s.n, r0 + i, j0 + j, acc[i][j], key);
    if (bias && gridDim.z == 1 && ty == 0) {
        for (int j = 0; j < 4; j++)
            if (j0 + j < s.n) e.bias_out[j0 + j] = step_or_grad(e.bias_out[j0 + j], sums[j], e.mode, e.sc);
    } else if (bias && gridDim.z > 1) { /* b is dz (k, n): its column sums, read again */
        int cols = s.n - n0 < MM_BN ? s.n - n0 : MM_BN;
        col_steps(e.bias_out + n0, b + n0, s.k, cols, s.n, e.mode, e.sc);
    }
}

/* The k of a slice when k is cut in `splits`: whole MM_BK. */
static int slice_k(int k, int splits) { return ((k + splits - 1) / splits + MM_BK - 1) / MM_BK * MM_BK; }

int mm_splits(const mm_ctx *g, int m, int n, int k) {
    int tiles = ((m + MM_BM - 1) / MM_BM) * ((n + MM_BN - 1) / MM_BN), best = 1;
    if (tiles > g->sms) return 1;
    long best_cost = -1;
    for (int s = 1; s <= MM_SPLIT_MAX && tiles * s <= 2 * g->sms && (s == 1 || k / s >= 64); s++) {
        int kc = slice_k(k, s);
        if ((k + kc - 1) / kc != s) continue; /* whole MM_BK make fewer slices: counted there */
        long cost = (long)((tiles * s + g->sms - 1) / g->sms) * kc; /* the k of the busiest multiprocessor */
        if (best_cost < 0 || cost <= best_cost) best = s, best_cost = cost; /* ties: more warps to hide latency */
    }
    return best;
}

template <bool TA, bool TB, bool AB, mm_epi_kind EPI, int ACT, bool DROP>
static void mm_launch(dim3 grid, cudaStream_t st, mm_prec prec, const mm_epi &e, float *c, const float *a,
                      const float *b, const mm_shape &s, float *ws, int *counts) {
    if (prec == MM_TF32)
        LAUNCH(grid, MM_THREADS, st, mm_kernel<TA, TB, MM_TF32, AB, EPI, ACT, DROP>)(e, c, a, b, s, ws, counts);
    else if (prec == MM_TF32X3)
        LAUNCH(grid, MM_THREADS, st, mm_kernel<TA, TB, MM_TF32X3, AB, EPI, ACT, DROP>)(e, c, a, b, s, ws, counts);
    else LAUNCH(grid, MM_THREADS, st, mm_kernel<TA, TB, MM_FP32, AB, EPI, ACT, DROP>)(e, c, a, b, s, ws, counts);
}

cudaError_t k_mm(const mm_ctx *g, int ta, int tb, float *c, const float *a, const float *b, int m, int n, int k,
                 const mm_epi *e, int splits, cudaStream_t st) {
    if (m < 1 || n < 1 || k < 1 || splits < 0 || splits > MM_SPLIT_MAX) return cudaErrorInvalidValue;
    if (splits == 0) splits = mm_splits(g, m, n, k);
    unsigned gx = (unsigned)((n + MM_BN - 1) / MM_BN), gy = (unsigned)((m + MM_BM - 1) / MM_BM);
    mm_shape s;
    s.m = m, s.n = n, s.k = k;
    s.kc = slice_k(k, splits);
    splits = (k + s.kc - 1) / s.kc; /* slices of whole MM_BK: perhaps fewer */
    if (splits < 1 || splits > MM_SPLIT_MAX || gy > 65535 ||
        (splits > 1 && (gx * gy > (unsigned)g->sms ||
                        (size_t)splits * m * n > (size_t)MM_SPLIT_MAX * g->sms * MM_BM * MM_BN)))
        return cudaErrorInvalidValue;
    dim3 grid(gx, gy, (unsigned)splits);
    int act = e->act, drop = e->mask != NULL, ab = e->a_bytes != NULL;
#define GO(TA, TB, AB, EPI, ACT, DROP) \
    mm_launch<TA, TB, AB, EPI, ACT, DROP>(grid, st, g->prec, *e, c, a, b, s, g->ws, g->counts)
#define GO_AB(TA, TB, EPI, ACT, DROP) ab ? GO(TA, TB, true, EPI, ACT, DROP) : GO(TA, TB, false, EPI, ACT, DROP)
    if (ab && !(!ta && !tb && e->kind == MM_BIAS_ACT) && !(ta && !tb && e->kind == MM_STEP))
        return cudaErrorInvalidValue;
    if (!ta && !tb && e->kind == MM_STORE) GO(false, false, false, MM_STORE, 0, false);
    else if (!ta && !tb && e->kind == MM_BIAS_ACT) {
        if (act == 0) drop ? GO_AB(false, false, MM_BIAS_ACT, 0, true) : GO_AB(false, false, MM_BIAS_ACT, 0, false);
        else drop ? GO_AB(false, false, MM_BIAS_ACT, 1, true) : GO_AB(false, false, MM_BIAS_ACT, 1, false);
    } else if (!ta && tb && e->kind == MM_STORE) GO(false, true, false, MM_STORE, 0, false);
    else if (!ta && tb && e->kind == MM_ACT_GRAD)
        act == 0 ? GO(false, true, false, MM_ACT_GRAD, 0, false) : GO(false, true, false, MM_ACT_GRAD, 1, false);
    else if (ta && !tb && e->kind == MM_STEP) GO_AB(true, false, MM_STEP, 0, false);
    else if (ta && !tb && e->kind == MM_STORE) GO(true, false, false, MM_STORE, 0, false);
    else return cudaErrorInvalidValue;
#undef GO_AB
#undef GO
    return cudaGetLastError();
}
