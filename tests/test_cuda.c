/* test_cuda.c: the CUDA backend against the CPU backend, through the seam, on fresh random inputs
 * (the seed is printed; MNIST_TEST_SEED=N repeats a run): gradients, steps of every optimizer, with
 * dropout and shifts, evaluation, prediction, the graph of a chunk of steps against single steps,
 * get/set round trips, error paths; then one epoch of the lab's recipe on MNIST in FP32 and TF32
 * against the lab's accuracies. Each comparison prints its relative error ||gpu - cpu|| / ||cpu||;
 * NaN never passes (every check is written `err < tol`).
 *
 * Where the build has no CUDA backend, or the machine no GPU, the checks that can run there do
 * (each way of asking for the GPU fails cleanly, with one line) and a SKIP line says that the GPU
 * checks did not run. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "mnist.h"

static mnist_rng rng;
/* MNIST_KERNEL_SMALL (make test SANITIZE=1, where the emulator is 5 times slower): the lab's shape,
 * its epoch on MNIST and its predict left out, and 3xTF32; the other shapes all run */
static int small;

/* ---- helpers ------------------------------------------------------------------------------ */

static double norm(const float *a, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

typedef struct {
    mnist_split split;
    uint8_t *images, *labels;
} rand_data;

/* n random images (side x side), MNIST-like: most pixels 0, the others uniform bytes. */
static void rand_data_make(rand_data *d, int n, int side) {
    d->images = malloc((size_t)n * side * side);
    d->labels = malloc((size_t)n);
    for (size_t i = 0; i < (size_t)n * side * side; i++) {
        uint32_t v = mnist_rng_u32(&rng);
        d->images[i] = (v & 3) == 0 ? (uint8_t)(v >> 8) : 0;
    }
    for (int i = 0; i < n; i++) d->labels[i] = (uint8_t)(mnist_rng_u32(&rng) % MNIST_CLASSES);
    d->split = (mnist_split){.n = n, .rows = side, .cols = side, .images = d->images, .labels = d->labels};
}

static void rand_data_free(rand_data *d) {
    free(d->images);
    free(d->labels);
}

static int make_model(mnist_model *m, const int *sizes, int n, const char *act) {
    mnist_err err;
    if (mnist_model_create(m, sizes, n, &err)) return check(0, "model created: %s", err.msg), -1;
    snprintf(m->activation, sizeof m->activation, "%s", act);
    mnist_model_init(m, MNIST_INIT_LAB, 0.1, mnist_rng_u32(&rng));
    return 0;
}

static void rand_batch(int32_t *idx, int n, int max) {
    for (int i = 0; i < n; i++) idx[i] = (int32_t)(mnist_rng_u32(&rng) % (uint32_t)max);
}

/* ---- without a CUDA backend or without a GPU ---------------------------------------------- */

static void check_one_line(const char *what, const char *msg) {
    /* "cuda" (a GPU's own errors, after "--device cuda") or "CUDA" (a build without the backend says so) */
    check(msg[0] && !strchr(msg, '\n') && (strstr(msg, "cuda") || strstr(msg, "CUDA")),
          "%s fails with one line naming cuda: %s", what, msg);
}

/* Every way of asking for the GPU fails cleanly: NULL or -1, one line, nothing changed. */
static void test_no_gpu(void) {
    mnist_err err = {{0}};
    check(mnist_device_check(MNIST_CPU, &err) == 0, "the CPU is always usable");
    check(mnist_device_check(MNIST_CUDA, &err) == -1, "mnist_device_check(MNIST_CUDA) says there is no GPU");
    check_one_line("mnist_device_check", err.msg);
    /* no driver at all (no libcuda.so.1 to load, as on a machine without NVIDIA's driver) is not a driver
     * too old for the build's CUDA, though the CUDA runtime gives the same error for both */
    void *drv = mnist_have_cuda() ? dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL) : NULL;
    if (mnist_have_cuda() && !drv)
        check(strstr(err.msg, "no NVIDIA driver was found (libcuda.so.1") && !strstr(err.msg, " or later"),
              "without libcuda.so.1, the message says no driver was found, not that it is too old: %s", err.msg);
    if (drv) dlclose(drv);
    mnist_model m;
    if (make_model(&m, (int[]){16, 8, MNIST_CLASSES}, 3, "tanh")) return;
    backend_opts bo = {.max_batch = 4, .act = MNIST_TANH};
    err.msg[0] = 0;
    backend *b = backend_create(MNIST_CUDA, &m, &bo, &err);
    check(b == NULL, "backend_create(MNIST_CUDA) gives no backend");
    if (b) b->destroy(b);
    check_one_line("backend_create(MNIST_CUDA)", err.msg);
    rand_data d;
    rand_data_make(&d, 20, 4);
    mnist_eval_result r;
    err.msg[0] = 0;
    check(mnist_evaluate_on(&m, &d.split, MNIST_CUDA, 0, &r, &err) == -1, "mnist_evaluate_on(MNIST_CUDA) fails");
    check_one_line("mnist_evaluate_on", err.msg);
    float x[16] = {0}, p[MNIST_CLASSES];
    err.msg[0] = 0;
    check(mnist_predict_on(&m, x, 1, MNIST_CUDA, p, &err) == -1, "mnist_predict_on(MNIST_CUDA) fails");
    check_one_line("mnist_predict_on", err.msg);
    /* training: an error, and the model as it came */
    float *before = malloc(m.nparams * sizeof(float));
    memcpy(before, m.params, m.nparams * sizeof(float));
    mnist_data data = {.train = d.split, .test = d.split};
    mnist_train_opts o = mnist_train_defaults();
    o.batch = 4, o.epochs = 1, o.device = MNIST_CUDA;
    err.msg[0] = 0;
    check(mnist_train(&m, &data, &o, NULL, NULL, &err) == -1, "mnist_train on MNIST_CUDA fails");
    check_one_line("mnist_train", err.msg);
    check(memcmp(before, m.params, m.nparams * sizeof(float)) == 0, "the model is left as it was");
    free(before);
    rand_data_free(&d);
    mnist_model_free(&m);
}

/* ---- the GPU against the CPU -------------------------------------------------------------- */

typedef struct {
    const char *name;
    int sizes[6], nsizes, batch;
    const char *act;
    backend_opts o;
    double tol;  /* relative error allowed on parameters and optimizer state after three steps */
    double dtol; /* relative error allowed on what the three steps changed the parameters by */
} config;

/* Gradients and losses: FP32 products of length K ~ 1000 in another order than OpenBLAS's: about sqrt(K) * 6e-8 ~ 2e-6
 * relative on each output, a little more after three layers and their gradients; 2e-5 is ten
 * times what that predicts. TF32 rounds each product's inputs to 10 mantissa bits (2^-11 ~
 * 5e-4 relative each): 1e-2. expf and logf differ by an ulp or two between CUDA and glibc,
 * far under either. Adam divides by sqrt(v): where a gradient is rounding noise (|g| ~ 1e-9) its
 * sign, and so a step of lr, can differ; with lr 0.001 on parameters of norm ~ 10 that is well
 * under 1e-3 for a few hundred such entries. But each flipped entry has moved by 2 lr, and the
 * next batches' gradients there are not small: the later steps' losses and the state move at first
 * order. Seen with our own products on the CUDA emulator (their sums in another order than
 * OpenBLAS's, where the emulated cuBLAS is OpenBLAS): losses 1.3e-4, state 1.1e-3 (seed
 * 1795867694). So Adam's step losses are held to 1e-3 and its state to 1e-2.
 * The change of the parameters over the three steps is checked apart: parameters of ~0.1 moved by
 * ~1e-4 a step, one rounding of each (an ulp of 0.1 is 7e-9) is ~1e-4 of the change, so 1e-3 in
 * FP32; with Adam the sign flips above are a few percent of a change where every entry moves by
 * ~lr, and TF32's gradients are 1e-2 off: 5e-2 for both.
 * ReLU adds a jump: a pre-activation within rounding of 0 can be cut on one device and kept on the
 * other, and then that unit's gradient for that example is whole on one and 0 on the other. The
 * forward does not see it (that unit's output is ~0 either way), nor does the last layer's
 * gradient, which reads only that output: the gradient check's loss and the last layer's gradient
 * keep 2e-5 (measured under 6e-7). The layers at and below the unit see one of their gradient's
 * ~64 x 100 live terms come or go: ~1/sqrt(6400) ~ 1e-2 of it, more where that unit's dh is large
 * or the batch small. Seen on the CUDA emulator in about one gradient check of 900: 4.7e-2
 * (dropout + shift, seed 64, OMP_NUM_THREADS=1), 3.0e-2 (odd shape). A float64 model that flips,
 * one at a time, each unit within 0.05 of 0 (73,000 of dropout + shift's in 100 batches, 105,000 of
 * the odd shape's in 400): at most 7.5e-2 and 2.5e-1. So 3e-1 on the hidden layers' gradients (in
 * a batch of one a flipped unit is one of ~32 terms: 7e-1, about once in 3e4 runs; so the batch of
 * one is checked with tanh). SGD and momentum move the parameters by lr times such a
 * difference (measured under 1e-7 of them): 1e-3 on the parameters, 5e-2 on the change, the state
 * and the steps' losses. Adam moves every entry by ~lr whatever the size of its gradient: where the
 * flip takes a gradient from 0 or across it (for a unit cut in the rest of the batch, its whole
 * column) entries move by lr or 2 lr; and once its own sign flips above have moved parameters by lr,
 * the later steps' pre-activations differ by far more than rounding and other units are cut. Seen on
 * the CUDA emulator with our own products (OMP_NUM_THREADS=1), failing the 1e-3 that ReLU with Adam
 * had: parameters 2.4e-3, change 4.7e-3, state 2.9e-3, losses 5.3e-4 (seed 1796089130); in the
 * SANITIZE=1 build parameters 7.9e-3 (seed 1795829911) and 1.2e-2, change 2.3e-2 (seed 64): one
 * run in ~700 of the plain build, ~80 of the sanitized one. The float64 model, one unit flipped in
 * the first step, 1800 times: parameters up to 7.5e-2, change 1.4e-1, state 2.1e-1, losses 7.7e-2.
 * So ReLU with Adam: 1e-1 on the parameters and the steps' losses, 2e-1 on the change, 3e-1 on the
 * state. Past the forward and the last layer, the ReLU configurations thus catch gross faults only
 * (a mask, a shift or the activation's gradient not applied; a wrong rate, sign or correction). The
 * arithmetic they share with tanh is held to the tight tolerances by the tanh configurations (which
 * include every optimizer), and ReLU's own two lines, the activation and its gradient, are checked
 * bit for bit by test_cuda_kernels. */
static void test_config(const config *cf, const rand_data *train, const rand_data *test) {
    mnist_model m;
    for (int l = 0; small && l < cf->nsizes; l++)
        if (cf->sizes[l] >= 1024) return; /* the lab's shape: the run without MNIST_KERNEL_SMALL has it */
    if (make_model(&m, cf->sizes, cf->nsizes, cf->act)) return;
    mnist_err err = {{0}};
    backend_opts o = cf->o;
    o.max_batch = cf->batch;
    o.act = mnist_model_activation(&m);
    o.side = train->split.cols;
    backend *c = backend_create(MNIST_CPU, &m, &o, &err), *g = backend_create(MNIST_CUDA, &m, &o, &err);
    if (!check(c && g, "%s: both backends created%s%s", cf->name, c && g ? "" : ": ", c && g ? "" : err.msg)) {
        if (c) c->destroy(c);
        if (g) g->destroy(g);
        mnist_model_free(&m);
        return;
    }
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        backend *b = i ? g : c;
        ok &= b->set_data(b, SPLIT_TRAIN, &train->split, &err) == 0 && b->set_data(b, SPLIT_TEST, &test->split, &err) == 0;
    }
    check(ok, "%s: data set on both%s%s", cf->name, ok ? "" : ": ", ok ? "" : err.msg);
    size_t np = m.nparams;
    float *gc = malloc(np * sizeof(float)), *gg = malloc(np * sizeof(float));
    float *pc = malloc(np * sizeof(float)), *pg = malloc(np * sizeof(float));
    int32_t idx[4 * 512];
    int n = cf->batch;
    double etol = o.tf32 ? 1e-2 : 2e-5; /* gradients and losses: see above */
    int relu = o.act == MNIST_RELU;      /* ReLU's jump: see above */
    int adam = o.optimizer == MNIST_ADAM; /* Adam's sign flips, and with ReLU its flipped units: see above */
    double gtol = relu ? fmax(etol, 3e-1) : etol; /* the hidden layers' gradients; the last layer's keep etol */
    double ptol = relu ? fmax(cf->tol, adam ? 1e-1 : 1e-3) : cf->tol;
    double dtol = relu ? fmax(cf->dtol, adam ? 2e-1 : 5e-2) : cf->dtol;
    double stol = relu ? fmax(cf->tol, adam ? 3e-1 : 5e-2) : adam ? fmax(cf->tol, 1e-2) : cf->tol;
    double ltol = relu ? fmax(etol, adam ? 1e-1 : 5e-2) : adam ? fmax(etol, 1e-3) : etol;

    // the gradient of one batch, tensor by tensor
    rand_batch(idx, n, train->split.n);
    double lc = 0, lg = 0;
    ok = c->gradient(c, idx, n, gc, &lc, &err) == 0 && g->gradient(g, idx, n, gg, &lg, &err) == 0;
    if (check(ok, "%s: gradient runs on both%s%s", cf->name, ok ? "" : ": ", ok ? "" : err.msg)) {
        double worst = 0, last = 0; /* the hidden layers' tensors; the last layer's */
        for (int t = 0; t < m.ntensors; t++) {
            const mnist_tensor *mt = &m.tensors[t];
            double e = rel_err(gg + mt->offset, gc + mt->offset, mt->count), *w = t < m.ntensors - 2 ? &worst : &last;
            printf("  %s: gradient of %s: relative error %.3g (norm %.3g)\n", cf->name, mt->name, e,
                   norm(gc + mt->offset, mt->count));
            *w = worst_of(*w, e);
        }
        check(worst < gtol && last < etol,
              "%s: the hidden layers' gradients within %.0e of the CPU's (worst %.3g), the last layer's within %.0e "
              "(worst %.3g)",
              cf->name, gtol, worst, etol, last);
        check(norm(gc, np) > 0, "%s: the gradient is not all zeros", cf->name);
        double le = fabs(lg - lc) / lc; /* the forward: ReLU's jump does not reach it (see above) */
        check(le < etol, "%s: loss %.9g vs the CPU's %.9g (relative %.3g)", cf->name, lg, lc, le);
    }

    // three steps, each at its own rate; the parameters and optimizer state after them
    const float lrs[3] = {0.05f, 0.02f, 0.01f};
    double worst_loss = 0;
    for (int s = 0; s < 3 && ok; s++) {
        rand_batch(idx, n, train->split.n);
        ok = c->train_step(c, idx, n, lrs[s], &lc, &err) == 0 && g->train_step(g, idx, n, lrs[s], &lg, &err) == 0;
        double e = fabs(lg - lc) / lc;
        worst_loss = worst_of(worst_loss, e);
    }
    if (check(ok, "%s: three steps run on both%s%s", cf->name, ok ? "" : ": ", ok ? "" : err.msg)) {
        check(worst_loss < ltol, "%s: the steps' losses match (worst relative %.3g)", cf->name, worst_loss);
        ok = c->get_params(c, pc, &err) == 0 && g->get_params(g, pg, &err) == 0;
        double e = ok ? rel_err(pg, pc, np) : NAN;
        check(e < ptol, "%s: parameters after three steps within %.0e (relative %.3g)", cf->name, ptol, e);
        float *dc = malloc(np * sizeof(float)), *dg = malloc(np * sizeof(float));
        for (size_t i = 0; i < np; i++) dc[i] = pc[i] - m.params[i], dg[i] = pg[i] - m.params[i];
        e = ok ? rel_err(dg, dc, np) : NAN;
        check(e < dtol && norm(dc, np) > 0, "%s: the three steps' change of the parameters within %.0e (relative %.3g)",
              cf->name, dtol, e);
        free(dc), free(dg);
        size_t ns = (size_t)mnist_optimizer_slots(o.optimizer) * np;
        if (ns) {
            float *sc = malloc(ns * sizeof(float)), *sg = malloc(ns * sizeof(float));
            uint64_t kc = 0, kg = 0;
            ok = c->get_state(c, sc, &kc, &err) == 0 && g->get_state(g, sg, &kg, &err) == 0;
            e = ok ? rel_err(sg, sc, ns) : NAN;
            check(e < stol && kc == kg && kg == 3, "%s: optimizer state within %.0e (relative %.3g), %llu steps",
                  cf->name, stol, e, (unsigned long long)kg);
            free(sc), free(sg);
        }
    }

    // evaluation of both splits
    for (int which = SPLIT_TRAIN; which <= SPLIT_TEST; which += SPLIT_TEST - SPLIT_TRAIN) {
        mnist_eval_result rc, rg;
        const mnist_split *sp = which == SPLIT_TEST ? &test->split : &train->split;
        /* both from the same parameters: the CPU's */
        ok = g->set_params(g, pc, &err) == 0 && c->evaluate(c, which, &rc, &err) == 0 &&
             g->evaluate(g, which, &rg, &err) == 0;
        if (!check(ok, "%s: evaluation runs%s%s", cf->name, ok ? "" : ": ", ok ? "" : err.msg)) break;
        double le = fabs(rg.loss - rc.loss) / rc.loss;
        int rows_ok = 1, total = 0;
        for (int i = 0; i < MNIST_CLASSES; i++) {
            int want = 0, got = 0;
            for (int e = 0; e < sp->n; e++) want += sp->labels[e] == i;
            for (int j = 0; j < MNIST_CLASSES; j++) got += rg.confusion[i][j];
            rows_ok &= cf->sizes[cf->nsizes - 1] > MNIST_CLASSES ? got <= want : got == want;
            total += got;
        }
        /* a near tie may go either way: at most 1 in 500 answers */
        check(le < etol && abs(rg.correct - rc.correct) <= 2 + sp->n / 500 && rows_ok && rg.n == sp->n,
              "%s: %s split: loss %.7g vs %.7g (relative %.3g), correct %d vs %d, confusion rows count the labels",
              cf->name, which == SPLIT_TEST ? "test" : "train", rg.loss, rc.loss, le, rg.correct, rc.correct);
    }
    c->destroy(c);
    g->destroy(g);
    free(gc), free(gg), free(pc), free(pg);
    mnist_model_free(&m);
}

/* Two GPU backends of m with the options o, each given train's examples: 0, or -1 with err (*a and
 * *b as far as they were made, for the caller to destroy). */
static int backend_pair(backend **a, backend **b, const mnist_model *m, const backend_opts *o,
                        const rand_data *train, mnist_err *err) {
    *a = backend_create(MNIST_CUDA, m, o, err), *b = backend_create(MNIST_CUDA, m, o, err);
    if (!*a || !*b || (*a)->set_data(*a, SPLIT_TRAIN, &train->split, err) ||
        (*b)->set_data(*b, SPLIT_TRAIN, &train->split, err))
        return -1;
    return 0;
}

/* A chunk of steps as one graph (train_steps) against the same steps one by one (train_step):
 * the same kernels on the same data, so the same numbers. The second round replays the graph the
 * first captured with other learning rates: they must come from device memory, not the capture. */
static void test_graph(const rand_data *train, const char *name, backend_opts o) {
    mnist_model m;
    if (make_model(&m, (int[]){MNIST_PIXELS, 300, 200, MNIST_CLASSES}, 4, "tanh")) return;
    mnist_err err = {{0}};
    o.max_batch = 64, o.act = MNIST_TANH, o.side = MNIST_SIDE;
    backend *a, *b;
    int ok = backend_pair(&a, &b, &m, &o, train, &err) == 0 && a->train_steps;
    if (check(ok, "graph, %s: two GPU backends ready%s%s", name, ok ? "" : ": ", ok ? "" : err.msg)) {
        enum { STEPS = 12, N = 64 };
        static int32_t perm[STEPS * N];
        float lr[STEPS];
        double la[STEPS], lb[STEPS];
        rand_batch(perm, STEPS * N, train->split.n);
        /* twice: the second replays the graph captured by the first, at other rates */
        for (int round = 0; round < 2 && ok; round++) {
            for (int j = 0; j < STEPS; j++) lr[j] = (round ? 0.03f : 0.01f) * (float)(STEPS - j) / STEPS;
            ok = a->train_steps(a, perm, N, STEPS, lr, la, &err) == 0;
            for (int j = 0; j < STEPS && ok; j++) ok = b->train_step(b, perm + j * N, N, lr[j], &lb[j], &err) == 0;
            if (!check(ok, "graph, %s: round %d runs%s%s", name, round, ok ? "" : ": ", ok ? "" : err.msg)) break;
            if (!check(a->note == NULL, "graph, %s: round %d was captured as a graph (%s)", name, round,
                       a->note ? a->note : "no fallback"))
                break; /* else both ran step by step, and their match would say nothing */
            double worst = 0;
            for (int j = 0; j < STEPS; j++) {
                double e = fabs(la[j] - lb[j]) / lb[j];
                worst = worst_of(worst, e);
            }
            float *pa = malloc(m.nparams * sizeof(float)), *pb = malloc(m.nparams * sizeof(float));
            ok = a->get_params(a, pa, &err) == 0 && b->get_params(b, pb, &err) == 0;
            double e = ok ? rel_err(pa, pb, m.nparams) : NAN;
            int same = ok && memcmp(pa, pb, m.nparams * sizeof(float)) == 0;
            check(e < 1e-6 && worst < 1e-6 && la[0] == la[0],
                  "graph, %s: round %d, %d steps replayed as a graph match them one by one (parameters %.3g, "
                  "losses %.3g relative; %s)",
                  name, round, STEPS, e, worst, same ? "bit for bit" : "not bit for bit");
            free(pa), free(pb);
        }
        size_t ns = (size_t)mnist_optimizer_slots(o.optimizer) * m.nparams;
        float *sa = malloc((ns ? ns : 1) * sizeof(float)), *sb = malloc((ns ? ns : 1) * sizeof(float));
        uint64_t ka = 0, kb = 0;
        ok = a->get_state(a, sa, &ka, &err) == 0 && b->get_state(b, sb, &kb, &err) == 0;
        check(ok && ka == 2 * STEPS && kb == ka, "graph, %s: both count %llu steps", name, (unsigned long long)ka);
        free(sa), free(sb);
    }
    if (a) a->destroy(a);
    if (b) b->destroy(b);
    mnist_model_free(&m);
}

#ifdef MNIST_CUDA_EMU
/* Whether a's and b's parameters (n of them) are the same bits; 0 when either cannot give them. */
static int same_params(backend *a, backend *b, size_t n, mnist_err *err) {
    float *pa = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float));
    int same = pa && pb && a->get_params(a, pa, err) == 0 && b->get_params(b, pb, err) == 0 &&
               memcmp(pa, pb, n * sizeof(float)) == 0;
    free(pa), free(pb);
    return same;
}

/* A graph capture that fails at its beginning, its end or its instantiation (the emulator fails
 * that step when MNIST_EMU_FAIL_CAPTURE names it): training goes on, the steps run one by one, the
 * backend's note says why, and the parameters are those of train_step's steps, bit for bit. A GPU
 * cannot be asked to fail so, hence only on the emulator. */
static void test_graph_fallback(const rand_data *train) {
    static const char *const fails[] = {"begin", "end", "instantiate"};
    static const char *const when[] = {"beginning", "end", "instantiation"};
    enum { STEPS = 3, N = 16 };
    for (int i = 0; i < 3; i++) {
        mnist_model m;
        if (make_model(&m, (int[]){MNIST_PIXELS, 40, 24, MNIST_CLASSES}, 4, "tanh")) return;
        mnist_err err = {{0}};
        backend_opts o = {.optimizer = MNIST_SGD, .max_batch = N, .act = MNIST_TANH, .side = MNIST_SIDE};
        setenv("MNIST_EMU_FAIL_CAPTURE", fails[i], 1);
        backend *a, *b;
        int ok = backend_pair(&a, &b, &m, &o, train, &err) == 0;
        static int32_t perm[STEPS * N];
        float lr[STEPS] = {0.05f, 0.04f, 0.03f};
        double la[STEPS], lb[STEPS];
        rand_batch(perm, STEPS * N, train->split.n);
        /* twice: the second chunk must not try the capture again, nor trip over its error */
        for (int round = 0; round < 2 && ok; round++) {
            ok = a->train_steps(a, perm, N, STEPS, lr, la, &err) == 0;
            for (int j = 0; j < STEPS && ok; j++) ok = b->train_step(b, perm + j * N, N, lr[j], &lb[j], &err) == 0;
        }
        check(ok, "graph fallback, the capture failing at its %s: training goes on%s%s", when[i], ok ? "" : ": ",
              ok ? "" : err.msg);
        const char *note = a ? a->note : NULL;
        check(note && strstr(note, "CUDA graphs unavailable") && strstr(note, "the steps run one by one"),
              "graph fallback, %s: the note says why (%s)", fails[i], note ? note : "no note");
        check(ok && same_params(a, b, m.nparams, &err) && memcmp(la, lb, sizeof la) == 0 && la[0] == la[0],
              "graph fallback, %s: the same parameters and losses as train_step's, bit for bit", fails[i]);
        unsetenv("MNIST_EMU_FAIL_CAPTURE");
        if (a) a->destroy(a);
        if (b) b->destroy(b);
        mnist_model_free(&m);
    }
}

/* A call that fails part way (the emulator refuses a backward kernel's launch, when
 * MNIST_EMU_FAIL_LAUNCH names it) after its batch's copies from pinned memory were enqueued: the
 * next call, on another batch, fills those buffers again, which the emulator reports (and stops)
 * while an earlier copy from them still waits; and the failed call changed nothing, so the
 * parameters after the next step are those of a backend that never saw it, bit for bit. Through
 * train_step, train_steps (its graph's first capture) and gradient. */
static void test_failed_launch(const rand_data *train) {
    static const char *const calls[] = {"train_step", "train_steps", "gradient"};
    enum { N = 16 };
    for (int i = 0; i < 3; i++) {
        mnist_model m;
        if (make_model(&m, (int[]){MNIST_PIXELS, 40, 24, MNIST_CLASSES}, 4, "tanh")) return;
        mnist_err err = {{0}};
        backend_opts o = {.optimizer = MNIST_SGD, .max_batch = N, .act = MNIST_TANH, .side = MNIST_SIDE};
        backend *a, *b;
        int ok = backend_pair(&a, &b, &m, &o, train, &err) == 0;
        int32_t p[N], q[N];
        rand_batch(p, N, train->split.n);
        for (int r = 0; r < N; r++) q[r] = (p[r] + 1) % train->split.n; /* not p: its copy would find the same bytes */
        float lr = 0.05f, *g = malloc(m.nparams * sizeof(float));
        double l, la, lb;
        setenv("MNIST_EMU_FAIL_LAUNCH", "last_backward_kernel", 1);
        int failed = ok && (i == 0   ? a->train_step(a, p, N, lr, &l, &err)
                            : i == 1 ? a->train_steps(a, p, N, 1, &lr, &l, &err)
                                     : a->gradient(a, p, N, g, &l, &err)) == -1;
        unsetenv("MNIST_EMU_FAIL_LAUNCH");
        check(failed && strstr(err.msg, "launching"), "failed launch, %s: the call fails (%s)", calls[i],
              failed ? err.msg : "it did not");
        ok = ok && a->train_step(a, q, N, lr, &la, &err) == 0 && b->train_step(b, q, N, lr, &lb, &err) == 0;
        check(ok, "failed launch, %s: the next step, on another batch, runs%s%s", calls[i], ok ? "" : ": ",
              ok ? "" : err.msg);
        check(ok && same_params(a, b, m.nparams, &err) && la == lb,
              "failed launch, %s: it changed nothing (the next step's parameters and loss are a fresh backend's)",
              calls[i]);
        free(g);
        if (a) a->destroy(a);
        if (b) b->destroy(b);
        mnist_model_free(&m);
    }
}
#endif

/* set then get gives the same bits; so does the optimizer state, with its step count. */
static void test_round_trips(void) {
    mnist_model m;
    if (make_model(&m, (int[]){MNIST_PIXELS, 130, MNIST_CLASSES}, 3, "relu")) return;
    mnist_err err = {{0}};
    backend_opts o = {.max_batch = 16, .act = MNIST_RELU, .optimizer = MNIST_ADAM, .beta1 = 0.9f, .beta2 = 0.999f,
                      .eps = 1e-8f};
    backend *g = backend_create(MNIST_CUDA, &m, &o, &err);
    if (!check(g != NULL, "round trips: GPU backend created%s%s", g ? "" : ": ", g ? "" : err.msg)) {
        mnist_model_free(&m);
        return;
    }
    size_t np = m.nparams, ns = 2 * np;
    float *p = malloc(np * sizeof(float)), *q = malloc(np * sizeof(float));
    float *s = malloc(ns * sizeof(float)), *t = malloc(ns * sizeof(float));
    for (size_t i = 0; i < np; i++) p[i] = (float)mnist_rng_gauss(&rng), q[i] = NAN;
    for (size_t i = 0; i < ns; i++) s[i] = (float)mnist_rng_gauss(&rng), t[i] = NAN;
    int ok = g->get_params(g, q, &err) == 0 && memcmp(q, m.params, np * sizeof(float)) == 0;
    check(ok, "round trips: the backend starts with the model's parameters, bit for bit");
    ok = g->set_params(g, p, &err) == 0 && g->get_params(g, q, &err) == 0 && memcmp(p, q, np * sizeof(float)) == 0;
    check(ok, "round trips: set_params then get_params gives the same bits");
    uint64_t k = 0;
    ok = g->set_state(g, s, 123456789012ULL, &err) == 0 && g->get_state(g, t, &k, &err) == 0 &&
         memcmp(s, t, ns * sizeof(float)) == 0 && k == 123456789012ULL;
    check(ok, "round trips: set_state then get_state gives the same bits and step count");
    g->destroy(g);
    free(p), free(q), free(s), free(t);
    mnist_model_free(&m);
}

/* Wrong batches are refused with a message, as on the CPU. */
static void test_errors(const rand_data *train) {
    mnist_model m;
    if (make_model(&m, (int[]){MNIST_PIXELS, 32, MNIST_CLASSES}, 3, "tanh")) return;
    mnist_err err = {{0}};
    backend_opts o = {.max_batch = 8, .act = MNIST_TANH};
    backend *g = backend_create(MNIST_CUDA, &m, &o, &err);
    if (!check(g != NULL, "errors: GPU backend created")) {
        mnist_model_free(&m);
        return;
    }
    int32_t idx[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    double l;
    mnist_eval_result r;
    check(g->train_step(g, idx, 4, 0.1f, &l, &err) == -1 && strstr(err.msg, "no training data"),
          "errors: a step before set_data is refused: %s", err.msg);
    check(g->evaluate(g, SPLIT_TEST, &r, &err) == -1, "errors: evaluating a split never given is refused: %s", err.msg);
    g->set_data(g, SPLIT_TRAIN, &train->split, &err);
    check(g->train_step(g, idx, 9, 0.1f, &l, &err) == -1, "errors: a batch over max_batch is refused: %s", err.msg);
    idx[2] = train->split.n;
    check(g->train_step(g, idx, 4, 0.1f, &l, &err) == -1, "errors: an index past the split is refused: %s", err.msg);
    idx[2] = -1;
    check(g->gradient(g, idx, 4, m.params, &l, &err) == -1, "errors: a negative index is refused: %s", err.msg);
    g->destroy(g);
    setenv("MNIST_CUDA_GEMM", "cuBLAS", 1); /* a typo is not taken for the default */
    g = backend_create(MNIST_CUDA, &m, &o, &err);
    check(g == NULL && strstr(err.msg, "MNIST_CUDA_GEMM=cuBLAS"), "errors: an unknown MNIST_CUDA_GEMM is refused: %s",
          g ? "created" : err.msg);
    if (g) g->destroy(g);
    unsetenv("MNIST_CUDA_GEMM");
    mnist_model_free(&m);
}

/* A model's probabilities on the GPU are the CPU's. */
static void test_predict(void) {
    mnist_model m;
    int width = small ? 96 : 1024;
    if (make_model(&m, (int[]){MNIST_PIXELS, width, width, MNIST_CLASSES}, 4, "tanh")) return;
    enum { N = 300 };
    float *x = malloc((size_t)N * MNIST_PIXELS * sizeof(float)), pc[N * MNIST_CLASSES], pg[N * MNIST_CLASSES];
    for (size_t i = 0; i < (size_t)N * MNIST_PIXELS; i++) x[i] = (float)mnist_rng_double(&rng);
    mnist_err err = {{0}};
    int ok = mnist_predict(&m, x, N, pc, &err) == 0 && mnist_predict_on(&m, x, N, MNIST_CUDA, pg, &err) == 0;
    if (check(ok, "predict: runs on both%s%s", ok ? "" : ": ", ok ? "" : err.msg)) {
        double worst = 0;
        int agree = 0;
        for (int r = 0; r < N; r++) {
            int bc = 0, bg = 0;
            for (int j = 0; j < MNIST_CLASSES; j++) {
                float d = fabsf(pg[r * MNIST_CLASSES + j] - pc[r * MNIST_CLASSES + j]);
                worst = worst_of(worst, d);
                if (pc[r * MNIST_CLASSES + j] > pc[r * MNIST_CLASSES + bc]) bc = j;
                if (pg[r * MNIST_CLASSES + j] > pg[r * MNIST_CLASSES + bg]) bg = j;
            }
            agree += bc == bg;
        }
        /* probabilities are at most 1: FP32 through two 1024-wide layers moves them by ~1e-6 */
        check(worst < 1e-5 && agree >= N - 1, "predict: %d inputs: probabilities within %.3g, the same digit for %d",
              N, worst, agree);
    }
    free(x);
    mnist_model_free(&m);
}

/* ---- a cancel --------------------------------------------------------------------------------- */

/* on_epoch: the epoch's stats into ud */
static int on_epoch(void *ud, const mnist_epoch_stats *s) {
    *(mnist_epoch_stats *)ud = *s;
    return 0;
}

typedef struct {
    volatile int cancel;
    int steps, epochs, checkpoints, ck_epoch, ck_step;
    const char *path;
} cancel_run;

static void cancel_step(void *ud, int epoch, int step, int steps, double loss) {
    cancel_run *c = ud;
    (void)steps, (void)loss;
    c->steps++;
    if (epoch == 0 && step == 3) c->cancel = 1;
}

static int cancel_epoch(void *ud, const mnist_epoch_stats *s) {
    (void)s;
    ((cancel_run *)ud)->epochs++;
    return 0;
}

static int cancel_checkpoint(void *ud, const mnist_model *m, const mnist_run_state *st, mnist_err *err) {
    cancel_run *c = ud;
    c->checkpoints++, c->ck_epoch = st->epoch, c->ck_step = st->step;
    mnist_train_opts o = mnist_train_defaults();
    o.epochs = 2, o.batch = 50, o.device = MNIST_CUDA;
    return mnist_checkpoint_save(c->path, m, &o, st, err);
}

/* A cancel during an epoch's steps, which the GPU is given at once: the run stops after them, before the epoch's
 * evaluations, with a checkpoint at the pass's end that resumes bit for bit (the run went on through the
 * evaluations and on_epoch, and wrote the checkpoint of the next epoch twice). */
static void test_cancel(const rand_data *train, const rand_data *test) {
    mnist_data d = {train->split, test->split};
    int sizes[] = {MNIST_PIXELS, 32, MNIST_CLASSES};
    mnist_err err = {{0}};
    mnist_model whole, cut, back;
    mnist_train_opts o = mnist_train_defaults(), ck_o;
    o.epochs = 2, o.batch = 50, o.device = MNIST_CUDA;
    if (!check(mnist_model_create(&whole, sizes, 3, &err) == 0 && mnist_model_create(&cut, sizes, 3, &err) == 0,
               "cancel: the models are made: %s", err.msg))
        return;
    mnist_model_init_lab(&whole, 0.1, 0);
    mnist_model_init_lab(&cut, 0.1, 0);
    int nb = train->split.n / o.batch, rc = mnist_train(&whole, &d, &o, NULL, NULL, &err);
    check(rc == 0, "cancel: 2 epochs straight: %s", rc ? err.msg : "ok");
    char path[] = "/tmp/test_cuda_cancel_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    cancel_run c = {.path = path};
    mnist_train_hooks h = {.on_step = cancel_step, .on_epoch = cancel_epoch, .on_checkpoint = cancel_checkpoint,
                           .ud = &c, .cancel = &c.cancel};
    rc = mnist_train(&cut, &d, &o, &h, NULL, &err);
    check(rc == 1 && c.steps == nb && c.epochs == 0 && c.checkpoints == 1 && c.ck_epoch == 0 && c.ck_step == nb,
          "cancel at step 3 of %d: stopped after the epoch's steps (%d), before its evaluations (%d on_epoch), one "
          "checkpoint (%d) at epoch %d step %d (rc %d%s%s)", nb, c.steps, c.epochs, c.checkpoints, c.ck_epoch,
          c.ck_step, rc, rc < 0 ? ": " : "", rc < 0 ? err.msg : "");
    mnist_run_state st = {0};
    rc = mnist_checkpoint_load(path, &back, &ck_o, &st, &err);
    if (check(rc == 0, "cancel: its checkpoint loads: %s", rc ? err.msg : "ok")) {
        mnist_epoch_stats s = {0};
        h = (mnist_train_hooks){.on_epoch = on_epoch, .ud = &s};
        rc = mnist_train(&back, &d, &o, &h, &st, &err);
        check(rc == 0 && s.epoch == 1 && !memcmp(back.params, whole.params, whole.nparams * sizeof(float)),
              "cancel: resumed from its checkpoint, the run ends bit for bit as the one not stopped (rc %d%s%s)", rc,
              rc ? ": " : "", rc ? err.msg : "");
        mnist_run_state_free(&st);
        mnist_model_free(&back);
    }
    unlink(path);
    mnist_model_free(&whole);
    mnist_model_free(&cut);
}

/* ---- the lab on MNIST --------------------------------------------------------------------- */

/* One epoch of the lab's recipe on the GPU gives the lab's accuracies; a rate that blows up is an
 * error that leaves the model as it was. */
static void test_lab(void) {
    if (small) {
        printf("(MNIST_KERNEL_SMALL: the lab's epoch on MNIST is left out; the run without it has it)\n");
        return;
    }
    const mnist_dataset *ds = mnist_dataset_get("mnist");
    char dir[4096];
    mnist_err err = {{0}};
    mnist_data d;
    if (mnist_data_dir(dir, sizeof dir, NULL, &err) || mnist_data_load(&d, ds, dir, 0, &err)) {
        printf("SKIP lab: MNIST is not in the data folder (%s): the epoch on MNIST did not run\n", err.msg);
        return;
    }
    for (int tf32 = 0; tf32 < 2; tf32++) {
        mnist_model m;
        int sizes[] = {MNIST_PIXELS, 1024, 1024, MNIST_CLASSES};
        if (!check(mnist_model_create(&m, sizes, 4, &err) == 0, "lab: the model is made: %s", err.msg)) break;
        mnist_model_init_lab(&m, 0.1, 0);
        mnist_train_opts o = mnist_train_defaults();
        o.epochs = 1, o.device = MNIST_CUDA, o.tf32 = tf32;
        mnist_epoch_stats s = {0};
        mnist_train_hooks h = {.on_epoch = on_epoch, .ud = &s};
        int rc = mnist_train(&m, &d, &o, &h, NULL, &err);
        /* FP32: a handful of the answers may move (as on the CPU, test_lab.py): 0.0006. TF32 moves
         * more of them: 0.002. */
        double tol = tf32 ? 0.002 : 0.0006;
        check(rc == 0 && fabs(s.test.accuracy - 0.7515) <= tol && fabs(s.train.accuracy - 0.7378) <= tol,
              "lab, %s: epoch 0 test accuracy %.4f (the lab's 0.7515), train %.4f (0.7378), within %g; %.1f ms "
              "training, %.1f ms evaluating%s%s",
              tf32 ? "TF32" : "FP32", s.test.accuracy, s.train.accuracy, tol, 1e3 * s.seconds, 1e3 * s.eval_seconds,
              rc ? ": " : "", rc ? err.msg : "");
        mnist_model_free(&m);
    }
    mnist_model m;
    int sizes[] = {MNIST_PIXELS, 64, MNIST_CLASSES};
    if (check(mnist_model_create(&m, sizes, 3, &err) == 0, "lab: a 784-64-10 model is made: %s", err.msg)) {
        mnist_model_init_lab(&m, 0.1, 0);
        m.params[m.nparams / 3] = NAN; /* the loss is NaN from the first step */
        float *before = malloc(m.nparams * sizeof(float));
        memcpy(before, m.params, m.nparams * sizeof(float));
        mnist_train_opts o = mnist_train_defaults();
        o.epochs = 1, o.device = MNIST_CUDA;
        int rc = mnist_train(&m, &d, &o, NULL, NULL, &err);
        check(rc == -1 && strstr(err.msg, "loss became") && memcmp(before, m.params, m.nparams * sizeof(float)) == 0,
              "lab: a NaN in the model stops training with an error, the model as it was: %s", err.msg);
        free(before);
        mnist_model_free(&m);
    }
    mnist_data_free(&d);
}

int main(void) {
    const char *env = getenv("MNIST_TEST_SEED");
    uint32_t seed = env ? (uint32_t)strtoul(env, NULL, 10) : (uint32_t)time(NULL);
    printf("seed %u (MNIST_TEST_SEED=%u repeats this run)\n", seed, seed);
    mnist_rng_seed(&rng, seed);
    small = getenv("MNIST_KERNEL_SMALL") != NULL;
    mnist_err err = {{0}};
    if (!mnist_have_cuda()) {
        test_no_gpu();
        printf("SKIP test_cuda: this build has no CUDA backend (make built it without nvcc): the GPU checks "
               "did not run\n");
        return check_status();
    }
    if (mnist_device_check(MNIST_CUDA, &err)) {
        test_no_gpu();
        printf("SKIP test_cuda: no GPU here (%s): the GPU checks did not run\n", err.msg);
        return check_status();
    }
    rand_data train, test;
    rand_data_make(&train, 700, MNIST_SIDE);
    rand_data_make(&test, 500, MNIST_SIDE);
    const config configs[] = {
        {"lab shape, tanh, SGD", {MNIST_PIXELS, 1024, 1024, MNIST_CLASSES}, 4, 128, "tanh", {.optimizer = MNIST_SGD}, 2e-5, 1e-3},
        {"odd shape, relu, SGD + weight decay", {MNIST_PIXELS, 97, 33, MNIST_CLASSES}, 4, 37, "relu",
         {.optimizer = MNIST_SGD, .weight_decay = 0.5f}, 2e-5, 1e-3},
        {"no hidden layer", {MNIST_PIXELS, MNIST_CLASSES}, 2, 50, "tanh", {.optimizer = MNIST_SGD}, 2e-5, 1e-3},
        {"12 outputs, 4 layers", {MNIST_PIXELS, 64, 48, 40, 12}, 5, 19, "tanh", {.optimizer = MNIST_SGD}, 2e-5, 1e-3},
        /* over LAST_MAX outputs: the last layer as products and kernels, not fused */
        {"40 outputs, momentum", {MNIST_PIXELS, 64, 40}, 3, 19, "tanh", {.optimizer = MNIST_MOMENTUM, .momentum = 0.9f},
         2e-5, 1e-3},
        {"momentum", {MNIST_PIXELS, 256, 128, MNIST_CLASSES}, 4, 64, "tanh",
         {.optimizer = MNIST_MOMENTUM, .momentum = 0.9f}, 2e-5, 1e-3},
        {"Nesterov + weight decay", {MNIST_PIXELS, 256, 128, MNIST_CLASSES}, 4, 64, "tanh",
         {.optimizer = MNIST_MOMENTUM, .momentum = 0.8f, .nesterov = 1, .weight_decay = 0.1f}, 2e-5, 1e-3},
        {"Adam + weight decay", {MNIST_PIXELS, 256, 128, MNIST_CLASSES}, 4, 64, "tanh",
         {.optimizer = MNIST_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f}, 1e-3, 5e-2},
        {"dropout, tanh, SGD", {MNIST_PIXELS, 200, 100, MNIST_CLASSES}, 4, 64, "tanh",
         {.optimizer = MNIST_SGD, .dropout = 0.3f, .seed = 11}, 2e-5, 1e-3},
        {"dropout + shift, relu, Adam", {MNIST_PIXELS, 200, 100, MNIST_CLASSES}, 4, 64, "relu",
         {.optimizer = MNIST_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .dropout = 0.2f, .seed = 3,
          .shift = 3},
         1e-3, 5e-2},
        {"TF32, lab shape", {MNIST_PIXELS, 1024, 1024, MNIST_CLASSES}, 4, 128, "tanh",
         {.optimizer = MNIST_SGD, .tf32 = 1}, 1e-2, 5e-2},
        {"batch of one, momentum", {MNIST_PIXELS, 64, MNIST_CLASSES}, 3, 1, "tanh",
         {.optimizer = MNIST_MOMENTUM, .momentum = 0.9f}, 2e-5, 1e-3},
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) test_config(&configs[i], &train, &test);
    /* the lab's shape with the last layer unfused, as bench/gpu.py runs it to measure the fusion */
    config unfused = configs[0];
    unfused.name = "lab shape, last layer unfused (MNIST_CUDA_UNFUSED=1)";
    setenv("MNIST_CUDA_UNFUSED", "1", 1);
    test_config(&unfused, &train, &test);
    unsetenv("MNIST_CUDA_UNFUSED");
    /* the same with our own FP32 products (k_mm: split-K, the element-wise work in their epilogues,
     * each hidden bias's step in its weights' product), as bench/gpu.py runs them */
    setenv("MNIST_CUDA_GEMM", "own", 1);
    /* and in TF32 on the tensor cores, at a small shape: on the emulator each thread computes its
     * warp's whole fragment, 32 times the work */
    const config tf32_small = {"TF32, 784-64-32-10", {MNIST_PIXELS, 64, 32, MNIST_CLASSES}, 4, 32, "tanh",
                               {.optimizer = MNIST_MOMENTUM, .momentum = 0.9f, .tf32 = 1}, 1e-2, 5e-2};
    for (size_t i = 0; i <= sizeof configs / sizeof *configs; i++) {
        const config *cf = i < sizeof configs / sizeof *configs ? &configs[i] : &tf32_small;
        if (cf->o.tf32 && cf != &tf32_small) continue;
        config own = *cf;
        char name[128];
        snprintf(name, sizeof name, "own products (MNIST_CUDA_GEMM=own), %s", cf->name);
        own.name = name;
        test_config(&own, &train, &test);
    }
    config own_unfused = configs[3]; /* SGD, every hidden bias stepped by its weights' product */
    own_unfused.name = "own products, 12 outputs, 4 layers, last layer unfused (MNIST_CUDA_UNFUSED=1)";
    setenv("MNIST_CUDA_UNFUSED", "1", 1);
    test_config(&own_unfused, &train, &test);
    unsetenv("MNIST_CUDA_UNFUSED");
    test_graph(&train, "own products, momentum, dropout, shifts",
               (backend_opts){.optimizer = MNIST_MOMENTUM, .momentum = 0.9f, .dropout = 0.25f, .seed = 7, .shift = 2});
    test_graph(&train, "own products, SGD + weight decay, the batch gathered by the products",
               (backend_opts){.optimizer = MNIST_SGD, .weight_decay = 0.5f});
    unsetenv("MNIST_CUDA_GEMM");
#ifdef MNIST_CUDA_EMU
    test_graph_fallback(&train);
    test_failed_launch(&train);
#endif
    test_cancel(&train, &test);
    test_graph(&train, "momentum, dropout, shifts",
               (backend_opts){.optimizer = MNIST_MOMENTUM, .momentum = 0.9f, .dropout = 0.25f, .seed = 7, .shift = 2});
    test_graph(&train, "SGD + weight decay", (backend_opts){.optimizer = MNIST_SGD, .weight_decay = 0.5f});
    test_round_trips();
    test_errors(&train);
    test_predict();
    test_lab();
    /* dropout and shifts with Adam, as above but with tanh, held to the tight tolerances (with ReLU
     * its jump leaves only gross faults to catch: see test_config), with cuBLAS and with our own
     * products; last, so that the seeds named above still repeat their runs */
    config tanh_adam = {"dropout + shift, tanh, Adam", {MNIST_PIXELS, 200, 100, MNIST_CLASSES}, 4, 64, "tanh",
                        {.optimizer = MNIST_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .dropout = 0.2f,
                         .seed = 3, .shift = 3},
                        1e-3, 5e-2};
    test_config(&tanh_adam, &train, &test);
    setenv("MNIST_CUDA_GEMM", "own", 1);
    tanh_adam.name = "own products (MNIST_CUDA_GEMM=own), dropout + shift, tanh, Adam";
    test_config(&tanh_adam, &train, &test);
    /* FP32 as 3xTF32 on the tensor cores (MNIST_CUDA_GEMM=own3), held to FP32's tolerances, at
     * small shapes as TF32 is above */
    setenv("MNIST_CUDA_GEMM", "own3", 1);
    const config x3[] = {
        {"3xTF32 (MNIST_CUDA_GEMM=own3), 784-64-32-10, momentum", {MNIST_PIXELS, 64, 32, MNIST_CLASSES}, 4, 32, "tanh",
         {.optimizer = MNIST_MOMENTUM, .momentum = 0.9f}, 2e-5, 1e-3},
        {"3xTF32 (MNIST_CUDA_GEMM=own3), 784-48-10, dropout, SGD + weight decay", {MNIST_PIXELS, 48, MNIST_CLASSES}, 3, 19,
         "tanh", {.optimizer = MNIST_SGD, .weight_decay = 0.5f, .dropout = 0.3f, .seed = 11}, 2e-5, 1e-3},
    };
    /* (not with MNIST_KERNEL_SMALL: 3xTF32 reads and writes as TF32 does, above, three times the work) */
    for (size_t i = 0; i < sizeof x3 / sizeof *x3 && !small; i++) test_config(&x3[i], &train, &test);
    unsetenv("MNIST_CUDA_GEMM");
    rand_data_free(&train);
    rand_data_free(&test);
    return check_status();
}
