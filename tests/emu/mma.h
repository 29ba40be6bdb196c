/* mma.h of the CUDA emulator (tests/emu, see its cuda_runtime.h): the warp matrix functions
 * (nvcuda::wmma) that src/cuda/mm.cu uses, for TF32 (m16n16k8) only, with CUDA's meaning: a
 * fragment is a warp's 16 x 8 (matrix_a), 8 x 16 (matrix_b) or 16 x 16 (accumulator) tile, loaded
 * from and stored to memory row- or column-major with a leading dimension ldm; mma_sync(d, a, b, c)
 * is d = a b + c. On a GPU each of the warp's 32 threads holds a share of the tile, in an order CUDA
 * does not document; here each thread holds all of it (num_elements is the whole tile), so code
 * that treats the elements as CUDA allows, all alike, works the same, and code that counts on an
 * order does not compile to anything meaningful on either. What it checks, as the GPU requires: a
 * pointer aligned to 32 bytes and ldm a multiple of 4 floats. CUDA leaves the low 13 bits of
 * __float_to_tf32's result unspecified, and the tensor cores read only the 19 bits above them: here
 * those 13 bits are the input's own, and mma_sync clears them, so code that takes the result for
 * the float it rounds to shows. The products of TF32 inputs are exact
 * in FP32; the sums are taken in k order, rounded each, which the tensor cores need not do: results
 * agree with a GPU's to FP32 rounding, not in their bits. */
#ifndef MNIST_EMU_MMA_H
#define MNIST_EMU_MMA_H

#include <string.h>

#include "cuda_runtime.h"

/* x rounded to TF32 (10 mantissa bits, to nearest, ties away from zero): emu.cpp. */
float emu_tf32(float x);

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
} // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K> struct emu_dims;
template <int M, int N, int K> struct emu_dims<matrix_a, M, N, K> {
    enum { rows = M, cols = K };
};
template <int M, int N, int K> struct emu_dims<matrix_b, M, N, K> {
    enum { rows = K, cols = N };
};
template <int M, int N, int K> struct emu_dims<accumulator, M, N, K> {
    enum { rows = M, cols = N };
};

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static_assert(M == 16 && N == 16 && K == 8, "the emulator has wmma's m16n16k8 (TF32) shape only");
    enum { rows = emu_dims<Use, M, N, K>::rows, cols = emu_dims<Use, M, N, K>::cols, num_elements = rows * cols };
    float x[num_elements]; /* the tile, row by row */
};

void emu_wmma_check(const void *p, unsigned ldm, const char *what);

template <typename F> static inline void emu_wmma_load(F &f, const float *p, unsigned ldm, bool row) {
    emu_wmma_check(p, ldm, "load_matrix_sync");
    for (int r = 0; r < F::rows; r++)
        for (int c = 0; c < F::cols; c++) f.x[r * F::cols + c] = row ? p[(size_t)r * ldm + c] : p[r + (size_t)c * ldm];
}

template <typename Use, int M, int N, int K, typename T>
static inline void load_matrix_sync(fragment<Use, M, N, K, T, row_major> &f, const float *p, unsigned ldm) {
    emu_wmma_load(f, p, ldm, true);
}
template <typename Use, int M, int N, int K, typename T>
static inline void load_matrix_sync(fragment<Use, M, N, K, T, col_major> &f, const float *p, unsigned ldm) {
    emu_wmma_load(f, p, ldm, false);
}

/* The warp's first thread stores the tile: each thread holds all of it here, and on a GPU the warp
 * writes each element once (32 writes of it would be a race to ThreadSanitizer, make emu-races). */
static inline bool emu_first_lane(void) {
    return (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % 32 == 0;
}

template <int M, int N, int K>
static inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm,
                                     layout_t layout) {
    emu_wmma_check(p, ldm, "store_matrix_sync");
    if (!emu_first_lane()) return;
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++)
            (layout == mem_row_major ? p[(size_t)r * ldm + c] : p[r + (size_t)c * ldm]) = f.x[r * N + c];
}

template <int M, int N, int K>
static inline void fill_fragment(fragment<accumulator, M, N, K, float> &f, float v) {
    for (int i = 0; i < M * N; i++) f.x[i] = v;
}

/* An input as the tensor cores read it: its low 13 bits cleared (a NaN stays one). */
static inline float emu_tf32_read(float x) { return isnan(x) ? x : __uint_as_float(__float_as_uint(x) & 0xffffe000u); }

template <int M, int N, int K, typename LA, typename LB>
static inline void mma_sync(fragment<accumulator, M, N, K, float> &d,
                            const fragment<matrix_a, M, N, K, precision::tf32, LA> &a,
                            const fragment<matrix_b, M, N, K, precision::tf32, LB> &b,
                            const fragment<accumulator, M, N, K, float> &c) {
    float out[M * N];
    for (int r = 0; r < M; r++)
        for (int j = 0; j < N; j++) {
            float s = c.x[r * N + j];
            for (int k = 0; k < K; k++) s += emu_tf32_read(a.x[r * K + k]) * emu_tf32_read(b.x[k * N + j]);
            out[r * N + j] = s;
        }
    memcpy(d.x, out, sizeof out);
}

/* x rounded to TF32, its low 13 bits x's own (where that is a finite number, as the rounding is). */
static inline float __float_to_tf32(float x) {
    float r = emu_tf32(x);
    return isfinite(r) ? __uint_as_float((__float_as_uint(r) & 0xffffe000u) | (__float_as_uint(x) & 0x1fffu)) : r;
}

} // namespace wmma
} // namespace nvcuda

#endif
