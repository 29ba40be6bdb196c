/* backend.h: the seam between the trainer and the arithmetic.
 *
 * The trainer decides what happens (which examples form a batch, when to evaluate, when to
 * save); a backend decides how the numbers are computed and owns its memory: parameters,
 * activations, the dataset's bytes (or a pointer to them). The seam is coarse so that an
 * accelerator can keep a whole epoch on the device. src/backend_cpu.c is the reference. */
#ifndef MNIST_BACKEND_H
#define MNIST_BACKEND_H

#include "mnist.h"

enum { SPLIT_TRAIN, SPLIT_TEST, NSPLITS };

typedef struct backend backend;
struct backend {
    const char *name;
    void (*destroy)(backend *b);
    /* Use split s (its images are (n, sizes[0]) bytes) as split `which`; s must outlive b. */
    int (*set_data)(backend *b, int which, const mnist_split *s, mnist_err *err);
    /* One SGD step on training examples idx[0..n): forward, backward, update in place.
     * *loss gets the batch's mean NLL before the update. */
    int (*train_step)(backend *b, const int32_t *idx, int n, float lr, double *loss, mnist_err *err);
    /* The gradient of the mean NLL over training examples idx[0..n), into grads (laid out as
     * the model's params); the parameters are left unchanged. */
    int (*gradient)(backend *b, const int32_t *idx, int n, float *grads, double *loss, mnist_err *err);
    /* Loss, accuracy and confusion matrix over the whole split `which`. */
    int (*evaluate)(backend *b, int which, mnist_eval_result *r, mnist_err *err);
    int (*get_params)(backend *b, float *dst, mnist_err *err);
    int (*set_params)(backend *b, const float *src, mnist_err *err);
};

typedef struct {
    int max_batch; /* largest n passed to train_step or gradient */
    int threads;   /* 0: the BLAS default (all cores) */
} backend_opts;

/* A CPU backend for m's shape, holding a copy of m's parameters. */
backend *backend_cpu_create(const mnist_model *m, const backend_opts *o, mnist_err *err);

#endif
