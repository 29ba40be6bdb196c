/* rng.c: numpy.random.RandomState, bit for bit: MT19937 seeded by init_genrand, random_sample,
 * the legacy polar-method gauss (which caches its second value) and the legacy permutation
 * (Fisher-Yates from the end, with masked rejection sampling). */
#include <math.h>

#include "mnist.h"

enum { N = MNIST_RNG_WORDS, M = 397 };

void mnist_rng_seed(mnist_rng *r, uint32_t seed) {
    r->key[0] = seed;
    for (int i = 1; i < N; i++) r->key[i] = 1812433253u * (r->key[i - 1] ^ (r->key[i - 1] >> 30)) + (uint32_t)i;
    r->pos = N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static void regenerate(mnist_rng *r) {
    uint32_t *k = r->key;
    for (int i = 0; i < N; i++) {
        uint32_t y = (k[i] & 0x80000000u) | (k[(i + 1) % N] & 0x7fffffffu);
        k[i] = k[(i + M) % N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    r->pos = 0;
}

uint32_t mnist_rng_u32(mnist_rng *r) {
    if (r->pos == N) regenerate(r);
    uint32_t y = r->key[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double mnist_rng_double(mnist_rng *r) {
    uint32_t a = mnist_rng_u32(r) >> 5, b = mnist_rng_u32(r) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

double mnist_rng_gauss(mnist_rng *r) {
    if (r->has_gauss) {
        r->has_gauss = 0;
        return r->gauss;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * mnist_rng_double(r) - 1.0;
        x2 = 2.0 * mnist_rng_double(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}

/* A uniform integer in [0, max], as numpy's random_interval for max < 2^32. */
static uint32_t interval(mnist_rng *r, uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max, v;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    while ((v = mnist_rng_u32(r) & mask) > max) {}
    return v;
}

void mnist_rng_permutation(mnist_rng *r, int32_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)interval(r, (uint32_t)i);
        int32_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}
