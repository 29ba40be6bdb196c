/* gemm.cu: the network's three matrix products through cuBLAS. Our arrays are row-major and
 * cuBLAS's column-major, so each product is asked for transposed: a row-major (r, c) array is a
 * column-major (c, r) one with the same leading dimension. FP32 (CUBLAS_COMPUTE_32F) unless the
 * context asks for TF32 tensor-core products. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "kernels.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

static cublas_api api;
static char api_why[512];
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

/* dlsym into a typed pointer; NULL (and why) when missing. */
template <typename F> static void find(void *lib, F *fn, const char *name) {
    *fn = (F)dlsym(lib, name);
    if (!*fn && !api_why[0]) snprintf(api_why, sizeof api_why, "%s has no %s", CUBLAS_SONAME, name);
}

static void load(void) {
#ifdef MNIST_CUDA_EMU
    void *lib = dlopen(NULL, RTLD_NOW); /* the CUDA emulator's cuBLAS is the program's own (tests/emu) */
#else
    void *lib = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#endif
#ifdef MNIST_CUDA_LIB
    if (!lib) lib = dlopen(MNIST_CUDA_LIB "/" CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#endif
    if (!lib) {
        const char *e = dlerror();
        snprintf(api_why, sizeof api_why, "%s", e ? e : CUBLAS_SONAME " cannot be opened");
        return;
    }
    find(lib, &api.create, "cublasCreate_v2");
    find(lib, &api.destroy, "cublasDestroy_v2");
    find(lib, &api.set_stream, "cublasSetStream_v2");
    find(lib, &api.set_pointer_mode, "cublasSetPointerMode_v2");
    find(lib, &api.set_workspace, "cublasSetWorkspace_v2");
    find(lib, &api.gemm_ex, "cublasGemmEx");
    find(lib, &api.status_string, "cublasGetStatusString");
}

const cublas_api *cublas_load(char *why, size_t cap) {
    pthread_once(&api_once, load);
    if (api_why[0]) {
        snprintf(why, cap, "%s", api_why);
        return NULL;
    }
    return &api;
}

static cublasStatus_t gemm(const gemm_ctx *g, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *a, int lda, const float *b, int ldb, const float *beta,
                           float *c, int ldc) {
    return g->api->gemm_ex(g->h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c, CUDA_R_32F,
                        ldc, g->compute, CUBLAS_GEMM_DEFAULT);
}

// y (n, out) = x (n, in) w (in, out): column-major y^T (out, n) = w^T (out, in) x^T (in, n)
cublasStatus_t mm_forward(const gemm_ctx *g, float *y, const float *x, const float *w, int n, int in, int out) {
    return gemm(g, CUBLAS_OP_N, CUBLAS_OP_N, out, n, in, g->one, w, out, x, in, g->zero, y, out);
}

// dh (n, in) = dz (n, out) w^T: column-major dh^T (in, n) = (w^T)^T (in, out) dz^T (out, n)
cublasStatus_t mm_input_grad(const gemm_ctx *g, float *dh, const float *dz, const float *w, int n, int in, int out) {
    return gemm(g, CUBLAS_OP_T, CUBLAS_OP_N, in, n, out, g->one, w, out, dz, out, g->zero, dh, in);
}

// w (in, out) = beta w + alpha h^T dz: column-major w^T (out, in) = dz^T (out, n) (h^T)^T (n, in)
cublasStatus_t mm_weight_grad(const gemm_ctx *g, float *w, const float *h, const float *dz, int n, int in, int out,
                              const float *alpha, const float *beta) {
    return gemm(g, CUBLAS_OP_N, CUBLAS_OP_T, out, in, n, alpha, dz, out, h, in, beta, w, out);
}
