/* main.c: the mnist command: dispatch to a command. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct {
    const char *name, *summary;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"fetch", "download and verify MNIST (or Fashion-MNIST)", cmd_fetch},
    {"train", "train the lab's network; per epoch: seconds, train and test accuracy", cmd_train},
    {"eval", "test accuracy, loss and confusion matrix of a model", cmd_eval},
    {"plot", "loss and accuracy per epoch from a --log file, as an SVG chart", cmd_plot},
    {"predict", "the digit in each image file (PNG, JPEG, ...), with its probability", cmd_predict},
    {"show", "MNIST (or Fashion-MNIST) images with their labels, in the terminal and as a PNG", cmd_show},
    {"serve", "a web page to draw digits on and watch the model read them, and a JSON API", cmd_serve},
    {0}};

static void main_usage(FILE *out) {
    fprintf(out, "usage: mnist COMMAND [flags]\n\nThe lab \"A Simple Neural Network on MNIST with JAX\", in C.\n\n");
    for (const command *c = commands; c->name; c++) fprintf(out, "  %-7s %s\n", c->name, c->summary);
    fprintf(out, "\n'mnist COMMAND --help' (or 'mnist help COMMAND') shows a command's flags;\n"
                 "'mnist --version' the version and what this build holds.\n"
                 "A flag given twice takes its last value, as with GNU tools; fetch's repeatable --mirror\n"
                 "keeps each.\n");
}

/* mnist --version: the version, then what the build holds. */
static void version(void) {
    mnist_build b = mnist_build_info();
    printf("mnist %s\n", MNIST_VERSION);
    printf("CUDA backend: %s; sparse first layer: %s (%s)\n", b.cuda ? "yes" : "no",
           b.sparse ? "yes" : "no", b.sparse ? "AVX-512" : "dense products: a build without AVX-512");
}

/* A standard stream closed by whoever started us (>&-) would be the first file the command opens: a
 * --log opened as descriptor 1 took all that was printed, its records among the lines. Each closed
 * one is held by /dev/null, opened the other way, so that using it fails as it did closed (EBADF). */
static void hold_closed_streams(void) {
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY); /* the lowest free: fd itself */
            if (got > 2) close(got);
        }
}

/* What went to stdout must have arrived (a full disk, a closed pipe): else one line says so (who:
 * "mnist" or "mnist COMMAND"), and a status of 0 becomes 1. The status. */
static int stdout_written(const char *who, int rc) {
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno ? errno : cli_stdout_errno; /* a flush along the way failed: this one had nothing left */
        fprintf(stderr, "%s: writing the standard output failed%s%s\n", who, e ? ": " : "", e ? strerror(e) : "");
        if (rc == 0) rc = 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    hold_closed_streams();
    /* OpenBLAS's own threads are never used (every product and solve runs on the thread that calls it, blas.h;
     * ours are team.c's), but it starts them as it opens, where none is asked for here, and they spin: 28 ms of
     * CPU on another core beside the 45 of a predict of samples/0 (BENCHMARKS.md). Set before any thread of ours
     * reads the environment. */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help");
    if (help && argc == 2) {
        main_usage(stdout);
        return stdout_written("mnist", 0); /* --help > /dev/full said nothing, and exited 0 */
    }
    if (!strcmp(argv[1], "--version")) {
        if (argc > 2) {
            cli_say(stderr, "mnist: --version takes nothing after it\n");
            return 2;
        }
        version();
        return stdout_written("mnist", 0);
    }
    char help_flag[] = "--help", *help_argv[] = {argv[0], argv[argc - 1], help_flag, NULL};
    if (help) { /* mnist help COMMAND: as mnist COMMAND --help */
        if (argc > 3) {
            cli_say(stderr, "mnist: help takes one COMMAND (see 'mnist --help')\n");
            return 2;
        }
        const char *topic = argv[2];
        if (!strcmp(topic, "help") || !strcmp(topic, "--help") || !strcmp(topic, "-h")) { /* help itself */
            main_usage(stdout);
            return stdout_written("mnist", 0);
        }
        if (!strcmp(topic, "--version")) {
            printf("usage: mnist --version\n\nThe version, then what this build holds: the CUDA backend and the "
                   "sparse first layer.\n");
            return stdout_written("mnist", 0);
        }
        argc = 3, argv = help_argv;
    }
    cli_catch_signals();
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) {
            cli_command = c->name;
            char who[32];
            snprintf(who, sizeof who, "mnist %s", c->name);
            return stdout_written(who, c->run(argc - 1, argv + 1));
        }
    const char *near = cli_nearest(argv[1], strlen(argv[1]), &commands[0].name, sizeof *commands);
    cli_say(stderr, "mnist: unknown command '%s'%s%s%s (see 'mnist --help')\n", argv[1], near ? ": did you mean " : "",
            near ? near : "", near ? "?" : "");
    return 2;
}
