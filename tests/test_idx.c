/* test_idx.c: the IDX reader on good files (plain and gzip) and on each kind of bad one. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "mnist.h"

static char dir[] = "/tmp/mnist-test-idx-XXXXXX";
static char path_buf[64][512];
static int path_i;

static const char *path(const char *name) {
    char *p = path_buf[path_i++ % 64];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

/* Write an IDX file: magic, dims (ndims of them), then len bytes of body. gz: gzip it. */
static const char *write_idx(const char *name, uint32_t magic, int ndims, const uint32_t *dims, const uint8_t *body,
                             size_t len, int gz) {
    uint8_t head[16];
    put32(head, magic);
    for (int i = 0; i < ndims; i++) put32(head + 4 + 4 * i, dims[i]);
    const char *p = path(name);
    if (gz) {
        gzFile g = gzopen(p, "wb");
        gzwrite(g, head, 4 + 4 * ndims);
        if (len) gzwrite(g, body, (unsigned)len);
        gzclose(g);
    } else {
        FILE *f = fopen(p, "wb");
        fwrite(head, 1, 4 + 4 * ndims, f);
        if (len) fwrite(body, 1, len, f);
        fclose(f);
    }
    return p;
}

/* Append n bytes to the file at p; returns p. */
static const char *append(const char *p, const void *bytes, size_t n) {
    FILE *f = fopen(p, "ab");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) check(0, "append to %s", p);
    return p;
}

/* The file at p without its last n bytes; returns p. */
static const char *cut(const char *p, long n) {
    FILE *f = fopen(p, "rb");
    long size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (f) fclose(f);
    if (size < n || truncate(p, size - n) != 0) check(0, "cut %ld bytes off %s", n, p);
    return p;
}

/* Load images+labels and expect failure with a message containing both the file's name and
 * `want`. */
static void expect_fail(const char *what, const char *images, const char *labels, const char *file, const char *want) {
    mnist_split s;
    mnist_err err = {{0}};
    int rc = mnist_split_load(&s, images, labels, NULL, &err);
    const char *base = strrchr(file, '/') + 1;
    check(rc == -1 && strstr(err.msg, base) && strstr(err.msg, want), "%s is refused: \"%s\"", what, err.msg);
    if (rc == 0) mnist_split_free(&s);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    enum { N = 5, R = 3, C = 4 };
    uint8_t pix[N * R * C], lab[N] = {7, 2, 1, 0, 9};
    for (int i = 0; i < N * R * C; i++) pix[i] = (uint8_t)(i * 37);
    const uint32_t idims[3] = {N, R, C}, ldims[1] = {N};
    const char *img = write_idx("img", 2051, 3, idims, pix, sizeof pix, 0);
    const char *lbl = write_idx("lbl", 2049, 1, ldims, lab, sizeof lab, 0);
    const char *imgz = write_idx("img.gz", 2051, 3, idims, pix, sizeof pix, 1);
    const char *lblz = write_idx("lbl.gz", 2049, 1, ldims, lab, sizeof lab, 1);
    char cmd[600], lbl_sha[65] = ""; /* coreutils' SHA-256 of lbl, not the program's */
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", lbl);
    FILE *p = popen(cmd, "r");
    if (!p || fscanf(p, "%64s", lbl_sha) != 1 || strlen(lbl_sha) != 64) check(0, "%s", cmd);
    if (p) pclose(p);

    mnist_split s;
    mnist_err err;
    int rc = mnist_split_load(&s, img, lbl, NULL, &err);
    check(rc == 0 && s.n == N && s.rows == R && s.cols == C && !memcmp(s.images, pix, sizeof pix) &&
              !memcmp(s.labels, lab, sizeof lab),
          "plain IDX files load with their sizes, pixels and labels");
    if (rc == 0) mnist_split_free(&s);
    rc = mnist_split_load(&s, imgz, lblz, NULL, &err);
    check(rc == 0 && s.n == N && !memcmp(s.images, pix, sizeof pix) && !memcmp(s.labels, lab, sizeof lab),
          "gzip IDX files load the same bytes");
    if (rc == 0) mnist_split_free(&s);

    expect_fail("a truncated image file", write_idx("trunc", 2051, 3, idims, pix, sizeof pix - 1, 0), lbl,
                path("trunc"), "truncated");
    expect_fail("a truncated gzip image file", write_idx("trunc.gz", 2051, 3, idims, pix, 10, 1), lbl,
                path("trunc.gz"), "truncated");
    expect_fail("trailing bytes", write_idx("trail", 2051, 3, (uint32_t[]){N - 1, R, C}, pix, sizeof pix, 0), lbl,
                path("trail"), "trailing bytes");
    expect_fail("wrong magic", write_idx("magic", 0x12345678, 3, idims, pix, sizeof pix, 0), lbl, path("magic"),
                "magic");
    expect_fail("a labels file given as images", lbl, lbl, lbl, "labels");
    expect_fail("a header cut short", write_idx("short", 2051, 1, idims, NULL, 0, 0), lbl, path("short"),
                "truncated IDX header");
    expect_fail("a zero magic", write_idx("zeros", 0, 0, NULL, NULL, 0, 0), lbl, path("zeros"), "bad magic");
    fclose(fopen(path("empty"), "wb"));
    expect_fail("an empty file", path("empty"), lbl, path("empty"), "not an IDX file");
    expect_fail("a huge count", write_idx("huge", 2051, 3, (uint32_t[]){0xffffffffu, 28, 28}, pix, sizeof pix, 0),
                lbl, path("huge"), "implausible count");
    expect_fail("a count whose bytes are not there",
                write_idx("lies", 2051, 3, (uint32_t[]){1000000, 28, 28}, pix, sizeof pix, 0), lbl, path("lies"),
                "truncated");
    expect_fail("a huge image side", write_idx("side", 2051, 3, (uint32_t[]){1, 100000, 100000}, pix, sizeof pix, 0),
                lbl, path("side"), "implausible image size");
    expect_fail("zero images", write_idx("zero", 2051, 3, (uint32_t[]){0, 28, 28}, NULL, 0, 0), lbl, path("zero"),
                "implausible count");
    expect_fail("mismatched counts", img, write_idx("lbl4", 2049, 1, (uint32_t[]){N - 1}, lab, N - 1, 0), img,
                "4 labels");
    expect_fail("a label of 10", img, write_idx("lbl10", 2049, 1, ldims, (uint8_t[]){1, 2, 10, 3, 4}, N, 0),
                path("lbl10"), "label 10");
    {
        FILE *f = fopen(path("garbage.gz"), "wb");
        const uint8_t junk[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6};
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
        expect_fail("a corrupt gzip stream", path("garbage.gz"), lbl, path("garbage.gz"), "invalid");
    }
    /* After the gzip stream nothing may follow but more gzip members (legal gzip, what `cat a.gz b.gz`
     * makes): garbage, zeros, a lone byte of gzip's magic are refused, as is a stream cut short
     * before its trailer (the CRC and length of a member whose data is all there). */
    const char *tail = "PK\x03\x04 not gzip";
    expect_fail("garbage after the gzip stream",
                append(write_idx("tail.gz", 2051, 3, idims, pix, sizeof pix, 1), tail, strlen(tail)), lbl,
                path("tail.gz"), "trailing data after the gzip stream");
    expect_fail("zeros after the gzip stream",
                append(write_idx("zeros.gz", 2051, 3, idims, pix, sizeof pix, 1), (uint8_t[4]){0}, 4), lbl,
                path("zeros.gz"), "trailing data after the gzip stream");
    expect_fail("gzip's first magic byte after the stream", img,
                append(write_idx("magic1.gz", 2049, 1, ldims, lab, sizeof lab, 1), (uint8_t[]){0x1f}, 1),
                path("magic1.gz"), "trailing data after the gzip stream");
    expect_fail("a gzip stream without its 8-byte trailer", imgz,
                cut(write_idx("notrailer.gz", 2049, 1, ldims, lab, sizeof lab, 1), 8), path("notrailer.gz"),
                "truncated");
    {
        /* two members: the labels' header in one, the labels in the next */
        const char *a = write_idx("members.gz", 2049, 1, ldims, NULL, 0, 1);
        gzFile g = gzopen(a, "ab");
        if (!g || gzwrite(g, lab, sizeof lab) != (int)sizeof lab || gzclose(g) != Z_OK) check(0, "append to %s", a);
        rc = mnist_split_load(&s, imgz, a, NULL, &err);
        check(rc == 0 && s.n == N && !memcmp(s.labels, lab, sizeof lab),
              "two gzip members, one after the other, load as their bytes joined: %s", rc ? err.msg : "ok");
        if (rc == 0) mnist_split_free(&s);
        expect_fail("garbage after the second gzip member", imgz, append(a, tail, strlen(tail)), a,
                    "trailing data after the gzip stream");
    }
    expect_fail("a missing file", path("nope"), lbl, path("nope"), "cannot open");

    /* Verification: the right SHA-256 passes, a wrong one fails naming the file. */
    const char *empty_sha[2] = {NULL, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
    rc = mnist_split_load(&s, img, lbl, empty_sha, &err);
    check(rc == -1 && strstr(err.msg, "lbl") && strstr(err.msg, "SHA-256"), "a SHA-256 mismatch is refused: \"%s\"",
          err.msg);
    /* a damaged file's error, err NULL (as every function takes): it added its advice through err, and crashed */
    const char *cut_sha[2] = {NULL, lbl_sha};
    rc = mnist_split_load(&s, img, cut(write_idx("cutlbl", 2049, 1, ldims, lab, sizeof lab, 0), 2), cut_sha, NULL);
    check(rc == -1, "a damaged file with its SHA-256 given and err NULL: -1, no crash (%d)", rc);
    const char *right_sha[2] = {NULL, lbl_sha};
    rc = mnist_split_load(&s, img, lbl, right_sha, &err);
    check(rc == 0 && s.n == N, "the right SHA-256 (sha256sum's) passes: %s", rc ? err.msg : "ok");
    if (rc == 0) mnist_split_free(&s);

    /* mnist_data_load_some of no split (0, which is all four to mnist_fetch, or bits of no file) loaded
     * nothing and said it was done */
    const unsigned none[] = {0, 1u << MNIST_NFILES};
    for (int i = 0; i < 2; i++) {
        mnist_data d;
        rc = mnist_data_load_some(&d, mnist_dataset_get("mnist"), dir, none[i], 0, &err);
        check(rc == -1 && strstr(err.msg, "names no split"), "mnist_data_load_some of files 0x%x is refused: \"%s\"",
              none[i], rc ? err.msg : "it returned 0");
        if (rc == 0) mnist_data_free(&d);
    }
    /* The library has no flags: what it advises is said in its own terms (it said "--no-verify reads it",
     * "run 'mnist fetch --dataset mnist --data DIR'"); the CLI says them in its flags. A folder without the
     * dataset's files, loaded unverified, and one whose training images are these small ones, verified. */
    mnist_data d;
    rc = mnist_data_load_some(&d, mnist_dataset_get("mnist"), dir, MNIST_TRAIN_FILES, 0, &err);
    check(rc == -1 && strstr(err.msg, "not found") && strstr(err.msg, "fetch it (mnist_fetch)") && !strstr(err.msg, "--"),
          "a dataset's file not there: the advice names mnist_fetch, no flag: \"%s\"", rc ? err.msg : "it loaded");
    if (rc == 0) mnist_data_free(&d);
    char ours[600], cp[2000];
    snprintf(ours, sizeof ours, "%s/ours", dir);
    snprintf(cp, sizeof cp, "mkdir %s && cp %s %s/train-images-idx3-ubyte && cp %s %s/train-labels-idx1-ubyte", ours, img,
             ours, lbl, ours);
    if (system(cp)) check(0, "%s", cp);
    rc = mnist_data_load_some(&d, mnist_dataset_get("mnist"), ours, MNIST_TRAIN_FILES, 1, &err);
    check(rc == -1 && strstr(err.msg, "a load that does not verify reads it as it is") &&
              strstr(err.msg, "mnist_fetch sets it aside") && !strstr(err.msg, "--"),
          "a file not the dataset's, verified: the advice in the library's terms, no flag: \"%s\"",
          rc ? err.msg : "it loaded");
    if (rc == 0) mnist_data_free(&d);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return check_status();
}
