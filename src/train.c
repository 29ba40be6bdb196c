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
        /* 3L: three times MNIST_MAX_EPOCHS is past INT_MAX */
        return o->lr * (4 * epoch >= 3L * o->epochs ? 0.01 : 2 * epoch >= o->epochs ? 0.1 : 1.0);
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

/* The one test of whether images of rows x cols fit a network of these sizes (nl weight layers):
 * it takes their pixels, and has an output per class (exactly; with at_least, a backend's test,
 * MNIST_CLASSES or more, for it computes any width). The messages name the images and the network
 * as the caller calls them. */
static int fits(const int *sizes, int nl, int rows, int cols, int at_least, const char *images, const char *network,
                mnist_err *err) {
    if (rows * cols != sizes[0])
        return errf(err, "%s: images of %dx%d = %d pixels do not fit %s, which takes %d input%s", images, rows, cols,
                    rows * cols, network, sizes[0], sizes[0] == 1 ? "" : "s");
    if (sizes[nl] != MNIST_CLASSES && !(at_least && sizes[nl] > MNIST_CLASSES))
        return errf(err, "%s has %d output%s; it needs %s%d, one per class", network, sizes[nl],
                    sizes[nl] == 1 ? "" : "s", at_least ? "at least " : "", MNIST_CLASSES);
    return 0;
}

int mnist_model_fits(const mnist_model *m, const mnist_split *s, const char *images, const char *network,
                     mnist_err *err) {
    return fits(m->sizes, m->nlayers, s->rows, s->cols, 0, images ? images : "the images",
                network ? network : "the network", err);
}

/* Steps per epoch of o on n training examples (o checked): the lab drops the remainder. */
static int steps_per_epoch(const mnist_train_opts *o, int n) { return (n - o->validation) / o->batch; }

/* Floats of o's optimizer state for m. */
static size_t state_floats(const mnist_train_opts *o, const mnist_model *m) {
    return (size_t)mnist_optimizer_slots(o->optimizer) * m->nparams;
}

/* Whether s->sha256 holds a SHA-256 noted by mnist_split_sha256 (64 lower-case hex digits): a caller
 * that fills a split field by field, as before the field was there, leaves whatever its memory held. */
static int sha_noted(const mnist_split *s) {
    for (int i = 0; i < 64; i++)
        if (!s->sha256[i] || !strchr("0123456789abcdef", s->sha256[i])) return 0;
    return s->sha256[64] == '\0';
}

int mnist_run_state_start(mnist_run_state *st, const mnist_model *m, const mnist_train_opts *o,
                          const mnist_split *train, mnist_err *err) {
    *st = (mnist_run_state){.examples = train->n, .nstate = state_floats(o, m)};
    mnist_rng_seed(&st->order, o->seed);
    if (sha_noted(train)) memcpy(st->data_sha256, train->sha256, sizeof st->data_sha256);
    else if (mnist_split_sha256(train, st->data_sha256, err)) return -1;
    if (st->nstate && !(st->state = calloc(st->nstate, sizeof(float))))
        return errf(err, "out of memory for %zu floats of optimizer state", st->nstate);
    return 0;
}

int mnist_train_check(const mnist_train_opts *o, int n, mnist_err *err) {
    static const char below_one[] = ", which the steps compute in: at most 0.99999994";
    if (o->validation < 0) return errf(err, "validation must be 0 or more examples, not %d", o->validation);
    if (o->batch < 1) return errf(err, "batch size must be at least 1, not %d", o->batch);
    if (n >= 0 && o->validation >= n)
        return errf(err, "validation of %d examples leaves none of the %d to train on", o->validation, n);
    if (n >= 0 && o->batch > n - o->validation) {
        int left = n - o->validation;
        char held[64] = "";
        if (o->validation) snprintf(held, sizeof held, " the validation of %d leaves", o->validation);
        return errf(err, "batch size %d is more than the %d training example%s%s", o->batch, left, left == 1 ? "" : "s",
                    held);
    }
    if (o->epochs < 0 || o->epochs > MNIST_MAX_EPOCHS)
        return errf(err, "epochs %d is outside 0..%d", o->epochs, MNIST_MAX_EPOCHS);
    /* the enums may come from a caller's arithmetic: each selects code and state sized by it */
    if ((unsigned)o->optimizer > MNIST_ADAM) return errf(err, "optimizer %d is not sgd, momentum or adam", (int)o->optimizer);
    if ((unsigned)o->schedule > MNIST_STEP)
        return errf(err, "schedule %d is not constant, cosine or step", (int)o->schedule);
    if ((unsigned)o->device > MNIST_CUDA) return errf(err, "device %d is not cpu or cuda", (int)o->device);
    /* the steps compute in float: a rate past FLT_MAX would be infinite there, one below FLT_MIN 0 or
     * subnormal (--lr 1e-310 trained nothing; Adam's eps 1e-50 made 0 / 0 of a gradient of 0), and a
     * momentum, beta or dropout within 2^-25 of 1 is 1 (--dropout 0.99999999 dropped every hidden
     * output; --momentum 0.999999999 never decayed), and so may be weight decay times the rate (--lr 1
     * --weight-decay 0.99999999 zeroed every weight at each step) */
    if (!(o->lr > 0.0 && o->lr <= FLT_MAX)) return errf(err, "learning rate must be positive and finite, not %g", o->lr);
    if (o->lr < FLT_MIN)
        return errf(err, "learning rate %g is below float32's smallest normal number %g, which the steps compute in",
                    o->lr, (double)FLT_MIN);
    if (!(o->momentum >= 0.0 && o->momentum < 1.0)) return errf(err, "momentum %g is outside [0, 1)", o->momentum);
    if ((float)o->momentum == 1.0f) return errf(err, "momentum %.9g is 1 in float32%s", o->momentum, below_one);
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0 && o->beta2 >= 0.0 && o->beta2 < 1.0))
        return errf(err, "Adam's betas %g, %g must be in [0, 1)", o->beta1, o->beta2);
    if ((float)o->beta1 == 1.0f || (float)o->beta2 == 1.0f)
        return errf(err, "Adam's betas %.9g, %.9g: one is 1 in float32%s", o->beta1, o->beta2, below_one);
    /* past FLT_MAX, infinite in float32: every step divided by it, and nothing trained */
    if (!(o->eps > 0.0 && o->eps <= FLT_MAX)) return errf(err, "Adam's eps must be positive and finite, not %g", o->eps);
    if (o->eps < FLT_MIN) /* 0 there: a weight whose gradient is 0 got 0 / 0, NaN */
        return errf(err, "Adam's eps %g is below float32's smallest normal number %g, which the steps compute in",
                    o->eps, (double)FLT_MIN);
    if (!(o->weight_decay >= 0.0 && o->weight_decay * o->lr < 1.0))
        return errf(err, "weight decay %g times the learning rate must be in [0, 1)", o->weight_decay);
    float wd_lr = (float)o->weight_decay * (float)o->lr; /* as the steps take it: 1 there zeroed every weight */
    if (wd_lr >= 1.0f)
        return errf(err, "weight decay %.9g times the learning rate %.9g is %.9g in float32%s", o->weight_decay, o->lr,
                    (double)wd_lr, below_one);
    if (!(o->dropout >= 0.0 && o->dropout < 1.0)) return errf(err, "dropout %g is outside [0, 1)", o->dropout);
    if ((float)o->dropout == 1.0f) return errf(err, "dropout %.9g is 1 in float32%s", o->dropout, below_one);
    if (o->shift < 0 || o->shift > MNIST_MAX_SHIFT)
        return errf(err, "shift %d is outside 0..%d pixels", o->shift, MNIST_MAX_SHIFT);
    if (o->threads < 0 || o->threads > MNIST_MAX_THREADS)
        return errf(err, "threads %d is outside 0 (all cores) .. %d", o->threads, MNIST_MAX_THREADS);
    return 0;
}

/* Whether resume's run is on the training set train: its batch order is of train's examples (their SHA-256 noted in
 * train->sha256, unless it was). Before o is checked: on fewer examples than its own, the batch size was said to be
 * too large for them. */
static int resume_data_fits(mnist_split *train, const mnist_run_state *resume, mnist_err *err) {
    /* the permutations are of the examples: of others, a resumed epoch would skip the steps of another
     * order (some examples trained twice, some never), and the epochs after it would be no epochs of
     * the run (nor its schedule's steps, when the steps per epoch differ) */
    if (resume->examples && resume->examples != train->n)
        return errf(err, "the checkpoint's run is on %d training examples and these data hold %d: its batch order "
                    "and position are those of its own data", resume->examples, train->n);
    /* as many examples, but others (another dataset's files under --no-verify, other labels): the
     * same order over other images would go on as no epoch of the run */
    if (resume->data_sha256[0]) {
        if (!sha_noted(train) && mnist_split_sha256(train, train->sha256, err)) return -1;
        if (strcmp(train->sha256, resume->data_sha256))
            return errf(err, "the checkpoint's run is on other training data than these (SHA-256 of its images and "
                        "labels %.12s..., of these %.12s...): its batch order and position are those of its own data",
                        resume->data_sha256, train->sha256);
    }
    return 0;
}

/* Whether resume fits a run of o on m (o checked, and the data by resume_data_fits): its optimizer state is o's for
 * m, and its position is within an epoch's steps. */
static int resume_fits(const mnist_model *m, const mnist_train_opts *o, const mnist_split *train,
                       const mnist_run_state *resume, mnist_err *err) {
    size_t nstate = state_floats(o, m);
    int nb = steps_per_epoch(o, train->n);
    if (resume->nstate != nstate)
        return errf(err, "the checkpoint holds %zu floats of optimizer state where %zu were expected", resume->nstate,
                    nstate);
    if (resume->step < 0 || resume->step > nb || resume->epoch < 0)
        return errf(err, "the checkpoint's position (epoch %d, step %d) does not fit %d steps per epoch",
                    resume->epoch, resume->step, nb);
    /* the steps the run took, which Adam's bias correction, the shifts and the dropout masks go on from: another
     * count went on as no step of the run (Adam's correction begun again) */
    uint64_t taken = (uint64_t)resume->epoch * (uint64_t)nb + (uint64_t)resume->step;
    if (resume->steps_done != taken)
        return errf(err, "the checkpoint's steps_done, %llu, is not the %llu steps of its position (epoch %d, step %d, "
                    "%d steps per epoch)", (unsigned long long)resume->steps_done, (unsigned long long)taken,
                    resume->epoch, resume->step, nb);
    return 0;
}

int mnist_train_finished(const mnist_train_opts *o, const mnist_run_state *resume) {
    return o->epochs == 0 || (o->epochs > 0 && resume && resume->epoch >= o->epochs);
}

/* mnist_train_fits, noting d's training SHA-256 in d->train.sha256 where it computes it. */
static int train_fits(const mnist_model *m, mnist_data *d, const mnist_train_opts *o, const mnist_run_state *resume,
                      mnist_err *err) {
    if (mnist_model_fits(m, &d->train, "the training set", NULL, err) ||
        mnist_model_fits(m, &d->test, "the test set", NULL, err))
        return -1;
    if (mnist_train_finished(o, resume)) return 0;
    if ((resume && resume_data_fits(&d->train, resume, err)) || mnist_train_check(o, d->train.n, err)) return -1;
    /* the backends move and mirror square images only: refused there, it was after the banner, and a
     * --epochs 0 --checkpoint on such images held a run that no resume of it could train */
    if ((o->shift || o->flip) && d->train.rows != d->train.cols)
        return errf(err, "shifting or flipping images needs square images, and the training set's are %dx%d",
                    d->train.rows, d->train.cols);
    /* dropout zeroes hidden outputs: with none it would do nothing, said as an idle flag is; but a
     * checkpoint of an earlier version may hold such a run, which trained as without it (the
     * backends drop the inputs of layers 1.., and the masks draw from no RNG): it resumes so */
    if (o->dropout > 0.0 && m->nlayers < 2 && !resume)
        return errf(err, "dropout %g drops hidden outputs, and the network %d-%d has no hidden layer", o->dropout,
                    m->sizes[0], m->sizes[1]);
    return resume ? resume_fits(m, o, &d->train, resume, err) : 0;
}

int mnist_train_fits(const mnist_model *m, const mnist_data *d, const mnist_train_opts *o,
                     const mnist_run_state *resume, mnist_err *err) {
    mnist_data c = *d;
    return train_fits(m, &c, o, resume, err);
}

/* One run of mnist_train: what its epochs share. */
typedef struct {
    mnist_model *m;
    const mnist_train_opts *o;
    const mnist_train_hooks *h;
    backend *b;
    mnist_split train, valid;  /* views of the data's training set (the backend keeps pointers to them) */
    int nb;                    /* steps per epoch: the lab drops the remainder */
    long total;                /* steps in the whole run */
    mnist_rng order;           /* the lab's get_batch: a second RandomState(seed), a permutation an epoch */
    mnist_run_state st;        /* what a checkpoint holds beside the model */
    int32_t *perm;             /* (train.n) this epoch's batch order */
    float *lrs;                /* (nb) with train_steps: the chunk's rates, */
    double *losses;            /* (nb) and its losses */
    float *scratch;            /* (nparams) take_params' */
    int last_epoch, last_step; /* where the last pass ended, and its last rate: for take_params' message */
    double last_lr;
    int taken;                 /* m holds the backend's parameters: no step since take_params */
} run;

static int cancelled(const mnist_train_hooks *h) { return h->cancel && *h->cancel; }

/* The validation examples are the last nvalid ones of the training set: views, not copies. */
static void split_validation(const mnist_split *all, int nvalid, mnist_split *train, mnist_split *valid) {
    *train = *valid = *all;
    train->sha256[0] = valid->sha256[0] = '\0'; /* all's, not theirs */
    train->n = all->n - nvalid;
    valid->n = nvalid;
    valid->images += (size_t)train->n * all->rows * all->cols;
    valid->labels += train->n;
}

/* The backend's options for training m with o on images side x side. */
static backend_opts backend_options(const mnist_model *m, const mnist_train_opts *o, int side) {
    return (backend_opts){.max_batch = o->batch, .threads = o->threads, .act = mnist_model_activation(m),
                          .optimizer = o->optimizer, .momentum = (float)o->momentum, .nesterov = o->nesterov,
                          .beta1 = (float)o->beta1, .beta2 = (float)o->beta2, .eps = (float)o->eps,
                          .weight_decay = (float)o->weight_decay, .dropout = (float)o->dropout, .seed = o->seed,
                          .tf32 = o->tf32, .no_graph = o->no_graph, .shift = o->shift, .flip = o->flip, .side = side};
}

/* r for training m with o on d: the backend, holding the data, and the buffers of the steps; 0, or
 * -1 with err (run_close frees what was made). */
static int run_open(run *r, mnist_model *m, const mnist_data *d, const mnist_train_opts *o,
                    const mnist_train_hooks *h, mnist_err *err) {
    *r = (run){.m = m, .o = o, .h = h};
    split_validation(&d->train, o->validation, &r->train, &r->valid);
    r->nb = steps_per_epoch(o, d->train.n);
    r->total = (long)r->nb * o->epochs;
    if (mnist_run_state_start(&r->st, m, o, &d->train, err)) return -1;
    r->order = r->st.order;
    backend_opts bo = backend_options(m, o, d->train.cols);
    if (!(r->b = backend_create(o->device, m, &bo, err))) return -1;
    r->perm = malloc((size_t)r->train.n * sizeof *r->perm);
    r->lrs = malloc((size_t)r->nb * sizeof *r->lrs);
    r->losses = malloc((size_t)r->nb * sizeof *r->losses);
    r->scratch = malloc((m->nparams ? m->nparams : 1) * sizeof(float));
    if (!r->perm || !r->lrs || !r->losses || !r->scratch) return errf(err, "out of memory for training state");
    backend *b = r->b;
    if (b->set_data(b, SPLIT_TRAIN, &r->train, err) || b->set_data(b, SPLIT_TEST, &d->test, err) ||
        (r->valid.n && b->set_data(b, SPLIT_VALID, &r->valid, err)))
        return -1;
    return 0;
}

static void run_close(run *r) {
    free(r->perm);
    free(r->scratch);
    free(r->lrs);
    free(r->losses);
    mnist_run_state_free(&r->st);
    if (r->b) r->b->destroy(r->b);
}

/* Go on from a checkpoint's state (mnist_train_fits checked it): the backend gets its optimizer
 * state, r its batch order. */
static int run_resume(run *r, const mnist_run_state *resume, mnist_err *err) {
    if (r->b->set_state(r->b, resume->state, resume->steps_done, err)) return -1;
    r->order = resume->order;
    return 0;
}

/* m's parameters from the backend, when every one is finite. The losses are measured before each
 * step, and a NaN can hide from the evaluations' losses (a ReLU unit outputs 0 for it), so this
 * check is the last word: training stops with an error and m keeps the parameters it had. Once
 * taken, they are not taken again until a step changes them (the last epoch's checkpoint and the
 * end of the run take them once). */
static int take_params(run *r, mnist_err *err) {
    mnist_model *m = r->m;
    if (r->taken) return 0;
    if (r->b->get_params(r->b, r->scratch, err)) return -1;
    for (int t = 0; t < m->ntensors; t++) {
        const mnist_tensor *x = &m->tensors[t];
        size_t at = first_nonfinite(r->scratch + x->offset, x->count);
        if (at < x->count)
            return errf(err, "%s became %s by epoch %d, step %d: training stopped (the learning rate %g is probably "
                             "too high)",
                        x->name, nonfinite_name(r->scratch[x->offset + at]), r->last_epoch, r->last_step, r->last_lr);
    }
    memcpy(m->params, r->scratch, m->nparams * sizeof(float));
    r->taken = 1;
    return 0;
}

/* With on_checkpoint: m gets the parameters (take_params), and the hook them with the state to
 * resume from: step `step` of epoch `epoch` next, loss_sum the losses of that epoch's steps before
 * it, order the batch order before that epoch's permutation. */
static int checkpoint(run *r, int epoch, int step, double loss_sum, const mnist_rng *order, mnist_err *err) {
    const mnist_train_hooks *h = r->h;
    if (!h->on_checkpoint) return 0;
    mnist_run_state *st = &r->st;
    st->epoch = epoch;
    st->step = step;
    st->loss_sum = loss_sum;
    st->order = *order;
    if (take_params(r, err) || r->b->get_state(r->b, st->state, &st->steps_done, err) ||
        h->on_checkpoint(h->ud, r->m, st, err))
        return -1;
    return 0;
}

/* With train_steps: steps i0.. of epoch `epoch` in one call, their losses into r->losses. */
static int steps_ahead(run *r, int epoch, int i0, mnist_err *err) {
    for (int j = i0; j < r->nb; j++)
        r->lrs[j - i0] = (float)mnist_schedule_lr(r->o, (long)epoch * r->nb + j, r->total, r->nb);
    int batch = r->o->batch;
    return r->b->train_steps(r->b, r->perm + (size_t)i0 * batch, batch, r->nb - i0, r->lrs, r->losses, err);
}

/* The training pass of epoch `epoch` from step i0 (past 0 when resumed): *loss gets the steps'
 * losses added, es the last step's rate and the count of steps done. 0, 1 when cancelled (after the
 * step under way, or the steps given at once), -1 on error. */
static int train_pass(run *r, int epoch, int i0, double *loss, mnist_epoch_stats *es, mnist_err *err) {
    const mnist_train_hooks *h = r->h;
    int ahead = r->b->train_steps && i0 < r->nb && !cancelled(h); /* the rest of the epoch in one call */
    r->taken = 0; /* the steps change the parameters */
    if (i0 > 0) /* the last step's rate, where none is left to take (resumed at the pass's end) */
        es->lr = mnist_schedule_lr(r->o, (long)epoch * r->nb + i0 - 1, r->total, r->nb);
    if (ahead && steps_ahead(r, epoch, i0, err)) return -1;
    for (int i = i0; i < r->nb; i++) {
        es->steps = i;
        if (!ahead && cancelled(h)) return 1;
        double l;
        es->lr = mnist_schedule_lr(r->o, (long)epoch * r->nb + i, r->total, r->nb);
        if (ahead) l = r->losses[i - i0];
        else if (r->b->train_step(r->b, r->perm + (size_t)i * r->o->batch, r->o->batch, (float)es->lr, &l, err))
            return -1;
        if (!isfinite(l) && (long)epoch * r->nb + i == 0) /* measured before any step: no rate is to blame */
            return errf(err, "the loss became %s at the first step, before any update: the initial model's outputs "
                             "are not finite (its init's scale is probably too large)",
                        isnan(l) ? "NaN" : "infinite");
        if (!isfinite(l))
            return errf(err, "the loss became %s at epoch %d, step %d: training stopped (the learning rate %g "
                             "is probably too high)",
                        isnan(l) ? "NaN" : "infinite", epoch, i, es->lr);
        *loss += l;
        if (h->on_step) h->on_step(h->ud, epoch, i + 1, r->nb, l);
    }
    es->steps = r->nb;
    /* the steps given at once (a GPU's graph of them) all ran: a cancel meanwhile stops the run now, before the
     * evaluations, at the epoch's end (it went on through them, and the next epoch's checkpoint) */
    return ahead && cancelled(h) ? 1 : 0;
}

/* The evaluations after an epoch, into es: the training set (when o->eval_train), the validation
 * examples (when held out), the test set. A loss that is not finite is an error. */
static int evaluate_epoch(run *r, mnist_epoch_stats *es, mnist_err *err) {
    backend *b = r->b;
    if ((r->o->eval_train && b->evaluate(b, SPLIT_TRAIN, &es->train, err)) ||
        (r->valid.n && b->evaluate(b, SPLIT_VALID, &es->valid, err)) || b->evaluate(b, SPLIT_TEST, &es->test, err))
        return -1;
    /* finite parameters can still be so large that the outputs overflow: then so do the losses */
    const mnist_eval_result *ev[3] = {&es->train, &es->valid, &es->test};
    static const char *const ev_name[3] = {"training", "validation", "test"};
    for (int k = 0; k < 3; k++)
        if (ev[k]->n && !isfinite(ev[k]->loss))
            return errf(err, "the %s loss became %s after epoch %d: training stopped (the learning rate %g is "
                             "probably too high)",
                        ev_name[k], isnan(ev[k]->loss) ? "NaN" : "infinite", es->epoch, es->lr);
    return 0;
}

/* Epoch `epoch` from step i0, loss the losses of the steps before it: the training pass, then
 * (when it ran to its end) the evaluations, the checkpoint and on_epoch. 0 to go on, 1 to stop
 * (cancelled, or on_epoch said so), -1 on error. */
static int run_epoch(run *r, int epoch, int i0, double loss, mnist_err *err) {
    mnist_epoch_stats es = {.epoch = epoch, .first_step = i0};
    mnist_rng before = r->order;
    mnist_rng_permutation(&r->order, r->perm, r->train.n);
    double t0 = now_seconds();
    int rc = train_pass(r, epoch, i0, &loss, &es, err);
    es.seconds = now_seconds() - t0;
    es.loss = es.steps ? loss / es.steps : 0.0;
    if (rc < 0) return -1;
    r->last_epoch = epoch, r->last_step = es.steps, r->last_lr = es.lr;
    if (rc == 1) /* stopped mid-epoch: resume repeats this epoch's permutation, then skips its steps done */
        return checkpoint(r, epoch, es.steps, loss, &before, err) ? -1 : 1;
    t0 = now_seconds();
    if (evaluate_epoch(r, &es, err)) return -1;
    es.eval_seconds = now_seconds() - t0;
    es.note = r->b->note;
    /* The epoch's record, then its checkpoint: a run killed between the two leaves a log holding an
     * epoch the checkpoint does not, which a resume cuts back (mnist train --resume); the other way
     * round, the log lost that epoch's record for good. */
    int stop = r->h->on_epoch && r->h->on_epoch(r->h->ud, &es) ? 1 : 0;
    /* the parameters come to the host only for a checkpoint and at the end (on a GPU, a copy) */
    if (checkpoint(r, epoch + 1, 0, 0.0, &r->order, err)) return -1;
    return stop;
}

/* The epochs from `resume`'s position (NULL: the start) to the last: 0 when all ran, 1 when
 * stopped, -1 on error. */
static int run_epochs(run *r, const mnist_run_state *resume, mnist_err *err) {
    int epoch0 = resume ? resume->epoch : 0, rc = 0;
    r->last_epoch = epoch0, r->last_step = resume ? resume->step : 0;
    for (int epoch = epoch0; epoch < r->o->epochs && rc == 0; epoch++)
        rc = epoch == epoch0 && resume ? run_epoch(r, epoch, resume->step, resume->loss_sum, err)
                                       : run_epoch(r, epoch, 0, 0.0, err);
    return rc;
}

int mnist_train(mnist_model *m, const mnist_data *d, const mnist_train_opts *o, const mnist_train_hooks *h,
                const mnist_run_state *resume, mnist_err *err) {
    static const mnist_train_hooks none = {0};
    if (!h) h = &none;
    mnist_data c = *d; /* the SHA-256 that a resume's check takes of its training set, the run's state takes too */
    if (train_fits(m, &c, o, resume, err)) return -1;
    if (mnist_train_finished(o, resume)) return 0;
    run r;
    int rc = run_open(&r, m, &c, o, h, err);
    if (rc == 0 && resume) rc = run_resume(&r, resume, err);
    if (rc == 0) rc = run_epochs(&r, resume, err);
    if (rc >= 0 && take_params(&r, err)) rc = -1;
    run_close(&r); /* m has the parameters of the end or the stop, or of the last checkpoint, or as it came */
    return rc;
}

int backend_check_split(const int *sizes, int nl, const mnist_split *s, mnist_err *err) {
    if (fits(sizes, nl, s->rows, s->cols, 1, "the data", "the network", err)) return -1;
    if (s->n < 0) return errf(err, "a split of %d examples", s->n);
    for (int i = 0; i < s->n; i++)
        if (s->labels[i] >= MNIST_CLASSES)
            return errf(err, "example %d has label %d, not a class 0..%d", i, s->labels[i], MNIST_CLASSES - 1);
    return 0;
}

#ifndef MNIST_HAVE_CUDA
/* What asking this build for the GPU says, from backend_create or mnist_device_check. */
static const char no_cuda[] =
    "this build has no CUDA backend (make built it without nvcc: its line 'CUDA: no (...)' says why)";
#endif

backend *backend_create(mnist_device device, const mnist_model *m, const backend_opts *o, mnist_err *err) {
    if (device == MNIST_CPU) return backend_cpu_create(m, o, err);
    if (device != MNIST_CUDA) { /* it was taken for CUDA */
        errf(err, "device %d is not cpu or cuda", (int)device);
        return NULL;
    }
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
    if (device != MNIST_CUDA) return errf(err, "device %d is not cpu or cuda", (int)device); /* it was taken for CUDA */
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
    if (mnist_model_fits(m, s, NULL, NULL, err)) return -1;
    if (threads < 0 || threads > MNIST_MAX_THREADS)
        return errf(err, "threads %d is outside 0 (all cores) .. %d", threads, MNIST_MAX_THREADS);
    /* none: the loss and accuracy were 0/0, NaN, returned as a result */
    if (s->n < 1) return errf(err, "no examples to evaluate (an empty set)");
    backend_opts bo = {.max_batch = 1, .threads = threads, .act = mnist_model_activation(m)};
    backend *b = backend_create(device, m, &bo, err);
    if (!b) return -1;
    int rc = b->set_data(b, SPLIT_TEST, s, err) || b->evaluate(b, SPLIT_TEST, r, err) ? -1 : 0;
    b->destroy(b);
    return rc;
}
