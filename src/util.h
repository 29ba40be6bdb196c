/* util.h: small internal helpers shared by the library's files (not public). */
#ifndef MNIST_UTIL_H
#define MNIST_UTIL_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mnist.h"

/* No layer is wider than this: the sizes --layers takes, mnist_model_create makes and model files
 * may hold (model.c, safetensors.c). */
#define MAX_WIDTH (1 << 20)

/* Fill err with a formatted message; returns -1 so callers can `return errf(...)`. One longer than
 * err->msg holds keeps its head and its end (the problem) around "..." in its middle. */
int errf(mnist_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, for where memory ran out: returns MNIST_NO_MEMORY. */
int errf_no_memory(mnist_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cJSON's allocations, watched: json_watch() installs hooks (once, for the process) that note
 * where one fails, and clears that note for this thread; json_ran_out() says whether one has
 * failed on this thread since. cJSON, out of memory, fails as it does on bad JSON (a parse gives
 * NULL), or leaves out what it could not make. */
void json_watch(void);
int json_ran_out(void);

/* A SHA-256 (OpenSSL's EVP_MD_CTX) begun for the file path; NULL with err filled: out of memory, with
 * OpenSSL's reason (its own SHA-256 fails to begin for memory alone). */
struct evp_md_ctx_st *sha256_start(const char *path, mnist_err *err);

/* *out = a * b; returns 0, or -1 when it would overflow. */
int mul_size(size_t a, size_t b, size_t *out);

/* msg without the "PATH:" or "PATH: " in front that zlib (or our own errf) puts there, so a
 * message that names the file already does not name it twice (errf's shortened "PA...TH: " too);
 * msg itself when it has none. */
const char *after_path(const char *msg, const char *path);

/* Starts fn(arg) on a detached thread that takes no signals: it is made with every signal blocked, which it
 * keeps, so that Ctrl-C and SIGTERM go to the command's own threads (util.c's handler, which may run while a
 * file is being written, expects to be there). 0, or an errno value. */
int thread_start_quiet(void *(*fn)(void *), void *arg);

/* Loads the shared library lib (dlopen) and its functions names[0..n) into *slots[i]; 0, or -1
 * with err saying which could not be (fetch.c's libcurl, serve.c's libmicrohttpd: loaded by the
 * command that needs them, not linked). */
int load_library(const char *lib, const char *const *names, void **const *slots, int n, mnist_err *err);

/* fopen(path, "rb") of a regular file, which does not wait on a FIFO; NULL with err filled ("PATH:
 * reason": the system's, or "a folder, not a file", "not a regular file") on failure. */
FILE *open_input(const char *path, mnist_err *err);

/* The index of the first NaN or infinity among p[0..n), or n when there is none: one pass, that
 * loads, saves and training's epochs hardly notice. */
size_t first_nonfinite(const float *p, size_t n);
/* "NaN", "+infinity" or "-infinity": a float that is not finite, for a message. */
const char *nonfinite_name(float v);

/* A file read through gunzip when it starts with gzip's magic, as it is otherwise (gunzip.c).
 * Unlike zlib's gzread it refuses bytes after the last gzip member and a stream cut short. */
typedef struct gz_input gz_input;
/* Open path (a regular file only); NULL with err filled ("PATH: reason") on failure. */
gz_input *gz_input_open(const char *path, mnist_err *err);
/* Up to want bytes of content into dst, *got of them: fewer than want only at its end (where a
 * further read gets 0). Returns 0, or -1 with err filled (named with the path). */
int gz_input_read(gz_input *g, void *dst, size_t want, size_t *got, mnist_err *err);
void gz_input_close(gz_input *g);

/* The known dataset one of whose files has content of SHA-256 hex (lower case), *file its index in
 * files; NULL when none has (src/dataset.c). */
const mnist_dataset *dataset_of_sha256(const char *hex, int *file);
/* When content of SHA-256 hex is a file of another known dataset than the one whose file hashes to
 * want (MNIST's where Fashion-MNIST's was asked for): that dataset, with "this is the mnist dataset's
 * train-images-idx3-ubyte (by its SHA-256), not the fashion dataset's" in out (cap bytes); else NULL. */
const mnist_dataset *other_dataset(const char *hex, const char *want, char *out, size_t cap);

/* mnist_sha256_file (src/fetch.c) that refuses content (after gunzip) past limit bytes and stops,
 * with an error, once *cancel (may be NULL) is set. */
int sha256_file_limited(const char *path, char hex[65], uint64_t limit, volatile int *cancel, mnist_err *err);

/* url, to be shown, into out (cap bytes; cut short where it does not fit): the password of its userinfo
 * (http://user:pw@host/) is "***", so that no progress line nor error says it (src/fetch.c). Returns out. */
char *url_shown(char *out, size_t cap, const char *url);
/* Whether url holds a space, or a control character: curl said of each file 'URL using bad/illegal format', and the
 * next mirrors were tried (file:///data/my mnist/ among them) (src/fetch.c). */
int url_has_blank(const char *url);
/* Whether url holds a query or a fragment ('?' or '#'): a mirror's, after which the file names appended would
 * not be its path (curl sent http://h/p/?token=1train-images-idx3-ubyte.gz) (src/fetch.c). */
int url_has_query(const char *url);
/* Whether url's user and password (before its host) hold an '@' of their own: curl said of each file 'URL using
 * bad/illegal format' of http://user:p@ss@host/ (src/fetch.c). */
int url_has_two_at(const char *url);

/* mkdir -p dir, then make sure it is a folder (src/fetch.c). made (strlen(dir) + 1 bytes, or NULL)
 * gets 1 at i where the folder dir[0..i) was created by this call, 0 where it was there. */
int make_dirs(const char *dir, char *made, mnist_err *err);
/* The folders that make_dirs made for dir, deepest first, removed where they are empty. */
void remove_made(const char *dir, const char *made);
/* The folders that make_dirs made (dir, made), for mnist_remove_partial_files to remove where they are
 * left empty, until pending_folders(NULL, NULL): a fetch that a signal ends leaves no empty data folder. */
void pending_folders(const char *dir, const char *made);

/* s for an error message, into buf (cap bytes): at most 48 printable ASCII characters, the rest
 * '?', "..." when cut (a name of terminal escapes, ESC[2J, stays off the user's terminal). */
const char *shown(const char *s, char *buf, size_t cap);
/* The next number literal outside strings in the JSON text [*p, end): its start, *p moved past it
 * (both end when there is none). cJSON keeps a number as a double only, not as it was written. */
const char *json_next_number(const char **p, const char *end);
/* Whether s[0..n) is a JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: cJSON's parser
 * also takes 01, 1., -.5 and 1.e5, which are not JSON. */
int json_number(const char *s, int n);
/* Whether the literal s (n bytes) is a whole number written in digits alone: no sign, point,
 * exponent or leading zero (2.0, 2e0 and -0 are not; cJSON reads them as 2 and 0). */
int json_whole(const char *s, int n);
/* Where in s (n bytes) the first control character (below 0x20) lies that JSON does not allow there:
 * any within a string, and outside one any but tab, newline and return; n where there is none. cJSON
 * skips each as white space outside strings, so a body or a record holding one was taken. */
size_t json_stray_control(const char *s, size_t n);
/* Where in s (n bytes) arrays and objects first nest deeper than limit (strings skipped); n where they do
 * not. cJSON refuses past CJSON_NESTING_LIMIT (1000) as if the text were malformed. */
size_t json_too_deep(const char *s, size_t n, int limit);

/* dir, one '/', name and ext ("" or ".gz") into out (cap bytes): the '/'s that end dir are dropped,
 * so that a folder given as "data/" names "data/x", not "data//x" ("/" gives "/x"). snprintf's
 * count: cap or more when out was too small. */
int path_join(char *out, size_t cap, const char *dir, const char *name, const char *ext);
/* The length of dir without the '/'s that end it, for "%.*s/%s" in a message as path_join joins. */
int dir_length(const char *dir);

/* The length of the well-formed UTF-8 sequence at p (n bytes there), 1 for an ASCII byte; 0 when
 * it is not one (a stray or overlong byte, a surrogate, past U+10FFFF, cut short). */
int utf8_length(const unsigned char *p, size_t n);

/* A line of a --log file at most (train writes records of about 200 bytes): a longer one is no record,
 * and getline grew its buffer to the whole line first (a sparse file of zeros: gigabytes), and
 * cJSON took about 40 times its size to parse it (a 40 MB line: 1.6 GB). */
#define LOG_LINE_MAX (1 << 20)

/* The next line of f, its newline included, into *line (grown as getline grows it, NUL-terminated),
 * as getline reads it but for cap: its length, or -1 at the end of f or when a read fails or memory
 * runs out (errno; feof and ferror tell which). A line of cap bytes that has not ended gives them
 * and *cut = 1, f left inside it; else *cut = 0. */
ssize_t read_line(FILE *f, char **line, size_t *size, size_t cap, int *cut);

/* A line of a --log (plot.c), judged as mnist_read_log and train --resume both read it: a record is
 * a JSON object and nothing more (not two on one line), its "epoch" a whole number from 0 to 1e9,
 * every number in it finite. Its epoch and, when obj is non-NULL, the object (the caller's to
 * cJSON_Delete); or -1 and why not in why (" is not a record of ... (not JSON)", or ': "loss" is not
 * a finite number'), *obj then the object when it is one, NULL when the line is not JSON alone. */
struct cJSON;
int log_record(const char *line, struct cJSON **obj, char *why, size_t cap);

/* The big-endian 32-bit number at p (IDX headers, PNG chunks). */
static inline uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Monotonic clock in seconds. */
double now_seconds(void);

/* A file written under a temporary name in the target's folder and renamed over the target
 * only on commit, so readers never see a partial file. */
typedef struct {
    FILE *f;
    char tmp[4096];
    char path[4096];
    int slot; /* in the list of pending temporary files, or -1 */
    int lock; /* the temporary file, held locked (flock) until it is renamed or removed (util.c: lock_new), or -1 */
} atomic_file;

int atomic_open(atomic_file *a, const char *path, mnist_err *err);
/* Flush, fsync, close and rename; on any failure removes the temporary file. */
int atomic_commit(atomic_file *a, mnist_err *err);
/* Close and remove the temporary file. */
void atomic_abort(atomic_file *a);
/* Removes the temporary files that atomic_open made in dir for a file named one of bases (nbases of them:
 * .BASE.tmp-XXXXXX), in one pass over the folder, that no writer holds locked and that were last written STALE_AGE
 * seconds ago or more: those of a process killed outright (SIGKILL, a crash; any other end removes its own). Another
 * writer's at work is left: it holds its file locked, and writes it as its bytes come (a download that brings less
 * than 1000 bytes a second for 30 s is given up), so that the age alone tells where locks are not to be had, or the
 * writer is of a build that did not lock. said(path, ud), where given, for each one removed; returns how many. */
#define STALE_AGE 3600
int atomic_remove_stale(const char *dir, const char *const *bases, int nbases,
                        void (*said)(const char *path, void *ud), void *ud);

#endif
