/* cuda_runtime.h of the CUDA emulator (tests/emu): the part of the CUDA runtime that src/cuda/
 * uses, run on the host CPU, so that the backend's own source, kernels included, is tested on
 * machines without a GPU. The Makefile compiles the .cu files of src/cuda with the host's C++
 * compiler and -Itests/emu, so `#include <cuda_runtime.h>` finds this file instead of CUDA's.
 *
 * What it checks: device memory is host memory that the emulator tracks, so that a kernel's
 * pointer argument (where it points; pointers inside structs are not seen), a copy or a cuBLAS
 * operand that is not device memory, or runs past its allocation, is an error, as it would be a
 * fault on a GPU (pinned host memory, which a GPU could read, is refused too: the backend never
 * passes it); under AddressSanitizer each allocation is exactly its size, so a kernel reading past
 * it is caught. New device memory reads as NaN. A stream keeps its work until the host waits for
 * it, so a result read before waiting is stale, as on a GPU, and pinned memory that the host writes
 * while a copy from it waits in a stream is reported (the emulator stops); streams made without
 * cudaStreamNonBlocking are ordered with stream 0. Work captured into a graph runs only when the
 * graph is launched; waiting, copies with memory not pinned and failed launches fail the capture.
 * Kernels load lazily, as a driver before CUDA 12.3's loads them (CUDA_MODULE_LOADING=LAZY, the
 * default on Linux since CUDA 12.2): at their first launch or cudaFuncGetAttributes, and one first
 * launched during a capture fails it, as it does on such a driver (a later one loads it there).
 * A kernel runs block by block, each block's threads as fibers that switch at __syncthreads: a
 * barrier that some threads of a block reach and others do not is reported, and so are threads
 * waiting at different __syncthreads calls, as are bad launch shapes. Every other launch runs the
 * blocks, and the threads between barriers, in reverse order, so that a kernel that depends on the
 * order of its blocks or lacks a barrier shows.
 *
 * What it is not: a model of the GPU's timing, its memory model or its math library (expf and
 * logf are glibc's here, an ulp or two from CUDA's, or with MNIST_EMU_MATH=cuda some other float
 * within CUDA's bounds, not CUDA's bits; TF32 is rounded to nearest, ties away, which
 * cuBLAS does not document), nor of races between blocks that run at once, nor of a kernel's
 * resources (registers, shared memory: a launch too large for the card passes here). Shared memory
 * is a static; each block finds it filled with 0xff bytes (NaN), so that a kernel reading it before
 * writing it shows; but only where the compiler honours the section attribute below, and g++ (12 at
 * least, GCC bug 88061) drops it from the statics of templates, whose shared memory (k_mm's, that of
 * last_backward_kernel and act_grad_bias_kernel) stays zero at first and kept from block to block.
 * A race within a block shows in the results only as far as the two thread orders differ: between
 * barriers each thread runs to the next one before another starts; built with ThreadSanitizer (make
 * emu-races, emu.cpp) each is reported as such, in either order. And code that compiles here may
 * not compile for the device. Those are checked only on a GPU (bench/gpu.py: compute-sanitizer's racecheck,
 * synccheck and memcheck). */
#ifndef MNIST_EMU_CUDA_RUNTIME_H
#define MNIST_EMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>

#define MNIST_CUDA_EMU 1
#define CUDART_VERSION 13000

#define __global__
#define __device__
#define __host__
/* One block runs at a time: a block's shared memory is a static, in a section of its own
 * (emu_shared) that the emulator fills with 0xff bytes before each block, so that what a block
 * reads before writing is NaN (or -1), as garbage would be on a GPU, not what the last block left. */
#define __shared__ static __attribute__((section("emu_shared")))
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

/* The multiprocessors it says it has: an H100's or H200's 132, so that the backend shapes its work
 * (k_mm's split-K) as it would there. */
#define EMU_SMS 132

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2
} cudaStreamCaptureMode;

#define cudaStreamNonBlocking 0x01

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
typedef dim3 uint3;

struct uchar4 {
    unsigned char x, y, z, w;
};
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline unsigned __float_as_uint(float x) {
    unsigned u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float __uint_as_float(unsigned u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount;
    size_t totalGlobalMem;
};
typedef enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 } cudaDeviceAttr;
struct cudaFuncAttributes {
    int maxThreadsPerBlock;
};

typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;
typedef struct emu_graph *cudaGraph_t;
typedef struct emu_graph_exec *cudaGraphExec_t;

/* The running thread's coordinates, set by the emulator before it resumes a thread. */
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

/* A block's barrier. The call's place in the source names the barrier (the compiler may copy one
 * call into several places of the machine code: the place it was written is the same in each). */
void emu_syncthreads(const char *file, int line);
#define __syncthreads() emu_syncthreads(__FILE__, __LINE__)

/* Fibers run one at a time: an atomic is a plain read-modify-write; under ThreadSanitizer (make
 * emu-races) a relaxed atomic one, as CUDA's is, so that it is not taken for a race and orders
 * nothing. The value converts to *p's type, as CUDA's overloads let it (atomicAdd(float *, 1)). */
template <typename T> struct emu_same {
    typedef T type;
};
template <typename T> static inline T atomicAdd(T *p, typename emu_same<T>::type v) {
#ifdef __SANITIZE_THREAD__
    T old, sum;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do sum = old + v;
    while (!__atomic_compare_exchange(p, &old, &sum, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return old;
#else
    T old = *p;
    *p = old + v;
    return old;
#endif
}

/* One block runs at a time, its threads one at a time: every write is seen at once, a fence has
 * nothing to order, and a read past L1 is a read. */
static inline void __threadfence(void) {}
template <typename T> static inline T __ldcg(const T *p) { return *p; }

/* ---- the runtime -------------------------------------------------------------------------- */

const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d);
cudaError_t cudaDeviceSynchronize(void);
/* Kernel k is loaded (a kernel's first launch, or cudaFuncGetAttributes, loads it). */
void emu_load_kernel(const void *k);
template <typename F> static inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, F k) {
    emu_load_kernel(reinterpret_cast<const void *>(k));
    a->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t bytes) {
    return cudaMalloc((void **)p, bytes);
}
template <typename T> static inline cudaError_t cudaMallocHost(T **p, size_t bytes) {
    return cudaMallocHost((void **)p, bytes);
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s = 0);

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);

cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);

/* ---- what the emulator adds ----------------------------------------------------------------- */

/* Whether [p, p + bytes) lies in one live device allocation (cudaMalloc). */
int emu_is_device(const void *p, size_t bytes);
/* Enqueue fn on stream s (run when something waits for s), or into the graph being captured on s. */
cudaError_t emu_submit(cudaStream_t s, std::function<void()> fn);
/* A launch failed on s: a capture in progress there fails, as on a GPU. */
void emu_capture_fault(cudaStream_t s);
/* Record e as the error of the last launch (cudaGetLastError returns and clears it); say why on
 * stderr, prefixed "CUDA emulator: ". */
void emu_error(cudaError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Check a launch of kernel k (loaded by it, or already) and enqueue it: each block of grid g runs
 * thread(), once per thread of block b, with threadIdx and blockIdx set. */
void emu_launch_kernel(dim3 g, dim3 b, cudaStream_t s, const char *name, const void *k, std::function<void()> thread);

/* A kernel's pointer arguments must be device memory (or NULL); index i names the argument. */
template <typename T> static inline int emu_arg_ok(const char *name, int i, const T &a) {
    if constexpr (std::is_pointer<T>::value) {
        if (a && !emu_is_device((const void *)a, 1)) {
            emu_error(cudaErrorIllegalAddress, "%s: argument %d (%p) is not device memory", name, i + 1,
                      (const void *)a);
            return 0;
        }
    }
    (void)name, (void)i, (void)a;
    return 1;
}

template <typename... P> struct emu_launcher {
    dim3 g, b;
    cudaStream_t s;
    const char *name;
    void (*kernel)(P...);
    void operator()(P... a) const {
        std::tuple<P...> args(a...);
        int ok = 1, i = 0;
        std::apply([&](const auto &...x) { ((ok &= emu_arg_ok(name, i++, x)), ...); }, args);
        if (!ok) return emu_capture_fault(s);
        void (*k)(P...) = kernel;
        emu_launch_kernel(g, b, s, name, reinterpret_cast<const void *>(k), [k, args] { std::apply(k, args); });
    }
};

template <typename... P>
static inline emu_launcher<P...> emu_launch(dim3 g, dim3 b, cudaStream_t s, const char *name, void (*k)(P...)) {
    return emu_launcher<P...>{g, b, s, name, k};
}

/* kernel<<<g, b, 0, s>>>(args) is spelled LAUNCH(g, b, s, kernel)(args) in src/cuda/. */
#define LAUNCH(g, b, s, ...) emu_launch(g, b, s, #__VA_ARGS__, __VA_ARGS__)

/* CUDA's expf and logf: the CUDA Math API promises 2 and 1 ulps of the exact result, glibc's
 * about half an ulp. With MNIST_EMU_MATH=cuda, expf and logf called inside a kernel return instead
 * another float within CUDA's bound, chosen by a hash of the argument (a fixed function of it, as
 * a math library is): the exact result rounded down, or up, or (expf) one more ulp either way.
 * Otherwise, and always outside kernels, they are glibc's. So the tests can show whether their
 * tolerances, and the lab's accuracies, hold for any math library within CUDA's bounds. */
float emu_expf(float x);
float emu_logf(float x);
#define expf(x) emu_expf(x)
#define logf(x) emu_logf(x)

#endif
