/* optim.cu: momentum and Adam on the GPU, one pass over the flat buffers each, the twins of
 * optimizer_step in src/backend_cpu.c (the same expressions, so the same roundings under
 * -fmad=false). The learning rate, decay and Adam's corrections come from the step's scalars. */
#include "kernels.h"

static unsigned blocks_for(size_t n) {
    size_t b = (n + 255) / 256;
    return (unsigned)(b < 8192 ? b : 8192);
}

// p, g, v (n)
__global__ void momentum_kernel(float *p, const float *g, float *v, size_t n, float mu, int nesterov,
                                const step_scalars *sc) {
    float lr = sc->lr, decay = sc->decay;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        v[i] = mu * v[i] + g[i];
        p[i] = decay * p[i] - lr * (nesterov ? g[i] + mu * v[i] : v[i]);
    }
}

cudaError_t k_momentum(float *p, const float *g, float *v, size_t n, float mu, int nesterov, const step_scalars *sc,
                       cudaStream_t s) {
    LAUNCH(blocks_for(n), 256, s, momentum_kernel)(p, g, v, n, mu, nesterov, sc);
    return cudaGetLastError();
}

// p, g, m, v (n)
__global__ void adam_kernel(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float eps,
                            const step_scalars *sc) {
    float lr = sc->lr, decay = sc->decay, c1 = sc->c1, c2 = sc->c2;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = decay * p[i] - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}

cudaError_t k_adam(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float eps,
                   const step_scalars *sc, cudaStream_t s) {
    LAUNCH(blocks_for(n), 256, s, adam_kernel)(p, g, m, v, n, b1, b2, eps, sc);
    return cudaGetLastError();
}

cudaError_t k_load_optimizers(void) {
    cudaFuncAttributes a;
    cudaError_t e = cudaFuncGetAttributes(&a, momentum_kernel);
    return e != cudaSuccess ? e : cudaFuncGetAttributes(&a, adam_kernel);
}
