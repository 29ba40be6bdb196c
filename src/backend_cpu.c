/* backend_cpu.c: the reference backend. cblas for every matrix product; element-wise work in
 * plain loops; all memory allocated once at creation, nothing inside a step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "backend.h"
#include "cpu.h"
#include "util.h"

#define EVAL_ROWS 256 /* rows per forward pass when evaluating a whole split */

typedef struct {
    backend base;
    int nl, sizes[MNIST_MAX_LAYERS + 1];
    mnist_tensor t[2 * MNIST_MAX_LAYERS];
    size_t nparams;
    float *params;
    int rows;                          /* capacity of the activation buffers */
    float *act[MNIST_MAX_LAYERS + 1];  /* act[0] input (rows, sizes[0]); act[l] (rows, sizes[l]) */
    float *delta[2];                   /* (rows, widest layer): dz of a layer, and the next one's */
    int *y;                            /* (rows) labels of the rows in act */
    const mnist_split *split[NSPLITS];
    float scale[256];                  /* byte -> float32(byte) / 255, as the lab's standardize */
} cpu_backend;

static void cpu_destroy(backend *base) {
    cpu_backend *c = (cpu_backend *)base;
    if (!c) return;
    free(c->params);
    for (int l = 0; l <= c->nl; l++) free(c->act[l]);
    free(c->delta[0]);
    free(c->delta[1]);
    free(c->y);
    free(c);
}

static int cpu_set_data(backend *base, int which, const mnist_split *s, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    if (s->rows * s->cols != c->sizes[0])
        return errf(err, "images of %dx%d = %d pixels do not fit a network with %d inputs", s->rows, s->cols,
                    s->rows * s->cols, c->sizes[0]);
    if (c->sizes[c->nl] < MNIST_CLASSES)
        return errf(err, "a network with %d outputs cannot score %d classes", c->sizes[c->nl], MNIST_CLASSES);
    c->split[which] = s;
    return 0;
}

/* act[0] (n, in) = scaled images of examples idx[0..n), or of start..start+n when idx is NULL;
 * y (n) = their labels. */
static void gather(cpu_backend *c, const mnist_split *s, const int32_t *idx, int start, int n) {
    int in = c->sizes[0];
    float *x = c->act[0];
    for (int r = 0; r < n; r++) {
        size_t e = idx ? (size_t)idx[r] : (size_t)(start + r);
        const uint8_t *src = s->images + e * (size_t)in;
        float *dst = x + (size_t)r * in;
        for (int k = 0; k < in; k++) dst[k] = c->scale[src[k]];
        c->y[r] = s->labels[e];
    }
}

static void forward(cpu_backend *c, int n) { cpu_forward(c->act, c->params, c->t, c->sizes, c->nl, n); }

/* Sum of -log p(label) over the n rows of the last activation. */
static double nll_sum(const cpu_backend *c, int n) {
    int k = c->sizes[c->nl];
    const float *lp = c->act[c->nl];
    double s = 0.0;
    for (int r = 0; r < n; r++) s -= lp[(size_t)r * k + c->y[r]];
    return s;
}

/* Backward pass over the n rows of the last forward. With grads == NULL each layer's parameters
 * take the SGD step w -= lr * dw in place, folded into the weight-gradient product (the
 * gradient of a layer's input is computed first, from the weights before the step). With
 * grads, the gradients are written there and the parameters are left as they are. */
static void backward(cpu_backend *c, int n, float lr, float *grads) {
    int nl = c->nl, k = c->sizes[nl];
    float *dz = c->delta[0], *dh = c->delta[1];
    const float *lp = c->act[nl];
    float inv_n = 1.0f / (float)n;
    // dz (n, k) = (softmax - onehot) / n: the gradient of the mean NLL through log-softmax
    for (int r = 0; r < n; r++)
        for (int j = 0; j < k; j++) {
            size_t i = (size_t)r * k + j;
            dz[i] = (expf(lp[i]) - (j == c->y[r] ? 1.0f : 0.0f)) * inv_n;
        }
    for (int l = nl - 1; l >= 0; l--) {
        int in = c->sizes[l], out = c->sizes[l + 1];
        float *w = c->params + c->t[2 * l].offset, *b = c->params + c->t[2 * l + 1].offset;
        const float *h = c->act[l];
        if (l > 0) {
            // dh (n, in) = dz (n, out) w^T; then dz of the layer below = dh * (1 - h^2), h = tanh output
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, out, 1.0f, dz, out, w, out, 0.0f, dh, in);
            size_t m = (size_t)n * in;
            for (size_t i = 0; i < m; i++) dh[i] *= 1.0f - h[i] * h[i];
        }
        // dw (in, out) = h^T (in, n) dz (n, out); db (out) = column sums of dz
        float *gw = grads ? grads + c->t[2 * l].offset : w;
        float *gb = grads ? grads + c->t[2 * l + 1].offset : b;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, n, grads ? 1.0f : -lr, h, in, dz, out,
                    grads ? 0.0f : 1.0f, gw, out);
        for (int j = 0; j < out; j++) {
            float s = 0.0f;
            for (int r = 0; r < n; r++) s += dz[(size_t)r * out + j];
            if (grads)
                gb[j] = s;
            else
                gb[j] -= lr * s;
        }
        float *t = dz;
        dz = dh;
        dh = t;
    }
}

static int check_batch(cpu_backend *c, const int32_t *idx, int n, mnist_err *err) {
    const mnist_split *s = c->split[SPLIT_TRAIN];
    if (!s) return errf(err, "no training data given to the backend");
    if (n < 1 || n > c->rows) return errf(err, "batch of %d examples is outside 1..%d", n, c->rows);
    for (int r = 0; r < n; r++)
        if (idx[r] < 0 || idx[r] >= s->n) return errf(err, "example index %d is outside 0..%d", idx[r], s->n - 1);
    return 0;
}

static int cpu_train_step(backend *base, const int32_t *idx, int n, float lr, double *loss, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    if (check_batch(c, idx, n, err)) return -1;
    gather(c, c->split[SPLIT_TRAIN], idx, 0, n);
    forward(c, n);
    if (loss) *loss = nll_sum(c, n) / n;
    backward(c, n, lr, NULL);
    return 0;
}

static int cpu_gradient(backend *base, const int32_t *idx, int n, float *grads, double *loss, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    if (check_batch(c, idx, n, err)) return -1;
    gather(c, c->split[SPLIT_TRAIN], idx, 0, n);
    forward(c, n);
    if (loss) *loss = nll_sum(c, n) / n;
    backward(c, n, 0.0f, grads);
    return 0;
}

static int cpu_evaluate(backend *base, int which, mnist_eval_result *res, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    const mnist_split *s = c->split[which];
    if (!s) return errf(err, "no %s data given to the backend", which == SPLIT_TRAIN ? "training" : "test");
    memset(res, 0, sizeof *res);
    int k = c->sizes[c->nl];
    double loss = 0.0;
    for (int start = 0; start < s->n; start += c->rows) {
        int n = s->n - start < c->rows ? s->n - start : c->rows;
        gather(c, s, NULL, start, n);
        forward(c, n);
        loss += nll_sum(c, n);
        const float *lp = c->act[c->nl];
        for (int r = 0; r < n; r++) {
            const float *row = lp + (size_t)r * k;
            int best = 0; /* the first maximum, as numpy's argmax */
            for (int j = 1; j < k; j++)
                if (row[j] > row[best]) best = j;
            res->correct += best == c->y[r];
            if (best < MNIST_CLASSES) res->confusion[c->y[r]][best]++;
        }
    }
    res->n = s->n;
    res->loss = loss / s->n;
    res->accuracy = (double)res->correct / s->n;
    return 0;
}

static int cpu_get_params(backend *base, float *dst, mnist_err *err) {
    (void)err;
    cpu_backend *c = (cpu_backend *)base;
    memcpy(dst, c->params, c->nparams * sizeof(float));
    return 0;
}

static int cpu_set_params(backend *base, const float *src, mnist_err *err) {
    (void)err;
    cpu_backend *c = (cpu_backend *)base;
    memcpy(c->params, src, c->nparams * sizeof(float));
    return 0;
}

backend *backend_cpu_create(const mnist_model *m, const backend_opts *o, mnist_err *err) {
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) {
        errf(err, "out of memory");
        return NULL;
    }
    c->base = (backend){.name = "cpu",
                        .destroy = cpu_destroy,
                        .set_data = cpu_set_data,
                        .train_step = cpu_train_step,
                        .gradient = cpu_gradient,
                        .evaluate = cpu_evaluate,
                        .get_params = cpu_get_params,
                        .set_params = cpu_set_params};
    c->nl = m->nlayers;
    memcpy(c->sizes, m->sizes, sizeof c->sizes);
    memcpy(c->t, m->tensors, sizeof c->t);
    c->nparams = m->nparams;
    c->rows = o->max_batch > EVAL_ROWS ? o->max_batch : EVAL_ROWS;
    int widest = 0;
    for (int l = 0; l <= c->nl; l++)
        if (m->sizes[l] > widest) widest = m->sizes[l];
    int ok = (c->params = malloc(m->nparams * sizeof(float))) != NULL;
    for (int l = 0; l <= c->nl && ok; l++) ok = (c->act[l] = malloc((size_t)c->rows * m->sizes[l] * sizeof(float))) != NULL;
    for (int i = 0; i < 2 && ok; i++) ok = (c->delta[i] = malloc((size_t)c->rows * widest * sizeof(float))) != NULL;
    ok = ok && (c->y = malloc((size_t)c->rows * sizeof(int))) != NULL;
    if (!ok) {
        cpu_destroy(&c->base);
        errf(err, "out of memory for the CPU backend's buffers");
        return NULL;
    }
    memcpy(c->params, m->params, m->nparams * sizeof(float));
    for (int i = 0; i < 256; i++) c->scale[i] = (float)i / 255.0f;
    if (o->threads > 0) openblas_set_num_threads(o->threads);
    return &c->base;
}
