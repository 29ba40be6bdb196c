/* backend.h: the seam between the trainer and the arithmetic.
 *
 * The trainer decides what happens (which examples form a batch, the learning rate of each
 * step, when to evaluate, when to save); a backend decides how the numbers are computed and
 * owns its memory: parameters, optimizer state, activations, the dataset's bytes (or a pointer
 * to them). The seam is coarse so that an accelerator can keep a whole epoch on the device.
 * src/backend_cpu.c is the reference; every other backend mirrors it function for function. */
#ifndef MNIST_BACKEND_H
#define MNIST_BACKEND_H

#include "mnist.h"

enum { SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST, NSPLITS };

typedef struct {
    int max_batch;            /* largest n passed to train_step or gradient */
    int threads;              /* CPU: 0 is all cores (or OMP_NUM_THREADS; OpenBLAS runs on one, cpu_threads) */
    mnist_activation act;     /* of the hidden layers */
    mnist_optimizer optimizer;
    float momentum;           /* MNIST_MOMENTUM */
    int nesterov;
    float beta1, beta2, eps;  /* MNIST_ADAM */
    float weight_decay;       /* decoupled: p -= lr * weight_decay * p each step */
    float dropout;            /* probability of zeroing a hidden output while training */
    uint32_t seed;            /* of the dropout masks (mnist_dropout_keep) */
    int tf32;                 /* CUDA: allow TF32 tensor-core products */
    int no_graph;             /* CUDA: train_steps enqueues each step instead of replaying a graph */
    int shift;                /* training images move by up to this many pixels (mnist_augment) */
    int flip;                 /* mirror half the training images (mnist_augment) */
    int side;                 /* with shift or flip: images are side x side */
} backend_opts;

typedef struct backend backend;
struct backend {
    const char *name;
    const char *note; /* NULL, or how this backend runs otherwise than planned, for the user */
    void (*destroy)(backend *b);
    /* Use split s (images (n, sizes[0]) bytes) as split `which`; s must outlive b. */
    int (*set_data)(backend *b, int which, const mnist_split *s, mnist_err *err);
    /* One optimizer step with learning rate lr on training examples idx[0..n): forward (with
     * dropout), backward, update in place. *loss gets the batch's mean NLL before the update. */
    int (*train_step)(backend *b, const int32_t *idx, int n, float lr, double *loss, mnist_err *err);
    /* The gradient of the mean NLL over training examples idx[0..n), with the dropout masks the
     * next train_step would use, into grads (laid out as the model's params); nothing changes. */
    int (*gradient)(backend *b, const int32_t *idx, int n, float *grads, double *loss, mnist_err *err);
    /* Loss, accuracy and confusion matrix over the whole split `which`, without dropout. */
    int (*evaluate)(backend *b, int which, mnist_eval_result *r, mnist_err *err);
    int (*get_params)(backend *b, float *dst, mnist_err *err);
    int (*set_params)(backend *b, const float *src, mnist_err *err);
    /* Optimizer state: mnist_optimizer_slots(o) * nparams floats (momentum: velocity; Adam: m then
     * v), and the count of steps taken (Adam's bias correction and the dropout masks use it). */
    int (*get_state)(backend *b, float *dst, uint64_t *steps, mnist_err *err);
    int (*set_state)(backend *b, const float *src, uint64_t steps, mnist_err *err);
    /* Optional (NULL: the trainer calls train_step once a step). `steps` optimizer steps in one
     * call, step i on training examples perm[i*n .. (i+1)*n) with learning rate lr[i], losses[i]
     * getting its loss: the arithmetic of that many train_step calls, without a round trip to the
     * host between steps (the CUDA backend uploads perm once and replays one captured graph). */
    int (*train_steps)(backend *b, const int32_t *perm, int n, int steps, const float *lr, double *losses,
                       mnist_err *err);
    /* Optional (NULL: mnist_predict on the CPU). logp (n, classes) = the network's log-probabilities
     * for inputs x (n, sizes[0]) in [0, 1], without dropout: mnist_predict_log_on on the device. */
    int (*predict)(backend *b, const float *x, int n, float *logp, mnist_err *err);
};

/* A CPU backend for m's shape, holding a copy of m's parameters and zeroed optimizer state. */
backend *backend_cpu_create(const mnist_model *m, const backend_opts *o, mnist_err *err);
/* The same on the GPU (src/cuda/): built when nvcc is found (MNIST_HAVE_CUDA defined); without a GPU
 * at run time it fails with a message saying so. */
backend *backend_cuda_create(const mnist_model *m, const backend_opts *o, mnist_err *err);
/* 0 when a GPU that this build's CUDA code runs on is there; else -1 and one line saying why. */
int backend_cuda_probe(mnist_err *err);
/* What every backend's set_data checks first: s's images fit a network of these sizes (nl weight
 * layers), which has an output per class, and each label is a class (the loss, the confusion
 * matrix and the kernels index by label; a caller may have filled s itself). 0, or -1 with err. */
int backend_check_split(const int *sizes, int nl, const mnist_split *s, mnist_err *err);
/* The backend for device: backend_cpu_create or backend_cuda_create. */
backend *backend_create(mnist_device device, const mnist_model *m, const backend_opts *o, mnist_err *err);

#endif
