/* backend_cuda.cu: the seam of src/backend.h on one NVIDIA GPU, mirroring src/backend_cpu.c
 * function for function. Everything lives on the device: the splits as bytes (uploaded once by
 * set_data), parameters, gradients and optimizer state as flat buffers laid out as the model's,
 * activations for the largest batch, and a chunk of steps' batch indices and scalars. A chunk of
 * steps (train_steps: the rest of an epoch) is uploaded once and replayed as one CUDA graph;
 * only its losses come back. Products through cuBLAS in pointer mode device, so the learning rate
 * of the fused SGD step (alpha -lr, beta 1 - lr wd) is read from device memory and one captured
 * graph serves every epoch; or, with MNIST_CUDA_GEMM=own, through our own (k_mm, mm.cu), which
 * read it there too and take the element-wise work of each layer, and the batch's gather, into
 * their own loads and epilogues. Every CUDA and cuBLAS return is checked, and each launch's error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

extern "C" {
#include "backend.h"
#include "util.h"
}

#define EVAL_ROWS 10000                /* rows per forward pass when evaluating or predicting */
#define WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLAS's workspace: NVIDIA's advice for Hopper */

typedef struct {
    uint8_t *images; /* (n, sizes[0]) bytes, on the device */
    uint8_t *labels; /* (n) */
    int n, given;
} dev_split;

typedef struct {
    backend base;
    backend_opts o;
    int nl, sizes[MNIST_MAX_LAYERS + 1];
    mnist_tensor t[2 * MNIST_MAX_LAYERS];
    size_t nparams;
    int slots;
    uint64_t steps;                    /* optimizer steps taken */
    int rows;                          /* capacity of act: max(max_batch, EVAL_ROWS) */
    uint64_t threshold;                /* dropout: dropout_threshold(p) */
    float keep_scale;                  /* dropout: 1 / (1 - p) */
    cudaStream_t stream;
    cublasHandle_t blas;
    gemm_ctx gemm;
    void *workspace;                   /* cuBLAS's, set once so that capture allocates nothing */
    float *consts;                     /* {1, 0}: alpha and beta of the plain products */
    float *params, *grads, *state;     /* (nparams), (nparams), (slots * nparams) */
    float *act[MNIST_MAX_LAYERS + 1];  /* act[0] input (rows, sizes[0]); act[l] layer l-1's output */
    float *drop[MNIST_MAX_LAYERS];     /* with dropout: act[l] * mask[l] (max_batch, sizes[l]) */
    float *mask[MNIST_MAX_LAYERS];     /* with dropout: 0 or 1 / (1 - p) */
    float *delta[2];                   /* (max_batch, widest layer after the input) */
    int32_t *y;                        /* (rows) labels of the rows in act */
    double *rowloss;                   /* (max_batch) the last layer's loss per row, when fused */
    int fuse_last;                     /* the last layer by k_last_forward and k_last_backward */
    int own_mm;                        /* the products by k_mm with their epilogues, not cuBLAS: own_products() */
    mm_ctx mm;                         /* its split-K workspace and tile counters */
    dev_split split[NSPLITS];
    /* a chunk of steps: batch indices, scalars, losses on the device, and their pinned twins */
    int32_t *idx, *h_idx;              /* (cap_idx) */
    step_scalars *sc, *h_sc;           /* (cap_steps) */
    double *loss, *h_loss;             /* (cap_steps) */
    size_t cap_idx;
    int cap_steps;
    /* evaluation: a loss per chunk of rows, then correct and the confusion matrix */
    double *parts, *h_parts;           /* (cap_parts) */
    int *counts, *h_counts;            /* (NCOUNTS) */
    int cap_parts;
    /* the graph of the last chunk of steps */
    cudaGraphExec_t graph;
    int graph_steps, graph_n, warm;
    int no_graph; /* asked for (--no-graph), or a capture failed: the steps are enqueued one by one */
    char note[MNIST_ERR_LEN + 64]; /* base.note: why */
} cuda_backend;

/* ---- errors ----------------------------------------------------------------------------- */

static int cuda_fail(mnist_err *err, const char *what, cudaError_t e) {
    return errf(err, "CUDA error while %s: %s", what, cudaGetErrorString(e));
}

static const cublas_api *blas; /* set by load_blas, before any backend that uses cuBLAS is made */

static int blas_fail(mnist_err *err, const char *what, cublasStatus_t s) {
    return errf(err, "cuBLAS error while %s: %s", what, blas->status_string(s));
}

/* Return -1 from the calling function (which has an mnist_err *err) when a call fails. */
#define CU(call, what)                                          \
    do {                                                        \
        cudaError_t e_ = (call);                                \
        if (e_ != cudaSuccess) return cuda_fail(err, what, e_); \
    } while (0)
/* Free p with free_fn (cudaFree or cudaFreeHost), set to NULL first so that cuda_destroy never
 * frees it again, and return -1 as CU does when the free fails. */
#define FREE(free_fn, p, what)   \
    do {                         \
        void *q_ = (void *)(p);  \
        (p) = NULL;              \
        CU(free_fn(q_), what);   \
    } while (0)
#define CB(call, what)                                                   \
    do {                                                                 \
        cublasStatus_t s_ = (call);                                      \
        if (s_ != CUBLAS_STATUS_SUCCESS) return blas_fail(err, what, s_); \
    } while (0)

/* cuBLAS into blas (cublas_load opens it once); 0, or -1 with err. */
static int load_blas(mnist_err *err) {
    char why[512];
    const cublas_api *api = cublas_load(why, sizeof why);
    if (!api) return errf(err, "cuBLAS cannot be loaded: %s", why);
    blas = api;
    return 0;
}

/* MNIST_CUDA_GEMM=own: the products by k_mm (FP32, or TF32 on the tensor cores with --tf32), their
 * element-wise work in their epilogues; cuBLAS is then neither loaded nor needed. MNIST_CUDA_GEMM=own3:
 * the same, but FP32 as 3xTF32 on the tensor cores (kernels.h, mm_prec); with --tf32, as own.
 * Returns 0 (cuBLAS), 1 (own) or 3 (own3). */
static int own_products(void) {
    const char *gemm = getenv("MNIST_CUDA_GEMM");
    return !gemm ? 0 : strcmp(gemm, "own") == 0 ? 1 : strcmp(gemm, "own3") == 0 ? 3 : 0;
}

int backend_cuda_probe(mnist_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n == 0) e = cudaErrorNoDevice;
    if (e != cudaSuccess) {
        cudaGetLastError(); /* not sticky: leave no stale error for the launches of another backend */
        if (e == cudaErrorNoDevice)
            return errf(err, "no NVIDIA GPU was found (CUDA: %s)", cudaGetErrorString(e));
        if (e == cudaErrorInsufficientDriver) {
            /* the runtime says so both when the driver is too old and when there is none (libcuda.so.1
             * not installed, or not on the library path): the driver's version, 0 for none, tells which */
            int drv = 0;
            if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
            cudaGetLastError();
            if (drv == 0)
                return errf(err,
                            "no GPU can be used here: no NVIDIA driver was found (libcuda.so.1 "
                            "is not installed or not on the library path; CUDA: %s)",
                            cudaGetErrorString(e));
            return errf(err,
                        "no GPU can be used here: the NVIDIA driver is for CUDA %d.%d, and this "
                        "build needs CUDA %d.%d or later (CUDA: %s)",
                        drv / 1000, drv % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10,
                        cudaGetErrorString(e));
        }
        return errf(err, "the GPU cannot be used (CUDA: %s)", cudaGetErrorString(e));
    }
    int dev = 0;
    cudaDeviceProp p;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess || (e = cudaGetDeviceProperties(&p, dev)) != cudaSuccess) {
        cudaGetLastError();
        return errf(err, "the GPU cannot be used (CUDA: %s)", cudaGetErrorString(e));
    }
    if ((e = k_check_image()) != cudaSuccess) {
        cudaGetLastError();
        return errf(err, "this build's GPU code does not run on the %s (compute capability %d.%d): "
                         "%s; rebuild with NVCC_ARCH for it",
                    p.name, p.major, p.minor, cudaGetErrorString(e));
    }
    return own_products() ? 0 : load_blas(err);
}

/* ---- memory ------------------------------------------------------------------------------- */

static float *W(const cuda_backend *c, int l) { return c->params + c->t[2 * l].offset; }
static float *B(const cuda_backend *c, int l) { return c->params + c->t[2 * l + 1].offset; }
static float *GW(const cuda_backend *c, int l) { return c->grads + c->t[2 * l].offset; }
static float *GB(const cuda_backend *c, int l) { return c->grads + c->t[2 * l + 1].offset; }

/* What layer l reads: its input, dropped out while training. */
static const float *layer_input(const cuda_backend *c, int l, int train) {
    return train && c->o.dropout > 0 && l > 0 ? c->drop[l] : c->act[l];
}

/* A graph that cannot be destroyed is only lost memory: its error is cleared, else the next
 * launch's check would report it as its own. */
static void drop_graph(cuda_backend *c) {
    if (c->graph && cudaGraphExecDestroy(c->graph) != cudaSuccess) cudaGetLastError();
    c->graph = NULL;
}

/* Room for a chunk of `steps` steps of n examples. Grows only (at set_data, or for a longer chunk
 * than before); a graph captured over the old buffers is dropped. */
static int reserve_steps(cuda_backend *c, int steps, int n, mnist_err *err) {
    size_t need = (size_t)steps * (size_t)n;
    if (need > c->cap_idx) {
        drop_graph(c);
        c->cap_idx = 0;
        FREE(cudaFree, c->idx, "freeing batch indices");
        FREE(cudaFreeHost, c->h_idx, "freeing batch indices");
        CU(cudaMalloc((void **)&c->idx, need * sizeof(int32_t)), "allocating batch indices");
        CU(cudaMallocHost((void **)&c->h_idx, need * sizeof(int32_t)), "allocating batch indices");
        c->cap_idx = need;
    }
    if (steps > c->cap_steps) {
        drop_graph(c);
        c->cap_steps = 0;
        FREE(cudaFree, c->sc, "freeing step scalars");
        FREE(cudaFreeHost, c->h_sc, "freeing step scalars");
        FREE(cudaFree, c->loss, "freeing losses");
        FREE(cudaFreeHost, c->h_loss, "freeing losses");
        CU(cudaMalloc((void **)&c->sc, (size_t)steps * sizeof(step_scalars)), "allocating step scalars");
        CU(cudaMallocHost((void **)&c->h_sc, (size_t)steps * sizeof(step_scalars)), "allocating step scalars");
        CU(cudaMalloc((void **)&c->loss, (size_t)steps * sizeof(double)), "allocating losses");
        CU(cudaMallocHost((void **)&c->h_loss, (size_t)steps * sizeof(double)), "allocating losses");
        c->cap_steps = steps;
    }
    return 0;
}

static void cuda_destroy(backend *base) {
    cuda_backend *c = (cuda_backend *)base;
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    drop_graph(c);
    if (c->blas) c->gemm.api->destroy(c->blas);
    cudaFree(c->workspace);
    cudaFree(c->consts);
    cudaFree(c->params), cudaFree(c->grads), cudaFree(c->state);
    for (int l = 0; l <= c->nl; l++) cudaFree(c->act[l]);
    for (int l = 0; l < c->nl; l++) cudaFree(c->drop[l]), cudaFree(c->mask[l]);
    cudaFree(c->delta[0]), cudaFree(c->delta[1]);
    cudaFree(c->y), cudaFree(c->rowloss);
    cudaFree(c->mm.ws), cudaFree(c->mm.counts);
    for (int i = 0; i < NSPLITS; i++) cudaFree(c->split[i].images), cudaFree(c->split[i].labels);
    cudaFree(c->idx), cudaFree(c->sc), cudaFree(c->loss), cudaFree(c->parts), cudaFree(c->counts);
    cudaFreeHost(c->h_idx), cudaFreeHost(c->h_sc), cudaFreeHost(c->h_loss), cudaFreeHost(c->h_parts);
    cudaFreeHost(c->h_counts);
    if (c->stream) cudaStreamDestroy(c->stream);
    cudaGetLastError(); /* what failed while tearing down is not the next backend's error */
    free(c);
}

static int cuda_set_data(backend *base, int which, const mnist_split *s, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    if (backend_check_split(c->sizes, c->nl, s, err)) return -1;
    dev_split *d = &c->split[which];
    CU(cudaStreamSynchronize(c->stream), "finishing earlier work");
    if (which == SPLIT_TRAIN) drop_graph(c); /* it reads the old images */
    d->n = d->given = 0;
    FREE(cudaFree, d->images, "freeing a split's images");
    FREE(cudaFree, d->labels, "freeing a split's labels");
    size_t bytes;
    if (mul_size((size_t)s->n, (size_t)c->sizes[0], &bytes)) return errf(err, "a split of %d images is too large", s->n);
    if (s->n > 0) {
        CU(cudaMalloc((void **)&d->images, bytes), "allocating a split's images");
        CU(cudaMalloc((void **)&d->labels, (size_t)s->n), "allocating a split's labels");
        CU(cudaMemcpyAsync(d->images, s->images, bytes, cudaMemcpyHostToDevice, c->stream), "uploading images");
        CU(cudaMemcpyAsync(d->labels, s->labels, (size_t)s->n, cudaMemcpyHostToDevice, c->stream),
           "uploading labels");
        CU(cudaStreamSynchronize(c->stream), "uploading a split");
    }
    d->n = s->n;
    d->given = 1;
    int parts = (s->n + c->rows - 1) / c->rows;
    if (parts > c->cap_parts) {
        c->cap_parts = 0;
        FREE(cudaFree, c->parts, "freeing evaluation sums");
        FREE(cudaFreeHost, c->h_parts, "freeing evaluation sums");
        CU(cudaMalloc((void **)&c->parts, (size_t)parts * sizeof(double)), "allocating evaluation sums");
        CU(cudaMallocHost((void **)&c->h_parts, (size_t)parts * sizeof(double)), "allocating evaluation sums");
        c->cap_parts = parts;
    }
    /* room for an epoch of steps, so that the trainer's chunks never allocate */
    int b = c->o.max_batch, steps = s->n / b > 0 ? s->n / b : 1;
    return which == SPLIT_TRAIN ? reserve_steps(c, steps, b, err) : 0;
}

/* ---- a step ------------------------------------------------------------------------------- */

/* The scalars of the step taken after `step` steps, with learning rate lr: the CPU backend's
 * float arithmetic (decay = 1 - lr wd; Adam's corrections in double from float betas). */
static step_scalars scalars(const cuda_backend *c, uint64_t step, float lr) {
    step_scalars s;
    memset(&s, 0, sizeof s);
    s.lr = lr;
    s.neg_lr = -lr;
    s.decay = 1.0f - lr * c->o.weight_decay;
    if (c->o.optimizer == MNIST_ADAM) {
        double t = (double)(step + 1);
        s.c1 = (float)(1.0 / (1.0 - pow(c->o.beta1, t)));
        s.c2 = (float)(1.0 / (1.0 - pow(c->o.beta2, t)));
    }
    s.step = step;
    return s;
}

/* Forward n rows of act[0] through the first `layers` layers: hidden layers with bias and
 * activation (and, when training, dropout keyed by sc->step); the last layer's product only, its
 * bias and log-softmax being the caller's kernel. With idx (own products, a first layer that is
 * hidden), the rows are the training split's images idx[0..n), gathered by the first product, which
 * also writes their labels into y; act[0] is not written. */
static int forward(cuda_backend *c, int layers, int n, int train, const step_scalars *sc, const int32_t *idx,
                   mnist_err *err) {
    for (int l = 0; l < layers; l++) {
        int in = c->sizes[l], out = c->sizes[l + 1], hidden = l < c->nl - 1, drop = train && c->o.dropout > 0;
        if (c->own_mm) { /* the product with its bias, activation and masks */
            mm_epi e = {};
            e.kind = hidden ? MM_BIAS_ACT : MM_STORE;
            e.act = c->o.act, e.bias = B(c, l), e.sc = sc;
            if (hidden && drop) {
                e.drop = c->drop[l + 1], e.mask = c->mask[l + 1];
                e.seed = c->o.seed, e.layer = l, e.threshold = c->threshold, e.keep_scale = c->keep_scale;
            }
            if (l == 0 && idx) {
                e.a_bytes = c->split[SPLIT_TRAIN].images, e.a_idx = idx;
                e.labels = c->split[SPLIT_TRAIN].labels, e.y = c->y;
            }
            CU(k_mm(&c->mm, 0, 0, c->act[l + 1], e.a_bytes ? NULL : layer_input(c, l, train), W(c, l), n, out, in, &e,
                    0, c->stream),
               "launching a layer's product");
            continue;
        }
        CB(mm_forward(&c->gemm, c->act[l + 1], layer_input(c, l, train), W(c, l), n, in, out), "a layer's product");
        if (hidden)
            CU(k_bias_act(c->act[l + 1], B(c, l), n, out, c->o.act, drop ? c->drop[l + 1] : NULL,
                          drop ? c->mask[l + 1] : NULL, c->o.seed, l, c->threshold, c->keep_scale, sc, c->stream),
               "launching bias and activation");
    }
    return 0;
}

/* Enqueue one step on training examples idx (n, on the device) with scalars sc and loss slot
 * `loss` (device): gather, forward, log-softmax and NLL, backward. With own products and no
 * augmenting, the first layer's two products gather the batch themselves (no k_gather). LAST_SGD takes the SGD step in
 * place (each weight gradient's product folded into the update, after the input gradient was
 * taken from the weights before it); LAST_GRAD writes the gradients into grads. The last layer is
 * two kernels of our own where it is narrow (c->fuse_last) and the batch at most LAST_ROWS, else
 * products and kernels. Those kernels compute in FP32 also with --tf32 (the layer is under 1% of
 * the arithmetic). */
static int enqueue_step(cuda_backend *c, const int32_t *idx, int n, const step_scalars *sc, double *loss,
                        last_mode mode, mnist_err *err) {
    const dev_split *s = &c->split[SPLIT_TRAIN];
    int nl = c->nl, k = c->sizes[nl], sgd = mode == LAST_SGD, l = nl - 1, fused = c->fuse_last && n <= LAST_ROWS;
    int gathered = c->own_mm && nl >= 2 && !c->o.shift && !c->o.flip; /* by the products */
    if (!gathered)
        CU(k_gather(c->act[0], c->y, s->images, s->labels, idx, 0, n, c->sizes[0], c->o.shift, c->o.flip, c->o.side,
                    c->o.seed, sc, c->stream),
           "launching the batch gather");
    if (forward(c, fused ? nl - 1 : nl, n, 1, sc, gathered ? idx : NULL, err)) return -1;
    float *dz = c->delta[0], *dh = c->delta[1];
    if (fused) {
        // the last layer: its product, log-softmax, the loss, dz; then dh, the weights' and biases' steps
        int in = c->sizes[l];
        const float *h = layer_input(c, l, 1);
        CU(k_last_forward(dz, c->rowloss, h, W(c, l), B(c, l), c->y, n, in, k, c->stream),
           "launching the last layer's forward");
        float *b_prev = l > 0 ? (sgd ? B(c, l - 1) : GB(c, l - 1)) : NULL;
        CU(k_last_backward(l > 0 ? dh : NULL, sgd ? W(c, l) : GW(c, l), b_prev, sgd ? B(c, l) : GB(c, l), loss,
                           W(c, l), dz, c->rowloss, h, l > 0 ? c->act[l] : NULL,
                           l > 0 && c->o.dropout > 0 ? c->mask[l] : NULL, n, in, k, l > 0, c->o.act, mode, sc,
                           c->stream),
           "launching the last layer's backward");
        float *t = dz;
        dz = dh;
        dh = t;
        l--;
    } else {
        CU(k_softmax_xent(c->act[nl], dz, B(c, nl - 1), c->y, n, k, mode, sgd ? B(c, nl - 1) : GB(c, nl - 1), sc, loss,
                          c->stream),
           "launching log-softmax and the loss");
    }
    for (; l >= 0; l--) {
        int in = c->sizes[l], out = c->sizes[l + 1];
        const float *h = layer_input(c, l, 1);
        float *mask = l > 0 && c->o.dropout > 0 ? c->mask[l] : NULL;
        if (l > 0 && c->own_mm) {
            // dh (n, in) = dz w^T through dropout's mask and the activation: layer l-1's dz; its bias
            // takes its step with layer l-1's weights
            mm_epi e = {};
            e.kind = MM_ACT_GRAD, e.act = c->o.act, e.hact = c->act[l], e.mask = mask;
            CU(k_mm(&c->mm, 0, 1, dh, dz, W(c, l), n, in, out, &e, 0, c->stream),
               "launching an input gradient's product");
        } else if (l > 0) {
            // dh (n, in) = dz w^T; through dropout's mask and the activation: layer l-1's dz, and its bias
            CB(mm_input_grad(&c->gemm, dh, dz, W(c, l), n, in, out), "an input gradient's product");
            CU(k_act_grad_bias(dh, c->act[l], mask, n, in, c->o.act, mode, sgd ? B(c, l - 1) : GB(c, l - 1), sc,
                               c->stream),
               "launching the activation's gradient");
        }
        // w = decay w - lr h^T dz (SGD), or dw = h^T dz; with k_mm, also this layer's bias where no
        // kernel above took it (the last layer's and, fused, the one under it are taken)
        if (c->own_mm) {
            mm_epi e = {};
            e.kind = MM_STEP, e.mode = mode, e.sc = sc;
            if (l < nl - 1 && !(fused && l == nl - 2)) e.bias_out = sgd ? B(c, l) : GB(c, l);
            if (l == 0 && gathered) e.a_bytes = s->images, e.a_idx = idx;
            CU(k_mm(&c->mm, 1, 0, sgd ? W(c, l) : GW(c, l), e.a_bytes ? NULL : h, dz, in, out, n, &e, 0, c->stream),
               "launching a weight product");
        } else if (sgd)
            CB(mm_weight_grad(&c->gemm, W(c, l), h, dz, n, in, out, &sc->neg_lr, &sc->decay), "the SGD step's product");
        else
            CB(mm_weight_grad(&c->gemm, GW(c, l), h, dz, n, in, out, c->gemm.one, c->gemm.zero),
               "a weight gradient's product");
        float *t = dz;
        dz = dh;
        dh = t;
    }
    return 0;
}

/* Step j of the uploaded chunk: its batch, then the optimizer. */
static int enqueue_train_step(cuda_backend *c, int j, int n, mnist_err *err) {
    const step_scalars *sc = c->sc + j;
    if (enqueue_step(c, c->idx + (size_t)j * n, n, sc, c->loss + j,
                     c->o.optimizer == MNIST_SGD ? LAST_SGD : LAST_GRAD, err))
        return -1;
    if (c->o.optimizer == MNIST_MOMENTUM)
        CU(k_momentum(c->params, c->grads, c->state, c->nparams, c->o.momentum, c->o.nesterov, sc, c->stream),
           "launching the momentum step");
    else if (c->o.optimizer == MNIST_ADAM)
        CU(k_adam(c->params, c->grads, c->state, c->state + c->nparams, c->nparams, c->o.beta1, c->o.beta2, c->o.eps,
                  sc, c->stream),
           "launching the Adam step");
    return 0;
}

/* Capture the chunk's steps into one graph. Before the first capture, one gradient pass runs
 * eagerly (it changes nothing) so that every kernel it runs and cuBLAS's choice of kernels are
 * loaded; the optimizers' kernels, which it does not run, are loaded by k_load_optimizers.
 * -1 when that pass fails, or a step fails to enqueue while the capture itself holds (a real
 * error); -2 when the capture fails (the steps can still run uncaptured). */
static int capture(cuda_backend *c, int steps, int n, mnist_err *err) {
    drop_graph(c);
    if (!c->warm) {
        if (enqueue_step(c, c->idx, n, c->sc, c->loss, LAST_GRAD, err)) return -1;
        CU(k_load_optimizers(), "loading the optimizers' kernels");
        CU(cudaStreamSynchronize(c->stream), "warming up");
        c->warm = 1;
    }
    /* each failure below clears the runtime's last error, else the first launch of the steps run
     * one by one would report it as its own */
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed);
    if (e != cudaSuccess) return cudaGetLastError(), cuda_fail(err, "beginning a graph capture", e), -2;
    int rc = 0;
    for (int j = 0; j < steps && rc == 0; j++) rc = enqueue_train_step(c, j, n, err);
    cudaGraph_t g = NULL;
    e = cudaStreamEndCapture(c->stream, &g);
    if (rc || e != cudaSuccess) {
        if (g) cudaGraphDestroy(g);
        cudaGetLastError();
        if (e == cudaSuccess) return -1; /* the step failed, not the capture */
        if (!rc) cuda_fail(err, "capturing the steps' graph", e);
        return -2;
    }
    e = cudaGraphInstantiateWithFlags(&c->graph, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        c->graph = NULL;
        return cudaGetLastError(), cuda_fail(err, "instantiating the steps' graph", e), -2;
    }
    c->graph_steps = steps;
    c->graph_n = n;
    return 0;
}

static int check_batch(const cuda_backend *c, const int32_t *idx, int n, mnist_err *err) {
    const dev_split *s = &c->split[SPLIT_TRAIN];
    if (!s->given) return errf(err, "no training data given to the backend");
    if (n < 1 || n > c->o.max_batch) return errf(err, "batch of %d examples is outside 1..%d", n, c->o.max_batch);
    for (int r = 0; r < n; r++)
        if (idx[r] < 0 || idx[r] >= s->n) return errf(err, "example index %d is outside 0..%d", idx[r], s->n - 1);
    return 0;
}

/* Upload the chunk's indices and scalars (lr[j] for step j), then run its steps: replayed as one
 * graph, or enqueued one by one. losses (steps), when non-NULL, gets each step's loss. */
static int run_steps(cuda_backend *c, const int32_t *perm, int n, int steps, const float *lr, double *losses,
                     int use_graph, mnist_err *err) {
    if (steps < 1) return errf(err, "%d steps asked for", steps);
    for (int j = 0; j < steps; j++)
        if (check_batch(c, perm + (size_t)j * n, n, err)) return -1;
    if (reserve_steps(c, steps, n, err)) return -1;
    memcpy(c->h_idx, perm, (size_t)steps * n * sizeof(int32_t));
    for (int j = 0; j < steps; j++) c->h_sc[j] = scalars(c, c->steps + (uint64_t)j, lr[j]);
    CU(cudaMemcpyAsync(c->idx, c->h_idx, (size_t)steps * n * sizeof(int32_t), cudaMemcpyHostToDevice, c->stream),
       "uploading batch indices");
    CU(cudaMemcpyAsync(c->sc, c->h_sc, (size_t)steps * sizeof(step_scalars), cudaMemcpyHostToDevice, c->stream),
       "uploading step scalars");
    if (use_graph && !c->no_graph && (!c->graph || c->graph_steps != steps || c->graph_n != n)) {
        mnist_err why; /* err may be NULL */
        int rc = capture(c, steps, n, &why);
        if (rc == -1) {
            if (err) *err = why;
            return -1;
        }
        if (rc == -2) { /* run the steps one by one from now on, and say why in the note */
            snprintf(c->note, sizeof c->note, "CUDA graphs unavailable (%s); the steps run one by one", why.msg);
            c->base.note = c->note;
            c->no_graph = 1;
        }
    }
    if (use_graph && !c->no_graph) {
        CU(cudaGraphLaunch(c->graph, c->stream), "launching the steps' graph");
    } else {
        for (int j = 0; j < steps; j++)
            if (enqueue_train_step(c, j, n, err)) return -1;
    }
    CU(cudaMemcpyAsync(c->h_loss, c->loss, (size_t)steps * sizeof(double), cudaMemcpyDeviceToHost, c->stream),
       "reading the losses");
    CU(cudaStreamSynchronize(c->stream), "training");
    if (losses) memcpy(losses, c->h_loss, (size_t)steps * sizeof(double));
    c->steps += (uint64_t)steps;
    return 0;
}

/* rc, after a call that copies from the pinned h_idx and h_sc: when it failed part way, the work it
 * had enqueued (those copies among it) is waited for here, its errors cleared (the call's own is in
 * err), so that the next call does not fill those buffers while a copy from them is still queued. */
static int settle(cuda_backend *c, int rc) {
    if (rc) cudaStreamSynchronize(c->stream), cudaGetLastError();
    return rc;
}

static int cuda_train_steps(backend *base, const int32_t *perm, int n, int steps, const float *lr, double *losses,
                            mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    return settle(c, run_steps(c, perm, n, steps, lr, losses, 1, err));
}

static int cuda_train_step(backend *base, const int32_t *idx, int n, float lr, double *loss, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    return settle(c, run_steps(c, idx, n, 1, &lr, loss, 0, err));
}

static int gradient(cuda_backend *c, const int32_t *idx, int n, float *grads, double *loss, mnist_err *err) {
    if (check_batch(c, idx, n, err) || reserve_steps(c, 1, n, err)) return -1;
    memcpy(c->h_idx, idx, (size_t)n * sizeof(int32_t));
    c->h_sc[0] = scalars(c, c->steps, 0.0f);
    CU(cudaMemcpyAsync(c->idx, c->h_idx, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice, c->stream),
       "uploading batch indices");
    CU(cudaMemcpyAsync(c->sc, c->h_sc, sizeof(step_scalars), cudaMemcpyHostToDevice, c->stream),
       "uploading step scalars");
    if (enqueue_step(c, c->idx, n, c->sc, c->loss, LAST_GRAD, err)) return -1;
    CU(cudaMemcpyAsync(grads, c->grads, c->nparams * sizeof(float), cudaMemcpyDeviceToHost, c->stream),
       "reading the gradients");
    CU(cudaMemcpyAsync(c->h_loss, c->loss, sizeof(double), cudaMemcpyDeviceToHost, c->stream), "reading the loss");
    CU(cudaStreamSynchronize(c->stream), "computing a gradient");
    if (loss) *loss = c->h_loss[0];
    return 0;
}

static int cuda_gradient(backend *base, const int32_t *idx, int n, float *grads, double *loss, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    return settle(c, gradient(c, idx, n, grads, loss, err));
}

/* ---- evaluation and prediction ------------------------------------------------------------ */

static int cuda_evaluate(backend *base, int which, mnist_eval_result *res, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    const dev_split *s = &c->split[which];
    if (!s->given) return errf(err, "no data given to the backend for split %d", which);
    memset(res, 0, sizeof *res);
    int nl = c->nl, k = c->sizes[nl], parts = 0;
    if (s->n > 0) {
        CU(cudaMemsetAsync(c->counts, 0, NCOUNTS * sizeof(int), c->stream), "clearing the counts");
        for (int start = 0; start < s->n; start += c->rows, parts++) {
            int n = s->n - start < c->rows ? s->n - start : c->rows;
            CU(k_gather(c->act[0], c->y, s->images, s->labels, NULL, start, n, c->sizes[0], 0, 0, 0, 0, NULL, c->stream),
               "launching the gather");
            if (forward(c, c->nl, n, 0, NULL, NULL, err)) return -1;
            CU(k_eval_rows(c->act[nl], B(c, nl - 1), c->y, n, k, c->parts + parts, c->counts, c->counts + 1,
                           c->stream),
               "launching the evaluation");
        }
        CU(cudaMemcpyAsync(c->h_parts, c->parts, (size_t)parts * sizeof(double), cudaMemcpyDeviceToHost, c->stream),
           "reading the losses");
        CU(cudaMemcpyAsync(c->h_counts, c->counts, NCOUNTS * sizeof(int), cudaMemcpyDeviceToHost, c->stream),
           "reading the counts");
        CU(cudaStreamSynchronize(c->stream), "evaluating");
    }
    double loss = 0.0;
    for (int i = 0; i < parts; i++) loss += c->h_parts[i];
    res->correct = parts ? c->h_counts[0] : 0;
    if (parts) memcpy(res->confusion, c->h_counts + 1, sizeof res->confusion);
    res->n = s->n;
    res->loss = loss / s->n;
    res->accuracy = (double)res->correct / s->n;
    return 0;
}

static int cuda_predict(backend *base, const float *x, int n, float *logp, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    if (n < 1) return errf(err, "nothing to predict (%d inputs)", n);
    int nl = c->nl, in = c->sizes[0], k = c->sizes[nl];
    for (int start = 0; start < n; start += c->rows) {
        int m = n - start < c->rows ? n - start : c->rows;
        CU(cudaMemcpyAsync(c->act[0], x + (size_t)start * in, (size_t)m * in * sizeof(float), cudaMemcpyHostToDevice,
                           c->stream),
           "uploading the inputs");
        if (forward(c, c->nl, m, 0, NULL, NULL, err)) return -1;
        CU(k_log_softmax(c->act[nl], B(c, nl - 1), m, k, c->stream), "launching log-softmax");
        CU(cudaMemcpyAsync(logp + (size_t)start * k, c->act[nl], (size_t)m * k * sizeof(float),
                           cudaMemcpyDeviceToHost, c->stream),
           "reading the log-probabilities");
    }
    CU(cudaStreamSynchronize(c->stream), "predicting");
    return 0;
}

/* ---- parameters and state ----------------------------------------------------------------- */

static int transfer(cuda_backend *c, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, mnist_err *err) {
    if (bytes) CU(cudaMemcpyAsync(dst, src, bytes, kind, c->stream), "copying between host and GPU");
    CU(cudaStreamSynchronize(c->stream), "copying between host and GPU");
    return 0;
}

static int cuda_get_params(backend *base, float *dst, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    return transfer(c, dst, c->params, c->nparams * sizeof(float), cudaMemcpyDeviceToHost, err);
}

static int cuda_set_params(backend *base, const float *src, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    return transfer(c, c->params, src, c->nparams * sizeof(float), cudaMemcpyHostToDevice, err);
}

static int cuda_get_state(backend *base, float *dst, uint64_t *steps, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    *steps = c->steps;
    return transfer(c, dst, c->state, (size_t)c->slots * c->nparams * sizeof(float), cudaMemcpyDeviceToHost, err);
}

static int cuda_set_state(backend *base, const float *src, uint64_t steps, mnist_err *err) {
    cuda_backend *c = (cuda_backend *)base;
    if (transfer(c, c->state, src, (size_t)c->slots * c->nparams * sizeof(float), cudaMemcpyHostToDevice, err)) return -1;
    c->steps = steps;
    return 0;
}

/* ---- creation ----------------------------------------------------------------------------- */

/* n floats (at least one), zeroed: no buffer is ever read before it is written, but products
 * with beta 0 and kernels that skip rows must never meet garbage that happens to be NaN. */
static int alloc_floats(cuda_backend *c, float **p, size_t n, mnist_err *err) {
    CU(cudaMalloc((void **)p, (n ? n : 1) * sizeof(float)), "allocating GPU memory");
    CU(cudaMemsetAsync(*p, 0, (n ? n : 1) * sizeof(float), c->stream), "clearing GPU memory");
    return 0;
}

static int init(cuda_backend *c, const mnist_model *m, mnist_err *err) {
    const backend_opts *o = &c->o;
    CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "creating a stream");
    if (!c->own_mm) { /* with own products, no product goes through cuBLAS, and it need not be there */
        if (load_blas(err)) return -1;
        c->gemm.api = blas;
        CB(blas->create(&c->blas), "starting cuBLAS");
        CB(blas->set_stream(c->blas, c->stream), "setting cuBLAS's stream");
        CB(blas->set_pointer_mode(c->blas, CUBLAS_POINTER_MODE_DEVICE), "setting cuBLAS's pointer mode");
        CU(cudaMalloc(&c->workspace, WORKSPACE_BYTES), "allocating cuBLAS's workspace");
        CB(blas->set_workspace(c->blas, c->workspace, WORKSPACE_BYTES), "setting cuBLAS's workspace");
        const float consts[2] = {1.0f, 0.0f};
        if (alloc_floats(c, &c->consts, 2, err) ||
            transfer(c, c->consts, consts, sizeof consts, cudaMemcpyHostToDevice, err))
            return -1;
        c->gemm.h = c->blas;
        c->gemm.compute = o->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        c->gemm.one = c->consts;
        c->gemm.zero = c->consts + 1;
    }

    int widest = 0;
    for (int l = 1; l <= c->nl; l++)
        if (m->sizes[l] > widest) widest = m->sizes[l];
    if (alloc_floats(c, &c->params, m->nparams, err) || alloc_floats(c, &c->grads, m->nparams, err) ||
        alloc_floats(c, &c->state, (size_t)c->slots * m->nparams, err))
        return -1;
    for (int l = 0; l <= c->nl; l++)
        if (alloc_floats(c, &c->act[l], (size_t)c->rows * m->sizes[l], err)) return -1;
    for (int l = 1; l < c->nl && o->dropout > 0; l++)
        if (alloc_floats(c, &c->drop[l], (size_t)o->max_batch * m->sizes[l], err) ||
            alloc_floats(c, &c->mask[l], (size_t)o->max_batch * m->sizes[l], err))
            return -1;
    for (int i = 0; i < 2; i++)
        if (alloc_floats(c, &c->delta[i], (size_t)o->max_batch * widest, err)) return -1;
    CU(cudaMalloc((void **)&c->y, (size_t)c->rows * sizeof(int32_t)), "allocating labels");
    CU(cudaMalloc((void **)&c->rowloss, (size_t)o->max_batch * sizeof(double)), "allocating losses");
    CU(cudaMalloc((void **)&c->counts, NCOUNTS * sizeof(int)), "allocating counts");
    CU(cudaMallocHost((void **)&c->h_counts, NCOUNTS * sizeof(int)), "allocating counts");
    if (reserve_steps(c, 1, o->max_batch, err)) return -1;
    if (c->own_mm) {
        int dev = 0;
        CU(cudaGetDevice(&dev), "finding the GPU");
        CU(cudaDeviceGetAttribute(&c->mm.sms, cudaDevAttrMultiProcessorCount, dev), "counting multiprocessors");
        c->mm.prec = o->tf32 ? MM_TF32 : c->own_mm == 3 ? MM_TF32X3 : MM_FP32;
        if (alloc_floats(c, &c->mm.ws, (size_t)MM_SPLIT_MAX * c->mm.sms * MM_BM * MM_BN, err)) return -1;
        CU(cudaMalloc((void **)&c->mm.counts, (size_t)c->mm.sms * sizeof(int)), "allocating tile counters");
        CU(cudaMemsetAsync(c->mm.counts, 0, (size_t)c->mm.sms * sizeof(int), c->stream), "clearing tile counters");
    }
    return transfer(c, c->params, m->params, m->nparams * sizeof(float), cudaMemcpyHostToDevice, err);
}

backend *backend_cuda_create(const mnist_model *m, const backend_opts *o, mnist_err *err) {
    if (backend_cuda_probe(err)) return NULL;
    if ((o->shift || o->flip) && (o->side < 1 || o->side * o->side != m->sizes[0])) {
        errf(err, "shifting or flipping images needs square images of %d pixels", m->sizes[0]);
        return NULL;
    }
    if (o->max_batch < 1) {
        errf(err, "a largest batch of %d examples", o->max_batch);
        return NULL;
    }
    cuda_backend *c = (cuda_backend *)calloc(1, sizeof *c);
    if (!c) {
        errf(err, "out of memory");
        return NULL;
    }
    c->base.name = "cuda";
    c->base.destroy = cuda_destroy;
    c->base.set_data = cuda_set_data;
    c->base.train_step = cuda_train_step;
    c->base.gradient = cuda_gradient;
    c->base.evaluate = cuda_evaluate;
    c->base.get_params = cuda_get_params;
    c->base.set_params = cuda_set_params;
    c->base.get_state = cuda_get_state;
    c->base.set_state = cuda_set_state;
    c->base.train_steps = cuda_train_steps;
    c->base.predict = cuda_predict;
    c->o = *o;
    c->nl = m->nlayers;
    memcpy(c->sizes, m->sizes, sizeof c->sizes);
    memcpy(c->t, m->tensors, sizeof c->t);
    c->nparams = m->nparams;
    c->slots = mnist_optimizer_slots(o->optimizer);
    c->rows = o->max_batch > EVAL_ROWS ? o->max_batch : EVAL_ROWS;
    c->threshold = dropout_threshold(o->dropout);
    c->keep_scale = 1.0f / (1.0f - o->dropout);
    c->no_graph = o->no_graph;
    /* MNIST_CUDA_UNFUSED=1: the last layer as products and kernels, to measure what fusing saves */
    const char *unfused = getenv("MNIST_CUDA_UNFUSED");
    c->fuse_last = m->sizes[m->nlayers] <= LAST_MAX && !(unfused && unfused[0] == '1');
    const char *gemm = getenv("MNIST_CUDA_GEMM");
    c->own_mm = own_products();
    if (gemm && gemm[0] && !c->own_mm && strcmp(gemm, "cublas") != 0) {
        errf(err, "MNIST_CUDA_GEMM=%s: the products are cublas (the default), own or own3", gemm);
        cuda_destroy(&c->base);
        return NULL;
    }
    if (init(c, m, err)) {
        cuda_destroy(&c->base);
        return NULL;
    }
    return &c->base;
}
