/* predict.c: mnist predict: the digit in each image file. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "cli.h"
#include "image.h"
#include "team.h"
#include "util.h"

/* The 28x28 input the network sees, framed, two characters a pixel. */
void cli_show_input(const float *x) {
    char line[2 * MNIST_SIDE + 1];
    printf("  +");
    for (int i = 0; i < 2 * MNIST_SIDE; i++) putchar('-');
    printf("+\n");
    for (int r = 0; r < MNIST_SIDE; r++) {
        mnist_shade_line(x, 1, r, line);
        printf("  |%s|\n", line);
    }
    printf("  +");
    for (int i = 0; i < 2 * MNIST_SIDE; i++) putchar('-');
    printf("+\n");
}

#define STDIN_NAME "standard input" /* "-": its name in every message and output line */

/* The name that arg's image goes by: the file, or STDIN_NAME for "-". */
static const char *image_name(const char *arg) { return strcmp(arg, "-") ? arg : STDIN_NAME; }

/* Whether path is this program's standard input and a pipe (or a socket): /dev/stdin fed by one, which
 * the reader refuses ("not a regular file"), where '-' reads it. */
static int stdin_pipe(const char *path) {
    struct stat a, b;
    return stat(path, &a) == 0 && fstat(STDIN_FILENO, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
           (S_ISFIFO(a.st_mode) || S_ISSOCK(a.st_mode));
}

/* After a failure to read path: where it is standard input fed by a pipe, err's message says '-' reads it. */
static void pipe_hint(const char *path, mnist_err *err) {
    if (stdin_pipe(path)) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, " (standard input, a pipe: '-' reads it)");
    }
}

/* Images prepared ahead of the one being predicted, by threads of their own (one a core, at most AHEAD_THREADS),
 * PREP_AHEAD at most ahead: a photo's preparation is most of its time, its prediction on the CPU 0.4 ms. The first
 * is begun before the model loads, which takes a fifth of one image's time (7 MB for the lab's), as --preprocess
 * says, else as a digits' model wants; where the model then wants another (a Fashion-MNIST model without
 * --preprocess), all are prepared again. --number's are read whole (mnist_read_number), once the model is loaded.
 * Large images decode at once only within DECODE_BUDGET (a 67-megapixel one takes 600 MB), standard input's too,
 * which the command's own thread reads in its turn: a pipe may hold it for ever, after the model failed to load too. */
#define AHEAD_THREADS 8
#define PREP_AHEAD 16
#define DECODE_BUDGET ((size_t)1 << 30)  /* memory for decoding large images at once, as serve's; past it, one waits */
#define DECODE_SMALL ((size_t)128 << 20) /* smaller decodes go ahead (a 12-megapixel photo's: 85 MB) */
#define BYTES_LARGE ((size_t)32 << 20)   /* a file this large is read with all of DECODE_BUDGET (a photo: 2-10 MB) */

typedef struct {
    float x[MNIST_PIXELS]; /* the image's input, or */
    mnist_number num;      /* --number: its digits */
    mnist_err err;
    int rc, done;
} prepared;

typedef struct {
    const str_list *files;
    mnist_prep prep;
    const mnist_model *model; /* --number: numbers read with it; else images prepared as prep */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int next;  /* the next image a thread takes */
    int taken; /* the image the command has taken last: the slots of those before taken + PREP_AHEAD are free */
    int stop, nthreads;
    size_t decoding; /* the memory that the large images being decoded take (budget_take) */
    pthread_t th[AHEAD_THREADS];
    prepared slot[PREP_AHEAD]; /* image f's in slot[f % PREP_AHEAD], written by the thread that took it */
    prepared own;              /* standard input's, or each image's where no thread started: the command's */
} ahead;

/* Waits until a's large decodes leave room in DECODE_BUDGET for one that takes need bytes (under DECODE_SMALL: none
 * to wait for), and counts it; 0, or -1 where the threads were stopped meanwhile. */
static int budget_take(ahead *a, size_t need) {
    if (need < DECODE_SMALL) return 0;
    pthread_mutex_lock(&a->mu); /* a large one decodes alone, or beside others within DECODE_BUDGET */
    while (!a->stop && a->decoding && a->decoding + need > DECODE_BUDGET) pthread_cond_wait(&a->cv, &a->mu);
    int stop = a->stop;
    if (!stop) a->decoding += need;
    pthread_mutex_unlock(&a->mu);
    return stop ? -1 : 0;
}

/* What budget_take counted of held (taken) now counts need instead, at once, with no wait: need is 0 (budget_give),
 * or held was all of DECODE_BUDGET (nothing else counted beside it), so need may be any. */
static void budget_swap(ahead *a, size_t held, size_t need) {
    pthread_mutex_lock(&a->mu);
    a->decoding -= held < DECODE_SMALL ? 0 : held;
    a->decoding += need < DECODE_SMALL ? 0 : need;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void budget_give(ahead *a, size_t need) {
    if (need >= DECODE_SMALL) budget_swap(a, need, 0);
}

/* Image f of a's files into r: its number read (--number), else its input prepared; returns as those do, and err
 * says as they would (the file's bytes read as mnist_image_prepare_file and mnist_read_number_file read them). Where
 * counted (a's threads run: on them, and on the command's own for standard input, "-", which a terminal cannot be),
 * the bytes' decode waits for room in DECODE_BUDGET (a 67-megapixel image takes 600 MB), the need told from all of
 * them (mnist_image_decode_bytes); a file of BYTES_LARGE or more is read only once the budget is all its own (eight
 * 268 MB BMPs, each read whole before it waited, took 2.4 GB on 8 threads), a pipe's bytes once read. */
static int ahead_one(ahead *a, int f, prepared *r, int counted) {
    const char *arg = a->files->items[f], *name = image_name(arg);
    int std = !strcmp(arg, "-"), rc;
    r->num.n = 0, r->num.text[0] = '\0';
    if (std && isatty(STDIN_FILENO))
        return errf(&r->err, "%s is a terminal: give it an image ('< FILE', or a pipe)", STDIN_NAME);
    FILE *in = std ? stdin : open_input(arg, &r->err);
    uint8_t *bytes = NULL;
    size_t len = 0, held = 0;
    struct stat st;
    if (counted && in && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size >= BYTES_LARGE)
        held = DECODE_BUDGET;
    int stopped = 0; /* the threads stopped while it waited for room: nothing counted, and its error never said */
    if (!in) rc = -1;
    else if ((stopped = budget_take(a, held))) held = 0, rc = -1;
    else rc = image_read_stream(in, name, &bytes, &len, &r->err);
    if (in && !std) fclose(in);
    if (rc == 0) {
        size_t need = counted ? mnist_image_decode_bytes(bytes, len, a->prep) + len : 0;
        if (held) budget_swap(a, held, need), held = 0;
        else stopped = budget_take(a, need);
        rc = stopped ? -1
             : a->model ? mnist_read_number(a->model, bytes, len, name, &r->num, &r->err)
                        : mnist_image_prepare(bytes, len, name, a->prep, r->x, &r->err);
        if (!stopped) budget_give(a, need);
    }
    if (stopped) errf(&r->err, "%s: not read (stopped)", name);
    budget_give(a, held); /* where the read failed */
    free(bytes);
    if (rc && !std) pipe_hint(arg, &r->err);
    return rc;
}

static void *ahead_run(void *p) {
    ahead *a = p;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && a->next < a->files->n && a->next >= a->taken + PREP_AHEAD) pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop || a->next >= a->files->n) break;
        int f = a->next++;
        if (!strcmp(a->files->items[f], "-")) continue; /* the command's own */
        pthread_mutex_unlock(&a->mu);
        prepared *r = &a->slot[f % PREP_AHEAD]; /* free: image f - PREP_AHEAD's was taken and is done with */
        r->rc = ahead_one(a, f, r, 1);
        pthread_mutex_lock(&a->mu);
        r->done = 1;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Starts a's threads on files: their numbers read with model (--number), else the images prepared as prep; where
 * none starts, the command takes each image in its turn. Signals stay with the command's own thread, as OpenBLAS's
 * opening leaves them (blas.c). */
static void ahead_start(ahead *a, const str_list *files, mnist_prep prep, const mnist_model *model) {
    sigset_t all, old;
    int want = team_cores();
    a->files = files, a->prep = prep, a->model = model, a->decoding = 0;
    a->next = a->stop = a->nthreads = 0, a->taken = -1;
    for (int i = 0; i < PREP_AHEAD; i++) a->slot[i].done = 0;
    if (pthread_mutex_init(&a->mu, NULL)) return;
    if (pthread_cond_init(&a->cv, NULL)) {
        pthread_mutex_destroy(&a->mu);
        return;
    }
    want = want < files->n ? want : files->n;
    want = want < AHEAD_THREADS ? want : AHEAD_THREADS;
    if (sigfillset(&all) == 0 && pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
        while (a->nthreads < want && pthread_create(&a->th[a->nthreads], NULL, ahead_run, a) == 0) a->nthreads++;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (a->nthreads == 0) pthread_cond_destroy(&a->cv), pthread_mutex_destroy(&a->mu);
}

/* Stops a's threads once their images are done, and waits for them. */
static void ahead_stop(ahead *a) {
    if (a->nthreads == 0) return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < a->nthreads; i++) pthread_join(a->th[i], NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    a->nthreads = 0;
}

/* Image f, the next in turn, as a's threads made it, else (no threads, or standard input) made here: its rc, err and
 * x or num, valid until the next image is taken (which frees its slot). */
static const prepared *ahead_take(ahead *a, int f) {
    int here = a->nthreads == 0 || !strcmp(a->files->items[f], "-");
    prepared *r = here ? &a->own : &a->slot[f % PREP_AHEAD];
    if (a->nthreads) {
        pthread_mutex_lock(&a->mu);
        if (f > 0) a->slot[(f - 1) % PREP_AHEAD].done = 0; /* image f - 1's slot free for f - 1 + PREP_AHEAD */
        a->taken = f;
        pthread_cond_broadcast(&a->cv);
        while (!here && !r->done) pthread_cond_wait(&a->cv, &a->mu);
        pthread_mutex_unlock(&a->mu);
    }
    if (here) r->rc = ahead_one(a, f, r, a->nthreads > 0);
    return r;
}

/* --device cuda: every image prepared first (by a's threads), then all predicted in one pass on the GPU. slot[f] is
 * image f's row of x and logp (log-probabilities), or -1 when it could not be prepared (errs[f] says why). 0, or 1
 * after printing the GPU's error. */
static int predict_all(const mnist_model *m, ahead *a, float *x, float *logp, int *slot, mnist_err *errs) {
    int good = 0;
    for (int f = 0; f < a->files->n; f++) {
        const prepared *r = ahead_take(a, f);
        if (r->rc) {
            slot[f] = -1, errs[f] = r->err;
            continue;
        }
        memcpy(x + (size_t)good * MNIST_PIXELS, r->x, sizeof r->x);
        slot[f] = good++;
    }
    mnist_err err;
    if (good && mnist_predict_log_on(m, x, good, MNIST_CUDA, logp, &err)) {
        cli_say(stderr, "mnist predict: %s%s\n", cli_device_said(MNIST_CUDA, err.msg), err.msg);
        return 1;
    }
    return 0;
}

/* An image that could not be read: its error on stderr (one line, whatever the file's name holds) and, with
 * --json, as {"file", "error"} on stdout. */
static void say_failed(const char *path, const char *msg, int json) {
    cli_say(stderr, "mnist predict: %s\n", msg);
    if (json) {
        printf("{\"file\":");
        cli_json_print(path);
        printf(",\"error\":");
        cli_json_print(msg);
        printf("}\n");
    }
    cli_flush();
}

/* --number: each image read as a number, digit by digit (mnist_read_number, by a's threads), on the CPU; the model
 * fits (784 inputs to 10 digits). Returns how many images failed. */
static int predict_numbers(ahead *a, const char *model, int json, int show) {
    int failed = 0;
    for (int f = 0; f < a->files->n; f++) {
        const prepared *r = ahead_take(a, f);
        const mnist_number *num = &r->num; /* its slot is the image's until the next is taken */
        mnist_err err = r->err;
        int bad = r->rc != 0;
        const char *path = image_name(a->files->items[f]);
        float prob[MNIST_MAX_DIGITS][MNIST_CLASSES];
        for (int d = 0; !bad && d < num->n; d++) {
            for (int i = 0; i < MNIST_CLASSES; i++) prob[d][i] = expf(num->logp[d][i]); /* mnist_predict's */
            if (!cli_all_finite(prob[d], MNIST_CLASSES))
                bad = errf(&err, "the model %s gives no finite probabilities for %s (its sums overflow)", model,
                           path) < 0;
        }
        if (bad) {
            say_failed(path, err.msg, json);
            failed++;
            continue;
        }
        if (json) {
            char v[CLI_JSON_NUMBER];
            printf("{\"file\":");
            cli_json_print(path);
            printf(",\"number\":\"%s\",\"digits\":[", num->text);
            for (int d = 0; d < num->n; d++) {
                printf("%s{\"digit\":%d,\"probability\":%s,\"probabilities\":[", d ? "," : "", num->digit[d],
                       cli_json_number(v, prob[d][num->digit[d]], 9));
                for (int i = 0; i < MNIST_CLASSES; i++) printf("%s%s", i ? "," : "", cli_json_number(v, prob[d][i], 9));
                printf("]");
                if (show) {
                    printf(",\"input\":[");
                    for (int i = 0; i < MNIST_PIXELS; i++)
                        printf("%s%s", i ? "," : "", cli_json_number(v, num->x[d][i], 9));
                    printf("]");
                }
                printf("}");
            }
            printf("]}\n");
        } else {
            cli_put_escaped(stdout, path);
            printf(": %s\n", num->text);
            for (int d = 0; show && d < num->n; d++) {
                printf("  digit %d of %d: %d (%.1f%%)\n", d + 1, num->n, num->digit[d], 100.0 * prob[d][num->digit[d]]);
                cli_show_input(num->x[d]);
            }
        }
        cli_flush();
    }
    return failed;
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *prep_name = NULL, *device = "cpu", *dataset = NULL;
    int top = 3, show = 0, json = 0, number = 0;
    static str_list files;
    const flag flags[] = {
        {"--model", F_STR, &model, "FILE", "the model (safetensors), required"},
        {"--preprocess", F_STR, &prep_name, "P",
         "mnist (default): find the ink, crop, 20x20 box, centre of mass, as MNIST was made; "
         "lab: the lab's load_image (grayscale, resize to 28x28, / 255); fashion (default for a Fashion-MNIST "
         "model): trim the background, longer side to 28, centred, as Fashion-MNIST was made; outline: an item drawn "
         "as its outline, as fashion, then what the strokes close filled (Fashion-MNIST's items are solid)"},
        {"--top", F_INT, &top, "K", "list the K most likely digits (default 3, at most 10)"},
        {"--show", F_BOOL, &show, NULL, "show the 28x28 input the network sees (with --json: \"input\", 784 numbers)"},
        {"--json", F_BOOL, &json, NULL,
         "one JSON object a line per image: {\"file\", \"digit\", \"probability\", \"top\", \"probabilities\"} "
         "(and \"class\" for Fashion-MNIST), or {\"file\", \"error\"}"},
        {"--device", F_STR, &device, "cpu|cuda", "where the network runs (default cpu; cuda: all images in one pass)"},
        {"--number", F_BOOL, &number, NULL,
         "read each image as a number written left to right, digit by digit, each digit prepared as --preprocess "
         "mnist prepares one (that preprocessing only; on the cpu): 'FILE: 42' (--show: each digit's input; --json: "
         "{\"file\", \"number\", \"digits\": [{\"digit\", \"probability\", \"probabilities\"}]})"},
        {"--dataset", F_STR, &dataset, "mnist|fashion", "whose class names to print (default: the model's dataset)"},
        {0}};
    int p = cli_parse("predict", "--model FILE [flags] [--] IMAGE...",
                      "Predict the digit in each image (PNG, JPEG, BMP, GIF, TGA, PNM): print the file, the digit, "
                      "its probability and the next most likely digits. IMAGE '-' reads one image from standard "
                      "input (named \"standard input\" in the output). A file that cannot be read, or shows no "
                      "clear digit, gets its own error line; the others are still predicted, and the exit status "
                      "is 1 if any failed.",
                      flags, argc, argv, &files);
    if (p) return p == 1 ? 0 : 2;
    if (!model) {
        cli_say(stderr, "mnist predict: --model FILE is required (see 'mnist predict --help')\n");
        return 2;
    }
    if (files.n == 0) {
        cli_say(stderr, "mnist predict: no IMAGE given (see 'mnist predict --help')\n");
        return 2;
    }
    for (int f = 0, stdin_seen = 0; f < files.n; f++)
        if (!strcmp(files.items[f], "-") && stdin_seen++) {
            cli_say(stderr, "mnist predict: '-' (standard input) is given twice: it holds one image\n");
            return 2;
        }
    mnist_prep prep;
    if (prep_name && cli_prep("predict", prep_name, "mnist", &prep, &prep_name)) return 2; /* before the model */
    int dev = cli_device("predict", device), gpu = dev == MNIST_CUDA;
    if (dev < 0) return 2;
    if (number && prep_name && prep != MNIST_PREP_MNIST) {
        cli_say(stderr, "mnist predict: --number reads digits as --preprocess mnist prepares them, not %s\n",
                prep_name);
        return 2;
    }
    if (number && gpu) {
        cli_say(stderr, "mnist predict: --number runs on the cpu only (not --device %s)\n", device);
        return 2;
    }
    if (number && dataset && strcmp(dataset, "mnist")) {
        cli_say(stderr, "mnist predict: --number reads digits, not --dataset %s's classes\n", dataset);
        return 2;
    }
    mnist_err err;
    if (mnist_device_check(gpu ? MNIST_CUDA : MNIST_CPU, &err)) {
        cli_say(stderr, "mnist predict: --device %s: %s\n", device, err.msg);
        return 1;
    }
    /* prepared ahead from before the model loads (ahead) */
    static ahead pre;
    if (!number) ahead_start(&pre, &files, prep_name ? prep : MNIST_PREP_MNIST, NULL);
    /* OpenBLAS, while the first image is decoded: a photo's fits need it (--preprocess mnist, the default of a
     * digits' model, and --number), lab's and fashion's preparations do not, nor a network run on one image at a
     * time (the GPU's pass has its own products). Opened by this thread before it reads the model where the
     * preparing threads wait for it (a thread of its own, opening it beside those, made their page faults wait on
     * each other's: 24 ms against 30 for samples/4-chalk.png, BENCHMARKS.md); else on a thread of its own while the
     * model loads. */
    if (!prep_name || prep == MNIST_PREP_MNIST) {
        if (pre.nthreads && pre.prep == MNIST_PREP_MNIST) blas_load(NULL); /* where it fails, each image says so */
        else blas_preload();
    }
    mnist_model m;
    if (mnist_model_load(&m, model, &err)) {
        ahead_stop(&pre);
        cli_say(stderr, "mnist predict: %s\n", err.msg);
        return 1;
    }
    int known = cli_model_dataset("predict", model, &m, dataset);
    if (known) {
        ahead_stop(&pre);
        mnist_model_free(&m);
        return known;
    }
    /* the model's own dataset's (--dataset names the classes only), or where the file names none, the flag's */
    if (!prep_name)
        cli_prep("predict", NULL, mnist_dataset_get(m.dataset) ? m.dataset : cli_dataset, &prep, &prep_name);
    /* MNIST's classes are the digits themselves; others are named after the number */
    const char *const *names = strcmp(cli_dataset, "mnist") ? mnist_dataset_get(cli_dataset)->classes : NULL;
    if (m.sizes[0] != MNIST_PIXELS || m.sizes[m.nlayers] != MNIST_CLASSES) {
        int nin = m.sizes[0], nout = m.sizes[m.nlayers];
        cli_say(stderr, "mnist predict: %s: the model maps %d input%s to %d output%s; images need %d to %d\n", model,
                nin, nin == 1 ? "" : "s", nout, nout == 1 ? "" : "s", MNIST_PIXELS, MNIST_CLASSES);
        ahead_stop(&pre);
        mnist_model_free(&m);
        return 1;
    }
    if (!number && pre.prep != prep) { /* begun for a digits' model */
        ahead_stop(&pre);
        ahead_start(&pre, &files, prep, NULL);
    }
    if (number) {
        int failed = 0;
        if (mnist_dataset_get(m.dataset) && strcmp(m.dataset, "mnist")) { /* unknown data: --dataset mnist took it */
            cli_say(stderr, "mnist predict: --number reads digits: %s is a %s model\n", model, m.dataset);
            failed = 1;
        } else {
            ahead_start(&pre, &files, MNIST_PREP_MNIST, &m);
            failed = predict_numbers(&pre, model, json, show);
            ahead_stop(&pre);
        }
        mnist_model_free(&m);
        return failed ? 1 : 0;
    }
    float *xs = NULL, *ps = NULL;
    int *slot = NULL;
    mnist_err *errs = NULL;
    if (gpu) {
        xs = malloc((size_t)files.n * MNIST_PIXELS * sizeof *xs);
        ps = malloc((size_t)files.n * MNIST_CLASSES * sizeof *ps);
        slot = malloc((size_t)files.n * sizeof *slot);
        errs = malloc((size_t)files.n * sizeof *errs);
        int bad = !xs || !ps || !slot || !errs;
        if (bad) cli_say(stderr, "mnist predict: out of memory for %d image%s\n", files.n, files.n == 1 ? "" : "s");
        if (bad || predict_all(&m, &pre, xs, ps, slot, errs)) {
            ahead_stop(&pre);
            free(xs), free(ps), free(slot), free(errs);
            mnist_model_free(&m);
            return 1;
        }
    }
    int failed = 0;
    for (int f = 0; f < files.n; f++) {
        const char *path = image_name(files.items[f]);
        float x[MNIST_PIXELS], logp[MNIST_CLASSES], prob[MNIST_CLASSES];
        int bad;
        if (gpu) { /* prepared and predicted above */
            if ((bad = slot[f] < 0)) err = errs[f];
            else {
                memcpy(x, xs + (size_t)slot[f] * MNIST_PIXELS, sizeof x);
                memcpy(logp, ps + (size_t)slot[f] * MNIST_CLASSES, sizeof logp);
            }
        } else {
            const prepared *r = ahead_take(&pre, f);
            if ((bad = r->rc != 0)) err = r->err;
            else memcpy(x, r->x, sizeof x);
            bad = bad || mnist_predict_log_on(&m, x, 1, MNIST_CPU, logp, &err);
        }
        for (int i = 0; !bad && i < MNIST_CLASSES; i++) prob[i] = expf(logp[i]); /* mnist_predict's */
        if (!bad && !cli_all_finite(prob, MNIST_CLASSES)) /* NaN: digit 0 was named "(-nan%)" */
            bad = errf(&err, "the model %s gives no finite probabilities for %s (its sums overflow)", model, path) < 0;
        if (bad) {
            say_failed(path, err.msg, json);
            failed++;
            continue;
        }
        int order[MNIST_CLASSES];
        for (int i = 0; i < MNIST_CLASSES; i++) order[i] = i;
        /* most likely first, ties by digit, ranked by log-probability as eval's argmax: two
         * probabilities can round to one float where their logarithms differ */
        for (int i = 1; i < MNIST_CLASSES; i++)
            for (int j = i; j > 0 && logp[order[j]] > logp[order[j - 1]]; j--) {
                int t = order[j];
                order[j] = order[j - 1], order[j - 1] = t;
            }
        if (json) { /* numbers by cli_json_number: the input's are finite, the probabilities too (above) */
            char v[CLI_JSON_NUMBER];
            printf("{\"file\":");
            cli_json_print(path);
            printf(",\"digit\":%d,\"probability\":%s,", order[0], cli_json_number(v, prob[order[0]], 9));
            if (names) printf("\"class\":\"%s\",", names[order[0]]);
            printf("\"top\":[");
            for (int i = 0; i < top; i++) printf("%s[%d,%s]", i ? "," : "", order[i], cli_json_number(v, prob[order[i]], 9));
            printf("],\"probabilities\":[");
            for (int i = 0; i < MNIST_CLASSES; i++) printf("%s%s", i ? "," : "", cli_json_number(v, prob[i], 9));
            printf("]");
            if (show) {
                printf(",\"input\":[");
                for (int i = 0; i < MNIST_PIXELS; i++) printf("%s%s", i ? "," : "", cli_json_number(v, x[i], 9));
                printf("]");
            }
            printf("}\n");
        } else {
            cli_put_escaped(stdout, path);
            printf(": %d%s%s (%.1f%%)", order[0], names ? " " : "", names ? names[order[0]] : "",
                   100.0 * prob[order[0]]);
            for (int i = 1; i < top; i++)
                printf("%s%d%s%s %.1f%%", i == 1 ? "   next: " : ", ", order[i], names ? " " : "",
                       names ? names[order[i]] : "", 100.0 * prob[order[i]]);
            printf("\n");
            if (show) cli_show_input(x);
        }
        cli_flush();
    }
    ahead_stop(&pre);
    free(xs), free(ps), free(slot), free(errs);
    mnist_model_free(&m);
    return failed ? 1 : 0;
}
