/* cli.h: what the commands share: flags, Ctrl-C, the data folder. */
#ifndef MNIST_CLI_H
#define MNIST_CLI_H

#include <stdio.h>

#include "mnist.h"

#define MAX_MIRRORS 16
#define MAX_ARGS 8192 /* arguments that are not flags (image files) */
#define CLI_MAX_LOG_RECORDS 100000 /* the epochs of a --log file that plot and train --plot read back */

/* Set by the first Ctrl-C while cli_catch_sigint(1) is on (or SIGTERM while cli_catch_sigterm(1)
 * is); a second one ends the program. */
extern volatile int interrupted;
void cli_catch_sigint(int on);
void cli_catch_sigterm(int on);
/* Install the handler of SIGINT, SIGTERM, SIGHUP and SIGPIPE: each ends the program as it would, but
 * first removes the temporary files of the writes in progress (see mnist_remove_partial_files). SIGXFSZ is
 * ignored: a write past a file-size limit fails, as on a full disk. */
void cli_catch_signals(void);

/* s on out with its control characters escaped (\n, \t, \xNN; C1's, U+0080 to U+009F in UTF-8, \uNNNN; a byte of
 * no UTF-8 sequence, 0x9b alone say, \xNN), so that a file name holding one cannot split a line of the text output
 * in two, nor (ESC, U+009B, or 0x9b to a terminal of 8-bit controls: CSI) start a terminal's command (--json escapes
 * them as JSON does). */
void cli_put_escaped(FILE *out, const char *s);
/* A line for the user, as fprintf would write it, but its control characters escaped as cli_put_escaped
 * does, a last newline aside: the errors and notes that name a file (--model, --save, --out, --log,
 * plot's FILE) held a newline that split them, or a terminal's escapes. */
void cli_say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum { F_STR, F_INT, F_UINT, F_DOUBLE, F_BOOL, F_LIST } flag_kind;

typedef struct {
    const char *name; /* "--lr" */
    flag_kind kind;
    void *dst;        /* const char **, int *, uint32_t *, double *, int * (bool), str_list * */
    const char *arg;  /* "X" in the usage line; NULL for booleans */
    const char *help;
} flag;

typedef struct {
    const char *items[MAX_ARGS];
    int n;
} str_list;

/* Parse argv[1..] against flags (a table ending in {0}). Arguments that are not flags go to
 * pos (when non-NULL) or are refused. Returns 0 to go on, 1 after printing help, 2 on a usage
 * error (message printed). */
int cli_parse(const char *cmd, const char *args, const char *summary, const flag *flags, int argc, char **argv,
              str_list *pos);

/* Of the names at names, names + stride bytes, ... (up to a NULL), the one that s (its first len
 * bytes) is a likely typo of: one edit away (an insertion, deletion, change or swap of neighbours),
 * two for names over 6 bytes; NULL when none is. */
const char *cli_nearest(const char *s, size_t len, const char *const *names, size_t stride);

/* Fetch the dataset's files (a set as in mnist_fetch_opts.files; 0: all four) into dir, printing
 * progress on a terminal; 0, or 1 (message printed), or 130
 * when Ctrl-C stopped it. After a failure, the folders it created (dir, and those above it) are
 * removed where they are left empty. */
int cli_fetch(const mnist_dataset *ds, const char *dir, unsigned files, const str_list *mirrors);
/* The dataset that cli_load_data loads ("mnist" unless a --dataset flag said otherwise). */
extern const char *cli_dataset;
extern const char *cli_command; /* the command running ("train"), for its messages */
/* Set it from a --dataset flag; 0, or 2 after a usage error naming the choices. */
int cli_set_dataset(const char *cmd, const char *name);
/* A library message (msg, cap bytes) whose advice is said in the library's terms, said in the flags' that
 * do it: a load that does not verify is --no-verify; mnist_fetch is 'mnist fetch' (of this --dataset into
 * dir, the folder the command reads; dir NULL where there is none); another dataset's file is read by its
 * --dataset; a folder is given by --data or MNIST_DATA; a training log is train --log's, a checkpoint
 * train --checkpoint's. */
void cli_flag_advice(char *msg, size_t cap, const char *dir);
/* The mnist_device a --device flag names (cpu, cuda), or -1 after a usage error naming the choices. */
int cli_device(const char *cmd, const char *name);
/* What goes before a library message msg of a command run on device dev: "--device cuda: " where the GPU
 * said it (the CUDA backend's "CUDA error while ...", "cuBLAS error while ...", "cuBLAS cannot be loaded:
 * ...", "MNIST_CUDA_GEMM=...: ..."), as before the first such message, mnist_device_check's; else "". */
const char *cli_device_said(int dev, const char *msg);
/* 1 after saying that the dataset that the model m read from path names is none we know (hint: what
 * follows the message, "" or a flag that overrides it), else 0. */
int cli_unknown_dataset(const char *cmd, const char *path, const mnist_model *m, const char *hint);
/* The preprocessing --preprocess names (name: mnist, lab, fashion or outline; NULL: the dataset's own, fashion for
 * Fashion-MNIST, else mnist) into *prep, and its name into *said; 0, or 2 after a usage error. */
int cli_prep(const char *cmd, const char *name, const char *dataset, mnist_prep *prep, const char **said);
/* Set it for the model m read from path: its --dataset (flag_value) when given (with a note where it is
 * not the model's own), else the model's own; 0, 2 after a usage error, or 1 after saying that the
 * model's dataset is none we know. */
int cli_model_dataset(const char *cmd, const char *path, const mnist_model *m, const char *flag_value);
/* Load the splits of cli_dataset in files (MNIST_TRAIN_FILES, MNIST_TEST_FILES or both) from its
 * folder (flag_dir, or the default), fetching those files first when one is missing and verify is
 * set; the other split is left empty; 0, or 1 (message printed), or 130 when Ctrl-C stopped the download. */
int cli_load_data(const char *flag_dir, unsigned files, int verify, mnist_data *d);
/* 0 when m (described by what: "the model FILE", "the network --layers L") takes the images of d's
 * split that cmd uses (train: the training set, else the test set) and has one output per class,
 * as mnist_model_fits says; else prints its one line, naming the images file and m, and returns 1. */
int cli_check_fit(const char *cmd, const char *flag_dir, const mnist_data *d, const mnist_model *m, const char *what);

/* --data's help: the default folder, Fashion-MNIST's inside it (fetch, train, eval, show). */
#define CLI_DATA_HELP "data folder (default $MNIST_DATA, else $XDG_CACHE_HOME/mnist or ~/.cache/mnist; fashion in its 'fashion')"

/* The largest values of serve's --port (TCP's), --timeout and --deadline (a day, in seconds) and --connections. */
#define CLI_MAX_PORT 65535
#define CLI_MAX_TIMEOUT 86400 /* serve's --timeout and --deadline, in seconds */
#define CLI_MAX_CONNECTIONS 4095 /* serve's --connections (each holds up to 64 KB of its body budget) */

/* What an output flag writes: records appended to the file (--log, which judges what it holds
 * itself), or a file written whole and renamed over the one there: a safetensors file (models,
 * checkpoints), an SVG chart, a PNG picture. */
typedef enum { OUT_APPENDED, OUT_SAFETENSORS, OUT_SVG, OUT_PNG } cli_output;
/* 0 when path looks writable, so that a long run does not fail at its end: not a folder, its folder
 * takes new files; when replaced (not OUT_APPENDED) also no device or FIFO, and a file there that
 * holds anything holds a file of that kind (a model written over notes.txt lost it). Else prints
 * one line naming flag and path, and returns 1 (2 for the name '-', which is no file's: a usage
 * error). */
int cli_check_output(const char *cmd, const char *flagname, const char *path, cli_output kind);
/* 0 when path (an output, given as flagname) is none of the files of cli_dataset's folder (flag_dir, or
 * the default), raw or .gz, that the command reads; else prints one line naming them and returns 2. */
int cli_check_not_data(const char *cmd, const char *flagname, const char *path, const char *flag_dir);
/* fflush(stdout) for the lines a command prints as it goes; the errno of the first that fails is kept
 * in cli_stdout_errno, for the message at the end (the last flush, with nothing left, has none). */
void cli_flush(void);
extern int cli_stdout_errno;
/* Whether paths a and b name the same file: the same string, or both exist as one file. */
int cli_same_file(const char *a, const char *b);

int cmd_fetch(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* v as a JSON number (%.*g, digits significant digits) into out, which it returns; null when v
 * is NaN or infinite. JSON has no such numbers, and a bare nan or inf makes the whole line
 * unreadable, so every JSON the commands write (predict, eval, train's lines, serve) says null
 * for them, as cJSON does for the objects it prints, and the rest stays valid. Model files hold
 * only finite floats (the reader refuses others): only sums that overflow float32 get here. */
#define CLI_JSON_NUMBER 32 /* bytes enough for out */
const char *cli_json_number(char *out, double v, int digits);
/* 1 when the n numbers of v are all finite: a model whose sums overflow gives NaN probabilities,
 * which no digit is read from. */
int cli_all_finite(const float *v, int n);
/* s as a JSON string, quotes included, into out (cap bytes; cut short to fit): returns its length.
 * A byte that is not part of well-formed UTF-8 (a file name, a client's bytes) becomes U+FFFD, so
 * the output stays JSON, which is UTF-8; control characters (C0's and C1's: U+009B is a terminal's CSI,
 * and serve's --log and predict --json reach a terminal) and DEL are escaped. */
size_t cli_json_string(char *out, size_t cap, const char *s);
/* The same, whole, on stdout. */
void cli_json_print(const char *s);
/* Print a 28x28 input (784 floats in [0, 1]) framed, as shaded characters (predict.c). */
void cli_show_input(const float *x);
/* Terminal fd's width in columns, or 0 when fd is no terminal (or does not say). */
int cli_tty_width(int fd);

#endif
