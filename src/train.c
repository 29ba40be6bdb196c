/* train.c: epochs, the lab's batch order, metrics. Knows no arithmetic: that is the backend's. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "util.h"

mnist_train_opts mnist_train_defaults(void) {
    return (mnist_train_opts){.lr = 0.001, .batch = 128, .epochs = 5, .seed = 0, .threads = 0};
}

static int check_fit(const mnist_model *m, const mnist_split *s, const char *what, mnist_err *err) {
    if (s->rows * s->cols != m->sizes[0])
        return errf(err, "the %s images have %dx%d = %d pixels but the network takes %d inputs", what, s->rows, s->cols,
                    s->rows * s->cols, m->sizes[0]);
    if (m->sizes[m->nlayers] != MNIST_CLASSES)
        return errf(err, "the network has %d outputs; it needs %d, one per class", m->sizes[m->nlayers], MNIST_CLASSES);
    return 0;
}

int mnist_train(mnist_model *m, const mnist_data *d, const mnist_train_opts *o, mnist_epoch_fn on_epoch, void *ud,
                volatile int *cancel, mnist_err *err) {
    if (check_fit(m, &d->train, "training", err) || check_fit(m, &d->test, "test", err)) return -1;
    if (o->epochs < 0) return errf(err, "epochs must be 0 or more, not %d", o->epochs);
    if (o->epochs == 0) return 0;
    if (o->batch < 1 || o->batch > d->train.n)
        return errf(err, "batch size %d is outside 1..%d (the training examples)", o->batch, d->train.n);
    if (!(o->lr > 0.0)) return errf(err, "learning rate must be positive, not %g", o->lr);

    backend *b = backend_cpu_create(m, &(backend_opts){.max_batch = o->batch, .threads = o->threads}, err);
    if (!b) return -1;
    int n = d->train.n, nb = n / o->batch; /* the lab drops the remainder */
    int32_t *perm = malloc((size_t)n * sizeof *perm);
    int rc = -1;
    if (!perm) {
        errf(err, "out of memory for a permutation of %d", n);
        goto done;
    }
    if (b->set_data(b, SPLIT_TRAIN, &d->train, err) || b->set_data(b, SPLIT_TEST, &d->test, err)) goto done;

    /* The lab's get_batch: a second RandomState(seed), one permutation per epoch. */
    mnist_rng order;
    mnist_rng_seed(&order, o->seed);
    rc = 0;
    for (int epoch = 0; epoch < o->epochs && rc == 0; epoch++) {
        mnist_epoch_stats st = {.epoch = epoch};
        mnist_rng_permutation(&order, perm, n);
        double t0 = now_seconds(), loss = 0.0;
        for (int i = 0; i < nb; i++) {
            if (cancel && *cancel) {
                rc = 1;
                break;
            }
            double l;
            if (b->train_step(b, perm + (size_t)i * o->batch, o->batch, (float)o->lr, &l, err)) {
                rc = -1;
                break;
            }
            loss += l;
            st.steps++;
        }
        st.seconds = now_seconds() - t0;
        st.loss = st.steps ? loss / st.steps : 0.0;
        if (rc != 0) break;
        if (b->evaluate(b, SPLIT_TRAIN, &st.train, err) || b->evaluate(b, SPLIT_TEST, &st.test, err)) {
            rc = -1;
            break;
        }
        if (on_epoch && on_epoch(ud, &st)) break;
    }
    if (rc >= 0 && b->get_params(b, m->params, err)) rc = -1;
done:
    free(perm);
    b->destroy(b);
    return rc;
}

int mnist_evaluate(const mnist_model *m, const mnist_split *s, int threads, mnist_eval_result *r, mnist_err *err) {
    if (check_fit(m, s, "evaluation", err)) return -1;
    backend *b = backend_cpu_create(m, &(backend_opts){.max_batch = 1, .threads = threads}, err);
    if (!b) return -1;
    int rc = b->set_data(b, SPLIT_TEST, s, err) || b->evaluate(b, SPLIT_TEST, r, err) ? -1 : 0;
    b->destroy(b);
    return rc;
}
