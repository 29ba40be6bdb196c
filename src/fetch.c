/* fetch.c: download the dataset's files (libcurl), verify each by SHA-256 (OpenSSL) of its
 * decompressed content (gunzip.c), and rename it into place only once it is verified, so the data
 * folder never holds a partial or unverified file under a real name. Each is asked for as .gz; a
 * file:// mirror (a folder) that lacks the .gz is asked for it raw, verified by the same SHA-256. A file
 * already there that fails verification is set aside (NAME.unverified), never removed.
 *
 * Mirror order: the caller's mirrors, then the dataset's own. Each mirror gets two tries for a
 * transient failure; an HTTP 4xx or a wrong SHA-256 moves on at once; a mirror that cannot be
 * reached at all (DNS, connection refused or timed out) is skipped for the remaining files. */
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOWNLOAD ((curl_off_t)1 << 30) /* no dataset file comes near 1 GiB */
/* A file's download is at most its content (served raw) or a gzip of it, which is never much
 * larger: past twice the content and a MiB it is some other file, abandoned there (or at once when
 * its length is announced) rather than at MAX_DOWNLOAD, a gigabyte written to the data folder's
 * disk first (and a disk filled by it ends the whole fetch, where the next mirror would serve). */
#define DOWNLOAD_SLACK ((curl_off_t)1 << 20)
#define PATH_CAP 4096
/* No IDX file the reader takes is larger (idx.c: 2 GiB of pixels and a 16-byte header), so hashing
 * stops past it: a small gzip bomb from a mirror would otherwise inflate to a terabyte first
 * (an 8 MB .gz of 8 GiB took 28 s, a 1 GiB download could take an hour), deaf to Ctrl-C */
#define MAX_CONTENT (((uint64_t)1 << 31) + 16)
/* One download that takes longer in all than MIN_TIME plus the file's content at MIN_RATE is
 * abandoned (mnist_fetch_opts.max_time overrides): the low-speed limit alone let a server that
 * trickles bytes just above it hold a fetch for days (a gigabyte at 1000 bytes/s). The content's
 * size is the decompressed one, so the .gz downloaded may average less: MNIST's training images,
 * 47 MB in a 9.9 MB .gz, get 79 minutes (60 s + 4704 s), 2 kB/s of the .gz. */
#define MIN_TIME 60.0    /* seconds: connecting, and a small file on a slow line */
#define MIN_RATE 10000.0 /* bytes of content per second, on average */

/* ---- SHA-256 ---------------------------------------------------------- */

int sha256_file_limited(const char *path, char hex[65], uint64_t limit, volatile int *cancel, mnist_err *err) {
    gz_input *gz = gz_input_open(path, err); /* a FIFO, a folder: not a regular file */
    if (!gz) return -1;
    EVP_MD_CTX *ctx = sha256_start(path, err);
    if (!ctx) {
        gz_input_close(gz);
        return -1;
    }
    unsigned char buf[1 << 16];
    size_t n;
    int rc = 0;
    uint64_t total = 0;
    while ((rc = gz_input_read(gz, buf, sizeof buf, &n, err)) == 0 && n > 0) {
        total += n;
        if (total > limit) {
            rc = errf(err, "%s: its content (gunzipped, if gzip) is over %llu bytes, more than any dataset file",
                      path, (unsigned long long)limit);
            break;
        }
        if (cancel && *cancel) {
            rc = errf(err, "%s: interrupted", path);
            break;
        }
        if (EVP_DigestUpdate(ctx, buf, n) != 1) {
            rc = errf(err, "%s: SHA-256 update failed (OpenSSL)", path);
            break;
        }
    }
    gz_input_close(gz);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
        rc = errf(err, "%s: SHA-256 final failed (OpenSSL)", path);
    EVP_MD_CTX_free(ctx);
    if (rc) return rc;
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

int mnist_sha256_file(const char *path, char hex[65], mnist_err *err) {
    return sha256_file_limited(path, hex, MAX_CONTENT, NULL, err);
}

/* ---- helpers ---------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void news(const mnist_fetch_opts *o, const char *fmt, ...) {
    if (!o->log) return;
    char line[2 * PATH_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->ud, line);
}

static int cancelled(const mnist_fetch_opts *o) { return o->cancel && *o->cancel; }

int make_dirs(const char *dir, char *made, mnist_err *err) {
    char p[PATH_CAP];
    size_t n = strlen(dir);
    struct stat st;
    if (n >= sizeof p) return errf(err, "%.64s...: data folder name too long", dir);
    memcpy(p, dir, n + 1);
    if (made) memset(made, 0, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        int r = mkdir(p, 0755);
        if (made) made[i] = r == 0;
        if (r != 0 && errno != EEXIST) {
            int e = errno;
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
                return errf(err, "%s: cannot create the data folder (at %s): %s; give a folder that can be "
                            "written", dir, p, strerror(e));
        }
        p[i] = c;
    }
    if (stat(dir, &st) != 0) return errf(err, "%s: cannot use the data folder: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return errf(err, "%s: the data folder exists but is not a folder", dir);
    return 0;
}

void remove_made(const char *dir, const char *made) {
    char p[PATH_CAP];
    size_t n = strlen(dir);
    if (n >= sizeof p) return;
    memcpy(p, dir, n + 1);
    for (size_t i = n; i >= 1; i--)
        if (made[i]) {
            p[i] = '\0';
            rmdir(p); /* fails, as it should, on one not empty */
        }
}

/* ---- one download ------------------------------------------------------ */

/* Where url's authority (user and password, host, port) begins, its length in *len. */
static const char *url_authority(const char *url, size_t *len) {
    const char *sep = strstr(url, "://"), *host = sep ? sep + 3 : url;
    *len = strcspn(host, "/?#");
    return host;
}

char *url_shown(char *out, size_t cap, const char *url) {
    size_t authority;
    const char *host = url_authority(url, &authority), *at = NULL;
    for (const char *p = host; p < host + authority; p++) /* the last '@': curl's user and password end there */
        if (*p == '@') at = p;
    const char *colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
    if (colon) snprintf(out, cap, "%.*s***%s", (int)(colon + 1 - url), url, at);
    else snprintf(out, cap, "%s", url);
    return out;
}

typedef struct {
    char base[PATH_CAP];  /* ends in '/' */
    char shown[PATH_CAP]; /* base as it is said: url_shown */
    int dead;            /* unreachable earlier: skipped from then on */
} mirror;

typedef struct {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    const mnist_fetch_opts *o;
    const char *name; /* the file now downloading, for o->progress */
    FILE *f;          /* where the body goes */
    curl_off_t bytes;
    curl_off_t limit; /* bytes this download may have: download_limit */
    long max_time;   /* seconds this download may take in all */
    double deadline; /* now_seconds() past which it is abandoned */
    int write_errno, too_big, stopped, overtime;
} fetcher;

enum { GOT, RETRY, NEXT, ABSENT, DEAD, FATAL }; /* ABSENT: a NEXT where a file:// mirror's folder lacks the file */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    fetcher *x = ud;
    size_t n = size * nmemb; /* curl guarantees size == 1 */
    if (x->bytes + (curl_off_t)n > x->limit) {
        x->too_big = 1;
        return 0;
    }
    errno = 0;
    if (n && fwrite(ptr, 1, n, x->f) != n) {
        x->write_errno = errno ? errno : EIO;
        return 0;
    }
    x->bytes += (curl_off_t)n;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    fetcher *x = ud;
    (void)ultotal, (void)ulnow;
    if (cancelled(x->o)) {
        x->stopped = 1;
        return 1; /* curl then fails with CURLE_ABORTED_BY_CALLBACK */
    }
    if (now_seconds() > x->deadline) { /* curl calls this at least once a second, bytes or not */
        x->overtime = 1;
        return 1;
    }
    if (x->o->progress) x->o->progress(x->o->ud, x->name, (double)dlnow, (double)dltotal);
    return 0;
}

/* libcurl, loaded when a fetch first needs it: linked, it and the libraries it brings (TLS, SSH,
 * LDAP, ...) cost every command about 6 ms at its start, a fifth of `mnist predict`'s whole time,
 * for the one command in a hundred that downloads (BENCHMARKS.md). Its functions, as curl.h
 * declares them. */
#define LIBCURL "libcurl.so.4"
static struct {
    CURLcode (*global_init)(long flags);
    const char *(*easy_strerror)(CURLcode rc);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    char *(*easy_unescape)(CURL *c, const char *s, int len, int *outlen);
    void (*free)(void *p);
    void (*easy_cleanup)(CURL *c);
} lc;

/* dlopen and curl_global_init once in the process, also when two threads fetch at once; why they
 * failed, or "" */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_failed[MNIST_ERR_LEN + 32]; /* err.msg and the advice after it */
static void curl_init(void) {
    static const char *const names[] = {"curl_global_init", "curl_easy_strerror", "curl_easy_init",
                                        "curl_easy_setopt", "curl_easy_perform", "curl_easy_getinfo",
                                        "curl_easy_unescape", "curl_free", "curl_easy_cleanup"};
    void **const slots[] = {(void **)&lc.global_init, (void **)&lc.easy_strerror, (void **)&lc.easy_init,
                            (void **)&lc.easy_setopt, (void **)&lc.easy_perform, (void **)&lc.easy_getinfo,
                            (void **)&lc.easy_unescape, (void **)&lc.free, (void **)&lc.easy_cleanup};
    mnist_err err;
    if (load_library(LIBCURL, names, slots, 9, &err)) {
        snprintf(curl_failed, sizeof curl_failed, "%s: install libcurl4", err.msg);
        return;
    }
    CURLcode rc = lc.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        snprintf(curl_failed, sizeof curl_failed, "libcurl: global init failed: %s", lc.easy_strerror(rc));
}

static int curl_start(fetcher *x, mnist_err *err) {
    pthread_once(&curl_once, curl_init);
    if (curl_failed[0]) return errf(err, "%s", curl_failed);
    CURL *c = lc.easy_init();
    if (!c) return errf(err, "libcurl: cannot create a handle");
    CURLcode rc = CURLE_OK;
#define SET(opt, val) \
    if (rc == CURLE_OK) rc = lc.easy_setopt(c, opt, val)
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_FAILONERROR, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, 5L);
    SET(CURLOPT_CONNECTTIMEOUT, 20L);
    SET(CURLOPT_LOW_SPEED_LIMIT, x->o->low_speed_limit > 0 ? x->o->low_speed_limit : 1000L);
    SET(CURLOPT_LOW_SPEED_TIME, x->o->low_speed_time > 0 ? x->o->low_speed_time : 30L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_USERAGENT, "mnist-c/" MNIST_VERSION);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, x);
    SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
    if (rc != CURLE_OK) {
        lc.easy_cleanup(c);
        return errf(err, "libcurl: cannot set options: %s", lc.easy_strerror(rc));
    }
    x->curl = c;
    return 0;
}

/* The path that url names when it is a file:// URL (lc.free it), else NULL. */
static char *file_url_path(CURL *c, const char *url) {
    const char *p = strncmp(url, "file://", 7) ? NULL : strchr(url + 7, '/'); /* past the host, mostly none */
    return p ? lc.easy_unescape(c, p, 0, NULL) : NULL;
}

/* Whether url, a file:// URL that could not be read, names a file in a folder that is not there
 * (or is no folder): the mirror as a whole is missing, as a server that cannot be reached is. */
static int file_mirror_missing(CURL *c, const char *url) {
    char *path = file_url_path(c, url);
    if (!path) return 0;
    char *slash = strrchr(path, '/');
    slash[1] = '\0'; /* the folder, its '/' kept: "/" at the root, and stat fails on a file */
    struct stat st;
    int missing = stat(path, &st) != 0 || !S_ISDIR(st.st_mode);
    lc.free(path);
    return missing;
}

/* The most bytes a download of f may have (f->bytes 0: not known, MAX_DOWNLOAD). */
static curl_off_t download_limit(const mnist_file_info *f) {
    if (!f->bytes || f->bytes >= (uint64_t)(MAX_DOWNLOAD - DOWNLOAD_SLACK) / 2) return MAX_DOWNLOAD;
    return 2 * (curl_off_t)f->bytes + DOWNLOAD_SLACK;
}

/* The HTTP status of x's last answer; 0 where none began (or a file:// URL). */
static long response_code(const fetcher *x) {
    long code = 0;
    return lc.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK ? code : 0;
}

/* Download url (said as shown) to a temporary file beside dest, verify it against f, and rename it to dest.
 * Returns GOT, or why it failed (RETRY, NEXT, ABSENT, DEAD: text in why), or FATAL (err filled). */
static int attempt(fetcher *x, const char *url, const char *shown, const char *dest, const mnist_file_info *f, char *why,
                   size_t whycap, mnist_err *err) {
    atomic_file a;
    if (atomic_open(&a, dest, err)) return FATAL;
    x->f = a.f;
    x->bytes = 0;
    x->write_errno = x->too_big = x->stopped = x->overtime = 0;
    x->limit = download_limit(f);
    x->max_time = x->o->max_time > 0 ? x->o->max_time : (long)(MIN_TIME + (double)f->bytes / MIN_RATE);
    x->deadline = now_seconds() + (double)x->max_time;
    x->errbuf[0] = '\0';
    x->name = f->name;
    /* a file:// mirror's FIFO would hold curl in its open() for good, deaf to the time limits and to
     * Ctrl-C (a device, a folder: no file either): refused unopened, as the readers refuse one */
    char *local = file_url_path(x->curl, url);
    struct stat st;
    int special = local && stat(local, &st) == 0 && !S_ISREG(st.st_mode);
    if (local) lc.free(local);
    if (special) {
        atomic_abort(&a);
        snprintf(why, whycap, "not a regular file (a FIFO, a device or a folder)");
        return NEXT;
    }
    CURLcode rc = lc.easy_setopt(x->curl, CURLOPT_URL, url);
    if (rc == CURLE_OK) rc = lc.easy_setopt(x->curl, CURLOPT_MAXFILESIZE_LARGE, x->limit); /* a length announced */
    if (rc != CURLE_OK) {
        atomic_abort(&a);
        errf(err, "%s: libcurl cannot take this URL: %s", shown, lc.easy_strerror(rc));
        return FATAL;
    }
    rc = lc.easy_perform(x->curl);
    if (rc != CURLE_OK) {
        atomic_abort(&a);
        if (x->stopped || cancelled(x->o)) {
            errf(err, "%s: download interrupted", shown);
            return FATAL;
        }
        if (x->write_errno) {
            errf(err, "%s: cannot write: %s", dest, strerror(x->write_errno));
            return FATAL;
        }
        if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            snprintf(why, whycap, "larger than %lld bytes, more than this file can be, refused", (long long)x->limit);
            return NEXT;
        }
        if (x->overtime) { /* a second try would take as long */
            snprintf(why, whycap, "too slow: abandoned after %ld s in all, %lld bytes in", x->max_time,
                     (long long)x->bytes);
            return NEXT;
        }
        if (rc == CURLE_HTTP_RETURNED_ERROR) {
            long code = response_code(x);
            snprintf(why, whycap, "HTTP %ld", code);
            return code >= 400 && code < 500 && code != 408 && code != 429 ? NEXT : RETRY;
        }
        snprintf(why, whycap, "%s", x->errbuf[0] ? x->errbuf : lc.easy_strerror(rc));
        /* from an http(s) mirror, a redirect's to another scheme (file://): curl said 'Protocol "file" not
         * supported or disabled in libcurl', as if it lacked it */
        if (rc == CURLE_UNSUPPORTED_PROTOCOL && strncasecmp(url, "file://", 7)) {
            char *to = NULL; /* where curl went: the redirect's target, its scheme not http(s) */
            if (lc.easy_getinfo(x->curl, CURLINFO_EFFECTIVE_URL, &to) != CURLE_OK || !to ||
                !strncasecmp(to, "http://", 7) || !strncasecmp(to, "https://", 8))
                to = NULL;
            snprintf(why, whycap, "a redirect to %.200s, which is followed to http:// and https:// alone",
                     to ? to : "another scheme");
            return NEXT;
        }
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
            return DEAD;
        case CURLE_FILE_COULDNT_READ_FILE: /* a file:// mirror: its folder missing, or only this file */
            return file_mirror_missing(x->curl, url) ? DEAD : ABSENT;
        case CURLE_OPERATION_TIMEDOUT: {
            curl_off_t connected = 0; /* 0: the connection itself timed out */
            long code = response_code(x); /* 0: no answer began */
            if (lc.easy_getinfo(x->curl, CURLINFO_CONNECT_TIME_T, &connected) != CURLE_OK) connected = 0;
            /* a server that takes the connection and answers nothing (a firewall's, a proxy's that holds it) does so
             * for the next try and the next file too: it cost each file 2 x 30 s; skipped as one not reached */
            if (connected && !code)
                snprintf(why, whycap, "no answer: the server took the connection and sent nothing for %ld s",
                         x->o->low_speed_time > 0 ? x->o->low_speed_time : 30L);
            return connected && code ? RETRY : DEAD;
        }
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
            return RETRY;
        default:
            return NEXT;
        }
    }
    /* a redirect without a Location: curl ends it without an error, and its empty body was said to be "SHA-256
     * mismatch: got e3b0c442..." */
    long code = response_code(x);
    if (code >= 300 && code < 400) {
        atomic_abort(&a);
        snprintf(why, whycap, "HTTP %ld, a redirect without a Location to follow", code);
        return NEXT;
    }
    if (fflush(a.f) != 0) {
        int e = errno;
        atomic_abort(&a);
        errf(err, "%s: cannot write: %s", dest, strerror(e));
        return FATAL;
    }
    char hex[65];
    mnist_err e;
    if (sha256_file_limited(a.tmp, hex, MAX_CONTENT, x->o->cancel, &e)) {
        if (cancelled(x->o)) {
            atomic_abort(&a);
            errf(err, "%s: download interrupted", shown);
            return FATAL;
        }
        /* "TMP: cannot read: ...": the temporary name means nothing */
        snprintf(why, whycap, "bad download: %.400s", after_path(e.msg, a.tmp));
        atomic_abort(&a);
        /* a body of no announced length cut short (the connection closed inside the gzip): curl cannot tell, the
         * gzip's end can; a passing fault, retried as one of a length announced is (CURLE_PARTIAL_FILE) */
        curl_off_t announced = -1;
        if (lc.easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced) != CURLE_OK) announced = -1;
        return announced < 0 && strstr(e.msg, "truncated gzip stream") ? RETRY : NEXT;
    }
    if (strcmp(hex, f->sha256) != 0) {
        /* a mirror of the other dataset (an MNIST one given to --dataset fashion): said so, as the data folder's
         * reader says it, not as two hashes; so too an empty answer, and a web page (a login's, a captive portal's) */
        char head[16] = "";
        ssize_t got = pread(fileno(a.f), head, sizeof head - 1, 0);
        size_t lead = got > 0 ? strspn(head, " \t\r\n") : 0;
        atomic_abort(&a);
        if (other_dataset(hex, f->sha256, why, whycap)) return NEXT;
        if (got == 0) snprintf(why, whycap, "the mirror answered with an empty file, not the file");
        else if (got > 0 && (int)lead < got && head[lead] == '<')
            snprintf(why, whycap, "the mirror answered with a web page (HTML), not the file (SHA-256 %s)", hex);
        else snprintf(why, whycap, "SHA-256 mismatch: got %s, want %s", hex, f->sha256);
        return NEXT;
    }
    if (atomic_commit(&a, err)) return FATAL;
    return GOT;
}

/* Sleep about one second unless cancelled; returns non-zero when cancelled. */
static int pause_1s(const mnist_fetch_opts *o) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    for (int i = 0; i < 10 && !cancelled(o); i++) nanosleep(&ts, NULL);
    return cancelled(o);
}

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* ---- one file ---------------------------------------------------------- */

/* 1: present and valid (kept), 0: needs a download, -1: error. A file under the name that fails verification (the
 * raw one, then the .gz) is set aside as NAME.unverified, not removed: it may be the user's own, which this
 * program cannot read but another may (it was removed, or overwritten by the download). */
static int check_present(const mnist_fetch_opts *o, const char *dir, const mnist_file_info *f, mnist_err *err) {
    char path[PATH_CAP], aside[PATH_CAP + 16], hex[65];
    mnist_err e;
    for (;;) {
        int found = mnist_data_file(path, sizeof path, dir, f, err);
        if (found <= 0) return found;
        /* a folder, a FIFO or a device under the name is never replaced (nor, a raw one, set aside): said
         * before any download, where it was said to be "replaced", downloaded, then refused */
        struct stat st, now;
        int seen = stat(path, &st) == 0;
        if (seen && !S_ISREG(st.st_mode))
            return errf(err, "%s: exists and is not a regular file; not replacing it", path);
        int unreadable = sha256_file_limited(path, hex, MAX_CONTENT, o->cancel, &e);
        if (unreadable && cancelled(o)) return errf(err, "%s: verification interrupted", path);
        if (!unreadable && strcmp(hex, f->sha256) == 0) {
            news(o, "%s: present, verified", path);
            return 1;
        }
        /* the other dataset's file (fetch --dataset fashion on MNIST's folder) is not damaged: refused, as
         * the data's reader refuses it, not replaced (a mirror that answered overwrote it) */
        char whose[256];
        const mnist_dataset *known = unreadable ? NULL : other_dataset(hex, f->sha256, whose, sizeof whose);
        if (known) return errf(err, "%s: %s", path, whose);
        /* another fetch into the folder (two trains at once) may have set it aside meanwhile, or put the file it
         * downloaded in its place: looked at again, not set aside (the rename failed, and the fetch with it; or the
         * good file went over the first one set aside) */
        if (stat(path, &now) != 0 ? errno == ENOENT : seen && (now.st_dev != st.st_dev || now.st_ino != st.st_ino))
            continue;
        snprintf(aside, sizeof aside, "%s.unverified", path); /* path is shorter than PATH_CAP */
        if (rename(path, aside) != 0) {
            if (errno == ENOENT) continue;
            return errf(err, "%s: fails verification, and setting it aside as %s failed: %s", path, aside,
                        strerror(errno));
        }
        if (unreadable)
            news(o, "%s: cannot be verified (%s); set aside as %s, to fetch it again", path, after_path(e.msg, path),
                 aside);
        else
            news(o, "%s: fails verification (SHA-256 %s, want %s); set aside as %s, to fetch it again", path, hex,
                 f->sha256, aside);
    }
}

static int fetch_one(fetcher *x, const mnist_dataset *ds, const mnist_file_info *f, const char *dir, mirror *m,
                     int nm, mnist_err *err) {
    const mnist_fetch_opts *o = x->o;
    char dest[PATH_CAP], raw_dest[PATH_CAP], url[2 * PATH_CAP], shown[2 * PATH_CAP], why[512];
    int n = path_join(dest, sizeof dest, dir, f->name, ".gz"); /* as mnist_data_file names it */
    if (n < 0 || (size_t)n >= sizeof dest)
        return errf(err, "%.*s/%s.gz: path too long", dir_length(dir), dir, f->name);
    path_join(raw_dest, sizeof raw_dest, dir, f->name, ""); /* shorter than dest */
    int ok = check_present(o, dir, f, err);
    if (ok) return ok < 0 ? -1 : 0;
    if (!x->curl && curl_start(x, err)) return -1;

    char tried[2 * MNIST_ERR_LEN] = "";
    int last = NEXT;
    for (int k = 0; k < 2 * nm; k++) {
        /* each mirror's .gz; then, where a folder (file://) lacks it or holds a wrong one, the file raw, as many
         * copies of MNIST are given out: kept under its raw name, and verified as the .gz is, by the SHA-256 of the
         * content (a good raw file beside a damaged .gz was not tried) */
        int j = k / 2, raw = k % 2;
        if (raw && !(last == ABSENT || (last == NEXT && !strncasecmp(m[j].base, "file://", 7)))) continue;
        const char *to = raw ? raw_dest : dest, *ext = raw ? "" : ".gz";
        n = snprintf(url, sizeof url, "%s%s%s", m[j].base, f->name, ext);
        if (n < 0 || (size_t)n >= sizeof url) return errf(err, "%s%s%s: URL too long", m[j].shown, f->name, ext);
        snprintf(shown, sizeof shown, "%s%s%s", m[j].shown, f->name, ext); /* at most 2 bytes longer than url
                                                                               * ("***" for "p"): room enough */
        if (m[j].dead) {
            append(tried, sizeof tried, "%s%s (skipped: unreachable earlier)", tried[0] ? "; " : "", shown);
            last = DEAD;
            continue;
        }
        for (int t = 0; t < 2; t++) {
            if (cancelled(o)) return errf(err, "%s: download interrupted", shown);
            news(o, "Downloading %s to %s...", shown, to);
            int r = last = attempt(x, url, shown, to, f, why, sizeof why, err);
            if (r == FATAL) return -1;
            if (r == GOT) return 0; /* what failed verification under either name was set aside */
            int again = r == RETRY && t == 0;
            news(o, "%s: %s%s", shown, why, again ? "; retrying in 1 s" : r == DEAD ? "; skipping this mirror" : "");
            if (r == DEAD) m[j].dead = 1;
            if (!again) {
                append(tried, sizeof tried, "%s%s (%s)", tried[0] ? "; " : "", shown, why);
                break;
            }
            if (pause_1s(o)) return errf(err, "%s: download interrupted", shown);
        }
    }

    /* One line: what was tried, then how to do it by hand; the list is cut to keep the advice. The
     * folder may be gone by the time it is read (the commands remove those they made, left empty). */
    char head[256], tail[PATH_CAP + 512], names[256] = "";
    snprintf(head, sizeof head, "%s.gz: no mirror could provide it: ", f->name);
    for (int i = 0; i < MNIST_NFILES; i++) /* those asked for */
        if (!o->files || o->files & 1u << i)
            append(names, sizeof names, "%s%s", names[0] ? ", " : "", ds->files[i].name);
    snprintf(tail, sizeof tail,
             ". To do it by hand, make the folder %s if it is not there and place the files %s (raw or .gz) in it", dir,
             names);
    if (!tried[0]) snprintf(tried, sizeof tried, "no mirror to try");
    size_t fixed = strlen(head) + strlen(tail), len = strlen(tried);
    if (fixed + 4 < MNIST_ERR_LEN && len > MNIST_ERR_LEN - 1 - fixed) {
        size_t keep = MNIST_ERR_LEN - 1 - fixed - 3;
        memcpy(tried + keep, "...", 4);
    }
    return errf(err, "%s%s%s", head, tried, tail);
}

/* ---- the whole dataset ------------------------------------------------- */

int url_has_query(const char *url) { return strpbrk(url, "?#") != NULL; }

int url_has_blank(const char *url) {
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f) return 1;
    return 0;
}

int url_has_two_at(const char *url) {
    size_t len;
    const char *host = url_authority(url, &len), *at = memchr(host, '@', len);
    return at && memchr(at + 1, '@', len - (size_t)(at + 1 - host)) != NULL;
}

static void removed_stale(const char *path, void *ud) {
    news(ud, "%s: removed, a temporary file left by a fetch that was killed", path);
}

int mnist_fetch(const mnist_dataset *ds, const char *dir, const mnist_fetch_opts *o, mnist_err *err) {
    static const mnist_fetch_opts none;
    if (!o) o = &none;
    if (!ds || !dir || !dir[0]) return errf(err, "mnist_fetch: no dataset or no data folder given");
    if (o->nmirrors < 0 || ds->nurls < 0 || (o->nmirrors && !o->mirrors))
        return errf(err, "mnist_fetch: bad mirror list");
    /* bits of no file: fetched none and said it was done */
    if (o->files & ~(MNIST_TRAIN_FILES | MNIST_TEST_FILES))
        return errf(err, "mnist_fetch: files 0x%x names no file of a dataset (MNIST_TRAIN_FILES, MNIST_TEST_FILES)",
                    o->files);
    int nm = o->nmirrors + ds->nurls;
    mirror *m = calloc(nm ? (size_t)nm : 1, sizeof *m);
    if (!m) return errf(err, "mnist_fetch: out of memory");
    for (int j = 0; j < nm; j++) {
        const char *b = j < o->nmirrors ? o->mirrors[j] : ds->urls[j - o->nmirrors];
        size_t len = b ? strlen(b) : 0;
        url_shown(m[j].shown, sizeof m[j].shown, b ? b : "(null)");
        /* curl took ftp:// and the rest, or said 'Protocol not supported' of each file; the file names are put
         * after the URL: a query's or a fragment's end, where curl dropped them */
        const char *bad = len == 0 || len + 2 > sizeof m[j].base ? "bad mirror URL (empty or too long)"
                          : strncasecmp(b, "http://", 7) && strncasecmp(b, "https://", 8) && strncasecmp(b, "file://", 7)
                              ? "a mirror's URL begins http://, https:// or, for a folder, file:///"
                          : url_has_query(b) ? "a mirror's URL has no query or fragment ('?' or '#'): the file names follow it"
                          : url_has_blank(b) ? "a mirror's URL holds no space nor control character (a space is %20)"
                          : url_has_two_at(b) ? "a mirror's user and password hold no '@' (it is %40)"
                                         : NULL;
        if (bad) {
            errf(err, "%.64s: %s", m[j].shown, bad); /* m[j] said before m is freed */
            free(m);
            return -1;
        }
        memcpy(m[j].base, b, len + 1);
        if (b[len - 1] != '/') memcpy(m[j].base + len, "/", 2);
        url_shown(m[j].shown, sizeof m[j].shown, m[j].base);
    }
    if (make_dirs(dir, NULL, err)) { /* once the mirrors are known good: a bad one leaves no folder */
        free(m);
        return -1;
    }
    /* the temporary files of a fetch killed outright (SIGKILL: SIGINT and SIGTERM remove their own), raw and .gz,
     * in one pass over the folder (it was read once a name, 8 times); not those of another fetch at work in the folder, which
     * holds them locked */
    char gz[MNIST_NFILES][256];
    const char *names[2 * MNIST_NFILES];
    for (int i = 0; i < MNIST_NFILES; i++) {
        snprintf(gz[i], sizeof gz[i], "%s.gz", ds->files[i].name);
        names[2 * i] = ds->files[i].name;
        names[2 * i + 1] = gz[i];
    }
    atomic_remove_stale(dir, names, 2 * MNIST_NFILES, removed_stale, (void *)o);

    fetcher *x = calloc(1, sizeof *x);
    if (!x) {
        free(m);
        return errf(err, "mnist_fetch: out of memory");
    }
    x->o = o;
    int rc = 0;
    unsigned files = o->files ? o->files : MNIST_TRAIN_FILES | MNIST_TEST_FILES;
    for (int i = 0; i < MNIST_NFILES && rc == 0; i++)
        if (files & 1u << i) rc = fetch_one(x, ds, &ds->files[i], dir, m, nm, err);
    if (x->curl) lc.easy_cleanup(x->curl);
    free(x);
    free(m);
    return rc;
}
