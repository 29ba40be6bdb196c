/* emu.cpp: the CUDA emulator's runtime and cuBLAS (see cuda_runtime.h for what it is and is not).
 * Kernels run one at a time, under one lock; a block's threads are ucontext fibers on the calling
 * thread. A thread runs until it reaches __syncthreads or returns; when every thread of the block
 * has, a barrier releases them all; a block where some wait and others have returned, or where
 * they wait at different __syncthreads calls (which a GPU would count as one barrier, releasing
 * each thread at the wrong point), is a kernel error: the emulator says which and aborts. The first thread of a block runs as a fiber;
 * when it returns without a barrier, the others run as plain calls (most kernels have none).
 * MNIST_EMU_ORDER=forward|reverse|alternate (default alternate, by launch) orders the blocks and
 * the threads between barriers. */
#include <dlfcn.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <vector>

#include <cblas.h>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "mma.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

static std::recursive_mutex lock; /* the emulator's state, and the one kernel running */
#define LOCKED std::lock_guard<std::recursive_mutex> guard_(lock)

/* ---- errors --------------------------------------------------------------------------------- */

static cudaError_t last_error = cudaSuccess;

/* One line on stderr: "CUDA emulator: " and the message. */
static void say(const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "CUDA emulator: %s\n", msg);
}

void emu_error(cudaError_t e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    LOCKED;
    if (last_error == cudaSuccess) last_error = e;
}

/* A rule broken that a GPU would not forgive (a divergent barrier) or would not see (pinned memory
 * written while a copy from it waits): say so and stop. */
[[noreturn]] static void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    abort();
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    }
    return "unknown error";
}

cudaError_t cudaGetLastError(void) {
    LOCKED;
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

static cudaError_t fail(cudaError_t e, const char *what) {
    emu_error(e, "%s: %s", what, cudaGetErrorString(e));
    return e;
}

/* ---- the device ------------------------------------------------------------------------------ */

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v) {
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (d != 0) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties");
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulator (the host's CPU)");
    p->major = 9, p->minor = 0, p->multiProcessorCount = EMU_SMS;
    p->totalGlobalMem = (size_t)1 << 34;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    if (d != 0) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute");
    if (a != cudaDevAttrMultiProcessorCount) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute");
    *v = EMU_SMS;
    return cudaSuccess;
}

/* ---- memory ---------------------------------------------------------------------------------- */

static std::map<uintptr_t, size_t> device_mem, host_mem; /* start -> bytes */

static int within(const std::map<uintptr_t, size_t> &m, const void *p, size_t bytes) {
    LOCKED;
    uintptr_t a = (uintptr_t)p;
    auto it = m.upper_bound(a);
    if (it == m.begin()) return 0;
    --it;
    return a - it->first < it->second && bytes <= it->second - (a - it->first);
}

int emu_is_device(const void *p, size_t bytes) { return within(device_mem, p, bytes ? bytes : 1); }

static cudaError_t alloc(std::map<uintptr_t, size_t> &m, void **p, size_t bytes, const char *what) {
    *p = NULL;
    if (!bytes) return cudaSuccess;
    void *q = NULL; /* aligned as cudaMalloc's, and exactly `bytes` long for AddressSanitizer */
    if (posix_memalign(&q, 256, bytes)) return fail(cudaErrorMemoryAllocation, what);
    memset(q, 0xff, bytes); /* uninitialised memory reads as NaN */
    LOCKED;
    m[(uintptr_t)q] = bytes;
    *p = q;
    return cudaSuccess;
}

static cudaError_t release(std::map<uintptr_t, size_t> &m, void *p, const char *what) {
    if (!p) return cudaSuccess;
    LOCKED;
    auto it = m.find((uintptr_t)p);
    if (it == m.end()) {
        emu_error(cudaErrorInvalidValue, "%s(%p): not an allocation of it", what, p);
        return cudaErrorInvalidValue;
    }
    m.erase(it);
    free(p);
    return cudaSuccess;
}

static void finish_all(void);

/* Freeing waits for the work enqueued before, as on a GPU. */
cudaError_t cudaMalloc(void **p, size_t bytes) { return alloc(device_mem, p, bytes, "cudaMalloc"); }
cudaError_t cudaFree(void *p) { return finish_all(), release(device_mem, p, "cudaFree"); }
cudaError_t cudaMallocHost(void **p, size_t bytes) { return alloc(host_mem, p, bytes, "cudaMallocHost"); }
cudaError_t cudaFreeHost(void *p) { return finish_all(), release(host_mem, p, "cudaFreeHost"); }

/* ---- streams and graphs ------------------------------------------------------------------------ */

/* A stream keeps its work until something waits for it (a synchronisation, a copy into pageable
 * host memory, a free), as a GPU runs it later than the host enqueues it: the host reading a
 * result it has not waited for reads what was there before, and a test sees it. */
struct emu_stream {
    bool capturing, invalidated;
    bool blocking; /* made without cudaStreamNonBlocking: ordered with stream 0 */
    std::vector<std::function<void()>> nodes; /* the capture's */
    std::vector<std::function<void()>> queue; /* enqueued, not yet run */
};
struct emu_graph {
    std::vector<std::function<void()>> nodes;
};
struct emu_graph_exec { /* shared with its launches that have not run yet */
    std::shared_ptr<const std::vector<std::function<void()>>> nodes;
};
struct emu_event {
    double ms;
    cudaStream_t stream;
};

static emu_stream legacy;           /* stream 0 */
static std::set<emu_stream *> live; /* the others */
static int capturing;               /* streams in capture */
static std::set<const void *> loaded; /* the kernels loaded (cuda_runtime.h: lazily) */

static emu_stream *S(cudaStream_t s) { return s ? s : &legacy; }
static void finish(emu_stream *st);

cudaError_t emu_submit(cudaStream_t s, std::function<void()> fn) {
    LOCKED;
    emu_stream *st = S(s);
    if (st->capturing) {
        st->nodes.push_back(std::move(fn));
        return cudaSuccess;
    }
    if (st == &legacy) { /* stream 0 waits for the blocking streams, and they for it */
        for (emu_stream *o : live)
            if (o->blocking) finish(o);
    } else if (st->blocking) {
        finish(&legacy);
    }
    st->queue.push_back(std::move(fn));
    return cudaSuccess;
}

void emu_capture_fault(cudaStream_t s) {
    LOCKED;
    if (S(s)->capturing) S(s)->invalidated = true;
}

/* Run what stream s holds, in order. */
static void finish(emu_stream *st) {
    LOCKED;
    std::vector<std::function<void()>> q;
    q.swap(st->queue);
    for (auto &f : q) f();
}

static void finish_all(void) {
    LOCKED;
    finish(&legacy);
    for (emu_stream *st : live) finish(st);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    LOCKED;
    *s = new emu_stream();
    (*s)->blocking = !(flags & cudaStreamNonBlocking);
    live.insert(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    LOCKED;
    if (!s || !live.count(s)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy");
    if (s->capturing) capturing--;
    finish(s);
    live.erase(s);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    LOCKED;
    if (S(s)->capturing) {
        S(s)->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize during a capture");
    }
    finish(S(s));
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    LOCKED;
    if (capturing) return fail(cudaErrorStreamCaptureUnsupported, "cudaDeviceSynchronize during a capture");
    finish_all();
    return cudaSuccess;
}

/* MNIST_EMU_FAIL_CAPTURE=begin, end or instantiate: that step of every capture fails as a driver
 * without graph support might fail it, so that tests can watch the backend fall back to running
 * its steps one by one. Read at each call: a test sets and clears it around one backend. */
static bool capture_fails(const char *step) {
    const char *e = getenv("MNIST_EMU_FAIL_CAPTURE");
    return e && !strcmp(e, step);
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    LOCKED;
    (void)mode;
    if (!s || s->capturing) return fail(cudaErrorInvalidValue, "cudaStreamBeginCapture (stream 0, or one capturing)");
    if (capture_fails("begin")) return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture (injected)");
    s->capturing = true, s->invalidated = false;
    s->nodes.clear();
    capturing++;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    LOCKED;
    *g = NULL;
    if (!s || !s->capturing) return fail(cudaErrorInvalidValue, "cudaStreamEndCapture on a stream not capturing");
    s->capturing = false;
    capturing--;
    if (s->invalidated || capture_fails("end")) {
        s->nodes.clear();
        return fail(cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture");
    }
    *g = new emu_graph{std::move(s->nodes)};
    s->nodes.clear();
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags) {
    (void)flags;
    if (!g) return fail(cudaErrorInvalidValue, "cudaGraphInstantiateWithFlags");
    if (capture_fails("instantiate")) return fail(cudaErrorNotSupported, "cudaGraphInstantiateWithFlags (injected)");
    *e = new emu_graph_exec{std::make_shared<const std::vector<std::function<void()>>>(g->nodes)};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    if (!e) return fail(cudaErrorInvalidResourceHandle, "cudaGraphLaunch");
    auto nodes = e->nodes;
    return emu_submit(s, [nodes] {
        for (auto &f : *nodes) f();
    });
}

cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete e;
    return cudaSuccess;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new emu_event{0, NULL};
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    finish_all(); /* its recording may wait in a stream */
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    e->stream = s;
    return emu_submit(s, [e] { e->ms = now_ms(); });
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    (void)e;
    finish_all(); /* its stream may be gone */
    return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)(b->ms - a->ms);
    return cudaSuccess;
}

/* ---- copies ---------------------------------------------------------------------------------- */

static const char *where(const void *p, size_t bytes) {
    if (emu_is_device(p, bytes)) return "device memory";
    if (emu_is_device(p, 1)) return "device memory, but runs past its allocation";
    return "host memory";
}

/* Whether a copy of `bytes` from src to dst is what kind says. */
static cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what) {
    if (!bytes) return cudaSuccess;
    int dd = emu_is_device(dst, bytes), ds = emu_is_device(src, bytes);
    int hd = !emu_is_device(dst, 1), hs = !emu_is_device(src, 1);
    int ok = kind == cudaMemcpyHostToDevice   ? dd && hs
             : kind == cudaMemcpyDeviceToHost ? hd && ds
             : kind == cudaMemcpyDeviceToDevice ? dd && ds
             : kind == cudaMemcpyHostToHost   ? hd && hs
                                              : (dd || hd) && (ds || hs);
    if (ok) return cudaSuccess;
    static const char *kinds[] = {"host to host", "host to device", "device to host", "device to device", "default"};
    emu_error(cudaErrorInvalidValue, "%s of %zu bytes, %s: the destination %p is %s, the source %p is %s", what, bytes,
              kinds[kind], dst, where(dst, bytes), src, where(src, bytes));
    return cudaErrorInvalidValue;
}

/* As CUDA does with host memory that is not pinned (cudaMallocHost): a copy from it takes the
 * bytes at once (staged), a copy into it returns when done; with pinned memory both wait in the
 * stream, and the host must not touch the memory until it has waited for them: a copy from pinned
 * memory that finds the bytes changed since it was enqueued stops the emulator. */
static cudaError_t copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s,
                        const char *what) {
    cudaError_t e = check_copy(dst, src, bytes, kind, what);
    if (e != cudaSuccess || !bytes) return e;
    int pageable_src = !emu_is_device(src, 1) && !within(host_mem, src, bytes);
    int pageable_dst = !emu_is_device(dst, 1) && !within(host_mem, dst, bytes);
    if ((pageable_src || pageable_dst) && S(s)->capturing) { /* CUDA cannot capture these */
        emu_capture_fault(s);
        return fail(cudaErrorStreamCaptureUnsupported, "a copy with memory not pinned, during a capture");
    }
    if (pageable_src) {
        auto staged = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + bytes);
        return emu_submit(s, [=] { memcpy(dst, staged->data(), bytes); });
    }
    /* pinned memory: its bytes as enqueued, to be compared when the copy runs (a graph's copy reads
     * them at each launch, so the host may change them between launches) */
    std::shared_ptr<std::vector<char>> enqueued;
    if (!emu_is_device(src, 1) && !S(s)->capturing)
        enqueued = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + bytes);
    emu_submit(s, [=] {
        if (enqueued && memcmp(src, enqueued->data(), bytes))
            fatal("%s: the host wrote pinned memory %p while a copy from it waited in a stream (a GPU's copy "
                  "would read either bytes)", what, src);
        memcpy(dst, src, bytes);
    });
    if (pageable_dst) finish(S(s));
    return cudaSuccess;
}

/* On stream 0, waiting for it (not for streams made with cudaStreamNonBlocking: as on a GPU, a
 * copy on stream 0 does not wait for them). */
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    return copy(dst, src, bytes, kind, s, "cudaMemcpyAsync");
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    cudaError_t e = copy(dst, src, bytes, kind, 0, "cudaMemcpy");
    finish(&legacy);
    return e;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s) {
    if (bytes && !emu_is_device(dst, bytes)) {
        emu_error(cudaErrorInvalidValue, "cudaMemset of %zu bytes: %p is %s", bytes, dst, where(dst, bytes));
        return cudaErrorInvalidValue;
    }
    return emu_submit(s, [=] { memset(dst, value, bytes); });
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    cudaError_t e = cudaMemsetAsync(dst, value, bytes, 0);
    finish(&legacy);
    return e;
}

/* ---- kernels --------------------------------------------------------------------------------- */

/* A fiber per thread of the largest block so far, each running threads for as long as the program
 * does: run a thread of the kernel, say it is done, switch back to the scheduler, and again when
 * resumed. On x86-64 a switch is emu_switch below (the registers the ABI has the callee keep, on
 * the fiber's own stack; the float control words are left as they are, so every thread runs
 * under the host's); elsewhere ucontext's swapcontext, which also saves the signal mask with a
 * system call each time. Each stack is mapped with an inaccessible page below it, so that a
 * thread overflowing its stack faults rather than writing over the heap. */
enum { RUNNING, AT_BARRIER, DONE };
enum { STACK_BYTES = 64 << 10, GUARD_BYTES = 4096 };

struct fiber {
    char *stack; /* STACK_BYTES above its guard page */
    int state;
    void *tsan; /* MNIST_EMU_RACES: ThreadSanitizer's fiber */
    const char *file; /* AT_BARRIER: where its __syncthreads is written, the barrier it waits at */
    int line;
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t ctx;
#endif
};

/* The fibers, in a deque: a paused fiber's context must not move as the pool grows. Their stacks
 * are unmapped at exit. */
static struct fiber_pool : std::deque<fiber> {
    ~fiber_pool() {
        for (fiber &f : *this)
            if (f.stack) munmap(f.stack - GUARD_BYTES, GUARD_BYTES + STACK_BYTES);
    }
} fibers;
static unsigned current;                   /* the fiber running */
static bool plain;                         /* the block's threads run as plain calls */
static const std::function<void()> *body;  /* the running kernel's thread */
static const char *kernel_name;

static void yield(void);

/* MNIST_EMU_RACES (make emu-races): the kernels are built with ThreadSanitizer, this file without
 * it, and each of a block's threads is a fiber of its own to ThreadSanitizer, ordered with the
 * others only by the barriers: a thread at a barrier, or done, releases `arrived`; the scheduler,
 * when all are, acquires it and releases `passed`, which each thread acquires as it starts or
 * passes the barrier. So two threads of a block that touch the same byte between two barriers,
 * one of them writing (not by an atomic), are a data race it reports, in whichever order they ran
 * here: what a GPU, running them at once, would make of it. Blocks are ordered one after another
 * (their shared memory is one static here), and with the host, so races between blocks are not. */
#ifdef MNIST_EMU_RACES
extern "C" {
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
}
enum { races = 1, NO_SYNC = 1 }; /* __tsan_switch_to_fiber_no_sync: a switch orders nothing */
static char arrived, passed;
static void *scheduler_tsan;
static void races_new(fiber &f) { f.tsan = __tsan_create_fiber(0); }
static void races_to(fiber &f) { /* the scheduler, just before it resumes f */
    scheduler_tsan = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(f.tsan, NO_SYNC);
}
static void races_back(void) { __tsan_switch_to_fiber(scheduler_tsan, NO_SYNC); } /* a thread, before it yields */
static void races_arrive(void) { __tsan_release(&arrived); }
static void races_pass(void) { __tsan_acquire(&passed); }
static void races_open(void) { /* the scheduler: all have arrived */
    __tsan_acquire(&arrived);
    __tsan_release(&passed);
}
#else
enum { races = 0 };
static void races_new(fiber &) {}
static void races_to(fiber &) {}
static void races_back(void) {}
static void races_arrive(void) {}
static void races_pass(void) {}
static void races_open(void) {}
#endif

static void fiber_main(void) {
    for (;;) {
        races_pass();
        (*body)();
        races_arrive();
        fibers[current].state = DONE;
        races_back();
        yield();
    }
}

#if defined(__x86_64__)
extern "C" void emu_switch(void **save_sp, void *to_sp);
asm(".pushsection .text\n"
    ".globl emu_switch\n"
    ".type emu_switch, @function\n"
    "emu_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size emu_switch, .-emu_switch\n"
    ".popsection\n");

static void *scheduler_sp;

/* A new fiber's stack as emu_switch leaves one: six registers, then fiber_main as the return
 * address, 16-byte aligned as a call would leave it. */
static void fiber_make(fiber &f) {
    uintptr_t top = ((uintptr_t)f.stack + STACK_BYTES) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;                     /* fiber_main never returns */
    *--sp = (void *)fiber_main;
    for (int i = 0; i < 6; i++) *--sp = NULL; /* rbp rbx r12 r13 r14 r15 */
    f.sp = sp;
}
static void switch_in(fiber &f) { emu_switch(&scheduler_sp, f.sp); }
static void yield(void) { emu_switch(&fibers[current].sp, scheduler_sp); }
#else
static ucontext_t scheduler;
static void fiber_make(fiber &f) {
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc_link = NULL;
    makecontext(&f.ctx, fiber_main, 0);
}
static void switch_in(fiber &f) { swapcontext(&scheduler, &f.ctx); }
static void yield(void) { swapcontext(&fibers[current].ctx, &scheduler); }
#endif

static uint3 coords(unsigned t, dim3 d) { return uint3(t % d.x, t / d.x % d.y, t / (d.x * d.y)); }

static void resume(unsigned t) {
    if (t >= fibers.size()) fibers.resize(t + 1, fiber{});
    fiber &f = fibers[t];
    if (!f.stack) {
        void *m = mmap(NULL, GUARD_BYTES + STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m, GUARD_BYTES, PROT_NONE)) fatal("no memory for a thread's stack");
        f.stack = (char *)m + GUARD_BYTES;
        fiber_make(f);
        races_new(f);
    }
    current = t;
    threadIdx = coords(t, blockDim);
    f.state = RUNNING;
    races_to(f);
    switch_in(f);
}

/* What the warp matrix functions need of their memory (mma.h). */
void nvcuda::wmma::emu_wmma_check(const void *p, unsigned ldm, const char *what) {
    if ((uintptr_t)p % 32 || ldm % 4)
        fatal("kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s at %p with ldm %u: the pointer must be aligned to "
              "32 bytes and ldm a multiple of 4 floats",
              kernel_name, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z, what, p, ldm);
}

void emu_syncthreads(const char *file, int line) {
    if (plain)
        fatal("kernel %s, block (%u,%u,%u): thread (%u,%u,%u) waits at __syncthreads, but the block's first thread "
              "returned without reaching one (a barrier not reached by every thread of a block)",
              kernel_name, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
    fibers[current].file = file, fibers[current].line = line;
    fibers[current].state = AT_BARRIER;
    races_arrive();
    races_back();
    yield();
    races_pass();
}

/* Every __shared__ variable of the program, in the section emu_shared (cuda_runtime.h), whose
 * bounds the linker marks; weak, for a program that has none. */
extern "C" char __start_emu_shared[] __attribute__((weak)), __stop_emu_shared[] __attribute__((weak));

static void run_block(unsigned n, bool reverse) {
    if (__start_emu_shared) /* a block's shared memory starts as garbage: NaN, or -1 */
        memset(__start_emu_shared, 0xff, (size_t)(__stop_emu_shared - __start_emu_shared));
    races_open(); /* after the last block, and what the host did */
    auto nth = [&](unsigned i) { return reverse ? n - 1 - i : i; };
    resume(nth(0));
    if (fibers[nth(0)].state == DONE && !races) { /* no barrier: the others as plain calls */
        plain = true;
        for (unsigned i = 1; i < n; i++) {
            threadIdx = coords(nth(i), blockDim);
            (*body)();
        }
        plain = false;
        return;
    }
    for (unsigned i = 1; i < n; i++) resume(nth(i));
    for (;;) {
        unsigned waiting = 0, done = 0, w = 0, d = 0;
        for (unsigned t = 0; t < n; t++) {
            if (fibers[t].state == AT_BARRIER) waiting++, w = t;
            else done++, d = t;
        }
        if (!waiting) return races_open(); /* the block's work before the host's, and the next block's */
        if (done) {
            uint3 a = coords(w, blockDim), b = coords(d, blockDim);
            fatal("kernel %s, block (%u,%u,%u): thread (%u,%u,%u) waits at __syncthreads, thread (%u,%u,%u) has "
                  "returned (a barrier not reached by every thread of a block)",
                  kernel_name, blockIdx.x, blockIdx.y, blockIdx.z, a.x, a.y, a.z, b.x, b.y, b.z);
        }
        for (unsigned t = 1; t < n; t++) { /* a GPU counts the threads at any __syncthreads as at one barrier */
            const fiber &f = fibers[t], &f0 = fibers[0];
            if (f.line != f0.line || (f.file != f0.file && strcmp(f.file, f0.file))) {
                uint3 a = coords(0, blockDim), b = coords(t, blockDim);
                fatal("kernel %s, block (%u,%u,%u): thread (%u,%u,%u) waits at the __syncthreads of %s:%d, thread "
                      "(%u,%u,%u) at another, %s:%d (a barrier not reached by every thread of a block)",
                      kernel_name, blockIdx.x, blockIdx.y, blockIdx.z, a.x, a.y, a.z, f0.file, f0.line, b.x, b.y, b.z,
                      f.file, f.line);
            }
        }
        races_open();
        for (unsigned i = 0; i < n; i++) resume(nth(i));
    }
}

static int order_mode(void) { /* 0 forward, 1 reverse, 2 alternate */
    static int mode = -1;
    if (mode < 0) {
        const char *e = getenv("MNIST_EMU_ORDER");
        mode = !e || !strcmp(e, "alternate") ? 2 : !strcmp(e, "reverse") ? 1 : 0;
    }
    return mode;
}

static thread_local bool in_kernel; /* this thread runs a kernel's threads: device code */

static void run_kernel(dim3 g, dim3 b, const char *name, const std::function<void()> &thread) {
    LOCKED;
    in_kernel = true;
    static unsigned long launches;
    int mode = order_mode();
    bool reverse = mode == 2 ? (launches++ & 1) : mode == 1;
    gridDim = g, blockDim = b, body = &thread, kernel_name = name;
    unsigned long nb = (unsigned long)g.x * g.y * g.z, nt = b.x * b.y * b.z;
    for (unsigned long i = 0; i < nb; i++) {
        unsigned long k = reverse ? nb - 1 - i : i;
        blockIdx = uint3((unsigned)(k % g.x), (unsigned)(k / g.x % g.y), (unsigned)(k / ((unsigned long)g.x * g.y)));
        run_block((unsigned)nt, reverse);
    }
    body = NULL;
    in_kernel = false;
}

/* ---- the math library ------------------------------------------------------------------------ */

static bool cuda_math(void) { /* MNIST_EMU_MATH=cuda (cuda_runtime.h), read at each call: test_emu sets it */
    const char *e = getenv("MNIST_EMU_MATH");
    return e && !strcmp(e, "cuda");
}

/* A float within `most` ulps (1 or 2) of e, the exact result of f at x, chosen by a hash of x and
 * f (salt); the float nearest e where e is one (exact results stay exact), or e is not finite or
 * outside floats' normal range. */
static float within_ulps(double e, float x, int most, uint64_t salt) {
    float lo = (float)e;
    if (!isfinite(lo) || fabs(e) < FLT_MIN || (double)lo == e) return lo;
    if ((double)lo > e) lo = nextafterf(lo, -INFINITY); /* e rounded down: lo < e < lo + 1 ulp */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint64_t h = (u ^ salt) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29, h *= 0xbf58476d1ce4e5b9ULL, h ^= h >> 32;
    int pick = (int)(h % (most == 2 ? 4 : 2)) - (most == 2 ? 1 : 0); /* ulps above lo: -1..2, or 0..1 */
    for (; pick > 0; pick--) lo = nextafterf(lo, INFINITY);
    for (; pick < 0; pick++) lo = nextafterf(lo, -INFINITY);
    return lo;
}

/* (expf) and (logf): the C library's, not the macros of cuda_runtime.h. */
float emu_expf(float x) { return in_kernel && cuda_math() ? within_ulps(exp((double)x), x, 2, 1) : (expf)(x); }
float emu_logf(float x) { return in_kernel && cuda_math() ? within_ulps(log((double)x), x, 1, 2) : (logf)(x); }

void emu_load_kernel(const void *k) {
    LOCKED;
    loaded.insert(k);
}

void emu_launch_kernel(dim3 g, dim3 b, cudaStream_t s, const char *name, const void *k, std::function<void()> thread) {
    LOCKED;
    unsigned long nt = (unsigned long)b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || !nt || b.x > 1024 || b.y > 1024 || b.z > 64 || nt > 1024 || g.x > INT_MAX ||
        g.y > 65535 || g.z > 65535) {
        emu_error(cudaErrorInvalidConfiguration, "%s: a grid of (%u,%u,%u) blocks of (%u,%u,%u) threads", name, g.x,
                  g.y, g.z, b.x, b.y, b.z);
        emu_capture_fault(s);
        return;
    }
    /* MNIST_EMU_FAIL_LAUNCH=NAME (read at each launch): a launch of a kernel whose name begins with NAME
     * is refused, as a GPU refuses one that asks for more registers or shared memory than it has, so
     * that tests can watch a GPU's error in the middle of a run */
    const char *refuse = getenv("MNIST_EMU_FAIL_LAUNCH");
    if (refuse && refuse[0] && !strncmp(name, refuse, strlen(refuse))) {
        emu_error(cudaErrorLaunchOutOfResources, "%s: refused (MNIST_EMU_FAIL_LAUNCH)", name);
        emu_capture_fault(s);
        return;
    }
    if (S(s)->capturing && !loaded.count(k)) {
        emu_error(cudaErrorStreamCaptureUnsupported, "%s: first launched during a capture, where a driver before "
                  "CUDA 12.3 cannot load it (cudaFuncGetAttributes loads it before)", name);
        emu_capture_fault(s);
        return;
    }
    loaded.insert(k);
    emu_submit(s, [=] { run_kernel(g, b, name, thread); });
}

/* ---- cuBLAS ------------------------------------------------------------------------------------ */

struct emu_blas {
    cudaStream_t stream;
    cublasPointerMode_t mode;
};

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
    *h = new emu_blas{NULL, CUBLAS_POINTER_MODE_HOST};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t h, cublasPointerMode_t mode) {
    h->mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *workspace, size_t bytes) {
    (void)h;
    if (bytes && !emu_is_device(workspace, bytes)) {
        emu_error(cudaErrorInvalidValue, "cublasSetWorkspace: %zu bytes at %p: %s", bytes, workspace,
                  where(workspace, bytes));
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

} /* extern "C" */

/* x rounded to TF32: 10 mantissa bits, to nearest, ties away from zero (mma.h). */
float emu_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* A column-major (rows, cols) operand with leading dimension ld, as floats: (cols - 1) ld + rows. */
static size_t extent(int rows, int cols, int ld) { return rows && cols ? ((size_t)cols - 1) * ld + rows : 0; }

static const float *rounded(std::vector<float> &copy, const float *p, size_t n) {
    copy.assign(p, p + n);
    for (float &v : copy) v = emu_tf32(v);
    return copy.data();
}

static cublasStatus_t blas_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cublasStatus_t blas_bad(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    return CUBLAS_STATUS_INVALID_VALUE;
}

extern "C" cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                       int k, const void *alpha, const void *a, cudaDataType at, int lda,
                                       const void *b, cudaDataType bt, int ldb, const void *beta, void *c,
                                       cudaDataType ct, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    (void)algo;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (at != CUDA_R_32F || bt != CUDA_R_32F || ct != CUDA_R_32F ||
        (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32))
        return blas_bad("cublasGemmEx: only float32 operands and FP32 or TF32 compute are emulated");
    if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return blas_bad("cublasGemmEx: an operation that is neither N nor T");
    int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
    int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1))
        return blas_bad("cublasGemmEx: m %d, n %d, k %d with lda %d, ldb %d, ldc %d", m, n, k, lda, ldb, ldc);
    size_t na = extent(ar, ac, lda), nb = extent(br, bc, ldb), nc = extent(m, n, ldc);
    if ((na && !emu_is_device(a, na * sizeof(float))) || (nb && !emu_is_device(b, nb * sizeof(float))) ||
        (nc && !emu_is_device(c, nc * sizeof(float))))
        return blas_bad("cublasGemmEx: an operand is not device memory of its size (A %p: %s; B %p: %s; C %p: %s)", a,
                        where(a, na * sizeof(float)), b, where(b, nb * sizeof(float)), c, where(c, nc * sizeof(float)));
    int dev = h->mode == CUBLAS_POINTER_MODE_DEVICE;
    if (!alpha || !beta || emu_is_device(alpha, sizeof(float)) != dev || emu_is_device(beta, sizeof(float)) != dev)
        return blas_bad("cublasGemmEx: alpha %p and beta %p must be %s memory in this pointer mode", alpha, beta,
                        dev ? "device" : "host");
    float ha = dev ? 0.0f : *(const float *)alpha, hb = dev ? 0.0f : *(const float *)beta;
    int t32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    emu_submit(h->stream, [=] {
        if (!m || !n) return;
        float al = dev ? *(const float *)alpha : ha, be = dev ? *(const float *)beta : hb;
        std::vector<float> ra, rb;
        const float *pa = (const float *)a, *pb = (const float *)b;
        if (t32) pa = rounded(ra, pa, na), pb = rounded(rb, pb, nb);
        cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                    tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, al, pa, lda, pb, ldb, be, (float *)c, ldc);
    });
    return CUBLAS_STATUS_SUCCESS;
}
