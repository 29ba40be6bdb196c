/* hash.h: the hashes behind dropout's masks and the training images' shifts and mirrors (see
 * mnist.h), one source for the CPU (src/train.c, src/backend_cpu.c) and the GPU (src/cuda/, where
 * they run on the device too), so both draw the same masks and moves. Integer arithmetic only:
 * the same bits under any compiler's flags. */
#ifndef MNIST_HASH_H
#define MNIST_HASH_H

#include <stdint.h>

#ifdef __CUDACC__
#define HASH_HD __host__ __device__
#else
#define HASH_HD
#endif

/* The odd constant (2^64 / golden ratio) that spreads an index over a step's key. */
#define HASH_GOLDEN 0x9e3779b97f4a7c15ULL

/* splitmix64's finaliser. */
static inline HASH_HD uint64_t mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The key of one step's hashes: mix(seed << 40 ^ step << 8 ^ lane), lane the hidden layer whose
 * dropout mask it draws, or AUGMENT_LANE for the batch's shifts and mirrors. */
#define AUGMENT_LANE 255
static inline HASH_HD uint64_t step_key(uint32_t seed, uint64_t step, int lane) {
    return mix64((uint64_t)seed << 40 ^ step << 8 ^ (uint64_t)lane);
}

/* dropout_keep's threshold for the drop probability p: floor(p * 2^24), 24 bits of the hash. */
static inline HASH_HD uint64_t dropout_threshold(float p) { return (uint64_t)(p * 16777216.0); }

/* mnist_dropout_keep with its key k = step_key(seed, step, layer) and threshold
 * dropout_threshold(p) computed once by the caller. */
static inline HASH_HD int dropout_keep(uint64_t k, uint64_t i, uint64_t threshold) {
    return (mix64(k + (i + 1) * HASH_GOLDEN) >> 40) >= threshold;
}

/* mnist_augment: how batch row `row` at step `step` moves (by up to n pixels) and whether it is
 * mirrored (only when flip). */
static inline HASH_HD void augment_move(uint32_t seed, uint64_t step, int row, int n, int flip, int *dx, int *dy,
                                        int *mirror) {
    uint64_t v = mix64(step_key(seed, step, AUGMENT_LANE) + (uint64_t)(row + 1) * HASH_GOLDEN), m = 2 * (uint64_t)n + 1;
    *dx = (int)((v >> 32) % m) - n;
    *dy = (int)((v & 0xffffffffu) % m) - n;
    *mirror = flip ? (int)(mix64(v) >> 63) : 0;
}

#endif
