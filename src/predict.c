/* predict.c: a model and inputs in, probabilities out; no files, no flags. */
#include <math.h>
#include <stdlib.h>

#include "backend.h"
#include "blas.h"
#include "cpu.h"
#include "util.h"

/* What both predicts refuse before they compute: an empty model (zeroed by mnist_model_free, or one
 * never loaded) would "succeed" with no layer run and probs as they were. */
static int check_call(const mnist_model *m, const float *x, int n, const float *probs, mnist_err *err) {
    if (!m || !m->params || m->nlayers < 1 || m->nlayers > MNIST_MAX_LAYERS)
        return errf(err, "no model to predict with (an empty one: not loaded, or freed)");
    if (n < 1) return errf(err, "nothing to predict (%d inputs)", n);
    if (!x || !probs) return errf(err, "no buffer for the %s (NULL)", !x ? "inputs" : "probabilities");
    return 0;
}

/* logp (n, k) = the log-probabilities of m for x, on the CPU (the call checked): one input by our own
 * loops (cpu_dense), more by OpenBLAS's products. */
static int cpu_log_probs(const mnist_model *m, const float *x, int n, float *logp, mnist_err *err) {
    if (n > 1 && blas_load(err)) return -1;
    int nl = m->nlayers;
    float *act[MNIST_MAX_LAYERS + 1] = {(float *)x};
    int rc = 0;
    for (int l = 1; l <= nl && rc == 0; l++)
        if (!(act[l] = l == nl ? logp : malloc((size_t)n * m->sizes[l] * sizeof(float))))
            rc = errf(err, "out of memory for %d input%s", n, n == 1 ? "" : "s");
    if (rc == 0) cpu_forward(act, m->params, m->tensors, m->sizes, nl, n, mnist_model_activation(m));
    for (int l = 1; l < nl; l++) free(act[l]);
    return rc;
}

/* p (n, k): log-probabilities become probabilities. */
static void exp_rows(float *p, int n, int k) {
    for (size_t i = 0; i < (size_t)n * k; i++) p[i] = expf(p[i]);
}

int mnist_predict(const mnist_model *m, const float *x, int n, float *probs, mnist_err *err) {
    if (check_call(m, x, n, probs, err) || cpu_log_probs(m, x, n, probs, err)) return -1;
    exp_rows(probs, n, m->sizes[m->nlayers]);
    return 0;
}

int mnist_predict_log_on(const mnist_model *m, const float *x, int n, mnist_device device, float *logp,
                         mnist_err *err) {
    if (check_call(m, x, n, logp, err)) return -1;
    if (device == MNIST_CPU) return cpu_log_probs(m, x, n, logp, err);
    backend_opts bo = {.max_batch = 1, .act = mnist_model_activation(m)};
    backend *b = backend_create(device, m, &bo, err);
    if (!b) return -1;
    int rc = b->predict ? b->predict(b, x, n, logp, err) : errf(err, "the %s backend cannot predict", b->name);
    b->destroy(b);
    return rc;
}

int mnist_predict_on(const mnist_model *m, const float *x, int n, mnist_device device, float *probs, mnist_err *err) {
    if (mnist_predict_log_on(m, x, n, device, probs, err)) return -1;
    exp_rows(probs, n, m->sizes[m->nlayers]);
    return 0;
}

int mnist_argmax(const float *v, int n) {
    int best = 0;
    for (int j = 0; j < n; j++) {
        if (isnan(v[j])) return j;
        if (v[j] > v[best]) best = j;
    }
    return best;
}
