/* show.c: mnist show: MNIST digits with their labels, in the terminal and as a PNG grid. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TERM_MAX 100 /* digits drawn in the terminal at most; the PNG takes them all */

/* The columns that a row of digits may fill: the terminal's width when stdout is one, else
 * $COLUMNS (a shell sets it, but seldom exports it), else that of the terminal on stderr (stdout
 * into a pager: mnist show --count 50 | less), else 80. */
static int term_width(void) {
    int tty = cli_tty_width(1);
    if (tty > 0) return tty;
    const char *env = getenv("COLUMNS");
    char *end = NULL;
    long w = env ? strtol(env, &end, 10) : 0;
    if (env && *env >= '0' && *env <= '9' && !*end && w > 0 && w <= 100000) return (int)w;
    tty = cli_tty_width(2);
    return tty > 0 ? tty : 80;
}

static void to_floats(const uint8_t *im, float *x) {
    for (int i = 0; i < MNIST_PIXELS; i++) x[i] = im[i] / 255.0f;
}

int cmd_show(int argc, char **argv) {
    const char *dir = NULL, *split_name = "train", *out = NULL, *dataset = "mnist";
    int index = 0, count = 1, no_verify = 0;
    const flag flags[] = {
        {"--dataset", F_STR, &dataset, "mnist|fashion", "MNIST (default) or Fashion-MNIST"},
        {"--data", F_STR, &dir, "DIR", CLI_DATA_HELP "; fetched if missing"},
        {"--split", F_STR, &split_name, "S", "train (default) or test"},
        {"--index", F_INT, &index, "N", "the first image shown (default 0)"},
        {"--count", F_INT, &count, "N", "how many images, from --index on (default 1)"},
        {"--out", F_STR, &out, "FILE.png", "also write them as a PNG grid with their labels (at most 10000)"},
        {"--no-verify", F_BOOL, &no_verify, NULL, "use the IDX files in DIR as they are (not the dataset's hashes)"},
        {0}};
    int p = cli_parse("show", "[flags]",
                      "Show MNIST digits (or Fashion-MNIST images, --dataset fashion) with their labels, as the "
                      "lab's imshow does: as shaded characters in the terminal (at most 100) and, with --out, as a "
                      "PNG grid.",
                      flags, argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    if (cli_set_dataset("show", dataset)) return 2;
    const char *noun = strcmp(cli_dataset, "mnist") ? "image" : "digit"; /* Fashion-MNIST's are no digits */
    if (strcmp(split_name, "train") && strcmp(split_name, "test")) {
        cli_say(stderr, "mnist show: --split '%s' is not train or test\n", split_name);
        return 2;
    }
    if (out && count > MNIST_PICTURE_MAX) {
        /* long long: --index and --count are each up to INT_MAX, and the data's size is not known yet; an
         * --index past INT_MAX, which the flag refuses, is not advised */
        long long next = (long long)index + MNIST_PICTURE_MAX;
        cli_say(stderr, "mnist show: --out draws at most %d %ss in one picture, not %d", MNIST_PICTURE_MAX, noun,
                count);
        if (next <= INT_MAX) fprintf(stderr, "; draw the others with --index %lld", next);
        fputc('\n', stderr);
        return 2;
    }
    if (out && cli_check_not_data("show", "--out", out, dir)) return 2;
    int bad = out ? cli_check_output("show", "--out", out, OUT_PNG) : 0;
    if (bad) return bad;
    /* a reader gone (| head): --out is written all the same and the output fails at the end (main says so), as
     * train does; SIGPIPE's default action ended it in the terminal's digits, silently, the PNG not written */
    if (out) signal(SIGPIPE, SIG_IGN);
    mnist_data d;
    int test = !strcmp(split_name, "test"); /* only its split's two files are read (and fetched) */
    int loaded = cli_load_data(dir, test ? MNIST_TEST_FILES : MNIST_TRAIN_FILES, !no_verify, &d);
    if (loaded) return loaded;
    const mnist_split *s = test ? &d.test : &d.train;
    int status = 0;
    if (s->rows != MNIST_SIDE || s->cols != MNIST_SIDE) {
        cli_say(stderr, "mnist show: the %s images are %dx%d, not %dx%d\n", split_name, s->rows, s->cols, MNIST_SIDE,
                MNIST_SIDE);
        status = 1;
    } else if (index >= s->n || count > s->n - index) {
        cli_say(stderr, "mnist show: --index %d --count %d goes past the %d %s images\n", index, count, s->n,
                split_name);
        status = 2;
    }
    if (status) {
        mnist_data_free(&d);
        return status;
    }
    const uint8_t *images = s->images + (size_t)index * MNIST_PIXELS, *labels = s->labels + index;
    float x[MNIST_PIXELS];
    const char *const *classes = mnist_dataset_get(cli_dataset)->classes;
    if (strcmp(cli_dataset, "mnist")) { /* Fashion-MNIST: say what the label numbers are */
        printf("labels:");
        for (int i = 0; i < MNIST_CLASSES; i++) printf(" %d %s%s", i, classes[i], i + 1 < MNIST_CLASSES ? "," : "\n");
    }
    if (count == 1) {
        printf("%s[%d]: label %d\n", split_name, index, labels[0]);
        to_floats(images, x);
        cli_show_input(x);
    } else {
        int width = term_width();
        int per = (width + 2) / (MNIST_SIDE + 2), shown = count < TERM_MAX ? count : TERM_MAX;
        per = per < 1 ? 1 : per;
        char line[MNIST_SIDE + 1];
        for (int g = 0; g < shown; g += per) {
            int k = shown - g < per ? shown - g : per;
            for (int i = 0; i < k; i++) {
                char head[MNIST_SIDE + 1];
                snprintf(head, sizeof head, "%s[%d]: label %d", split_name, index + g + i, labels[g + i]);
                if (i + 1 < k) printf("%-*s  ", MNIST_SIDE, head);
                else printf("%s\n", head);
            }
            for (int r = 0; r < MNIST_SIDE / 2; r++)
                for (int i = 0; i < k; i++) {
                    to_floats(images + (size_t)(g + i) * MNIST_PIXELS, x);
                    mnist_shade_line(x, 0, r, line);
                    printf("%s%s", line, i + 1 < k ? "  " : "\n");
                }
        }
        if (shown < count)
            printf("(the terminal shows the first %d of %d%s)\n", shown, count, out ? "; the PNG has all" : "");
    }
    if (out) {
        mnist_err err;
        if (mnist_picture_png(out, images, labels, count, &err)) {
            cli_say(stderr, "mnist show: %s\n", err.msg);
            status = 1;
        } else {
            cli_say(stdout, "Wrote %d %s%s to %s\n", count, noun, count == 1 ? "" : "s", out);
        }
    }
    mnist_data_free(&d);
    return status;
}
