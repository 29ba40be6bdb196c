/* test_safetensors.c: model files: bit-exact round trips, the bytes on disk read independently,
 * tensors in another order, every malformed header rejected with the file's name, and NaN or
 * infinity refused in a tensor, loaded or saved. */
#define _DEFAULT_SOURCE /* syscall */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "mnist.h"
#include "util.h"

static char dir[256];

static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void) { /* xorshift32: arbitrary bit patterns */
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *p = NULL;
    long len;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)len + 1)) && fread(p, 1, (size_t)len, f) == (size_t)len) {
        *n = (size_t)len;
    } else {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

/* A safetensors file: u64 claimed header length (little-endian), json, then datalen data bytes
 * (float k at data byte 4k is k, so a loaded tensor shows where it came from). */
static void put_raw(const char *path, uint64_t claimed, const char *json, size_t hl, size_t datalen) {
    size_t n = 8 + hl + datalen;
    unsigned char *p = malloc(n);
    if (!p) abort();
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(claimed >> (8 * i));
    memcpy(p + 8, json, hl);
    for (size_t i = 0; i < datalen; i++) {
        float v = (float)(i / 4);
        p[8 + hl + i] = ((unsigned char *)&v)[i % 4];
    }
    if (write_file(path, p, n)) abort();
    free(p);
}

static void put_st(const char *path, const char *json, size_t datalen) { put_raw(path, strlen(json), json, strlen(json), datalen); }

/* The message after a call: empty when it succeeded. */
static const char *why(int rc, const mnist_err *e) { return rc ? e->msg : "ok"; }

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* Loading path fails, with one line naming the file (and holding want, when given), and *m zeroed. */
static void expect_fail_path(const char *label, const char *path, const char *want) {
    mnist_model m;
    mnist_err err = {{0}};
    memset(&m, 0xAB, sizeof m);
    int rc = mnist_model_load(&m, path, &err);
    int ok = rc == -1 && strstr(err.msg, path) && (!want || strstr(err.msg, want)) && !strchr(err.msg, '\n') &&
             all_zero(&m, sizeof m);
    check(ok, "rejects %s: %s", label, err.msg);
    if (rc == 0) mnist_model_free(&m);
}

static void expect_fail(const char *label, const char *json, size_t datalen, const char *want) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    put_st(path, json, datalen);
    expect_fail_path(label, path, want);
}

/* One valid layer, [2, 3] and [3]: 36 data bytes. */
#define K0(off) "\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":" off "}"
#define B0(off) "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":" off "}"
#define ONE K0("[0,24]") "," B0("[24,36]")

/* Arbitrary finite floats (model files hold no NaN or infinity: test_nonfinite). */
static void fill_random(mnist_model *m) {
    static const uint32_t special[] = {0x80000000u /* -0 */, 0x00000001u /* smallest denormal */,
                                       0x807FFFFFu /* largest negative denormal */, 0x00800000u /* smallest normal */,
                                       0xFF7FFFFFu /* -FLT_MAX */, 0x7F7FFFFFu /* FLT_MAX */, 0x00000000u};
    for (size_t i = 0; i < m->nparams; i++) {
        uint32_t u = i < sizeof special / sizeof special[0] ? special[i] : rnd();
        if ((u & 0x7F800000u) == 0x7F800000u) u ^= 0x00800000u; /* NaN or infinity: exponent 254 instead */
        memcpy(&m->params[i], &u, 4);
    }
}

static int same_model(const mnist_model *a, const mnist_model *b) {
    if (a->nlayers != b->nlayers || a->ntensors != b->ntensors || a->nparams != b->nparams ||
        strcmp(a->activation, b->activation) || strcmp(a->dataset, b->dataset))
        return 0;
    for (int i = 0; i <= a->nlayers; i++)
        if (a->sizes[i] != b->sizes[i]) return 0;
    for (int i = 0; i < a->ntensors; i++) {
        const mnist_tensor *s = &a->tensors[i], *t = &b->tensors[i];
        if (strcmp(s->name, t->name) || s->ndim != t->ndim || s->offset != t->offset || s->count != t->count) return 0;
        for (int d = 0; d < s->ndim; d++)
            if (s->shape[d] != t->shape[d]) return 0;
    }
    return memcmp(a->params, b->params, a->nparams * sizeof(float)) == 0;
}

/* The saved file read with our own eyes: header length, alignment, JSON, data bytes. */
static void check_bytes(const mnist_model *m, const char *path, const char *layers) {
    size_t n = 0;
    unsigned char *p = read_all(path, &n);
    uint64_t hl = 0;
    if (p && n >= 8)
        for (int i = 7; i >= 0; i--) hl = hl << 8 | p[i];
    int ok = p && n >= 8 && hl <= n - 8;
    check(ok, "file: header length %llu (little-endian) fits the file of %zu bytes", (unsigned long long)hl, n);
    if (!ok) {
        free(p);
        return;
    }
    check((8 + hl) % 8 == 0, "file: data starts at byte %llu, a multiple of 8", (unsigned long long)(8 + hl));
    check(n - 8 - hl == m->nparams * 4, "file: %zu data bytes for %zu parameters", (size_t)(n - 8 - hl), m->nparams);
    check(memcmp(p + 8 + hl, m->params, m->nparams * 4) == 0, "file: data is the parameters in table order, float32 LE");
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hl);
    check(cJSON_IsObject(root), "file: header parses as a JSON object");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    const char *keys[4] = {"format", "layers", "activation", "dataset"}, *vals[4] = {"mnist", layers, "tanh", "mnist"};
    for (int k = 0; k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, keys[k]);
        check(cJSON_IsString(v) && strcmp(v->valuestring, vals[k]) == 0, "file: __metadata__.%s == \"%s\"", keys[k], vals[k]);
    }
    check(cJSON_GetArraySize(root) == m->ntensors + 1, "file: %d tensors and __metadata__", m->ntensors);
    double at = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const mnist_tensor *t = &m->tensors[i];
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, t->name);
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        int good = cJSON_IsString(dt) && strcmp(dt->valuestring, "F32") == 0 && cJSON_GetArraySize(sh) == t->ndim &&
                   cJSON_GetArraySize(of) == 2;
        for (int d = 0; good && d < t->ndim; d++) good = cJSON_GetArrayItem(sh, d)->valuedouble == t->shape[d];
        good = good && cJSON_GetArrayItem(of, 0)->valuedouble == at &&
               cJSON_GetArrayItem(of, 1)->valuedouble == at + 4.0 * (double)t->count;
        check(good, "file: %s is F32, shape and offsets [%.0f, %.0f]", t->name, at, at + 4.0 * (double)t->count);
        at += 4.0 * (double)t->count;
    }
    cJSON_Delete(root);
    free(p);
}

static int temp_files(void);

/* fsync, counted: the library's calls come here (a program's own fsync is the one it links). An
 * fsync of dir itself, after a file's and while no temporary file is left in it, comes after the
 * rename of a save (one before the temporary file was made, or of another folder, is not). */
static int folder_syncs_after_rename, file_synced;
int fsync(int fd) {
    struct stat st, d;
    int known = fstat(fd, &st) == 0;
    if (known && S_ISREG(st.st_mode)) file_synced = 1;
    if (known && S_ISDIR(st.st_mode)) {
        int ours = stat(dir, &d) == 0 && d.st_dev == st.st_dev && d.st_ino == st.st_ino;
        folder_syncs_after_rename += ours && file_synced && temp_files() == 0;
        file_synced = 0;
    }
    return (int)syscall(SYS_fsync, fd);
}

/* rename, as fsync above: fails with rename_fails (an errno) when it is set, as a rename onto another
 * file system would (EXDEV), so that a save's last step can be made to fail. */
static int rename_fails;
int rename(const char *from, const char *to) {
    if (rename_fails) return errno = rename_fails, -1;
    return (int)syscall(SYS_renameat, AT_FDCWD, from, AT_FDCWD, to);
}

static void test_round_trip(const int *sizes, int n, const char *layers) {
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mnist_model a, b;
    mnist_err err = {{0}};
    int rc;
    rc = mnist_model_create(&a, sizes, n, &err);
    if (!check(rc == 0, "create %s: %s", layers, why(rc, &err))) return;
    fill_random(&a);
    int synced = folder_syncs_after_rename;
    rc = mnist_model_save(&a, path, &err);
    check(rc == 0, "save %s: %s", layers, why(rc, &err));
    /* the new name is on the disk too, not only the bytes: "Wrote FILE" survives a crash */
    check(folder_syncs_after_rename == synced + 1, "save %s: its folder is fsync'd after the rename", layers);
    check_bytes(&a, path, layers);
    rc = mnist_model_load(&b, path, &err);
    if (check(rc == 0, "load %s: %s", layers, why(rc, &err))) {
        check(same_model(&a, &b), "round trip %s is bit-exact (params, table, metadata)", layers);
        mnist_model_free(&b);
    }
    mnist_model_free(&a);
}

static void test_other_order(void) {
    char path[512];
    int rc;
    snprintf(path, sizeof path, "%s/order.safetensors", dir);
    /* bias first in the JSON and in the data; no metadata; header padded with whitespace */
    put_st(path, "{" B0("[0,12]") "," K0("[12,36]") "} \t\r\n", 36);
    mnist_model m;
    mnist_err err = {{0}};
    rc = mnist_model_load(&m, path, &err);
    if (!check(rc == 0, "load tensors stored bias first: %s", why(rc, &err))) return;
    const float *w = mnist_model_tensor(&m, 0), *b = mnist_model_tensor(&m, 1);
    int ok = m.nlayers == 1 && m.sizes[0] == 2 && m.sizes[1] == 3;
    for (int i = 0; ok && i < 3; i++) ok = b[i] == (float)i;
    for (int i = 0; ok && i < 6; i++) ok = w[i] == (float)(3 + i);
    check(ok, "tensors placed by name, not by file order");
    check(strcmp(m.activation, "tanh") == 0 && strcmp(m.dataset, "mnist") == 0, "no metadata: activation tanh, dataset mnist");
    mnist_model_free(&m);

    put_st(path, "{\"__metadata__\":{\"dataset\":\"fashion_mnist\",\"activation\":\"tanh\",\"layers\":\"2,3\",\"x\":\"y\"}," ONE "}", 36);
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "load with metadata: %s", why(rc, &err))) {
        check(strcmp(m.dataset, "fashion_mnist") == 0, "metadata dataset copied: %s", m.dataset);
        mnist_model_free(&m);
    }
}

static void test_malformed(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    mnist_model m;
    mnist_err err = {{0}};
    int rc;
    put_st(path, "{" ONE "}", 36);
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "the base file of the malformed cases loads: %s", why(rc, &err)))
        mnist_model_free(&m);

    if (write_file(path, "\x08\0\0\0\0", 5)) abort();
    expect_fail_path("a 5-byte file", path, "too short");
    put_raw(path, 1000, "{}", 2, 10);
    expect_fail_path("header length beyond the file", path, "not a safetensors file, or a truncated one");
    put_raw(path, 100000001, "{}", 2, 0);
    expect_fail_path("header length over 100 MB, past the file", path, "not a safetensors file (its first 8 bytes");
    put_raw(path, UINT64_MAX, "{}", 2, 0);
    expect_fail_path("header length 2^64-1", path, "not a safetensors file (its first 8 bytes");
    static const char text[] = "hello, this is not a model at all\n"; /* its first 8 bytes: 8031924123371070824 */
    if (write_file(path, text, sizeof text - 1)) abort();
    expect_fail_path("a text file", path, "not a safetensors file (its first 8 bytes are not a header length)");
    put_raw(path, 100000001, "{}", 2, 0); /* within a file of 100 MB (sparse: no disk) */
    if (truncate(path, 8 + 100000001 + 8)) abort();
    expect_fail_path("header length over 100 MB, within the file", path, "exceeds the limit 100000000");
    static const char nul[] = "{" ONE "}\0 ";
    put_raw(path, sizeof nul - 1, nul, sizeof nul - 1, 36);
    expect_fail_path("a NUL after the JSON", path, "control byte 0x00");
    static const char nulname[] = "{" K0("[0,24]") ",\"layers.0.bias\0x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}";
    put_raw(path, sizeof nulname - 1, nulname, sizeof nulname - 1, 36);
    expect_fail_path("a NUL inside a name", path, "control byte 0x00");
    /* a raw tab in a string is no JSON (it must be \t there), though it is white space between values */
    static const char tabname[] = "{" K0("[0,24]") ",\"layers.0.bias\tx\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}";
    put_raw(path, sizeof tabname - 1, tabname, sizeof tabname - 1, 36);
    char at_tab[64];
    snprintf(at_tab, sizeof at_tab, "control byte 0x09 at byte %d", (int)(strchr(tabname, '\t') - tabname));
    expect_fail_path("a raw tab inside a name", path, at_tab);
    snprintf(path, sizeof path, "%s/no-such-file.safetensors", dir);
    expect_fail_path("a missing file", path, "No such file");
    expect_fail_path("a directory", dir, NULL);

    expect_fail("an empty header", "", 0, "start");
    expect_fail("invalid JSON", "{\"layers.0.kernel\":{", 0, "not valid JSON");
    expect_fail("JSON that is not an object", "[1,2]", 0, NULL);
    expect_fail("garbage after the JSON", "{" ONE "}x", 36, "after its JSON");
    expect_fail("invalid UTF-8", "{\"\xC0\xAF\":1}", 0, "UTF-8");
    expect_fail("an entry that is not an object", "{\"layers.0.kernel\":5}", 0, "not an object");
    expect_fail("missing dtype", "{\"layers.0.kernel\":{\"shape\":[2,3],\"data_offsets\":[0,24]}," B0("[24,36]") "}", 36, "dtype");
    expect_fail("missing shape", "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}," B0("[24,36]") "}", 36, "shape");
    expect_fail("missing data_offsets", "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3]}," B0("[24,36]") "}", 36,
                "data_offsets");
    expect_fail("dtype not a string", "{\"layers.0.kernel\":{\"dtype\":4,\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, "dtype");
    expect_fail("dtype F16", "{\"layers.0.kernel\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}," B0("[12,24]") "}",
                24, "F16");
    expect_fail("an unknown dtype", "{\"layers.0.kernel\":{\"dtype\":\"F33\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B0("[24,36]") "}",
                36, "unknown dtype");
    expect_fail("offsets with a gap", "{" K0("[0,24]") "," B0("[28,40]") "}", 40, "gap");
    expect_fail("overlapping offsets", "{" K0("[0,24]") "," B0("[20,32]") "}", 32, "overlap");
    expect_fail("offsets not starting at 0", "{" K0("[4,28]") "," B0("[28,40]") "}", 40, "starts at data byte 4");
    expect_fail("offsets past the data", "{" ONE "}", 30, "cover 36");
    expect_fail("trailing bytes after the last tensor", "{" ONE "}", 40, "holds 40");
    expect_fail("end before begin", "{" K0("[24,0]") "," B0("[24,36]") "}", 36, "end before");
    expect_fail("byte size not numel*4", "{" K0("[0,20]") "," B0("[20,32]") "}", 32, "need 24");
    expect_fail("three offsets", "{" K0("[0,24,24]") "," B0("[24,36]") "}", 36, "data_offsets");
    expect_fail("a shape that overflows",
                "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,24]}}", 24,
                "overflows");
    expect_fail("a negative dimension", "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", 24,
                "whole number");
    expect_fail("a fractional dimension", "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2.5,3],\"data_offsets\":[0,24]}}",
                24, "whole number");
    expect_fail("a dimension past 2^53", "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[1e300,0],\"data_offsets\":[0,0]}}", 0,
                "whole number");
    expect_fail("a string dimension", "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[\"2\",3],\"data_offsets\":[0,24]}}", 24,
                "whole number");
    expect_fail("a negative offset", "{" K0("[-24,0]") "," B0("[0,12]") "}", 12, "data_offsets");
    expect_fail("a fractional offset", "{" K0("[0,24.5]") "," B0("[24.5,36.5]") "}", 36, "data_offsets");
    /* whole numbers not written as such: cJSON reads each as a double, 2 or 0; the reference reader
     * (serde_json into usize) refuses them; so does a leading zero, which JSON does not allow */
    static const char *const kforms[] = {"2.0", "2e0", "2E0", "2.0e0", "02", "20e-1"}, *const oforms[] = {"-0", "0.0", "0e5"};
    char json[512], label[64];
    for (size_t i = 0; i < sizeof kforms / sizeof kforms[0]; i++) {
        snprintf(json, sizeof json, "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[%s,3],\"data_offsets\":[0,24]},"
                 B0("[24,36]") "}", kforms[i]);
        snprintf(label, sizeof label, "a dimension written %s", kforms[i]);
        char want[128];
        snprintf(want, sizeof want, "tensor \"layers.0.kernel\": shape holds %s: a whole number >= 0 is written in digits alone",
                 kforms[i]);
        expect_fail(label, json, 36, want);
    }
    for (size_t i = 0; i < sizeof oforms / sizeof oforms[0]; i++) {
        snprintf(json, sizeof json, "{" K0("[%s,24]") "," B0("[24,36]") "}", oforms[i]);
        snprintf(label, sizeof label, "an offset written %s", oforms[i]);
        char want[128];
        snprintf(want, sizeof want, "tensor \"layers.0.kernel\": data_offsets holds %s: a whole number", oforms[i]);
        expect_fail(label, json, 36, want);
    }
    expect_fail("a bias offset written 36.0", "{" K0("[0,24]") "," B0("[24,36.0]") "}", 36,
                "tensor \"layers.0.bias\": data_offsets holds 36.0");
    /* numbers that are not JSON's, which cJSON takes, or out of a double's range, anywhere: the
     * reference reader parses the whole header, the fields it ignores too, and refuses them */
    static const char *const notjson[] = {"01", "1.", "-.5", "1.e5", "-01.5", "00"};
    for (size_t i = 0; i < sizeof notjson / sizeof notjson[0]; i++) {
        snprintf(json, sizeof json, "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],"
                 "\"note\":%s}," B0("[24,36]") "}", notjson[i]);
        snprintf(label, sizeof label, "a field of its own holding %s", notjson[i]);
        char want[128];
        snprintf(want, sizeof want, "header is not valid JSON (the number %s at byte 77)", notjson[i]);
        expect_fail(label, json, 36, want);
    }
    expect_fail("a field of its own holding 1e400",
                "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"note\":-1e400},"
                B0("[24,36]") "}", 36, "header holds the number -1e400 at byte 77, beyond a double's range");
    /* nesting deeper than the reference reader's JSON parser takes (127, the header's object one of
     * them), in a field of its own too, which it parses; cJSON took up to 1000 */
    char nest[1024];
    for (int deep = 125; deep <= 126; deep++) { /* 125 arrays in the tensor's object in the header's: 127 */
        int k = snprintf(nest, sizeof nest, "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],"
                         "\"note\":");
        for (int i = 0; i < deep; i++) nest[k++] = '[';
        for (int i = 0; i < deep; i++) nest[k++] = ']';
        snprintf(nest + k, sizeof nest - (size_t)k, "}," B0("[24,36]") "}");
        put_st(path, nest, 36);
        rc = mnist_model_load(&m, path, &err);
        if (deep == 125 && check(rc == 0, "a field of its own nesting 127 deep loads: %s", why(rc, &err)))
            mnist_model_free(&m);
        if (deep == 126)
            check(rc == -1 && strstr(err.msg, "header nests arrays and objects more than 127 deep (at byte 202)"),
                  "a field of its own nesting 128 deep is refused: %s", why(rc, &err));
    }
    /* numbers elsewhere are not the reader's: a field of its own and strings that look like numbers */
    put_st(path, "{\"__metadata__\":{\"note\":\"[2.0, -0]\"},\"layers.0.kernel\":{\"note\":[1.5,-0,{\"x\":2e0}],"
           "\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"more\":[-1e-3,0.0,1E+2,-0.5e-400,10]}," B0("[24,36]") "}", 36);
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "numbers of other forms in a field of its own and in strings are not refused: %s", why(rc, &err)))
        mnist_model_free(&m);

    expect_fail("no tensors", "{}", 0, "no tensors");
    expect_fail("a wrong name", "{\"layer.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B0("[24,36]") "}",
                36, "unexpected tensor \"layer.0.kernel\"");
    expect_fail("a leading zero in a name",
                "{\"layers.00.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B0("[24,36]") "}", 36,
                "unexpected tensor");
    expect_fail("a missing bias", "{" K0("[0,24]") "}", 24, "missing tensor layers.0.bias");
    expect_fail("a missing layer", "{" ONE ",\"layers.1.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[36,48]}}", 48,
                "missing tensor layers.1.kernel");
    expect_fail("an extra tensor", "{" ONE ",\"extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[36,40]}}", 40,
                "unexpected tensor \"extra\"");
    expect_fail("a duplicated tensor", "{" ONE "," B0("[36,48]") "}", 48, "twice");
    expect_fail("a layer index past the limit",
                "{\"layers.8.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, "unexpected tensor");
    expect_fail("a kernel of one dimension",
                "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}," B0("[24,36]") "}", 36, "[in, out]");
    expect_fail("a kernel with a zero dimension",
                "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}," B0("[0,12]") "}", 12, "[in, out]");
    expect_fail("a bias that does not match its kernel",
                "{" K0("[0,24]") ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]}}", 40, "bias");
    expect_fail("shapes that do not chain",
                "{" ONE ",\"layers.1.kernel\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[36,68]},"
                "\"layers.1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[68,76]}}",
                76, "4 inputs");
    expect_fail("metadata not an object", "{\"__metadata__\":[]," ONE "}", 36, "__metadata__");
    /* null metadata is none, as the reference reader reads it (Option<HashMap>), and writers that
     * build the header as a dict with "__metadata__": None write it; it was refused as not an object */
    snprintf(path, sizeof path, "%s/null-metadata.safetensors", dir);
    put_st(path, "{\"__metadata__\":null," ONE "}", 36);
    memset(&m, 0xAB, sizeof m);
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "metadata null is no metadata: %s", why(rc, &err))) {
        check(m.nlayers == 1 && m.sizes[0] == 2 && m.sizes[1] == 3 && !strcmp(m.activation, "tanh") &&
                  !strcmp(m.dataset, "mnist") && mnist_model_tensor(&m, 1)[2] == 8.0f,
              "...a 2-3 tanh model of dataset mnist, its bias read from bytes 24..36");
        mnist_model_free(&m);
    }
    expect_fail("metadata null, then an object", "{\"__metadata__\":null,\"__metadata__\":{}," ONE "}", 36,
                "__metadata__ appears twice");
    expect_fail("metadata an object, then null", "{\"__metadata__\":{},\"__metadata__\":null," ONE "}", 36,
                "__metadata__ appears twice");
    expect_fail("a non-string metadata value", "{\"__metadata__\":{\"layers\":5}," ONE "}", 36, "not a string");
    expect_fail("an unsupported activation", "{\"__metadata__\":{\"activation\":\"gelu\"}," ONE "}", 36,
                "unsupported activation \"gelu\"");
    expect_fail("metadata layers that disagree", "{\"__metadata__\":{\"layers\":\"2,4\"}," ONE "}", 36, "2,3");
    expect_fail("metadata layers that do not parse", "{\"__metadata__\":{\"layers\":\"abc\"}," ONE "}", 36, "abc");
    expect_fail("a dataset name too long", "{\"__metadata__\":{\"dataset\":\"a_dataset_name_too_long\"}," ONE "}", 36, "dataset");
    /* cJSON ends a string at an escaped NUL: the name would pass for layers.0.kernel */
    expect_fail("an escaped NUL in a name",
                "{\"layers.0.kernel\\u0000zz\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B0("[24,36]") "}", 36,
                "NUL");
    expect_fail("an escaped NUL in a metadata value", "{\"__metadata__\":{\"dataset\":\"mnist\\u0000x\"}," ONE "}", 36, "NUL");
    expect_fail("a metadata key twice", "{\"__metadata__\":{\"dataset\":\"mnist\",\"dataset\":\"fashion\"}," ONE "}", 36,
                "key \"dataset\" appears twice");
    /* a field of an entry twice: which one counts is the reader's choice (cJSON's lookup the first,
     * Python's json the last: [2,3] or [3,2]); the reference reader refuses a duplicate field */
    expect_fail("a tensor's shape twice",
                "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"shape\":[3,2],\"data_offsets\":[0,24]}," B0("[24,36]")
                "}", 36, "tensor \"layers.0.kernel\" has \"shape\" 2 times");
    expect_fail("a tensor's dtype twice",
                "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"dtype\":\"I32\"}," B0("[24,36]")
                "}", 36, "tensor \"layers.0.kernel\" has \"dtype\" 2 times");
    expect_fail("a tensor's data_offsets twice",
                "{" K0("[0,24]") ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36],"
                "\"data_offsets\":[0,12]}}", 36, "tensor \"layers.0.bias\" has \"data_offsets\" 2 times");
    put_st(path, "{\"layers.0.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"note\":1,\"note\":2},"
           B0("[24,36]") "}", 36); /* fields of its own, even twice: the reference reader ignores them */
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "a tensor's field we do not know, twice, is ignored: %s", why(rc, &err))) mnist_model_free(&m);
    put_st(path, "{\"__metadata__\":{\"note\":\"a\\\\u0000 is no NUL\"}," ONE "}", 36); /* an escaped backslash, then u0000 */
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "an escaped backslash before u0000 is no NUL: %s", why(rc, &err))) mnist_model_free(&m);
    expect_fail("a control character shown in a message", "{\"bad\\nname\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                4, "bad?name");
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A metadata object of 99000 keys (within the header's 100000 JSON values) loads, and a key twice
 * among them, the first and the last, is found. Each key was compared with every one before it: 90
 * s for this 1.2 MB header (hours under the sanitizers); sorted, 0.03 s. The time is printed, not
 * held to a limit (tests are not timed: bench/ is). */
static void test_many_meta_keys(void) {
    enum { KEYS = 99000 };
    char path[512];
    snprintf(path, sizeof path, "%s/meta.safetensors", dir);
    char *json = malloc((size_t)KEYS * 16 + 256), *q = json;
    q += sprintf(q, "{\"__metadata__\":{");
    for (int i = 0; i < KEYS; i++) q += sprintf(q, "%s\"k%d\":\"\"", i ? "," : "", i);
    for (int twice = 0; twice < 2; twice++) {
        sprintf(q, "%s}," ONE "}", twice ? ",\"k0\":\"x\"" : "");
        put_st(path, json, 36);
        mnist_model m;
        mnist_err err = {{0}};
        double t0 = seconds();
        int rc = mnist_model_load(&m, path, &err);
        double t = seconds() - t0;
        if (rc == 0) mnist_model_free(&m);
        check(twice ? rc == -1 && strstr(err.msg, "__metadata__ key \"k0\" appears twice") : rc == 0,
              "a header of %d metadata keys%s is %s (in %.2f s): %s", KEYS + twice,
              twice ? ", k0 twice," : "", twice ? "refused" : "read", t, why(rc, &err));
    }
    free(json);
}

/* Leftover temporary files in dir ("name.tmp-XXXXXX"). */
static int temp_files(void) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

static void test_save_errors(void) {
    char path[1024], missing[512], target[512];
    int sizes[3] = {4, 5, 3};
    mnist_model m, back;
    mnist_err err = {{0}};
    int rc;
    rc = mnist_model_create(&m, sizes, 3, &err);
    if (!check(rc == 0, "create 4,5,3: %s", why(rc, &err))) return;
    fill_random(&m);

    snprintf(missing, sizeof missing, "%s/missing", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", missing);
    rc = mnist_model_save(&m, path, &err);
    struct stat st;
    check(rc == -1 && strstr(err.msg, path) && !strchr(err.msg, '\n') && stat(missing, &st) != 0,
          "save into a missing folder fails, creates nothing: %s", err.msg);

    /* the target is a folder: refused before a temporary file is made (atomic_open looks first) */
    snprintf(path, sizeof path, "%s/adir", dir);
    if (mkdir(path, 0755)) abort();
    rc = mnist_model_save(&m, path, &err);
    check(rc == -1 && strstr(err.msg, path) && temp_files() == 0, "save over a folder fails, leaves no temp file: %s", err.msg);
    rmdir(path);

    /* an existing file survives a save that fails halfway through writing */
    snprintf(target, sizeof target, "%s/keep.safetensors", dir);
    size_t n0 = 0, n1 = 0;
    unsigned char *before = NULL, *after = NULL;
    rc = mnist_model_save(&m, target, &err);
    if (!check(rc == 0 && (before = read_all(target, &n0)), "save keep.safetensors: %s", why(rc, &err)))
        goto out;
    mnist_model big;
    int bsizes[2] = {256, 64}; /* 64 KiB of data, past the file size limit below */
    if (mnist_model_create(&big, bsizes, 2, &err)) abort();
    struct rlimit old, lim;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
    /* nothing may be printed while the limit holds: stdout may be a file past 8 KiB */
    int limited = getrlimit(RLIMIT_FSIZE, &old) == 0;
    if (limited) {
        lim = old;
        lim.rlim_cur = 8192; /* writes past 8 KiB fail */
        limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
    }
    if (limited) {
        rc = mnist_model_save(&big, target, &err);
        if (setrlimit(RLIMIT_FSIZE, &old)) abort();
    }
    if (check(limited, "limit the file size to 8 KiB to make a save fail")) {
        after = read_all(target, &n1);
        check(rc == -1 && strstr(err.msg, target) && after && n1 == n0 && memcmp(before, after, n0) == 0 && temp_files() == 0,
              "a save that fails mid-write keeps the old file, leaves no temp file: %s", err.msg);
    }
    signal(SIGXFSZ, oldsig);
    mnist_model_free(&big);

    /* the temporary file written whole, its rename fails: the old file stays, the temporary one goes */
    float first = m.params[0];
    m.params[0] = first + 1.0f; /* not the model that file holds */
    rename_fails = EXDEV;
    rc = mnist_model_save(&m, target, &err);
    rename_fails = 0;
    m.params[0] = first;
    free(after);
    after = read_all(target, &n1);
    check(rc == -1 && strstr(err.msg, target) && strstr(err.msg, strerror(EXDEV)) && after && n1 == n0 &&
              memcmp(before, after, n0) == 0 && temp_files() == 0,
          "a save whose rename fails keeps the old file, leaves no temp file: %s", err.msg);

    /* a model whose table is broken is refused before anything is written */
    m.tensors[1].shape[0] = 7;
    rc = mnist_model_save(&m, target, &err);
    check(rc == -1 && strstr(err.msg, target) && temp_files() == 0, "save of a malformed table is refused: %s", err.msg);
    m.tensors[1].shape[0] = 5;
    /* an activation the reader refuses ("unsupported activation") is refused when saving: such a
     * file was written, then never loaded */
    static const char *const acts[] = {"gelu", "", "Tanh"};
    for (int i = 0; i < 3; i++) {
        snprintf(m.activation, sizeof m.activation, "%s", acts[i]);
        char want[64];
        snprintf(want, sizeof want, "cannot save: activation \"%s\" is not tanh or relu", acts[i]);
        rc = mnist_model_save(&m, target, &err);
        check(rc == -1 && strstr(err.msg, target) && strstr(err.msg, want) && temp_files() == 0,
              "save of a model with activation \"%s\" is refused, writes nothing: %s", acts[i], err.msg);
    }
    strcpy(m.activation, "tanh");
    /* so is a dataset name that is not UTF-8 (Latin-1's "caf\xe9"): the reader refuses the header */
    strcpy(m.dataset, "caf\xe9");
    rc = mnist_model_save(&m, target, &err);
    check(rc == -1 && strstr(err.msg, target) && strstr(err.msg, "cannot save: the dataset name \"caf?\" is not valid UTF-8") &&
              temp_files() == 0,
          "save of a model whose dataset name is not UTF-8 is refused, writes nothing: %s", err.msg);
    strcpy(m.dataset, "caf\xc3\xa9"); /* the same in UTF-8: saved, and read back */
    char other[600];
    snprintf(other, sizeof other, "%s/utf8.safetensors", dir);
    rc = mnist_model_save(&m, other, &err);
    if (rc == 0) rc = mnist_model_load(&back, other, &err);
    if (check(rc == 0, "a UTF-8 dataset name is saved and read: %s", why(rc, &err))) {
        check(!strcmp(back.dataset, "caf\xc3\xa9"), "...as it was");
        mnist_model_free(&back);
    }
    unlink(other);
    strcpy(m.dataset, "mnist");
    rc = mnist_model_load(&back, target, &err);
    if (check(rc == 0, "the kept file still loads: %s", why(rc, &err))) {
        check(same_model(&m, &back), "the kept file still holds the first model");
        mnist_model_free(&back);
    }
out:
    free(before);
    free(after);
    mnist_model_free(&m);
}

/* mnist_checkpoint_load of path: -1 with err filled, *zeroed saying whether it left the model all
 * zero; or 0, after freeing what it loaded. */
static int load_checkpoint(const char *path, mnist_err *err, int *zeroed) {
    mnist_model m;
    mnist_train_opts o;
    mnist_run_state st;
    memset(&m, 0xAB, sizeof m); /* not zero already: a loader that leaves it untouched is seen */
    memset(&st, 0, sizeof st);
    int rc = mnist_checkpoint_load(path, &m, &o, &st, err);
    *zeroed = rc == -1 && all_zero(&m, sizeof m);
    if (rc == 0) {
        mnist_model_free(&m);
        mnist_run_state_free(&st);
    }
    return rc;
}

/* Checkpoints are model files with tensors train.* beside the model's; the reader keeps at most
 * four of them, in a caller's array of four: a fifth was written past its end (found in review;
 * under ASan a stack-buffer-overflow in mnist_checkpoint_load). */
static void test_checkpoint_extras(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    mnist_model m;
    mnist_err err = {{0}};
    int zeroed;
#define X(name, at) ",\"train." name "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" at "]}"
    put_st(path, "{\"__metadata__\":{\"format\":\"mnist-checkpoint\",\"train\":\"{}\"}," ONE X("a", "36,37")
                     X("b", "37,38") X("c", "38,39") X("d", "39,40") X("e", "40,41") X("f", "41,42") "}",
           42);
#undef X
    int rc = load_checkpoint(path, &err, &zeroed);
    check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "more than 4 tensors train.*") && zeroed,
          "rejects a checkpoint with six train.* tensors: %s", err.msg);
    rc = mnist_model_load(&m, path, &err);
    check(rc == -1 && strstr(err.msg, "more than 4 tensors train.*"), "as a model file it is refused too: %s", err.msg);
    if (rc == 0) mnist_model_free(&m);
}

/* A checkpoint's train metadata, a JSON string inside the header's JSON, is parsed by itself: the
 * header's count of JSON values did not reach it, and 40 MB of "0," in it took cJSON 1.6 GB. It is
 * refused past 64 KiB, before it is parsed. */
static void test_checkpoint_train_size(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    size_t n = 70000;
    char *json = malloc(n + 256), *q = json;
    q += sprintf(q, "{\"__metadata__\":{\"format\":\"mnist-checkpoint\",\"train\":\"[");
    for (size_t i = 0; i + 2 < n; i += 2) *q++ = '0', *q++ = ',';
    q += sprintf(q, "0]\"}," ONE "}");
    put_st(path, json, 36);
    free(json);
    mnist_err err = {{0}};
    int zeroed;
    int rc = load_checkpoint(path, &err, &zeroed);
    check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "train metadata is 70001 bytes, over the limit of 65536") &&
              zeroed,
          "rejects a checkpoint whose train metadata is 70001 bytes, before parsing it: %s", err.msg);
}

/* put_st's file with data float k (0..) replaced by the bit pattern u. */
static void put_poisoned(const char *path, const char *json, size_t datalen, size_t k, uint32_t u) {
    put_st(path, json, datalen);
    FILE *f = fopen(path, "r+b");
    if (!f || fseek(f, (long)(8 + strlen(json) + 4 * k), SEEK_SET) || fwrite(&u, 4, 1, f) != 1 || fclose(f)) abort();
}

/* A NaN or an infinity in a tensor is refused by name and index, loading (predict, eval and serve
 * printed "probability":nan, found in review) and saving; the optimizer state of a checkpoint too. */
static void test_nonfinite(void) {
    char path[512], want[128];
    snprintf(path, sizeof path, "%s/nonfinite.safetensors", dir);
    static const struct { size_t k; uint32_t u; const char *want; } cases[] = { /* ONE: kernel floats 0..5, bias 6..8 */
        {8, 0x7FC00000u, "layers.0.bias holds NaN at index 2"},
        {6, 0xFFC00000u, "layers.0.bias holds NaN at index 0"},          /* a negative quiet NaN */
        {7, 0x7F800001u, "layers.0.bias holds NaN at index 1"},          /* a signalling NaN */
        {5, 0x7F800000u, "layers.0.kernel holds +infinity at index 5"},
        {0, 0xFF800000u, "layers.0.kernel holds -infinity at index 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_poisoned(path, "{" ONE "}", 36, cases[i].k, cases[i].u);
        snprintf(want, sizeof want, "a tensor holding 0x%08x", (unsigned)cases[i].u);
        expect_fail_path(want, path, cases[i].want);
    }
    put_poisoned(path, "{" ONE "}", 36, 8, 0x7F7FFFFFu); /* FLT_MAX is finite */
    mnist_model m;
    mnist_err err = {{0}};
    int rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "a tensor holding FLT_MAX loads: %s", why(rc, &err))) mnist_model_free(&m);

    /* a checkpoint's optimizer state: refused when it is read as a checkpoint; as a model file the
     * train.* tensors are skipped, and the model is fine */
#define OPT ",\"train.optimizer\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[36,48]}"
    put_poisoned(path, "{\"__metadata__\":{\"format\":\"mnist-checkpoint\",\"train\":\"{}\"}," ONE OPT "}", 48, 10,
                 0x7FC00000u);
#undef OPT
    int zeroed;
    rc = load_checkpoint(path, &err, &zeroed);
    check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "train.optimizer holds NaN at index 1") && zeroed,
          "rejects a checkpoint whose optimizer state holds NaN: %s", err.msg);
    rc = mnist_model_load(&m, path, &err);
    if (check(rc == 0, "as a model file, its finite model loads: %s", why(rc, &err))) mnist_model_free(&m);

    /* the doubles of its metadata too: strtod reads "nan" and "inf" */
    static const char *const sums[] = {"nan", "-inf", "0x0p+0"};
    for (int i = 0; i < 3; i++) {
        char train[256], json[512], *q = json;
        snprintf(train, sizeof train, "{\"version\":1,\"epoch\":0,\"step\":0,\"steps_done\":\"0\",\"loss_sum\":\"%s\","
                 "\"options\":{},\"rng\":{}}", sums[i]);
        q += sprintf(q, "{\"__metadata__\":{\"format\":\"mnist-checkpoint\",\"train\":\"");
        for (const char *c = train; *c; c++) { /* a JSON string within the header's JSON */
            if (*c == '"') *q++ = '\\';
            *q++ = *c;
        }
        sprintf(q, "\"}," ONE "}");
        put_st(path, json, 36);
        rc = load_checkpoint(path, &err, &zeroed);
        int named = rc == -1 && strstr(err.msg, path) && strstr(err.msg, "field loss_sum");
        check(i < 2 ? named : rc == -1 && !named && strstr(err.msg, "field rng.pos"),
              "a checkpoint whose loss_sum is \"%s\" is %s: %s", sums[i], i < 2 ? "refused" : "read past it", err.msg);
    }

    /* saving: refused before anything is written, so that every file written loads back */
    int sizes[3] = {4, 5, 3};
    if (mnist_model_create(&m, sizes, 3, &err)) abort();
    fill_random(&m);
    float nan = NAN, *b1 = mnist_model_tensor(&m, 3);
    b1[2] = nan;
    snprintf(path, sizeof path, "%s/nan-save.safetensors", dir);
    rc = mnist_model_save(&m, path, &err);
    struct stat sb;
    check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "cannot save: layers.1.bias holds NaN at index 2") &&
              stat(path, &sb) != 0 && temp_files() == 0,
          "save of a model holding NaN is refused, writes nothing: %s", err.msg);
    b1[2] = 0.5f;
    mnist_train_opts o = mnist_train_defaults();
    mnist_run_state st;
    memset(&st, 0, sizeof st);
    float state[3] = {0.25f, -INFINITY, 1.0f};
    st.nstate = 3, st.state = state;
    rc = mnist_checkpoint_save(path, &m, &o, &st, &err);
    check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "train.optimizer holds -infinity at index 1") &&
              stat(path, &sb) != 0 && temp_files() == 0,
          "save of a checkpoint whose optimizer state holds -infinity is refused: %s", err.msg);
    state[1] = 0.0f;
    /* enums out of range (a caller's arithmetic): refused, where they indexed the names (-1 read before the array,
     * 3 past it, said "out of memory building the checkpoint") */
    const int bad[] = {-1, 3, 100000};
    for (int i = 0; i < 6; i++) {
        mnist_train_opts q = o;
        if (i < 3) q.optimizer = (mnist_optimizer)bad[i];
        else q.schedule = (mnist_schedule)bad[i - 3];
        rc = mnist_checkpoint_save(path, &m, &q, &st, &err);
        check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, i < 3 ? "optimizer" : "schedule") &&
                  strstr(err.msg, "is not") && stat(path, &sb) != 0 && temp_files() == 0,
              "save of a checkpoint of %s %d is refused, writes nothing: %s", i < 3 ? "optimizer" : "schedule",
              bad[i % 3], err.msg);
    }
    rc = mnist_checkpoint_save(path, &m, &o, &st, &err);
    check(rc == 0, "with finite state it saves: %s", why(rc, &err));
    mnist_model_free(&m);
}

/* Adam's second moments (the second half of its state) are averages of squares: a checkpoint holding
 * one below 0 trained to NaN at its first step, which train blamed on the learning rate. Refused by
 * index; its first moments may be negative, and -0 is no number below 0. */
static void test_checkpoint_adam_moments(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/adam.safetensors", dir);
    int sizes[3] = {4, 5, 3};
    mnist_model m;
    mnist_err err = {{0}};
    if (mnist_model_create(&m, sizes, 3, &err)) abort();
    fill_random(&m);
    mnist_train_opts o = mnist_train_defaults();
    o.optimizer = MNIST_ADAM;
    size_t n = 2 * m.nparams; /* m then v, each nparams floats */
    float *state = calloc(n, sizeof *state);
    if (!state) abort();
    for (size_t i = 0; i < n; i++) state[i] = i < m.nparams ? -0.25f : 0.125f;
    state[m.nparams + 3] = -0.0f;
    mnist_run_state st;
    memset(&st, 0, sizeof st);
    mnist_rng_seed(&st.order, 0);
    st.nstate = n, st.state = state;
    int zeroed, rc = mnist_checkpoint_save(path, &m, &o, &st, &err);
    if (check(rc == 0, "an Adam checkpoint saves: %s", why(rc, &err))) {
        rc = load_checkpoint(path, &err, &zeroed);
        check(rc == 0, "negative first moments and a second moment of -0 load: %s", why(rc, &err));
    }
    state[m.nparams + 7] = -0.5f;
    rc = mnist_checkpoint_save(path, &m, &o, &st, &err);
    if (check(rc == 0, "the checkpoint saves: %s", why(rc, &err))) {
        char want[128];
        snprintf(want, sizeof want, "train.optimizer holds -0.5 at index %zu, an Adam second moment", m.nparams + 7);
        rc = load_checkpoint(path, &err, &zeroed);
        check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, want) && zeroed,
              "rejects a checkpoint whose Adam second moment is -0.5: %s", err.msg);
    }
    /* and one whose generator's 19937 bits are 0 (the first word's top bit, the other words): it gave 0 forever,
     * every epoch's batch order the same; the first word's other bits are no part of them */
    state[m.nparams + 7] = 0.5f;
    static const uint32_t first[3] = {0, 0x7fffffff, 0x80000000};
    for (int k = 0; k < 3; k++) {
        memset(st.order.key, 0, sizeof st.order.key);
        st.order.key[0] = first[k];
        rc = mnist_checkpoint_save(path, &m, &o, &st, &err);
        if (rc == 0) rc = load_checkpoint(path, &err, &zeroed);
        if (k < 2)
            check(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "train.rng (its 19937 bits are 0"),
                  "rejects a checkpoint whose generator's state is 0 but its first word's 0x%x: %s", first[k], err.msg);
        else
            check(rc == 0, "a generator's state of the first word's top bit alone loads: %s", why(rc, &err));
    }
    free(state);
    mnist_model_free(&m);
}

static void cleanup(void) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Whether s is whole UTF-8: each lead byte followed by as many continuation bytes as it says. */
static int whole_utf8(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int more = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (more < 0) return 0;
        for (p++; more > 0; more--, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

/* A message naming a file of thousands of bytes kept its head and lost its end, the problem: now the
 * middle gives way to "..." (between UTF-8 characters), and after_path still finds the problem. */
static void test_long_path(void) {
    enum { LONG = 6000 };
    static char path[LONG + 1], wide[2 * LONG + 1];
    memset(path, 'a', LONG);
    path[0] = '/', path[LONG - 4] = 'b';
    mnist_model m;
    mnist_err err;
    const char *reason = strerror(ENAMETOOLONG);
    size_t len = mnist_model_load(&m, path, &err) == -1 ? strlen(err.msg) : 0, rl = strlen(reason);
    check(len > rl && len < MNIST_ERR_LEN && !strcmp(err.msg + len - rl, reason) && !strncmp(err.msg, path, 200) &&
              strstr(err.msg, "...") && strstr(err.msg, "ab"),
          "a path of %d bytes: the message keeps its head and ends with the problem (%zu bytes: \"%.20s...%s\")", LONG,
          len, err.msg, len > 60 ? err.msg + len - 60 : err.msg);
    check(!strcmp(after_path(err.msg, path), reason), "after_path finds the problem after it: \"%s\"",
          after_path(err.msg, path));
    for (int i = 0; i < LONG; i++) memcpy(wide + 2 * i, "\xc3\xa9", 2); /* é, two bytes */
    errf(&err, "%s: the problem", wide);
    const char *dots = strstr(err.msg, "...");
    len = strlen(err.msg);
    check(dots && dots > err.msg && (unsigned char)dots[-1] == 0xa9 && (unsigned char)dots[3] == 0xc3 &&
              len < MNIST_ERR_LEN && !strcmp(err.msg + len - 13, ": the problem"),
          "a path of 2-byte characters is cut between characters (%zu bytes)", len);
    /* 2-, 3- and 4-byte characters behind 0 to 3 bytes of ASCII: every cut, at the head's end and at
     * the tail's start, falls within a character somewhere; the message stays whole UTF-8 */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e"}; /* é, €, a clef */
    for (int c = 0; c < 3; c++)
        for (int pad = 0; pad < 4; pad++) {
            size_t w = strlen(chars[c]), k = 0;
            for (; k + w < sizeof wide; k += w) memcpy(wide + k, chars[c], w);
            wide[k] = '\0';
            errf(&err, "%.*s%s: the problem", pad, "xyz", wide);
            len = strlen(err.msg);
            check(strstr(err.msg, "...") && len < MNIST_ERR_LEN && len >= 13 && !strcmp(err.msg + len - 13, ": the problem") &&
                      whole_utf8(err.msg),
                  "%zu-byte characters after %d ASCII byte(s): cut between characters, the problem kept (%zu bytes)", w, pad,
                  len);
        }
    /* a name of continuation bytes alone (not UTF-8): the cut moves 3 bytes at most, the head is kept
     * (the walk went back to the message's start, and the head was lost) */
    memset(wide, 0x80, LONG), wide[LONG] = '\0';
    errf(&err, "/head%s: the problem", wide);
    dots = strstr(err.msg, "...");
    check(dots && dots - err.msg >= (MNIST_ERR_LEN - 4) / 4 - 3 && !strncmp(err.msg, "/head", 5) &&
              !strcmp(err.msg + strlen(err.msg) - 13, ": the problem"),
          "a name of 0x80 bytes: its head of %td bytes kept, the problem too", dots ? dots - err.msg : -1);
    errf(&err, "%s", "short");
    check(!strcmp(err.msg, "short"), "a short message is as it was");
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_safetensors.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        check(0, "mkdtemp %s: %s", dir, strerror(errno));
        return check_status();
    }
    int lab[4] = {784, 1024, 1024, 10}, small[4] = {5, 7, 3}, deep[9] = {3, 4, 5, 6, 7, 6, 5, 4, 2}, one[2] = {1, 1};
    test_round_trip(lab, 4, "784,1024,1024,10");
    test_round_trip(small, 3, "5,7,3");
    test_round_trip(deep, 9, "3,4,5,6,7,6,5,4,2");
    test_round_trip(one, 2, "1,1");
    test_other_order();
    test_malformed();
    test_many_meta_keys();
    test_save_errors();
    test_checkpoint_extras();
    test_checkpoint_train_size();
    test_nonfinite();
    test_checkpoint_adam_moments();
    test_long_path();
    check(temp_files() == 0, "no temporary files left behind");
    cleanup();
    return check_status();
}
