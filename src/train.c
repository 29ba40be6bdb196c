/* train.c: epochs, the lab's batch order, the learning-rate schedule, metrics, the state a run
 * resumes from. Knows no arithmetic: that is the backend's. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hash.h"
#include "util.h"

mnist_train_opts mnist_train_defaults(void) {
    return (mnist_train_opts){.lr = 0.001, .batch = 128, .epochs = 5, .seed = 0, .threads = 0,
                              .optimizer = MNIST_SGD, .momentum = 0.9, .nesterov = 0, .beta1 = 0.9,
                              .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0, .dropout = 0.0,
                              .schedule = MNIST_CONSTANT, .validation = 0, .eval_train = 1};
}

int mnist_optimizer_slots(mnist_optimizer o) { return o == MNIST_ADAM ? 2 : o == MNIST_MOMENTUM ? 1 : 0; }

double mnist_schedule_lr(const mnist_train_opts *o, long step, long steps, long per_epoch) {
    if (o->schedule == MNIST_COSINE) return o->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)step / (double)steps));
    if (o->schedule == MNIST_STEP) {
        long epoch = per_epoch ? step / per_epoch : 0;
        return o->lr * (4 * epoch >= 3 * o->epochs ? 0.01 : 2 * epoch >= o->epochs ? 0.1 : 1.0);
    }
    return o->lr;
}

int mnist_dropout_keep(uint32_t seed, uint64_t step, int layer, uint64_t i, float p) {
    return dropout_keep(step_key(seed, step, layer), i, dropout_threshold(p));
}

void mnist_augment(uint32_t seed, uint64_t step, int row, int n, int flip, int *dx, int *dy, int *mirror) {
    augment_move(seed, step, row, n, flip, dx, dy, mirror);
}

void mnist_run_state_free(mnist_run_state *st) {
    free(st->state);
    memset(st, 0, sizeof *st);
}

static int check_fit(const mnist_model *m, const mnist_split *s, const char *what, mnist_err *err) {
    if (s->rows * s->cols != m->sizes[0])
        return errf(err, "the %s images have %dx%d = %d pixels but the network takes %d inputs", what, s->rows, s->cols,
                    s->rows * s->cols, m->sizes[0]);
    if (m->sizes[m->nlayers] != MNIST_CLASSES)
        return errf(err, "the network has %d outputs; it needs %d, one per class", m->sizes[m->nlayers], MNIST_CLASSES);
    return 0;
}

int mnist_train_check(const mnist_train_opts *o, int n, mnist_err *err) {
    if (o->validation < 0) return errf(err, "validation must be 0 or more examples, not %d", o->validation);
    if (o->batch < 1) return errf(err, "batch size must be at least 1, not %d", o->batch);
    if (n >= 0 && o->validation >= n)
        return errf(err, "validation of %d examples leaves none of the %d to train on", o->validation, n);
    if (n >= 0 && o->batch > n - o->validation)
        return errf(err, "batch size %d is more than the %d training examples", o->batch, n - o->validation);
    if (o->epochs < 0) return errf(err, "epochs must be 0 or more, not %d", o->epochs);
    /* the enums may come from a caller's arithmetic: each selects code and state sized by it */
    if ((unsigned)o->optimizer > MNIST_ADAM) return errf(err, "optimizer %d is not sgd, momentum or adam", (int)o->optimizer);
    if ((unsigned)o->schedule > MNIST_STEP)
        return errf(err, "schedule %d is not constant, cosine or step", (int)o->schedule);
    if ((unsigned)o->device > MNIST_CUDA) return errf(err, "device %d is not cpu or cuda", (int)o->device);
    /* the steps compute in float: a rate past FLT_MAX would be infinite there */
    if (!(o->lr > 0.0 && o->lr <= FLT_MAX)) return errf(err, "learning rate must be positive and finite, not %g", o->lr);
    if (!(o->momentum >= 0.0 && o->momentum < 1.0)) return errf(err, "momentum %g is outside [0, 1)", o->momentum);
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0 && o->beta2 >= 0.0 && o->beta2 < 1.0))
        return errf(err, "Adam's betas %g, %g must be in [0, 1)", o->beta1, o->beta2);
    if (!(o->eps > 0.0)) return errf(err, "Adam's eps must be positive, not %g", o->eps);
    if (!(o->weight_decay >= 0.0 && o->weight_decay * o->lr < 1.0))
        return errf(err, "weight decay %g times the learning rate must be in [0, 1)", o->weight_decay);
    if (!(o->dropout >= 0.0 && o->dropout < 1.0)) return errf(err, "dropout %g is outside [0, 1)", o->dropout);
    if (o->shift < 0 || o->shift > MNIST_MAX_SHIFT)
        return errf(err, "shift %d is outside 0..%d pixels", o->shift, MNIST_MAX_SHIFT);
    if (o->threads < 0 || o->threads > MNIST_MAX_THREADS)
        return errf(err, "threads %d is outside 0 (all cores) .. %d", o->threads, MNIST_MAX_THREADS);
    return 0;
}

/* Fill st with where the run stands. */
static int snapshot(backend *b, mnist_run_state *st, int epoch, int step, double loss_sum, const mnist_rng *order,
                    mnist_err *err) {
    st->epoch = epoch;
    st->step = step;
    st->loss_sum = loss_sum;
    st->order = *order;
    return b->get_state(b, st->state, &st->steps_done, err);
}

/* m's parameters from the backend, when every one is finite. The losses are measured before each
 * step, and a NaN can hide from the evaluations' losses (a ReLU unit outputs 0 for it), so this
 * check is the last word: training stops with an error and m keeps the parameters it had. */
static int take_params(backend *b, mnist_model *m, float *scratch, int epoch, int step, double lr, mnist_err *err) {
    if (b->get_params(b, scratch, err)) return -1;
    for (int t = 0; t < m->ntensors; t++) {
        const mnist_tensor *x = &m->tensors[t];
        size_t at = first_nonfinite(scratch + x->offset, x->count);
        if (at < x->count)
            return errf(err, "%s became %s by epoch %d, step %d: training stopped (the learning rate %g is probably "
                             "too high); nothing was saved from this run",
                        x->name, nonfinite_name(scratch[x->offset + at]), epoch, step, lr);
    }
    memcpy(m->params, scratch, m->nparams * sizeof(float));
    return 0;
}

int mnist_train(mnist_model *m, const mnist_data *d, const mnist_train_opts *o, const mnist_train_hooks *h,
                const mnist_run_state *resume, mnist_err *err) {
    static const mnist_train_hooks none = {0};
    if (!h) h = &none;
    if (check_fit(m, &d->train, "training", err) || check_fit(m, &d->test, "test", err)) return -1;
    if (o->epochs < 0) return errf(err, "epochs must be 0 or more, not %d", o->epochs);
    if (o->epochs == 0) return 0;
    if (mnist_train_check(o, d->train.n, err)) return -1;

    /* The validation examples are the last ones of the training set: views, not copies. */
    size_t px = (size_t)d->train.rows * d->train.cols;
    int n = d->train.n - o->validation, nb = n / o->batch; /* the lab drops the remainder */
    mnist_split train = d->train, valid = d->train;
    train.n = n;
    valid.n = o->validation;
    valid.images += (size_t)n * px;
    valid.labels += n;

    backend_opts bo = {.max_batch = o->batch, .threads = o->threads, .act = mnist_model_activation(m),
                       .optimizer = o->optimizer, .momentum = (float)o->momentum, .nesterov = o->nesterov,
                       .beta1 = (float)o->beta1, .beta2 = (float)o->beta2, .eps = (float)o->eps,
                       .weight_decay = (float)o->weight_decay, .dropout = (float)o->dropout, .seed = o->seed,
                       .tf32 = o->tf32, .no_graph = o->no_graph, .shift = o->shift, .flip = o->flip, .side = d->train.cols};
    backend *b = backend_create(o->device, m, &bo, err);
    if (!b) return -1;
    mnist_run_state st = {.nstate = (size_t)mnist_optimizer_slots(o->optimizer) * m->nparams};
    int32_t *perm = malloc((size_t)n * sizeof *perm);
    float *lrs = malloc((size_t)nb * sizeof *lrs);      /* with train_steps: the chunk's rates, */
    double *losses = malloc((size_t)nb * sizeof *losses); /* and its losses */
    float *scratch = malloc((m->nparams ? m->nparams : 1) * sizeof(float)); /* take_params' */
    int rc = -1;
    if (!perm || !lrs || !losses || !scratch || (st.nstate && !(st.state = calloc(st.nstate, sizeof(float))))) {
        errf(err, "out of memory for training state");
        goto done;
    }
    if (b->set_data(b, SPLIT_TRAIN, &train, err) || b->set_data(b, SPLIT_TEST, &d->test, err) ||
        (valid.n && b->set_data(b, SPLIT_VALID, &valid, err)))
        goto done;

    /* The lab's get_batch: a second RandomState(seed), one permutation per epoch. */
    mnist_rng order;
    mnist_rng_seed(&order, o->seed);
    int epoch0 = 0, step0 = 0;
    double loss0 = 0.0;
    if (resume) {
        if (resume->nstate != st.nstate) {
            errf(err, "the checkpoint holds %zu floats of optimizer state where %zu were expected", resume->nstate,
                 st.nstate);
            goto done;
        }
        if (resume->step < 0 || resume->step > nb || resume->epoch < 0) {
            errf(err, "the checkpoint's position (epoch %d, step %d) does not fit %d steps per epoch", resume->epoch,
                 resume->step, nb);
            goto done;
        }
        if (b->set_state(b, resume->state, resume->steps_done, err)) goto done;
        order = resume->order;
        epoch0 = resume->epoch;
        step0 = resume->step;
        loss0 = resume->loss_sum;
    }
    long total = (long)nb * o->epochs;
    int last_epoch = epoch0, last_step = step0; /* where the last pass ended, for take_params' message */
    double last_lr = 0.0;
    rc = 0;
    for (int epoch = epoch0; epoch < o->epochs && rc == 0; epoch++) {
        mnist_epoch_stats es = {.epoch = epoch};
        mnist_rng before = order;
        mnist_rng_permutation(&order, perm, n);
        double t0 = now_seconds(), loss = epoch == epoch0 ? loss0 : 0.0;
        int i = epoch == epoch0 ? step0 : 0, i0 = i, ahead = 0;
        if (b->train_steps && i < nb && !(h->cancel && *h->cancel)) { /* the rest of the epoch in one call */
            for (int j = i; j < nb; j++) lrs[j - i] = (float)mnist_schedule_lr(o, (long)epoch * nb + j, total, nb);
            if (b->train_steps(b, perm + (size_t)i * o->batch, o->batch, nb - i, lrs, losses, err)) rc = -1;
            ahead = 1;
        }
        for (; i < nb && rc == 0; i++) {
            if (!ahead && h->cancel && *h->cancel) {
                rc = 1;
                break;
            }
            long s = (long)epoch * nb + i;
            double l;
            es.lr = mnist_schedule_lr(o, s, total, nb);
            if (ahead) {
                l = losses[i - i0];
            } else if (b->train_step(b, perm + (size_t)i * o->batch, o->batch, (float)es.lr, &l, err)) {
                rc = -1;
                break;
            }
            if (!isfinite(l)) {
                rc = errf(err, "the loss became %s at epoch %d, step %d: training stopped (the learning rate %g "
                               "is probably too high); nothing was saved from this run",
                          isnan(l) ? "NaN" : "infinite", epoch, i, es.lr);
                break;
            }
            loss += l;
            if (h->on_step) h->on_step(h->ud, epoch, i + 1, nb, l);
        }
        es.seconds = now_seconds() - t0;
        es.steps = i;
        es.first_step = i0;
        es.loss = i ? loss / i : 0.0;
        if (rc < 0) break;
        last_epoch = epoch, last_step = i, last_lr = es.lr;
        if (rc == 1) { /* stopped mid-epoch: resume repeats this epoch's permutation, then skips i steps */
            if (h->on_checkpoint &&
                (take_params(b, m, scratch, epoch, i, es.lr, err) || snapshot(b, &st, epoch, i, loss, &before, err) ||
                 h->on_checkpoint(h->ud, m, &st, err)))
                rc = -1;
            break;
        }
        t0 = now_seconds();
        if ((o->eval_train && b->evaluate(b, SPLIT_TRAIN, &es.train, err)) ||
            (valid.n && b->evaluate(b, SPLIT_VALID, &es.valid, err)) || b->evaluate(b, SPLIT_TEST, &es.test, err)) {
            rc = -1;
            break;
        }
        /* finite parameters can still be so large that the outputs overflow: then so do the losses */
        const mnist_eval_result *ev[3] = {&es.train, &es.valid, &es.test};
        static const char *const ev_name[3] = {"training", "validation", "test"};
        for (int k = 0; k < 3 && rc == 0; k++)
            if (ev[k]->n && !isfinite(ev[k]->loss))
                rc = errf(err, "the %s loss became %s after epoch %d: training stopped (the learning rate %g is "
                               "probably too high); nothing was saved from this run",
                          ev_name[k], isnan(ev[k]->loss) ? "NaN" : "infinite", epoch, es.lr);
        if (rc < 0) break;
        es.eval_seconds = now_seconds() - t0;
        /* the parameters come to the host only for a checkpoint and at the end (on a GPU, a copy) */
        if (h->on_checkpoint && (take_params(b, m, scratch, epoch, i, es.lr, err) ||
                                 snapshot(b, &st, epoch + 1, 0, 0.0, &order, err) ||
                                 h->on_checkpoint(h->ud, m, &st, err))) {
            rc = -1;
            break;
        }
        es.note = b->note;
        if (h->on_epoch && h->on_epoch(h->ud, &es)) rc = 1;
    }
    if (rc >= 0 && take_params(b, m, scratch, last_epoch, last_step, last_lr, err)) rc = -1;
done: /* m has the parameters of the end or the stop, or of the last checkpoint, or as it came */
    free(perm);
    free(scratch);
    free(lrs);
    free(losses);
    mnist_run_state_free(&st);
    b->destroy(b);
    return rc;
}

int backend_check_split(const int *sizes, int nl, const mnist_split *s, mnist_err *err) {
    if (s->rows * s->cols != sizes[0])
        return errf(err, "images of %dx%d = %d pixels do not fit a network with %d inputs", s->rows, s->cols,
                    s->rows * s->cols, sizes[0]);
    if (sizes[nl] < MNIST_CLASSES)
        return errf(err, "a network with %d outputs cannot score %d classes", sizes[nl], MNIST_CLASSES);
    if (s->n < 0) return errf(err, "a split of %d examples", s->n);
    for (int i = 0; i < s->n; i++)
        if (s->labels[i] >= MNIST_CLASSES)
            return errf(err, "example %d has label %d, not a class 0..%d", i, s->labels[i], MNIST_CLASSES - 1);
    return 0;
}

#ifndef MNIST_HAVE_CUDA
/* What asking this build for the GPU says, from backend_create or mnist_device_check. */
static const char no_cuda[] = "--device cuda: this build has no CUDA backend (nvcc was not found when it was built)";
#endif

backend *backend_create(mnist_device device, const mnist_model *m, const backend_opts *o, mnist_err *err) {
    if (device == MNIST_CPU) return backend_cpu_create(m, o, err);
#ifdef MNIST_HAVE_CUDA
    return backend_cuda_create(m, o, err);
#else
    errf(err, "%s", no_cuda);
    return NULL;
#endif
}

int mnist_have_cuda(void) {
#ifdef MNIST_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int mnist_device_check(mnist_device device, mnist_err *err) {
    if (device == MNIST_CPU) return 0;
#ifdef MNIST_HAVE_CUDA
    return backend_cuda_probe(err);
#else
    return errf(err, "%s", no_cuda);
#endif
}

int mnist_evaluate(const mnist_model *m, const mnist_split *s, int threads, mnist_eval_result *r, mnist_err *err) {
    return mnist_evaluate_on(m, s, MNIST_CPU, threads, r, err);
}

int mnist_evaluate_on(const mnist_model *m, const mnist_split *s, mnist_device device, int threads,
                      mnist_eval_result *r, mnist_err *err) {
    if (check_fit(m, s, "evaluation", err)) return -1;
    if (threads < 0 || threads > MNIST_MAX_THREADS)
        return errf(err, "threads %d is outside 0 (all cores) .. %d", threads, MNIST_MAX_THREADS);
    backend_opts bo = {.max_batch = 1, .threads = threads, .act = mnist_model_activation(m)};
    backend *b = backend_create(device, m, &bo, err);
    if (!b) return -1;
    int rc = b->set_data(b, SPLIT_TEST, s, err) || b->evaluate(b, SPLIT_TEST, r, err) ? -1 : 0;
    b->destroy(b);
    return rc;
}
