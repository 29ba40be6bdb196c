/* checkpoint.c: a run's state in a safetensors file beside its model, so that a run stopped
 * and resumed ends bit-identical to one that never stopped. Doubles are kept as C99 hex
 * floats ("%a"), exact both ways. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "safetensors.h"
#include "util.h"

#define VERSION 1
/* A checkpoint's step, count of examples, batch and validation: more than any training set holds. */
#define MAX_COUNT (1 << 30)

static const char *const optimizer_names[] = {"sgd", "momentum", "adam"};
static const char *const schedule_names[] = {"constant", "cosine", "step"};

static int add_hex(cJSON *o, const char *key, double v) {
    char s[64];
    snprintf(s, sizeof s, "%a", v);
    return cJSON_AddStringToObject(o, key, s) != NULL;
}

static char *state_json(const mnist_train_opts *o, const mnist_run_state *st) {
    json_watch(); /* not read (each call is checked): cJSON allocates as everywhere, and the sweeps reach it */
    cJSON *root = cJSON_CreateObject(), *opt = cJSON_AddObjectToObject(root, "options");
    cJSON *rng = cJSON_AddObjectToObject(root, "rng");
    char steps[24];
    snprintf(steps, sizeof steps, "%llu", (unsigned long long)st->steps_done);
    int ok = root && opt && rng && cJSON_AddNumberToObject(root, "version", VERSION) &&
             cJSON_AddNumberToObject(root, "epoch", st->epoch) && cJSON_AddNumberToObject(root, "step", st->step) &&
             (!st->examples || cJSON_AddNumberToObject(root, "examples", st->examples)) &&
             (!st->data_sha256[0] || cJSON_AddStringToObject(root, "data_sha256", st->data_sha256)) &&
             cJSON_AddStringToObject(root, "steps_done", steps) && add_hex(root, "loss_sum", st->loss_sum) &&
             cJSON_AddNumberToObject(rng, "pos", st->order.pos) &&
             cJSON_AddNumberToObject(rng, "has_gauss", st->order.has_gauss) && add_hex(rng, "gauss", st->order.gauss) &&
             add_hex(opt, "lr", o->lr) && cJSON_AddNumberToObject(opt, "batch", o->batch) &&
             cJSON_AddNumberToObject(opt, "epochs", o->epochs) && cJSON_AddNumberToObject(opt, "seed", o->seed) &&
             cJSON_AddStringToObject(opt, "optimizer", optimizer_names[o->optimizer]) &&
             add_hex(opt, "momentum", o->momentum) && cJSON_AddNumberToObject(opt, "nesterov", o->nesterov) &&
             add_hex(opt, "beta1", o->beta1) && add_hex(opt, "beta2", o->beta2) && add_hex(opt, "eps", o->eps) &&
             add_hex(opt, "weight_decay", o->weight_decay) && add_hex(opt, "dropout", o->dropout) &&
             cJSON_AddStringToObject(opt, "schedule", schedule_names[o->schedule]) &&
             cJSON_AddNumberToObject(opt, "validation", o->validation) &&
             cJSON_AddNumberToObject(opt, "eval_train", o->eval_train) &&
             cJSON_AddNumberToObject(opt, "shift", o->shift) && cJSON_AddNumberToObject(opt, "flip", o->flip);
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

int mnist_checkpoint_save(const char *path, const mnist_model *m, const mnist_train_opts *o,
                          const mnist_run_state *st, mnist_err *err) {
    /* the enums may come from a caller's arithmetic (as mnist_train_check says): they name strings here */
    if ((unsigned)o->optimizer > MNIST_ADAM)
        return errf(err, "%s: optimizer %d is not sgd, momentum or adam", path, (int)o->optimizer);
    if ((unsigned)o->schedule > MNIST_STEP)
        return errf(err, "%s: schedule %d is not constant, cosine or step", path, (int)o->schedule);
    char *train = state_json(o, st);
    if (!train) return errf(err, "%s: out of memory building the checkpoint", path);
    st_extra x[2] = {{.name = "train.rng", .dtype = "U32", .count = MNIST_RNG_WORDS, .bytes = sizeof st->order.key, .data = (void *)st->order.key},
                     {.name = "train.optimizer", .dtype = "F32", .count = st->nstate, .bytes = st->nstate * 4,
                      .data = st->state}};
    int rc = st_save(m, path, "mnist-checkpoint", train, x, st->nstate ? 2 : 1, err);
    cJSON_free(train);
    return rc;
}

/* The integer at key in o, within [lo, hi]. */
static int get_int(const cJSON *o, const char *key, long lo, long hi, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
        v->valuedouble != (double)(long)v->valuedouble)
        return -1;
    *out = (long)v->valuedouble;
    return 0;
}

/* The finite double at key, a hex float string; strtod would also take "nan" and "inf", which
 * no run writes (its loss and options are finite) and which would reach the JSON lines. */
static int get_hex(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *end;
    if (!cJSON_IsString(v)) return -1;
    errno = 0;
    *out = strtod(v->valuestring, &end);
    return *v->valuestring && !*end && !errno && isfinite(*out) ? 0 : -1;
}

static int get_name(const cJSON *o, const char *key, const char *const *names, int n, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    for (int i = 0; cJSON_IsString(v) && i < n; i++)
        if (!strcmp(v->valuestring, names[i])) return *out = i, 0;
    return -1;
}

/* A count written as decimal digits only (a uint64_t does not fit a JSON number exactly): no sign,
 * no space, nothing after, at most 2^53. The optimizer takes the step count as a double (Adam's
 * 1 - beta^t): past 2^53 it is not exact, and 2^64 - 1 wrapped to step 0 there, a division by
 * zero that stopped training with "the loss became NaN ... the learning rate is probably too
 * high". 0, or -1 when s is not such a count. */
static int get_u64(const char *s, uint64_t *out) {
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > (1ull << 53)) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* out = the 64 lowercase hex digits of o's string field key; 0, or -1 when it is not such a string. */
static int get_sha256(const cJSON *o, const char *key, char out[65]) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(it) || strlen(it->valuestring) != 64 ||
        strspn(it->valuestring, "0123456789abcdef") != 64)
        return -1;
    memcpy(out, it->valuestring, 65);
    return 0;
}

/* The train metadata's length at most: state_json writes under 1 kB (450 bytes for Adam). The
 * header's JSON values are counted before it is parsed (safetensors.c), but this one is a string in
 * it, parsed here: a 40 MB string of "0," took cJSON 1.6 GB (and the header may hold 100 MB). */
#define TRAIN_MAX (64 << 10)

/* The first number in the JSON text s written otherwise than in digits alone (a sign, a point, an
 * exponent, a leading zero), its length in *n; or NULL. state_json writes whole numbers only, and
 * cJSON keeps a double, in which 1.0, 1e0 and -0 pass for 1 and 0. */
static const char *not_whole(const char *s, int *n) {
    const char *end = s + strlen(s);
    for (const char *p = s; p < end;) {
        const char *t = json_next_number(&p, end);
        if (t < end && !json_whole(t, (int)(p - t))) return *n = (int)(p - t), t;
    }
    return NULL;
}

/* Whether one of the train metadata's objects (the root, options, rng) holds a key twice, its name
 * into out (cap bytes): cJSON's lookup takes the first, Python's json the last, so such a checkpoint
 * would resume from one state here and read as another there. */
static int key_twice(const cJSON *const objs[3], char *out, size_t cap) {
    static const char *const prefix[] = {"", "options.", "rng."};
    char kb[64];
    for (int i = 0; i < 3; i++)
        for (const cJSON *a = objs[i]->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (!strcmp(a->string, b->string)) {
                    snprintf(out, cap, "%s%s", prefix[i], shown(a->string, kb, sizeof kb));
                    return 1;
                }
    return 0;
}

/* o and st (but its state) from the train metadata; the first field that is off, or NULL. A field
 * given twice: twice (cap bytes) gets its name. */
static const char *parse_state(const char *json, mnist_train_opts *o, mnist_run_state *st, char *twice, size_t cap) {
    cJSON *root = cJSON_ParseWithOpts(json, NULL, 1); /* nothing after the JSON */
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "options");
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(root, "rng");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps_done");
    const char *bad = NULL;
    long v, ver = 0;
    int k;
    *o = mnist_train_defaults();
    if (!cJSON_IsObject(root) || !cJSON_IsObject(opt) || !cJSON_IsObject(rng)) bad = "train metadata";
    else if (key_twice((const cJSON *const[3]){root, opt, rng}, twice, cap)) bad = twice;
    else if (get_int(root, "version", 0, 1000, &ver) || ver != VERSION) bad = "version";
    else if (get_int(root, "epoch", 0, MNIST_MAX_EPOCHS, &v) || (st->epoch = (int)v, 0)) bad = "epoch";
    else if (get_int(root, "step", 0, MAX_COUNT, &v) || (st->step = (int)v, 0)) bad = "step";
    else if (cJSON_GetObjectItemCaseSensitive(root, "examples") && /* absent in earlier versions' */
             (get_int(root, "examples", 1, MAX_COUNT, &v) || (st->examples = (int)v, 0)))
        bad = "examples";
    else if (cJSON_GetObjectItemCaseSensitive(root, "data_sha256") && /* absent in earlier versions' */
             get_sha256(root, "data_sha256", st->data_sha256))
        bad = "data_sha256";
    else if (!cJSON_IsString(steps) || get_u64(steps->valuestring, &st->steps_done)) bad = "steps_done";
    else if (get_hex(root, "loss_sum", &st->loss_sum)) bad = "loss_sum";
    else if (get_int(rng, "pos", 0, MNIST_RNG_WORDS, &v) || (st->order.pos = (int)v, 0)) bad = "rng.pos";
    else if (get_int(rng, "has_gauss", 0, 1, &v) || (st->order.has_gauss = (int)v, 0)) bad = "rng.has_gauss";
    else if (get_hex(rng, "gauss", &st->order.gauss)) bad = "rng.gauss";
    else if (get_hex(opt, "lr", &o->lr)) bad = "options.lr";
    else if (get_int(opt, "batch", 1, MAX_COUNT, &v) || (o->batch = (int)v, 0)) bad = "options.batch";
    else if (get_int(opt, "epochs", 0, MNIST_MAX_EPOCHS, &v) || (o->epochs = (int)v, 0)) bad = "options.epochs";
    else if (get_int(opt, "seed", 0, 0xffffffffL, &v) || (o->seed = (uint32_t)v, 0)) bad = "options.seed";
    else if (get_name(opt, "optimizer", optimizer_names, 3, &k) || (o->optimizer = (mnist_optimizer)k, 0))
        bad = "options.optimizer";
    else if (get_hex(opt, "momentum", &o->momentum)) bad = "options.momentum";
    else if (get_int(opt, "nesterov", 0, 1, &v) || (o->nesterov = (int)v, 0)) bad = "options.nesterov";
    else if (get_hex(opt, "beta1", &o->beta1) || get_hex(opt, "beta2", &o->beta2) || get_hex(opt, "eps", &o->eps))
        bad = "options.beta1/beta2/eps";
    else if (get_hex(opt, "weight_decay", &o->weight_decay)) bad = "options.weight_decay";
    else if (get_hex(opt, "dropout", &o->dropout)) bad = "options.dropout";
    else if (get_name(opt, "schedule", schedule_names, 3, &k) || (o->schedule = (mnist_schedule)k, 0))
        bad = "options.schedule";
    else if (get_int(opt, "validation", 0, MAX_COUNT, &v) || (o->validation = (int)v, 0)) bad = "options.validation";
    else if (get_int(opt, "eval_train", 0, 1, &v) || (o->eval_train = (int)v, 0)) bad = "options.eval_train";
    else if (get_int(opt, "shift", 0, MNIST_MAX_SHIFT, &v) || (o->shift = (int)v, 0)) bad = "options.shift";
    else if (get_int(opt, "flip", 0, 1, &v) || (o->flip = (int)v, 0)) bad = "options.flip";
    cJSON_Delete(root);
    return bad;
}

int mnist_checkpoint_load(const char *path, mnist_model *m, mnist_train_opts *o, mnist_run_state *st,
                          mnist_err *err) {
    memset(st, 0, sizeof *st);
    st_extra x[ST_MAX_EXTRA];
    int nx = 0;
    char *train = NULL;
    if (st_load(m, path, x, &nx, &train, err)) return -1;
    size_t tlen = strlen(train);
    *o = mnist_train_defaults();
    char twice[96] = "", lit[32] = ""; /* a field given twice; a number not whole (train is freed below) */
    int nw = 0;
    const char *whole = tlen > TRAIN_MAX ? NULL : not_whole(train, &nw);
    if (whole) snprintf(lit, sizeof lit, "%.*s", nw < 24 ? nw : 24, whole);
    json_watch();
    const char *bad = tlen > TRAIN_MAX ? "train" : whole ? "number" : parse_state(train, o, st, twice, sizeof twice);
    int no_memory = json_ran_out(); /* cJSON's parse: it said the metadata was malformed */
    const st_extra *rng = NULL, *opt = NULL;
    for (int i = 0; i < nx; i++) {
        if (!strcmp(x[i].name, "train.rng") && !strcmp(x[i].dtype, "U32") && x[i].count == MNIST_RNG_WORDS) rng = &x[i];
        else if (!strcmp(x[i].name, "train.optimizer") && !strcmp(x[i].dtype, "F32")) opt = &x[i];
        else if (!bad) bad = x[i].name;
    }
    size_t want = (size_t)mnist_optimizer_slots(o->optimizer) * m->nparams;
    if (!bad && !rng) bad = "train.rng (U32 [624])";
    if (!bad && (opt ? opt->count : 0) != want) bad = "train.optimizer (its size does not fit the optimizer)";
    /* MT19937's 19937 bits (the first word's top bit and the other 623 words) all 0: it gives 0 forever, every
     * epoch's batch order the same (numpy's own seeding never makes it) */
    uint32_t state = 0;
    for (int k = 0; !bad && k < MNIST_RNG_WORDS; k++) state |= ((const uint32_t *)rng->data)[k] & (k ? ~0u : 1u << 31);
    if (!bad && !state) bad = "train.rng (its 19937 bits are 0: a generator that gives 0 forever)";
    /* Adam's second moments (the state's second half) are averages of squares: one below 0 made its
     * square root NaN at the first step, which training blamed on the learning rate */
    size_t below = 0; /* the index of the first below 0, when not 0 (the first half is the first moments) */
    for (size_t i = m->nparams; !bad && o->optimizer == MNIST_ADAM && i < want; i++)
        if (((const float *)opt->data)[i] < 0) {
            below = i, bad = "train.optimizer";
            break;
        }
    float moment = below ? ((const float *)opt->data)[below] : 0; /* opt is freed below */
    long taken = -1; /* the optimizer state's buffer becomes st's */
    if (!bad) {
        memcpy(st->order.key, rng->data, sizeof st->order.key);
        st->nstate = want;
        if (opt) st->state = opt->data, taken = opt - x;
    }
    for (int i = 0; i < nx; i++)
        if (i != taken) free(x[i].data);
    free(train);
    if (bad) {
        mnist_model_free(m);
        mnist_run_state_free(st);
        if (no_memory) return errf(err, "%s: out of memory reading the checkpoint's train metadata", path);
        if (tlen > TRAIN_MAX)
            return errf(err, "%s: the checkpoint's train metadata is %zu bytes, over the limit of %d (a run's is "
                             "under 1 kB)", path, tlen, TRAIN_MAX);
        if (lit[0])
            return errf(err, "%s: the checkpoint's train metadata holds %s: its numbers are whole, written in digits "
                             "alone", path, lit);
        if (twice[0]) return errf(err, "%s: checkpoint field %s appears twice", path, twice);
        if (below)
            return errf(err, "%s: train.optimizer holds %g at index %zu, an Adam second moment: those are averages of "
                             "squares, never below 0", path, (double)moment, below);
        return errf(err, "%s: checkpoint field %s is missing or malformed", path, bad);
    }
    return 0;
}
