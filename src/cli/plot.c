/* plot.c: mnist plot: the per-epoch records of `train --log` as an SVG chart. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_plot(int argc, char **argv) {
    const char *out = "curves.svg";
    str_list files = {0};
    const flag flags[] = {{"--out", F_STR, &out, "FILE.svg", "where to write the chart (default curves.svg)"}, {0}};
    int p = cli_parse("plot", "FILE.jsonl [--out FILE.svg]",
                      "Draw loss and accuracy per epoch (train, validation, test, and the batch loss) from the "
                      "records that 'mnist train --log FILE.jsonl' keeps, as an SVG chart a browser opens. FILE.jsonl "
                      "'-' reads the records from standard input.",
                      flags, argc, argv, &files);
    if (p) return p == 1 ? 0 : 2;
    if (files.n != 1) {
        cli_say(stderr, "mnist plot: give one FILE.jsonl (see 'mnist plot --help')\n");
        return 2;
    }
    /* '-': standard input (which a terminal cannot be), a file redirected to it compared as itself */
    const char *log = files.items[0], *name = strcmp(log, "-") ? log : "standard input";
    if (log != name && isatty(STDIN_FILENO)) {
        cli_say(stderr, "mnist plot: standard input is a terminal: give it the records ('< FILE.jsonl', or a pipe)\n");
        return 2;
    }
    /* the chart written over the records it is drawn from would lose them */
    if (cli_same_file(log != name ? "/dev/stdin" : log, out)) {
        cli_say(stderr, "mnist plot: --out %s is the records file itself: give the chart its own name\n", out);
        return 2;
    }
    int bad = cli_check_output("plot", "--out", out, OUT_SVG);
    if (bad) return bad;
    mnist_epoch_stats *s = malloc(CLI_MAX_LOG_RECORDS * sizeof *s);
    if (!s) {
        cli_say(stderr, "mnist plot: out of memory\n");
        return 1;
    }
    mnist_err err;
    int n = log != name ? mnist_read_log_stream(stdin, name, s, CLI_MAX_LOG_RECORDS, &err)
                        : mnist_read_log(log, s, CLI_MAX_LOG_RECORDS, &err), status = 1;
    if (n > 0 && err.msg[0]) cli_say(stderr, "mnist plot: warning: %s\n", err.msg); /* a last line cut short */
    if (n < 0 || mnist_plot_curves(out, s, n, &err)) {
        cli_flag_advice(err.msg, sizeof err.msg, NULL);
        cli_say(stderr, "mnist plot: %s\n", err.msg);
    } else {
        cli_say(stdout, "Wrote %d epoch%s to %s\n", n, n == 1 ? "" : "s", out), status = 0;
    }
    free(s);
    return status;
}
