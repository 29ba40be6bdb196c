/* blas.h: OpenBLAS, opened (dlopen) when a command first needs it rather than linked: linked, its
 * relocations and threads took every command's start 4 ms, `mnist --help` and one image's
 * `predict` too (BENCHMARKS.md). Everything that reaches a product or a solve first calls
 * blas_load, whose error it can report: the CPU backend, a batch's forward pass, an image's
 * preparation. */
#ifndef MNIST_BLAS_H
#define MNIST_BLAS_H

#include <cblas.h>

#include "mnist.h"

/* Opens OpenBLAS, once in the process (two threads at once wait for one opening); 0, or -1 with
 * err naming the library and why it could not be opened (also on every later call). */
int blas_load(mnist_err *err);

/* blas_load on a thread of its own, for a command that will need it after its other work (reading
 * a model, decoding an image); returns at once. */
void blas_preload(void);

/* OpenBLAS on one thread, told so once on each thread that calls it: ours are our own (team.c), and a build
 * of it on OpenMP (Debian's libopenblas0-openmp) keeps the count per thread. Call before any BLAS or LAPACK
 * routine: a pthreads build woke its threads, which then spin-wait for more, even for a 6 x 6 solve. (The
 * mnist command also sets OPENBLAS_NUM_THREADS=1 before it is opened, main.c, so that it starts none; a program
 * that links the library may start it with its own setting.) */
void blas_alone(void);

/* cblas_sgemm, with its arguments, after blas_load. Where blas_load failed (which the caller has
 * reported) it leaves c as NaN, never a plausible number. */
void blas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Solves a x = b for n unknowns (1 to SOLVE_MAX), a symmetric (normal equations; n x n, so that
 * row- and column-major are one), by LAPACK's dgesv (OpenBLAS carries it); both are overwritten,
 * x into b. Returns 0, or -1 when a is singular, or nearly: a pivot under 1e-9 of the largest, or
 * an x that is not finite (or OpenBLAS could not be opened). */
#define SOLVE_MAX 8
int solve_symmetric(int n, double *a, double *b);

#endif
