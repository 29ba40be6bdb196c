/* blas_floor.c: the floor of bench/bench.c (the 8 cblas_sgemm calls of each of the 468 steps of
 * one epoch of the lab's recipe) alone, linked against any cblas: `make bench-blas` builds it for
 * OpenBLAS and for BLIS and prints three rounds of each, to pick the BLAS by measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
static const int L[4] = {784, 1024, 1024, 10};
enum { B = 128, STEPS = 468 };
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static float *rnd(size_t n) { float *p = malloc(n * 4); for (size_t i = 0; i < n; i++) p[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.2f; return p; }
int main(void) {
    float *a[4], *w[3], *d[4];
    for (int l = 0; l < 4; l++) a[l] = rnd((size_t)B * L[l]), d[l] = rnd((size_t)B * L[l]);
    for (int l = 0; l < 3; l++) w[l] = rnd((size_t)L[l] * L[l + 1]);
    for (int round = 0; round < 4; round++) {
        double t0 = now();
        for (int s = 0; s < STEPS; s++) {
            for (int l = 0; l < 3; l++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, L[l + 1], L[l], 1.0f, a[l], L[l], w[l], L[l + 1], 0.0f, a[l + 1], L[l + 1]);
            for (int l = 2; l >= 0; l--) {
                if (l > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, L[l], L[l + 1], 1.0f, d[l + 1], L[l + 1], w[l], L[l + 1], 0.0f, d[l], L[l]);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L[l], L[l + 1], B, -1e-9f, a[l], L[l], d[l + 1], L[l + 1], 1.0f, w[l], L[l + 1]);
            }
        }
        if (round) printf("%.3f s ", now() - t0); /* round 0 warms up */
    }
    printf("\n");
    return 0;
}
