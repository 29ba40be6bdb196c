/* test_fetch.c: the dataset table, the data folder, SHA-256 of plain and gzip files, and the
 * verified fetch against file:// mirrors and loopback HTTP, with a test dataset whose contents
 * are short strings of published SHA-256 (FIPS 180-2 test vectors and the empty string), so
 * nothing here ever reaches the internet or the real MNIST mirrors. */
#undef _POSIX_C_SOURCE
#define _XOPEN_SOURCE 700
#include "mnist.h"
#include "check.h"
#include "util.h" /* sha256_file_limited, now_seconds */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA_FOX "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"

static const char *const contents[MNIST_NFILES] = {
    "abc", "", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "The quick brown fox jumps over the lazy dog"};

/* No built-in URLs: a fetch that runs out of mirrors fails instead of going online. */
static const mnist_dataset tds = {
    .name = "test",
    .urls = NULL,
    .nurls = 0,
    .files = {{"tr-img", SHA_ABC}, {"tr-lab", SHA_EMPTY}, {"te-img", SHA_448}, {"te-lab", SHA_FOX}},
    .classes = NULL,
};

static char root[256];

static void path_of(char *out, size_t cap, const char *a, const char *b) {
    snprintf(out, cap, "%s/%s%s%s", root, a, b ? "/" : "", b ? b : "");
}

static int write_raw(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(s);
    int bad = fwrite(s, 1, n, f) != n;
    return fclose(f) != 0 || bad ? -1 : 0;
}

static int write_gz(const char *path, const char *s) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    unsigned n = (unsigned)strlen(s);
    int bad = n && gzwrite(g, s, n) != (int)n;
    return gzclose(g) != Z_OK || bad ? -1 : 0;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Whether path.unverified holds exactly s (gz: as a gzip of it): a file set aside by fetch, as it was. */
static int set_aside(const char *path, const char *s, int gz) {
    char p[4200], buf[256];
    snprintf(p, sizeof p, "%s.unverified", path);
    gzFile g = gzopen(p, "rb"); /* reads a file that is no gzip as it is */
    if (!g) return 0;
    int n = gzread(g, buf, sizeof buf), direct = gzdirect(g);
    gzclose(g);
    return n == (int)strlen(s) && !memcmp(buf, s, (size_t)n) && direct == !gz;
}

/* A mirror folder with the test files as .gz; bit i of mask says file i is there; file
 * `corrupt` (or -1) gets other content. */
static void make_mirror(const char *name, unsigned mask, int corrupt) {
    char dir[1024], p[4096];
    path_of(dir, sizeof dir, name, NULL);
    if (mkdir(dir, 0755) != 0) check(0, "mkdir %s", dir);
    for (int i = 0; i < MNIST_NFILES; i++) {
        if (!(mask >> i & 1)) continue;
        snprintf(p, sizeof p, "%s/%s.gz", dir, tds.files[i].name);
        if (write_gz(p, i == corrupt ? "not the right bytes" : contents[i])) check(0, "write %s", p);
    }
}

/* Files in dir whose name starts with '.', other than . and .. (temporary files). */
static int dotfiles(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* All four files present (raw or .gz) and verified. */
static int all_valid(const char *dir) {
    for (int i = 0; i < MNIST_NFILES; i++) {
        char p[4096], hex[65];
        mnist_err e;
        if (mnist_data_file(p, sizeof p, dir, &tds.files[i], &e) != 1) return 0;
        if (mnist_sha256_file(p, hex, &e) || strcmp(hex, tds.files[i].sha256)) return 0;
    }
    return 1;
}

typedef struct {
    char text[16384];
    int progress_calls;
    volatile int *cancel_on_progress;
} news;

static void on_log(void *ud, const char *line) {
    news *n = ud;
    size_t len = strlen(n->text);
    snprintf(n->text + len, sizeof n->text - len, "%s\n", line);
}

static void on_progress(void *ud, const char *file, double now, double total) {
    news *n = ud;
    (void)file, (void)now, (void)total;
    n->progress_calls++;
    if (n->cancel_on_progress) *n->cancel_on_progress = 1;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Fetch ds into data dir `name` from the given mirrors (URLs). */
static int fetch_from(const mnist_dataset *ds, const char *name, const char *const *mirrors, int n, news *log,
                      volatile int *cancel, mnist_err *err) {
    char dir[1024];
    path_of(dir, sizeof dir, name, NULL);
    memset(log, 0, sizeof *log);
    /* a transfer under 1000 bytes/s for 1 s is a stall, and one over 3 s in all too long: the
     * stalling and the trickling server's tests take seconds */
    mnist_fetch_opts o = {mirrors, n, on_log, on_progress, log, cancel, .low_speed_time = 1, .max_time = 3};
    err->msg[0] = '\0';
    return mnist_fetch(ds, dir, &o, err);
}

/* The same for tds, whose files' sizes are not given. */
static int fetch(const char *name, const char *const *mirrors, int n, news *log, volatile int *cancel,
                 mnist_err *err) {
    return fetch_from(&tds, name, mirrors, n, log, cancel, err);
}

static void test_sha256(void) {
    char p[1024], hex[65];
    mnist_err e;
    path_of(p, sizeof p, "abc", NULL);
    check(write_raw(p, "abc") == 0 && mnist_sha256_file(p, hex, &e) == 0 && !strcmp(hex, SHA_ABC),
          "sha256 of a plain file \"abc\" is the FIPS 180-2 vector");
    path_of(p, sizeof p, "abc.gz", NULL);
    check(write_gz(p, "abc") == 0 && mnist_sha256_file(p, hex, &e) == 0 && !strcmp(hex, SHA_ABC),
          "sha256 of a gzip file of \"abc\" agrees with the plain one");
    path_of(p, sizeof p, "empty", NULL);
    check(write_raw(p, "") == 0 && mnist_sha256_file(p, hex, &e) == 0 && !strcmp(hex, SHA_EMPTY),
          "sha256 of an empty file");
    /* A gzip file cut short must be an error, not the hash of a prefix. */
    char big[4096];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + (i * 7919 % 26));
    big[sizeof big - 1] = '\0';
    path_of(p, sizeof p, "cut.gz", NULL);
    struct stat st;
    int ok = write_gz(p, big) == 0 && stat(p, &st) == 0 && truncate(p, st.st_size / 2) == 0;
    e.msg[0] = '\0';
    check(ok && mnist_sha256_file(p, hex, &e) == -1 && strstr(e.msg, p), "truncated gzip is an error naming it: %s",
          e.msg);
    /* Bytes after the gzip stream are an error too (gzread skips them): the hash would be that of
     * the content before them, and a damaged file would pass as a good one. */
    path_of(p, sizeof p, "tail.gz", NULL);
    FILE *f = write_gz(p, "abc") == 0 ? fopen(p, "ab") : NULL;
    ok = f && fputs("junk", f) >= 0;
    ok &= f && fclose(f) == 0;
    e.msg[0] = '\0';
    check(ok && mnist_sha256_file(p, hex, &e) == -1 && strstr(e.msg, p) &&
              strstr(e.msg, "trailing data after the gzip stream"),
          "bytes after the gzip stream are an error naming the file: %s", e.msg);
    path_of(p, sizeof p, "missing", NULL);
    check(mnist_sha256_file(p, hex, &e) == -1 && strstr(e.msg, p) && strstr(e.msg, "No such file"),
          "missing file is an error naming it: %s", e.msg);
    /* Content is hashed only up to a limit (a gzip bomb is not inflated to its end), and a cancel
     * flag stops the hash: mnist_sha256_file's limit is the IDX reader's, 2 GiB and a header */
    char full[65];
    path_of(p, sizeof p, "big.gz", NULL);
    ok = write_gz(p, big) == 0 && mnist_sha256_file(p, full, &e) == 0;
    check(ok && sha256_file_limited(p, hex, sizeof big - 1, NULL, &e) == 0 && !strcmp(hex, full),
          "content of exactly the limit is hashed");
    e.msg[0] = '\0';
    check(ok && sha256_file_limited(p, hex, sizeof big - 2, NULL, &e) == -1 && strstr(e.msg, p) &&
              strstr(e.msg, "is over 4094 bytes"),
          "content past the limit is refused, naming the file: %s", e.msg);
    volatile int stop = 1;
    e.msg[0] = '\0';
    check(ok && sha256_file_limited(p, hex, UINT64_MAX, &stop, &e) == -1 && strstr(e.msg, "interrupted"),
          "a set cancel flag stops the hash: %s", e.msg);
}

static void test_dataset(void) {
    const mnist_dataset *ds = mnist_dataset_get("mnist");
    check(ds && !strcmp(ds->name, "mnist"), "mnist_dataset_get(\"mnist\")");
    if (!ds) return;
    check(mnist_dataset_get("nope") == NULL && mnist_dataset_get(NULL) == NULL, "unknown dataset is NULL");
    check(ds->nurls == 2 && !strcmp(ds->urls[0], "https://storage.googleapis.com/cvdf-datasets/mnist/") &&
              !strcmp(ds->urls[1], "https://ossci-datasets.s3.amazonaws.com/mnist/"),
          "mnist mirrors: the lab's first");
    check(!strcmp(ds->files[MNIST_TRAIN_IMAGES].name, "train-images-idx3-ubyte") &&
              !strcmp(ds->files[MNIST_TRAIN_LABELS].name, "train-labels-idx1-ubyte") &&
              !strcmp(ds->files[MNIST_TEST_IMAGES].name, "t10k-images-idx3-ubyte") &&
              !strcmp(ds->files[MNIST_TEST_LABELS].name, "t10k-labels-idx1-ubyte"),
          "mnist file names");
    int hexok = 1;
    for (int i = 0; i < MNIST_NFILES; i++)
        hexok &= strlen(ds->files[i].sha256) == 64 && strspn(ds->files[i].sha256, "0123456789abcdef") == 64;
    check(hexok && !strcmp(ds->files[MNIST_TRAIN_IMAGES].sha256,
                           "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
          "mnist SHA-256s are lowercase hex");
    int classes = 1;
    for (int i = 0; i < MNIST_CLASSES; i++) classes &= ds->classes[i][0] == '0' + i && ds->classes[i][1] == 0;
    check(classes, "mnist classes are \"0\"..\"9\"");
}

static void test_data_dir(void) {
    char out[1024];
    mnist_err e;
    setenv("MNIST_DATA", "/m", 1);
    setenv("XDG_CACHE_HOME", "/x", 1);
    setenv("HOME", "/h", 1);
    check(mnist_data_dir(out, sizeof out, "/given", &e) == 0 && !strcmp(out, "/given"), "data dir: argument first");
    check(mnist_data_dir(out, sizeof out, "", &e) == 0 && !strcmp(out, "/m"), "data dir: $MNIST_DATA when \"\"");
    check(mnist_data_dir(out, sizeof out, NULL, &e) == 0 && !strcmp(out, "/m"), "data dir: $MNIST_DATA when NULL");
    unsetenv("MNIST_DATA");
    check(mnist_data_dir(out, sizeof out, NULL, &e) == 0 && !strcmp(out, "/x/mnist"), "data dir: $XDG_CACHE_HOME/mnist");
    setenv("XDG_CACHE_HOME", "/x/", 1); /* one '/' between, as each join makes it (it said "/x//mnist") */
    check(mnist_data_dir(out, sizeof out, NULL, &e) == 0 && !strcmp(out, "/x/mnist"), "data dir: $XDG_CACHE_HOME/ "
          "gives /x/mnist: %s", out);
    setenv("XDG_CACHE_HOME", "", 1);
    check(mnist_data_dir(out, sizeof out, NULL, &e) == 0 && !strcmp(out, "/h/.cache/mnist"), "data dir: $HOME/.cache/mnist");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    check(mnist_data_dir(out, sizeof out, NULL, &e) == -1 && strstr(e.msg, "HOME"), "data dir: error without HOME: %s",
          e.msg);
    check(mnist_data_dir(out, 4, "/long/path", &e) == -1 && !strcmp(e.msg, "/lo...: data folder name too long (10 "
          "bytes, 3 at most)"), "data dir: too long for the buffer is an error naming the folder's start: %s", e.msg);
    check(mnist_data_dir(NULL, 0, "/long/path", &e) == -1 && strstr(e.msg, "too long (10 bytes, 0 at most)"),
          "data dir: no room at all is an error: %s", e.msg);
}

static void test_data_file(void) {
    char dir[1024], p[4096], want[4096];
    mnist_err e;
    path_of(dir, sizeof dir, "df", NULL);
    mkdir(dir, 0755);
    const mnist_file_info *f = &tds.files[0];
    snprintf(want, sizeof want, "%s/%s.gz", dir, f->name);
    check(mnist_data_file(p, sizeof p, dir, f, &e) == 0 && !strcmp(p, want), "data file: none gives 0 and the .gz path");
    write_gz(want, "abc");
    check(mnist_data_file(p, sizeof p, dir, f, &e) == 1 && !strcmp(p, want), "data file: finds the .gz");
    snprintf(want, sizeof want, "%s/%s", dir, f->name);
    write_raw(want, "abc");
    check(mnist_data_file(p, sizeof p, dir, f, &e) == 1 && !strcmp(p, want), "data file: prefers the raw file");
    check(mnist_data_file(p, 8, dir, f, &e) == -1, "data file: path too long is an error");
    char slashed[1100];
    snprintf(slashed, sizeof slashed, "%s//", dir); /* --data DIR/: its files are DIR/name, not DIR//name */
    check(mnist_data_file(p, sizeof p, slashed, f, &e) == 1 && !strcmp(p, want), "data file: a folder ending in '/' "
          "joins with one: %s", p);
}

static void test_fetch_file_mirrors(void) {
    char url1[1024], url2[1024], url3[1024], dir[1024], p[4096];
    news log;
    mnist_err e;
    make_mirror("m1", 0xf, -1);        /* everything */
    make_mirror("m2", 0xf & ~4u, -1);  /* lacks te-img */
    make_mirror("m3", 0xf, 1);         /* tr-lab corrupt */
    snprintf(url1, sizeof url1, "file://%s/m1", root); /* no trailing '/': fetch adds it */
    snprintf(url2, sizeof url2, "file://%s/m2/", root);
    snprintf(url3, sizeof url3, "file://%s/m3/", root);

    /* Fresh download into a folder that does not exist yet (mkdir -p). */
    const char *m1[] = {url1};
    int rc = fetch("d1/sub/data", m1, 1, &log, NULL, &e);
    path_of(dir, sizeof dir, "d1/sub/data", NULL);
    check(rc == 0, "fetch from a file:// mirror: %s", rc ? e.msg : "ok");
    check(all_valid(dir) && dotfiles(dir) == 0, "all four files there, verified, no temporary file left");
    snprintf(p, sizeof p, "Downloading %s/tr-img.gz to %s/tr-img.gz...", url1, dir);
    check(strstr(log.text, p) != NULL, "log says \"Downloading URL to PATH...\"");
    check(log.progress_calls > 0, "progress callback called (%d times)", log.progress_calls);

    /* Only the test set's files, from a mirror that has only those: the training files not asked for. */
    make_mirror("m4", MNIST_TEST_FILES, -1);
    char url4[1024];
    snprintf(url4, sizeof url4, "file://%s/m4/", root);
    path_of(dir, sizeof dir, "d-test", NULL);
    mnist_fetch_opts ot = {.mirrors = (const char *[]){url4}, .nmirrors = 1, .files = MNIST_TEST_FILES};
    rc = mnist_fetch(&tds, dir, &ot, &e);
    int got = 0;
    for (int i = 0; i < MNIST_NFILES; i++) got |= (mnist_data_file(p, sizeof p, dir, &tds.files[i], &e) == 1) << i;
    check(rc == 0 && got == (int)MNIST_TEST_FILES, "fetch of the test files alone: those there, no other (%s; %#x)",
          rc ? e.msg : "ok", (unsigned)got);
    path_of(dir, sizeof dir, "d1/sub/data", NULL);

    /* Present, valid files are kept untouched, and no mirror is needed. */
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    for (int i = 0; i < MNIST_NFILES; i++) {
        snprintf(p, sizeof p, "%s/%s.gz", dir, tds.files[i].name);
        utimensat(AT_FDCWD, p, old, 0);
    }
    const char *nowhere[] = {"file:///nonexistent/mirror/"};
    rc = fetch("d1/sub/data", nowhere, 1, &log, NULL, &e);
    int same = 1;
    struct stat st;
    for (int i = 0; i < MNIST_NFILES; i++) {
        snprintf(p, sizeof p, "%s/%s.gz", dir, tds.files[i].name);
        same &= stat(p, &st) == 0 && st.st_mtime == 1000000000;
    }
    check(rc == 0 && same && count(log.text, "present, verified") == 4 && !strstr(log.text, "Downloading"),
          "present valid files are kept (mtime unchanged, nothing downloaded)");

    /* A wrong raw file and a wrong .gz are set aside as NAME.unverified (they may be the user's own: they were
     * removed, and overwritten) and fetched again. */
    snprintf(p, sizeof p, "%s/tr-img.gz", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/tr-img", dir);
    write_raw(p, "xyz");
    char gz1[4096];
    snprintf(gz1, sizeof gz1, "%s/tr-lab.gz", dir);
    write_gz(gz1, "not empty");
    rc = fetch("d1/sub/data", m1, 1, &log, NULL, &e);
    check(rc == 0 && !exists(p) && all_valid(dir) && dotfiles(dir) == 0, "wrong files are replaced: %s",
          rc ? e.msg : "ok");
    check(set_aside(p, "xyz", 0) && set_aside(gz1, "not empty", 1), "the wrong files are kept, set aside as they were");
    check(count(log.text, "fails verification") == 2 && count(log.text, "Downloading") == 2 &&
              count(log.text, ".unverified, to fetch it again") == 2,
          "log names the two files that failed verification, and where they were set aside");

    /* A wrong raw file beside a valid .gz: the .gz is kept, the raw file set aside (the loader reads a raw file
     * first), over the one set aside before. */
    write_raw(p, "uvw");
    rc = fetch("d1/sub/data", nowhere, 1, &log, NULL, &e);
    check(rc == 0 && !exists(p) && set_aside(p, "uvw", 0) && all_valid(dir) && !strstr(log.text, "Downloading"),
          "wrong raw file beside a valid .gz: raw set aside, .gz kept");

    /* A wrong file that cannot be set aside (a folder holds its .unverified name) is kept, and the fetch fails,
     * saying so */
    char aside[4200];
    snprintf(aside, sizeof aside, "%s.unverified", p);
    unlink(aside);
    write_raw(p, "uvw");
    if (mkdir(aside, 0755) != 0 || write_raw(strcat(aside, "/x"), "x") != 0) check(0, "make %s", aside);
    rc = fetch("d1/sub/data", nowhere, 1, &log, NULL, &e);
    check(rc == -1 && strstr(e.msg, "fails verification, and setting it aside as ") && exists(p) && exists(aside),
          "a wrong raw file that cannot be set aside is kept, the fetch refused: %s", rc ? e.msg : "ok");
    unlink(aside), unlink(p);
    aside[strlen(aside) - 2] = '\0';
    rmdir(aside);

    /* A .gz cut short is replaced, its line giving the reader's message without its path
     * (it said "D/tr-lab.gz: cannot be verified (D/tr-lab.gz: cannot read: ...)") */
    struct stat gst;
    if (stat(gz1, &gst) != 0 || truncate(gz1, gst.st_size - 4) != 0) check(0, "cut %s", gz1);
    rc = fetch("d1/sub/data", m1, 1, &log, NULL, &e);
    char line[2 * 4096 + 256];
    snprintf(line, sizeof line, "%s: cannot be verified (cannot read: truncated gzip stream (the file ends inside a "
             "member)); set aside as %s.unverified, to fetch it again\n", gz1, gz1);
    check(rc == 0 && all_valid(dir) && strstr(log.text, line) && count(log.text, gz1) == 3, /* and "Downloading ..." */
          "a .gz cut short is replaced, its log line giving the reader's message without its path: %s",
          rc ? e.msg : strstr(log.text, line) && count(log.text, gz1) == 3 ? "ok" : log.text);

    /* A mirror that lacks a file: the next mirror provides it. */
    const char *m21[] = {url2, url1};
    rc = fetch("d2", m21, 2, &log, NULL, &e);
    path_of(dir, sizeof dir, "d2", NULL);
    snprintf(p, sizeof p, "%ste-img.gz", url2);
    check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0, "missing file falls back to the next mirror: %s",
          rc ? e.msg : "ok");
    /* 6: the four files, m2's te-img.gz, then its te-img raw (a folder's file not there as .gz) */
    check(strstr(log.text, p) && count(log.text, "Downloading") == 6, "the failure on the first mirror is logged");
    check(!strstr(log.text, "skipping this mirror"), "a mirror that lacks one file is not skipped for the others");

    /* A folder that holds the files raw (train-images-idx3-ubyte, as many copies of MNIST are given out), its .gz
     * not there: the raw file is taken, kept under its raw name, verified by the same SHA-256; a wrong one is
     * refused, as a wrong .gz is, and the next mirror serves. Only .gz names were asked for. */
    char uraw[1024], wrong[1024], rawdir[1024 + 16];
    make_mirror("mr", 0xf & ~3u, -1); /* the test files as .gz, the training ones raw */
    make_mirror("mw", 0, -1);         /* tr-img raw and wrong, tr-lab raw and right */
    for (int i = 0; i < 2; i++) {
        path_of(rawdir, sizeof rawdir, "mr", tds.files[i].name);
        if (write_raw(rawdir, contents[i])) check(0, "write %s", rawdir);
        path_of(rawdir, sizeof rawdir, "mw", tds.files[i].name);
        if (write_raw(rawdir, i ? contents[i] : "not abc")) check(0, "write %s", rawdir);
    }
    snprintf(uraw, sizeof uraw, "file://%s/mr/", root);
    snprintf(wrong, sizeof wrong, "file://%s/mw/", root);
    const char *mraw[] = {wrong, uraw};
    rc = fetch("d-raw", mraw, 2, &log, NULL, &e);
    path_of(dir, sizeof dir, "d-raw", NULL);
    path_of(p, sizeof p, "d-raw", "tr-img");
    snprintf(rawdir, sizeof rawdir, "%s/tr-lab", dir);
    char bad[1024 + 64];
    snprintf(bad, sizeof bad, "%str-img: SHA-256 mismatch", wrong);
    check(rc == 0 && all_valid(dir) && exists(p) && exists(rawdir) && dotfiles(dir) == 0,
          "a folder of raw files: taken raw, verified: %s", rc ? e.msg : "ok");
    check(strstr(log.text, bad) != NULL, "a wrong raw file is refused by its SHA-256, the next mirror serves");
    /* a .gz there that fails verification is set aside, and the raw file got */
    path_of(p, sizeof p, "d-raw", "tr-img");
    unlink(p);
    char gz2[4096 + 8];
    snprintf(gz2, sizeof gz2, "%s.gz", p);
    write_gz(gz2, "not abc");
    const char *mr[] = {uraw};
    rc = fetch("d-raw", mr, 1, &log, NULL, &e);
    check(rc == 0 && all_valid(dir) && exists(p) && !exists(gz2) && set_aside(gz2, "not abc", 1),
          "a wrong .gz is set aside, the raw file got: %s", rc ? e.msg : "ok");
    /* a folder whose .gz is wrong and whose raw file beside it is right: the raw one is taken (it was not tried) */
    make_mirror("mg", 0xf, 0); /* tr-img.gz wrong */
    path_of(rawdir, sizeof rawdir, "mg", tds.files[0].name);
    if (write_raw(rawdir, contents[0])) check(0, "write %s", rawdir);
    char ugz[1024];
    snprintf(ugz, sizeof ugz, "file://%s/mg/", root);
    rc = fetch("d-gz-raw", (const char *[]){ugz}, 1, &log, NULL, &e);
    path_of(dir, sizeof dir, "d-gz-raw", NULL);
    path_of(p, sizeof p, "d-gz-raw", "tr-img");
    check(rc == 0 && all_valid(dir) && exists(p) && strstr(log.text, "tr-img.gz: SHA-256 mismatch"),
          "a folder with a wrong .gz and the right raw file beside it: the raw one is taken: %s", rc ? e.msg : "ok");

    /* A file:// mirror whose folder is not there fails as a server that cannot be reached does: said
     * once with "; skipping this mirror", and not tried again for the other files; a folder that
     * lacks one file (m2 above) is tried for the next. */
    char gone[1024];
    snprintf(gone, sizeof gone, "file://%s/no-such-mirror/", root);
    const char *mg1[] = {gone, url1};
    rc = fetch("d2g", mg1, 2, &log, NULL, &e);
    snprintf(p, sizeof p, "%str-img.gz: ", gone);
    char *said = strstr(log.text, p), *eol = said ? strchr(said, '\n') : NULL;
    check(rc == 0 && said && eol && eol - said > 22 && !strncmp(eol - 22, "; skipping this mirror", 22),
          "a file:// mirror that is not there: '; skipping this mirror', as other mirrors that fail: %.*s",
          said && eol ? (int)(eol - said) : 0, said ? said : "");
    check(count(log.text, gone) == 2 && count(log.text, "Downloading") == 5, /* its download and failure */
          "...and it is not tried for the other files (%d lines name it)", count(log.text, gone));

    /* A file:// mirror whose file is a FIFO: refused unopened, and the next mirror serves. curl's
     * open() of it waited for a writer for good, deaf to the time limits and to a cancel; here a
     * writer comes after 3 s (so that without the check the test ends, and fails), and is stopped
     * unused with it. A folder under the file's name is refused the same way. */
    make_mirror("mf", 0xf & ~1u, -1);
    char fifo[4096], ufifo[1024];
    snprintf(fifo, sizeof fifo, "%s/mf/tr-img.gz", root);
    snprintf(ufifo, sizeof ufifo, "file://%s/mf/", root);
    pid_t writer = mkfifo(fifo, 0644) == 0 ? fork() : -1;
    if (writer == 0) {
        sleep(3);
        int fd = open(fifo, O_WRONLY);
        if (fd >= 0 && write(fd, "junk", 4) == 4) close(fd);
        _exit(0);
    }
    double t0 = now_seconds();
    rc = fetch("d2f", (const char *[]){ufifo, url1}, 2, &log, NULL, &e);
    double took = now_seconds() - t0;
    if (writer > 0) kill(writer, SIGKILL), waitpid(writer, NULL, 0);
    path_of(dir, sizeof dir, "d2f", NULL);
    snprintf(p, sizeof p, "%str-img.gz: not a regular file (a FIFO, a device or a folder)\n", ufifo);
    check(writer > 0 && rc == 0 && all_valid(dir) && dotfiles(dir) == 0 && strstr(log.text, p) && took < 2,
          "a file:// mirror's FIFO is refused at once (%.1f s), the next mirror serves: %s", took,
          rc ? e.msg : strstr(log.text, p) ? "ok" : log.text);
    unlink(fifo);
    if (mkdir(fifo, 0755) != 0) check(0, "mkdir %s", fifo);
    rc = fetch("d2h", (const char *[]){ufifo, url1}, 2, &log, NULL, &e);
    path_of(dir, sizeof dir, "d2h", NULL);
    check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0 && strstr(log.text, p),
          "a file:// mirror's folder under the file's name is refused, the next mirror serves: %s",
          rc ? e.msg : strstr(log.text, p) ? "ok" : log.text);

    /* A data folder whose file is a folder (or a raw one a FIFO): it is never replaced, so it is
     * refused before any download, its path named. It was said to be "replaced", downloaded, and
     * then refused by the write ("exists and is not a regular file"); a raw FIFO was removed. */
    char held[1024];
    path_of(held, sizeof held, "d2k", NULL);
    int made = mkdir(held, 0755) == 0;
    path_of(held, sizeof held, "d2k", "tr-img.gz");
    made = made && mkdir(held, 0755) == 0;
    rc = fetch("d2k", (const char *[]){url1}, 1, &log, NULL, &e);
    snprintf(p, sizeof p, "%s: exists and is not a regular file; not replacing it", held);
    check(made && rc == -1 && !strcmp(e.msg, p) && !strstr(log.text, "Downloading") && !strstr(log.text, "replaced"),
          "a folder under a data file's name is refused before any download: %s", rc ? e.msg : "ok");
    path_of(held, sizeof held, "d2l", NULL);
    made = mkdir(held, 0755) == 0;
    path_of(held, sizeof held, "d2l", "tr-img");
    made = made && mkfifo(held, 0644) == 0;
    rc = fetch("d2l", (const char *[]){url1}, 1, &log, NULL, &e);
    struct stat fst;
    snprintf(p, sizeof p, "%s: exists and is not a regular file; not replacing it", held);
    check(made && rc == -1 && !strcmp(e.msg, p) && !strstr(log.text, "Downloading") && stat(held, &fst) == 0 &&
              S_ISFIFO(fst.st_mode),
          "a raw data file that is a FIFO is refused before any download, and kept: %s", rc ? e.msg : "ok");

    /* A mirror with corrupt content: no file under the real name, no temporary file. */
    const char *m3[] = {url3};
    rc = fetch("d3", m3, 1, &log, NULL, &e);
    path_of(dir, sizeof dir, "d3", NULL);
    snprintf(p, sizeof p, "%str-lab.gz", url3);
    check(rc == -1 && strstr(e.msg, "SHA-256 mismatch") && strstr(e.msg, p) && strstr(e.msg, "want " SHA_EMPTY),
          "corrupt mirror: error names the URL and the mismatch: %s", e.msg);
    snprintf(p, sizeof p, "%s/tr-lab.gz", dir);
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/tr-lab", dir);
    check(!exists(p) && !exists(raw) && dotfiles(dir) == 0, "corrupt mirror: no file and no temporary file left");
    check(strstr(e.msg, "by hand") && strstr(e.msg, dir) && strstr(e.msg, "tr-img") && strstr(e.msg, "te-lab") &&
              !strchr(e.msg, '\n'),
          "the error is one line that says how to place the files by hand");

    /* Every mirror fails: one error naming each URL. */
    make_mirror("e1", 0, -1);
    make_mirror("e2", 0, -1);
    char ue1[1024], ue2[1024];
    snprintf(ue1, sizeof ue1, "file://%s/e1/", root);
    snprintf(ue2, sizeof ue2, "file://%s/e2/", root);
    const char *mE[] = {ue1, ue2};
    rc = fetch("d4", mE, 2, &log, NULL, &e);
    snprintf(p, sizeof p, "%str-img.gz", ue1);
    snprintf(raw, sizeof raw, "%str-img.gz", ue2);
    path_of(dir, sizeof dir, "d4", NULL);
    check(rc == -1 && strstr(e.msg, p) && strstr(e.msg, raw) && strstr(e.msg, "by hand") && dotfiles(dir) == 0,
          "all mirrors fail: one error naming each URL: %s", e.msg);
    rc = fetch("d4", NULL, 0, &log, NULL, &e);
    check(rc == -1 && strstr(e.msg, "no mirror to try"), "no mirror at all: %s", e.msg);

    /* Cancelled before and during a download. */
    volatile int cancel = 1;
    rc = fetch("d5", m1, 1, &log, &cancel, &e);
    path_of(dir, sizeof dir, "d5", NULL);
    check(rc == -1 && strstr(e.msg, "interrupted") && dotfiles(dir) == 0 && !all_valid(dir),
          "cancel flag set: error says interrupted: %s", e.msg);
    cancel = 0;
    memset(&log, 0, sizeof log);
    mnist_fetch_opts o = {m1, 1, on_log, on_progress, &log, &cancel, .low_speed_time = 1};
    log.cancel_on_progress = &cancel;
    rc = mnist_fetch(&tds, dir, &o, &e);
    snprintf(p, sizeof p, "%s/tr-img.gz", dir);
    check(rc == -1 && strstr(e.msg, "interrupted") && dotfiles(dir) == 0 && !exists(p),
          "cancelled from the progress callback: interrupted, nothing left: %s", e.msg);

    /* A mirror of a scheme other than http, https and file: refused before anything is made. */
    const char *ftp[] = {"ftp://127.0.0.1/mnist/"};
    o = (mnist_fetch_opts){.mirrors = ftp, .nmirrors = 1};
    snprintf(dir, sizeof dir, "%s/d-ftp", root);
    rc = mnist_fetch(&tds, dir, &o, &e);
    check(rc == -1 && strstr(e.msg, "ftp://127.0.0.1/mnist/: a mirror's URL begins http://, https://") && !exists(dir),
          "an ftp:// mirror is refused, no folder made: %s", e.msg);

    /* A mirror with a query or a fragment: the file names went after it, and curl dropped it from a file:// URL;
     * refused before anything is made, and its password (user:pw) is not said. */
    const char *queried[] = {"http://user:pw@127.0.0.1/m/?token=1", "file:///tmp/#frag/"};
    for (int i = 0; i < 2; i++) {
        o = (mnist_fetch_opts){.mirrors = &queried[i], .nmirrors = 1};
        snprintf(dir, sizeof dir, "%s/d-query", root);
        rc = mnist_fetch(&tds, dir, &o, &e);
        check(rc == -1 && strstr(e.msg, "has no query or fragment") && !strstr(e.msg, ":pw@") && !exists(dir),
              "a mirror with a query or a fragment is refused, no folder made: %s", e.msg);
    }

    /* A mirror with a space or a control character: curl refused each file ("URL using bad/illegal format"). */
    const char *blank[] = {"file:///tmp/my mnist/", "http://127.0.0.1/a\tb/"};
    for (int i = 0; i < 2; i++) {
        o = (mnist_fetch_opts){.mirrors = &blank[i], .nmirrors = 1};
        snprintf(dir, sizeof dir, "%s/d-blank", root);
        rc = mnist_fetch(&tds, dir, &o, &e);
        check(rc == -1 && strstr(e.msg, "holds no space nor control character") && !exists(dir),
              "a mirror with a space or a control character is refused, no folder made: %s", e.msg);
    }

    /* A mirror whose password holds an '@': curl refused each file ("URL using bad/illegal format"); refused before
     * anything is made, its password not said. An '@' in the path, or as %40 in the password, is a URL's. */
    const char *at = "http://user:p@ss@127.0.0.1/m/";
    o = (mnist_fetch_opts){.mirrors = &at, .nmirrors = 1};
    snprintf(dir, sizeof dir, "%s/d-at", root);
    rc = mnist_fetch(&tds, dir, &o, &e);
    check(rc == -1 && strstr(e.msg, "http://user:***@127.0.0.1/m/: a mirror's user and password hold no '@'") &&
              !strstr(e.msg, "p@ss") && !exists(dir),
          "a mirror whose password holds an '@' is refused, no folder made: %s", e.msg);
    check(!url_has_two_at("http://user:p%40ss@127.0.0.1/a@b/") && !url_has_two_at("http://127.0.0.1/a@b@c/") &&
              !url_has_two_at("file:///tmp/a@b@c/") && url_has_two_at("https://a@b@127.0.0.1:8/"),
          "an '@' after the host, or written %%40, is a URL's own");

    /* Files of no file's bit: refused, where nothing was fetched and 0 returned. */
    o = (mnist_fetch_opts){.files = 1u << MNIST_NFILES};
    snprintf(dir, sizeof dir, "%s/d-bits", root);
    rc = mnist_fetch(&tds, dir, &o, &e);
    check(rc == -1 && strstr(e.msg, "names no file") && !exists(dir), "files of unknown bits refused: %s", e.msg);

    /* A bad data folder. */
    path_of(p, sizeof p, "abc", NULL); /* a plain file */
    o = (mnist_fetch_opts){0};
    rc = mnist_fetch(&tds, p, &o, &e);
    check(rc == -1 && strstr(e.msg, p) && strstr(e.msg, "not a folder"), "data folder is a file: %s", e.msg);
    snprintf(dir, sizeof dir, "%s/abc/sub", root);
    rc = mnist_fetch(&tds, dir, NULL, &e);
    check(rc == -1 && strstr(e.msg, "cannot create"), "data folder cannot be created: %s", e.msg);
}

/* A loopback port with nothing listening: bind an ephemeral one, then close it. */
static int closed_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

/* tests/fault_server.py serving root on a loopback port; returns the port, or -1. */
static int start_server(pid_t *pid) {
    const char *py = "/usr/bin/python3", *script = "tests/fault_server.py"; /* run.sh runs us from the top */
    int fds[2];
    *pid = -1;
    if (access(py, X_OK) != 0 || access(script, R_OK) != 0 || pipe(fds) != 0) return -1;
    *pid = fork();
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the server goes with us, even if we crash */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(py, py, "-u", script, root, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[256] = "";
    int port = -1;
    if (*pid > 0 && in && fgets(line, sizeof line, in) && !strncmp(line, "port ", 5)) port = atoi(line + 5);
    if (in) fclose(in);
    else close(fds[0]);
    return port;
}

/* A fault on the first mirror, tried `tries` times: with a good mirror behind it the file comes
 * from there, and the log says what went wrong; alone, the fetch fails with one line that says what went wrong and
 * the URL. Either way the data folder holds nothing partial or unverified. */
static void fault_case(const char *label, const char *url, const char *want, int tries, const char *data1,
                       const char *data2) {
    char good[1024], dir[1024], p[4096], furl[1200];
    news log;
    mnist_err e;
    snprintf(good, sizeof good, "file://%s/m1/", root);
    const char *mirrors[] = {url, good};
    int rc = fetch(data1, mirrors, 2, &log, NULL, &e);
    path_of(dir, sizeof dir, data1, NULL);
    check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0, "%s: the next mirror serves, no other file is left: %s", label,
          rc ? e.msg : "ok");
    snprintf(furl, sizeof furl, "%str-img.gz: ", url);
    const char *at = strstr(log.text, furl);
    check(at && strstr(at, want), "%s: the log says \"%s\"", label, want);
    snprintf(furl, sizeof furl, "Downloading %str-img.gz", url);
    check(count(log.text, furl) == tries, "%s: tried %d time(s) on that mirror (%s)", label, tries,
          tries > 1 ? "a transient fault gets a retry" : "no retry");
    rc = fetch(data2, mirrors, 1, &log, NULL, &e);
    path_of(dir, sizeof dir, data2, NULL);
    snprintf(p, sizeof p, "%s/tr-img.gz", dir);
    snprintf(furl, sizeof furl, "%str-img.gz (", url);
    check(rc == -1 && strstr(e.msg, furl) && strstr(e.msg, want) && !strchr(e.msg, '\n'),
          "%s, the only mirror: the error says so: %s", label, e.msg);
    check(!exists(p) && dotfiles(dir) == 0, "%s, the only mirror: no file, partial or whole, is left", label);
}

/* Two processes fetch into one folder at once from a slow server; exit status: 10 + the number
 * of files this one downloaded itself, or 1 when its fetch failed. */
static pid_t fetch_in_child(const char *url, const char *dir) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    news log;
    memset(&log, 0, sizeof log);
    const char *mirrors[] = {url};
    mnist_fetch_opts o = {mirrors, 1, on_log, NULL, &log, NULL, .low_speed_time = 5};
    mnist_err e;
    int rc = mnist_fetch(&tds, dir, &o, &e);
    _exit(rc ? 1 : 10 + count(log.text, "Downloading"));
}

/* A fetch in a child process, held by /stall/ in its download of tr-img.gz (its temporary file made) for a minute. */
static pid_t stalled_fetch(const char *url, const char *dir) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    const char *mirrors[] = {url};
    mnist_fetch_opts o = {mirrors, 1, NULL, NULL, NULL, NULL, .low_speed_time = 60, .max_time = 120};
    mnist_err e;
    _exit(mnist_fetch(&tds, dir, &o, &e) ? 1 : 0);
}

/* The name of a file in dir whose name starts with '.' other than `other` (NULL: any), waiting up to 10 s for one
 * to appear; "" where none did. */
static void wait_dotfile(const char *dir, const char *other, char *name, size_t cap) {
    name[0] = '\0';
    for (int i = 0; i < 200 && !name[0]; i++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                (!other || strcmp(e->d_name, other)))
                snprintf(name, cap, "%s", e->d_name);
        if (d) closedir(d);
        if (!name[0]) nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    }
}

/* Sets the last write of dir/name `age` seconds back (utimensat): 0, or -1. */
static int age_file(const char *dir, const char *name, long age) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct timespec t[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
    return utimensat(AT_FDCWD, p, t, 0);
}

/* A fetch killed outright (SIGKILL) leaves its temporary file: a later fetch into the folder removes it once it was
 * last written an hour ago or more (STALE_AGE), and says so; not before (a download at work writes its file at least
 * every 30 s, and one of a build that did not lock holds no lock to tell it by), nor the one of another fetch at work
 * there (two may run at once), which it holds locked, however old; once that one is killed too, the fetch after
 * removes it. They were left for good; then removed at once, unlocked, however fresh. */
static void test_killed_fetch(int port) {
    char url[1024], good[1024], dir[1024], first[256], second[256], p[2048];
    news log;
    mnist_err e;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stall/m1/", port);
    snprintf(good, sizeof good, "file://%s/m1/", root);
    path_of(dir, sizeof dir, "d15", NULL);
    pid_t b = stalled_fetch(url, dir); /* at work in the folder throughout, its own temporary file held */
    wait_dotfile(dir, NULL, second, sizeof second);
    pid_t a = stalled_fetch(url, dir);
    wait_dotfile(dir, second[0] ? second : NULL, first, sizeof first);
    if (a > 0) kill(a, SIGKILL), waitpid(a, NULL, 0);
    check(second[0] && !strncmp(first, ".tr-img.gz.tmp-", 15) && dotfiles(dir) == 2, "a fetch killed by SIGKILL "
          "leaves its temporary file: %s (another fetch's at work: %s)", first[0] ? first : "(none seen in 10 s)",
          second);
    int rc = fetch("d15", (const char *[]){good}, 1, &log, NULL, &e);
    snprintf(p, sizeof p, "%s/%s", dir, first);
    check(rc == 0 && all_valid(dir) && exists(p) && dotfiles(dir) == 2 && !strstr(log.text, "removed"),
          "the next fetch leaves it while it was written less than an hour ago (it may be a download at work that "
          "holds no lock): %s", rc ? e.msg : log.text);
    /* an hour and a second ago, and 59 minutes 50 s: the second one's writer (b) writes nothing meanwhile */
    check(age_file(dir, first, STALE_AGE + 1) == 0 && age_file(dir, second, STALE_AGE + 1) == 0,
          "the two files set to an hour and a second old");
    rc = fetch("d15", (const char *[]){good}, 1, &log, NULL, &e);
    int gone = !exists(p);
    snprintf(p, sizeof p, "%s/%s", dir, second);
    int kept = second[0] && exists(p);
    snprintf(p, sizeof p, "%s/%s: removed, a temporary file left by a fetch that was killed", dir, first);
    check(rc == 0 && all_valid(dir) && gone && strstr(log.text, p), "once it was last written an hour ago, the next "
          "fetch removes it, and says so: %s", rc ? e.msg : gone ? log.text : "still there");
    check(kept && dotfiles(dir) == 1, "...but not %s, another fetch's at work in the folder, held locked however old",
          second);
    if (b > 0) kill(b, SIGKILL), waitpid(b, NULL, 0);
    check(age_file(dir, second, STALE_AGE - 10) == 0, "that one set to 59 minutes 50 s old");
    rc = fetch("d15", (const char *[]){good}, 1, &log, NULL, &e);
    check(rc == 0 && dotfiles(dir) == 1, "once that fetch is killed too, the fetch after leaves its file while it is "
          "younger than an hour: %d left", dotfiles(dir));
    age_file(dir, second, STALE_AGE);
    rc = fetch("d15", (const char *[]){good}, 1, &log, NULL, &e);
    check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0, "and removes it at an hour old: %d left", dotfiles(dir));
}

/* flock as a file system without locks has it (some network and FUSE ones): it fails, ENOLCK (tests/test_fetch is
 * linked with --wrap=flock); as it is where no_locks is 0. */
static int no_locks;
int __real_flock(int fd, int op);
int __wrap_flock(int fd, int op) {
    if (!no_locks) return __real_flock(fd, op);
    errno = ENOLCK;
    return -1;
}

/* The times opendir read watched (a path), and opendir itself (tests/test_fetch is linked with --wrap=opendir). */
static const char *watched;
static int opened;
DIR *__real_opendir(const char *path);
DIR *__wrap_opendir(const char *path) {
    if (watched && !strcmp(path, watched)) opened++;
    return __real_opendir(path);
}

/* A fetch reads the data folder once for the leftovers of all the files, raw and .gz: it read it 8 times. */
static void test_one_scan(void) {
    char good[1024], dir[1024];
    news log;
    mnist_err e;
    snprintf(good, sizeof good, "file://%s/m1/", root);
    path_of(dir, sizeof dir, "d17", NULL);
    watched = dir, opened = 0;
    int rc = fetch("d17", (const char *[]){good}, 1, &log, NULL, &e);
    int first = opened;
    opened = 0;
    int again = rc ? rc : fetch("d17", (const char *[]){good}, 1, &log, NULL, &e);
    watched = NULL;
    check(rc == 0 && again == 0 && first == 1 && opened == 1, "a fetch reads the data folder once for leftovers: %d "
          "times into a new folder, %d into a full one (%s)", first, opened, rc || again ? e.msg : "ok");
}

/* On a file system without locks, a temporary file a fetch left is removed by its age alone (an hour since its last
 * write): none was ever removed there. */
static void test_stale_without_locks(void) {
    char good[1024], dir[1024], p[2048];
    const char *young = ".tr-lab.tmp-Young1", *old = ".te-img.gz.tmp-Old123", *not_ours = ".te-img.gz.tmp-toolong";
    news log;
    mnist_err e;
    snprintf(good, sizeof good, "file://%s/m1/", root);
    path_of(dir, sizeof dir, "d16", NULL);
    no_locks = 1;
    int rc = fetch("d16", (const char *[]){good}, 1, &log, NULL, &e); /* makes the folder, and fills it */
    const char *names[] = {young, old, not_ours};
    int made = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        made += write_raw(p, "part of a download") == 0 && age_file(dir, names[i], i ? STALE_AGE : STALE_AGE - 10) == 0;
    }
    rc = rc ? rc : fetch("d16", (const char *[]){good}, 1, &log, NULL, &e);
    snprintf(p, sizeof p, "%s/%s: removed, a temporary file left by a fetch that was killed", dir, old);
    int said = strstr(log.text, p) != NULL;
    snprintf(p, sizeof p, "%s/%s", dir, young);
    int young_kept = exists(p);
    snprintf(p, sizeof p, "%s/%s", dir, not_ours);
    check(made == 3 && rc == 0 && said && young_kept && exists(p) && dotfiles(dir) == 2 && count(log.text, "removed") == 1,
          "without locks, a fetch removes a temporary file last written an hour ago, and says so; not one of 59 "
          "minutes 50 s, nor a name not of a temporary file: %s", rc ? e.msg : log.text);
    no_locks = 0;
}

static void test_fetch_loopback(void) {
    char url[1024], dir[1024];
    news log;
    mnist_err e;

    /* Connection refused: the mirror is tried once, then skipped for the other files. */
    int port = closed_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    check(port > 0, "a closed loopback port (%d)", port);
    fault_case("connection refused", url, "onnect", 1, "d6", "d6b");
    char good[1024];
    snprintf(good, sizeof good, "file://%s/m1/", root);
    int rc = fetch("d6c", (const char *[]){url, good}, 2, &log, NULL, &e);
    check(rc == 0 && count(log.text, "Downloading http://127.0.0.1") == 1, "an unreachable mirror is tried once, then skipped");
    /* A password in the URL is used, but said in no line nor error: "user:***". */
    snprintf(url, sizeof url, "http://user:pw@127.0.0.1:%d/", port);
    rc = fetch("d6d", (const char *[]){url}, 1, &log, NULL, &e);
    check(rc == -1 && strstr(log.text, "Downloading http://user:***@127.0.0.1") && strstr(e.msg, "http://user:***@127.0.0.1") &&
              !strstr(log.text, ":pw@") && !strstr(e.msg, ":pw@"),
          "a mirror's password is said as ***: %s", e.msg);

    /* A real HTTP server on loopback, with faults. */
    pid_t pid;
    port = start_server(&pid);
    if (!check(port > 0, "tests/fault_server.py listens on 127.0.0.1 (port %d)", port)) {
        if (pid > 0) kill(pid, SIGTERM), waitpid(pid, NULL, 0);
        return;
    }
    /* m2 lacks te-img: 404 moves on without a retry. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/m2/", port);
    const char *mh[] = {url, good};
    rc = fetch("d7", mh, 2, &log, NULL, &e);
    path_of(dir, sizeof dir, "d7", NULL);
    check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0, "fetch over loopback HTTP: %s", rc ? e.msg : "ok");
    check(strstr(log.text, "te-img.gz: HTTP 404") && count(log.text, "Downloading http://127.0.0.1") == 4,
          "HTTP 404 moves to the next mirror without a retry");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/e1/", port); /* an empty folder: 404 for all */
    fault_case("HTTP 404", url, "HTTP 404", 1, "d8", "d8b");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/m3/", port); /* tr-lab's content is wrong */
    rc = fetch("d9", (const char *[]){url, good}, 2, &log, NULL, &e);
    path_of(dir, sizeof dir, "d9", NULL);
    check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0 && strstr(log.text, "tr-lab.gz: SHA-256 mismatch"),
          "a corrupt file over HTTP: SHA-256 mismatch logged, the next mirror serves: %s", rc ? e.msg : "ok");
    rc = fetch("d9b", (const char *[]){url}, 1, &log, NULL, &e);
    path_of(dir, sizeof dir, "d9b", NULL);
    char p[4096];
    snprintf(p, sizeof p, "%s/tr-lab.gz", dir);
    check(rc == -1 && strstr(e.msg, "tr-lab.gz (SHA-256 mismatch: got ") && !exists(p) && dotfiles(dir) == 0,
          "a corrupt file over HTTP, the only mirror: nothing kept, the error says so: %s", e.msg);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/noloc/m1/", port); /* was "SHA-256 mismatch" of its empty body */
    fault_case("a redirect without a Location", url, "HTTP 302, a redirect without a Location", 1, "d9c", "d9d");
    /* a redirect to file://: refused, said as such (it was curl's 'Protocol "file" not supported or disabled in
     * libcurl', as if curl lacked it) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/tofile/m1/", port);
    fault_case("a redirect to file://", url, "a redirect to file:///etc/hostname, which is followed to http:// and "
               "https:// alone", 1, "d9i", "d9j");
    /* a web page (a login's, a captive portal's), an empty answer: said so, not as two hashes */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/html/m1/", port);
    fault_case("a web page", url, "the mirror answered with a web page (HTML), not the file", 1, "d9e", "d9f");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/empty/m1/", port);
    fault_case("an empty answer", url, "the mirror answered with an empty file", 1, "d9g", "d9h");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/cut/m1/", port);
    fault_case("a body cut short", url, "transfer closed with", 2, "d10", "d10b");
    /* and one whose length was not announced: the gzip's end tells (it was not retried) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/cutstream/m1/", port);
    fault_case("a body of no length cut short", url, "truncated gzip stream", 2, "d10c", "d10d");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stall/m1/", port);
    fault_case("a server that stalls", url, "too slow", 2, "d11", "d11b");
    /* one that takes the connection and answers nothing: skipped as one not reached (each file cost 2 tries) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mute/m1/", port);
    fault_case("a server that answers nothing", url, "no answer: the server took the connection and sent nothing for "
               "1 s", 1, "d11c", "d11d");
    rc = fetch("d11e", (const char *[]){url, good}, 2, &log, NULL, &e);
    char asked[1200];
    snprintf(asked, sizeof asked, "Downloading %s", url);
    check(rc == 0 && strstr(log.text, "sent nothing for 1 s; skipping this mirror") && count(log.text, asked) == 1,
          "a server that answers nothing is not asked for the other files (%d asked): %s", count(log.text, asked),
          rc ? e.msg : "ok");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/trickle/m1/", port); /* fast enough for the low-speed limit */
    double t0 = now_seconds();
    fault_case("a server that trickles", url, "abandoned after 3 s in all", 1, "d13", "d13b");
    double took = now_seconds() - t0;
    check(took < 15, "a server that trickles holds each fetch about 3 s, no longer (%.1f s for two)", took);

    /* A file of 4 MiB where one of 3 bytes is asked for: given up past twice its content and a MiB,
     * at once when its length is announced, as it comes when not; it was downloaded whole (and so
     * would a wrong file be up to 1 GiB), then found wrong by its SHA-256 */
    mnist_dataset sized = tds;
    for (int i = 0; i < MNIST_NFILES; i++) sized.files[i].bytes = strlen(contents[i]);
    for (int k = 0; k < 2; k++) {
        const char *mode = k ? "bigstream" : "big", *data = k ? "d14b" : "d14";
        snprintf(url, sizeof url, "http://127.0.0.1:%d/%s/m1/", port, mode);
        rc = fetch_from(&sized, data, (const char *[]){url, good}, 2, &log, NULL, &e);
        path_of(dir, sizeof dir, data, NULL);
        char said[1200];
        snprintf(said, sizeof said, "%str-img.gz: larger than %d bytes, more than this file can be, refused\n", url,
                 2 * 3 + (1 << 20));
        check(rc == 0 && all_valid(dir) && dotfiles(dir) == 0 && strstr(log.text, said),
              "/%s/: a file far larger than the one asked for is given up, the next mirror serves: %s", mode,
              rc ? e.msg : strstr(log.text, said) ? "ok" : log.text);
    }

    /* Two fetches into one folder at once. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow/m1/", port);
    path_of(dir, sizeof dir, "d12", NULL);
    pid_t a = fetch_in_child(url, dir), b = fetch_in_child(url, dir);
    int sa = -1, sb = -1;
    if (a > 0) waitpid(a, &sa, 0);
    if (b > 0) waitpid(b, &sb, 0);
    int ea = WIFEXITED(sa) ? WEXITSTATUS(sa) : -1, eb = WIFEXITED(sb) ? WEXITSTATUS(sb) : -1;
    check(ea >= 10 && eb >= 10 && all_valid(dir) && dotfiles(dir) == 0,
          "two fetches into one folder at once both succeed and leave the four verified files, nothing else");
    check(ea + eb - 20 > MNIST_NFILES, "...and they overlapped: %d downloads of %d files", ea + eb - 20, MNIST_NFILES);

    test_killed_fetch(port);
    test_stale_without_locks();
    test_one_scan();

    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* load_library, by which fetch loads libcurl and serve libmicrohttpd: a library that is not there,
 * and one without a function asked for, each said in the message; one that is, its functions. */
static void library_loading(void) {
    mnist_err err;
    size_t (*len)(const char *) = NULL;
    void *nothing = NULL;
    const char *const names[] = {"strlen"}, *const missing[] = {"no_such_function_in_libc"};
    void **const slots[] = {(void **)&len}, **const slot_nothing[] = {&nothing};
    int rc = load_library("libmnist-no-such-library.so.9", names, slots, 1, &err);
    check(rc == -1 && strstr(err.msg, "libmnist-no-such-library.so.9 cannot be loaded"), "a library that is not "
          "there: \"%s\"", rc ? err.msg : "loaded");
    rc = load_library("libc.so.6", missing, slot_nothing, 1, &err);
    check(rc == -1 && !strcmp(err.msg, "libc.so.6 has no no_such_function_in_libc"), "a function it lacks: \"%s\"",
          rc ? err.msg : "found");
    rc = load_library("libc.so.6", names, slots, 1, &err);
    check(rc == 0 && len && len("four") == 4, "libc's strlen, loaded, works");
}

int main(void) {
    library_loading();
    setenv("no_proxy", "*", 1); /* loopback only, whatever the environment says */
    snprintf(root, sizeof root, "%s/mnist-test-fetch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        check(0, "mkdtemp %s", root);
        return check_status();
    }
    test_sha256();
    test_dataset();
    test_data_dir();
    test_data_file();
    test_fetch_file_mirrors();
    test_fetch_loopback();
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_status();
}
