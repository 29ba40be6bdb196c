/* test_predict_threads.c: mnist_predict as a server calls it: one input at a time, from many
 * threads at once, on one shared model.
 *
 * - one input at a time (the fixed-order product of src/cpu.c) against a forward pass in double
 *   here, and against the batched path (cblas sgemm);
 * - 8 threads predicting the same inputs in different orders give bit-identical answers to one
 *   thread doing it alone, for tanh and relu models;
 * - an empty model and NULL buffers are errors.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mnist.h"

#define N 48        /* inputs */
#define THREADS 8
#define ROUNDS 6    /* passes over the inputs per thread */

static mnist_model model;
static float inputs[N][MNIST_PIXELS];
static float alone[N][MNIST_CLASSES]; /* one thread, one input at a time */

/* Inputs like digits (mostly 0, a blob of ink) and dense ones (noise everywhere). */
static void make_inputs(void) {
    mnist_rng r;
    mnist_rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        int cx = 8 + (int)(mnist_rng_u32(&r) % 12), cy = 8 + (int)(mnist_rng_u32(&r) % 12);
        for (int p = 0; p < MNIST_PIXELS; p++) {
            double u = mnist_rng_double(&r);
            if (i % 3 == 2) {
                inputs[i][p] = (float)u;
            } else {
                int dx = p % MNIST_SIDE - cx, dy = p / MNIST_SIDE - cy;
                inputs[i][p] = dx * dx + dy * dy < 30 ? (float)(0.5 + 0.5 * u) : 0.0f;
            }
        }
    }
}

/* The forward pass in double, with the exact tanh; probabilities out. */
static void forward_double(const mnist_model *m, const float *x, double *out) {
    static double a[MNIST_MAX_LAYERS + 1][1024];
    int nl = m->nlayers, relu = !strcmp(m->activation, "relu");
    for (int i = 0; i < m->sizes[0]; i++) a[0][i] = x[i];
    for (int l = 0; l < nl; l++) {
        const float *w = mnist_model_tensor(m, 2 * l), *b = mnist_model_tensor(m, 2 * l + 1);
        int in = m->sizes[l], o = m->sizes[l + 1];
        for (int j = 0; j < o; j++) {
            double s = b[j];
            for (int i = 0; i < in; i++) s += a[l][i] * w[(size_t)i * o + j];
            a[l + 1][j] = l == nl - 1 ? s : relu ? (s > 0 ? s : 0) : tanh(s);
        }
    }
    int k = m->sizes[nl];
    double max = a[nl][0], sum = 0;
    for (int j = 1; j < k; j++) max = fmax(max, a[nl][j]);
    for (int j = 0; j < k; j++) sum += exp(a[nl][j] - max);
    for (int j = 0; j < k; j++) out[j] = exp(a[nl][j] - max) / sum;
}

typedef struct {
    int id, mismatches, failures;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    float p[MNIST_CLASSES];
    mnist_err err;
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < N; k++) {
            int i = (k * 7 + w->id * 5 + round * 11) % N; /* each thread its own order */
            if (mnist_predict(&model, inputs[i], 1, p, &err)) {
                w->failures++;
                continue;
            }
            w->mismatches += memcmp(p, alone[i], sizeof p) != 0;
        }
    return NULL;
}

static void run(const char *activation) {
    mnist_err err;
    int sizes[] = {MNIST_PIXELS, 1024, 1024, MNIST_CLASSES};
    if (!check(mnist_model_create(&model, sizes, 4, &err) == 0, "%s: a 784-1024-1024-10 model is created", activation))
        return;
    mnist_model_init_lab(&model, 0.1, 0);
    snprintf(model.activation, sizeof model.activation, "%s", activation);

    int ok = 1;
    for (int i = 0; i < N; i++) ok &= mnist_predict(&model, inputs[i], 1, alone[i], &err) == 0;
    static float batch[N][MNIST_CLASSES];
    ok &= mnist_predict(&model, inputs[0], N, batch[0], &err) == 0;
    check(ok, "%s: %d inputs predicted one at a time and as one batch", activation, N);

    /* Float32 sums of 1024 products drift by about 1024 * 6e-8 = 6e-5 of their size relative to
     * double, and tanh's approximation adds 4e-7. The logits here are a few units, so they move by
     * at most ~3e-4, and a probability p by p (1 - p) times that: under 1e-4. */
    double worst_double = 0, worst_batch = 0;
    for (int i = 0; i < N; i++) {
        double ref[MNIST_CLASSES];
        forward_double(&model, inputs[i], ref);
        for (int j = 0; j < MNIST_CLASSES; j++) {
            worst_double = worst_of(worst_double, fabs(alone[i][j] - ref[j]));
            worst_batch = worst_of(worst_batch, fabs((double)alone[i][j] - batch[i][j]));
        }
    }
    check(worst_double < 1e-4, "%s: one at a time vs double precision: largest difference %.3g (< 1e-4)", activation,
          worst_double);
    check(worst_batch < 1e-4, "%s: one at a time vs batched: largest difference %.3g (< 1e-4)", activation,
          worst_batch);
    check(worst_double > 0, "%s: the float32 answers differ from double's by rounding (the reference is independent)",
          activation);

    pthread_t th[THREADS];
    worker w[THREADS];
    int started = 0;
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){.id = t};
        started += pthread_create(&th[t], NULL, work, &w[t]) == 0;
    }
    int mismatches = 0, failures = 0;
    for (int t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
        mismatches += w[t].mismatches;
        failures += w[t].failures;
    }
    check(started == THREADS && failures == 0, "%s: %d threads x %d predictions ran (%d failed)", activation, started,
          ROUNDS * N, failures);
    check(mismatches == 0, "%s: every answer from %d threads at once is bit-identical to one thread's (%d differ)",
          activation, THREADS, mismatches);
    mnist_model_free(&model);
}

/* An empty model (never loaded, or freed: mnist_model_free zeroes it) and NULL buffers are errors,
 * on the CPU and through mnist_predict_on, with the probabilities left as they were. An empty model
 * ran no layer and returned 0, its caller then reading probabilities never written. */
static void refusals(void) {
    mnist_model empty, freed;
    mnist_err err;
    memset(&empty, 0, sizeof empty);
    int sizes[] = {MNIST_PIXELS, 16, MNIST_CLASSES};
    if (!check(mnist_model_create(&freed, sizes, 3, &err) == 0, "a 784-16-10 model is created")) return;
    mnist_model_free(&freed);
    const struct {
        const char *label;
        const mnist_model *m;
        const float *x;
        int use_probs;
        const char *want;
    } cases[] = {
        {"a zeroed model", &empty, inputs[0], 1, "no model to predict with"},
        {"a freed model", &freed, inputs[0], 1, "no model to predict with"},
        {"no model (NULL)", NULL, inputs[0], 1, "no model to predict with"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int on = 0; on < 2; on++) {
            float p[MNIST_CLASSES];
            for (int j = 0; j < MNIST_CLASSES; j++) p[j] = -1.0f;
            err.msg[0] = '\0';
            int rc = on ? mnist_predict_on(cases[c].m, cases[c].x, 1, MNIST_CPU, p, &err)
                        : mnist_predict(cases[c].m, cases[c].x, 1, p, &err);
            int untouched = 1;
            for (int j = 0; j < MNIST_CLASSES; j++) untouched &= p[j] == -1.0f;
            check(rc == -1 && strstr(err.msg, cases[c].want) && untouched, "%s%s: refused, probabilities untouched: %s",
                  cases[c].label, on ? " (mnist_predict_on)" : "", err.msg);
        }
    mnist_model m;
    if (!check(mnist_model_create(&m, sizes, 3, &err) == 0, "a 784-16-10 model is created")) return;
    float p[MNIST_CLASSES];
    int rc = mnist_predict(&m, NULL, 1, p, &err);
    check(rc == -1 && strstr(err.msg, "no buffer for the inputs (NULL)"), "NULL inputs are refused: %s", err.msg);
    rc = mnist_predict(&m, inputs[0], 1, NULL, &err);
    check(rc == -1 && strstr(err.msg, "no buffer for the probabilities (NULL)"), "NULL probabilities are refused: %s",
          err.msg);
    rc = mnist_predict(&m, inputs[0], 0, p, &err);
    check(rc == -1 && strstr(err.msg, "nothing to predict (0 inputs)"), "0 inputs are refused: %s", err.msg);
    mnist_model_free(&m);
}

int main(void) {
    make_inputs();
    refusals();
    run("tanh");
    run("relu");
    return check_status();
}
