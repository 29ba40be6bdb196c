/* plot.c: mnist plot: the per-epoch records of `train --log` as an SVG chart. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define MAX_EPOCHS 10000

static void get_eval(const cJSON *o, const char *key, mnist_eval_result *r) {
    char k[64];
    snprintf(k, sizeof k, "%s_loss", key);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(k, sizeof k, "%s_accuracy", key);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(l) && cJSON_IsNumber(a)) r->n = 1, r->loss = l->valuedouble, r->accuracy = a->valuedouble;
}

/* Read the JSON lines of path into s (at most cap); the count, or -1 after printing an error. */
int cli_read_log(const char *path, mnist_epoch_stats *s, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mnist plot: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0') continue;
        cJSON *o = cJSON_Parse(line);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch"), *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
        if (!cJSON_IsObject(o) || !cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e9) {
            fprintf(stderr, "mnist plot: %s: line %d is not a record of 'mnist train --log' (no \"epoch\")\n", path,
                    lineno);
            cJSON_Delete(o);
            fclose(f);
            return -1;
        }
        if (n == cap) {
            fprintf(stderr, "mnist plot: %s: more than %d records\n", path, cap);
            cJSON_Delete(o);
            fclose(f);
            return -1;
        }
        mnist_epoch_stats *st = &s[n++];
        memset(st, 0, sizeof *st);
        st->epoch = (int)e->valuedouble;
        if (cJSON_IsNumber(l)) st->loss = l->valuedouble, st->steps = 1;
        get_eval(o, "train", &st->train);
        get_eval(o, "validation", &st->valid);
        get_eval(o, "test", &st->test);
        cJSON_Delete(o);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n == 0) {
        fprintf(stderr, "mnist plot: %s: %s\n", path, bad ? "read failed" : "no records");
        return -1;
    }
    return n;
}

int cmd_plot(int argc, char **argv) {
    const char *out = "curves.svg";
    str_list files = {0};
    const flag flags[] = {{"--out", F_STR, &out, "FILE.svg", "where to write the chart (default curves.svg)"}, {0}};
    int p = cli_parse("plot", "FILE.jsonl [--out FILE.svg]",
                      "Draw loss and accuracy per epoch (train, validation, test) from the records that "
                      "'mnist train --log FILE.jsonl' keeps, as an SVG chart a browser opens.",
                      flags, argc, argv, &files);
    if (p) return p == 1 ? 0 : 2;
    if (files.n != 1) {
        fprintf(stderr, "mnist plot: give one FILE.jsonl (see 'mnist plot --help')\n");
        return 2;
    }
    mnist_epoch_stats *s = malloc(MAX_EPOCHS * sizeof *s);
    if (!s) {
        fprintf(stderr, "mnist plot: out of memory\n");
        return 1;
    }
    int n = cli_read_log(files.items[0], s, MAX_EPOCHS), status = 1;
    mnist_err err;
    if (n > 0) {
        if (mnist_plot_curves(out, s, n, &err))
            fprintf(stderr, "mnist plot: %s\n", err.msg);
        else
            printf("Wrote %d epochs to %s\n", n, out), status = 0;
    }
    free(s);
    return status;
}
