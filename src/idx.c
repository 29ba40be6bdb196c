/* idx.c: IDX files (LeCun's format), plain or gzip, every header field checked before it is
 * trusted. Images stay bytes; the backend scales them to [0, 1] per batch. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "util.h"

#define IDX_LABELS 2049          /* 0x00000801: ubyte, 1 dimension */
#define IDX_IMAGES 2051          /* 0x00000803: ubyte, 3 dimensions */
#define IDX_MAX_BYTES (1u << 31) /* refuse any file whose header claims more than 2 GiB */
#define IDX_MAX_SIDE 4096

typedef struct {
    int n, rows, cols; /* rows = cols = 1 for labels */
    uint8_t *data;     /* n * rows * cols bytes */
} idx_file;

/* What a file that is not the dataset's may be, and what to do: a subset or other IDX data of the
 * user's own (which a load that does not verify reads), or a damaged download. In the library's
 * terms: the CLI says them in its flags' (cli.c's cli_flag_advice). */
static const char not_the_file[] = "your own IDX data, a subset: a load that does not verify reads it as it is; else "
                                   "damaged or not the right file: mnist_fetch sets it aside and fetches it again";

/* Read an IDX file with the given magic; sha (may be NULL) is the expected hex SHA-256 of the
 * decompressed bytes, and expect (0: any) their count, which the header must promise before the
 * rest is read (a small .gz may inflate to gigabytes). */
static int idx_read(idx_file *out, const char *path, uint32_t magic, const char *sha, uint64_t expect,
                    mnist_err *err) {
    memset(out, 0, sizeof *out);
    gz_input *g = gz_input_open(path, err); /* a folder, a device or a FIFO is no IDX file */
    if (!g) return -1;
    EVP_MD_CTX *md = sha256_start(path, err);
    uint8_t *data = NULL;
    int rc = -1;
    if (!md) goto done;

    int ndims = magic == IDX_IMAGES ? 3 : 1;
    uint8_t head[16];
    size_t head_len = 4 + 4 * (size_t)ndims;
    size_t got;
    if (gz_input_read(g, head, head_len, &got, err)) goto broken;
    if (got < 4 || be32(head) != magic) {
        if (got < 4)
            errf(err, "%s: not an IDX file (only %zu bytes)", path, got);
        else if (be32(head) == (magic == IDX_IMAGES ? IDX_LABELS : IDX_IMAGES))
            errf(err, "%s: is an IDX %s file where %s were expected", path,
                 magic == IDX_IMAGES ? "labels" : "images", magic == IDX_IMAGES ? "images" : "labels");
        else
            errf(err, "%s: bad magic number 0x%08x, expected 0x%08x (IDX %s, unsigned bytes)", path, be32(head),
                 magic, magic == IDX_IMAGES ? "images" : "labels");
        goto done;
    }
    if (got < head_len) {
        errf(err, "%s: truncated IDX header (%zu of %zu bytes)", path, got, head_len);
        goto done;
    }
    uint32_t n = be32(head + 4);
    uint32_t rows = ndims == 3 ? be32(head + 8) : 1, cols = ndims == 3 ? be32(head + 12) : 1;
    if (rows == 0 || cols == 0 || rows > IDX_MAX_SIDE || cols > IDX_MAX_SIDE) {
        errf(err, "%s: implausible image size %ux%u", path, rows, cols);
        goto done;
    }
    size_t per = (size_t)rows * cols, bytes;
    if (n == 0 || n > INT_MAX || mul_size(per, n, &bytes) || bytes > IDX_MAX_BYTES) {
        errf(err, "%s: implausible count %u of %zu bytes each", path, n, per);
        goto done;
    }
    if (expect && head_len + bytes != expect) {
        errf(err, "%s: its header promises %u %s (%zu bytes) where the dataset's file holds %llu bytes (%s)", path, n,
             ndims == 3 ? "images" : "labels", head_len + bytes, (unsigned long long)expect, not_the_file);
        goto done;
    }
    if (!EVP_DigestUpdate(md, head, head_len)) {
        errf(err, "%s: SHA-256 failed (OpenSSL)", path);
        goto done;
    }

    /* Grow the buffer as bytes arrive, so a header that lies about the count costs no more
     * memory than the file really holds (about twice that at most). */
    size_t cap = bytes < (1u << 20) ? bytes : (1u << 20), have = 0;
    for (;;) {
        uint8_t *p = realloc(data, cap);
        if (!p) {
            errf(err, "%s: out of memory for %zu bytes", path, cap);
            goto done;
        }
        data = p;
        size_t r;
        if (gz_input_read(g, data + have, cap - have, &r, err)) goto broken;
        have += r;
        if (have < cap || cap == bytes) break;
        cap = cap > bytes / 2 ? bytes : 2 * cap;
    }
    if (have < bytes) {
        errf(err, "%s: truncated: the header says %u %s (%zu bytes) but only %zu bytes follow", path, n,
             ndims == 3 ? "images" : "labels", bytes, have);
        goto broken;
    }
    uint8_t extra;
    size_t more; /* also where the gzip reader finds bytes after its stream */
    if (gz_input_read(g, &extra, 1, &more, err)) goto broken;
    if (more > 0) {
        errf(err, "%s: trailing bytes after the %u %s the header announces", path, n,
             ndims == 3 ? "images" : "labels");
        goto broken;
    }
    if (sha) {
        uint8_t dig[32];
        char hex[65];
        unsigned dlen = 0;
        if (!EVP_DigestUpdate(md, data, bytes) || !EVP_DigestFinal_ex(md, dig, &dlen) || dlen != sizeof dig) {
            errf(err, "%s: SHA-256 failed (OpenSSL)", path);
            goto done;
        }
        for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", dig[i]);
        if (strcmp(hex, sha) != 0) {
            /* another known dataset's file (Fashion-MNIST's where MNIST's was asked for): not damaged,
             * and not to be deleted, as the advice below says */
            char whose[256];
            const mnist_dataset *known = other_dataset(hex, sha, whose, sizeof whose);
            if (known)
                errf(err, "%s: %s", path, whose);
            else
                errf(err, "%s: SHA-256 %s does not match the expected %s (%s)", path, hex, sha, not_the_file);
            goto done;
        }
    }
    out->n = (int)n;
    out->rows = (int)rows;
    out->cols = (int)cols;
    out->data = data;
    data = NULL;
    rc = 0;
    goto done;
broken:
    /* A dataset's file (sha given) that cannot be read whole (a gzip stream broken or cut short, the images
     * cut short, bytes after them): damaged, a download or a copy stopped early, and said so with what to do,
     * as a SHA-256 that differs is ("cannot read: incorrect data check" said neither). */
    if (sha && err) { /* err may be NULL, as everywhere */
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; the file is damaged: mnist_fetch sets it aside and fetches it again");
    }
done:
    free(data);
    EVP_MD_CTX_free(md);
    gz_input_close(g);
    return rc;
}

/* mnist_split_load, the files' sizes known too (expect: NULL, or the two) */
static int split_load(mnist_split *s, const char *images_path, const char *labels_path, const char *const sha[2],
                      const uint64_t *expect, mnist_err *err) {
    memset(s, 0, sizeof *s);
    idx_file im, lb;
    if (idx_read(&im, images_path, IDX_IMAGES, sha ? sha[0] : NULL, expect ? expect[0] : 0, err)) return -1;
    if (idx_read(&lb, labels_path, IDX_LABELS, sha ? sha[1] : NULL, expect ? expect[1] : 0, err)) {
        free(im.data);
        return -1;
    }
    if (im.n != lb.n) {
        free(im.data);
        free(lb.data);
        return errf(err, "%s: %d images but %s has %d labels", images_path, im.n, labels_path, lb.n);
    }
    for (int i = 0; i < lb.n; i++)
        if (lb.data[i] >= MNIST_CLASSES) {
            int v = lb.data[i];
            free(im.data);
            free(lb.data);
            return errf(err, "%s: label %d of example %d is not one of the 10 classes (0..9)", labels_path, v, i);
        }
    *s = (mnist_split){.n = im.n, .rows = im.rows, .cols = im.cols, .images = im.data, .labels = lb.data};
    return 0;
}

int mnist_split_load(mnist_split *s, const char *images_path, const char *labels_path, const char *const sha[2],
                     mnist_err *err) {
    return split_load(s, images_path, labels_path, sha, NULL, err);
}

int mnist_split_sha256(const mnist_split *s, char hex[65], mnist_err *err) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t dig[32];
    unsigned dlen = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, s->images, (size_t)s->n * s->rows * s->cols) &&
             EVP_DigestUpdate(md, s->labels, (size_t)s->n) && EVP_DigestFinal_ex(md, dig, &dlen) && dlen == sizeof dig;
    EVP_MD_CTX_free(md);
    if (!ok) return errf(err, "SHA-256 of the training set failed (OpenSSL)");
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", dig[i]);
    return 0;
}

void mnist_split_free(mnist_split *s) {
    free(s->images);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

int mnist_data_load_some(mnist_data *d, const mnist_dataset *ds, const char *dir, unsigned files, int verify,
                         mnist_err *err) {
    memset(d, 0, sizeof *d);
    if (!(files & (MNIST_TRAIN_FILES | MNIST_TEST_FILES)) || files & ~(MNIST_TRAIN_FILES | MNIST_TEST_FILES))
        return errf(err, "mnist_data_load_some: files 0x%x names no split of a dataset (MNIST_TRAIN_FILES, "
                    "MNIST_TEST_FILES or both)", files);
    if (files & MNIST_TRAIN_FILES) files |= MNIST_TRAIN_FILES; /* a split is its two files */
    if (files & MNIST_TEST_FILES) files |= MNIST_TEST_FILES;
    char path[MNIST_NFILES][4096];
    struct stat st; /* as fetch says it (a file's name was said to lack the dataset's files, with --no-verify) */
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return errf(err, "%s: the data folder exists but is not a folder", dir);
    for (int f = 0; f < MNIST_NFILES; f++) {
        if (!(files & 1u << f)) continue;
        int found = mnist_data_file(path[f], sizeof path[f], dir, &ds->files[f], err);
        if (found < 0) return -1;
        if (!found) /* a bare 'mnist fetch' fetched into the default folder, not dir, and MNIST for Fashion-MNIST */
            return errf(err, "%s: %s not found (neither raw nor .gz); place it there, or fetch it (mnist_fetch)", dir,
                        ds->files[f].name);
    }
    const char *tr_sha[2] = {ds->files[MNIST_TRAIN_IMAGES].sha256, ds->files[MNIST_TRAIN_LABELS].sha256};
    const char *te_sha[2] = {ds->files[MNIST_TEST_IMAGES].sha256, ds->files[MNIST_TEST_LABELS].sha256};
    const uint64_t tr_n[2] = {ds->files[MNIST_TRAIN_IMAGES].bytes, ds->files[MNIST_TRAIN_LABELS].bytes};
    const uint64_t te_n[2] = {ds->files[MNIST_TEST_IMAGES].bytes, ds->files[MNIST_TEST_LABELS].bytes};
    if ((files & MNIST_TRAIN_FILES) && split_load(&d->train, path[MNIST_TRAIN_IMAGES], path[MNIST_TRAIN_LABELS],
                                                   verify ? tr_sha : NULL, verify ? tr_n : NULL, err))
        return -1;
    if ((files & MNIST_TEST_FILES) && split_load(&d->test, path[MNIST_TEST_IMAGES], path[MNIST_TEST_LABELS],
                                                  verify ? te_sha : NULL, verify ? te_n : NULL, err)) {
        mnist_data_free(d);
        return -1;
    }
    if ((files & MNIST_TRAIN_FILES) && (files & MNIST_TEST_FILES) &&
        (d->train.rows != d->test.rows || d->train.cols != d->test.cols)) {
        errf(err, "%s: training images are %dx%d but test images %dx%d", dir, d->train.rows, d->train.cols,
             d->test.rows, d->test.cols);
        mnist_data_free(d);
        return -1;
    }
    return 0;
}

int mnist_data_load(mnist_data *d, const mnist_dataset *ds, const char *dir, int verify, mnist_err *err) {
    return mnist_data_load_some(d, ds, dir, MNIST_TRAIN_FILES | MNIST_TEST_FILES, verify, err);
}

void mnist_data_free(mnist_data *d) {
    mnist_split_free(&d->train);
    mnist_split_free(&d->test);
}
