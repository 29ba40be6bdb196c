/* cli.c: flags, Ctrl-C and the data folder, shared by the commands. */
#define _XOPEN_SOURCE 700 /* realpath */
#define _DEFAULT_SOURCE   /* TIOCGWINSZ */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "safetensors.h"
#include "util.h"

void cli_put_escaped(FILE *out, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_length(p, strnlen((const char *)p, 4));
        if (*p == '\n') fputs("\\n", out);
        else if (*p == '\t') fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f || n == 0) /* a byte of no UTF-8 sequence: 0x9b alone is CSI to a terminal
                                                      * of 8-bit controls, as U+009B is to one of UTF-8 */
            fprintf(out, "\\x%02x", *p);
        else if (n == 2 && *p == 0xc2 && p[1] <= 0x9f) fprintf(out, "\\u%04x", p[1]);
        else fwrite(p, 1, (size_t)n, out);
        p += n ? n : 1;
    }
}

void cli_say(FILE *out, const char *fmt, ...) {
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    char small[1024], *buf = small;
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1))) vsnprintf(buf, (size_t)n + 1, fmt, again);
    if (!buf) buf = small; /* out of memory: as much as fits */
    va_end(again);
    va_end(ap);
    if (n < 0) return;
    size_t len = strlen(buf);
    int nl = len && buf[len - 1] == '\n';
    if (nl) buf[len - 1] = '\0';
    flockfile(out); /* one line, whole, among other threads' */
    cli_put_escaped(out, buf);
    if (nl) fputc('\n', out);
    funlockfile(out);
    if (buf != small) free(buf);
}

volatile int interrupted;
static volatile sig_atomic_t soft; /* Ctrl-C sets `interrupted` rather than ending the program */
static volatile sig_atomic_t soft_term; /* and so does SIGTERM */

static pthread_t main_thread; /* cli_catch_signals' caller */

/* A Ctrl-C while soft (a SIGTERM while soft_term) only sets `interrupted`; any other (and SIGHUP)
 * ends the program as the signal would, less the temporary files of the writes in progress: the
 * files they were to replace stay as they were. On the main thread: a signal sent to the process
 * comes on any thread that does not block it (OpenBLAS's, libcurl's, libmicrohttpd's), and the main
 * thread blocks these between a temporary file's creation and its entry in the list (atomic_open),
 * so that one handled elsewhere meanwhile left that file, and the folder fetch made for it. */
static void on_signal(int sig) {
    /* taken there once it is unblocked; where it cannot be passed on (no such thread), here */
    if (!pthread_equal(pthread_self(), main_thread) && pthread_kill(main_thread, sig) == 0) return;
    if (((sig == SIGINT && soft) || (sig == SIGTERM && soft_term)) && !interrupted) {
        interrupted = 1;
        return;
    }
    mnist_remove_partial_files();
    /* the first process of a PID namespace (a container's process 1) is not ended by a signal left
     * to its default action: it would go on, its files' temporary copies gone */
    if (getpid() == 1) _exit(128 + sig);
    signal(sig, SIG_DFL);
    raise(sig); /* delivered when the handler returns: the exit status says which signal */
}

void cli_catch_signals(void) {
    main_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT), sigaddset(&sa.sa_mask, SIGTERM), sigaddset(&sa.sa_mask, SIGHUP);
    sigaddset(&sa.sa_mask, SIGPIPE);
    /* SIGPIPE too: a pipe whose reader is gone (mnist fetch 2>&1 | head -c 1) ended it with its files' temporary
     * copies and the data folder it made, empty, left behind */
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (int i = 0; i < 4; i++) {
        struct sigaction old;
        /* a signal ignored by whoever started us (nohup, a shell's background job) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
    }
    /* a file-size limit (ulimit -f) fails a write past it (EFBIG) as a full disk does: SIGXFSZ's default action
     * ended the program, its write's temporary file left beside the file it was to replace */
    signal(SIGXFSZ, SIG_IGN);
}

void cli_catch_sigint(int on) { soft = on; }

void cli_catch_sigterm(int on) { soft_term = on; }

static void usage(const char *cmd, const char *args, const char *summary, const flag *flags, FILE *out) {
    fprintf(out, "usage: mnist %s %s\n\n%s\n\n", cmd, args, summary);
    int width = 22; /* the flags' column: as wide as the widest, so that every help starts in one column */
    for (const flag *f = flags; f->name; f++) {
        int w = (int)(strlen(f->name) + (f->arg ? 1 + strlen(f->arg) : 0));
        if (w > width) width = w;
    }
    for (const flag *f = flags; f->name; f++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        fprintf(out, "  %-*s  %s\n", width, left, f->help);
    }
    fprintf(out, "  %-*s  %s\n", width, "--help", "show this help");
}

/* Edits (insert, delete, replace, swap two neighbours) from a (its first na bytes) to b. */
static int edits(const char *a, size_t na, const char *b) {
    enum { CAP = 64 };
    size_t nb = strlen(b);
    if (na >= CAP || nb >= CAP) return CAP;
    int d[CAP][CAP];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

const char *cli_nearest(const char *s, size_t len, const char *const *names, size_t stride) {
    const char *best = NULL;
    int bd = 3;
    for (const char *const *n = names; *n; n = (const char *const *)((const char *)n + stride)) {
        int d = edits(s, len, *n), most = strlen(*n) > 6 ? 2 : 1; /* a slip of the fingers, not another word */
        if (d <= most && d < bd) best = *n, bd = d;
    }
    return best;
}

/* Whether v is a number as a user writes one: ASCII digits and, for a real, a '.' with a fraction
 * and an exponent ("5", ".5", "5.", "1e-3"). strtol and strtod also take blanks before it, a '+',
 * hex ("0x10" is 16), "inf" and "nan", which no one means as --epochs or --lr. */
static int plain_number(const char *v, int real) {
    const char *digits = "0123456789", *p = v;
    size_t whole = strspn(p, digits), frac = 0;
    p += whole;
    if (real && *p == '.') frac = strspn(++p, digits), p += frac;
    if (whole + frac == 0) return 0; /* no digit: "", ".", "e5" */
    if (real && (*p == 'e' || *p == 'E')) {
        p += 1 + (p[1] == '+' || p[1] == '-');
        size_t exp = strspn(p, digits);
        if (exp == 0) return 0;
        p += exp;
    }
    return *p == '\0';
}

/* The number flags whose range is narrower than their kind's (0 to INT_MAX, 4294967295 or 1e30), each the same
 * in every command that has it: a value outside it is refused as it is read, in the same words for either side
 * and for a negative value ("too small (at least 1)", "too large (at most 10)"); past INT_MAX too (INT_MAX was
 * said first, then the flag's own limit). open: 1, the least itself is refused (--lr 0); 2, the most (--momentum
 * 1). The flags' own checks say the rest (a momentum of 1 in float32). */
static const struct {
    const char *name;
    double least, most;
    int open;
} ranges[] = {{"--port", 0, CLI_MAX_PORT, 0},           {"--timeout", 1, CLI_MAX_TIMEOUT, 0},
              {"--deadline", 1, CLI_MAX_TIMEOUT, 0},    {"--threads", 0, MNIST_MAX_THREADS, 0},
              {"--top", 1, MNIST_CLASSES, 0},           {"--shift", 0, MNIST_MAX_SHIFT, 0},
              {"--epochs", 0, MNIST_MAX_EPOCHS, 0},     {"--connections", 1, CLI_MAX_CONNECTIONS, 0},
              {"--per-address", 1, CLI_MAX_CONNECTIONS, 0}, {"--batch", 1, INT_MAX, 0},
              {"--keepalive-requests", 1, INT_MAX, 0},  {"--keepalive-time", 1, CLI_MAX_TIMEOUT, 0},
              {"--count", 1, INT_MAX, 0},               {"--lr", 0, 1e30, 1},
              {"--momentum", 0, 1, 2},                  {"--dropout", 0, 1, 2}};

/* the range of flag f: its row of ranges, else its kind's */
static void flag_range(const flag *f, double *least, double *most, int *open) {
    *least = 0, *most = f->kind == F_DOUBLE ? 1e30 : f->kind == F_UINT ? 4294967295.0 : INT_MAX, *open = 0;
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (!strcmp(ranges[i].name, f->name))
            *least = ranges[i].least, *most = ranges[i].most, *open = ranges[i].open;
}

static int add_arg(const char *cmd, str_list *pos, const char *a) {
    if (!*a) { /* an unset variable ("$f"): said as a flag's empty value is, not as the file "" not found */
        cli_say(stderr, "mnist %s: an empty argument is no file's name (see 'mnist %s --help')\n", cmd, cmd);
        return -1;
    }
    if (pos->n == MAX_ARGS) {
        cli_say(stderr, "mnist %s: at most %d files in one command ('xargs -n %d' splits a longer list)\n", cmd,
                MAX_ARGS, MAX_ARGS);
        return -1;
    }
    pos->items[pos->n++] = a;
    return 0;
}

int cli_parse(const char *cmd, const char *args, const char *summary, const flag *flags, int argc, char **argv,
              str_list *pos) {
    int flags_end = 0; /* after "--" every argument is a file, even one that begins with '-' */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_end && pos && !strcmp(a, "--")) {
            flags_end = 1;
            continue;
        }
        if (flags_end) {
            if (add_arg(cmd, pos, a)) return 2;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(cmd, args, summary, flags, stdout);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const flag *f = flags;
        while (f->name && (strlen(f->name) != len || strncmp(f->name, a, len))) f++;
        if (!f->name && (a[0] != '-' || !strcmp(a, "-")) && pos) { /* "-": standard input, to predict */
            if (add_arg(cmd, pos, a)) return 2;
            continue;
        }
        if (!f->name) {
            const char *near = a[0] == '-' ? cli_nearest(a, len, &flags[0].name, sizeof *flags) : NULL;
            cli_say(stderr, "mnist %s: unknown %s '%s'%s%s%s (see 'mnist %s --help')\n", cmd,
                    a[0] == '-' ? "flag" : "argument", a, near ? ": did you mean " : "", near ? near : "",
                    near ? "?" : "", cmd);
            return 2;
        }
        if (f->kind == F_BOOL) {
            if (eq) {
                cli_say(stderr, "mnist %s: %s takes no value\n", cmd, f->name);
                return 2;
            }
            *(int *)f->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            cli_say(stderr, "mnist %s: %s needs a value (%s)\n", cmd, f->name, f->arg);
            return 2;
        }
        if (!*v && (f->kind == F_STR || f->kind == F_LIST)) {
            cli_say(stderr, "mnist %s: %s needs a value (%s), not an empty string\n", cmd, f->name, f->arg);
            return 2;
        }
        int number = f->kind == F_INT || f->kind == F_UINT || f->kind == F_DOUBLE, side = 0; /* -1, 1: past it */
        double least, most, x = 0;
        int open;
        if (number) {
            flag_range(f, &least, &most, &open);
            if (!plain_number(v + (v[0] == '-'), f->kind == F_DOUBLE)) goto bad; /* a number, a '-' before it or not */
            x = strtod(v, NULL); /* its size alone is left to check (1e999: HUGE_VAL; -0: 0, a sign aside) */
            side = x < least || (open == 1 && x <= least) ? -1 : x > most || (open == 2 && x >= most) ? 1 : 0;
            if (side) goto bad;
            x += 0.0; /* -0 is 0 */
        }
        switch (f->kind) {
        case F_STR: *(const char **)f->dst = v; break;
        case F_LIST: {
            str_list *l = f->dst;
            if (l->n == MAX_MIRRORS) {
                cli_say(stderr, "mnist %s: at most %d of %s\n", cmd, MAX_MIRRORS, f->name);
                return 2;
            }
            l->items[l->n++] = v;
            break;
        }
        case F_INT: *(int *)f->dst = (int)x; break; /* within the range: an int */
        case F_UINT: *(uint32_t *)f->dst = (uint32_t)x; break;
        /* a value too small to hold (1e-999, or 1e-310 held inexactly) is what strtod gives, 0 or the
         * nearest, and the flag's range or own check says whether it will do (--lr 1e-999 is 0: refused) */
        case F_DOUBLE: *(double *)f->dst = x; break;
        case F_BOOL: break;
        }
        continue;
    bad:
        if (side) { /* the bound as it is written: 1e30, not 1e+30 */
            char b[32], *e;
            snprintf(b, sizeof b, "%.15g", side > 0 ? most : least);
            if ((e = strstr(b, "e+"))) memmove(e + 1, e + 2, strlen(e + 2) + 1);
            cli_say(stderr, "mnist %s: %s '%s' is too %s (%s %s)\n", cmd, f->name, v, side > 0 ? "large" : "small",
                    side > 0 ? (open == 2 ? "must be below" : "at most") : open == 1 ? "must be above" : "at least", b);
        } else
            cli_say(stderr, "mnist %s: %s '%s' is not a valid %s\n", cmd, f->name, v,
                    f->kind == F_DOUBLE ? "non-negative number" : "non-negative whole number");
        return 2;
    }
    return 0;
}

/* ---- data ----------------------------------------------------------- */

/* A download's progress line is on stderr, not yet ended: the next line ends it first. It was ended
 * where it reached 100%, which curl reports several times (the line came 4 or 5 times), and not at all
 * for a download of unknown length or one cut short: the next line ran on after it. */
static int progress_open;

static void end_progress(void) {
    if (progress_open) fputc('\n', stderr);
    progress_open = 0;
}

/* A fetch's line, escaped as every other (its data folder's and its mirrors' names went out raw, ESC and all) */
static void log_line(void *ud, const char *line) {
    (void)ud;
    end_progress();
    cli_say(stderr, "%s\n", line);
}

/* bytes as a person reads them: "9.9 MB", "29.8 kB" ("0.0 MB" was the labels files' size) */
static const char *size_text(double bytes, char *out, size_t cap) {
    snprintf(out, cap, bytes < 1e6 ? "%.1f kB" : "%.1f MB", bytes < 1e6 ? bytes / 1e3 : bytes / 1e6);
    return out;
}

static void show_progress(void *ud, const char *file, double now, double total) {
    (void)ud;
    char size[32];
    if (total > 0)
        fprintf(stderr, "\r\033[K  %s: %3.0f%% of %s", file, 100.0 * now / total, size_text(total, size, sizeof size));
    else
        fprintf(stderr, "\r\033[K  %s: %s", file, size_text(now, size, sizeof size));
    progress_open = 1;
}

int cli_tty_width(int fd) {
    struct winsize ws;
    return isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

const char *cli_dataset = "mnist";
const char *cli_command = "";

int cli_set_dataset(const char *cmd, const char *name) {
    if (!mnist_dataset_get(name)) {
        cli_say(stderr, "mnist %s: --dataset '%s' is not one of: mnist fashion\n", cmd, name);
        return 2;
    }
    cli_dataset = name;
    return 0;
}

int cli_device(const char *cmd, const char *name) {
    if (!strcmp(name, "cpu")) return MNIST_CPU;
    if (!strcmp(name, "cuda")) return MNIST_CUDA;
    cli_say(stderr, "mnist %s: --device '%s' is not one of: cpu cuda\n", cmd, name);
    return -1;
}

const char *cli_device_said(int dev, const char *msg) {
    static const char *const gpu[] = {"CUDA error ", "cuBLAS ", "MNIST_CUDA_GEMM="};
    for (size_t i = 0; dev == MNIST_CUDA && i < sizeof gpu / sizeof *gpu; i++)
        if (!strncmp(msg, gpu[i], strlen(gpu[i]))) return "--device cuda: ";
    return "";
}

int cli_unknown_dataset(const char *cmd, const char *path, const mnist_model *m, const char *hint) {
    if (mnist_dataset_get(m->dataset)) return 0;
    char db[64]; /* the file's bytes: no terminal escapes, no second line */
    cli_say(stderr, "mnist %s: %s: its dataset '%s' is not one of: mnist fashion%s\n", cmd, path,
            shown(m->dataset, db, sizeof db), hint);
    return 1;
}

int cli_model_dataset(const char *cmd, const char *path, const mnist_model *m, const char *flag_value) {
    /* unknown, it was read as MNIST, its classes as digits */
    if (!flag_value && cli_unknown_dataset(cmd, path, m, " (--dataset takes it for one)")) return 1;
    int rc = cli_set_dataset(cmd, flag_value ? flag_value : m->dataset);
    /* another than the model's own: taken (an experiment), and said (a slip reads a digit as "Dress") */
    if (rc == 0 && flag_value && mnist_dataset_get(m->dataset) && strcmp(flag_value, m->dataset))
        cli_say(stderr, "mnist %s: note: %s was trained on %s; --dataset %s %s\n", cmd, path, m->dataset, flag_value,
                strcmp(cmd, "predict") ? "tests it on that dataset" : "names its outputs as that dataset's classes");
    return rc;
}

int cli_prep(const char *cmd, const char *name, const char *dataset, mnist_prep *prep, const char **said) {
    static const char *const names[] = {"mnist", "lab", "fashion", "outline"}; /* in mnist_prep's order */
    if (!name) name = !strcmp(dataset, "fashion") ? "fashion" : "mnist";
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(name, names[i])) {
            *prep = (mnist_prep)i, *said = names[i];
            return 0;
        }
    cli_say(stderr, "mnist %s: --preprocess '%s' is not mnist, lab, fashion or outline\n", cmd, name);
    return 2;
}

/* In msg (cap bytes), the text at `at` (n bytes) replaced by with; cut short where it does not fit. */
static void replace_at(char *msg, size_t cap, char *at, size_t n, const char *with) {
    char rest[MNIST_ERR_LEN];
    snprintf(rest, sizeof rest, "%s", at + n);
    snprintf(at, cap - (size_t)(at - msg), "%s%s", with, rest);
}

void cli_flag_advice(char *msg, size_t cap, const char *dir) {
    char fetch[PATH_MAX + 64], *at;
    snprintf(fetch, sizeof fetch, "run 'mnist fetch --dataset %s --data %s'", cli_dataset, dir ? dir : ".");
    const char *const said[][2] = {{"a load that does not verify reads", "--no-verify reads"},
                                   {"mnist_fetch sets it aside", "'mnist fetch' sets it aside"},
                                   {"give a folder that can be written",
                                    "give a folder that can be written (--data DIR, or MNIST_DATA)"},
                                   {"a record of a training log", "a record of 'mnist train --log'"},
                                   {"come from mnist_checkpoint_save", "come from 'mnist train --checkpoint'"},
                                   {dir ? "fetch it (mnist_fetch)" : "", fetch}};
    for (size_t i = 0; i < sizeof said / sizeof *said; i++)
        if (said[i][0][0] && (at = strstr(msg, said[i][0]))) replace_at(msg, cap, at, strlen(said[i][0]), said[i][1]);
    static const char *const names[] = {"mnist", "fashion"};
    size_t n = strlen(msg);
    for (int i = 0; i < 2; i++) { /* other_dataset's "this is the NAME dataset's FILE (...), not the ... dataset's" */
        char whose[64];
        snprintf(whose, sizeof whose, "this is the %s dataset's ", names[i]);
        if (strstr(msg, whose) && n > 9 && !strcmp(msg + n - 9, "dataset's"))
            snprintf(msg + n, cap - n, ": --dataset %s reads this folder", names[i]);
    }
}

int cli_fetch(const mnist_dataset *ds, const char *dir, unsigned files, const str_list *mirrors) {
    mnist_fetch_opts o = {.files = files,
                          .mirrors = mirrors ? mirrors->items : NULL,
                          .nmirrors = mirrors ? mirrors->n : 0,
                          .log = log_line,
                          .progress = isatty(2) ? show_progress : NULL,
                          .cancel = &interrupted};
    mnist_err err;
    /* the folders made here (not there before: a/../b makes a, and b if it was not there), so that
     * those of a fetch that failed, left empty, go again; a name that says where they are was not
     * enough: for a/../b, a stayed, and a b that was there was removed */
    char made[PATH_MAX];
    int rc = make_dirs(dir, made, &err);
    if (rc == 0) pending_folders(dir, made); /* and those that a signal ends it in (SIGTERM, SIGPIPE), left empty */
    int was = soft;
    cli_catch_sigint(1); /* Ctrl-C stops the download: mnist_fetch removes what it had written */
    if (rc == 0) rc = mnist_fetch(ds, dir, &o, &err);
    cli_catch_sigint(was);
    pending_folders(NULL, NULL);
    end_progress();
    if (rc) {
        remove_made(dir, made);
        cli_flag_advice(err.msg, sizeof err.msg, dir);
        cli_say(stderr, "mnist %s: %s\n", cli_command, err.msg);
        return interrupted ? 130 : 1;
    }
    return 0;
}

int cli_load_data(const char *flag_dir, unsigned files, int verify, mnist_data *d) {
    const mnist_dataset *ds = mnist_dataset_get(cli_dataset);
    char dir[4096], path[4096];
    mnist_err err;
    if (mnist_dataset_dir(dir, sizeof dir, ds, flag_dir, &err)) {
        cli_say(stderr, "mnist %s: %s\n", cli_command, err.msg);
        return 1;
    }
    int missing = 0;
    for (int f = 0; f < MNIST_NFILES; f++) {
        if (!(files & 1u << f)) continue;
        int found = mnist_data_file(path, sizeof path, dir, &ds->files[f], &err);
        if (found < 0) {
            cli_say(stderr, "mnist %s: %s\n", cli_command, err.msg);
            return 1;
        }
        missing |= !found;
    }
    int rc = missing && verify ? cli_fetch(ds, dir, files, NULL) : 0;
    if (rc) return rc;
    if (mnist_data_load_some(d, ds, dir, files, verify, &err)) {
        cli_flag_advice(err.msg, sizeof err.msg, dir);
        cli_say(stderr, "mnist %s: %s\n", cli_command, err.msg);
        return 1;
    }
    return 0;
}

int cli_check_fit(const char *cmd, const char *flag_dir, const mnist_data *d, const mnist_model *m, const char *what) {
    int train = !strcmp(cmd, "train"); /* its training set, else the test set (the two are one size: idx.c) */
    const mnist_dataset *ds = mnist_dataset_get(cli_dataset);
    char dir[4096], path[4096];
    mnist_err err;
    if (mnist_dataset_dir(dir, sizeof dir, ds, flag_dir, &err) ||
        mnist_data_file(path, sizeof path, dir, &ds->files[train ? MNIST_TRAIN_IMAGES : MNIST_TEST_IMAGES], &err) < 0)
        snprintf(path, sizeof path, "the %s images", train ? "training" : "test");
    if (mnist_model_fits(m, train ? &d->train : &d->test, path, what, &err) == 0) return 0;
    cli_say(stderr, "mnist %s: %s\n", cmd, err.msg);
    return 1;
}

/* ---- output files --------------------------------------------------- */

/* The folder of path into out: "." for a bare name, "/" for one at the root. */
static void folder_of(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, cap, ".");
    else if (slash == path) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* Whether b[0..n), a file's first bytes (n < cap: all of it), begins as sig does, or is all that a
 * file cut short within sig holds (a copy stopped early). */
static int begins(const unsigned char *b, size_t n, size_t cap, const char *sig) {
    size_t k = strlen(sig);
    return n >= k ? !memcmp(b, sig, k) : n < cap && !memcmp(b, sig, n);
}

/* Whether the regular file at path is empty or begins as a file of kind does, or as one cut short
 * does (a copy stopped early: its own kind, to be replaced); one that cannot be read is not judged
 * (the write says what it says of it). */
static int holds_kind(const char *path, cli_output kind) {
    unsigned char b[64];
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return 1;
    ssize_t got = read(fd, b, sizeof b);
    close(fd);
    if (got <= 0) return 1;
    size_t n = (size_t)got;
    if (kind == OUT_SAFETENSORS) { /* 8 bytes of its header's length (at most the reader's), then its JSON */
        uint64_t len = 0;
        for (size_t i = 0; i < 8 && i < n; i++) len |= (uint64_t)b[i] << 8 * i;
        return len <= ST_MAX_HEADER && (n < 9 || b[8] == '{');
    }
    if (kind == OUT_PNG) return begins(b, n, sizeof b, "\x89PNG\r\n\x1a\n");
    /* an SVG: a byte-order mark and blanks may come first (an editor's), and a DOCTYPE (a drawing tool's) */
    size_t at = n >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3) ? 3 : 0;
    while (at < n && b[at] && strchr(" \t\r\n", b[at])) at++;
    const char *const svg[] = {"<svg", "<?xml", "<!DOCTYPE svg"};
    for (int i = 0; i < 3; i++)
        if (begins(b + at, n - at, sizeof b - at, svg[i])) return 1;
    return 0;
}

/* The extension of path's name when it names a kind of picture other than kind's (x.svg for a PNG, x.png
 * for an SVG), else NULL: the file would be written as kind whatever its name said. */
static const char *other_picture(const char *path, cli_output kind) {
    static const char *const pictures[] = {".png", ".svg", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff",
                                           ".pdf"};
    const char *own = kind == OUT_PNG ? ".png" : kind == OUT_SVG ? ".svg" : NULL, *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!own || !dot) return NULL;
    char ext[8];
    size_t n = strlen(dot);
    if (n >= sizeof ext) return NULL;
    for (size_t i = 0; i <= n; i++) ext[i] = (char)(dot[i] >= 'A' && dot[i] <= 'Z' ? dot[i] - 'A' + 'a' : dot[i]);
    for (size_t i = 0; i < sizeof pictures / sizeof pictures[0]; i++)
        if (!strcmp(ext, pictures[i])) return strcmp(ext, own) ? dot : NULL;
    return NULL;
}

int cli_check_output(const char *cmd, const char *flagname, const char *path, cli_output kind) {
    static const char *const names[] = {[OUT_SAFETENSORS] = "a safetensors file (a model or a checkpoint)",
                                        [OUT_SVG] = "an SVG file", [OUT_PNG] = "a PNG file"};
    int replaced = kind != OUT_APPENDED;
    struct stat st;
    if (!strcmp(path, "-")) { /* as for other tools, '-' reads as standard output: it made a file named '-' */
        cli_say(stderr, "mnist %s: %s -: the output is written to a file, not to standard output: give a file's "
                "name\n", cmd, flagname);
        return 2;
    }
    /* past PATH_MAX no call takes it, and its folder's name was cut to PATH_MAX bytes: another folder judged */
    if (strlen(path) >= PATH_MAX) {
        cli_say(stderr, "mnist %s: %s %s: its name is %zu bytes, longer than the %d a path may have\n", cmd, flagname,
                path, strlen(path), PATH_MAX - 1);
        return 1;
    }
    const char *ext = other_picture(path, kind);
    if (ext) { /* show --out x.svg wrote a PNG under that name */
        cli_say(stderr, "mnist %s: %s %s: %s writes %s; a name ending in %s says otherwise: give it a %s name\n", cmd,
                flagname, path, flagname, names[kind], ext, kind == OUT_PNG ? ".png" : ".svg");
        return 2;
    }
    if (stat(path, &st) == 0 && (S_ISDIR(st.st_mode) || (replaced && !S_ISREG(st.st_mode)))) {
        cli_say(stderr, "mnist %s: %s %s: %s\n", cmd, flagname, path,
                S_ISDIR(st.st_mode) ? "is a folder; give a file's name" : "exists and is not a regular file");
        return 1;
    }
    /* a file of another kind is no output's to replace, as --log empties no file but a log */
    if (replaced && stat(path, &st) == 0 && !holds_kind(path, kind)) {
        cli_say(stderr, "mnist %s: %s %s: it is not %s, and %s replaces it: give such a file, or a new one\n",
                cmd, flagname, path, names[kind], flagname);
        return 1;
    }
    char dir[PATH_MAX];
    folder_of(path, dir, sizeof dir);
    /* a file named as the folder: access() said "Permission denied" of it, and of an executable one nothing */
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        cli_say(stderr, "mnist %s: %s %s: %s is a file, not a folder\n", cmd, flagname, path, dir);
        return 1;
    }
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    long most = pathconf(dir, _PC_NAME_MAX); /* -1 for a folder that is not there: said below */
    if (most > 0 && strlen(base) > (size_t)most) {
        cli_say(stderr, "mnist %s: %s %s: its name is %zu bytes, longer than the %ld a name may have in %s\n", cmd,
                flagname, path, strlen(base), most, dir);
        return 1;
    }
    /* a replaced file is written beside itself under a temporary name: its folder must take new files */
    if ((replaced || access(path, F_OK) != 0) && access(dir, W_OK | X_OK) != 0) {
        cli_say(stderr, "mnist %s: %s %s: cannot write in the folder %s: %s\n", cmd, flagname, path, dir,
                strerror(errno));
        return 1;
    }
    /* access() judges by the mode bits, which root passes, so a folder that takes no new file all the
     * same (/proc, as root) passed, and the write failed after the training: the temporary file beside
     * it is made now, as the write will make it, and removed */
    if (replaced) {
        atomic_file probe;
        mnist_err err;
        if (atomic_open(&probe, path, &err)) {
            cli_say(stderr, "mnist %s: %s %s: %s\n", cmd, flagname, path, after_path(err.msg, path));
            return 1;
        }
        atomic_abort(&probe);
    }
    return 0;
}

int cli_check_not_data(const char *cmd, const char *flagname, const char *path, const char *flag_dir) {
    const mnist_dataset *ds = mnist_dataset_get(cli_dataset);
    char dir[4096], file[4200];
    mnist_err err;
    if (!ds || mnist_dataset_dir(dir, sizeof dir, ds, flag_dir, &err)) return 0; /* cli_load_data says why */
    for (int f = 0; f < MNIST_NFILES; f++)
        for (int gz = 0; gz < 2; gz++) {
            path_join(file, sizeof file, dir, ds->files[f].name, gz ? ".gz" : "");
            if (cli_same_file(path, file)) {
                cli_say(stderr, "mnist %s: %s %s is the data file %s, which this command reads: give the output "
                        "its own name\n", cmd, flagname, path, file);
                return 2;
            }
        }
    return 0;
}

/* path with its folder resolved (realpath: no ".", "..", symbolic links or doubled '/'), so that
 * two names of a file not yet written compare equal; path itself when the folder cannot be. A
 * symbolic link to no file yet is followed first (as open follows it, creating its target; at most
 * 40 links, the kernel's own limit): a --log through one would be a --save's file. */
static void canonical(const char *path, char *out, size_t cap) {
    char dir[PATH_MAX], real[PATH_MAX], cur[PATH_MAX], to[PATH_MAX], next[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) { /* too long to open: open says so */
        snprintf(out, cap, "%s", path);
        return;
    }
    struct stat st;
    for (int hop = 0; hop < 40 && lstat(cur, &st) == 0 && S_ISLNK(st.st_mode); hop++) {
        ssize_t n = readlink(cur, to, sizeof to - 1);
        if (n <= 0) break;
        to[n] = '\0';
        folder_of(cur, dir, sizeof dir);
        int len = to[0] == '/' ? snprintf(next, sizeof next, "%s", to) : path_join(next, sizeof next, dir, to, "");
        if (len < 0 || len >= (int)sizeof next) break;
        memcpy(cur, next, (size_t)len + 1);
    }
    const char *slash = strrchr(cur, '/'), *base = slash ? slash + 1 : cur;
    folder_of(cur, dir, sizeof dir);
    if (realpath(dir, real)) path_join(out, cap, real, base, "");
    else snprintf(out, cap, "%s", cur);
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    char ca[2 * PATH_MAX], cb[2 * PATH_MAX];
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    canonical(a, ca, sizeof ca), canonical(b, cb, sizeof cb);
    return !strcmp(ca, cb);
}

int cli_stdout_errno;

void cli_flush(void) {
    if (fflush(stdout) != 0 && !cli_stdout_errno) cli_stdout_errno = errno;
}

/* ---- JSON ----------------------------------------------------------- */

const char *cli_json_number(char *out, double v, int digits) {
    if (isfinite(v)) snprintf(out, CLI_JSON_NUMBER, "%.*g", digits, v);
    else strcpy(out, "null");
    return out;
}

int cli_all_finite(const float *v, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* The JSON form of the character at *p (a byte, or a UTF-8 sequence whole) into e, 8 bytes: its
 * length (6 at most; snprintf's NUL takes the 7th); *p moves past it. */
static size_t json_char(const unsigned char **p, char *e) {
    const unsigned char *c = *p;
    int n = utf8_length(c, strnlen((const char *)c, 4));
    size_t k;
    if (*c == '"' || *c == '\\') {
        e[0] = '\\', e[1] = (char)*c, k = 2, n = 1;
    } else if (*c < 0x20 || *c == 0x7f) {
        k = (size_t)snprintf(e, 8, "\\u%04x", *c), n = 1;
    } else if (n == 2 && *c == 0xc2 && c[1] <= 0x9f) { /* a C1 control: U+009B is a terminal's CSI */
        k = (size_t)snprintf(e, 8, "\\u%04x", c[1]);
    } else if (n == 0) {
        k = (size_t)snprintf(e, 8, "\\ufffd"), n = 1;
    } else {
        memcpy(e, c, (size_t)n), k = (size_t)n;
    }
    *p = c + n;
    return k;
}

size_t cli_json_string(char *out, size_t cap, const char *s) {
    size_t k = 0;
    if (cap < 8) return 0;
    out[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 8 < cap;) k += json_char(&p, out + k);
    out[k++] = '"';
    out[k] = '\0';
    return k;
}

void cli_json_print(const char *s) { /* a character at a time: no copy to allocate (out of memory, it printed "") */
    char e[8];
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) fwrite(e, 1, json_char(&p, e), stdout);
    putchar('"');
}
