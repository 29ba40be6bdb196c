/* test_cuda_kernels.cu: each kernel of the CUDA backend (src/cuda/) against its CPU twin, on fresh
 * random inputs (the seed is printed; MNIST_TEST_SEED=N repeats a run), with every output poisoned
 * (NaN) before the kernel runs, so an element it fails to write shows. The element-wise kernels
 * round as the CPU's loops do (-fmad=false), so they must agree bit for bit; reductions summed in
 * another order, and the products, agree to the relative error given with each check.
 * MNIST_KERNEL_TIMES=1 also prints each kernel's time at the lab's shapes (bench/gpu.py sets it),
 * and k_mm's 128-row forward products at 1, 2, 4 and 8 slices, to check the slices mm_splits
 * chooses.
 *
 * Without a GPU the host-side checks run: the device functions' source, compiled for the host,
 * against the library's CPU functions (tanh's coefficients, the dropout and shift hashes), cuBLAS
 * loaded through dlopen with every function the backend calls, and a launch without a GPU
 * reporting an error; then a SKIP line says that the kernels were not checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "cuda/kernels.h"

extern "C" {
#include "check.h"
#include "cpu.h"
#include "mnist.h"
}

static mnist_rng rng;
static int timing;
static int small; /* MNIST_KERNEL_SMALL: the odd shapes only (make emu-races: each thread is slow there) */

static float frand(float lo, float hi) { return lo + (hi - lo) * (float)mnist_rng_double(&rng); }

/* Elements whose bits differ (NaN counts: the poison must have been overwritten). */
static size_t bits_differ(const float *a, const float *b, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return k;
}

/* ---- device buffers: one arena, freed at the end ------------------------------------------ */

static void *bufs[256];
static int nbufs, dev_failed;

/* n elements of device memory, poisoned with 0xff bytes (a NaN in every float). */
template <typename T> static T *dalloc(size_t n) {
    void *p = NULL;
    if (dev_failed || cudaMalloc(&p, (n ? n : 1) * sizeof(T)) != cudaSuccess ||
        cudaMemset(p, 0xff, (n ? n : 1) * sizeof(T)) != cudaSuccess) {
        dev_failed = 1;
        return NULL;
    }
    bufs[nbufs++] = p;
    return (T *)p;
}

static void dfree_all(void) {
    for (int i = 0; i < nbufs; i++) cudaFree(bufs[i]);
    nbufs = 0;
}

template <typename T> static T *dup(const T *h, size_t n) {
    T *d = dalloc<T>(n);
    if (d && cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) dev_failed = 1;
    return d;
}

template <typename T> static void down(T *h, const T *d, size_t n) {
    if (dev_failed || cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(h, d, n * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess)
        dev_failed = 1, memset(h, 0xff, n * sizeof(T));
}

/* After a launch failed: an error in a kernel (a bad address) breaks the context, every later call
 * failing with it, so the checks after it cannot run (dev_failed); a launch refused (its grid, its
 * resources, a bad argument) does not, and they still run, its error cleared. */
static void after_failure(void) {
    cudaGetLastError();
    if (cudaDeviceSynchronize() != cudaSuccess || cudaGetLastError() != cudaSuccess) dev_failed = 1;
}

static int ok_launch(cudaError_t e, const char *what) {
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        check(0, "%s runs: %s", what, cudaGetErrorString(e));
        after_failure();
        return 0;
    }
    return 1;
}

/* Median time of reps launches of f, in microseconds, when MNIST_KERNEL_TIMES is set. */
template <typename F> static void time_it(const char *what, F f) {
    if (!timing || dev_failed) return;
    enum { REPS = 21 };
    float ms[REPS];
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    f();
    for (int i = 0; i < REPS; i++) {
        cudaEventRecord(a);
        f();
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms[i], a, b);
    }
    cudaEventDestroy(a), cudaEventDestroy(b);
    for (int i = 1; i < REPS; i++)
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            float t = ms[j];
            ms[j] = ms[j - 1], ms[j - 1] = t;
        }
    printf("TIME %-44s %9.1f us\n", what, 1e3 * ms[REPS / 2]);
}

/* ---- host side: the device functions' source against the library's ------------------------ */

static void test_host_twins(void) {
    enum { N = 1 << 16 };
    static float x[N], want[N];
    for (int i = 0; i < N; i++) x[i] = i < 64 ? (float)(i - 32) * 0.25f : frand(-12.0f, 12.0f);
    x[0] = 0.0003f, x[1] = -0.0003f, x[2] = 7.9053111f, x[3] = -100.0f;
    cpu_tanh(want, x, N);
    size_t bad = 0;
    for (int i = 0; i < N; i++) {
        float y = cuda_tanh(x[i]);
        bad += memcmp(&y, &want[i], sizeof y) != 0;
    }
    check(bad == 0, "host: cuda_tanh's source gives cpu_tanh's bits on %d inputs (%zu differ)", N, bad);
    size_t bad_keep = 0, bad_shift = 0;
    for (int t = 0; t < 2000; t++) {
        uint32_t seed = mnist_rng_u32(&rng);
        uint64_t step = mnist_rng_u32(&rng) % 100000, i = mnist_rng_u32(&rng);
        int layer = (int)(mnist_rng_u32(&rng) % 7), n = 1 + (int)(mnist_rng_u32(&rng) % 8), row = t % 300;
        float p = (float)mnist_rng_double(&rng) * 0.9f;
        bad_keep += dropout_keep(step_key(seed, step, layer), i, dropout_threshold(p)) !=
                    mnist_dropout_keep(seed, step, layer, i, p);
        int dx, dy, dm, ex, ey, em, flip = (int)(t & 1);
        augment_move(seed, step, row, n, flip, &dx, &dy, &dm);
        mnist_augment(seed, step, row, n, flip, &ex, &ey, &em);
        bad_shift += dx != ex || dy != ey || dm != em;
    }
    check(bad_keep == 0, "host: src/hash.h built as the kernels are gives mnist_dropout_keep (%zu of 2000 differ)",
          bad_keep);
    check(bad_shift == 0, "host: src/hash.h built as the kernels are gives mnist_augment (%zu of 2000 differ)",
          bad_shift);
    char why[512] = "";
    const cublas_api *api = cublas_load(why, sizeof why);
    check(api && api->create && api->gemm_ex && api->status_string,
          "host: cuBLAS loads through dlopen with the functions the backend calls%s%s", api ? "" : ": ", why);
}

/* ---- the kernels ---------------------------------------------------------------------------- */

static void identity(float *w, int k) {
    memset(w, 0, (size_t)k * k * sizeof(float));
    for (int i = 0; i < k; i++) w[(size_t)i * k + i] = 1.0f;
}

static void test_gather(int in, int side, int shift, int flip, int contiguous) {
    enum { NS = 300, N = 77 };
    uint8_t *img = (uint8_t *)malloc((size_t)NS * in), lab[NS];
    for (size_t i = 0; i < (size_t)NS * in; i++) img[i] = (uint8_t)mnist_rng_u32(&rng);
    for (int i = 0; i < NS; i++) lab[i] = (uint8_t)(mnist_rng_u32(&rng) % 10);
    int32_t idx[N];
    int start = contiguous ? 100 : 0;
    for (int r = 0; r < N; r++) idx[r] = (int32_t)(mnist_rng_u32(&rng) % NS);
    step_scalars sc = {};
    sc.step = mnist_rng_u32(&rng) % 5000;
    uint32_t seed = mnist_rng_u32(&rng);
    float *want = (float *)malloc((size_t)N * in * sizeof(float)), *got = (float *)malloc((size_t)N * in * sizeof(float));
    int32_t ywant[N], ygot[N];
    for (int r = 0; r < N; r++) {
        size_t e = contiguous ? (size_t)(start + r) : (size_t)idx[r];
        const uint8_t *src = img + e * in;
        int dx = 0, dy = 0, mirror = 0, aug = shift || flip;
        if (aug) mnist_augment(seed, sc.step, r, shift, flip, &dx, &dy, &mirror);
        for (int k = 0; k < in; k++) {
            int si = aug ? k / side - dy : 0, sj = aug ? (mirror ? side - 1 - (k % side - dx) : k % side - dx) : k;
            int inside = !aug || (si >= 0 && si < side && sj >= 0 && sj < side);
            want[(size_t)r * in + k] = inside ? (float)src[aug ? si * side + sj : k] / 255.0f : 0.0f;
        }
        ywant[r] = lab[e];
    }
    float *x = dalloc<float>((size_t)N * in);
    int32_t *y = dalloc<int32_t>(N);
    uint8_t *dimg = dup(img, (size_t)NS * in), *dlab = dup(lab, NS);
    int32_t *didx = dup(idx, N);
    step_scalars *dsc = dup(&sc, 1);
    if (!dev_failed && ok_launch(k_gather(x, y, dimg, dlab, contiguous ? NULL : didx, start, N, in, shift, flip, side, seed,
                                          dsc, 0),
                                 "k_gather")) {
        down(got, x, (size_t)N * in);
        down(ygot, y, N);
        size_t d = bits_differ(got, want, (size_t)N * in);
        check(d == 0 && memcmp(ygot, ywant, sizeof ygot) == 0,
              "k_gather (%d pixels%s%s): %d rows of bytes / 255 and their labels, bit for bit (%zu differ)", in,
              contiguous ? ", contiguous" : ", by index", shift ? ", shifted" : "", N, d);
    }
    free(img), free(want), free(got);
}

static void test_bias_act(int n, int k, int act, float p) {
    size_t m = (size_t)n * k;
    float *h = (float *)malloc(m * sizeof(float)), *b = (float *)malloc(k * sizeof(float));
    float *want = (float *)malloc(m * sizeof(float)), *got = (float *)malloc(m * sizeof(float));
    float *eye = (float *)malloc((size_t)k * k * sizeof(float));
    float *mwant = (float *)malloc(m * sizeof(float)), *mgot = (float *)malloc(m * sizeof(float));
    float *dwant = (float *)malloc(m * sizeof(float)), *dgot = (float *)malloc(m * sizeof(float));
    for (size_t i = 0; i < m; i++) h[i] = frand(-4, 4);
    for (int i = 0; i < k; i++) b[i] = frand(-1, 1);
    identity(eye, k);
    cpu_dense(want, h, eye, b, n, k, k, act == 0 ? CPU_TANH : CPU_RELU); /* h I + b: exactly h + b */
    step_scalars sc = {};
    sc.step = mnist_rng_u32(&rng) % 100000;
    uint32_t seed = mnist_rng_u32(&rng);
    int layer = 1 + (int)(mnist_rng_u32(&rng) % 3);
    uint64_t thr = (uint64_t)(p * 16777216.0);
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < m; i++) {
        mwant[i] = mnist_dropout_keep(seed, sc.step, layer, i, p) ? keep : 0.0f;
        dwant[i] = want[i] * mwant[i];
    }
    float *dh = dup(h, m), *db = dup(b, k), *dd = p > 0 ? dalloc<float>(m) : NULL, *dm = p > 0 ? dalloc<float>(m) : NULL;
    step_scalars *dsc = dup(&sc, 1);
    char what[96];
    snprintf(what, sizeof what, "k_bias_act (%d x %d, %s%s)", n, k, act ? "relu" : "tanh", p > 0 ? ", dropout" : "");
    if (!dev_failed && ok_launch(k_bias_act(dh, db, n, k, act, dd, dm, seed, layer, thr, keep, dsc, 0), what)) {
        down(got, dh, m);
        size_t d = bits_differ(got, want, m), dm_bad = 0;
        if (p > 0) {
            down(mgot, dm, m);
            down(dgot, dd, m);
            dm_bad = bits_differ(mgot, mwant, m) + bits_differ(dgot, dwant, m);
        }
        check(d == 0 && dm_bad == 0, "%s: the CPU's bits (%zu differ; masks and dropped outputs: %zu differ)", what, d,
              dm_bad);
        time_it(what, [&] { k_bias_act(dh, db, n, k, act, dd, dm, seed, layer, thr, keep, dsc, 0); });
    }
    free(h), free(b), free(want), free(got), free(eye), free(mwant), free(mgot), free(dwant), free(dgot);
}

/* The CPU's log-softmax of z + b (through cpu_dense with an identity: z I is exactly z). */
static void ref_log_softmax(float *lp, const float *z, const float *b, int n, int k) {
    float *eye = (float *)malloc((size_t)k * k * sizeof(float));
    identity(eye, k);
    cpu_dense(lp, z, eye, b, n, k, k, CPU_LOG_SOFTMAX);
    free(eye);
}

/* dz (n, k) = (exp(lp) - onehot(y)) / n from log-probabilities lp (n, k); rowloss (n), when
 * non-NULL, = -lp[r, y[r]]. Returns the mean loss. */
static double ref_xent_grad(float *dz, double *rowloss, const float *lp, const int32_t *y, int n, int k) {
    float inv_n = 1.0f / (float)n;
    double loss = 0;
    for (int r = 0; r < n; r++) {
        const float *row = lp + (size_t)r * k;
        if (rowloss) rowloss[r] = -(double)row[y[r]];
        loss -= row[y[r]];
        for (int j = 0; j < k; j++) dz[(size_t)r * k + j] = (expf(row[j]) - (j == y[r] ? 1.0f : 0.0f)) * inv_n;
    }
    return loss / n;
}

static void test_softmax_xent(int n, int k, last_mode mode) {
    size_t m = (size_t)n * k;
    float *z = (float *)malloc(m * sizeof(float)), b[64], b2[64], lp[4096 * 16], dz[4096 * 16];
    float *lpg = (float *)malloc(m * sizeof(float)), *dzg = (float *)malloc(m * sizeof(float)), bg[64];
    int32_t y[4096];
    for (size_t i = 0; i < m; i++) z[i] = frand(-8, 8);
    for (int i = 0; i < k; i++) b[i] = frand(-1, 1);
    for (int r = 0; r < n; r++) y[r] = (int32_t)(mnist_rng_u32(&rng) % 10);
    ref_log_softmax(lp, z, b, n, k);
    double loss = ref_xent_grad(dz, NULL, lp, y, n, k);
    float s[64];
    cpu_col_sums(s, dz, n, k, (size_t)k);
    step_scalars sc = {};
    sc.lr = frand(0.001f, 0.1f), sc.decay = 1.0f - sc.lr * 0.01f;
    for (int j = 0; j < k; j++) b2[j] = mode == LAST_SGD ? sc.decay * b[j] - sc.lr * s[j] : s[j];
    float *dzd = dalloc<float>(m), *lpd = dup(z, m), *bd = dup(b, k), *bout = mode == LAST_SGD ? bd : dalloc<float>(k);
    int32_t *yd = dup(y, n);
    step_scalars *dsc = dup(&sc, 1);
    double *dl = dalloc<double>(1), lg = NAN;
    char what[96];
    snprintf(what, sizeof what, "k_softmax_xent (%d x %d, %s)", n, k, mode == LAST_SGD ? "SGD" : "gradient");
    if (!dev_failed && ok_launch(k_softmax_xent(lpd, dzd, bd, yd, n, k, mode, bout, dsc, dl, 0), what)) {
        down(lpg, lpd, m);
        down(dzg, dzd, m);
        down(bg, bout, k);
        down(&lg, dl, 1);
        /* expf and logf: an ulp or two apart between CUDA and glibc, so ~1e-7 on lp; but one ulp of
         * a row's logsumexp (up to 9.5e-7 near 8) shifts all its lp, and dz = exp(lp) - onehot by as
         * much relative: 3e-6 on dz. The column sums (the bias's gradient) add n of those in the same
         * order but cancel (probabilities less the labels' counts), which can lift their relative
         * error tenfold: 1e-5. The loss, the rows' mean of -lp[y], is off by up to that ulp of a
         * logsumexp whatever its size: 1e-6 relative, or 2e-6 absolute where it is small (one row whose
         * label is likely: 1.1e-6 relative seen, MNIST_TEST_SEED=1796307730 with MNIST_EMU_MATH=cuda) */
        /* dz = (p - onehot) / n cancels where a row's label is likely (p near 1: 3.7e-6 relative seen,
         * MNIST_TEST_SEED=1020, one row), and so do the bias's sums of it: their errors are p's, so each
         * is measured against the larger of its own norm and that of p / n (its column sums, times lr
         * for the SGD step's) */
        double dd = 0, dn = 0, pn = 0, cp[64] = {0}, bb = 0, bn = 0, cn = 0;
        for (size_t i = 0; i < m; i++) {
            double q = exp((double)lp[i]) / n, e = (double)dzg[i] - dz[i];
            dd += e * e, dn += (double)dz[i] * dz[i], pn += q * q;
            cp[i % k] += q;
        }
        for (int j = 0; j < k; j++) {
            double e = (double)bg[j] - b2[j], c = (mode == LAST_SGD ? sc.lr : 1.0) * cp[j];
            bb += e * e, bn += (double)b2[j] * b2[j], cn += c * c;
        }
        double e1 = rel_err(lpg, lp, m), e2 = sqrt(dd) / sqrt(fmax(dn, pn)), e3 = sqrt(bb) / sqrt(fmax(bn, cn)),
               e4 = fabs(lg - loss) / loss;
        check(e1 < 1e-6 && e2 < 3e-6 && e3 < 1e-5 && (e4 < 1e-6 || fabs(lg - loss) < 2e-6),
              "%s: log-probabilities %.2g, dz %.2g, bias %.2g, loss %.2g relative to the CPU's (%.2g absolute)", what,
              e1, e2, e3, e4, fabs(lg - loss));
        if (mode == LAST_GRAD) time_it(what, [&] { k_softmax_xent(lpd, dzd, bd, yd, n, k, mode, bout, dsc, dl, 0); });
    }
    free(z), free(lpg), free(dzg);
}

static void test_log_softmax(int n, int k) {
    size_t m = (size_t)n * k;
    float *z = (float *)malloc(m * sizeof(float)), *lp = (float *)malloc(m * sizeof(float)), b[64];
    float *got = (float *)malloc(m * sizeof(float));
    for (size_t i = 0; i < m; i++) z[i] = frand(-30, 30);
    for (int i = 0; i < k; i++) b[i] = frand(-1, 1);
    ref_log_softmax(lp, z, b, n, k);
    float *d = dup(z, m), *bd = dup(b, k);
    if (!dev_failed && ok_launch(k_log_softmax(d, bd, n, k, 0), "k_log_softmax")) {
        down(got, d, m);
        double e = rel_err(got, lp, m);
        check(e < 1e-6, "k_log_softmax (%d x %d): relative error %.2g to the CPU's", n, k, e);
    }
    free(z), free(lp), free(got);
}

static void test_eval_rows(int n, int k) {
    size_t m = (size_t)n * k;
    float *z = (float *)malloc(m * sizeof(float)), *lp = (float *)malloc(m * sizeof(float)), b[64];
    int32_t *y = (int32_t *)malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < m; i++) z[i] = frand(-5, 5);
    for (int i = 0; i < k; i++) b[i] = frand(-1, 1);
    for (int r = 0; r < n; r++) y[r] = (int32_t)(mnist_rng_u32(&rng) % 10);
    ref_log_softmax(lp, z, b, n, k);
    int conf[NCOUNTS] = {0};
    double loss = 0;
    for (int r = 0; r < n; r++) {
        const float *row = lp + (size_t)r * k;
        int best = mnist_argmax(row, k);
        loss -= row[y[r]];
        conf[0] += best == y[r];
        if (best < MNIST_CLASSES) conf[1 + y[r] * MNIST_CLASSES + best]++;
    }
    float *d = dup(z, m), *bd = dup(b, k);
    int32_t *yd = dup(y, n);
    int zero[NCOUNTS] = {0}, got[NCOUNTS];
    int *cd = dup(zero, NCOUNTS);
    double *pd = dalloc<double>(1), part = NAN;
    char what[64];
    snprintf(what, sizeof what, "k_eval_rows (%d x %d)", n, k);
    if (!dev_failed && ok_launch(k_eval_rows(d, bd, yd, n, k, pd, cd, cd + 1, 0), what)) {
        down(got, cd, NCOUNTS);
        down(&part, pd, 1);
        double e = fabs(part - loss) / loss;
        check(memcmp(got, conf, sizeof conf) == 0 && e < 1e-6,
              "%s: correct %d (CPU %d), the confusion matrix equal, loss relative error %.2g", what, got[0], conf[0], e);
        time_it(what, [&] { k_eval_rows(d, bd, yd, n, k, pd, cd, cd + 1, 0); });
    }
    free(z), free(lp), free(y);
}

static void test_act_grad_bias(int n, int k, int act, int dropout, last_mode mode) {
    size_t m = (size_t)n * k;
    float *dh = (float *)malloc(m * sizeof(float)), *h = (float *)malloc(m * sizeof(float));
    float *mask = (float *)malloc(m * sizeof(float)), *want = (float *)malloc(m * sizeof(float));
    float *got = (float *)malloc(m * sizeof(float)), *b = (float *)malloc(k * sizeof(float));
    float *bw = (float *)malloc(k * sizeof(float)), *bg = (float *)malloc(k * sizeof(float));
    for (size_t i = 0; i < m; i++) {
        dh[i] = frand(-1, 1);
        h[i] = act ? (mnist_rng_u32(&rng) & 1 ? frand(0, 2) : 0.0f) : frand(-1, 1);
        mask[i] = mnist_rng_u32(&rng) % 4 ? 1.25f : 0.0f;
    }
    for (int i = 0; i < k; i++) b[i] = frand(-1, 1);
    memcpy(want, dh, m * sizeof(float));
    if (dropout)
        for (size_t i = 0; i < m; i++) want[i] *= mask[i];
    cpu_act_grad(want, h, m, act ? MNIST_RELU : MNIST_TANH);
    cpu_col_sums(bw, want, n, k, (size_t)k);
    step_scalars sc = {};
    sc.lr = frand(0.001f, 0.1f), sc.decay = 1.0f - sc.lr * 0.001f;
    for (int j = 0; j < k; j++) bw[j] = mode == LAST_SGD ? sc.decay * b[j] - sc.lr * bw[j] : bw[j];
    float *dd = dup(dh, m), *hd = dup(h, m), *md = dropout ? dup(mask, m) : NULL, *bd = dup(b, k);
    float *bout = mode == LAST_SGD ? bd : dalloc<float>(k);
    step_scalars *dsc = dup(&sc, 1);
    char what[96];
    snprintf(what, sizeof what, "k_act_grad_bias (%d x %d, %s%s, %s)", n, k, act ? "relu" : "tanh",
             dropout ? ", dropout" : "", mode == LAST_SGD ? "SGD" : "gradient");
    if (!dev_failed && ok_launch(k_act_grad_bias(dd, hd, md, n, k, act, mode, bout, dsc, 0), what)) {
        down(got, dd, m);
        down(bg, bout, k);
        size_t d = bits_differ(got, want, m);
        /* column sums of n terms in 32 groups, not row by row: about sqrt(n) 6e-8 of the terms' size,
         * on sums that cancel to ~1/sqrt(n) of it: ~1e-6; 1e-5 allowed */
        double e = rel_err(bg, bw, k);
        check(d == 0 && e < 1e-5, "%s: dz the CPU's bits (%zu differ), bias relative error %.2g", what, d, e);
        float *scratch = dalloc<float>(k);
        time_it(what, [&] { k_act_grad_bias(dd, hd, md, n, k, act, LAST_GRAD, scratch, dsc, 0); });
    }
    free(dh), free(h), free(mask), free(want), free(got), free(b), free(bw), free(bg);
}

/* The last layer fused (k_last_forward, k_last_backward) against the CPU's products and loops. */
static void test_last_layer(int n, int in, int k, int act, int hidden, int dropout, last_mode mode) {
    size_t nh = (size_t)n * in, nw = (size_t)in * k, nz = (size_t)n * k;
    float *h = (float *)malloc(nh * sizeof(float)), *hact = (float *)malloc(nh * sizeof(float));
    float *mask = (float *)malloc(nh * sizeof(float)), *w = (float *)malloc(nw * sizeof(float));
    float *z = (float *)malloc(nz * sizeof(float)), *lp = (float *)malloc(nz * sizeof(float));
    float *dz = (float *)malloc(nz * sizeof(float)), *dh = (float *)malloc(nh * sizeof(float));
    float *wnew = (float *)malloc(nw * sizeof(float)), *got = (float *)malloc((nh > nw ? nh : nw) * sizeof(float));
    float b[LAST_MAX], bl[LAST_MAX];
    float *bp = (float *)malloc(in * sizeof(float)), *bpw = (float *)malloc(in * sizeof(float));
    int32_t *y = (int32_t *)malloc(n * sizeof(int32_t));
    double *rowloss = (double *)malloc(n * sizeof(double));
    for (size_t i = 0; i < nh; i++) {
        hact[i] = act ? (mnist_rng_u32(&rng) & 1 ? frand(0, 2) : 0.0f) : frand(-1, 1);
        mask[i] = mnist_rng_u32(&rng) % 4 ? 1.25f : 0.0f;
        h[i] = dropout ? hact[i] * mask[i] : hact[i];
    }
    for (size_t i = 0; i < nw; i++) w[i] = frand(-0.3f, 0.3f);
    for (int c = 0; c < k; c++) b[c] = frand(-1, 1);
    for (int j = 0; j < in; j++) bp[j] = frand(-1, 1);
    for (int r = 0; r < n; r++) y[r] = (int32_t)(mnist_rng_u32(&rng) % 10);
    step_scalars sc = {};
    sc.lr = frand(0.001f, 0.1f), sc.decay = 1.0f - sc.lr * 0.01f;
    int sgd = mode == LAST_SGD;
    // forward: lp = log_softmax(h w + b), the loss, dz
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, in, 1.0f, h, in, w, k, 0.0f, z, k);
    ref_log_softmax(lp, z, b, n, k);
    double loss = ref_xent_grad(dz, rowloss, lp, y, n, k);
    // backward: dh through the mask and the activation, its column sums; the weights; the last bias
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, k, 1.0f, dz, k, w, k, 0.0f, dh, in);
    if (dropout)
        for (size_t i = 0; i < nh; i++) dh[i] *= mask[i];
    cpu_act_grad(dh, hact, nh, act ? MNIST_RELU : MNIST_TANH);
    cpu_col_sums(bpw, dh, n, in, (size_t)in);
    for (int j = 0; j < in; j++) bpw[j] = sgd ? sc.decay * bp[j] - sc.lr * bpw[j] : bpw[j];
    memcpy(wnew, w, nw * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, k, n, sgd ? -sc.lr : 1.0f, h, in, dz, k,
                sgd ? sc.decay : 0.0f, wnew, k);
    cpu_col_sums(bl, dz, n, k, (size_t)k);
    for (int c = 0; c < k; c++) bl[c] = sgd ? sc.decay * b[c] - sc.lr * bl[c] : bl[c];

    float *hd = dup(h, nh), *had = dup(hact, nh), *md = dropout ? dup(mask, nh) : NULL, *wd = dup(w, nw);
    float *bd = dup(b, k), *bpd = dup(bp, in), *dzd = dalloc<float>(nz), *dhd = hidden ? dalloc<float>(nh) : NULL;
    float *wout = sgd ? wd : dalloc<float>(nw), *blout = sgd ? bd : dalloc<float>(k);
    float *bpout = hidden ? (sgd ? bpd : dalloc<float>(in)) : NULL;
    int32_t *yd = dup(y, n);
    double *rld = dalloc<double>(n), *ld = dalloc<double>(1), lg = NAN;
    step_scalars *dsc = dup(&sc, 1);
    char what[128];
    snprintf(what, sizeof what, "k_last_forward/backward (%d x %d x %d, %s%s%s, %s)", n, in, k, act ? "relu" : "tanh",
             hidden ? "" : ", no hidden layer", dropout ? ", dropout" : "", sgd ? "SGD" : "gradient");
    if (dev_failed || !ok_launch(k_last_forward(dzd, rld, hd, wd, bd, yd, n, in, k, 0), what)) return;
    float *dzg = (float *)malloc(nz * sizeof(float));
    double *rlg = (double *)malloc(n * sizeof(double));
    down(dzg, dzd, nz);
    down(rlg, rld, n);
    /* z: FP32 sums of `in` terms in another order than cblas's, ~sqrt(in) 6e-8 relative; one
     * ulp of a row's logsumexp moves all its lp, dz = exp(lp) - onehot by as much: 2e-5 */
    double e1 = rel_err(dzg, dz, nz), e2 = 0;
    for (int r = 0; r < n; r++) /* a confident row's loss is near 0: each against the mean */
        e2 = fabs(rlg[r] - rowloss[r]) / loss > e2 || rlg[r] != rlg[r] ? fabs(rlg[r] - rowloss[r]) / loss : e2;
    check(e1 < 2e-5 && e2 < 2e-5, "%s: dz %.2g, the rows' losses %.2g (of the mean) from the CPU's", what, e1, e2);
    if (ok_launch(k_last_backward(dhd, wout, bpout, blout, ld, wd, dzd, rld, hd, had, md, n, in, k, hidden, act, mode,
                                  dsc, 0),
                  what)) {
        double ew, eb, edh = 0, ebp = 0;
        down(got, wout, nw);
        for (size_t i = 0; i < nw; i++) got[i] -= sgd ? w[i] : 0.0f, wnew[i] -= sgd ? w[i] : 0.0f;
        ew = rel_err(got, wnew, nw); /* with SGD, the step's change: w moves by ~1e-3 of itself */
        down(got, blout, k);
        eb = rel_err(got, bl, k);
        down(&lg, ld, 1);
        if (hidden) {
            down(got, dhd, nh);
            edh = rel_err(got, dh, nh);
            down(got, bpout, in);
            ebp = rel_err(got, bpw, in);
        }
        /* sums of n or k terms in another order, on a dz already 2e-5 off: 1e-4; the biases' column
         * sums cancel (probabilities less label counts): 1e-3 */
        check(ew < 1e-4 && eb < 1e-3 && edh < 1e-4 && ebp < 1e-3 && fabs(lg - loss) / loss < 2e-5,
              "%s: weights %.2g, last bias %.2g, dh %.2g, bias below %.2g, loss %.2g relative to the CPU's", what, ew,
              eb, edh, ebp, fabs(lg - loss) / loss);
        time_it(what, [&] {
            k_last_forward(dzd, rld, hd, wd, bd, yd, n, in, k, 0);
            k_last_backward(dhd, wout, bpout, blout, ld, wd, dzd, rld, hd, had, md, n, in, k, hidden, act, mode, dsc, 0);
        });
    }
    free(h), free(hact), free(mask), free(w), free(z), free(lp), free(dz), free(dh), free(wnew), free(got), free(bp);
    free(bpw), free(y), free(rowloss), free(dzg), free(rlg);
}

static void test_optimizers(size_t n) {
    float *p = (float *)malloc(n * sizeof(float)), *g = (float *)malloc(n * sizeof(float));
    float *s1 = (float *)malloc(n * sizeof(float)), *s2 = (float *)malloc(n * sizeof(float));
    float *pw = (float *)malloc(n * sizeof(float)), *s1w = (float *)malloc(n * sizeof(float));
    float *s2w = (float *)malloc(n * sizeof(float)), *got = (float *)malloc(n * sizeof(float));
    for (int which = 0; which < 3; which++) { /* momentum, Nesterov, Adam */
        for (size_t i = 0; i < n; i++) {
            p[i] = frand(-1, 1), g[i] = frand(-0.1f, 0.1f), s1[i] = frand(-0.1f, 0.1f), s2[i] = frand(0, 0.01f);
            pw[i] = p[i], s1w[i] = s1[i], s2w[i] = s2[i];
        }
        step_scalars sc = {};
        sc.lr = frand(0.0005f, 0.01f);
        sc.decay = 1.0f - sc.lr * 0.05f;
        float mu = 0.9f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
        double t = 1 + mnist_rng_u32(&rng) % 1000;
        sc.c1 = (float)(1.0 / (1.0 - pow(b1, t))), sc.c2 = (float)(1.0 / (1.0 - pow(b2, t)));
        float lr = sc.lr, decay = sc.decay, c1 = sc.c1, c2 = sc.c2;
        /* src/backend_cpu.c's optimizer_step, expression for expression */
        for (size_t i = 0; i < n; i++) {
            if (which < 2) {
                s1w[i] = mu * s1w[i] + g[i];
                pw[i] = decay * pw[i] - lr * (which ? g[i] + mu * s1w[i] : s1w[i]);
            } else {
                s1w[i] = b1 * s1w[i] + (1.0f - b1) * g[i];
                s2w[i] = b2 * s2w[i] + (1.0f - b2) * g[i] * g[i];
                pw[i] = decay * pw[i] - lr * (s1w[i] * c1) / (sqrtf(s2w[i] * c2) + eps);
            }
        }
        float *pd = dup(p, n), *gd = dup(g, n), *s1d = dup(s1, n), *s2d = dup(s2, n);
        step_scalars *dsc = dup(&sc, 1);
        const char *name = which == 0 ? "k_momentum" : which == 1 ? "k_momentum (Nesterov)" : "k_adam";
        cudaError_t e = which < 2 ? k_momentum(pd, gd, s1d, n, mu, which, dsc, 0)
                                  : k_adam(pd, gd, s1d, s2d, n, b1, b2, eps, dsc, 0);
        if (dev_failed || !ok_launch(e, name)) break;
        size_t d = 0;
        down(got, pd, n), d += bits_differ(got, pw, n);
        down(got, s1d, n), d += bits_differ(got, s1w, n);
        if (which == 2) down(got, s2d, n), d += bits_differ(got, s2w, n);
        check(d == 0, "%s (%zu parameters): parameters and state the CPU's bits (%zu differ)", name, n, d);
        char what[96];
        snprintf(what, sizeof what, "%s (%zu)", name, n);
        time_it(what, [&] {
            if (which < 2) k_momentum(pd, gd, s1d, n, mu, which, dsc, 0);
            else k_adam(pd, gd, s1d, s2d, n, b1, b2, eps, dsc, 0);
        });
    }
    free(p), free(g), free(s1), free(s2), free(pw), free(s1w), free(s2w), free(got);
}

/* The three products against cblas, in FP32 and TF32. */
static void test_gemm(int n, int in, int out, int tf32) {
    char why[512];
    const cublas_api *api = cublas_load(why, sizeof why);
    if (!api) {
        check(0, "cuBLAS loads: %s", why);
        return;
    }
    cublasHandle_t h;
    if (!check(api->create(&h) == CUBLAS_STATUS_SUCCESS, "cuBLAS starts")) return;
    api->set_pointer_mode(h, CUBLAS_POINTER_MODE_DEVICE);
    float consts[4] = {1.0f, 0.0f, -frand(0.001f, 0.1f), 1.0f - frand(0.0001f, 0.01f)}; /* 1, 0, -lr, decay */
    float *cd = dup(consts, 4);
    gemm_ctx g = {api, h, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, cd, cd + 1};
    size_t nx = (size_t)n * in, nw = (size_t)in * out, ny = (size_t)n * out;
    float *x = (float *)malloc(nx * sizeof(float)), *w = (float *)malloc(nw * sizeof(float));
    size_t most = nx > nw ? nx : nw; /* room for the largest result */
    most = most > ny ? most : ny;
    float *dz = (float *)malloc(ny * sizeof(float)), *want = (float *)malloc(most * sizeof(float));
    float *got = (float *)malloc(most * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = mnist_rng_u32(&rng) % 4 ? 0.0f : frand(0, 1);
    for (size_t i = 0; i < nw; i++) w[i] = frand(-0.1f, 0.1f);
    for (size_t i = 0; i < ny; i++) dz[i] = frand(-0.01f, 0.01f);
    float *xd = dup(x, nx), *wd = dup(w, nw), *dzd = dup(dz, ny), *yd = dalloc<float>(ny), *dhd = dalloc<float>(nx);
    /* FP32 sums of up to ~1000 terms in another order: ~1e-6; TF32 inputs of 10 mantissa bits: ~5e-4 */
    double tol = tf32 ? 5e-3 : 1e-5;
    const char *mode = tf32 ? "TF32" : "FP32";
    char what[128];
    if (dev_failed) {
        api->destroy(h);
        return;
    }
    // y (n, out) = x w
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, x, in, w, out, 0.0f, want, out);
    cublasStatus_t s = mm_forward(&g, yd, xd, wd, n, in, out);
    snprintf(what, sizeof what, "mm_forward %s (%d x %d x %d)", mode, n, in, out);
    if (check(s == CUBLAS_STATUS_SUCCESS, "%s is accepted", what) && ok_launch(cudaGetLastError(), what)) {
        down(got, yd, ny);
        double e = rel_err(got, want, ny);
        check(e < tol, "%s: relative error %.2g to cblas", what, e);
        time_it(what, [&] { mm_forward(&g, yd, xd, wd, n, in, out); });
    }
    // dh (n, in) = dz w^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, out, 1.0f, dz, out, w, out, 0.0f, want, in);
    s = mm_input_grad(&g, dhd, dzd, wd, n, in, out);
    snprintf(what, sizeof what, "mm_input_grad %s (%d x %d x %d)", mode, n, in, out);
    if (check(s == CUBLAS_STATUS_SUCCESS, "%s is accepted", what) && ok_launch(cudaGetLastError(), what)) {
        down(got, dhd, nx);
        double e = rel_err(got, want, nx);
        check(e < tol, "%s: relative error %.2g to cblas", what, e);
        time_it(what, [&] { mm_input_grad(&g, dhd, dzd, wd, n, in, out); });
    }
    // w = decay w - lr x^T dz, the fused SGD step
    memcpy(want, w, nw * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, n, consts[2], x, in, dz, out, consts[3], want, out);
    s = mm_weight_grad(&g, wd, xd, dzd, n, in, out, cd + 2, cd + 3);
    snprintf(what, sizeof what, "mm_weight_grad %s, SGD (%d x %d x %d)", mode, n, in, out);
    if (check(s == CUBLAS_STATUS_SUCCESS, "%s is accepted", what) && ok_launch(cudaGetLastError(), what)) {
        down(got, wd, nw);
        /* the step moves w by ~1e-4 of itself: compare the change, not w */
        for (size_t i = 0; i < nw; i++) got[i] -= w[i], want[i] -= w[i];
        double e = rel_err(got, want, nw);
        check(e < 10 * tol, "%s: the step's change, relative error %.2g to cblas", what, e);
        time_it(what, [&] { mm_weight_grad(&g, wd, xd, dzd, n, in, out, cd, cd + 1); });
    }
    api->destroy(h);
    free(x), free(w), free(dz), free(want), free(got);
}

/* An own product (k_mm) with its epilogue against cblas and the CPU's element-wise functions: c (m,
 * n) = a b, a stored (k, m) when ta, b stored (n, k) when tb, k split in `splits` slices (0: as the
 * backend chooses). Run twice: the same bits both times (the tile counters were put back, and the
 * sums do not depend on which block of a tile ends last; the emulator runs every other launch in
 * reverse order). */
static void test_mm(mm_prec prec, int ta, int tb, mm_epi_kind kind, int act, int dropout, int m, int n, int k, int splits,
                    last_mode mode, int gather = 0) {
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = (float *)malloc(na * sizeof(float)), *b = (float *)malloc(nb * sizeof(float));
    float *c0 = (float *)malloc(nc * sizeof(float)), *want = (float *)malloc(nc * sizeof(float));
    float *got = (float *)malloc(nc * sizeof(float)), *got2 = (float *)malloc(nc * sizeof(float));
    float *bias = (float *)malloc(n * sizeof(float)), *bwant = (float *)malloc(n * sizeof(float));
    float *bgot = (float *)malloc(n * sizeof(float)), *hact = (float *)malloc(nc * sizeof(float));
    float *mask = (float *)malloc(nc * sizeof(float)), *mgot = (float *)malloc(nc * sizeof(float));
    float *dwant = (float *)malloc(nc * sizeof(float)), *dgot = (float *)malloc(nc * sizeof(float));
    for (size_t i = 0; i < na; i++) a[i] = mnist_rng_u32(&rng) % 4 ? frand(-1, 1) : 0.0f;
    /* gather: a's batch rows (rows, or columns with ta) are images idx[r] of 50 more than the batch,
     * as bytes / 255; the forward product also writes their labels */
    int rows = ta ? k : m, width = ta ? m : k, pool = rows + 50;
    uint8_t *images = (uint8_t *)malloc((size_t)pool * width), *labels = (uint8_t *)malloc(pool);
    int32_t *idx = (int32_t *)malloc(rows * sizeof(int32_t)), *ygot = (int32_t *)malloc(rows * sizeof(int32_t));
    for (size_t i = 0; i < (size_t)pool * width; i++)
        images[i] = mnist_rng_u32(&rng) % 3 ? 0 : (uint8_t)mnist_rng_u32(&rng);
    for (int i = 0; i < pool; i++) labels[i] = (uint8_t)(mnist_rng_u32(&rng) % 10);
    for (int r = 0; r < rows; r++) idx[r] = (int32_t)(mnist_rng_u32(&rng) % pool);
    if (gather)
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < width; j++)
                a[ta ? (size_t)r * m + j : (size_t)r * k + j] = (float)images[(size_t)idx[r] * width + j] / 255.0f;
    for (size_t i = 0; i < nb; i++) b[i] = frand(-0.1f, 0.1f);
    for (size_t i = 0; i < nc; i++) {
        c0[i] = frand(-0.1f, 0.1f);
        hact[i] = act ? (mnist_rng_u32(&rng) & 1 ? frand(0, 2) : 0.0f) : frand(-1, 1);
        mask[i] = mnist_rng_u32(&rng) % 4 ? 1.25f : 0.0f;
    }
    for (int j = 0; j < n; j++) bias[j] = frand(-0.5f, 0.5f);
    step_scalars sc = {};
    sc.lr = frand(0.001f, 0.1f), sc.decay = 1.0f - sc.lr * 0.001f;
    sc.step = mnist_rng_u32(&rng) % 100000;
    uint32_t seed = mnist_rng_u32(&rng);
    float p = 0.3f, keep = 1.0f / (1.0f - p);
    uint64_t thr = (uint64_t)(p * 16777216.0);
    int layer = 1 + (int)(mnist_rng_u32(&rng) % 3), step_bias = kind == MM_STEP && !tb;

    // the product (in TF32, of the inputs rounded to TF32 as the tensor cores take them; in FP32 and
    // 3xTF32, of the inputs as they are), then what the epilogue makes of it
    int tf32 = prec == MM_TF32;
    float *ar = (float *)malloc(na * sizeof(float)), *br = (float *)malloc(nb * sizeof(float));
    for (size_t i = 0; i < na; i++) ar[i] = tf32 ? tf32_round(a[i]) : a[i];
    for (size_t i = 0; i < nb; i++) br[i] = tf32 ? tf32_round(b[i]) : b[i];
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, ar,
                ta ? m : k, br, tb ? k : n, 0.0f, want, n);
    free(ar), free(br);
    for (size_t i = 0; i < nc; i++) {
        int j = (int)(i % n);
        if (kind == MM_BIAS_ACT) {
            want[i] = act_out(want[i] + bias[j], act);
            if (dropout) {
                mask[i] = mnist_dropout_keep(seed, sc.step, layer, i, p) ? keep : 0.0f;
                dwant[i] = want[i] * mask[i];
            }
        } else if (kind == MM_ACT_GRAD) {
            want[i] = act_back(dropout ? want[i] * mask[i] : want[i], hact[i], act);
        } else if (kind == MM_STEP) {
            want[i] = step_or_grad(c0[i], want[i], mode, &sc) - (mode == LAST_SGD ? c0[i] : 0.0f); /* the change */
        }
    }
    if (step_bias) {
        cpu_col_sums(bwant, b, k, n, (size_t)n);
        for (int j = 0; j < n; j++) /* the change, as for the weights */
            bwant[j] = step_or_grad(bias[j], bwant[j], mode, &sc) - (mode == LAST_SGD ? bias[j] : 0.0f);
    }

    mm_ctx g = {dalloc<float>((size_t)MM_SPLIT_MAX * 132 * MM_BM * MM_BN), dalloc<int>(132), 132, prec};
    if (g.counts) cudaMemset(g.counts, 0, 132 * sizeof(int));
    float *ad = dup(a, na), *bd = dup(b, nb), *cd = dup(c0, nc), *hd = dup(hact, nc), *biasd = dup(bias, n);
    float *maskd = dropout && kind == MM_ACT_GRAD ? dup(mask, nc) : dropout ? dalloc<float>(nc) : NULL;
    float *dropd = dropout && kind == MM_BIAS_ACT ? dalloc<float>(nc) : NULL;
    step_scalars *scd = dup(&sc, 1);
    uint8_t *imgd = dup(images, (size_t)pool * width), *labd = dup(labels, pool);
    int32_t *idxd = dup(idx, rows), *yd = gather && !ta ? dalloc<int32_t>(rows) : NULL;
    mm_epi e = {};
    if (gather) e.a_bytes = imgd, e.a_idx = idxd, e.labels = labd, e.y = yd;
    e.kind = kind, e.act = act, e.bias = biasd, e.drop = dropd, e.mask = maskd, e.seed = seed, e.layer = layer;
    e.threshold = thr, e.keep_scale = keep, e.hact = hd, e.mode = mode, e.sc = scd;
    e.bias_out = step_bias ? biasd : NULL;
    static const char *kinds[] = {"store", "bias+act", "act grad", "step"};
    char what[160];
    snprintf(what, sizeof what, "k_mm %s %s%s%s(%d x %d x %d, %s, %s%s%s, %d slices)",
             prec == MM_TF32 ? "TF32" : prec == MM_TF32X3 ? "3xTF32" : "FP32",
             gather ? "gathered " : "", ta ? "a^T " : "", tb ? "b^T " : "", m,
             n, k, kinds[kind], act ? "relu" : "tanh", dropout ? ", dropout" : "",
             kind == MM_STEP ? (mode == LAST_SGD ? ", SGD" : ", gradient") : "",
             splits ? splits : mm_splits(&g, m, n, k));
    if (!dev_failed && ok_launch(k_mm(&g, ta, tb, cd, gather ? NULL : ad, bd, m, n, k, &e, splits, 0), what)) {
        down(got, cd, nc);
        memcpy(got2, got, nc * sizeof(float));
        if (kind == MM_STEP && mode == LAST_SGD)
            for (size_t i = 0; i < nc; i++) got[i] -= c0[i];
        /* FP32 sums in another order (and fused): ~1e-6; the step's change likewise. TF32: the same
         * rounded inputs, but the tensor cores' sums need not round as FP32's: 1e-4, still a fifth of
         * what inputs not rounded to TF32, or truncated, would give (~5e-4). 3xTF32: FP32's, against
         * the inputs as they are (each term within ~2^-21 of FP32's: kernels.h); one TF32 product
         * alone would be ~5e-4 off them. The tensor cores may truncate their sums rather than round
         * them, a bias that grows with k: modelled (one truncation an 8-deep step), 9.5e-6 at k = 1024
         * with these inputs, too near 1e-5 for a first run on a GPU; so 3xTF32 gets FP32's bound for
         * sums of length k, k * 6e-8, at least 1e-5 (1.8e-5 at k = 300, 6e-5 at 1024: still a tenth
         * of one TF32 product's error, which the emulator's shapes give as 2.4e-4 to 2.9e-4) */
        double tol = tf32 ? 1e-4 : prec == MM_TF32X3 ? fmax(1e-5, k * 6e-8) : 1e-5;
        double err = rel_err(got, want, nc), berr = 0.0, derr = 0.0;
        size_t mbad = 0;
        if (step_bias) {
            down(bgot, biasd, n);
            if (mode == LAST_SGD)
                for (int j = 0; j < n; j++) bgot[j] -= bias[j];
            berr = rel_err(bgot, bwant, n);
        }
        if (dropout && kind == MM_BIAS_ACT) {
            down(mgot, maskd, nc);
            down(dgot, dropd, nc);
            mbad = bits_differ(mgot, mask, nc);
            derr = rel_err(dgot, dwant, nc);
        }
        size_t ybad = 0;
        if (yd) {
            down(ygot, yd, rows);
            for (int r = 0; r < rows; r++) ybad += ygot[r] != labels[idx[r]];
        }
        check(err < tol && berr < 1e-5 && mbad == 0 && derr < tol && ybad == 0,
              "%s: relative error %.2g (bias %.2g, dropped %.2g; %zu masks, %zu labels differ)", what, err, berr, derr,
              mbad, ybad);
        // again, from the same inputs: the same bits
        if (kind == MM_STEP) cudaMemcpy(cd, c0, nc * sizeof(float), cudaMemcpyHostToDevice);
        if (step_bias) cudaMemcpy(biasd, bias, n * sizeof(float), cudaMemcpyHostToDevice);
        if (ok_launch(k_mm(&g, ta, tb, cd, gather ? NULL : ad, bd, m, n, k, &e, splits, 0), what)) {
            down(got, cd, nc);
            size_t d = bits_differ(got, got2, nc);
            check(d == 0, "%s: a second run gives the same bits (%zu differ)", what, d);
        }
        if (gather) { // the same as k_gather's rows through the plain product, bit for bit
            float *xd = dalloc<float>((size_t)rows * width);
            int32_t *yd2 = dalloc<int32_t>(rows);
            mm_epi plain = e;
            plain.a_bytes = NULL, plain.a_idx = NULL, plain.labels = NULL, plain.y = NULL;
            cudaMemcpy(cd, c0, nc * sizeof(float), cudaMemcpyHostToDevice);
            cudaMemcpy(biasd, bias, n * sizeof(float), cudaMemcpyHostToDevice);
            if (ok_launch(k_gather(xd, yd2, imgd, labd, idxd, 0, rows, width, 0, 0, 0, 0, NULL, 0), what) &&
                ok_launch(k_mm(&g, ta, tb, cd, xd, bd, m, n, k, &plain, splits, 0), what)) {
                down(got, cd, nc);
                size_t d = bits_differ(got, got2, nc);
                check(d == 0, "%s: k_gather's rows through the plain product give the same bits (%zu differ)", what, d);
            }
        }
        time_it(what, [&] { k_mm(&g, ta, tb, cd, gather ? NULL : ad, bd, m, n, k, &e, splits, 0); });
    }
    free(a), free(b), free(c0), free(want), free(got), free(got2), free(bias), free(bwant), free(bgot), free(hact);
    free(mask), free(mgot), free(dwant), free(dgot), free(images), free(labels), free(idx), free(ygot);
}

int main(void) {
    const char *env = getenv("MNIST_TEST_SEED");
    uint32_t seed = env ? (uint32_t)strtoul(env, NULL, 10) : (uint32_t)time(NULL);
    timing = getenv("MNIST_KERNEL_TIMES") != NULL;
    small = getenv("MNIST_KERNEL_SMALL") != NULL;
    printf("seed %u (MNIST_TEST_SEED=%u repeats this run)\n", seed, seed);
    mnist_rng_seed(&rng, seed);
    test_host_twins();
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        float *x = NULL;
        cudaError_t le = k_gather(x, NULL, NULL, NULL, NULL, 0, 1, 4, 0, 0, 0, 0, NULL, 0);
        check(le != cudaSuccess, "without a GPU a launch reports an error rather than crashing (%s)",
              cudaGetErrorString(le));
        printf("SKIP test_cuda_kernels: no GPU here (%s): the kernels were not checked\n",
               cudaGetErrorString(e != cudaSuccess ? e : cudaErrorNoDevice));
        return check_status();
    }
    e = k_check_image();
    if (!check(e == cudaSuccess, "this build's kernels run on this GPU (%s)", cudaGetErrorString(e)))
        return check_status();
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("GPU: %s, compute capability %d.%d, %d multiprocessors\n", p.name, p.major, p.minor, p.multiProcessorCount);
    e = k_gather(NULL, NULL, NULL, NULL, NULL, 0, 0, 4, 0, 0, 0, 0, NULL, 0);
    after_failure();
    check(e == cudaErrorInvalidConfiguration && !dev_failed,
          "a launch refused (a grid of no blocks: %s) leaves the GPU to the checks after it", cudaGetErrorString(e));
    /* the lab's shapes (batch 128; 784, 1024, 1024, 10), then odd ones */
    test_gather(MNIST_PIXELS, MNIST_SIDE, 0, 0, 0), dfree_all();
    test_gather(MNIST_PIXELS, MNIST_SIDE, 0, 0, 1), dfree_all();
    test_gather(MNIST_PIXELS, MNIST_SIDE, 3, 0, 0), dfree_all();
    test_gather(MNIST_PIXELS, MNIST_SIDE, 2, 1, 0), dfree_all();
    test_gather(30, 0, 0, 0, 0), dfree_all();
    for (int act = 0; act < 2; act++) {
        if (!small) test_bias_act(128, 1024, act, 0.0f), dfree_all();
        test_bias_act(37, 97, act, 0.3f), dfree_all();
    }
    test_softmax_xent(128, 10, LAST_GRAD), dfree_all();
    test_softmax_xent(128, 10, LAST_SGD), dfree_all();
    test_softmax_xent(1000, 12, LAST_SGD), dfree_all();
    test_softmax_xent(1, 10, LAST_GRAD), dfree_all(); /* a batch of one */
    test_log_softmax(3001, 10), dfree_all();
    if (!small) test_eval_rows(10000, 10), dfree_all();
    test_eval_rows(513, 12), dfree_all();
    for (int act = 0; act < 2; act++) {
        if (!small) test_act_grad_bias(128, 1024, act, 0, LAST_SGD), dfree_all();
        test_act_grad_bias(37, 97, act, 1, LAST_GRAD), dfree_all();
        test_act_grad_bias(1, 97, act, 0, LAST_SGD), dfree_all(); /* a batch of one */
    }
    if (!small) test_last_layer(128, 1024, 10, 0, 1, 0, LAST_SGD), dfree_all(); /* the lab's */
    test_last_layer(37, 97, 12, 1, 1, 1, LAST_GRAD), dfree_all();
    test_last_layer(1, 64, 10, 0, 1, 1, LAST_SGD), dfree_all();
    test_last_layer(50, 784, 10, 0, 0, 0, LAST_GRAD), dfree_all(); /* no hidden layer */
    test_last_layer(300, 20, LAST_MAX, 1, 1, 0, LAST_SGD), dfree_all(); /* the widest, under 32 inputs */
    if (!small) test_last_layer(LAST_ROWS, 100, 10, 0, 1, 1, LAST_GRAD), dfree_all(); /* the largest batch it takes */
    /* own products: the lab's step (the backend's split choice), then odd shapes and slices */
    if (!small) {
        test_mm(MM_FP32, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 784, 0, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 0, 0, MM_BIAS_ACT, 0, 1, 128, 1024, 1024, 0, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 0, 1, MM_ACT_GRAD, 0, 0, 128, 1024, 1024, 0, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 1, 0, MM_STEP, 0, 0, 1024, 1024, 128, 0, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 1, 0, MM_STEP, 0, 0, 784, 1024, 128, 0, LAST_GRAD), dfree_all();
        test_mm(MM_FP32, 0, 0, MM_STORE, 0, 0, 640, 1024, 784, 0, LAST_SGD), dfree_all(); /* evaluation's: tiles enough */
        test_mm(MM_FP32, 0, 0, MM_STORE, 0, 0, 128, 10, 1024, 0, LAST_SGD), dfree_all();
    }
    for (int sp = 1; sp <= 3; sp++) {
        test_mm(MM_FP32, 0, 0, MM_BIAS_ACT, 1, 1, 37, 97, 300, sp, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 0, 1, MM_ACT_GRAD, 1, 1, 37, 97, 300, sp, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 0, 1, MM_STORE, 0, 0, 70, 33, 129, sp, LAST_SGD), dfree_all();
        test_mm(MM_FP32, 1, 0, MM_STEP, 0, 0, 97, 33, 300, sp, sp == 2 ? LAST_GRAD : LAST_SGD), dfree_all();
        test_mm(MM_FP32, 1, 0, MM_STORE, 0, 0, 65, 130, 17, sp, LAST_SGD), dfree_all();
    }
    test_mm(MM_FP32, 0, 0, MM_BIAS_ACT, 0, 0, 1, 1024, 784, 0, LAST_SGD), dfree_all(); /* a batch of one */
    /* the batch gathered by the first layer's products, with and without slices */
    if (!small) {
        test_mm(MM_FP32, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 784, 0, LAST_SGD, 1), dfree_all();
        test_mm(MM_FP32, 1, 0, MM_STEP, 0, 0, 784, 1024, 128, 0, LAST_SGD, 1), dfree_all();
    }
    test_mm(MM_FP32, 0, 0, MM_BIAS_ACT, 1, 1, 37, 97, 300, 2, LAST_SGD, 1), dfree_all();
    test_mm(MM_TF32, 0, 0, MM_BIAS_ACT, 0, 1, 37, 97, 300, 3, LAST_SGD, 1), dfree_all();
    test_mm(MM_TF32, 1, 0, MM_STEP, 0, 0, 97, 33, 300, 2, LAST_GRAD, 1), dfree_all();
    /* TF32 on the tensor cores: 8 warps of 2 fragments a tile, odd shapes, slices */
    if (!small) test_mm(MM_TF32, 0, 0, MM_BIAS_ACT, 0, 0, 128, 256, 256, 0, LAST_SGD), dfree_all();
    for (int sp = 1; sp <= 2; sp++) {
        test_mm(MM_TF32, 0, 0, MM_BIAS_ACT, 1, 1, 37, 97, 300, sp, LAST_SGD), dfree_all();
        test_mm(MM_TF32, 0, 1, MM_ACT_GRAD, 0, 1, 37, 97, 300, sp, LAST_SGD), dfree_all();
        test_mm(MM_TF32, 1, 0, MM_STEP, 0, 0, 97, 33, 300, sp, sp == 2 ? LAST_GRAD : LAST_SGD), dfree_all();
        test_mm(MM_TF32, 1, 0, MM_STORE, 0, 0, 65, 130, 17, sp, LAST_SGD), dfree_all();
    }
    /* 3xTF32: FP32's accuracy on the tensor cores, held to FP32's tolerance (and gathered) */
    if (!small) test_mm(MM_TF32X3, 0, 0, MM_BIAS_ACT, 0, 0, 128, 256, 256, 0, LAST_SGD), dfree_all();
    test_mm(MM_TF32X3, 0, 0, MM_BIAS_ACT, 1, 1, 37, 97, 300, 2, LAST_SGD), dfree_all();
    test_mm(MM_TF32X3, 0, 1, MM_ACT_GRAD, 0, 1, 37, 97, 300, 1, LAST_SGD), dfree_all();
    test_mm(MM_TF32X3, 1, 0, MM_STEP, 0, 0, 97, 33, 300, 2, LAST_GRAD, 1), dfree_all();
    test_mm(MM_TF32X3, 1, 0, MM_STORE, 0, 0, 65, 130, 17, 1, LAST_SGD), dfree_all();
    if (timing) /* the slices mm_splits chooses against the others: the first GPU run's TIME lines */
        for (int prec = MM_FP32; prec <= MM_TF32X3; prec++)
            for (int sp = 1; sp <= MM_SPLIT_MAX; sp *= 2) {
                test_mm((mm_prec)prec, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 1024, sp, LAST_SGD), dfree_all();
                test_mm((mm_prec)prec, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 784, sp, LAST_SGD), dfree_all();
            }
#ifndef MNIST_CUDA_EMU /* there each thread does its warp's whole fragment: 32 times the work */
    test_mm(MM_TF32, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 784, 0, LAST_SGD), dfree_all(); /* the lab's step */
    test_mm(MM_TF32, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 1024, 0, LAST_SGD), dfree_all();
    test_mm(MM_TF32, 0, 1, MM_ACT_GRAD, 0, 0, 128, 1024, 1024, 0, LAST_SGD), dfree_all();
    test_mm(MM_TF32, 1, 0, MM_STEP, 0, 0, 1024, 1024, 128, 0, LAST_SGD), dfree_all();
    test_mm(MM_TF32, 1, 0, MM_STEP, 0, 0, 784, 1024, 128, 0, LAST_SGD), dfree_all();
    test_mm(MM_TF32, 0, 0, MM_STORE, 0, 0, 10000, 1024, 784, 0, LAST_SGD), dfree_all(); /* evaluation's */
    test_mm(MM_TF32X3, 0, 0, MM_BIAS_ACT, 0, 0, 128, 1024, 784, 0, LAST_SGD, 1), dfree_all();
    test_mm(MM_TF32X3, 0, 1, MM_ACT_GRAD, 0, 0, 128, 1024, 1024, 0, LAST_SGD), dfree_all();
    test_mm(MM_TF32X3, 1, 0, MM_STEP, 0, 0, 1024, 1024, 128, 0, LAST_SGD), dfree_all();
#endif
    test_mm(MM_FP32, 1, 0, MM_STEP, 0, 0, 784, 1024, 1, 0, LAST_SGD), dfree_all();
    test_mm(MM_FP32, 0, 0, MM_STORE, 0, 0, 5, 7, 1, 1, LAST_SGD), dfree_all();
    test_optimizers(small ? 1000 : (size_t)784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10), dfree_all();
    for (int tf32 = 0; tf32 < 2; tf32++) {
        if (!small) test_gemm(128, 784, 1024, tf32), dfree_all();
        if (!small) test_gemm(128, 1024, 1024, tf32), dfree_all();
        if (!small) test_gemm(128, 1024, 10, tf32), dfree_all();
        test_gemm(37, 97, 33, tf32), dfree_all();
        if (!small) test_gemm(10000, 784, 1024, tf32), dfree_all();
    }
    check(!dev_failed, "no CUDA call failed");
    dfree_all();
    return check_status();
}
