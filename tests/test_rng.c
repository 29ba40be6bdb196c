/* test_rng.c: the RNG against numpy's own values (numpy 1.24, numpy.random.RandomState). */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "mnist.h"

int main(void) {
    mnist_rng r;

    // RandomState(0).randn(6)
    const double randn[6] = {1.764052345967664, 0.4001572083672233, 0.9787379841057392,
                             2.240893199201458, 1.8675579901499675, -0.977277879876411};
    mnist_rng_seed(&r, 0);
    double worst = 0;
    for (int i = 0; i < 6; i++) worst = worst_of(worst, fabs(mnist_rng_gauss(&r) - randn[i]));
    check(worst < 1e-15, "RandomState(0).randn(6) matches numpy (largest difference %.3g)", worst);

    // RandomState(0).randint(2**32) style raw output: the first 32-bit draw of MT19937(0) is 2357136044
    mnist_rng_seed(&r, 0);
    check(mnist_rng_u32(&r) == 2357136044u, "MT19937 seeded with 0 starts at 2357136044");

    // RandomState(0).random_sample(): 0.5488135039273248
    mnist_rng_seed(&r, 0);
    check(mnist_rng_double(&r) == 0.5488135039273248, "RandomState(0).random_sample() == 0.5488135039273248");

    // RandomState(0).permutation(10) = 2 8 4 9 1 6 7 3 0 5
    const int32_t p10[10] = {2, 8, 4, 9, 1, 6, 7, 3, 0, 5};
    int32_t out[10];
    mnist_rng_seed(&r, 0);
    mnist_rng_permutation(&r, out, 10);
    int same = 1;
    for (int i = 0; i < 10; i++) same &= out[i] == p10[i];
    check(same, "RandomState(0).permutation(10) == 2 8 4 9 1 6 7 3 0 5");

    // RandomState(0).permutation(60000) starts 3048 19563 58303 8870 40228 31488; the second
    // permutation from the same stream (the lab's epoch 1) starts 26730 32284 31744 22016 34180 31607
    int32_t *p = malloc(60000 * sizeof *p);
    mnist_rng_seed(&r, 0);
    mnist_rng_permutation(&r, p, 60000);
    const int32_t head[6] = {3048, 19563, 58303, 8870, 40228, 31488};
    same = 1;
    for (int i = 0; i < 6; i++) same &= p[i] == head[i];
    check(same, "RandomState(0).permutation(60000) starts 3048 19563 58303 8870 40228 31488");
    long long sum = 0;
    for (int i = 0; i < 60000; i++) sum += p[i];
    check(sum == 60000LL * 59999 / 2, "permutation(60000) holds each index once (sum check)");
    mnist_rng_permutation(&r, p, 60000);
    const int32_t head2[6] = {26730, 32284, 31744, 22016, 34180, 31607};
    same = 1;
    for (int i = 0; i < 6; i++) same &= p[i] == head2[i];
    check(same, "the second permutation(60000) of the stream starts 26730 32284 31744 22016 34180 31607");
    free(p);

    // RandomState(1234).randn(3) continues through the cached second value
    const double r1234[3] = {0.47143516373249306, -1.1909756947064645, 1.4327069684260973};
    mnist_rng_seed(&r, 1234);
    worst = 0;
    for (int i = 0; i < 3; i++) worst = worst_of(worst, fabs(mnist_rng_gauss(&r) - r1234[i]));
    check(worst < 1e-15, "RandomState(1234).randn(3) matches numpy (largest difference %.3g)", worst);
    return check_status();
}
