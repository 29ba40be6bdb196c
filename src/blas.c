/* blas.c: OpenBLAS through dlopen (blas.h says why), and the two things of it that we use beside
 * the products: one thread, and LAPACK's dgesv. */
#include "blas.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "util.h"

#define LIBBLAS "libopenblas.so.0"

static struct {
    void (*sgemm)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint, float,
                  const float *, blasint, const float *, blasint, float, float *, blasint);
    void (*set_num_threads)(int);
    /* LAPACK's Fortran interface (OpenBLAS's development package has no header for it) */
    void (*dgesv)(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b, const int *ldb,
                  int *info);
} lb;

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static char blas_failed[MNIST_ERR_LEN + 32]; /* why it could not be opened, or "" */

/* Opened with every signal blocked: the threads that OpenBLAS starts as it opens take this mask,
 * so that Ctrl-C and SIGTERM go to the command's own threads, whichever thread opened it. */
static void blas_open(void) {
    static const char *const names[] = {"cblas_sgemm", "openblas_set_num_threads", "dgesv_"};
    void **const slots[] = {(void **)&lb.sgemm, (void **)&lb.set_num_threads, (void **)&lb.dgesv};
    sigset_t all, old;
    sigfillset(&all);
    int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    mnist_err err;
    if (load_library(LIBBLAS, names, slots, 3, &err))
        snprintf(blas_failed, sizeof blas_failed, "%s: install libopenblas0", err.msg);
    if (masked) pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int blas_load(mnist_err *err) {
    pthread_once(&blas_once, blas_open);
    return blas_failed[0] ? errf(err, "%s", blas_failed) : 0;
}

static void *preload(void *unused) {
    (void)unused;
    blas_load(NULL);
    return NULL;
}

void blas_preload(void) {
    thread_start_quiet(preload, NULL); /* where it cannot start, the library is opened where first needed */
}

void blas_alone(void) {
    static _Thread_local int told;
    if (!told && blas_load(NULL) == 0) lb.set_num_threads(1), told = 1;
}

void blas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (blas_load(NULL) == 0) {
        lb.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    for (int r = 0; r < (order == CblasRowMajor ? m : n); r++)
        for (int i = 0; i < (order == CblasRowMajor ? n : m); i++) c[(size_t)r * ldc + i] = NAN;
}

int solve_symmetric(int n, double *a, double *b) {
    int ipiv[SOLVE_MAX], one = 1, info = 0;
    if (n < 1 || n > SOLVE_MAX || blas_load(NULL)) return -1;
    blas_alone(); /* OpenBLAS's dgesv wakes its threads for any n: for these 6 unknowns they spun on the other cores */
    lb.dgesv(&n, &one, a, &n, ipiv, b, &n, &info);
    if (info) return -1;
    double big = 0;
    for (int i = 0; i < n; i++) big = fmax(big, fabs(a[i * n + i])); /* U's pivots */
    for (int i = 0; i < n; i++)
        if (!(fabs(a[i * n + i]) >= 1e-9 * big) || !isfinite(b[i])) return -1;
    return 0;
}
