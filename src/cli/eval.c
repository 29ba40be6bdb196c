/* eval.c: mnist eval: accuracy, loss, the confusion matrix; as a heat map, and the misread
 * images as a picture. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"

#define MAX_ERRORS 100 /* misread images in the --errors picture */

/* The first MAX_ERRORS test images the model misreads, drawn with their true and predicted
 * labels, the predictions made on the device that made the confusion matrix (a near tie could go
 * another way on the other: the picture drew the CPU's), over the log-probabilities, as it does
 * (two probabilities can round to one where the log-probabilities differ: the picture took the
 * first digit of such a tie, the matrix the larger). 0 (*wrote: whether there were any to draw),
 * or 1 after saying what failed. */
static int draw_errors(const char *path, const mnist_model *m, const mnist_split *s, mnist_device dev, int *wrote) {
    /* the CPU in chunks, its scratch memory small; the GPU in one pass, as predict --device cuda */
    const int CHUNK = dev == MNIST_CPU || s->n < 500 ? 500 : s->n;
    float *x = malloc((size_t)CHUNK * MNIST_PIXELS * sizeof *x), *p = malloc((size_t)CHUNK * MNIST_CLASSES * sizeof *p);
    uint8_t *img = malloc((size_t)MAX_ERRORS * MNIST_PIXELS), truth[MAX_ERRORS], guess[MAX_ERRORS];
    int n = 0, rc = 1;
    mnist_err err;
    if (!x || !p || !img) {
        cli_say(stderr, "mnist eval: out of memory\n");
        goto done;
    }
    for (int start = 0; start < s->n && n < MAX_ERRORS; start += CHUNK) {
        int k = s->n - start < CHUNK ? s->n - start : CHUNK;
        for (size_t i = 0; i < (size_t)k * MNIST_PIXELS; i++)
            x[i] = (float)s->images[(size_t)start * MNIST_PIXELS + i] / 255.0f;
        if (mnist_predict_log_on(m, x, k, dev, p, &err)) {
            cli_say(stderr, "mnist eval: %s%s\n", cli_device_said(dev, err.msg), err.msg);
            goto done;
        }
        for (int r = 0; r < k && n < MAX_ERRORS; r++) {
            int best = mnist_argmax(p + (size_t)r * MNIST_CLASSES, MNIST_CLASSES);
            if (best == s->labels[start + r]) continue;
            memcpy(img + (size_t)n * MNIST_PIXELS, s->images + (size_t)(start + r) * MNIST_PIXELS, MNIST_PIXELS);
            truth[n] = s->labels[start + r];
            guess[n++] = (uint8_t)best;
        }
    }
    if (n == 0) {
        cli_say(stderr, "mnist eval: --errors: the model reads every test image right; no picture written\n");
        rc = 0;
        goto done;
    }
    if (mnist_picture_errors_png(path, img, truth, guess, n, &err)) {
        cli_say(stderr, "mnist eval: %s\n", err.msg);
        goto done;
    }
    *wrote = 1;
    rc = 0;
done:
    free(x);
    free(p);
    free(img);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *model = NULL, *dataset = NULL, *device = "cpu", *confusion = NULL, *errors = NULL;
    int json = 0, threads = 0, no_verify = 0;
    const flag flags[] = {
        {"--model", F_STR, &model, "FILE", "the model (safetensors), required"},
        {"--dataset", F_STR, &dataset, "mnist|fashion", "the test set (default: the one the model was trained on)"},
        {"--data", F_STR, &dir, "DIR", CLI_DATA_HELP "; fetched if missing"},
        {"--device", F_STR, &device, "cpu|cuda", "where the arithmetic runs (default cpu)"},
        {"--threads", F_INT, &threads, "N", "threads (default 0: all cores, or $OMP_NUM_THREADS)"},
        {"--confusion", F_STR, &confusion, "FILE.svg", "draw the confusion matrix as a heat map"},
        {"--errors", F_STR, &errors, "FILE.png", "draw the first 100 misread test images with true and predicted labels"},
        {"--json", F_BOOL, &json, NULL, "print {\"accuracy\", \"loss\", \"n\", \"confusion\"} as JSON"},
        {"--no-verify", F_BOOL, &no_verify, NULL, "use the IDX files in DIR as they are (not the dataset's hashes)"},
        {0}};
    int p = cli_parse("eval", "--model FILE [flags]",
                      "Test accuracy, mean loss and the confusion matrix of a model.", flags, argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    if (!model) {
        cli_say(stderr, "mnist eval: --model FILE is required (see 'mnist eval --help')\n");
        return 2;
    }
    int dev = cli_device("eval", device);
    if (dev < 0) return 2;
    /* the pictures' files, checked before the evaluation: none the model or the other (here), and none a
     * data file, each writable (once the model says the dataset) */
    const char *outs[][2] = {{"--confusion", confusion}, {"--errors", errors}};
    for (int i = 0; i < 2; i++) {
        if (!outs[i][1]) continue;
        const char *other = cli_same_file(outs[i][1], model) ? "--model"
                            : i == 1 && confusion && cli_same_file(errors, confusion) ? "--confusion" : NULL;
        if (other) {
            cli_say(stderr, "mnist eval: %s and %s are the same file (%s): give each its own\n", other, outs[i][0],
                    outs[i][1]);
            return 2;
        }
    }
    mnist_err err;
    if (mnist_device_check((mnist_device)dev, &err)) { /* before the data are loaded */
        cli_say(stderr, "mnist eval: --device %s: %s\n", device, err.msg);
        return 1;
    }
    blas_preload(); /* while the model and the data load */
    mnist_model m;
    if (mnist_model_load(&m, model, &err)) {
        cli_say(stderr, "mnist eval: %s\n", err.msg);
        return 1;
    }
    int known = cli_model_dataset("eval", model, &m, dataset);
    if (known) {
        mnist_model_free(&m);
        return known;
    }
    for (int i = 0; i < 2; i++) { /* the dataset is the model's, known now: no picture may replace its files */
        int bad = outs[i][1] && cli_check_not_data("eval", outs[i][0], outs[i][1], dir) ? 2 : 0;
        if (!bad && outs[i][1]) bad = cli_check_output("eval", outs[i][0], outs[i][1], i ? OUT_PNG : OUT_SVG);
        if (bad) {
            mnist_model_free(&m);
            return bad;
        }
    }
    mnist_data d;
    int loaded = cli_load_data(dir, MNIST_TEST_FILES, !no_verify, &d);
    if (loaded) {
        mnist_model_free(&m);
        return loaded;
    }
    char what[4200];
    snprintf(what, sizeof what, "the model %s", model);
    if (cli_check_fit("eval", dir, &d, &m, what)) {
        mnist_data_free(&d);
        mnist_model_free(&m);
        return 1;
    }
    /* the picture draws 28x28 images, as show does: others (--no-verify data, a model of their size) were
     * read 784 bytes at a time, past the end of the last */
    if (errors && (d.test.rows != MNIST_SIDE || d.test.cols != MNIST_SIDE)) {
        cli_say(stderr, "mnist eval: --errors %s: the test images are %dx%d, not %dx%d\n", errors, d.test.rows,
                d.test.cols, MNIST_SIDE, MNIST_SIDE);
        mnist_data_free(&d);
        mnist_model_free(&m);
        return 1;
    }
    const char *const *classes = mnist_dataset_get(cli_dataset)->classes;
    mnist_eval_result r;
    int status = 0;
    if (mnist_evaluate_on(&m, &d.test, (mnist_device)dev, threads, &r, &err)) {
        cli_say(stderr, "mnist eval: %s%s\n", cli_device_said(dev, err.msg), err.msg);
        status = 1;
    } else if (json) {
        char a[CLI_JSON_NUMBER], l[CLI_JSON_NUMBER]; /* the loss is null when sums overflow: cli_json_number */
        printf("{\"accuracy\":%s,\"loss\":%s,\"n\":%d,\"confusion\":[", cli_json_number(a, r.accuracy, 8),
               cli_json_number(l, r.loss, 8), r.n);
        for (int i = 0; i < MNIST_CLASSES; i++) {
            printf("%s[", i ? "," : "");
            for (int j = 0; j < MNIST_CLASSES; j++) printf("%s%d", j ? "," : "", r.confusion[i][j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("Test accuracy: %.4f (%d of %d)\n", r.accuracy, r.correct, r.n);
        if (isfinite(r.loss)) printf("Test loss:     %.4f\n", r.loss);
        else printf("Test loss:     not finite (the model's sums overflow)\n"); /* --json: null */
        printf("Confusion matrix (rows: true %s, columns: predicted)\n      ",
               strcmp(cli_dataset, "mnist") ? "class" : "digit");
        for (int j = 0; j < MNIST_CLASSES; j++) printf("%6d", j);
        printf("\n");
        for (int i = 0; i < MNIST_CLASSES; i++) {
            printf("%6d", i);
            for (int j = 0; j < MNIST_CLASSES; j++) printf("%6d", r.confusion[i][j]);
            printf(strcmp(cli_dataset, "mnist") ? "  %s\n" : "\n", classes[i]);
        }
    }
    if (status == 0 && confusion) {
        if (mnist_plot_confusion(confusion, (const int(*)[MNIST_CLASSES])r.confusion, classes, &err)) {
            cli_say(stderr, "mnist eval: %s\n", err.msg);
            status = 1;
        } else if (!json) {
            cli_say(stdout, "Wrote the confusion matrix to %s\n", confusion);
        }
    }
    if (status == 0 && errors) {
        int wrote = 0;
        status = draw_errors(errors, &m, &d.test, (mnist_device)dev, &wrote);
        if (wrote && !json) cli_say(stdout, "Wrote the misread images to %s\n", errors);
    }
    mnist_data_free(&d);
    mnist_model_free(&m);
    return status;
}
