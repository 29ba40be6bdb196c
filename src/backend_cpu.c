/* backend_cpu.c: the reference backend. cblas for the matrix products, a product over the
 * nonzeros for the first layer's when its input is sparse (MNIST's digits); element-wise work in
 * plain loops the compiler vectorises; our own threads (team.c) over the columns of each layer,
 * OpenBLAS on each thread alone; all memory allocated once at creation, nothing inside a step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "blas.h"
#include "cpu.h"
#include "hash.h"
#include "team.h"
#include "util.h"

#define EVAL_ROWS 512 /* rows per forward pass when evaluating a whole split */

typedef struct {
    backend base;
    backend_opts o;
    int nth;                           /* threads */
    int nl, sizes[MNIST_MAX_LAYERS + 1];
    mnist_tensor t[2 * MNIST_MAX_LAYERS];
    size_t nparams;
    float *params;
    float *grads;                      /* (nparams) for optimizers other than SGD */
    float *state;                      /* (slots * nparams) optimizer state */
    uint64_t steps;                    /* optimizer steps taken */
    int rows;                          /* capacity of the activation buffers */
    float *act[MNIST_MAX_LAYERS + 1];  /* act[0] input (rows, sizes[0]); act[l] layer l-1's output */
    float *drop[MNIST_MAX_LAYERS];     /* with dropout: act[l] * mask[l], what layer l reads */
    float *mask[MNIST_MAX_LAYERS];     /* with dropout: 0 or 1 / (1 - p) per hidden output */
    float *delta[2];                   /* (rows, widest layer): dz of a layer, and the next one's */
    int *y;                            /* (rows) labels of the rows in act */
    cpu_sparse sp;                     /* act[0]'s nonzeros, when `sparse` */
    int sparse;
    const mnist_split *split[NSPLITS];
    float scale[256];                  /* byte -> float32(byte) / 255, as the lab's standardize */
} cpu_backend;

static void cpu_destroy(backend *base) {
    cpu_backend *c = (cpu_backend *)base;
    if (!c) return;
    free(c->params);
    free(c->grads);
    free(c->state);
    for (int l = 0; l <= c->nl; l++) free(c->act[l]);
    for (int l = 0; l < c->nl; l++) free(c->drop[l]), free(c->mask[l]);
    free(c->delta[0]);
    free(c->delta[1]);
    free(c->y);
    cpu_sparse_free(&c->sp);
    free(c);
}

static int cpu_set_data(backend *base, int which, const mnist_split *s, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    if (backend_check_split(c->sizes, c->nl, s, err)) return -1;
    c->split[which] = s;
    return 0;
}

/* act[0] (n, in) = scaled images of examples idx[0..n), or of start..start+n when idx is NULL;
 * y (n) = their labels. */
typedef struct {
    cpu_backend *c;
    const mnist_split *s;
    const int32_t *idx;
    int start, n;
} rows_job;

static void gather_rows(void *p, int t, int nt) {
    const rows_job *j = p;
    cpu_backend *c = j->c;
    int in = c->sizes[0];
    long a, b;
    team_share(j->n, t, nt, &a, &b);
    for (long r = a; r < b; r++) {
        size_t e = j->idx ? (size_t)j->idx[r] : (size_t)(j->start + r);
        const uint8_t *src = j->s->images + e * (size_t)in;
        float *dst = c->act[0] + (size_t)r * in;
        for (int k = 0; k < in; k++) dst[k] = c->scale[src[k]];
        c->y[r] = j->s->labels[e];
    }
}

static void gather(cpu_backend *c, const mnist_split *s, const int32_t *idx, int start, int n) {
    rows_job j = {c, s, idx, start, n};
    team_run(c->nth, gather_rows, &j);
}

/* gather() for an augmented training batch: each row's image mirrored and moved as mnist_augment
 * says for this step, and its label. */
static void augment_share(void *p, int t, int nt) {
    const rows_job *job = p;
    cpu_backend *c = job->c;
    const mnist_split *s = job->s;
    const int32_t *idx = job->idx;
    int side = c->o.side, in = c->sizes[0];
    long a, b;
    team_share(job->n, t, nt, &a, &b);
    for (int r = (int)a; r < b; r++) {
        int dx, dy, mirror;
        mnist_augment(c->o.seed, c->steps, r, c->o.shift, c->o.flip, &dx, &dy, &mirror);
        const uint8_t *src = s->images + (size_t)idx[r] * in;
        float *dst = c->act[0] + (size_t)r * in;
        c->y[r] = s->labels[idx[r]];
        for (int i = 0; i < side; i++)
            for (int j = 0; j < side; j++) {
                int si = i - dy, sj = mirror ? side - 1 - (j - dx) : j - dx;
                dst[i * side + j] = si >= 0 && si < side && sj >= 0 && sj < side ? c->scale[src[si * side + sj]] : 0.0f;
            }
    }
}

static void augment_rows(cpu_backend *c, const mnist_split *s, const int32_t *idx, int n) {
    rows_job j = {c, s, idx, 0, n};
    team_run(c->nth, augment_share, &j);
}

/* What layer l reads: its input, dropped out while training. */
static const float *layer_input(const cpu_backend *c, int l, int train) {
    return train && c->o.dropout > 0 && l > 0 ? c->drop[l] : c->act[l];
}

/* drop[l] (n, width) = act[l] * mask[l], the mask drawn for this step. */
typedef struct {
    cpu_backend *c;
    int l;
    size_t m;
    float keep;
    uint64_t key, threshold;
} dropout_job;

static void dropout_share(void *p, int t, int nt) {
    const dropout_job *j = p;
    float *mask = j->c->mask[j->l], *drop = j->c->drop[j->l], *act = j->c->act[j->l];
    long a, b;
    team_share((long)j->m, t, nt, &a, &b);
    for (size_t i = (size_t)a; i < (size_t)b; i++) {
        mask[i] = dropout_keep(j->key, i, j->threshold) ? j->keep : 0.0f;
        drop[i] = act[i] * mask[i];
    }
}

static void dropout(cpu_backend *c, int l, int n) {
    float p = c->o.dropout;
    dropout_job j = {c, l, (size_t)n * c->sizes[l], 1.0f / (1.0f - p), step_key(c->o.seed, c->steps, l - 1),
                     dropout_threshold(p)};
    team_run(c->nth, dropout_share, &j);
}

static void forward(cpu_backend *c, int n, int train) {
    for (int l = 0; l < c->nl; l++) {
        if (train && c->o.dropout > 0 && l > 0) dropout(c, l, n);
        cpu_layer_forward(c->nth, c->act[l + 1], layer_input(c, l, train), l == 0 && c->sparse ? &c->sp : NULL,
                          c->params + c->t[2 * l].offset, c->params + c->t[2 * l + 1].offset, n, c->sizes[l],
                          c->sizes[l + 1], l < c->nl - 1 ? (cpu_act)c->o.act : CPU_LOG_SOFTMAX);
    }
}

/* Sum of -log p(label) over the n rows of the last activation. */
static double nll_sum(const cpu_backend *c, int n) {
    int k = c->sizes[c->nl];
    const float *lp = c->act[c->nl];
    double s = 0.0;
    for (int r = 0; r < n; r++) s -= lp[(size_t)r * k + c->y[r]];
    return s;
}

/* Backward pass over the n rows of the last forward. With grads == NULL each layer takes the
 * SGD step in place, folded into the weight-gradient product: w = (1 - lr wd) w - lr h^T dz
 * (through cblas' alpha and beta, or in the sparse product's last step; a layer's input gradient
 * is computed first, from the weights before the step). With grads, the gradients are written
 * there and nothing else changes. */
static void backward(cpu_backend *c, int n, float lr, float *grads) {
    int nl = c->nl, k = c->sizes[nl];
    float *dz = c->delta[0], *dh = c->delta[1];
    const float *lp = c->act[nl];
    float inv_n = 1.0f / (float)n, decay = 1.0f - lr * c->o.weight_decay;
    // dz (n, k) = (softmax - onehot) / n: the gradient of the mean NLL through log-softmax
    for (int r = 0; r < n; r++)
        for (int j = 0; j < k; j++) {
            size_t i = (size_t)r * k + j;
            dz[i] = (expf(lp[i]) - (j == c->y[r] ? 1.0f : 0.0f)) * inv_n;
        }
    for (int l = nl - 1; l >= 0; l--) {
        int in = c->sizes[l], out = c->sizes[l + 1];
        float *w = c->params + c->t[2 * l].offset, *b = c->params + c->t[2 * l + 1].offset;
        const float *h = layer_input(c, l, 1);
        // dh (n, in) = dz (n, out) w^T; through dropout's mask, then the activation
        if (l > 0)
            cpu_layer_input_grad(c->nth, dh, dz, w, c->o.dropout > 0 ? c->mask[l] : NULL, c->act[l], n, in, out,
                                 c->o.act);
        // dw (in, out) = h^T (in, n) dz (n, out); db (out) = column sums of dz
        cpu_layer_weight_grad(c->nth, w, b, grads ? grads + c->t[2 * l].offset : NULL,
                              grads ? grads + c->t[2 * l + 1].offset : NULL, h, l == 0 && c->sparse ? &c->sp : NULL,
                              dz, n, in, out, lr, decay);
        float *t = dz;
        dz = dh;
        dh = t;
    }
}

typedef struct {
    cpu_backend *c;
    float lr, decay;
    float c1, c2; /* Adam's bias corrections */
} optimizer_job;

static void momentum_share(void *ptr, int t, int nt) {
    const optimizer_job *j = ptr;
    const cpu_backend *c = j->c;
    float *p = c->params, *g = c->grads, *v = c->state, mu = c->o.momentum, lr = j->lr, decay = j->decay;
    int nesterov = c->o.nesterov;
    long a, b;
    team_share((long)c->nparams, t, nt, &a, &b);
    for (size_t i = (size_t)a; i < (size_t)b; i++) {
        v[i] = mu * v[i] + g[i];
        p[i] = decay * p[i] - lr * (nesterov ? g[i] + mu * v[i] : v[i]);
    }
}

static void adam_share(void *ptr, int t, int nt) {
    const optimizer_job *j = ptr;
    const cpu_backend *c = j->c;
    float *p = c->params, *g = c->grads, *m = c->state, *v = c->state + c->nparams;
    float b1 = c->o.beta1, b2 = c->o.beta2, eps = c->o.eps, c1 = j->c1, c2 = j->c2, lr = j->lr, decay = j->decay;
    long a, b;
    team_share((long)c->nparams, t, nt, &a, &b);
    for (size_t i = (size_t)a; i < (size_t)b; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = decay * p[i] - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}

/* One loop over the flat buffers: momentum (PyTorch's and optax's form, v = mu v + g) or Adam
 * (m, v with bias correction, eps outside the square root), with decoupled weight decay. */
static void optimizer_step(cpu_backend *c, float lr) {
    optimizer_job j = {c, lr, 1.0f - lr * c->o.weight_decay, 0, 0};
    if (c->o.optimizer == MNIST_MOMENTUM) {
        team_run(c->nth, momentum_share, &j);
    } else {
        double t = (double)(c->steps + 1);
        j.c1 = (float)(1.0 / (1.0 - pow(c->o.beta1, t)));
        j.c2 = (float)(1.0 / (1.0 - pow(c->o.beta2, t)));
        team_run(c->nth, adam_share, &j);
    }
}

/* Check a training batch, gather it (augmented) and run it forward; *loss gets its mean NLL. */
static int batch_forward(cpu_backend *c, const int32_t *idx, int n, double *loss, mnist_err *err) {
    const mnist_split *s = c->split[SPLIT_TRAIN];
    if (!s) return errf(err, "no training data given to the backend");
    if (n < 1 || n > c->o.max_batch) return errf(err, "batch of %d examples is outside 1..%d", n, c->o.max_batch);
    for (int r = 0; r < n; r++)
        if (idx[r] < 0 || idx[r] >= s->n) return errf(err, "example index %d is outside 0..%d", idx[r], s->n - 1);
    if (c->o.shift || c->o.flip)
        augment_rows(c, s, idx, n);
    else
        gather(c, s, idx, 0, n);
    c->sparse = CPU_SPARSE && cpu_sparse_build(&c->sp, c->nth, c->act[0], n, c->sizes[0], 1);
    forward(c, n, 1);
    if (loss) *loss = nll_sum(c, n) / n;
    return 0;
}

static int cpu_train_step(backend *base, const int32_t *idx, int n, float lr, double *loss, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    if (batch_forward(c, idx, n, loss, err)) return -1;
    if (c->o.optimizer == MNIST_SGD) {
        backward(c, n, lr, NULL);
    } else {
        backward(c, n, 0.0f, c->grads);
        optimizer_step(c, lr);
    }
    c->steps++;
    return 0;
}

static int cpu_gradient(backend *base, const int32_t *idx, int n, float *grads, double *loss, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    if (batch_forward(c, idx, n, loss, err)) return -1;
    backward(c, n, 0.0f, grads);
    return 0;
}

static int cpu_evaluate(backend *base, int which, mnist_eval_result *res, mnist_err *err) {
    cpu_backend *c = (cpu_backend *)base;
    const mnist_split *s = c->split[which];
    if (!s) return errf(err, "no data given to the backend for split %d", which);
    memset(res, 0, sizeof *res);
    int k = c->sizes[c->nl];
    double loss = 0.0;
    for (int start = 0; start < s->n; start += c->rows) {
        int n = s->n - start < c->rows ? s->n - start : c->rows;
        gather(c, s, NULL, start, n);
        c->sparse = CPU_SPARSE && cpu_sparse_build(&c->sp, c->nth, c->act[0], n, c->sizes[0], 0);
        forward(c, n, 0);
        loss += nll_sum(c, n);
        const float *lp = c->act[c->nl];
        for (int r = 0; r < n; r++) {
            const float *row = lp + (size_t)r * k;
            int best = mnist_argmax(row, k);
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

static int cpu_get_state(backend *base, float *dst, uint64_t *steps, mnist_err *err) {
    (void)err;
    cpu_backend *c = (cpu_backend *)base;
    size_t n = (size_t)mnist_optimizer_slots(c->o.optimizer) * c->nparams;
    if (n) memcpy(dst, c->state, n * sizeof(float));
    *steps = c->steps;
    return 0;
}

static int cpu_set_state(backend *base, const float *src, uint64_t steps, mnist_err *err) {
    (void)err;
    cpu_backend *c = (cpu_backend *)base;
    size_t n = (size_t)mnist_optimizer_slots(c->o.optimizer) * c->nparams;
    if (n) memcpy(c->state, src, n * sizeof(float));
    c->steps = steps;
    return 0;
}

static float *alloc_floats(size_t n, int *ok) {
    float *p = *ok ? calloc(n ? n : 1, sizeof(float)) : NULL;
    if (!p) *ok = 0;
    return p;
}

backend *backend_cpu_create(const mnist_model *m, const backend_opts *o, mnist_err *err) {
    if (blas_load(err)) return NULL;
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
                        .set_params = cpu_set_params,
                        .get_state = cpu_get_state,
                        .set_state = cpu_set_state};
    c->o = *o;
    if ((o->shift || o->flip) && (o->side < 1 || o->side * o->side != m->sizes[0])) {
        cpu_destroy(&c->base);
        errf(err, "shifting or flipping images needs square images of %d pixels", m->sizes[0]);
        return NULL;
    }
    c->nl = m->nlayers;
    memcpy(c->sizes, m->sizes, sizeof c->sizes);
    memcpy(c->t, m->tensors, sizeof c->t);
    c->nparams = m->nparams;
    c->rows = o->max_batch > EVAL_ROWS ? o->max_batch : EVAL_ROWS;
    int widest = 0, ok = 1, slots = mnist_optimizer_slots(o->optimizer);
    for (int l = 0; l <= c->nl; l++)
        if (m->sizes[l] > widest) widest = m->sizes[l];
    c->params = alloc_floats(m->nparams, &ok);
    if (o->optimizer != MNIST_SGD) c->grads = alloc_floats(m->nparams, &ok);
    if (slots) c->state = alloc_floats((size_t)slots * m->nparams, &ok);
    for (int l = 0; l <= c->nl; l++) c->act[l] = alloc_floats((size_t)c->rows * m->sizes[l], &ok);
    for (int l = 1; l < c->nl && o->dropout > 0; l++) {
        c->drop[l] = alloc_floats((size_t)c->rows * m->sizes[l], &ok);
        c->mask[l] = alloc_floats((size_t)c->rows * m->sizes[l], &ok);
    }
    for (int i = 0; i < 2; i++) c->delta[i] = alloc_floats((size_t)c->rows * widest, &ok);
    ok = ok && (c->y = malloc((size_t)c->rows * sizeof(int))) != NULL;
    ok = ok && cpu_sparse_alloc(&c->sp, c->rows, m->sizes[0]) == 0;
    if (!ok) {
        cpu_destroy(&c->base);
        errf(err, "out of memory for the CPU backend's buffers");
        return NULL;
    }
    memcpy(c->params, m->params, m->nparams * sizeof(float));
    for (int i = 0; i < 256; i++) c->scale[i] = (float)i / 255.0f;
    c->nth = cpu_threads(o->threads);
    return &c->base;
}

mnist_build mnist_build_info(void) { return (mnist_build){.cuda = mnist_have_cuda(), .sparse = CPU_SPARSE}; }
