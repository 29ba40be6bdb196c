/* tanh.h: the one tanh of the network, shared by the CPU (src/cpu.c) and the GPU
 * (src/cuda/kernels.h), so both compute the same bits (the GPU side is built without fused
 * multiply-adds).
 *
 * A rational function, the approximation that Eigen and XLA's CPU backend use: odd polynomial of
 * degree 13 over even of degree 6, inputs clamped to +-7.9053 (where tanh is 1 - 2.4e-7), and x
 * itself below 4e-4. Largest error against tanh in double: 3.9e-7 (tests/test_net.c checks it).
 * glibc's tanhf is scalar and took a fifth of an epoch; this one vectorises. */
#ifndef MNIST_TANH_H
#define MNIST_TANH_H

#include <math.h>

#ifdef __CUDACC__
#define TANH_HD __host__ __device__
#else
#define TANH_HD
#endif

static inline TANH_HD float tanh_approx(float x) {
    const float c = 7.90531110763549805f;
    float xc = x > c ? c : (x < -c ? -c : x);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float r = p / q;
    return fabsf(x) < 0.0004f ? x : r;
}

#endif
