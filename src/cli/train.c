/* train.c: mnist train. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "cli.h"
#include "util.h"

typedef struct {
    int json, progress;     /* progress: a bar on stderr, a terminal */
    FILE *log;              /* --log: the JSON lines, kept (NULL: none, or a file to make at the first record) */
    const char *log_path;
    int log_append;         /* a resumed run appends to it; a new run's is emptied at its first record (log_ready) */
    int log_failed;         /* a write to it failed (said once; the status becomes 1) */
    int logged;             /* the records of this command's epochs written to it */
    const char *checkpoint; /* --checkpoint FILE */
    const mnist_train_opts *o;
    double t0, last;        /* when this pass of the epoch began, when the bar was last drawn */
    double loss;            /* running mean of this pass's batch losses */
    int batch;
    int epoch, first;       /* the epoch of the pass under way (-1: none yet), and the step it began after */
    mnist_epoch_stats *hist; /* for --plot: the epochs so far */
    int noted;               /* the backend's note was printed */
    int saved_epoch, saved_step; /* where the last checkpoint this command wrote stands (epoch -1: none) */
    int nhist, caphist;
} train_ui;

/* The JSON lines' numbers by cli_json_number: null, never nan, should an evaluation overflow. */
static void eval_json(char *out, size_t cap, const char *key, const mnist_eval_result *r) {
    char l[CLI_JSON_NUMBER], a[CLI_JSON_NUMBER];
    if (r->n) snprintf(out + strlen(out), cap - strlen(out), ",\"%s_loss\":%s,\"%s_accuracy\":%s", key,
                       cli_json_number(l, r->loss, 8), key, cli_json_number(a, r->accuracy, 8));
}

static void clear_bar(train_ui *ui) {
    if (ui->progress && ui->last > 0) fprintf(stderr, "\r\033[K");
    ui->last = 0;
}

/* The --log file, appended to (a resumed run) or written from its start, made when create is set (else
 * ENOENT where there is none): a FIFO that no process reads is refused (ENXIO) rather than waited on, one
 * that is read takes the records. Nothing is emptied here (log_ready does it). NULL with errno set. */
static FILE *open_log(const char *path, int append, int create) {
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | (create ? O_CREAT : 0) | (append ? O_APPEND : 0), 0666);
    if (fd < 0) return NULL;
    int fl = fcntl(fd, F_GETFL), e;
    FILE *f = fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, append ? "a" : "w");
    if (!f) e = errno, close(fd), errno = e;
    return f;
}

/* The log ready for its first record: made, or a new run's emptied, only now, so that a run that records
 * no epoch (its loss NaN at its first step, a Ctrl-C in it) leaves it as it was (it made an empty file,
 * or emptied a run's log). 0, or -1 with errno set. */
static int log_ready(train_ui *ui) {
    struct stat st;
    if (!ui->log && !(ui->log = open_log(ui->log_path, ui->log_append, 1))) return -1;
    /* made now, or there before (made meanwhile, when it was not at the start) */
    if (!ui->log_append && fstat(fileno(ui->log), &st) == 0 && S_ISREG(st.st_mode) && ftruncate(fileno(ui->log), 0))
        return -1;
    return 0;
}

static int on_epoch(void *ud, const mnist_epoch_stats *s) {
    train_ui *ui = ud;
    clear_bar(ui);
    if (s->note && !ui->noted) cli_say(stderr, "mnist train: note: %s\n", s->note), ui->noted = 1;
    char line[1024], lr[CLI_JSON_NUMBER], loss[CLI_JSON_NUMBER];
    snprintf(line, sizeof line, "{\"epoch\":%d,\"seconds\":%.3f,\"eval_seconds\":%.3f,\"lr\":%s,\"loss\":%s",
             s->epoch, s->seconds, s->eval_seconds, cli_json_number(lr, s->lr, 8), cli_json_number(loss, s->loss, 8));
    if (s->first_step) /* a resumed epoch: its seconds are those of its last steps only */
        snprintf(line + strlen(line), sizeof line - strlen(line), ",\"first_step\":%d", s->first_step);
    eval_json(line, sizeof line, "train", &s->train);
    eval_json(line, sizeof line, "validation", &s->valid);
    eval_json(line, sizeof line, "test", &s->test);
    strcat(line, "}\n");
    if (ui->log_path && !ui->log_failed && (!ui->log || (!ui->log_append && !ui->logged)) && log_ready(ui) != 0) {
        cli_say(stderr, "mnist train: --log %s: %s (training goes on without it)\n", ui->log_path, strerror(errno));
        ui->log_failed = 1;
    }
    if (ui->log && !ui->log_failed) {
        if (fputs(line, ui->log) == EOF || fflush(ui->log) == EOF) {
            cli_say(stderr, "mnist train: --log %s: writing failed: %s (training goes on without it)\n", ui->log_path,
                    strerror(errno));
            ui->log_failed = 1;
        } else {
            ui->logged++;
        }
    }
    if (ui->nhist == ui->caphist) {
        int cap = ui->caphist ? 2 * ui->caphist : 64;
        mnist_epoch_stats *h = realloc(ui->hist, (size_t)cap * sizeof *h);
        if (h) ui->hist = h, ui->caphist = cap;
    }
    if (ui->nhist < ui->caphist) ui->hist[ui->nhist++] = *s;
    if (ui->json) {
        fputs(line, stdout);
    } else {
        if (s->first_step >= s->steps) /* stopped after its steps (on the GPU), before its evaluations */
            printf("Epoch %d (its %d steps taken before resuming)\n", s->epoch, s->steps);
        else if (s->first_step)
            printf("Epoch %d in %0.2f sec (its steps %d to %d, after resuming)\n", s->epoch, s->seconds, s->first_step,
                   s->steps - 1);
        else
            printf("Epoch %d in %0.2f sec\n", s->epoch, s->seconds);
        int w = s->valid.n ? 21 : 19; /* the numbers in one column */
        if (s->train.n) printf("%-*s%.4f\n", w, "Training accuracy:", s->train.accuracy);
        if (s->valid.n) printf("%-*s%.4f\n", w, "Validation accuracy:", s->valid.accuracy);
        printf("%-*s%.4f\n", w, "Test accuracy:", s->test.accuracy);
    }
    cli_flush();
    return 0;
}

static double now_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The progress bar: batches done, examples per second, running loss, time left in the epoch. The
 * rate and the loss are of this pass's steps: a resumed epoch's pass begins after its step `first`
 * (its earlier steps, before the stop, were timed by another process: counted from step 1, its
 * rate was the steps over the clock's whole reading, "3 img/s ... 10066s left", and its running
 * loss the pass's sum over all the epoch's steps, near 0 at first). */
static void on_step(void *ud, int epoch, int step, int steps, double loss) {
    train_ui *ui = ud;
    double now = now_wall();
    if (epoch != ui->epoch) ui->epoch = epoch, ui->first = step - 1, ui->t0 = now, ui->loss = 0, ui->last = 0;
    int done = step - ui->first;
    ui->loss += (loss - ui->loss) / done;
    if (!ui->progress || (now - ui->last < 0.1 && step < steps)) return;
    ui->last = now;
    /* the clock starts at the pass's first step's end: the steps after it over the time since. Until there
     * is one, no rate and no time left are shown (they said "0 img/s ... 0s left"); nor on the GPU, whose
     * epoch's steps are given at once and said here at once once all are done ("916006831 img/s") */
    double rate = done > 1 && now > ui->t0 && ui->o->device != MNIST_CUDA ? (done - 1) * ui->batch / (now - ui->t0) : 0;
    char speed[96] = "";
    if (rate > 0)
        snprintf(speed, sizeof speed, "  %.0f img/s  loss %.4f  %.0fs left", rate, ui->loss,
                 (double)(steps - step) * ui->batch / rate);
    else
        snprintf(speed, sizeof speed, "  loss %.4f", ui->loss);
    /* the epoch as its line below names it (from 0, as the lab's), then its place in the run */
    char head[64], tail[128], bar[31];
    snprintf(head, sizeof head, "Epoch %d (%d of %d)", epoch, epoch + 1, ui->o->epochs);
    snprintf(tail, sizeof tail, " %d/%d%s", step, steps, speed);
    /* within the terminal's width, less a column: a longer line wrapped, and each \r then went back to its
     * last row only, leaving a row behind at each update (80 columns: the lab's line is about 90) */
    int cols = cli_tty_width(2), room = cols > 0 ? cols - 1 : 79;
    /* " [", "]"; and room for a rate not yet shown, so that the bar keeps its width when it comes */
    int width = room - (int)strlen(head) - (int)strlen(tail) - 3 - (rate > 0 ? 0 : 22);
    if (width > 30) width = 30;
    if (width < 10) width = 0; /* no bar */
    int fill = steps ? width * step / steps : 0;
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[width] = '\0';
    char line[256];
    snprintf(line, sizeof line, width ? "%s [%s]%s" : "%s%s%s", head, bar, tail);
    if ((int)strlen(line) > room) line[room > 0 ? room : 0] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
}

static int on_checkpoint(void *ud, const mnist_model *m, const mnist_run_state *st, mnist_err *err) {
    train_ui *ui = ud;
    if (!ui->checkpoint) return 0;
    if (mnist_checkpoint_save(ui->checkpoint, m, ui->o, st, err)) return -1;
    ui->saved_epoch = st->epoch, ui->saved_step = st->step;
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
        cli_say(stderr, "mnist train: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* The index of value in names (a NULL-terminated list), or -1 after printing a usage error. */
static int choice(const char *flagname, const char *value, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(value, names[i])) return i;
    cli_say(stderr, "mnist train: %s '%s' is not one of:", flagname, value);
    for (int i = 0; names[i]; i++) fprintf(stderr, " %s", names[i]);
    fprintf(stderr, "\n");
    return -1;
}

static const char *const optimizers[] = {"sgd", "momentum", "adam", NULL};
static const char *const schedules[] = {"constant", "cosine", "step", NULL};
static const char *const activations[] = {"tanh", "relu", NULL};
static const char *const inits[] = {"lab", "glorot", "he", NULL};
static const char *const recipes[] = {"lab", "best", NULL};

typedef struct {
    const char *layers, *optimizer, *schedule, *activation, *init;
    double scale;
    mnist_train_opts o;
} recipe;

/* The lab's recipe, or ours: chosen on a validation split of 5000 training examples (see
 * BENCHMARKS.md), never on the test set. */
static recipe recipe_get(int best, int fashion) {
    recipe r = {"784,1024,1024,10", "sgd", "constant", "tanh", "lab", 0.1, mnist_train_defaults()};
    if (best) {
        r.optimizer = "momentum";
        r.schedule = "cosine";
        r.activation = "relu";
        r.init = "he";
        r.o.lr = 0.05;
        r.o.dropout = 0.2;
        r.o.eval_train = 0;
        r.o.epochs = fashion ? 20 : 15;
        r.o.shift = fashion ? 0 : 2; /* on Fashion-MNIST neither shifts nor mirroring helped */
    }
    return r;
}

/* The value of flag in argv ("--flag V" or "--flag=V"), or def: for the flags that set the
 * defaults of others, read before the rest. */
static const char *pre_value(int argc, char **argv, const char *name, const char *def) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name) && i + 1 < argc) def = argv[i + 1];
        else if (!strncmp(argv[i], name, n) && argv[i][n] == '=') def = argv[i] + n + 1;
    return def;
}

/* Whether argv holds flag (as "--flag" or "--flag=..."). */
static int given(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], name, n) && (argv[i][n] == '\0' || argv[i][n] == '=')) return 1;
    return 0;
}

/* x in the fewest digits that read back as x. */
static void exact_str(double x, char *out, size_t cap) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, cap, "%.*g", digits, x);
        if (strtod(out, NULL) == x) return;
    }
}

/* The recipe flags of a run: what each says, and where a run keeps it (the model, or at `at` in
 * its options), so that a command's and a checkpoint's compare as text. */
typedef enum {
    RF_DATASET, RF_LAYERS, RF_ACTIVATION, /* the model's */
    RF_UINT, RF_INT, RF_REAL, RF_ON, RF_OPTIMIZER, RF_SCHEDULE /* an option's */
} rf_kind;
static const struct {
    const char *flag;
    rf_kind kind;
    size_t at;
} recipe_flags[] = {
    {"--dataset", RF_DATASET, 0},
    {"--layers", RF_LAYERS, 0},
    {"--activation", RF_ACTIVATION, 0},
    {"--seed", RF_UINT, offsetof(mnist_train_opts, seed)},
    {"--optimizer", RF_OPTIMIZER, offsetof(mnist_train_opts, optimizer)},
    {"--lr", RF_REAL, offsetof(mnist_train_opts, lr)},
    {"--momentum", RF_REAL, offsetof(mnist_train_opts, momentum)},
    {"--nesterov", RF_ON, offsetof(mnist_train_opts, nesterov)},
    {"--schedule", RF_SCHEDULE, offsetof(mnist_train_opts, schedule)},
    {"--weight-decay", RF_REAL, offsetof(mnist_train_opts, weight_decay)},
    {"--dropout", RF_REAL, offsetof(mnist_train_opts, dropout)},
    {"--shift", RF_INT, offsetof(mnist_train_opts, shift)},
    {"--flip", RF_ON, offsetof(mnist_train_opts, flip)},
    {"--batch", RF_INT, offsetof(mnist_train_opts, batch)},
    {"--validation", RF_INT, offsetof(mnist_train_opts, validation)},
};

static void recipe_flag_value(int i, const mnist_train_opts *o, const mnist_model *m, char *out, size_t cap) {
    const void *v = (const char *)o + recipe_flags[i].at;
    switch (recipe_flags[i].kind) {
    case RF_DATASET: { /* a checkpoint's: its bytes shown printable (a terminal's escapes, a newline) */
        char db[64];
        snprintf(out, cap, "%s", shown(m->dataset, db, sizeof db));
        break;
    }
    case RF_LAYERS: layers_str(m, out, cap, ","); break;
    case RF_ACTIVATION: snprintf(out, cap, "%s", m->activation); break;
    case RF_UINT: snprintf(out, cap, "%u", *(const uint32_t *)v); break;
    case RF_INT: snprintf(out, cap, "%d", *(const int *)v); break;
    case RF_REAL: exact_str(*(const double *)v, out, cap); break;
    case RF_ON: snprintf(out, cap, "%s", *(const int *)v ? "on" : "off"); break;
    case RF_OPTIMIZER: snprintf(out, cap, "%s", optimizers[*(const mnist_optimizer *)v]); break;
    case RF_SCHEDULE: snprintf(out, cap, "%s", schedules[*(const mnist_schedule *)v]); break;
    }
}

/* With --resume, the recipe flags given (all of them, with --recipe) must say what the
 * checkpoint's run is, so that the command that began a run, --resume added, goes on with it;
 * --init and --init-scale shaped its start only (resume_model notes them ignored). 0, or the status
 * after saying which differs. */
static int resume_differs(int argc, char **argv, const char *path, const recipe *r, int act, const char *dataset,
                          const mnist_train_opts *mine, const mnist_model *ck, const mnist_train_opts *cko) {
    int whole = given(argc, argv, "--recipe");
    mnist_model cmd = {0};
    mnist_err err;
    if ((whole || given(argc, argv, "--layers")) && mnist_parse_layers(r->layers, cmd.sizes, &cmd.nlayers, &err)) {
        cli_say(stderr, "mnist train: --%s\n", err.msg); /* "layers '...': why": the flag's name */
        return 2;
    }
    if (cmd.nlayers) cmd.nlayers--; /* sizes, not weight layers */
    snprintf(cmd.activation, sizeof cmd.activation, "%s", activations[act]);
    snprintf(cmd.dataset, sizeof cmd.dataset, "%s", dataset);
    for (int i = 0; i < (int)(sizeof recipe_flags / sizeof recipe_flags[0]); i++) {
        const char *name = recipe_flags[i].flag;
        if (!whole && !given(argc, argv, name)) continue;
        char a[160], b[160];
        recipe_flag_value(i, mine, &cmd, a, sizeof a);
        recipe_flag_value(i, cko, ck, b, sizeof b);
        if (strcmp(a, b)) {
            char said[240]; /* what the command said: "--lr 0.01", "--nesterov", "--flip off, from --recipe best" */
            if (!given(argc, argv, name)) /* the recipe's value, or the dataset's default, which no recipe sets */
                snprintf(said, sizeof said, "%s %s, %s --recipe %s", name, a,
                         recipe_flags[i].kind == RF_DATASET ? "the default (not given), with" : "from",
                         pre_value(argc, argv, "--recipe", "lab"));
            else
                snprintf(said, sizeof said, "%s%s%s", name, recipe_flags[i].kind == RF_ON ? "" : " ",
                         recipe_flags[i].kind == RF_ON ? "" : a);
            cli_say(stderr,
                    "mnist train: %s: the run of %s has %s%s; a resumed run keeps its checkpoint's recipe: leave out "
                    "what differs (--epochs, --threads, --device, --no-train-eval and the output flags may change; --init and "
                    "--init-scale are ignored)\n",
                    said, path, recipe_flags[i].kind == RF_ON ? "it " : "", b);
            return 2;
        }
    }
    return 0;
}

/* What `mnist train` was asked: the flags over the recipe's defaults. */
typedef struct {
    int argc;
    char **argv;
    recipe r;
    mnist_train_opts o;
    const char *recipe_name, *dataset, *dir, *save, *checkpoint, *resume, *log, *device, *plot;
    int json, no_verify, no_eval_train, no_progress;
    int act, init; /* the choices of --activation and --init */
} train_args;

/* a from argv: the recipe (for its dataset) sets the defaults that the other flags override.
 * cli_parse's status: 0 to go on, 1 after the help, 2 after a usage error. */
static int parse_flags(int argc, char **argv, train_args *a) {
    *a = (train_args){.argc = argc, .argv = argv, .device = "cpu"};
    a->recipe_name = pre_value(argc, argv, "--recipe", "lab");
    a->dataset = pre_value(argc, argv, "--dataset", "mnist");
    /* an unknown --recipe is refused after the flags are read, so that --help is answered first */
    a->r = recipe_get(!strcmp(a->recipe_name, "best"), !strcmp(a->dataset, "fashion"));
    a->o = a->r.o;
    recipe *r = &a->r;
    mnist_train_opts *o = &a->o;
    const flag flags[] = {
        {"--dataset", F_STR, &a->dataset, "mnist|fashion", "MNIST (default) or Fashion-MNIST"},
        {"--data", F_STR, &a->dir, "DIR", CLI_DATA_HELP "; fetched if missing"},
        {"--recipe", F_STR, &a->recipe_name, "lab|best",
         "the lab's recipe (default), or ours: ReLU, He init, momentum at lr 0.05 on a cosine schedule, dropout 0.2, "
         "shifts of 2 pixels, 15 epochs (Fashion-MNIST: no shifts, 20 epochs), no training-set accuracy after each "
         "epoch (as --no-train-eval); flags override"},
        {"--layers", F_STR, &r->layers, "L", "layer sizes (default 784,1024,1024,10)"},
        {"--activation", F_STR, &r->activation, "tanh|relu", "of the hidden layers (default tanh)"},
        {"--init", F_STR, &r->init, "lab|glorot|he", "initialisation (default lab)"},
        {"--init-scale", F_DOUBLE, &r->scale, "S", "lab init: W, b = S * randn (default 0.1)"},
        {"--seed", F_UINT, &o->seed, "N", "RandomState seed of the init and the batch order; dropout and augmentation hash it (default 0)"},
        {"--optimizer", F_STR, &r->optimizer, "sgd|momentum|adam", "default sgd"},
        {"--lr", F_DOUBLE, &o->lr, "X", "learning rate (default 0.001)"},
        {"--momentum", F_DOUBLE, &o->momentum, "M", "for --optimizer momentum (default 0.9)"},
        {"--nesterov", F_BOOL, &o->nesterov, NULL, "Nesterov momentum"},
        {"--schedule", F_STR, &r->schedule, "constant|cosine|step", "learning-rate schedule (default constant)"},
        {"--weight-decay", F_DOUBLE, &o->weight_decay, "W", "decoupled weight decay, as AdamW (default 0)"},
        {"--dropout", F_DOUBLE, &o->dropout, "P", "drop hidden outputs with probability P in training (default 0)"},
        {"--shift", F_INT, &o->shift, "N",
         "augment: move each training image by up to N pixels; square images only (default 0)"},
        {"--flip", F_BOOL, &o->flip, NULL, "augment: mirror half the training images left to right; square images only"},
        {"--batch", F_INT, &o->batch, "N", "examples per step (default 128)"},
        {"--epochs", F_INT, &o->epochs, "N", "passes over the training set (default 5; 0: none, --save writes the initial model)"},
        {"--validation", F_INT, &o->validation, "N", "hold out the last N training examples, report accuracy on them (default 0)"},
        {"--no-train-eval", F_BOOL, &a->no_eval_train, NULL, "skip the training-set accuracy after each epoch"},
        {"--threads", F_INT, &o->threads, "N", "threads (default 0: all cores, or $OMP_NUM_THREADS)"},
        {"--device", F_STR, &a->device, "cpu|cuda", "where the arithmetic runs (default cpu)"},
        {"--tf32", F_BOOL, &o->tf32, NULL, "with --device cuda: allow TF32 tensor-core products"},
        {"--no-graph", F_BOOL, &o->no_graph, NULL, "with --device cuda: enqueue each step, not one graph an epoch"},
        {"--save", F_STR, &a->save, "FILE", "write the trained model (safetensors)"},
        {"--checkpoint", F_STR, &a->checkpoint, "FILE", "save model, optimizer, RNG and position after every epoch"},
        {"--resume", F_STR, &a->resume, "FILE",
         "continue the run of a checkpoint, with its recipe (the flags of the command that began it may be given "
         "again; --epochs may extend it), checkpointing into FILE after every epoch (or into --checkpoint's file)"},
        {"--log", F_STR, &a->log, "FILE.jsonl", "keep the per-epoch JSON records in FILE.jsonl (JSON lines)"},
        {"--plot", F_STR, &a->plot, "FILE.svg", "draw loss and accuracy per epoch when done (see 'mnist plot')"},
        {"--json", F_BOOL, &a->json, NULL, "one JSON object per epoch instead of text"},
        {"--no-progress", F_BOOL, &a->no_progress, NULL, "no progress bar (there is none unless stderr is a terminal)"},
        {"--no-verify", F_BOOL, &a->no_verify, NULL, "use the IDX files in DIR as they are (not the dataset's hashes)"},
        {0}};
    int p = cli_parse("train", "[flags]",
                      "Train an MLP on MNIST (by default the lab's: 784-1024-1024-10 tanh, SGD lr 0.001, batch 128, 5 "
                      "epochs); after each epoch print its time and the training and test accuracy. Ctrl-C stops "
                      "after the current step (or, after the last step, lets the run end; with --device cuda, after "
                      "the epoch's steps, which the GPU is given at once), writes the checkpoint (with "
                      "--checkpoint) and the model as it is (with --save), and exits with status 130, or 1 when a "
                      "file it writes fails.",
                      flags, argc, argv, NULL);
    return p ? p : choice("--recipe", a->recipe_name, recipes) < 0 ? 2 : 0;
}

/* The named choices into a's options, each checked, and the device asked for checked here (a
 * missing GPU is said at once, before the data are loaded): 0, or the status after the message. */
static int settle_options(train_args *a) {
    mnist_train_opts *o = &a->o;
    /* the first that is none of its choices is said, one line (two said two) */
    int opt = -1, sched = -1, dev = -1;
    if ((opt = choice("--optimizer", a->r.optimizer, optimizers)) < 0 ||
        (sched = choice("--schedule", a->r.schedule, schedules)) < 0 ||
        (a->act = choice("--activation", a->r.activation, activations)) < 0 ||
        (a->init = choice("--init", a->r.init, inits)) < 0 || (dev = cli_device("train", a->device)) < 0 ||
        cli_set_dataset("train", a->dataset))
        return 2;
    if (o->no_graph && dev != MNIST_CUDA) {
        cli_say(stderr, "mnist train: --no-graph is for --device cuda\n");
        return 2;
    }
    if (o->tf32 && dev != MNIST_CUDA) {
        cli_say(stderr, "mnist train: --tf32 is for --device cuda (the CPU computes in float32)\n");
        return 2;
    }
    /* a flag of another optimizer or init than the run's would do nothing: said, as --tf32's is (a
     * resumed run's flags are checked against its checkpoint instead) */
    const char *idle = opt != MNIST_MOMENTUM && o->nesterov                              ? "--nesterov"
                       : opt != MNIST_MOMENTUM && given(a->argc, a->argv, "--momentum") ? "--momentum"
                       : a->init != MNIST_INIT_LAB && given(a->argc, a->argv, "--init-scale") ? "--init-scale"
                                                                                             : NULL;
    if (idle && !a->resume) {
        int init = !strcmp(idle, "--init-scale");
        cli_say(stderr, "mnist train: %s is for %s (this run's is %s)\n", idle,
                init ? "--init lab" : "--optimizer momentum", init ? inits[a->init] : optimizers[opt]);
        return 2;
    }
    /* the recipe's dropout (best's 0.2) has no hidden output to drop in a network without a hidden
     * layer (--layers 784,10): left out there, where mnist_train_fits refused the run for a flag not
     * given; a --dropout given is refused */
    int sizes[MNIST_MAX_LAYERS + 1], nsizes;
    mnist_err err;
    if (o->dropout > 0.0 && !given(a->argc, a->argv, "--dropout") &&
        mnist_parse_layers(a->r.layers, sizes, &nsizes, &err) == 0 && nsizes == 2)
        o->dropout = 0.0;
    if (mnist_device_check((mnist_device)dev, &err)) {
        cli_say(stderr, "mnist train: --device %s: %s\n", a->device, err.msg);
        return 1;
    }
    o->device = (mnist_device)dev;
    o->optimizer = (mnist_optimizer)opt;
    o->schedule = (mnist_schedule)sched;
    if (a->no_eval_train) o->eval_train = 0;
    /* the options checked before the data are loaded, a usage error; a resumed run's only for its
     * --threads, the command's own (resume_model keeps it; the rest of its recipe is the
     * checkpoint's): a bad one read as a fault of the checkpoint once the data were loaded */
    mnist_train_opts threads_only = mnist_train_defaults();
    threads_only.threads = o->threads;
    if (mnist_train_check(a->resume ? &threads_only : o, -1, &err)) {
        cli_say(stderr, "mnist train: %s\n", err.msg);
        return 2;
    }
    return 0;
}

/* m and st from the checkpoint of --resume, whose recipe a's options become; the command keeps
 * its --epochs (when given), threads, device and --no-train-eval. 0, or the status after the message. */
static int resume_model(train_args *a, mnist_model *m, mnist_run_state *st) {
    mnist_train_opts mine = a->o; /* the command's, to check against the checkpoint's */
    mnist_err err;
    if (mnist_checkpoint_load(a->resume, m, &a->o, st, &err)) {
        cli_flag_advice(err.msg, sizeof err.msg, NULL);
        cli_say(stderr, "mnist train: %s\n", err.msg);
        return 1;
    }
    int differs = resume_differs(a->argc, a->argv, a->resume, &a->r, a->act, a->dataset, &mine, m, &a->o);
    if (differs) return differs;
    /* they chose the first weights, which the checkpoint's replace; it does not keep them, so given at
     * all they are said to do nothing (the run began with them or not) */
    int init = given(a->argc, a->argv, "--init"), scale = given(a->argc, a->argv, "--init-scale");
    if (init || scale) {
        char s[32], said[96];
        exact_str(a->r.scale, s, sizeof s);
        snprintf(said, sizeof said, "%s%s%s%s%s", init ? "--init " : "", init ? a->r.init : "",
                 init && scale ? " and " : "", scale ? "--init-scale " : "", scale ? s : "");
        cli_say(stderr, "mnist train: note: %s %s ignored: %s a run's first weights only, and the run of %s goes on "
                        "from its checkpoint's\n", said, init && scale ? "are" : "is",
                init && scale ? "they choose" : "it chooses", a->resume);
    }
    if (given(a->argc, a->argv, "--epochs")) a->o.epochs = mine.epochs;
    a->o.threads = mine.threads, a->o.tf32 = mine.tf32, a->o.no_graph = mine.no_graph, a->o.device = mine.device;
    if (a->no_eval_train) a->o.eval_train = 0; /* what is measured after an epoch, not how it trains */
    if (cli_unknown_dataset("train", a->resume, m, "")) return 1;
    cli_set_dataset("train", m->dataset); /* a known name: it cannot fail */
    if (!a->checkpoint) a->checkpoint = a->resume;
    return 0;
}

/* m as --layers, --activation and --init say. 0, or the status after the message. */
static int new_model(const train_args *a, mnist_model *m) {
    int sizes[MNIST_MAX_LAYERS + 1], n;
    mnist_err err;
    if (mnist_parse_layers(a->r.layers, sizes, &n, &err)) {
        cli_say(stderr, "mnist train: --%s\n", err.msg); /* "layers '...': why": the flag's name */
        return 2;
    }
    if (sizes[n - 1] != MNIST_CLASSES) {
        cli_say(stderr, "mnist train: --layers '%s': the last size must be %d, one per class\n", a->r.layers,
                MNIST_CLASSES);
        return 2;
    }
    if (mnist_layers_check(sizes, n, &err)) { /* too many parameters: a usage error, as a size past its range */
        cli_say(stderr, "mnist train: --layers '%s': %s\n", a->r.layers, err.msg);
        return 2;
    }
    if (mnist_model_create(m, sizes, n, &err)) { /* no memory for the parameters */
        cli_say(stderr, "mnist train: --layers '%s': %s\n", a->r.layers, err.msg);
        return 1;
    }
    snprintf(m->activation, sizeof m->activation, "%s", activations[a->act]);
    snprintf(m->dataset, sizeof m->dataset, "%s", cli_dataset);
    mnist_model_init(m, (mnist_init)a->init, a->r.scale, a->o.seed);
    return 0;
}

/* The files this run writes, checked now, not after hours of training: each can be written, and
 * no two are one file. 0, or the status after the message. */
static int check_outputs(const train_args *a) {
    /* the checkpoint resumed from is read, not written, when --checkpoint names another file: no
     * output may name it then (--log appended to it, --save or --plot replaced it) */
    int read_only = a->resume && !cli_same_file(a->checkpoint, a->resume);
    const char *outs[][2] = {{"--resume", read_only ? a->resume : NULL},
                             {"--save", a->save},
                             {a->resume && a->checkpoint == a->resume ? "--resume" : "--checkpoint", a->checkpoint},
                             {"--log", a->log},
                             {"--plot", a->plot}};
    static const cli_output kinds[] = {OUT_APPENDED, OUT_SAFETENSORS, OUT_SAFETENSORS, OUT_APPENDED, OUT_SVG};
    for (int i = 0; i < 5; i++) {
        if (!outs[i][1]) continue;
        int bad = i ? cli_check_not_data("train", outs[i][0], outs[i][1], a->dir) : 0;
        for (int j = 0; j < i && !bad; j++)
            if (outs[j][1] && cli_same_file(outs[i][1], outs[j][1])) {
                cli_say(stderr, "mnist train: %s and %s are the same file (%s): give each its own\n", outs[j][0],
                        outs[i][0], outs[i][1]);
                bad = 2;
            }
        if (!bad && i) bad = cli_check_output("train", outs[i][0], outs[i][1], kinds[i]);
        if (bad) return bad;
    }
    return 0;
}

/* Whether the --log file at path can be read back for --plot: a regular file (a FIFO or a terminal takes
 * the records and gives none back). */
static int log_readable(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The state a run goes on from: st when resumed, else none. */
static const mnist_run_state *resumed(const train_args *a, const mnist_run_state *st) { return a->resume ? st : NULL; }

/* d loaded and checked against m (cli_check_fit names the files), then as mnist_train will check
 * it: --batch and --validation against the data, a resumed run's position, where there is
 * training to do. 0, or the status after the message. */
static int load_data(const train_args *a, const mnist_model *m, const mnist_run_state *st, mnist_data *d) {
    int status = cli_load_data(a->dir, MNIST_TRAIN_FILES | MNIST_TEST_FILES, !a->no_verify, d);
    if (status) return status;
    char what[4200];
    if (a->resume) snprintf(what, sizeof what, "the network of %s", a->resume);
    else snprintf(what, sizeof what, "the network --layers %s", a->r.layers);
    if (cli_check_fit("train", a->dir, d, m, what)) return 1;
    mnist_err err;
    /* a resumed run's training examples hashed once: the check here, mnist_train's and the run's state take it */
    if (a->resume && !mnist_train_finished(&a->o, st) && mnist_split_sha256(&d->train, d->train.sha256, &err)) {
        cli_say(stderr, "mnist train: %s\n", err.msg);
        return 1;
    }
    if (mnist_train_fits(m, d, &a->o, resumed(a, st), &err)) {
        cli_say(stderr, "mnist train: %s%s%s\n", a->resume ? a->resume : "", a->resume ? ": " : "", err.msg);
        return a->resume ? 1 : 2;
    }
    /* --epochs 0 trains nothing, so no option was judged against the data; but its --checkpoint holds
     * the run at its start, for --resume FILE --epochs N to train: it must fit as a run of epochs (it
     * wrote a --batch 500 on 50 examples, which every resume of it refused) */
    mnist_train_opts start = a->o;
    start.epochs = 1;
    if (!a->resume && a->o.epochs == 0 && a->checkpoint && mnist_train_fits(m, d, &start, NULL, &err)) {
        cli_say(stderr, "mnist train: %s: --checkpoint %s would hold a run that cannot be resumed\n", err.msg,
                a->checkpoint);
        return 2;
    }
    if (a->resume && !mnist_train_finished(&a->o, st) && a->o.dropout > 0 && m->nlayers < 2)
        cli_say(stderr, "mnist train: note: %s: its dropout %g is ignored: the network %d-%d has no hidden layer to "
                "drop (its run trained as without it)\n", a->resume, a->o.dropout, m->sizes[0], m->sizes[1]);
    if (a->resume && mnist_train_finished(&a->o, st)) { /* --plot draws the run from its --log, or nothing */
        /* a run past the --epochs given has trained its own count, not that (it said "its 2 epochs" of 4),
         * and one stopped part-way through an epoch the steps of it too (it said "its 2 epochs" of a
         * checkpoint at epoch 2, step 1858, and --save wrote those steps) */
        char past[64] = "", part[64] = "";
        if (st->step > 0)
            snprintf(part, sizeof part, " and %d step%s of epoch %d", st->step, st->step == 1 ? "" : "s", st->epoch);
        if (st->epoch > a->o.epochs || st->step > 0) snprintf(past, sizeof past, ", past --epochs %d", a->o.epochs);
        int done = st->epoch > a->o.epochs ? st->epoch : a->o.epochs;
        cli_say(stderr, "mnist train: note: %s has trained %s%d epoch%s%s%s: nothing to do; --epochs N (more than %d) "
                "goes on%s\n", a->resume, past[0] ? "" : "its ", done, done == 1 ? "" : "s", part, past, done,
                a->plot && !log_readable(a->log) ? "; --plot drew nothing (give the run's --log to draw it)" : "");
    }
    return 0;
}

/* The line before the epochs: the network, the data, the optimizer, the steps. */
static void print_banner(const train_args *a, const mnist_model *m, const mnist_run_state *st, const mnist_data *d) {
    const mnist_train_opts *o = &a->o;
    char ls[128];
    layers_str(m, ls, sizeof ls, "-");
    int ntrain = d->train.n - o->validation;
    if (a->resume) printf("Resuming %s at epoch %d, step %d\n", a->resume, st->epoch, st->step);
    int nb = o->batch > 0 ? ntrain / o->batch : 0;
    printf("Training %s (%s) on %d %s images: %s lr %g%s, batch %d, %d batch%s per epoch, %d epoch%s\n", ls,
           m->activation, ntrain, strcmp(cli_dataset, "mnist") ? "Fashion-MNIST" : "MNIST",
           o->optimizer == MNIST_SGD ? "SGD" : o->optimizer == MNIST_ADAM ? "Adam" : "momentum", o->lr,
           o->schedule == MNIST_COSINE ? " (cosine)" : o->schedule == MNIST_STEP ? " (step)" : "", o->batch, nb,
           nb == 1 ? "" : "es", o->epochs, o->epochs == 1 ? "" : "s");
    cli_flush();
}

/* How mnist_train's rc ends the command: its error and what this run saved all the same (the last
 * checkpoint it wrote and the records --log holds of its epochs, or nothing: --save is not written),
 * or the note of a Ctrl-C, then the model saved (--save). The status: 0 or 1. */
static int finish(const train_args *a, const mnist_model *m, int rc, const mnist_err *err, const train_ui *ui) {
    if (rc < 0) { /* not the checkpoint's: load_data checked it as mnist_train does */
        if (ui->saved_epoch < 0) {
            cli_say(stderr, "mnist train: %s%s; %s was saved from this run", cli_device_said(a->o.device, err->msg),
                    err->msg, ui->logged ? "no model" : "nothing");
        } else {
            char at[64]; /* the checkpoint's name printed as it is: a buffer would cut a long one */
            if (ui->saved_step) snprintf(at, sizeof at, "at epoch %d, step %d", ui->saved_epoch, ui->saved_step);
            else snprintf(at, sizeof at, "after epoch %d", ui->saved_epoch - 1);
            cli_say(stderr, "mnist train: %s%s; of this run only %s %s was saved, %s",
                    cli_device_said(a->o.device, err->msg), err->msg,
                    a->resume && a->checkpoint == a->resume ? "--resume" : "--checkpoint", a->checkpoint, at);
        }
        if (ui->logged) /* a write that failed cut the records short: the epochs after it are not there */
            cli_say(stderr, "; --log %s holds the %d epoch%s it finished%s", a->log, ui->logged,
                    ui->logged == 1 ? "" : "s", ui->log_failed ? " before writing it failed" : "");
        fputc('\n', stderr);
        return 1;
    }
    int stopped = rc == 1 && interrupted, status = 0;
    if (stopped) /* stopped in a new run's first epoch, --plot has none to draw: said here, as --epochs 0 says it */
        cli_say(stderr, "mnist train: interrupted%s%s%s%s%s\n", a->checkpoint ? "; resume with --resume " : "",
                a->checkpoint ? a->checkpoint : "", a->save ? "; saving the model as it is now" : "",
                a->plot && !a->resume && !ui->nhist ? "; --plot drew nothing (no epoch ended)" : "",
                a->checkpoint || a->save ? "" : "; no model was saved (--save FILE keeps the model of a run, --checkpoint "
                                                "FILE a run to resume)");
    if (a->save && save_model(m, a->save) != 0) status = 1;
    else if (a->save && !a->json) cli_say(stdout, "Saved the model to %s\n", a->save);
    return status; /* a stop's 130 comes at the end, when every file was written (train_run) */
}

/* --log closed: a write that failed makes a status of 0 one of 1. */
static int close_log(train_ui *ui, int status) {
    int bad = ui->log && fclose(ui->log) != 0;
    if (bad || ui->log_failed) {
        if (!ui->log_failed)
            cli_say(stderr, "mnist train: --log %s: writing failed: %s\n", ui->log_path, strerror(errno));
        if (status == 0) status = 1;
    }
    return status;
}

/* --plot: the whole run's curves, from the log when it can be read back (a resumed run appends to it),
 * else from the epochs of this command: a FIFO or a terminal as --log takes the records and gives none
 * back (--plot failed there after the training, "not a regular file"), and a log whose writing failed
 * holds only some. before: the epochs a resumed run's log holds before this command's (trim_log cut it
 * back to those of the checkpoint's). 0, or 1 after the message. */
static int draw_plot(const train_args *a, const train_ui *ui, int before) {
    mnist_epoch_stats *h = ui->hist;
    int n = ui->nhist, status = 0;
    mnist_err err;
    const char *log = log_readable(a->log) && !ui->log_failed ? a->log : NULL;
    /* as many records as the run wrote: a run of --epochs 10001 wrote its log whole, then refused to read it
     * back ("more than 10000 records"), its chart not drawn after the training; a log not cut back (a run
     * resumed with nothing to do) is read as plot reads it */
    long most = (long)before + ui->logged;
    int cap = most > CLI_MAX_LOG_RECORDS ? (int)(most < INT_MAX ? most : INT_MAX) : CLI_MAX_LOG_RECORDS;
    if (log && !(h = malloc((size_t)cap * sizeof *h)))
        n = -1, snprintf(err.msg, sizeof err.msg, "out of memory");
    else if (log && (n = mnist_read_log(log, h, cap, &err)) > 0 && err.msg[0])
        cli_say(stderr, "mnist train: --plot: warning: %s\n", err.msg); /* a last line cut short */
    if (n > 0 && mnist_plot_curves(a->plot, h, n, &err) == 0) {
        if (!a->json) cli_say(stdout, "Wrote the training curves to %s\n", a->plot);
    } else {
        if (n) cli_flag_advice(err.msg, sizeof err.msg, NULL);
        cli_say(stderr, "mnist train: --plot %s: %s\n", a->plot, n ? err.msg : "no epochs to draw");
        status = 1;
    }
    if (h != ui->hist) free(h);
    return status;
}

/* The epoch of a --log line, or -1 for a line that is no record: as plot reads it (log_record), so
 * that "epoch": 0.5 is not epoch 0, nor two records on one line the first. */
static int record_epoch(const char *line) {
    char why[128];
    return log_record(line, NULL, why, sizeof why);
}

/* A new run empties its --log: refused (0, or 1 after the message) when the regular file there
 * holds something, and its first line is not a record: it is not a log of mnist train (a model
 * file named by a slip), and emptying it would lose it. The first 64 KiB are read at most: a
 * record is a few hundred bytes. */
static int foreign_log(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return 0; /* none yet, or open_log says why not */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) { /* a FIFO, a terminal, empty */
        close(fd);
        return 0;
    }
    enum { HEAD = 65536 };
    char *head = malloc(HEAD + 1);
    ssize_t n = head ? read(fd, head, HEAD) : -1;
    close(fd);
    if (n < 0) { /* cannot be read: open_log's write may still go; it says why if not */
        free(head);
        return 0;
    }
    head[n] = '\0';
    char *line = head + strspn(head, " \t\r\n"), *end = memchr(line, '\n', (size_t)(head + n - line));
    size_t len = end ? (size_t)(end - line) : (size_t)(head + n - line);
    int foreign = memchr(line, '\0', len) != NULL; /* a NUL byte in it: binary */
    if (!foreign && len) {
        line[len] = '\0';
        /* the file's one line, begun as train writes a record and cut off by a kill: a run's own */
        int cut = !end && n < HEAD && !strncmp(line, "{\"epoch\":", 9);
        foreign = (!end && n == HEAD) || (!cut && record_epoch(line) < 0);
    }
    free(head);
    if (foreign)
        cli_say(stderr, "mnist train: --log %s: its first line is not a record of mnist train, and a new run empties "
                "its log: give a log of mnist train, or a new file\n", path);
    return foreign;
}

/* What cutting a --log back for a run whose next epoch is `next` finds. */
typedef struct {
    off_t keep;   /* the end of its last record of an epoch before next: where to cut */
    int dropped;  /* records after it (of epochs from next on) */
    int cut;      /* a last line cut off as it was written: no newline, not a whole record */
    int newline;  /* the last record kept has no newline at its end (a log ended so by hand) */
    long foreign; /* the first line after keep that is not a record (0: none): not ours to cut */
} log_cut;

/* Reads the log f line by line into *c: 0, or -1 when it cannot be read whole. A last line without
 * a newline is cut off only when it begins as a record does ('{') and is not one whole. */
static int log_keep(FILE *f, int next, log_cut *c) {
    char *line = NULL; /* a line of any length to LOG_LINE_MAX: read_line grows it */
    size_t size = 0;
    off_t at = 0;
    long n = 0;
    int cut;
    *c = (log_cut){0};
    for (ssize_t len; (len = read_line(f, &line, &size, LOG_LINE_MAX, &cut)) > 0;) {
        at += len, n++;
        for (int ch; cut && (ch = getc(f)) != EOF;) { /* a longer line is no record: the rest of it read past */
            at++;
            if (ch == '\n') break;
        }
        const char *text = line + strspn(line, " \t\r\n");
        if (*text == '\0' && !cut) continue;
        /* a NUL byte ends the string the parser sees: the line read as what comes before it (plot refuses it) */
        int epoch = cut || memchr(line, '\0', (size_t)len) ? -1 : record_epoch(line),
            whole = cut || line[len - 1] == '\n';
        if (epoch >= 0 && epoch < next) {
            c->keep = at, c->dropped = 0, c->cut = 0, c->foreign = 0, c->newline = !whole;
        } else if (epoch >= 0) {
            c->dropped++;
        } else if (!whole && *text == '{') {
            c->cut = 1; /* the last line only */
        } else if (!c->foreign) {
            c->foreign = n;
        }
    }
    free(line);
    return feof(f) && !ferror(f) ? 0 : -1; /* read_line out of memory sets neither */
}

/* A resumed run's --log, a regular file, cut back to the end of its last record of an epoch before
 * `next`, the run's next, so that the records appended follow on: a last line cut off by a kill
 * (appended to, it became a broken line in the middle) goes, and so do the records of epochs from
 * `next` on, of a run that went on past the checkpoint (this run writes them again). The records
 * rise, so what goes is the file's end. One line says what went. A line that is not a record where
 * the cut would be (another file given as --log) stops the run instead: the file is not ours. 0, or
 * 1 after the message; a file that cannot be opened is left to open_log, which says why. */
static int trim_log(const char *path, int next) {
    /* opened before it is looked at, and without waiting: a FIFO put there meanwhile is not read */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), e = 0;
    struct stat st;
    if (fd < 0 && errno == EACCES && access(path, W_OK) == 0)
        cli_say(stderr, "mnist train: note: --log %s cannot be read, so it is not cut back to the checkpoint's "
                "epochs: appended to as it is\n", path);
    if (fd < 0) return 0; /* none yet, or open_log says why not */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { /* a FIFO, a terminal: as it is */
        close(fd);
        return 0;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return 0;
    }
    log_cut c;
    errno = 0;
    int bad = log_keep(f, next, &c) != 0;
    if (bad) e = errno ? errno : EIO;
    if (!bad && !c.foreign && (c.dropped || c.cut) && ftruncate(fd, c.keep) != 0) bad = 1, e = errno;
    if (!bad && !c.foreign && c.newline && pwrite(fd, "\n", 1, c.keep) != 1) bad = 1, e = errno;
    fclose(f);
    if (bad) {
        cli_say(stderr, "mnist train: --log %s: cannot cut it back to the checkpoint's epochs: %s\n", path,
                strerror(e));
        return 1;
    }
    if (c.foreign) {
        cli_say(stderr, "mnist train: --log %s: line %ld is not a record of mnist train, and a resumed run cuts "
                "its log back to the checkpoint's epochs: give the run's own log, or a new file\n", path, c.foreign);
        return 1;
    }
    char records[128] = "";
    if (c.dropped)
        snprintf(records, sizeof records, "%d record%s of epochs after the checkpoint's (from epoch %d on)%s",
                 c.dropped, c.dropped == 1 ? "" : "s", next, c.cut ? " and " : "");
    if (c.dropped || c.cut)
        cli_say(stderr, "mnist train: note: --log %s: dropped %s%s\n", path, records,
                c.cut ? "a cut-off last line" : "");
    return 0;
}

/* --epochs 0 in a new run: nothing to train. The run's start is kept as asked (--save's model was
 * written by finish; --checkpoint gets the run at its first step, which --resume FILE --epochs N
 * trains on as a run of N epochs from the start would), and one line says so, that --log was
 * left as it was (a file is written from the first record on), and that --plot, with no epoch to draw, drew nothing
 * (train_run draws no chart then). The status. */
static int untrained(const train_args *a, const mnist_model *m, const mnist_data *d) {
    if (a->checkpoint) {
        mnist_run_state st;
        mnist_err err;
        int bad = mnist_run_state_start(&st, m, &a->o, &d->train, &err) ||
                  mnist_checkpoint_save(a->checkpoint, m, &a->o, &st, &err);
        mnist_run_state_free(&st);
        if (bad) {
            cli_say(stderr, "mnist train: %s\n", err.msg);
            return 1;
        }
    }
    /* the checkpoint's name twice, written as it is: a buffer of 4200 bytes cut one of over 2000 */
    cli_say(stderr, "mnist train: --epochs 0: nothing trained%s", a->save ? "; --save wrote the untrained model" : "");
    if (a->checkpoint)
        cli_say(stderr, "; --checkpoint %s holds the run at its start (--resume %s --epochs N trains it)",
                a->checkpoint, a->checkpoint);
    fprintf(stderr, "%s%s\n", a->log ? "; --log was left as it was (no epoch to record)" : "",
            a->plot ? "; --plot drew nothing" : "");
    return 0;
}

/* Train m on d (from st when resumed) with the progress bar, the log and the checkpoints, then
 * end as finish, close_log and draw_plot say: the status. */
static int train_run(const train_args *a, mnist_model *m, mnist_run_state *st, const mnist_data *d) {
    train_ui ui = {.json = a->json, .progress = !a->json && !a->no_progress && isatty(2), .checkpoint = a->checkpoint,
                   .o = &a->o, .batch = a->o.batch, .log_path = a->log, .log_append = a->resume != NULL,
                   .epoch = -1, .saved_epoch = -1};
    if (a->log && a->resume && !mnist_train_finished(&a->o, st) && trim_log(a->log, st->epoch)) return 1;
    if (a->log && !a->resume && foreign_log(a->log)) return 1;
    /* opened now, so that what cannot be written is refused before the training; made where there is
     * none, or a new run's emptied, at the first record (log_ready) */
    if (a->log && !(ui.log = open_log(a->log, a->resume != NULL, 0)) && errno != ENOENT) {
        cli_say(stderr, "mnist train: --log %s: %s\n", a->log,
                errno == ENXIO ? "a FIFO that no process is reading" : strerror(errno));
        return 1;
    }
    cli_catch_sigint(1); /* before the banner: a Ctrl-C as soon as it shows stops the run as any other does */
    if (!a->json && !mnist_train_finished(&a->o, resumed(a, st))) print_banner(a, m, st, d);
    mnist_train_hooks hooks = {.on_epoch = on_epoch, .on_step = on_step, .ud = &ui, .cancel = &interrupted,
                               .on_checkpoint = a->checkpoint ? on_checkpoint : NULL};
    mnist_err err;
    int rc = mnist_train(m, d, &a->o, &hooks, resumed(a, st), &err);
    clear_bar(&ui);
    int status = close_log(&ui, finish(a, m, rc, &err, &ui));
    int none = !a->resume && a->o.epochs == 0;
    if (status == 0 && none) status = untrained(a, m, d);
    /* a run stopped by Ctrl-C still draws the epochs it has; stopped in its first epoch, a new run has
     * none to draw, as one of --epochs 0 has none (untrained says so), nor one resumed with nothing to do
     * and no --log (load_data's note says so) */
    int nothing = none || (rc == 1 && !a->resume && ui.nhist == 0) ||
                  (a->resume && !log_readable(a->log) && mnist_train_finished(&a->o, st)); /* the note said so */
    /* and a run whose --save or --log failed draws them all the same: the training went through */
    if (a->plot && rc >= 0 && !nothing && draw_plot(a, &ui, a->resume ? st->epoch : 0) && status == 0) status = 1;
    /* only now: a Ctrl-C as the training ended, while --save (or --epochs 0's --checkpoint) was written,
     * ended the program, the model dropped with nothing else to keep it; it is written, as a stop's is */
    cli_catch_sigint(0);
    free(ui.hist);
    /* a Ctrl-C ends in 130 once all was written, but a file that failed says 1, not hidden behind it;
     * one after the last step (in the last epoch's evaluation, its checkpoint, --save) came too late to
     * stop the run, which went to its end: said, since finish said nothing of it */
    if (interrupted && status == 0) {
        if (rc != 1)
            cli_say(stderr, "mnist train: interrupted as the run ended: it ran to its end, and nothing was lost\n");
        status = 130;
    }
    return status;
}

int cmd_train(int argc, char **argv) {
    train_args a;
    int p = parse_flags(argc, argv, &a);
    if (p) return p == 1 ? 0 : 2;
    blas_preload(); /* while the data load */
    /* a reader gone (| head, a pager quit): a run that writes files goes on to them and fails the output at
     * the end as with a closed one (main says so), where SIGPIPE's default action ended it at its next line,
     * silently, before its --save and --checkpoint; a run that writes none ends there, as a filter does
     * (--resume writes its checkpoint when --checkpoint is not given: resume_model sets it later) */
    if (a.save || a.checkpoint || a.resume || a.log || a.plot) signal(SIGPIPE, SIG_IGN);
    int status = settle_options(&a);
    if (status) return status;
    mnist_model m = {0};
    mnist_run_state st = {0};
    mnist_data d = {0};
    status = a.resume ? resume_model(&a, &m, &st) : new_model(&a, &m);
    if (!status) status = check_outputs(&a);
    if (!status) status = load_data(&a, &m, &st, &d);
    if (!status) status = train_run(&a, &m, &st, &d);
    mnist_model_free(&m);
    mnist_run_state_free(&st);
    mnist_data_free(&d);
    return status;
}
