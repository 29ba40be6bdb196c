/* predict.c: a model and inputs in, probabilities out; no files, no flags. */
#include <math.h>
#include <stdlib.h>

#include "cpu.h"
#include "util.h"

int mnist_predict(const mnist_model *m, const float *x, int n, float *probs, mnist_err *err) {
    if (n < 1) return errf(err, "nothing to predict (%d inputs)", n);
    int nl = m->nlayers, k = m->sizes[nl];
    float *act[MNIST_MAX_LAYERS + 1] = {(float *)x};
    int rc = 0;
    for (int l = 1; l <= nl && rc == 0; l++)
        if (!(act[l] = l == nl ? probs : malloc((size_t)n * m->sizes[l] * sizeof(float))))
            rc = errf(err, "out of memory for %d inputs", n);
    if (rc == 0) {
        cpu_forward(act, m->params, m->tensors, m->sizes, nl, n, mnist_model_activation(m));
        for (size_t i = 0; i < (size_t)n * k; i++) probs[i] = expf(probs[i]);
    }
    for (int l = 1; l < nl; l++) free(act[l]);
    return rc;
}
