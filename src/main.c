/* main.c: the mnist command. Parses flags, calls the library, prints. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mnist.h"

#define MAX_MIRRORS 16

static volatile int interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the program at once */
}

/* ---- flags ---------------------------------------------------------- */

typedef enum { F_STR, F_INT, F_UINT, F_DOUBLE, F_BOOL, F_LIST } flag_kind;

typedef struct {
    const char *name; /* "--lr" */
    flag_kind kind;
    void *dst;        /* const char **, int *, uint32_t *, double *, int * (bool), list */
    const char *arg;  /* "X" in the usage line; NULL for booleans */
    const char *help;
} flag;

typedef struct {
    const char *items[MAX_MIRRORS];
    int n;
} str_list;

typedef struct {
    const char *name, *args, *summary;
    int (*run)(int argc, char **argv);
} command;

static void usage(const char *cmd, const char *args, const char *summary, const flag *flags, FILE *out) {
    fprintf(out, "usage: mnist %s %s\n\n%s\n\n", cmd, args, summary);
    for (const flag *f = flags; f->name; f++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        fprintf(out, "  %-22s %s\n", left, f->help);
    }
    fprintf(out, "  %-22s %s\n", "--help", "show this help");
}

/* Parse argv[1..] against flags; positional arguments are refused. Returns 0 to go on, 1 after
 * printing help, 2 on a usage error (message printed). */
static int parse(const char *cmd, const char *args, const char *summary, const flag *flags, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(cmd, args, summary, flags, stdout);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const flag *f = flags;
        while (f->name && (strlen(f->name) != len || strncmp(f->name, a, len))) f++;
        if (!f->name) {
            fprintf(stderr, "mnist %s: unknown %s '%s' (see 'mnist %s --help')\n", cmd,
                    a[0] == '-' ? "flag" : "argument", a, cmd);
            return 2;
        }
        if (f->kind == F_BOOL) {
            if (eq) {
                fprintf(stderr, "mnist %s: %s takes no value\n", cmd, f->name);
                return 2;
            }
            *(int *)f->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "mnist %s: %s needs a value (%s)\n", cmd, f->name, f->arg);
            return 2;
        }
        char *end = NULL;
        errno = 0;
        switch (f->kind) {
        case F_STR: *(const char **)f->dst = v; break;
        case F_LIST: {
            str_list *l = f->dst;
            if (l->n == MAX_MIRRORS) {
                fprintf(stderr, "mnist %s: at most %d of %s\n", cmd, MAX_MIRRORS, f->name);
                return 2;
            }
            l->items[l->n++] = v;
            break;
        }
        case F_INT: {
            long x = strtol(v, &end, 10);
            if (*v == '\0' || *end || errno || x < 0 || x > INT_MAX) goto bad;
            *(int *)f->dst = (int)x;
            break;
        }
        case F_UINT: {
            long long x = strtoll(v, &end, 10);
            if (*v == '\0' || *end || errno || x < 0 || x > 0xffffffffLL) goto bad;
            *(uint32_t *)f->dst = (uint32_t)x;
            break;
        }
        case F_DOUBLE: {
            double x = strtod(v, &end);
            if (*v == '\0' || *end || errno || !(x == x) || x < 0 || x > 1e30) goto bad;
            *(double *)f->dst = x;
            break;
        }
        case F_BOOL: break;
        }
        continue;
    bad:
        fprintf(stderr, "mnist %s: %s '%s' is not a valid %s\n", cmd, f->name, v,
                f->kind == F_DOUBLE ? "non-negative number" : "non-negative whole number");
        return 2;
    }
    return 0;
}

/* ---- data ----------------------------------------------------------- */

static void log_line(void *ud, const char *line) {
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

static void show_progress(void *ud, const char *file, double now, double total) {
    (void)ud;
    if (total > 0)
        fprintf(stderr, "\r  %s: %3.0f%% of %.1f MB", file, 100.0 * now / total, total / 1e6);
    else
        fprintf(stderr, "\r  %s: %.1f MB", file, now / 1e6);
    if (total > 0 && now >= total) fputc('\n', stderr);
}

static int fetch_into(const mnist_dataset *ds, const char *dir, const str_list *mirrors) {
    mnist_fetch_opts o = {.mirrors = mirrors ? mirrors->items : NULL,
                          .nmirrors = mirrors ? mirrors->n : 0,
                          .log = log_line,
                          .progress = isatty(2) ? show_progress : NULL,
                          .cancel = &interrupted};
    mnist_err err;
    if (mnist_fetch(ds, dir, &o, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* Load MNIST from dir (flag or default), fetching it first when a file is missing. */
static int load_data(const char *flag_dir, int verify, mnist_data *d) {
    const mnist_dataset *ds = mnist_dataset_get("mnist");
    char dir[4096], path[4096];
    mnist_err err;
    if (mnist_data_dir(dir, sizeof dir, flag_dir, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    int missing = 0;
    for (int f = 0; f < MNIST_NFILES; f++) {
        int found = mnist_data_file(path, sizeof path, dir, &ds->files[f], &err);
        if (found < 0) {
            fprintf(stderr, "mnist: %s\n", err.msg);
            return 1;
        }
        missing |= !found;
    }
    if (missing && verify && fetch_into(ds, dir, NULL)) return 1;
    if (mnist_data_load(d, ds, dir, verify, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int cmd_fetch(int argc, char **argv) {
    const char *dir = NULL;
    str_list mirrors = {0};
    const flag flags[] = {
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else ~/.cache/mnist)"},
        {"--mirror", F_LIST, &mirrors, "URL", "a base URL to try before the built-in ones (repeatable)"},
        {0}};
    int p = parse("fetch", "[--data DIR] [--mirror URL]...",
                  "Download MNIST's four files unless present, verify each by SHA-256, keep them in DIR.", flags,
                  argc, argv);
    if (p) return p == 1 ? 0 : 2;
    char path[4096];
    mnist_err err;
    if (mnist_data_dir(path, sizeof path, dir, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    if (fetch_into(mnist_dataset_get("mnist"), path, &mirrors)) return 1;
    printf("MNIST is ready in %s\n", path);
    return 0;
}

/* ---- train ---------------------------------------------------------- */

typedef struct {
    int json;
} train_ui;

static void print_eval_json(const char *key, const mnist_eval_result *r) {
    printf(",\"%s_loss\":%.8g,\"%s_accuracy\":%.8g", key, r->loss, key, r->accuracy);
}

static int on_epoch(void *ud, const mnist_epoch_stats *s) {
    const train_ui *ui = ud;
    if (ui->json) {
        printf("{\"epoch\":%d,\"seconds\":%.3f,\"loss\":%.8g", s->epoch, s->seconds, s->loss);
        print_eval_json("train", &s->train);
        print_eval_json("test", &s->test);
        printf("}\n");
    } else {
        printf("Epoch %d in %0.2f sec\n", s->epoch, s->seconds);
        printf("Training accuracy: %.4f\n", s->train.accuracy);
        printf("Test accuracy:     %.4f\n", s->test.accuracy);
    }
    fflush(stdout);
    return 0;
}

static void layers_str(const mnist_model *m, char *out, size_t cap, const char *sep) {
    size_t k = 0;
    for (int i = 0; i <= m->nlayers && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%d", i ? sep : "", m->sizes[i]);
}

static int save_model(const mnist_model *m, const char *path) {
    mnist_err err;
    if (mnist_model_save(m, path, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int cmd_train(int argc, char **argv) {
    mnist_train_opts o = mnist_train_defaults();
    const char *dir = NULL, *layers = "784,1024,1024,10", *save = NULL;
    double scale = 0.1;
    int json = 0, no_verify = 0;
    const flag flags[] = {
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else ~/.cache/mnist); fetched if missing"},
        {"--layers", F_STR, &layers, "L", "layer sizes (default 784,1024,1024,10)"},
        {"--init-scale", F_DOUBLE, &scale, "S", "init: W, b = S * randn (default 0.1)"},
        {"--seed", F_UINT, &o.seed, "N", "RandomState seed of the init and of the batch order (default 0)"},
        {"--lr", F_DOUBLE, &o.lr, "X", "SGD step size (default 0.001)"},
        {"--batch", F_INT, &o.batch, "N", "examples per step (default 128)"},
        {"--epochs", F_INT, &o.epochs, "N", "passes over the training set (default 5)"},
        {"--threads", F_INT, &o.threads, "N", "threads (default: all cores)"},
        {"--save", F_STR, &save, "FILE", "write the trained model (safetensors)"},
        {"--json", F_BOOL, &json, NULL, "one JSON object per epoch instead of text"},
        {"--no-verify", F_BOOL, &no_verify, NULL, "use the IDX files in DIR as they are (not MNIST's hashes)"},
        {0}};
    int p = parse("train",
                  "[--data DIR] [--layers L] [--init-scale S] [--seed N] [--lr X] [--batch N] [--epochs N] "
                  "[--threads N] [--save FILE] [--json]",
                  "Train the lab's MLP by SGD on MNIST; after each epoch print its time and the training and test "
                  "accuracy.",
                  flags, argc, argv);
    if (p) return p == 1 ? 0 : 2;
    int sizes[MNIST_MAX_LAYERS + 1], n;
    mnist_err err;
    if (mnist_parse_layers(layers, sizes, &n, &err)) {
        fprintf(stderr, "mnist train: %s\n", err.msg);
        return 2;
    }
    mnist_data d;
    if (load_data(dir, !no_verify, &d)) return 1;
    mnist_model m;
    if (mnist_model_create(&m, sizes, n, &err)) {
        fprintf(stderr, "mnist train: %s\n", err.msg);
        mnist_data_free(&d);
        return 1;
    }
    mnist_model_init_lab(&m, scale, o.seed);
    if (!json && o.epochs > 0) {
        char ls[128];
        layers_str(&m, ls, sizeof ls, "-");
        printf("Training %s (tanh) on %d images: SGD lr %g, batch %d, %d batches per epoch, %d epochs\n", ls,
               d.train.n, o.lr, o.batch, o.batch > 0 ? d.train.n / o.batch : 0, o.epochs);
    }
    signal(SIGINT, on_sigint);
    train_ui ui = {.json = json};
    int rc = mnist_train(&m, &d, &o, on_epoch, &ui, &interrupted, &err);
    signal(SIGINT, SIG_DFL);
    int status = 0;
    if (rc < 0) {
        fprintf(stderr, "mnist train: %s\n", err.msg);
        status = 1;
    } else {
        if (rc == 1) fprintf(stderr, "mnist train: interrupted%s\n", save ? "; saving the model as it is now" : "");
        if (save && save_model(&m, save) == 0 && !json) printf("Saved the model to %s\n", save);
        if (rc == 1) status = 130;
    }
    mnist_model_free(&m);
    mnist_data_free(&d);
    return status;
}

/* ---- eval ----------------------------------------------------------- */

static int cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *model = NULL;
    int json = 0, threads = 0, no_verify = 0;
    const flag flags[] = {
        {"--model", F_STR, &model, "FILE", "the model (safetensors), required"},
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else ~/.cache/mnist); fetched if missing"},
        {"--threads", F_INT, &threads, "N", "threads (default: all cores)"},
        {"--json", F_BOOL, &json, NULL, "print {\"accuracy\", \"loss\", \"confusion\"} as JSON"},
        {"--no-verify", F_BOOL, &no_verify, NULL, "use the IDX files in DIR as they are (not MNIST's hashes)"},
        {0}};
    int p = parse("eval", "--model FILE [--data DIR] [--json]",
                  "Test accuracy, mean loss and the confusion matrix of a model on MNIST's test set.", flags, argc,
                  argv);
    if (p) return p == 1 ? 0 : 2;
    if (!model) {
        fprintf(stderr, "mnist eval: --model FILE is required (see 'mnist eval --help')\n");
        return 2;
    }
    mnist_err err;
    mnist_model m;
    if (mnist_model_load(&m, model, &err)) {
        fprintf(stderr, "mnist eval: %s\n", err.msg);
        return 1;
    }
    mnist_data d;
    if (load_data(dir, !no_verify, &d)) {
        mnist_model_free(&m);
        return 1;
    }
    mnist_eval_result r;
    int status = 0;
    if (mnist_evaluate(&m, &d.test, threads, &r, &err)) {
        fprintf(stderr, "mnist eval: %s\n", err.msg);
        status = 1;
    } else if (json) {
        printf("{\"accuracy\":%.8g,\"loss\":%.8g,\"n\":%d,\"confusion\":[", r.accuracy, r.loss, r.n);
        for (int i = 0; i < MNIST_CLASSES; i++) {
            printf("%s[", i ? "," : "");
            for (int j = 0; j < MNIST_CLASSES; j++) printf("%s%d", j ? "," : "", r.confusion[i][j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("Test accuracy: %.4f (%d of %d)\n", r.accuracy, r.correct, r.n);
        printf("Test loss:     %.4f\n", r.loss);
        printf("Confusion matrix (rows: true digit, columns: predicted digit)\n      ");
        for (int j = 0; j < MNIST_CLASSES; j++) printf("%6d", j);
        printf("\n");
        for (int i = 0; i < MNIST_CLASSES; i++) {
            printf("%6d", i);
            for (int j = 0; j < MNIST_CLASSES; j++) printf("%6d", r.confusion[i][j]);
            printf("\n");
        }
    }
    mnist_data_free(&d);
    mnist_model_free(&m);
    return status;
}

/* ---- main ----------------------------------------------------------- */

static const command commands[] = {
    {"fetch", "[--data DIR] [--mirror URL]...", "download and verify MNIST", cmd_fetch},
    {"train", "[flags]", "train the lab's network; per epoch: seconds, train and test accuracy", cmd_train},
    {"eval", "--model FILE [flags]", "test accuracy, loss and confusion matrix of a model", cmd_eval},
    {0}};

static void main_usage(FILE *out) {
    fprintf(out, "usage: mnist COMMAND [flags]\n\nThe lab \"A Simple Neural Network on MNIST with JAX\", in C.\n\n");
    for (const command *c = commands; c->name; c++) fprintf(out, "  %-7s %s\n", c->name, c->summary);
    fprintf(out, "\n'mnist COMMAND --help' shows a command's flags.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        main_usage(stdout);
        return 0;
    }
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "mnist: unknown command '%s' (see 'mnist --help')\n", argv[1]);
    return 2;
}
