/* util.c: errors, checked sizes, finite floats, the clock, atomic file writes (and the list of
 * their temporary files, for a signal handler). */
#define _GNU_SOURCE
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>

/* A message's head and tail around "..." in msg (cap bytes), for one of n bytes that it cannot hold:
 * a file's name of thousands of bytes cut the problem after it away. Cut between UTF-8 characters: a
 * character's continuation bytes are 3 at most, so a name that is not UTF-8 moves the cut 3 at most. */
static void shorten_middle(char *msg, size_t cap, const char *whole, size_t n) {
    size_t keep = cap - 1 - 3, head = keep / 4, tail = n - (keep - head);
    for (int i = 0; i < 3 && head > 0 && (whole[head] & 0xC0) == 0x80; i++) head--;
    for (int i = 0; i < 3 && tail < n && (whole[tail] & 0xC0) == 0x80; i++) tail++;
    snprintf(msg, cap, "%.*s...%s", (int)head, whole, whole + tail);
}

/* errf's message into err from fmt and ap (consumed) */
static void verrf(mnist_err *err, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    char *whole = n >= (int)sizeof err->msg ? malloc((size_t)n + 1) : NULL; /* else cut at its end, as it was */
    if (whole && vsnprintf(whole, (size_t)n + 1, fmt, again) == n) shorten_middle(err->msg, sizeof err->msg, whole, n);
    free(whole);
    va_end(again);
}

int errf(mnist_err *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    verrf(err, fmt, ap);
    va_end(ap);
    return -1;
}

int errf_no_memory(mnist_err *err, const char *fmt, ...) {
    if (!err) return MNIST_NO_MEMORY;
    va_list ap;
    va_start(ap, fmt);
    verrf(err, fmt, ap);
    va_end(ap);
    return MNIST_NO_MEMORY;
}

static _Thread_local int json_failed;

static void *json_malloc(size_t n) {
    void *p = malloc(n);
    json_failed |= !p && n;
    return p;
}

static void json_hooks(void) {
    cJSON_Hooks h = {json_malloc, free};
    cJSON_InitHooks(&h);
}

void json_watch(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_hooks);
    json_failed = 0;
}

int json_ran_out(void) { return json_failed; }

int mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

const char *after_path(const char *msg, const char *path) {
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':') return msg + n + 1 + (msg[n + 1] == ' ');
    /* errf's "HEAD...TAIL: " of a long one: its head, then the first ':' after a tail of it */
    const char *dots = strstr(msg, "...");
    if (!dots || dots == msg || strncmp(msg, path, (size_t)(dots - msg))) return msg;
    for (const char *c = strchr(dots + 3, ':'); c; c = strchr(c + 1, ':')) {
        size_t t = (size_t)(c - dots - 3);
        if (t <= n && !strncmp(dots + 3, path + n - t, t)) return c + 1 + (c[1] == ' ');
    }
    return msg;
}

FILE *open_input(const char *path, mnist_err *err) {
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        errf(err, "%s: %s", path, strerror(e));
        return NULL;
    }
    /* the readers said "not a regular file" of a folder, but for plot's "Is a directory" */
    struct stat st;
    const char *why = fstat(fd, &st) ? strerror(errno)
                      : S_ISDIR(st.st_mode) ? "a folder, not a file"
                      : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
    if (why) {
        errf(err, "%s: %s", path, why);
        fclose(f);
        return NULL;
    }
    return f;
}

size_t first_nonfinite(const float *p, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !isfinite(p[i]); /* no early exit: the loop vectorizes */
    if (!bad) return n;
    size_t i = 0;
    while (isfinite(p[i])) i++;
    return i;
}

const char *nonfinite_name(float v) { return isnan(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity"; }

ssize_t read_line(FILE *f, char **line, size_t *size, size_t cap, int *cut) {
    size_t n = 0;
    int c = 0;
    *cut = 0;
    flockfile(f);
    while (n < cap && (c = getc_unlocked(f)) != EOF) {
        if (n + 2 > *size) { /* room for c and the NUL */
            size_t want = *size < 128 ? 128 : *size > cap / 2 ? cap + 1 : 2 * *size;
            char *p = realloc(*line, want);
            if (!p) {
                funlockfile(f);
                errno = ENOMEM;
                return -1;
            }
            *line = p, *size = want;
        }
        (*line)[n++] = (char)c;
        if (c == '\n') break;
    }
    funlockfile(f);
    if (n == 0) return -1; /* the end, or a read error */
    (*line)[n] = '\0';
    *cut = n == cap && c != '\n';
    return (ssize_t)n;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The temporary files being written now, for mnist_remove_partial_files: a slot is claimed by a
 * compare-and-swap from 0 to 1, filled, then published by setting it to 2, so that a signal
 * handler only ever reads a whole name. */
#define PENDING_MAX 8
static char pending_name[PENDING_MAX][4096];
static atomic_int pending_state[PENDING_MAX];

static void pending_add(atomic_file *a) {
    for (int i = 0; i < PENDING_MAX; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&pending_state[i], &free_slot, 1)) {
            memcpy(pending_name[i], a->tmp, sizeof a->tmp);
            atomic_store(&pending_state[i], 2);
            a->slot = i;
            return;
        }
    }
    /* more at once than the slots: this one is simply not removed by a signal */
}

static void pending_drop(atomic_file *a) {
    if (a->slot >= 0) atomic_store(&pending_state[a->slot], 0);
    a->slot = -1;
}

/* The folders that make_dirs made for a fetch's files, until the fetch ends: claimed and published as a
 * slot of pending_state is. */
static char made_dir[4096], made_which[4096];
static atomic_int made_state;

void pending_folders(const char *dir, const char *made) {
    if (!dir) {
        atomic_store(&made_state, 0);
        return;
    }
    size_t n = strlen(dir) + 1;
    int free_slot = 0;
    if (n > sizeof made_dir || !atomic_compare_exchange_strong(&made_state, &free_slot, 1)) return;
    memcpy(made_dir, dir, n);
    memcpy(made_which, made, n);
    atomic_store(&made_state, 2);
}

void mnist_remove_partial_files(void) {
    for (int i = 0; i < PENDING_MAX; i++)
        if (atomic_load(&pending_state[i]) == 2) unlink(pending_name[i]);
    if (atomic_load(&made_state) == 2) remove_made(made_dir, made_which); /* rmdir: those left empty */
}

/* The process's umask: from /proc (Linux 4.7 on), else by setting and restoring it. */
static mode_t process_umask(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned m;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &m) == 1) {
            fclose(f);
            return (mode_t)(m & 0777);
        }
    if (f) fclose(f);
    mode_t old = umask(022);
    umask(old);
    return old;
}

/* A temporary file is locked (flock) by its writer from its creation to its rename or removal, through a file
 * descriptor of its own (a->lock: the FILE's is closed before the rename), so that a later run can tell the ones a
 * process killed outright (SIGKILL, a crash) left, which no one holds, from those of a writer at work (two fetches
 * into one folder at once): atomic_remove_stale removes the first kind, under their lock, once they are old. 0 where
 * fd is locked, or where locks are not to be had (a file system without them: atomic_remove_stale goes by the age
 * alone there); -1 where a removal took the file before the lock (it found the file not yet locked): made again. */
static int lock_new(int fd) {
    struct stat st;
    if (flock(fd, LOCK_EX | LOCK_NB)) return errno == EWOULDBLOCK ? -1 : 0; /* held: a removal's, about to unlink */
    return fstat(fd, &st) == 0 && st.st_nlink == 0 ? -1 : 0;
}

int atomic_open(atomic_file *a, const char *path, mnist_err *err) {
    memset(a, 0, sizeof *a);
    a->slot = -1; /* in no slot until pending_add: an abort after an early failure frees none */
    a->lock = -1;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    /* the temporary name is the file's, cut to leave room for its 12 more bytes in the folder's longest
     * name (a name of 244 to 255 bytes could not be written: "File name too long") */
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", dirlen ? dirlen : 1, dirlen ? path : ".");
    long most = pathconf(dir, _PC_NAME_MAX);
    int keep = (int)((most > 12 ? most : NAME_MAX) - 12);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path ||
        snprintf(a->tmp, sizeof a->tmp, "%.*s.%.*s.tmp-XXXXXX", dirlen, path, keep, base) >= (int)sizeof a->tmp)
        return errf(err, "%s: path too long", path);
    struct stat st; /* the rename would replace a device, FIFO or folder by a plain file */
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return errf(err, "%s: exists and is not a regular file; not replacing it", path);
    /* no SIGINT, SIGTERM, SIGHUP or SIGPIPE between the file's creation and its entry in the list: a
     * handler that ends the program then would leave it behind */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT), sigaddset(&block, SIGTERM), sigaddset(&block, SIGHUP), sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    size_t n = strlen(a->tmp);
    int fd, made_errno;
    for (int tries = 0;; tries++) {
        fd = mkstemp(a->tmp), made_errno = errno;
        if (fd < 0 || lock_new(fd) == 0 || tries == 8) break;
        close(fd); /* removed as a leftover meanwhile: another name */
        memcpy(a->tmp + n - 6, "XXXXXX", 6);
    }
    if (fd >= 0) pending_add(a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) return errf(err, "%s: cannot create a temporary file beside it: %s", path, strerror(made_errno));
    /* the lock's own descriptor (-1, out of files: unlocked from the fclose on), closed at an exec: a program run
     * meanwhile would hold the lock for as long as it runs */
    a->lock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    /* mkstemp's 0600, widened to what creating the file would give: the target's own mode when it
     * exists, else 0666 less the umask (read back from /proc: umask() cannot read without writing) */
    mode_t mode = 0666 & ~process_umask();
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;
    if (fchmod(fd, mode) != 0 || !(a->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        pending_drop(a);
        if (a->lock >= 0) close(a->lock);
        a->lock = -1;
        return errf(err, "%s: %s", path, strerror(e));
    }
    return 0;
}

/* fsync the folder that holds path, so that a name given by rename is on the disk too: the file's
 * own fsync keeps its bytes, not its new name (POSIX), and a crash after "Wrote FILE" could leave the
 * old file there, or none. Best effort: the file is in place whatever this says (a folder some file
 * systems cannot fsync: EINVAL). */
static void fsync_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + 1) : 1, slash ? path : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd); /* failed or not, nothing to undo: the rename is done */
    close(fd);
}

int atomic_commit(atomic_file *a, mnist_err *err) {
    int failed = fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0;
    int e = errno;
    if (fclose(a->f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    a->f = NULL;
    if (!failed && rename(a->tmp, a->path) != 0) {
        failed = 1;
        e = errno;
    }
    if (failed && !e) e = EIO; /* a write that failed before (ferror) and left no errno */
    if (failed) unlink(a->tmp);
    else fsync_folder(a->path);
    pending_drop(a);
    if (a->lock >= 0) close(a->lock); /* renamed or removed: the lock is no longer needed */
    a->lock = -1;
    if (failed) return errf(err, "%s: write failed: %s (the previous file, if any, is unchanged)", a->path, strerror(e));
    return 0;
}

void atomic_abort(atomic_file *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
    pending_drop(a);
    if (a->lock >= 0) close(a->lock);
    a->lock = -1;
}

/* Whether name is one of atomic_open's temporary names for base: .BASE.tmp- and mkstemp's 6 letters and digits. */
static int temporary_of(const char *name, const char *base) {
    size_t n = strlen(base);
    if (name[0] != '.' || strncmp(name + 1, base, n) || strncmp(name + 1 + n, ".tmp-", 5)) return 0;
    const char *x = name + n + 6;
    return strlen(x) == 6 && strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 6;
}

/* Whether no writer holds the file open on fd: its lock taken, or none to be had on its file system (flock fails
 * there, but for a lock held: EWOULDBLOCK). */
static int unheld(int fd) { return flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK; }

int atomic_remove_stale(const char *dir, const char *const *bases, int nbases,
                        void (*said)(const char *path, void *ud), void *ud) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int ours = 0;
        for (int i = 0; i < nbases && !ours; i++) ours = temporary_of(e->d_name, bases[i]);
        if (!ours) continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); /* a FIFO: no wait */
        if (fd < 0) continue;
        /* a plain file, last written STALE_AGE s ago or more and unlocked: no writer holds it (a writer that has yet
         * to lock it finds it removed, lock_new, and makes another); the name still this file's. Old, as well as
         * unlocked: where locks are not to be had (then old alone), and for a writer of a build that did not lock */
        struct stat st, now;
        time_t t = time(NULL);
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && t != (time_t)-1 && t - st.st_mtime >= STALE_AGE &&
            unheld(fd) &&
            fstatat(dirfd(d), e->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
            now.st_ino == st.st_ino && unlinkat(dirfd(d), e->d_name, 0) == 0) {
            removed++;
            char path[4096];
            if (said && path_join(path, sizeof path, dir, e->d_name, "") < (int)sizeof path) said(path, ud);
        }
        close(fd);
    }
    closedir(d);
    return removed;
}

const char *shown(const char *s, char *buf, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 4 < cap && i < 48; i++) buf[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    if (s[i]) buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = '\0';
    return buf;
}

int dir_length(const char *dir) {
    size_t n = strlen(dir);
    while (n > 0 && dir[n - 1] == '/') n--;
    return n > INT_MAX ? INT_MAX : (int)n;
}

int path_join(char *out, size_t cap, const char *dir, const char *name, const char *ext) {
    return snprintf(out, cap, "%.*s/%s%s", dir_length(dir), dir, name, ext);
}

int utf8_length(const unsigned char *p, size_t n) {
    if (n == 0) return 0;
    if (p[0] < 0x80) return 1;
    int k = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    if ((size_t)k > n) return 0;
    for (int i = 1; i < k; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (k == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (k == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))) return 0; /* overlong, past U+10FFFF */
    return k;
}

int thread_start_quiet(void *(*fn)(void *), void *arg) {
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    sigfillset(&all);
    int e = pthread_attr_init(&attr);
    if (e) return e;
    if (!(e = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) &&
        !(e = pthread_sigmask(SIG_SETMASK, &all, &old))) {
        e = pthread_create(&th, &attr, fn, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_attr_destroy(&attr);
    return e;
}

int load_library(const char *lib, const char *const *names, void **const *slots, int n, mnist_err *err) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return errf(err, "%s cannot be loaded (%s)", lib, why ? why : "dlopen failed");
    }
    for (int i = 0; i < n; i++)
        if (!(*slots[i] = dlsym(h, names[i]))) {
            for (int k = 0; k < i; k++) *slots[k] = NULL; /* none of it is used: the caller reports the error */
            dlclose(h);
            return errf(err, "%s has no %s", lib, names[i]);
        }
    return 0;
}

const char *json_next_number(const char **p, const char *end) {
    const char *s = *p, *t;
    for (int in = 0; s < end; s++)
        if (in && *s == '\\' && s + 1 < end) s++;
        else if (*s == '"') in = !in;
        else if (!in && (*s == '-' || (*s >= '0' && *s <= '9'))) break;
    for (t = s; t < end && ((*t >= '0' && *t <= '9') || *t == '-' || *t == '+' || *t == '.' || *t == 'e' || *t == 'E'); t++) {}
    *p = t;
    return s;
}

size_t json_stray_control(const char *s, size_t n) {
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && (in || (c != '\t' && c != '\n' && c != '\r'))) return i;
        if (in && c == '\\' && i + 1 < n && (unsigned char)s[i + 1] >= 0x20) i++; /* an escaped character */
        else if (c == '"') in = !in;
    }
    return n;
}

int json_number(const char *s, int n) {
    int i = n > 0 && s[0] == '-', d;
    for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {}
    if (i == d || (s[d] == '0' && i - d > 1)) return 0;
    if (i < n && s[i] == '.') {
        for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {}
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i += i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-') ? 2 : 1;
        for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {}
        if (i == d) return 0;
    }
    return i == n;
}

size_t json_too_deep(const char *s, size_t n, int limit) {
    int depth = 0, in = 0;
    for (size_t i = 0; i < n; i++)
        if (in && s[i] == '\\' && i + 1 < n) i++; /* an escaped character, a quote among them */
        else if (s[i] == '"') in = !in;
        else if (!in && (s[i] == '[' || s[i] == '{') && ++depth > limit) return i;
        else if (!in && (s[i] == ']' || s[i] == '}')) depth--;
    return n;
}

int json_whole(const char *s, int n) {
    int digits = n > 0 && (n == 1 || s[0] != '0');
    for (int i = 0; i < n; i++) digits &= s[i] >= '0' && s[i] <= '9';
    return digits;
}

struct evp_md_ctx_st *sha256_start(const char *path, mnist_err *err) {
    ERR_clear_error();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) return ctx;
    int made = ctx != NULL; /* (a freed pointer's value is not to be read) */
    EVP_MD_CTX_free(ctx);
    /* OpenSSL's own SHA-256 fails to begin for memory alone, which OpenSSL 3.0 seldom says as such (its
     * providers' start fails: "initialization error", or nothing queued): its reason is kept beside */
    unsigned long e = ERR_peek_last_error();
    char why[256] = "no reason given";
    if (e) ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    errf_no_memory(err, "%s: out of memory starting its SHA-256 (OpenSSL: %s)", path, made ? why : "no context made");
    return NULL;
}
