/* test_net.c: the network's arithmetic against numbers computed independently: a forward pass
 * worked by hand, every gradient against central differences in double precision, the fused
 * SGD step against the gradient, evaluation against prediction, and determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu.h"
#include "check.h"
#include "mnist.h"

/* ---- a forward pass worked by hand ---------------------------------- */

static void test_forward_by_hand(void) {
    // x = [1, 0.5]; W0 = [[1, -1], [0.5, 2]], b0 = [0, 0.5]: z = [1.25, 0.5], h = tanh(z)
    // W1 = [[1, 0, -1], [2, 1, 0]], b1 = [0, 0, 0.1]: logits = [h0 + 2 h1, h1, 0.1 - h0]
    // softmax by hand (math.tanh, math.exp in double): see the constants below.
    mnist_model m;
    mnist_err err;
    check(mnist_model_create(&m, (int[]){2, 2, 3}, 3, &err) == 0, "a 2-2-3 model is created");
    const float w0[] = {1, -1, 0.5f, 2}, b0[] = {0, 0.5f}, w1[] = {1, 0, -1, 2, 1, 0}, b1[] = {0, 0, 0.1f};
    memcpy(mnist_model_tensor(&m, 0), w0, sizeof w0);
    memcpy(mnist_model_tensor(&m, 1), b0, sizeof b0);
    memcpy(mnist_model_tensor(&m, 2), w1, sizeof w1);
    memcpy(mnist_model_tensor(&m, 3), b1, sizeof b1);
    const float x[] = {1, 0.5f};
    const double want[] = {0.7406819955809614, 0.199770774192765, 0.059547230226273784};
    float p[3];
    check(mnist_predict(&m, x, 1, p, &err) == 0, "predict runs");
    double worst = 0;
    for (int i = 0; i < 3; i++) worst = worst_of(worst, fabs(p[i] - want[i]));
    // float32 through two small layers: a few ulps of 1
    check(worst < 1e-6, "forward pass of a 2-2-3 tanh network matches the hand computation (largest difference %.2g)",
          worst);
    mnist_model_free(&m);
}

/* ---- a small problem for gradients ---------------------------------- */

enum { SIDE = 4, IN = SIDE * SIDE, NEX = 7, BATCH = 5 };
static const int sizes[] = {IN, 9, 7, MNIST_CLASSES};
static const int nsizes = 4;

typedef struct {
    mnist_split split;
    uint8_t images[NEX * IN], labels[NEX];
} toy_data;

static void toy_init(toy_data *d, uint32_t seed) {
    mnist_rng r;
    mnist_rng_seed(&r, seed);
    for (int i = 0; i < NEX * IN; i++) d->images[i] = (uint8_t)(mnist_rng_u32(&r) & 255);
    for (int i = 0; i < NEX; i++) d->labels[i] = (uint8_t)(mnist_rng_u32(&r) % MNIST_CLASSES);
    d->split = (mnist_split){.n = NEX, .rows = SIDE, .cols = SIDE, .images = d->images, .labels = d->labels};
}

/* Mean NLL of the batch in double precision, by plain loops written for this test. */
static double loss_double(const mnist_model *m, const double *p, const toy_data *d, const int32_t *idx, int n) {
    double total = 0;
    double a[64], z[64];
    for (int r = 0; r < n; r++) {
        int width = IN;
        for (int k = 0; k < IN; k++) a[k] = (float)d->images[idx[r] * IN + k] / 255.0f;
        for (int l = 0; l < m->nlayers; l++) {
            const double *w = p + m->tensors[2 * l].offset, *b = p + m->tensors[2 * l + 1].offset;
            int out = m->sizes[l + 1];
            for (int j = 0; j < out; j++) {
                double s = b[j];
                for (int k = 0; k < width; k++) s += a[k] * w[k * out + j];
                z[j] = s;
            }
            for (int j = 0; j < out; j++) a[j] = l < m->nlayers - 1 ? tanh(z[j]) : z[j];
            width = out;
        }
        double mx = a[0], s = 0;
        for (int j = 1; j < width; j++) mx = fmax(mx, a[j]);
        for (int j = 0; j < width; j++) s += exp(a[j] - mx);
        total -= a[d->labels[idx[r]]] - mx - log(s);
    }
    return total / n;
}

static void test_gradients(void) {
    mnist_model m;
    mnist_err err;
    toy_data d;
    toy_init(&d, 7);
    mnist_model_create(&m, sizes, nsizes, &err);
    mnist_model_init_lab(&m, 0.5, 3);
    const int32_t idx[BATCH] = {4, 0, 6, 2, 3};
    backend *b = backend_cpu_create(&m, &(backend_opts){.max_batch = BATCH, .threads = 1}, &err);
    check(b && b->set_data(b, SPLIT_TRAIN, &d.split, &err) == 0, "the CPU backend takes the toy data");
    float *g = calloc(m.nparams, sizeof *g);
    double *p = malloc(m.nparams * sizeof *p);
    double loss;
    check(b->gradient(b, idx, BATCH, g, &loss, &err) == 0, "the backend computes a gradient");
    for (size_t i = 0; i < m.nparams; i++) p[i] = m.params[i];
    double want_loss = loss_double(&m, p, &d, idx, BATCH);
    check(fabs(loss - want_loss) < 1e-5, "batch loss %.7f matches the double-precision loss %.7f", loss, want_loss);

    // Central differences in double: error O(eps^2) ~ 1e-8 against float32 gradients whose
    // rounding is ~1e-7 relative to their largest entry. Allow 1e-4 of the largest.
    const double eps = 1e-4;
    for (int t = 0; t < m.ntensors; t++) {
        const mnist_tensor *tt = &m.tensors[t];
        double worst = 0, largest = 0;
        for (size_t i = tt->offset; i < tt->offset + tt->count; i++) {
            double keep = p[i];
            p[i] = keep + eps;
            double up = loss_double(&m, p, &d, idx, BATCH);
            p[i] = keep - eps;
            double down = loss_double(&m, p, &d, idx, BATCH);
            p[i] = keep;
            double fd = (up - down) / (2 * eps);
            worst = worst_of(worst, fabs(fd - g[i]));
            largest = fmax(largest, fabs(fd));
        }
        check(largest > 1e-3, "%s: the gradient is not all zeros (largest %.3g)", tt->name, largest);
        check(worst <= 1e-4 * largest, "%s: gradient matches central differences (largest difference %.2g of %.3g)",
              tt->name, worst, largest);
    }

    // The fused step (SGD folded into the weight-gradient products) equals params - lr * grad.
    const float lr = 0.25f;
    float *after = malloc(m.nparams * sizeof *after);
    b->train_step(b, idx, BATCH, lr, NULL, &err);
    b->get_params(b, after, &err);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < m.nparams; i++) {
        double want = (double)m.params[i] - lr * (double)g[i];
        worst = worst_of(worst, fabs(after[i] - want));
        moved = fmax(moved, fabs(after[i] - m.params[i]));
    }
    // each entry is a float32 sum of 5 products plus rounding of the update: ~1e-7 absolute
    check(moved > 1e-3 && worst < 1e-6, "a fused SGD step equals params - lr * gradient (largest difference %.2g)",
          worst);

    // Evaluation agrees with prediction, example by example.
    mnist_eval_result res;
    b->set_data(b, SPLIT_TEST, &d.split, &err);
    b->evaluate(b, SPLIT_TEST, &res, &err);
    memcpy(m.params, after, m.nparams * sizeof *after);
    float x[NEX * IN], probs[NEX * MNIST_CLASSES];
    for (int i = 0; i < NEX * IN; i++) x[i] = (float)d.images[i] / 255.0f;
    mnist_predict(&m, x, NEX, probs, &err);
    int correct = 0, cells = 0;
    double nll = 0;
    for (int r = 0; r < NEX; r++) {
        int best = 0;
        for (int j = 1; j < MNIST_CLASSES; j++)
            if (probs[r * MNIST_CLASSES + j] > probs[r * MNIST_CLASSES + best]) best = j;
        correct += best == d.labels[r];
        nll -= log(probs[r * MNIST_CLASSES + d.labels[r]]);
    }
    for (int i = 0; i < MNIST_CLASSES; i++)
        for (int j = 0; j < MNIST_CLASSES; j++) cells += res.confusion[i][j];
    check(res.n == NEX && res.correct == correct && cells == NEX && fabs(res.loss - nll / NEX) < 1e-5,
          "evaluate agrees with predict: %d of %d correct, loss %.6f vs %.6f", res.correct, NEX, res.loss, nll / NEX);
    free(after);
    free(g);
    free(p);
    b->destroy(b);
    mnist_model_free(&m);
}

/* Training options for the toy data: lr 0.1, batch 2, one thread. */
static mnist_train_opts toy_opts(int epochs) {
    mnist_train_opts o = mnist_train_defaults();
    o.lr = 0.1, o.batch = 2, o.epochs = epochs, o.threads = 1;
    return o;
}

/* The same seed and threads give a bit-identical model; another seed does not. */
static void test_determinism(void) {
    toy_data d;
    toy_init(&d, 11);
    mnist_data data = {.train = d.split, .test = d.split};
    mnist_train_opts o = toy_opts(3);
    mnist_model a, b, c;
    mnist_err err;
    for (int k = 0; k < 3; k++) {
        mnist_model *m = k == 0 ? &a : k == 1 ? &b : &c;
        mnist_model_create(m, sizes, nsizes, &err);
        mnist_model_init_lab(m, 0.1, 0);
        o.seed = k == 2 ? 1 : 0;
        check(mnist_train(m, &data, &o, NULL, NULL, &err) == 0, "training run %d on toy data", k);
    }
    check(!memcmp(a.params, b.params, a.nparams * sizeof(float)), "two runs with seed 0 give bit-identical models");
    check(memcmp(a.params, c.params, a.nparams * sizeof(float)) != 0, "a run with another batch order differs");
    mnist_model_free(&a);
    mnist_model_free(&b);
    mnist_model_free(&c);
}

/* Shapes that do not fit are refused with a clear message. */
static void test_fit(void) {
    toy_data d;
    toy_init(&d, 1);
    mnist_data data = {.train = d.split, .test = d.split};
    mnist_train_opts o = mnist_train_defaults();
    mnist_model m;
    mnist_err err;
    mnist_model_create(&m, (int[]){784, 10}, 2, &err);
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == -1 &&
              !strcmp(err.msg, "the training set: images of 4x4 = 16 pixels do not fit the network, which takes 784 "
                               "inputs"),
          "a 784-input network refuses 4x4 images: \"%s\"", err.msg);
    mnist_eval_result r;
    check(mnist_evaluate(&m, &d.split, 1, &r, &err) == -1 &&
              !strcmp(err.msg, "the images: images of 4x4 = 16 pixels do not fit the network, which takes 784 inputs"),
          "evaluation refuses them in the same words: \"%s\"", err.msg);
    check(mnist_model_fits(&m, &d.split, "FILE", "the model M", &err) == -1 &&
              !strcmp(err.msg, "FILE: images of 4x4 = 16 pixels do not fit the model M, which takes 784 inputs"),
          "mnist_model_fits names them as its caller does: \"%s\"", err.msg);
    mnist_model_free(&m);
    /* one output per class: exactly for training and evaluation; a backend computes any more */
    mnist_model_create(&m, (int[]){IN, 12}, 2, &err);
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == -1 &&
              !strcmp(err.msg, "the network has 12 outputs; it needs 10, one per class"),
          "a network of 12 outputs is refused for training: \"%s\"", err.msg);
    check(mnist_evaluate(&m, &d.split, 1, &r, &err) == -1 && strstr(err.msg, "it needs 10, one per class"),
          "and for evaluation: \"%s\"", err.msg);
    backend *b = backend_cpu_create(&m, &(backend_opts){.max_batch = BATCH, .threads = 1}, &err);
    check(b && b->set_data(b, SPLIT_TEST, &d.split, &err) == 0, "a backend takes 12 outputs");
    if (b) b->destroy(b);
    mnist_model_free(&m);
    mnist_model_create(&m, (int[]){IN, 5}, 2, &err);
    b = backend_cpu_create(&m, &(backend_opts){.max_batch = BATCH, .threads = 1}, &err);
    check(b && b->set_data(b, SPLIT_TEST, &d.split, &err) == -1 &&
              !strcmp(err.msg, "the network has 5 outputs; it needs at least 10, one per class"),
          "but not 5: \"%s\"", err.msg);
    if (b) b->destroy(b);
    mnist_model_free(&m);
    mnist_model_create(&m, (int[]){IN, 10}, 2, &err);
    /* an empty set: its loss and accuracy were NaN, returned as a result */
    mnist_split none = d.split;
    none.n = 0;
    r.accuracy = -1;
    check(mnist_evaluate(&m, &none, 1, &r, &err) == -1 && !strcmp(err.msg, "no examples to evaluate (an empty set)") &&
              r.accuracy == -1,
          "an empty set is not evaluated: \"%s\"", err.msg);
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == -1 && strstr(err.msg, "batch size 128"),
          "a batch larger than the data is refused: \"%s\"", err.msg);
    mnist_model_free(&m);
    int s[MNIST_MAX_LAYERS + 1], n;
    check(mnist_parse_layers("784,1024,1024,10", s, &n, &err) == 0 && n == 4 && s[1] == 1024, "--layers parses");
    check(mnist_parse_layers("784,,10", s, &n, &err) == -1, "--layers '784,,10' is refused: \"%s\"", err.msg);
    /* the library has no flags: its message names the sizes as the API does (it said "--layers '784,,10': ...",
     * and the CLI, which adds the flag, says that) */
    check(!strncmp(err.msg, "layers '784,,10': ", 18) && !strstr(err.msg, "--"), "the library names no flag: \"%s\"",
          err.msg);
    check(mnist_parse_layers("784", s, &n, &err) == -1, "--layers with one size is refused: \"%s\"", err.msg);
    check(mnist_parse_layers("784,-3,10", s, &n, &err) == -1, "a negative size is refused: \"%s\"", err.msg);
    const char *loose[] = {" 784,16,10", "784,+16,10", "784, 16,10", "0x310,16,10", "784,16 ,10", "784,16,10 "};
    for (int i = 0; i < 6; i++) /* strtol takes these: blanks, a '+', hex's 0 before the x; a blank after */
        check(mnist_parse_layers(loose[i], s, &n, &err) == -1 && strstr(err.msg, "whole number"),
              "--layers '%s' is refused: \"%s\"", loose[i], err.msg);
}

/* The library's calls of mnist_split_sha256, counted (the Makefile links this test with
 * -Wl,--wrap=mnist_split_sha256). */
static int sha_calls;
int __real_mnist_split_sha256(const mnist_split *s, char hex[65], mnist_err *err);
int __wrap_mnist_split_sha256(const mnist_split *s, char hex[65], mnist_err *err);
int __wrap_mnist_split_sha256(const mnist_split *s, char hex[65], mnist_err *err) {
    sha_calls++;
    return __real_mnist_split_sha256(s, hex, err);
}

/* A resumed run hashes its training examples once (its check, then its state, took it twice), a
 * new run once; a split whose sha256 is noted is not hashed again; and other examples are still
 * refused, by mnist_train_fits and by mnist_train alone. */
static void test_hash_once(void) {
    toy_data a, b;
    toy_init(&a, 2);
    b = a;
    b.split.images = b.images, b.split.labels = b.labels;
    b.labels[0] = (uint8_t)((b.labels[0] + 1) % MNIST_CLASSES);
    mnist_data da = {.train = a.split, .test = a.split}, db = {.train = b.split, .test = b.split};
    mnist_train_opts o = mnist_train_defaults();
    o.batch = BATCH, o.epochs = 1;
    mnist_model m;
    mnist_err err, err2;
    mnist_run_state st;
    mnist_model_create(&m, sizes, nsizes, &err);
    mnist_model_init_lab(&m, 0.1, 0);
    sha_calls = 0;
    int ok = mnist_run_state_start(&st, &m, &o, &a.split, &err) == 0, n = sha_calls;
    check(ok && n == 1, "a run's start hashes its training examples once (%d)", n);
    sha_calls = 0;
    ok = mnist_train(&m, &da, &o, NULL, NULL, &err) == 0, n = sha_calls;
    check(ok && n == 1, "a new run hashes them once (%d)", n);
    sha_calls = 0;
    ok = mnist_train(&m, &da, &o, NULL, &st, &err) == 0, n = sha_calls;
    check(ok && n == 1, "a resumed run hashes them once (%d)", n);
    check(mnist_train_fits(&m, &db, &o, &st, &err) == -1 && strstr(err.msg, "other training data than these") &&
              mnist_train(&m, &db, &o, NULL, &st, &err2) == -1 && !strcmp(err.msg, err2.msg),
          "other examples, as many, are refused by mnist_train_fits and mnist_train: \"%s\"", err2.msg);
    sha_calls = 0;
    ok = mnist_split_sha256(&da.train, da.train.sha256, &err) == 0 && mnist_train_fits(&m, &da, &o, &st, &err) == 0 &&
         mnist_train(&m, &da, &o, NULL, &st, &err) == 0, n = sha_calls;
    check(ok && n == 1, "noted in the split, they are hashed no more: by the check, nor the resumed run (%d in all)",
          n);
    /* a caller's split that never noted it, its sha256 whatever the stack held (filled field by field,
     * as before the field was there): not taken for a hash, but computed */
    char want[65];
    mnist_split_sha256(&a.split, want, &err);
    mnist_run_state st2;
    for (int k = 0; k < 3; k++) {
        mnist_data dg = da;
        memset(dg.train.sha256, k == 0 ? 'z' : k == 1 ? 0xAA : '0', sizeof dg.train.sha256); /* no NUL */
        if (k == 2) dg.train.sha256[10] = '\0'; /* hex, too short */
        ok = mnist_run_state_start(&st2, &m, &o, &dg.train, &err) == 0 && !strcmp(st2.data_sha256, want);
        check(ok, "a run's start over a split with garbage in its sha256 (%d) notes the examples' own", k);
        if (ok) mnist_run_state_free(&st2);
        ok = mnist_train_fits(&m, &dg, &o, &st, &err) == 0 && mnist_train(&m, &dg, &o, NULL, &st, &err2) == 0;
        check(ok, "a resume over a split with garbage in its sha256 (%d) fits its own data: \"%s\" \"%s\"", k, err.msg,
              err2.msg);
    }
    mnist_run_state_free(&st);
    mnist_model_free(&m);
}

/* What mnist_train refuses before it trains is what mnist_train_fits says, a resumed run's position
 * among it; a run with no epoch left to train fits whatever its options, and m stays as it came. */
static void test_fits(void) {
    toy_data d;
    toy_init(&d, 2);
    mnist_data data = {.train = d.split, .test = d.split};
    mnist_train_opts o = mnist_train_defaults();
    o.batch = BATCH, o.epochs = 2;
    mnist_model m;
    mnist_err err, err2;
    mnist_model_create(&m, sizes, nsizes, &err);
    mnist_model_init_lab(&m, 0.1, 0);
    mnist_run_state st = {.epoch = 1, .step = 2}; /* 7 examples, batches of 5: 1 step an epoch */
    check(mnist_train_fits(&m, &data, &o, &st, &err) == -1 &&
              !strcmp(err.msg, "the checkpoint's position (epoch 1, step 2) does not fit 1 steps per epoch"),
          "a position past the epoch's steps does not fit: \"%s\"", err.msg);
    check(mnist_train(&m, &data, &o, NULL, &st, &err2) == -1 && !strcmp(err.msg, err2.msg),
          "mnist_train refuses it in the same words: \"%s\"", err2.msg);
    st.step = 1, st.nstate = 3;
    check(mnist_train_fits(&m, &data, &o, &st, &err) == -1 && strstr(err.msg, "holds 3 floats of optimizer state"),
          "optimizer state of another size does not fit: \"%s\"", err.msg);
    st = (mnist_run_state){.epoch = 2};
    o.batch = NEX + 1;
    float *before = malloc(m.nparams * sizeof *before);
    memcpy(before, m.params, m.nparams * sizeof *before);
    check(mnist_train_finished(&o, &st) && mnist_train_fits(&m, &data, &o, &st, &err) == 0 &&
              mnist_train(&m, &data, &o, NULL, &st, &err) == 0 &&
              !memcmp(before, m.params, m.nparams * sizeof *before),
          "a run resumed at its last epoch has nothing to do: its batch is not judged, m is as it came");
    check(!mnist_train_finished(&o, NULL) && mnist_train_fits(&m, &data, &o, NULL, &err) == -1 &&
              strstr(err.msg, "batch size 8"),
          "from the start, the same batch does not fit: \"%s\"", err.msg);
    free(before);
    mnist_model_free(&m);
    /* dropout acts on hidden outputs: a network of one layer has none, and would train as without it */
    mnist_model_create(&m, (int[]){IN, MNIST_CLASSES}, 2, &err);
    mnist_model_init_lab(&m, 0.1, 0);
    o = mnist_train_defaults();
    o.batch = BATCH, o.epochs = 1, o.dropout = 0.5;
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == -1 &&
              !strcmp(err.msg, "dropout 0.5 drops hidden outputs, and the network 16-10 has no hidden layer"),
          "dropout on a network without a hidden layer is refused: \"%s\"", err.msg);
    o.dropout = 0.0;
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == 0, "and the same network trains without dropout");
    mnist_model_free(&m);
}

/* What the trainer refuses: options out of their enums' range or a rate past float's, and a model
 * that holds a NaN its loss cannot show (a ReLU unit's bias: the unit outputs 0, its gradient is 0,
 * the loss stays finite); there the error names the tensor and m keeps what it had. */
static void test_refused(void) {
    toy_data d;
    toy_init(&d, 3);
    mnist_data data = {.train = d.split, .test = d.split};
    mnist_model m;
    mnist_err err;
    mnist_model_create(&m, (int[]){IN, 9, MNIST_CLASSES}, 3, &err);
    snprintf(m.activation, sizeof m.activation, "relu");
    mnist_model_init_lab(&m, 0.1, 0);
    struct {
        const char *what, *needle;
        mnist_train_opts o;
    } bad[10];
    for (int i = 0; i < 10; i++) bad[i].o = mnist_train_defaults(), bad[i].o.batch = BATCH, bad[i].o.epochs = 1;
    bad[0].what = "optimizer 7", bad[0].needle = "optimizer 7", bad[0].o.optimizer = (mnist_optimizer)7;
    bad[1].what = "schedule 9", bad[1].needle = "schedule 9", bad[1].o.schedule = (mnist_schedule)9;
    bad[2].what = "device 5", bad[2].needle = "device 5", bad[2].o.device = (mnist_device)5;
    bad[3].what = "learning rate 1e39", bad[3].needle = "learning rate", bad[3].o.lr = 1e39;
    /* values that the double checks passed and float32, which the steps compute in, makes 0 or 1: the
     * rate trained nothing, the dropout dropped every hidden output, the momentum never decayed */
    bad[4].what = "learning rate 1e-310", bad[4].needle = "learning rate 1e-310 is below float32's smallest normal";
    bad[4].o.lr = 1e-310;
    bad[5].what = "dropout 0.99999999", bad[5].needle = "dropout 0.99999999 is 1 in float32";
    bad[5].o.dropout = 0.99999999;
    bad[6].what = "momentum 0.999999999", bad[6].needle = "momentum 0.999999999 is 1 in float32";
    bad[6].o.optimizer = MNIST_MOMENTUM, bad[6].o.momentum = 0.999999999;
    bad[7].what = "Adam's beta2 0.99999999", bad[7].needle = "one is 1 in float32";
    bad[7].o.optimizer = MNIST_ADAM, bad[7].o.beta2 = 0.99999999;
    /* Adam's eps is 0 in float32 below its smallest subnormal: a weight whose gradient is 0 (a ReLU
     * unit off for the batch) got 0 / 0, NaN */
    bad[8].what = "Adam's eps 1e-50", bad[8].needle = "Adam's eps 1e-50 is below float32's smallest normal";
    bad[8].o.optimizer = MNIST_ADAM, bad[8].o.eps = 1e-50;
    /* and infinite past FLT_MAX: every step divided by it, nothing trained */
    bad[9].what = "Adam's eps 1e39", bad[9].needle = "Adam's eps must be positive and finite, not 1e+39";
    bad[9].o.optimizer = MNIST_ADAM, bad[9].o.eps = 1e39;
    for (int i = 0; i < 10; i++) {
        err.msg[0] = '\0';
        check(mnist_train(&m, &data, &bad[i].o, NULL, NULL, &err) == -1 && strstr(err.msg, bad[i].needle),
              "%s is refused: \"%s\"", bad[i].what, err.msg);
    }
    /* more epochs than a checkpoint may say (MNIST_MAX_EPOCHS): the run's checkpoints were refused by its resume */
    mnist_train_opts many = mnist_train_defaults();
    many.epochs = MNIST_MAX_EPOCHS + 1;
    check(mnist_train_check(&many, -1, &err) == -1 && !strcmp(err.msg, "epochs 1073741825 is outside 0..1073741824"),
          "epochs 2^30 + 1 are refused: \"%s\"", err.msg);
    many.epochs = MNIST_MAX_EPOCHS;
    check(mnist_train_check(&many, -1, &err) == 0, "and 2^30 are taken");
    /* the step schedule of so many: the full rate for the first half, 0.1 until three quarters, then 0.01
     * (3 * epochs overflowed an int past 715827882 epochs: 0.01 from the first step) */
    many.schedule = MNIST_STEP, many.lr = 1;
    long per = 1875, e = MNIST_MAX_EPOCHS;
    double lr0 = mnist_schedule_lr(&many, 0, e * per, per), lr1 = mnist_schedule_lr(&many, e / 2 * per, e * per, per),
           lr2 = mnist_schedule_lr(&many, 3 * e / 4 * per, e * per, per),
           lr3 = mnist_schedule_lr(&many, 3 * e / 4 * per - 1, e * per, per);
    check(lr0 == 1 && lr1 == 0.1 && lr3 == 0.1 && lr2 == 0.01,
          "--schedule step over 2^30 epochs: 1 at the start, 0.1 at half and just before three quarters, 0.01 at three "
          "quarters (%g %g %g %g)", lr0, lr1, lr3, lr2);
    size_t at = m.tensors[1].offset + 4; /* layers.0.bias[4] */
    m.params[at] = NAN;
    float *before = malloc(m.nparams * sizeof(float));
    memcpy(before, m.params, m.nparams * sizeof(float));
    mnist_train_opts o = mnist_train_defaults();
    o.batch = BATCH, o.epochs = 2, o.lr = 0.1;
    int rc = mnist_train(&m, &data, &o, NULL, NULL, &err);
    check(rc == -1 && strstr(err.msg, "layers.0.bias became NaN"), "a NaN that the loss cannot show stops training: \"%s\"",
          err.msg);
    check(!memcmp(before, m.params, m.nparams * sizeof(float)), "and the model is as it came");
    d.labels[5] = MNIST_CLASSES; /* a split made by a caller, not read from a file: its labels too */
    mnist_eval_result r;
    check(mnist_evaluate(&m, &d.split, 1, &r, &err) == -1 && strstr(err.msg, "example 5 has label 10"),
          "a label past the classes is refused by evaluate: \"%s\"", err.msg);
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == -1 && strstr(err.msg, "example 5 has label 10"),
          "and by train: \"%s\"", err.msg);
    free(before);
    mnist_model_free(&m);
}

/* The sizes a model may have, checked before anything is allocated: the command tells a network
 * over the parameters' limit (a usage error) from one that memory cannot hold. */
static void test_layers_check(void) {
    mnist_err err;
    mnist_model m;
    check(mnist_layers_check((int[]){784, 1024, 1024, 10}, 4, &err) == 0, "784-1024-1024-10 may be made");
    err.msg[0] = '\0';
    int big[] = {784, 65536, 65536, 10}; /* 4.3e9 parameters, over the 2^31 */
    check(mnist_layers_check(big, 4, &err) == -1 && strstr(err.msg, "over the limit"),
          "784-65536-65536-10 is over the limit: \"%s\"", err.msg);
    check(mnist_model_create(&m, big, 4, &err) == -1 && strstr(err.msg, "over the limit") && !m.params,
          "and mnist_model_create refuses it: \"%s\"", err.msg);
    check(mnist_layers_check((int[]){784, 0, 10}, 3, &err) == -1 && mnist_layers_check((int[]){784}, 1, &err) == -1,
          "a size of 0 and a single size are refused");
}

/* The forward pass's tanh against tanh in double over [-12, 12]: the rational approximation's
 * error is at most 3.7e-7 (about 6 ulps near 1); glibc's tanhf would be within 1.2e-7. */
static void test_tanh(void) {
    enum { N = 2400001 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    cpu_tanh(y, x, N);
    double worst = 0, at = 0;
    for (int i = 0; i < N; i++) {
        double e = fabs((double)y[i] - tanh((double)x[i]));
        if (e > worst) worst = e, at = x[i];
    }
    check(worst < 4e-7, "the forward pass's tanh is within 4e-7 of tanh in double (largest %.2g at %g)", worst, at);
    int odd = 1;
    for (int i = 0; i < N; i++) x[i] = -x[i];
    float *z = malloc(N * sizeof *z), zero = 0.0f, t0;
    cpu_tanh(z, x, N);
    for (int i = 0; i < N; i++) odd &= z[i] == -y[i];
    cpu_tanh(&t0, &zero, 1);
    check(odd && t0 == 0.0f, "it is odd, and 0 at 0");
    free(z);
    free(x);
    free(y);
}

/* The hooks' order after an epoch: its record (on_epoch) before its checkpoint. The other way round,
 * a run killed between the two kept a checkpoint past the log's last record, whose epoch was then
 * never written (a resume goes on from the checkpoint); this way the log may hold an epoch the
 * checkpoint does not, which train --resume cuts back. */
static char hook_calls[64];
static int record_epoch(void *ud, const mnist_epoch_stats *s) {
    (void)ud;
    snprintf(hook_calls + strlen(hook_calls), sizeof hook_calls - strlen(hook_calls), "e%d ", s->epoch);
    return 0;
}
static int record_checkpoint(void *ud, const mnist_model *m, const mnist_run_state *st, mnist_err *err) {
    (void)ud, (void)m, (void)err;
    snprintf(hook_calls + strlen(hook_calls), sizeof hook_calls - strlen(hook_calls), "c%d ", st->epoch);
    return 0;
}

static void test_hook_order(void) {
    toy_data d;
    toy_init(&d, 11);
    mnist_data data = {.train = d.split, .test = d.split};
    mnist_train_opts o = toy_opts(2);
    mnist_model m;
    mnist_err err;
    mnist_model_create(&m, sizes, nsizes, &err);
    mnist_model_init_lab(&m, 0.1, 0);
    mnist_train_hooks h = {.on_epoch = record_epoch, .on_checkpoint = record_checkpoint};
    hook_calls[0] = '\0';
    check(mnist_train(&m, &data, &o, &h, NULL, &err) == 0 && !strcmp(hook_calls, "e0 c1 e1 c2 "),
          "each epoch's record comes before its checkpoint: \"%s\"", hook_calls);
    mnist_model_free(&m);
}

/* mnist_argmax against numpy 1.24's np.argmax of the same float32 rows: the first maximum, and a NaN
 * counts as the largest (the first NaN wins) */
static void test_argmax(void) {
    static const struct {
        float v[3];
        int n, want;
    } rows[] = {{{1, NAN, 3}, 3, 1},     {{NAN, NAN}, 2, 0},     {{1, 3, 3}, 3, 1},  {{-INFINITY, -INFINITY, 2}, 3, 2},
                {{2, 1, NAN}, 3, 2},     {{-INFINITY, -INFINITY}, 2, 0}, {{INFINITY, NAN}, 2, 1}, {{0, -0.0f}, 2, 0},
                {{-1, -INFINITY, NAN}, 3, 2}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int got = mnist_argmax(rows[i].v, rows[i].n);
        check(got == rows[i].want, "mnist_argmax of row %zu (%g %g %g, n %d) is %d, numpy's %d", i, rows[i].v[0],
              rows[i].v[1], rows[i].v[2], rows[i].n, got, rows[i].want);
    }
}

int main(void) {
    test_argmax();
    test_hook_order();
    test_tanh();
    test_forward_by_hand();
    test_gradients();
    test_determinism();
    test_fit();
    test_fits();
    test_hash_once();
    test_refused();
    test_layers_check();
    return check_status();
}
