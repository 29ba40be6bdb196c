/* safetensors.c: model files in the Hugging Face safetensors format.
 *
 * A file is: u64 N (little-endian), N bytes of JSON header, then the tensor data. The header maps
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data),
 * plus an optional "__metadata__" object of strings (null: none). The reader checks all that the reference
 * reader (the Rust safetensors crate) checks, then our names, dtype and shapes, before it
 * allocates or reads a single tensor byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "safetensors.h"
#include "util.h"

/* Tensor data is written and read as the host's float32 bytes, which safetensors says are
 * little-endian: a big-endian host would need a byte swap here. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif
_Static_assert(sizeof(float) == 4, "float must be IEEE 754 binary32");

#define MAX_HEADER ST_MAX_HEADER  /* the reference reader's limit on N */
/* the reference reader's JSON parser (serde_json) refuses deeper nesting, in the fields it ignores
 * too (it parses the whole header); cJSON's own limit is 1000 */
#define MAX_DEPTH 127
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger doubles are not exact integers */
/* JSON values in a header at most: a model's holds a few hundred (20 tensors of 8 and the metadata),
 * and each costs the parser about 64 bytes however short its text: a 60 MB header of "0," took 2.4 GB */
#define MAX_VALUES 100000

/* Model files hold only finite floats: training stops when its model stops being finite, and
 * predict, eval and serve would answer NaN for a model holding one. -1 with "PATH: DOING NAME holds
 * NaN at index I" (DOING: "cannot save: " or "") when p[0..n) holds one, else 0. */
static int refuse_nonfinite(const char *path, const char *doing, const char *name, const float *p, size_t n,
                            mnist_err *err) {
    size_t at = first_nonfinite(p, n);
    return at < n ? errf(err, "%s: %s%s holds %s at index %zu", path, doing, name, nonfinite_name(p[at]), at) : 0;
}

/* The metadata's "layers": sizes[0..nl] as "784,1024,1024,10". */
#define LAYERS_CAP (16 * (MNIST_MAX_LAYERS + 1)) /* 16 a size: a comma and up to 7 digits (MAX_WIDTH) */
static void layers_text(char out[LAYERS_CAP], const int *sizes, int nl) {
    size_t len = 0;
    for (int i = 0; i <= nl; i++) len += (size_t)snprintf(out + len, LAYERS_CAP - len, i ? ",%d" : "%d", sizes[i]);
}

static int check_utf8(const unsigned char *s, size_t n);

/* ---- writing ------------------------------------------------------------ */

/* Append the unsigned integer v to array, printed exactly (not through a double). */
static int add_uint(cJSON *array, uint64_t v) {
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    cJSON *it = cJSON_CreateRaw(s);
    if (!it || !cJSON_AddItemToArray(array, it)) {
        cJSON_Delete(it);
        return -1;
    }
    return 0;
}

/* The header JSON for m and the extra tensors, or NULL when out of memory. */
static char *header_json(const mnist_model *m, const char *layers, const char *format, const char *train,
                         const st_extra *extra, int nextra) {
    json_watch(); /* not read (each call is checked): cJSON allocates as everywhere, and the sweeps reach it */
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
    int ok = root && meta && cJSON_AddStringToObject(meta, "format", format) &&
             cJSON_AddStringToObject(meta, "layers", layers) &&
             cJSON_AddStringToObject(meta, "activation", m->activation) &&
             cJSON_AddStringToObject(meta, "dataset", m->dataset) &&
             (!train || cJSON_AddStringToObject(meta, "train", train));
    uint64_t begin = 0;
    for (int i = 0; ok && i < m->ntensors + nextra; i++) {
        const mnist_tensor *t = i < m->ntensors ? &m->tensors[i] : NULL;
        const st_extra *x = t ? NULL : &extra[i - m->ntensors];
        uint64_t end = begin + (t ? (uint64_t)t->count * sizeof(float) : x->bytes);
        cJSON *e = cJSON_AddObjectToObject(root, t ? t->name : x->name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        ok = e && cJSON_AddStringToObject(e, "dtype", t ? "F32" : x->dtype) && shape;
        for (int d = 0; ok && d < (t ? t->ndim : 1); d++)
            ok = add_uint(shape, t ? (uint64_t)t->shape[d] : x->count) == 0;
        cJSON *off = ok ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = off && add_uint(off, begin) == 0 && add_uint(off, end) == 0;
        begin = end;
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

/* Check that m's table is the one mnist_model_create builds and its floats are finite, so the file
 * will load back. */
static int check_table(const mnist_model *m, const char *path, mnist_err *err) {
    if (!m->params || m->nlayers < 1 || m->nlayers > MNIST_MAX_LAYERS || m->ntensors != 2 * m->nlayers ||
        !memchr(m->activation, 0, sizeof m->activation) || !memchr(m->dataset, 0, sizeof m->dataset) || !m->dataset[0])
        return errf(err, "%s: cannot save an empty or malformed model", path);
    char ab[64]; /* the reader takes these two; mnist_model_activation would run another as tanh */
    if (strcmp(m->activation, "tanh") != 0 && strcmp(m->activation, "relu") != 0)
        return errf(err, "%s: cannot save: activation \"%s\" is not tanh or relu", path,
                    shown(m->activation, ab, sizeof ab));
    if (check_utf8((const unsigned char *)m->dataset, strlen(m->dataset))) /* the reader refuses such a header */
        return errf(err, "%s: cannot save: the dataset name \"%s\" is not valid UTF-8", path,
                    shown(m->dataset, ab, sizeof ab));
    for (int i = 0; i < m->ntensors; i++) {
        const mnist_tensor *t = &m->tensors[i];
        int l = i / 2, out = m->sizes[l + 1], in = i % 2 ? out : m->sizes[l];
        char want[32];
        snprintf(want, sizeof want, "layers.%d.%s", l, i % 2 ? "bias" : "kernel");
        size_t n;
        if (strncmp(t->name, want, sizeof t->name) != 0 || t->ndim != 2 - i % 2 || t->shape[0] != in ||
            (i % 2 == 0 && t->shape[1] != out) || in < 1 || out < 1 || in > MAX_WIDTH || out > MAX_WIDTH ||
            mul_size((size_t)in, i % 2 ? 1 : (size_t)out, &n) || n != t->count || t->offset > m->nparams ||
            t->count > m->nparams - t->offset)
            return errf(err, "%s: cannot save: tensor %d of the model's table is not %s shaped by the layer sizes", path, i, want);
        if (refuse_nonfinite(path, "cannot save: ", t->name, m->params + t->offset, t->count, err))
            return -1; /* the reader would refuse the file */
    }
    return 0;
}

int st_save(const mnist_model *m, const char *path, const char *format, const char *train, const st_extra *extra,
            int nextra, mnist_err *err) {
    if (check_table(m, path, err)) return -1;
    for (int i = 0; i < nextra; i++)
        if (!strcmp(extra[i].dtype, "F32") &&
            refuse_nonfinite(path, "cannot save: ", extra[i].name, extra[i].data, extra[i].count, err))
            return -1;
    char layers[LAYERS_CAP];
    layers_text(layers, m->sizes, m->nlayers);
    char *json = header_json(m, layers, format, train, extra, nextra);
    if (!json) return errf(err, "%s: out of memory building the header", path);
    size_t hlen = strlen(json), pad = (8 - hlen % 8) % 8; /* data starts 8-aligned, as the reference pads */
    uint64_t n = (uint64_t)(hlen + pad);
    unsigned char nle[8];
    for (int i = 0; i < 8; i++) nle[i] = (unsigned char)(n >> (8 * i));

    atomic_file a;
    if (atomic_open(&a, path, err)) {
        cJSON_free(json);
        return -1;
    }
    int ok = fwrite(nle, 1, 8, a.f) == 8 && fwrite(json, 1, hlen, a.f) == hlen;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', a.f) != EOF;
    for (int i = 0; ok && i < m->ntensors; i++) {
        size_t c = m->tensors[i].count;
        ok = fwrite(mnist_model_tensor(m, i), sizeof(float), c, a.f) == c;
    }
    for (int i = 0; ok && i < nextra; i++) ok = fwrite(extra[i].data, 1, extra[i].bytes, a.f) == extra[i].bytes;
    int e = errno;
    cJSON_free(json);
    if (!ok) {
        atomic_abort(&a);
        return errf(err, "%s: write failed: %s (the previous file, if any, is unchanged)", path, strerror(e));
    }
    return atomic_commit(&a, err);
}

int mnist_model_save(const mnist_model *m, const char *path, mnist_err *err) {
    return st_save(m, path, "mnist", NULL, NULL, 0, err);
}

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    const char *name, *dtype;
    int esize;                /* bytes per element; 0 for dtypes we do not know */
    int ndim;
    uint64_t shape[2];        /* only the first two dims are kept; ndim says how many there were */
    uint64_t begin, end;
    int slot;                 /* index in our tensor table */
} entry;

static const struct { const char *name; int size; } dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"C64", 8},
};

/* 0 when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int check_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = (size_t)utf8_length(s + i, n - i))) return -1;
    return 0;
}

/* *out = the JSON number v as a non-negative integer; -1 when it is not one. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_JSON_INT) || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* The numbers of shape and data_offsets are written as whole numbers: digits alone, no sign, point,
 * exponent or leading zero, as the reference reader (serde_json into usize) wants; cJSON keeps only
 * a double, 2 for 2.0, 2e0 and 2E0, 0 for -0. Every number is JSON's, and within a double's range
 * (the reference reader parses every one, also those of fields it ignores: 1e400 is out of its
 * range). cJSON's nodes come in the text's order, so the values from v on (at depth 1: the header's
 * entries) are walked in that order, each number taking the next literal of the text buf at *p.
 * tensor and field: the entry and its shape or data_offsets array that the values are in, or NULL. */
static int check_literals(const cJSON *v, int depth, const char *tensor, const char *field, const char *buf,
                          const char **p, const char *end, const char *path, mnist_err *err) {
    for (; v; v = v->next) {
        if (cJSON_IsNumber(v)) {
            const char *s = json_next_number(p, end);
            int n = (int)(*p - s);
            char nb[64];
            if (depth == 3 && field && !json_whole(s, n))
                return errf(err, "%s: tensor \"%s\": %s holds %.*s: a whole number >= 0 is written in digits alone "
                            "(no sign, point, exponent or leading zero)", path, shown(tensor, nb, sizeof nb), field,
                            n < 24 ? n : 24, s);
            if (!json_number(s, n))
                return errf(err, "%s: header is not valid JSON (the number %.*s at byte %zu)", path, n < 24 ? n : 24, s,
                            (size_t)(s - buf));
            if (!isfinite(v->valuedouble))
                return errf(err, "%s: header holds the number %.*s at byte %zu, beyond a double's range", path,
                            n < 24 ? n : 24, s, (size_t)(s - buf));
        }
        const char *t = depth == 1 && cJSON_IsObject(v) && strcmp(v->string, "__metadata__") ? v->string : tensor;
        const char *f = depth == 2 && tensor && cJSON_IsArray(v) &&
                        (!strcmp(v->string, "shape") || !strcmp(v->string, "data_offsets")) ? v->string : NULL;
        if (check_literals(v->child, depth + 1, t, f, buf, p, end, path, err)) return -1;
    }
    return 0;
}

/* Fill e from the header entry it (the reference reader's per-tensor checks). */
static int parse_entry(const cJSON *it, entry *e, const char *path, mnist_err *err) {
    char nb[64];
    const char *nm = shown(it->string, nb, sizeof nb);
    memset(e, 0, sizeof *e);
    e->name = it->string;
    e->slot = -1;
    if (!cJSON_IsObject(it)) return errf(err, "%s: header entry \"%s\" is not an object", path, nm);
    /* a field twice: cJSON's lookup takes the first, Python's json the last ("shape": [2,3] then
     * [3,2] would be read transposed by one of them); the reference reader refuses it */
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    for (int k = 0; k < 3; k++) {
        int seen = 0;
        for (const cJSON *f = it->child; f; f = f->next) seen += !strcmp(f->string, fields[k]);
        if (seen > 1) return errf(err, "%s: tensor \"%s\" has \"%s\" %d times", path, nm, fields[k], seen);
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!dt || !sh || !of)
        return errf(err, "%s: tensor \"%s\" lacks \"%s\"", path, nm, !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt)) return errf(err, "%s: tensor \"%s\": dtype is not a string", path, nm);
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dt->valuestring, dtypes[i].name) == 0) e->esize = dtypes[i].size, e->dtype = dtypes[i].name;
    char db[64];
    if (!e->esize) return errf(err, "%s: tensor \"%s\" has unknown dtype \"%s\"", path, nm, shown(dt->valuestring, db, sizeof db));
    if (!cJSON_IsArray(sh)) return errf(err, "%s: tensor \"%s\": shape is not an array", path, nm);
    uint64_t bytes = (uint64_t)e->esize;
    for (const cJSON *d = sh->child; d; d = d->next) {
        uint64_t v;
        if (json_uint(d, &v)) return errf(err, "%s: tensor \"%s\": shape holds something other than a whole number >= 0", path, nm);
        if (e->ndim < 2) e->shape[e->ndim] = v;
        e->ndim++;
        if (v && bytes > UINT64_MAX / v) return errf(err, "%s: tensor \"%s\": shape overflows", path, nm);
        bytes *= v;
    }
    uint64_t o[2];
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_uint(of->child, &o[0]) || json_uint(of->child->next, &o[1]))
        return errf(err, "%s: tensor \"%s\": data_offsets is not two whole numbers >= 0", path, nm);
    e->begin = o[0], e->end = o[1];
    if (e->begin > e->end) return errf(err, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin", path, nm,
                                        (unsigned long long)o[0], (unsigned long long)o[1]);
    if (e->end - e->begin != bytes)
        return errf(err, "%s: tensor \"%s\" spans %llu bytes but its dtype and shape need %llu", path, nm,
                    (unsigned long long)(e->end - e->begin), (unsigned long long)bytes);
    return 0;
}

static int by_offset(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

/* The table slot named by s ("layers.{i}.kernel" -> 2i, "layers.{i}.bias" -> 2i+1), or -1. */
static int name_slot(const char *s) {
    if (strncmp(s, "layers.", 7) != 0 || s[7] < '0' || s[7] > '9') return -1;
    int i = s[7] - '0';
    const char *p = s + 8;
    if (*p >= '0' && *p <= '9' && i) i = 10 * i + (*p++ - '0'); /* no leading zeros */
    if (i >= MNIST_MAX_LAYERS) return -1;
    if (strcmp(p, ".kernel") == 0) return 2 * i;
    if (strcmp(p, ".bias") == 0) return 2 * i + 1;
    return -1;
}

/* Our rules on top of the format's: F32 tensors named and shaped as a chain of layers.
 * Fills sizes (nlayers + 1 of them) and each entry's slot. */
static int check_model(entry *es, int n, int allow_extra, int *sizes, int *nlayers, const char *path, mnist_err *err) {
    int at[2 * MNIST_MAX_LAYERS], L = 0, nextra = 0;
    char nb[64];
    for (int i = 0; i < 2 * MNIST_MAX_LAYERS; i++) at[i] = -1;
    for (int i = 0; i < n; i++) {
        const char *nm = shown(es[i].name, nb, sizeof nb);
        if (allow_extra && !strncmp(es[i].name, ST_EXTRA_PREFIX, strlen(ST_EXTRA_PREFIX))) {
            if (es[i].ndim != 1) return errf(err, "%s: tensor \"%s\" must be one-dimensional", path, nm);
            if (++nextra > ST_MAX_EXTRA) return errf(err, "%s: more than %d tensors %s*", path, ST_MAX_EXTRA, ST_EXTRA_PREFIX);
            continue; /* slot -1: a checkpoint's tensor, not the model's */
        }
        int s = name_slot(es[i].name);
        if (s < 0) return errf(err, "%s: unexpected tensor \"%s\" (want layers.{0..%d}.kernel and .bias)", path, nm, MNIST_MAX_LAYERS - 1);
        if (at[s] >= 0) return errf(err, "%s: tensor \"%s\" appears twice", path, nm);
        if (strcmp(es[i].dtype, "F32") != 0) return errf(err, "%s: tensor \"%s\" has dtype %s; only F32 is supported", path, nm, es[i].dtype);
        at[s] = i;
        es[i].slot = s;
        if (s / 2 + 1 > L) L = s / 2 + 1;
    }
    if (L == 0) return errf(err, "%s: no tensors", path);
    for (int s = 0; s < 2 * L; s++)
        if (at[s] < 0) return errf(err, "%s: missing tensor layers.%d.%s", path, s / 2, s % 2 ? "bias" : "kernel");
    for (int l = 0; l < L; l++) {
        const entry *w = &es[at[2 * l]], *b = &es[at[2 * l + 1]];
        if (w->ndim != 2 || w->shape[0] < 1 || w->shape[0] > MAX_WIDTH || w->shape[1] < 1 || w->shape[1] > MAX_WIDTH)
            return errf(err, "%s: layers.%d.kernel must have shape [in, out] with sizes 1..%d", path, l, MAX_WIDTH);
        if (b->ndim != 1 || b->shape[0] != w->shape[1])
            return errf(err, "%s: layers.%d.bias must have shape [%llu] to match layers.%d.kernel", path, l,
                        (unsigned long long)w->shape[1], l);
        if (l == 0) sizes[0] = (int)w->shape[0];
        else if (w->shape[0] != (uint64_t)sizes[l])
            return errf(err, "%s: layers.%d.kernel has %llu input%s but layers.%d.kernel has %d output%s", path, l,
                        (unsigned long long)w->shape[0], w->shape[0] == 1 ? "" : "s", l - 1, sizes[l],
                        sizes[l] == 1 ? "" : "s");
        sizes[l + 1] = (int)w->shape[1];
    }
    *nlayers = L;
    return 0;
}

/* Check the metadata, all optional; fills activation and dataset. */
static int check_meta(const cJSON *meta, const int *sizes, int nl, mnist_model *tmp, const char *path, mnist_err *err) {
    char vb[64], want[LAYERS_CAP];
    if (!meta) return 0;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(meta, "activation"))) {
        if (strcmp(v->valuestring, "tanh") != 0 && strcmp(v->valuestring, "relu") != 0)
            return errf(err, "%s: unsupported activation \"%s\" (tanh or relu)", path, shown(v->valuestring, vb, sizeof vb));
        strcpy(tmp->activation, v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(meta, "dataset"))) {
        size_t n = strlen(v->valuestring);
        if (n == 0 || n >= sizeof tmp->dataset)
            return errf(err, "%s: metadata dataset \"%s\" must be 1 to %zu characters", path,
                        shown(v->valuestring, vb, sizeof vb), sizeof tmp->dataset - 1);
        memcpy(tmp->dataset, v->valuestring, n + 1);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(meta, "layers"))) {
        layers_text(want, sizes, nl);
        int got[MNIST_MAX_LAYERS + 1], ng = 0;
        mnist_err ignored;
        if (mnist_parse_layers(v->valuestring, got, &ng, &ignored) || ng != nl + 1 ||
            memcmp(got, sizes, (size_t)ng * sizeof(int)) != 0)
            return errf(err, "%s: metadata layers \"%s\" does not match the tensor shapes %s", path,
                        shown(v->valuestring, vb, sizeof vb), want);
    }
    return 0;
}

static int by_name(const void *pa, const void *pb) { return strcmp(*(const char *const *)pa, *(const char *const *)pb); }

/* The values of the metadata object meta are strings, and no key comes twice: the keys sorted, so
 * that a header of MAX_VALUES keys is checked at once (each against those before it, 99000 keys took
 * 90 s). */
static int check_meta_keys(const cJSON *meta, const char *path, mnist_err *err) {
    char kb[64];
    size_t n = 0;
    for (const cJSON *v = meta->child; v; v = v->next, n++)
        if (!cJSON_IsString(v))
            return errf(err, "%s: __metadata__ value \"%s\" is not a string", path, shown(v->string, kb, sizeof kb));
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return errf(err, "%s: out of memory for the %zu keys of __metadata__", path, n);
    n = 0;
    for (const cJSON *v = meta->child; v; v = v->next) keys[n++] = v->string;
    qsort(keys, n, sizeof *keys, by_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(keys[i - 1], keys[i])) {
            errf(err, "%s: __metadata__ key \"%s\" appears twice", path, shown(keys[i], kb, sizeof kb));
            free(keys);
            return -1;
        }
    free(keys);
    return 0;
}

/* Parse and check the header; on success es (n entries, sorted by offset) and the model's sizes. */
static int check_header(char *buf, uint64_t hlen, uint64_t datalen, const char *path, cJSON **rootp, entry *es,
                        int *nes, int *sizes, int *nl, mnist_model *tmp, const cJSON **metap, mnist_err *err) {
    if (check_utf8((const unsigned char *)buf, (size_t)hlen)) return errf(err, "%s: header is not valid UTF-8", path);
    size_t stray = json_stray_control(buf, (size_t)hlen); /* JSON's white space alone, between values; cJSON takes a
                                                            * NUL, and any control byte in a string */
    if (stray < hlen)
        return errf(err, "%s: header holds control byte 0x%02x at byte %zu", path, (unsigned char)buf[stray], stray);
    if (hlen == 0 || buf[0] != '{') return errf(err, "%s: header does not start with '{'", path);
    /* a \u0000 in a string: cJSON would end the string there, and "layers.0.kernel\u0000x" would
     * pass for "layers.0.kernel" (or one metadata value for another); the values counted, and how
     * deep they nest (json_too_deep), before the parser allocates them */
    uint64_t values = 1;
    size_t deep = json_too_deep(buf, (size_t)hlen, MAX_DEPTH);
    for (uint64_t i = 0, in = 0; i < hlen; i++)
        if (buf[i] == '"') in = !in;
        else if (in && buf[i] == '\\' && i + 1 < hlen) {
            if (i + 5 < hlen && !memcmp(buf + i + 1, "u0000", 5))
                return errf(err, "%s: header holds a NUL (\\u0000) in a string at byte %llu", path, (unsigned long long)i);
            i++; /* the escaped character, a quote or a backslash among them */
        } else if (in) continue;
        else if ((buf[i] == ',' || buf[i] == '[' || buf[i] == '{') && ++values > MAX_VALUES)
            return errf(err, "%s: header holds more than %d JSON values (a model's holds a few hundred)", path,
                        MAX_VALUES);
        else if (i == deep)
            return errf(err, "%s: header nests arrays and objects more than %d deep (at byte %zu)", path, MAX_DEPTH,
                        deep);
    const char *end = NULL;
    json_watch();
    cJSON *root = *rootp = cJSON_ParseWithLengthOpts(buf, (size_t)hlen, &end, 0);
    if (!root && json_ran_out()) return errf_no_memory(err, "%s: out of memory reading its header", path);
    if (!root) {
        size_t pos = end && end >= buf && end <= buf + hlen ? (size_t)(end - buf) : 0; /* end: where it failed */
        return errf(err, "%s: header is not valid JSON (near byte %zu)", path, pos);
    }
    for (const char *p = end; p < buf + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return errf(err, "%s: header has bytes after its JSON (at byte %zu)", path, (size_t)(p - buf));
    if (!cJSON_IsObject(root)) return errf(err, "%s: header is not a JSON object", path);
    const char *lit = buf;
    if (check_literals(root->child, 1, NULL, NULL, buf, &lit, buf + hlen, path, err)) return -1;

    const cJSON *meta = NULL, *meta_seen = NULL;
    int n = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (meta_seen) return errf(err, "%s: __metadata__ appears twice", path);
            meta_seen = it;
            if (cJSON_IsNull(it)) continue; /* no metadata, as the reference reader takes it (an Option) */
            meta = it;
            if (!cJSON_IsObject(it)) return errf(err, "%s: __metadata__ is not an object", path);
            if (check_meta_keys(it, path, err)) return -1;
            continue;
        }
        if (n == 2 * MNIST_MAX_LAYERS + ST_MAX_EXTRA)
            return errf(err, "%s: more than %d tensors", path, 2 * MNIST_MAX_LAYERS + ST_MAX_EXTRA);
        if (parse_entry(it, &es[n], path, err)) return -1;
        for (int j = 0; j < n; j++) /* JSON leaves it open; the reference reader refuses it */
            if (!strcmp(es[j].name, es[n].name)) {
                char nb2[64];
                return errf(err, "%s: tensor \"%s\" appears twice", path, shown(es[n].name, nb2, sizeof nb2));
            }
        n++;
    }
    /* The reference reader: sorted by offset, the tensors tile the data exactly. */
    qsort(es, (size_t)n, sizeof *es, by_offset);
    uint64_t at = 0;
    char nb[64];
    for (int i = 0; i < n; i++) {
        const char *nm = shown(es[i].name, nb, sizeof nb);
        if (es[i].begin != at)
            return errf(err, "%s: tensor \"%s\" starts at data byte %llu, not %llu (gap or overlap)", path, nm,
                        (unsigned long long)es[i].begin, (unsigned long long)at);
        at = es[i].end;
    }
    if (at != datalen)
        return errf(err, "%s: the tensors cover %llu data bytes but the file holds %llu", path, (unsigned long long)at,
                    (unsigned long long)datalen);
    *nes = n;
    *metap = meta;
    const cJSON *format = meta ? cJSON_GetObjectItemCaseSensitive(meta, "format") : NULL;
    int checkpoint = format && !strcmp(format->valuestring, "mnist-checkpoint");
    if (check_model(es, n, checkpoint, sizes, nl, path, err)) return -1;
    return check_meta(meta, sizes, *nl, tmp, path, err);
}

int st_load(mnist_model *m, const char *path, st_extra *extra, int *nextra, char **train, mnist_err *err) {
    memset(m, 0, sizeof *m);
    if (nextra) *nextra = 0;
    if (train) *train = NULL;
    const cJSON *meta = NULL;
    FILE *f = open_input(path, err);
    if (!f) return -1;
    char *buf = NULL;
    cJSON *root = NULL;
    entry es[2 * MNIST_MAX_LAYERS + ST_MAX_EXTRA];
    int nes = 0, sizes[MNIST_MAX_LAYERS + 1], nl = 0, rc = -1;
    mnist_model tmp; /* activation and dataset from the metadata, until m exists */
    strcpy(tmp.activation, "tanh");
    strcpy(tmp.dataset, "mnist");

    struct stat st;
    unsigned char nle[8];
    if (fstat(fileno(f), &st) != 0) {
        errf(err, "%s: %s", path, strerror(errno));
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size, hlen = 0;
    if (size < 8) {
        errf(err, "%s: %llu bytes is too short for a safetensors file (at least 8)", path, (unsigned long long)size);
        goto done;
    }
    if (fread(nle, 1, 8, f) != 8) {
        errf(err, "%s: read failed: %s", path, ferror(f) ? strerror(errno) : "file shrank");
        goto done;
    }
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | nle[i];
    if (hlen > size - 8 && hlen > MAX_HEADER) { /* a text file, an image: 8 bytes of anything read as a length */
        errf(err, "%s: not a safetensors file (its first 8 bytes are not a header length)", path);
        goto done;
    }
    if (hlen > size - 8) {
        errf(err, "%s: not a safetensors file, or a truncated one (its first 8 bytes give a header of %llu bytes; %llu follow)",
             path, (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto done;
    }
    if (hlen > MAX_HEADER) {
        errf(err, "%s: header length %llu exceeds the limit %d", path, (unsigned long long)hlen, MAX_HEADER);
        goto done;
    }
    if (!(buf = malloc((size_t)hlen + 1))) {
        errf(err, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto done;
    }
    if (fread(buf, 1, (size_t)hlen, f) != (size_t)hlen) {
        errf(err, "%s: read failed: %s", path, ferror(f) ? strerror(errno) : "file shrank");
        goto done;
    }
    buf[hlen] = '\0';
    if (check_header(buf, hlen, size - 8 - hlen, path, &root, es, &nes, sizes, &nl, &tmp, &meta, err)) goto done;
    if (extra) {
        const cJSON *format = meta ? cJSON_GetObjectItemCaseSensitive(meta, "format") : NULL;
        const cJSON *tr = meta ? cJSON_GetObjectItemCaseSensitive(meta, "train") : NULL;
        if (!format || strcmp(format->valuestring, "mnist-checkpoint") || !tr) {
            errf(err, "%s: not a checkpoint (a model file? checkpoints come from mnist_checkpoint_save)", path);
            goto done;
        }
        if (!(*train = strdup(tr->valuestring))) {
            errf(err, "%s: out of memory", path);
            goto done;
        }
    }

    mnist_err sub;
    if (mnist_model_create(m, sizes, nl + 1, &sub)) {
        errf(err, "%s: %s", path, sub.msg);
        goto done;
    }
    strcpy(m->activation, tmp.activation);
    strcpy(m->dataset, tmp.dataset);
    /* es is sorted by offset and tiles the data, so the tensors come in file order. */
    for (int i = 0; i < nes; i++) {
        if (es[i].slot < 0) { /* a checkpoint's tensor: the caller's, or skipped */
            uint64_t bytes = es[i].end - es[i].begin;
            if (!extra) {
                if (fseek(f, (long)bytes, SEEK_CUR) != 0) {
                    errf(err, "%s: seek failed: %s", path, strerror(errno));
                    goto done;
                }
                continue;
            }
            st_extra *x = &extra[(*nextra)++];
            memset(x, 0, sizeof *x);
            snprintf(x->name, sizeof x->name, "%s", es[i].name);
            snprintf(x->dtype, sizeof x->dtype, "%s", es[i].dtype);
            x->count = es[i].shape[0];
            x->bytes = bytes;
            if (strlen(es[i].name) >= sizeof x->name) { /* it said "cannot hold tensor", the name cut short */
                errf(err, "%s: tensor %s: a name of %zu bytes, over the %zu a checkpoint's own tensors have", path,
                     es[i].name, strlen(es[i].name), sizeof x->name - 1);
                goto done;
            }
            if (!(x->data = malloc(bytes ? (size_t)bytes : 1))) { /* it said "cannot hold tensor" too */
                errf_no_memory(err, "%s: out of memory for tensor %s (%llu bytes)", path, x->name,
                               (unsigned long long)bytes);
                goto done;
            }
            if (fread(x->data, 1, (size_t)bytes, f) != (size_t)bytes) {
                errf(err, "%s: read failed in %s: %s", path, x->name, ferror(f) ? strerror(errno) : "file shrank");
                goto done;
            }
            /* the optimizer's state: as finite as the model */
            if (!strcmp(x->dtype, "F32") && refuse_nonfinite(path, "", x->name, x->data, x->count, err)) goto done;
            continue;
        }
        const mnist_tensor *t = &m->tensors[es[i].slot];
        if ((uint64_t)t->count * 4 != es[i].end - es[i].begin) {
            errf(err, "%s: tensor %s does not match the model's table", path, t->name);
            goto done;
        }
        float *p = mnist_model_tensor(m, es[i].slot);
        if (fread(p, sizeof(float), t->count, f) != t->count) {
            errf(err, "%s: read failed in %s: %s", path, t->name, ferror(f) ? strerror(errno) : "file shrank");
            goto done;
        }
        if (refuse_nonfinite(path, "", t->name, p, t->count, err)) goto done;
    }
    rc = 0;
done:
    if (rc) {
        mnist_model_free(m);
        for (int i = 0; extra && i < *nextra; i++) free(extra[i].data);
        if (nextra) *nextra = 0;
        if (train) free(*train), *train = NULL;
    }
    cJSON_Delete(root);
    free(buf);
    fclose(f);
    return rc;
}

int mnist_model_load(mnist_model *m, const char *path, mnist_err *err) { return st_load(m, path, NULL, NULL, NULL, err); }
