/* test_emu.cpp: the CUDA emulator's own checks, each provoked once: that it refuses what a GPU
 * would fault on (bad launch shapes, host memory as a kernel argument, k_mm's epilogue's pointers
 * among them, or a copy's device side, a
 * copy past an allocation), that streams hold their work until waited for, that a graph runs only
 * when launched, that synchronising inside a capture fails it, that barriers work in both thread
 * orders, that a block's shared memory starts as NaN, and a barrier only some threads reach, or
 * threads waiting at different barriers, stop the program, that emulated cuBLAS reads
 * alpha from device memory when it runs and rounds to TF32 when asked, and that the warp matrix
 * functions (wmma) multiply as CUDA says, round to TF32 as the GPU does and refuse memory the GPU
 * would fault on; and that kernels' expf and logf keep to CUDA's bounds when asked to differ from glibc's
 * (MNIST_EMU_MATH=cuda). Run by tests/run.sh in the
 * emulator's build. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "cuda/kernels.h"

extern "C" {
#include "check.h"
}

// x (n) += v; one thread an element
__global__ void add_kernel(float *x, int n, float v) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += v;
}

// x (n) *= v; launched first inside a capture (loaded lazily)
__global__ void scale_kernel(float *x, int n, float v) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= v;
}

// out[0] = sum of x (blockDim.x, a power of two) through shared memory and barriers
__global__ void sum_kernel(float *out, const float *x) {
    __shared__ float part[1024];
    part[threadIdx.x] = x[threadIdx.x];
    __syncthreads();
    for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = part[0];
}

// out[b] = what block b finds in its shared memory, where only block 0 writes before reading
__global__ void stale_kernel(float *out) {
    __shared__ float v;
    if (blockIdx.x == 0 && threadIdx.x == 0) v = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}

// e (n) = expf(x), l (n) = logf(x); one thread an element
__global__ void math_kernel(float *e, float *l, const float *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) e[i] = expf(x[i]), l[i] = logf(x[i]);
}

// a barrier that only the even threads reach
__global__ void divergent_kernel(float *x) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
        x[threadIdx.x] = 1.0f;
    }
}

// the even threads wait at one barrier, the odd ones at another: as many barriers each, but a GPU
// would release each half at the other's
__global__ void split_barrier_kernel(float *x) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
        x[threadIdx.x] = 1.0f;
    } else {
        x[threadIdx.x] = 2.0f;
        __syncthreads();
    }
}

// out (blockDim.x) = the next thread's x through shared memory; with `barrier` false, read without
// a barrier after its write: a race between the two threads
__global__ void neighbour_kernel(float *out, const float *x, int barrier) {
    __shared__ float v[64];
    v[threadIdx.x] = x[threadIdx.x];
    if (barrier) __syncthreads();
    out[threadIdx.x] = v[(threadIdx.x + 1) % blockDim.x];
}

// d (16 x 16, row-major, ld 16) = a b + 0.5 by one warp's TF32 fragments: a (16 x 8) column-major
// with leading dimension 20, b (8 x 16) row-major with 24; at offset `skew` floats from those
__global__ void wmma_kernel(float *d, const float *a, const float *b, int skew) {
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> fc;
    wmma::load_matrix_sync(fa, a + skew, 20);
    wmma::load_matrix_sync(fb, b, 24);
    for (int i = 0; i < fa.num_elements; i++) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
    for (int i = 0; i < fb.num_elements; i++) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    wmma::fill_fragment(fc, 0.5f);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(d, fc, 16, wmma::mem_row_major);
}

static float *dev_floats(size_t n) {
    void *p = NULL;
    cudaMalloc(&p, n * sizeof(float));
    return (float *)p;
}

/* fn run in a child process, to its end and the GPU's; all (64 KiB) gets what it wrote on stderr.
 * Its wait status, or -1. */
template <typename F> static int in_child(char *all, F fn) {
    fflush(stdout);
    all[0] = 0;
    int err[2];
    if (pipe(err)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], 2);
        fn();
        cudaDeviceSynchronize();
        _exit(0);
    }
    close(err[1]);
    size_t got = 0, cap = 1 << 16;
    for (ssize_t n; got < cap - 1 && (n = read(err[0], all + got, cap - 1 - got)) > 0;) got += (size_t)n;
    all[got] = 0;
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* Whether fn, run in a child process, is stopped by the emulator (SIGABRT); msg: the emulator's
 * line on stderr (under AddressSanitizer its warnings may come first). */
template <typename F> static int aborts(char *msg, size_t cap, F fn) {
    static char all[1 << 16];
    int status = in_child(all, fn);
    const char *line = strstr(all, "CUDA emulator:");
    snprintf(msg, cap, "%.*s", line ? (int)strcspn(line, "\n") : 0, line ? line : "");
    return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_refusals(void) {
    float *d = dev_floats(64), host[64] = {0};
    LAUNCH(1, 2048, 0, add_kernel)(d, 64, 1.0f);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration, "a block of 2048 threads is refused");
    LAUNCH(dim3(1, 70000), 32, 0, add_kernel)(d, 64, 1.0f);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration, "a grid 70000 blocks high is refused");
    LAUNCH(1, 64, 0, add_kernel)(host, 64, 1.0f);
    cudaDeviceSynchronize();
    check(cudaGetLastError() == cudaErrorIllegalAddress && host[0] == 0.0f,
          "host memory as a kernel's argument is refused and the kernel does not run");
    check(cudaGetLastError() == cudaSuccess, "cudaGetLastError clears the error it returns");
    check(cudaMemcpy(host, d, 64 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
          "a copy host to device whose destination is host memory is refused");
    check(cudaMemcpy(d, host, 65 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
          "a copy past the end of its allocation is refused");
    check(cudaMemset(host, 0, 4) == cudaErrorInvalidValue, "cudaMemset of host memory is refused");
    check(cudaFree(host) == cudaErrorInvalidValue, "cudaFree of host memory is refused");
    cudaGetLastError();
    float first;
    cudaMemcpy(&first, d, sizeof first, cudaMemcpyDeviceToHost);
    check(isnan(first), "new device memory reads as NaN (%g)", first);
    cudaFree(d);
}

/* k_mm's epilogue (mm_epi) is passed by value with pointers in it: host memory there is refused as in
 * an argument of its own, where a GPU would fault on it. */
static void test_struct_pointers(void) {
    float *a = dev_floats(64), *b = dev_floats(64), *c = dev_floats(64), *bias = dev_floats(8), host[8] = {0};
    step_scalars *sc = NULL, host_sc = {};
    cudaMalloc(&sc, sizeof *sc);
    mm_ctx g = {NULL, NULL, 132, MM_FP32}; /* one slice: no workspace */
    mm_epi e = {};
    e.kind = MM_BIAS_ACT, e.bias = bias;
    check(k_mm(&g, 0, 0, c, a, b, 8, 8, 8, &e, 1, 0) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess,
          "k_mm with its epilogue's pointers in device memory runs");
    e.bias = host;
    check(k_mm(&g, 0, 0, c, a, b, 8, 8, 8, &e, 1, 0) == cudaErrorIllegalAddress,
          "k_mm with host memory as its epilogue's bias is refused");
    e = mm_epi{};
    e.kind = MM_STEP, e.mode = LAST_SGD, e.sc = &host_sc;
    check(k_mm(&g, 1, 0, c, a, b, 8, 8, 8, &e, 1, 0) == cudaErrorIllegalAddress,
          "k_mm with host memory as its epilogue's step scalars is refused");
    e.sc = sc;
    check(k_mm(&g, 1, 0, c, a, b, 8, 8, 8, &e, 1, 0) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess,
          "... and with them in device memory runs");
    cudaGetLastError();
    cudaFree(a), cudaFree(b), cudaFree(c), cudaFree(bias), cudaFree(sc);
}

static void test_streams_and_graphs(void) {
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    float *d = dev_floats(8), *pinned = NULL;
    cudaMallocHost(&pinned, 8 * sizeof(float));
    for (int i = 0; i < 8; i++) pinned[i] = -1.0f;
    cudaMemsetAsync(d, 0, 8 * sizeof(float), s);
    LAUNCH(1, 8, s, add_kernel)(d, 8, 2.0f);
    cudaMemcpyAsync(pinned, d, 8 * sizeof(float), cudaMemcpyDeviceToHost, s);
    check(pinned[0] == -1.0f, "a copy into pinned memory has not happened before the host waits (%g)", pinned[0]);
    cudaStreamSynchronize(s);
    check(pinned[0] == 2.0f && pinned[7] == 2.0f, "after cudaStreamSynchronize it has (%g)", pinned[0]);

    cudaGraph_t g = NULL;
    cudaGraphExec_t e = NULL;
    check(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess, "a capture begins");
    LAUNCH(1, 8, s, add_kernel)(d, 8, 1.0f);
    check(cudaStreamEndCapture(s, &g) == cudaSuccess && g, "and ends with a graph");
    cudaMemcpyAsync(pinned, d, 8 * sizeof(float), cudaMemcpyDeviceToHost, s);
    cudaStreamSynchronize(s);
    check(pinned[0] == 2.0f, "the captured kernel did not run while captured (%g)", pinned[0]);
    cudaGraphInstantiateWithFlags(&e, g, 0);
    cudaGraphLaunch(e, s);
    cudaGraphLaunch(e, s);
    cudaGraphExecDestroy(e); /* with its launches still waiting: they still run */
    cudaMemcpyAsync(pinned, d, 8 * sizeof(float), cudaMemcpyDeviceToHost, s);
    cudaStreamSynchronize(s);
    check(pinned[0] == 4.0f, "two launches of the graph run it twice (%g)", pinned[0]);
    cudaGraphDestroy(g);

    cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
    check(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "waiting for a capturing stream fails");
    check(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && !g, "and so does its capture");
    cudaGetLastError();

    float pageable[8];
    cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
    check(cudaMemcpyAsync(pageable, d, sizeof pageable, cudaMemcpyDeviceToHost, s) == cudaErrorStreamCaptureUnsupported,
          "a copy into memory not pinned cannot be captured");
    check(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && !g, "and fails its capture");
    cudaGetLastError();

    /* a kernel loads lazily: as a driver before CUDA 12.3, one not yet loaded fails a capture */
    cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
    LAUNCH(1, 8, s, scale_kernel)(d, 8, 2.0f);
    check(cudaGetLastError() == cudaErrorStreamCaptureUnsupported, "a kernel launched first in a capture is refused");
    check(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && !g, "and fails its capture");
    cudaGetLastError();
    cudaFuncAttributes fa;
    cudaFuncGetAttributes(&fa, scale_kernel);
    cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
    LAUNCH(1, 8, s, scale_kernel)(d, 8, 2.0f);
    check(cudaStreamEndCapture(s, &g) == cudaSuccess && g, "once cudaFuncGetAttributes has loaded it, it is captured");
    cudaGraphDestroy(g);

    cudaStream_t blocking; /* made without cudaStreamNonBlocking: stream 0 waits for it */
    cudaStreamCreateWithFlags(&blocking, 0);
    LAUNCH(1, 8, blocking, add_kernel)(d, 8, 1.0f);
    cudaMemcpy(pageable, d, sizeof pageable, cudaMemcpyDeviceToHost);
    check(pageable[0] == 5.0f, "a copy on stream 0 waits for a blocking stream's kernel (%g)", pageable[0]);
    LAUNCH(1, 8, s, add_kernel)(d, 8, 1.0f);
    cudaMemcpy(pageable, d, sizeof pageable, cudaMemcpyDeviceToHost);
    check(pageable[0] == 5.0f, "but not for a non-blocking stream's (%g)", pageable[0]);
    cudaStreamDestroy(blocking);
    cudaFreeHost(pinned);
    cudaFree(d);
    cudaStreamDestroy(s);
}

static void test_barriers(void) {
    float x[1024], want = 0, got = NAN;
    for (int i = 0; i < 1024; i++) want += x[i] = (float)(i % 7);
    float *dx = dev_floats(1024), *dout = dev_floats(1);
    cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
    for (int launch = 0; launch < 2; launch++) { /* one launch in each order */
        LAUNCH(1, 1024, 0, sum_kernel)(dout, dx);
        cudaMemcpy(&got, dout, sizeof got, cudaMemcpyDeviceToHost);
        check(got == want, "launch %d: a reduction through shared memory and barriers gives %g (%g)", launch, got,
              want);
    }
    cudaFree(dx), cudaFree(dout);

    float *dv = dev_floats(2), v[2] = {0, 0};
    for (int launch = 0; launch < 2; launch++) { /* one launch in each order */
        LAUNCH(2, 32, 0, stale_kernel)(dv);
        cudaMemcpy(v, dv, sizeof v, cudaMemcpyDeviceToHost);
        check(v[0] == 1.0f && isnan(v[1]),
              "launch %d: shared memory starts each block as NaN, not as another block left it (%g, %g)", launch,
              v[0], v[1]);
    }
    cudaFree(dv);

    char msg[1024];
    int aborted = aborts(msg, sizeof msg, [] {
        float *d = dev_floats(64);
        LAUNCH(1, 64, 0, divergent_kernel)(d);
    });
    check(aborted && strstr(msg, "divergent_kernel") && strstr(msg, "barrier not reached by every thread"),
          "a barrier only some threads reach stops the program, naming the kernel: %s", msg);
    aborted = aborts(msg, sizeof msg, [] {
        float *d = dev_floats(64);
        LAUNCH(1, 64, 0, split_barrier_kernel)(d);
    });
    check(aborted && strstr(msg, "split_barrier_kernel") && strstr(msg, "at another"),
          "threads waiting at different barriers stop the program, naming the kernel: %s", msg);
}

/* How far r is from the exact value e, in ulps of e (of the float below |e|). */
static double ulps_off(float r, double e) {
    float f = (float)fabs(e);
    if ((double)f > fabs(e)) f = nextafterf(f, 0.0f);
    return fabs((double)r - e) / (double)(nextafterf(f, INFINITY) - f);
}

/* In kernels, expf and logf are glibc's; with MNIST_EMU_MATH=cuda, another float within CUDA's
 * bounds (2 and 1 ulps), often not glibc's, the same at each call; outside kernels glibc's always. */
static void test_math(void) {
    enum { N = 4096 };
    static float x[N], e[N], l[N], e0[N], l0[N];
    for (int i = 0; i < N; i++) x[i] = 0.01f * (float)(i - N / 2) + 1e-4f * (float)i; /* -20.9 .. 21.3 */
    x[0] = 0.0f, x[1] = 1.0f; /* exp(0) and log(1) are exact: they stay so */
    float *dx = dev_floats(N), *de = dev_floats(N), *dl = dev_floats(N);
    cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
    unsetenv("MNIST_EMU_MATH"); /* tests/run.sh sets it */
    for (int cuda = 0; cuda < 2; cuda++) {
        if (cuda) setenv("MNIST_EMU_MATH", "cuda", 1);
        for (int rep = 0; rep < 2; rep++) { /* the second run: the same bits */
            memcpy(e0, e, sizeof e), memcpy(l0, l, sizeof l);
            LAUNCH((N + 255) / 256, 256, 0, math_kernel)(de, dl, dx, N);
            cudaMemcpy(e, de, sizeof e, cudaMemcpyDeviceToHost);
            cudaMemcpy(l, dl, sizeof l, cudaMemcpyDeviceToHost);
        }
        double worst_e = 0, worst_l = 0;
        int moved = 0, results = 0;
        for (int i = 0; i < N; i++) {
            float ge = expf(x[i]), gl = logf(x[i]); /* on the host: glibc's */
            double oe = ulps_off(e[i], exp((double)x[i]));
            worst_e = worst_of(worst_e, oe);
            moved += memcmp(&e[i], &ge, sizeof ge) != 0, results++;
            if (x[i] > 0) {
                double ol = ulps_off(l[i], log((double)x[i]));
                worst_l = worst_of(worst_l, ol);
                moved += memcmp(&l[i], &gl, sizeof gl) != 0, results++;
            }
        }
        int same = memcmp(e, e0, sizeof e) == 0 && memcmp(l, l0, sizeof l) == 0;
        if (cuda)
            check(worst_e <= 2 && worst_l <= 1 && moved > results / 4 && same && e[0] == 1.0f && l[1] == 0.0f,
                  "MNIST_EMU_MATH=cuda: kernels' expf within %.2f ulps (CUDA: 2), logf within %.2f (CUDA: 1), %d of %d "
                  "results not glibc's, the same twice, exp(0) and log(1) exact",
                  worst_e, worst_l, moved, results);
        else
            check(moved == 0 && same, "kernels' expf and logf are glibc's by default (%d of %d differ)", moved, results);
        check(expf(0.5f) == (expf)(0.5f) && logf(3.0f) == (logf)(3.0f), "outside kernels expf and logf are glibc's");
    }
    unsetenv("MNIST_EMU_MATH");
    cudaFree(dx), cudaFree(de), cudaFree(dl);
}

static void test_wmma(void) {
    float a[16 * 20 + 8], b[8 * 24], d[256], want[256];
    for (int i = 0; i < 16 * 20 + 8; i++) a[i] = (float)((i * 37) % 101) / 7.0f - 7.0f;
    for (int i = 0; i < 8 * 24; i++) b[i] = (float)((i * 53) % 89) / 11.0f - 4.0f;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) { /* a[r, k] at r + 20 k, b[k, c] at 24 k + c; summed in k order */
            float s = 0.5f;
            for (int k = 0; k < 8; k++) s += tf32_round(a[r + 20 * k]) * tf32_round(b[24 * k + c]);
            want[r * 16 + c] = s;
        }
    float *da = dev_floats(16 * 20 + 8), *db = dev_floats(8 * 24), *dd = dev_floats(256);
    cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice), cudaMemcpy(db, b, sizeof b, cudaMemcpyHostToDevice);
    LAUNCH(1, 32, 0, wmma_kernel)(dd, da, db, 0);
    cudaMemcpy(d, dd, sizeof d, cudaMemcpyDeviceToHost);
    check(memcmp(d, want, sizeof d) == 0, "wmma: a column-major a times a row-major b, inputs in TF32, plus c");
    float x = 1.0f + 1.0f / 2048, y = 1.0f + 1.0f / 4096, z = 1.0f + 1.0f / 1024 + 1.0f / 8388608;
    auto read = [](float v) { return nvcuda::wmma::emu_tf32_read(nvcuda::wmma::__float_to_tf32(v)); };
    check(read(x) == 1.0f + 1.0f / 1024 && read(y) == 1.0f && read(-x) == -1.0f - 1.0f / 1024,
          "__float_to_tf32 rounds to 10 mantissa bits, to nearest, ties away from zero (the 19 bits read)");
    check(nvcuda::wmma::__float_to_tf32(z) == 1.0f + 1.0f / 1024 + 1.0f / 8388608,
          "and leaves the low 13 bits its input's, which CUDA does not specify");
    char msg[1024];
    int aborted = aborts(msg, sizeof msg, [da, db, dd] { LAUNCH(1, 32, 0, wmma_kernel)(dd, da, db, 4); });
    check(aborted && strstr(msg, "wmma_kernel") && strstr(msg, "aligned to 32 bytes"),
          "a fragment loaded from a pointer not aligned to 32 bytes stops the program: %s", msg);
    cudaFree(da), cudaFree(db), cudaFree(dd);
}

static void test_cublas(void) {
    cublasHandle_t h;
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cublasCreate_v2(&h);
    cublasSetStream_v2(h, s);
    cublasSetPointerMode_v2(h, CUBLAS_POINTER_MODE_DEVICE);
    float a = 1.0f + 1.0f / 4096, b = 1.0f, c = 0.0f, consts[2] = {3.0f, 0.0f}, host_alpha = 1.0f;
    float *da = dev_floats(1), *db = dev_floats(1), *dc = dev_floats(1), *dk = dev_floats(2);
    cudaMemcpy(da, &a, 4, cudaMemcpyHostToDevice), cudaMemcpy(db, &b, 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dk, consts, 8, cudaMemcpyHostToDevice);
    cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &host_alpha, da, CUDA_R_32F, 1, db,
                                     CUDA_R_32F, 1, dk + 1, dc, CUDA_R_32F, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    check(st == CUBLAS_STATUS_INVALID_VALUE, "in pointer mode device a host alpha is refused");
    consts[0] = 1.0f;
    cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, dk, da, CUDA_R_32F, 1, db, CUDA_R_32F, 1, dk + 1, dc, CUDA_R_32F,
                 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    /* on stream 0, which does not wait for s: after the product was enqueued on s, before it runs */
    cudaMemcpy(dk, consts, 4, cudaMemcpyHostToDevice);
    cudaStreamSynchronize(s);
    cudaMemcpy(&c, dc, 4, cudaMemcpyDeviceToHost);
    check(c == a, "alpha is read from device memory when the product runs (%.9g, want %.9g)", c, a);
    cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, dk, da, CUDA_R_32F, 1, db, CUDA_R_32F, 1, dk + 1, dc, CUDA_R_32F,
                 1, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
    cudaDeviceSynchronize();
    cudaMemcpy(&c, dc, 4, cudaMemcpyDeviceToHost);
    check(c == 1.0f, "TF32 rounds 1 + 2^-12 to 1 (%.9g)", c);
    cublasDestroy_v2(h);
    cudaStreamDestroy(s);
    cudaFree(da), cudaFree(db), cudaFree(dc), cudaFree(dk);
}

/* Under ThreadSanitizer (make emu-races): a read of shared memory that another thread of the block
 * writes between the same two barriers is reported as a data race, in either order of the threads,
 * and the same read after a barrier is not. Each launch in a process of its own (this program run
 * again with --neighbour): a report would fail this one, and a child made by fork alone is one
 * ThreadSanitizer no longer watches (the fibers make the program many-threaded to it). */
static void neighbour(int barrier, int launches) {
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i;
    float *dx = dev_floats(64), *dout = dev_floats(64);
    cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
    for (int i = 0; i < launches; i++) LAUNCH(1, 64, 0, neighbour_kernel)(dout, dx, barrier);
    cudaDeviceSynchronize();
}

static void test_races(void) {
#ifdef __SANITIZE_THREAD__
    static char all[1 << 16];
    for (int barrier = 0; barrier < 2; barrier++)
        for (int launches = 1; launches <= 2; launches++) { /* the second in the other order */
            char b[8], l[8];
            snprintf(b, sizeof b, "%d", barrier), snprintf(l, sizeof l, "%d", launches);
            int status = in_child(all, [&] { execl("/proc/self/exe", "test_emu", "--neighbour", b, l, (char *)NULL); });
            const char *race = strstr(all, "ThreadSanitizer: data race");
            int named = race && strstr(race, "neighbour_kernel") != NULL;
            if (barrier)
                check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && !race,
                      "%d launches: a barrier between a thread's write and another's read is no race (%s)", launches,
                      race ? "reported as one" : "none reported");
            else
                check(named, "%d launches: another thread's write read without a barrier is a data race naming the "
                      "kernel (%s)", launches, race ? "reported" : "not reported");
        }
#endif
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--neighbour")) return neighbour(atoi(argv[2]), atoi(argv[3])), 0;
    test_refusals();
    test_struct_pointers();
    test_streams_and_graphs();
    test_barriers();
    test_races();
    test_cublas();
    test_wmma();
    test_math();
    return check_status();
}
