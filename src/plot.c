/* plot.c: pictures of how training went, as SVG that any browser opens: loss and accuracy per
 * epoch (from the records of `train --log`), and the confusion matrix as a heat map. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "util.h"

#define W 960           /* the curves: two panels side by side */
#define H 380
#define PANEL_W 380
#define PANEL_H 280
#define LEFT 60
#define TOP 50
#define MAX_TICKS 20    /* a step of tick_step's gives 5 to 11 */

typedef struct {
    const char *name, *color;
    int dashed;
} series;

/* The four curves of both panels and the legend; k below indexes them. */
static const series curves[] = {
    {"batch loss (during the epoch)", "#888888", 1},
    {"train", "#1f77b4", 0},
    {"validation", "#ff7f0e", 0},
    {"test", "#2ca02c", 0},
};
#define NCURVES (int)(sizeof curves / sizeof curves[0])

/* The evaluation of curve k (1 train, 2 validation, 3 test) in record s. */
static const mnist_eval_result *eval_of(const mnist_epoch_stats *s, int k) {
    return k == 1 ? &s->train : k == 2 ? &s->valid : &s->test;
}

/* Loss k (0 batch loss, 1 train, 2 validation, 3 test) of record s; NAN when absent. */
static double loss_of(const mnist_epoch_stats *s, int k) {
    if (k == 0) return s->steps ? s->loss : NAN;
    const mnist_eval_result *r = eval_of(s, k);
    return r->n ? r->loss : NAN;
}

/* Accuracy k (1 train, 2 validation, 3 test; 0, the batch loss, has none) of record s; NAN when absent. */
static double acc_of(const mnist_epoch_stats *s, int k) {
    const mnist_eval_result *r = eval_of(s, k);
    return k && r->n ? r->accuracy : NAN;
}

/* r from o's KEY_loss and KEY_accuracy, when either is a number; the other NAN (not drawn): an
 * accuracy whose loss was null or missing was left out with it. */
static void get_eval(const cJSON *o, const char *key, mnist_eval_result *r) {
    char k[64];
    snprintf(k, sizeof k, "%s_loss", key);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(k, sizeof k, "%s_accuracy", key);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(l) && !cJSON_IsNumber(a)) return;
    r->n = 1;
    r->loss = cJSON_IsNumber(l) ? l->valuedouble : NAN;
    r->accuracy = cJSON_IsNumber(a) ? a->valuedouble : NAN;
}

int log_record(const char *line, cJSON **obj, char *why, size_t cap) {
    /* more after the value (two records on a line, a newline lost) was read as the first record alone */
    const char *end = NULL;
    json_watch();
    size_t n = strlen(line);
    int stray = json_stray_control(line, n) < n; /* cJSON skips it as white space */
    int deep = json_too_deep(line, n, CJSON_NESTING_LIMIT) < n; /* cJSON says no more than for broken JSON */
    cJSON *o = stray || deep ? NULL : cJSON_ParseWithOpts(line, &end, 0);
    int more = o && end[strspn(end, " \t\r\n")] != '\0';
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
    /* a number past the doubles' range (1e999) reads as infinite; train never writes one */
    const cJSON *c = NULL;
    cJSON_ArrayForEach(c, o) {
        if (cJSON_IsNumber(c) && !isfinite(c->valuedouble)) break;
    }
    /* each said as it is: "(no \"epoch\")" was said of a line of broken JSON, and of "epoch": -1 */
    const char *bad = stray                 ? "not JSON (it holds a raw control character)"
                      : deep               ? "its arrays and objects nest too deep for cJSON"
                      : !o                 ? "not JSON"
                      : more               ? "more after its JSON value"
                      : !cJSON_IsObject(o) ? "not a JSON object"
                      : !e                 ? "no \"epoch\""
                      : !cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1e9) ||
                              e->valuedouble != floor(e->valuedouble)
                          ? "its \"epoch\" is not a whole number from 0 to 1e9"
                          : NULL;
    int epoch = bad || c ? -1 : (int)e->valuedouble;
    if (bad) {
        snprintf(why, cap, " is not a record of a training log (%s)", bad);
    } else if (c) {
        char kb[64];
        snprintf(why, cap, ": \"%s\" is not a finite number", shown(c->string, kb, sizeof kb));
    }
    if (more) cJSON_Delete(o), o = NULL;
    if (obj) *obj = o;
    else cJSON_Delete(o);
    return epoch;
}

int mnist_read_log_stream(FILE *f, const char *name, mnist_epoch_stats *s, int cap, mnist_err *err) {
    char *line = NULL; /* a record of any length to LOG_LINE_MAX: read_line grows it */
    size_t size = 0;
    int n = 0, lineno = 0, rc = 0, skipped = 0, cut;
    mnist_err none;
    if (!err) err = &none; /* as every other function takes NULL */
    err->msg[0] = '\0';
    for (;;) {
        errno = 0;
        ssize_t len = read_line(f, &line, &size, LOG_LINE_MAX, &cut);
        if (len < 0) {
            if (!feof(f)) rc = errf(err, "%s: read failed: %s", name, strerror(errno ? errno : EIO));
            break;
        }
        lineno++;
        if (cut) {
            rc = errf(err, "%s: line %d is longer than %d bytes: not a record of a training log", name, lineno,
                      LOG_LINE_MAX);
            break;
        }
        /* a NUL ends the string the parser sees: a line of binary was taken for a blank one, and
         * a record followed by a NUL and anything at all was read as the record */
        if (memchr(line, '\0', (size_t)len)) {
            rc = errf(err, "%s: line %d holds a NUL byte: not a record of a training log", name, lineno);
            break;
        }
        if (line[strspn(line, " \t\r\n")] == '\0') continue;
        cJSON *o;
        char why[128];
        int epoch = log_record(line, &o, why, sizeof why);
        if (!o && json_ran_out()) { /* not a line cut short, nor one of broken JSON */
            rc = errf(err, "%s: line %d: out of memory", name, lineno);
            break;
        }
        /* a last line with no newline that is no JSON was cut short as it was written (a run killed,
         * a full disk): skipped, and said in err, rather than the whole log refused */
        if (!o && line[len - 1] != '\n') {
            skipped = lineno;
            break;
        }
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
        if (epoch < 0) {
            rc = errf(err, "%s: line %d%s", name, lineno, why);
        } else {
            /* A run resumed from a checkpoint older than the log's end appended epochs the log had
             * already (train --resume now cuts the log back first; older logs hold them): its
             * records replace those from that epoch on, which the model no longer descends from,
             * so the epochs kept rise and are the history of the last run. */
            while (n > 0 && s[n - 1].epoch >= epoch) n--;
            if (n == cap) {
                rc = errf(err, "%s: more than %d records", name, cap);
            } else {
                mnist_epoch_stats *st = &s[n++];
                memset(st, 0, sizeof *st);
                st->epoch = epoch;
                if (cJSON_IsNumber(l)) st->loss = l->valuedouble, st->steps = 1;
                get_eval(o, "train", &st->train);
                get_eval(o, "validation", &st->valid);
                get_eval(o, "test", &st->test);
            }
        }
        cJSON_Delete(o);
        if (rc) break;
    }
    free(line);
    if (rc == 0 && n == 0) rc = errf(err, "%s: no records%s", name, skipped ? " (its one line is cut short)" : "");
    else if (rc == 0 && skipped)
        errf(err, "%s: line %d is cut short (no newline, not one JSON record): skipped", name, skipped);
    return rc ? rc : n;
}

int mnist_read_log(const char *path, mnist_epoch_stats *s, int cap, mnist_err *err) {
    FILE *f = open_input(path, err);
    if (!f) return -1;
    int n = mnist_read_log_stream(f, path, s, cap, err);
    fclose(f);
    return n;
}

/* "Nice" tick step for a range. */
static double tick_step(double span) {
    double raw = span / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10);
}

/* The ticks of an axis from lo to hi: the multiples of step in it, the first in *first; their count, at most
 * MAX_TICKS. By index, not by adding the step (which need not move t when t is large). */
static int ticks(double lo, double hi, double step, double *first) {
    *first = ceil(lo / step) * step;
    int n = 0;
    while (n < MAX_TICKS && *first + n * step <= hi) n++;
    return n;
}

/* One panel at (x0, y0): axes, ticks, a line per series. */
static void panel(FILE *f, int x0, int y0, const char *title, const mnist_epoch_stats *s, int n,
                  double (*val)(const mnist_epoch_stats *, int), int first) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int k = first; k < NCURVES; k++) {
            double v = val(&s[i], k);
            if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
        }
    if (!isfinite(lo)) lo = 0, hi = 1;
    /* beyond 1e300 the span (and its padding) could overflow: such points sit on the panel's edge */
    lo = fmax(lo, -1e300), hi = fmin(hi, 1e300);
    /* A flat curve, or one whose changes are lost at its size (1e20 and the next double), gets a
     * range around it, wide enough for ticks the doubles can tell apart. */
    if (hi - lo < 1e-9 * fmax(1, fmax(fabs(lo), fabs(hi)))) {
        double mid = lo / 2 + hi / 2, w = fmax(0.5, 0.05 * fabs(mid));
        lo = mid - w, hi = mid + w;
    }
    double pad = 0.05 * (hi - lo);
    lo -= pad, hi += pad;
    double e0 = s[0].epoch, e1 = e0; /* the epochs' span, in whatever order they come */
    for (int i = 1; i < n; i++) e0 = fmin(e0, s[i].epoch), e1 = fmax(e1, s[i].epoch);
    if (e1 == e0) e1 = e0 + 1;
#define PX(e) (x0 + PANEL_W * ((e) - e0) / (e1 - e0))
#define PY(v) (y0 + PANEL_H * (1 - (fmin(fmax((v), lo), hi) - lo) / (hi - lo)))
    fprintf(f, "<text x='%d' y='%d' font-size='15' font-weight='bold'>%s</text>\n", x0, y0 - 12, title);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#444'/>\n", x0, y0, PANEL_W, PANEL_H);
    /* labels with the digits that tell one tick from the next */
    double st = tick_step(hi - lo), t0;
    int digits = (int)fmin(17, fmax(6, ceil(log10(fmax(fabs(lo), fabs(hi)) / st)) + 1));
    for (int i = 0, nt = ticks(lo, hi, st, &t0); i < nt; i++) {
        double t = t0 + i * st;
        fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/><text x='%d' y='%.1f' font-size='11' "
                   "text-anchor='end'>%.*g</text>\n",
                x0, x0 + PANEL_W, PY(t), PY(t), x0 - 6, PY(t) + 4, digits, fabs(t) < 1e-6 * st ? 0 : t);
    }
    /* whole epochs, at multiples of the step as the values' ticks are (a log resumed at epoch 7 had 7, 12, 17),
     * written whole (%g wrote 1e+09 for each tick of a log near epoch 1e9) */
    double es = fmax(1, round(tick_step(e1 - e0))), te;
    for (int i = 0, nt = ticks(e0, e1, es, &te); i < nt; i++)
        fprintf(f, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%.0f</text>\n", PX(te + i * es),
                y0 + PANEL_H + 16, te + i * es);
    fprintf(f, "<text x='%.1f' y='%d' font-size='12' text-anchor='middle'>epoch</text>\n", x0 + PANEL_W / 2.0,
            y0 + PANEL_H + 34);
    for (int k = first; k < NCURVES; k++) {
        int any = 0;
        for (int i = 0; i < n; i++) any |= isfinite(val(&s[i], k));
        if (!any) continue;
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2'%s points='", curves[k].color,
                curves[k].dashed ? " stroke-dasharray='5,4'" : "");
        for (int i = 0; i < n; i++)
            if (isfinite(val(&s[i], k))) fprintf(f, "%.1f,%.1f ", PX(s[i].epoch), PY(val(&s[i], k)));
        fprintf(f, "'/>\n");
        for (int i = 0; i < n; i++)
            if (isfinite(val(&s[i], k)))
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'><title>%s, epoch %d: %.4f</title></circle>\n",
                        PX(s[i].epoch), PY(val(&s[i], k)), curves[k].color, curves[k].name, s[i].epoch,
                        val(&s[i], k));
    }
#undef PX
#undef PY
}

int mnist_plot_curves(const char *path, const struct mnist_epoch_stats_ *s, int n, mnist_err *err) {
    if (n < 1) return errf(err, "%s: no epochs to plot", path);
    atomic_file a;
    if (atomic_open(&a, path, err)) return -1;
    FILE *f = a.f;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n", W, H + 40);
    panel(f, LEFT, TOP, "Loss (mean NLL)", s, n, loss_of, 0);
    panel(f, LEFT + PANEL_W + 90, TOP, "Accuracy", s, n, acc_of, 1);
    int lx = LEFT;
    for (int k = 0; k < NCURVES; k++) {
        /* only the curves drawn: a run of --no-train-eval, or without --validation (--recipe best is both),
         * named "train" and "validation" beside no line */
        int any = 0;
        for (int i = 0; i < n; i++) any |= isfinite(loss_of(&s[i], k)) || isfinite(acc_of(&s[i], k));
        if (!any) continue;
        fprintf(f, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='%s' stroke-width='2'%s/>"
                   "<text x='%d' y='%d' font-size='12'>%s</text>\n",
                lx, lx + 24, H + 22, H + 22, curves[k].color, curves[k].dashed ? " stroke-dasharray='5,4'" : "",
                lx + 30, H + 26, curves[k].name);
        lx += 40 + 7 * (int)strlen(curves[k].name);
    }
    fprintf(f, "</svg>\n");
    return atomic_commit(&a, err); /* says why a write failed: 'write failed' did not */
}

/* Escape text for SVG. */
static void text(FILE *f, const char *s) {
    for (; *s; s++)
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
}

int mnist_plot_confusion(const char *path, const int conf[MNIST_CLASSES][MNIST_CLASSES],
                         const char *const *classes, mnist_err *err) {
    static const char *const digits[MNIST_CLASSES] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    if (!classes) classes = digits; /* a caller's NULL was read through */
    enum { CELL = 48, X0 = 130, Y0 = 90 };
    int most = 1, total = 0, right = 0;
    for (int i = 0; i < MNIST_CLASSES; i++)
        for (int j = 0; j < MNIST_CLASSES; j++) {
            total += conf[i][j];
            if (i == j) right += conf[i][j];
            if (conf[i][j] > most) most = conf[i][j];
        }
    atomic_file a;
    if (atomic_open(&a, path, err)) return -1;
    FILE *f = a.f;
    int size = X0 + CELL * MNIST_CLASSES + 40;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n"
               "<text x='%d' y='30' font-size='16' font-weight='bold'>Confusion matrix: %d of %d right (%.2f%%)</text>\n"
               "<text x='%d' y='%d' font-size='13' text-anchor='middle'>predicted</text>\n"
               "<text x='20' y='%d' font-size='13' transform='rotate(-90 20 %d)' text-anchor='middle'>true</text>\n",
            size, size + 20, X0, right, total, total ? 100.0 * right / total : 0.0, X0 + CELL * MNIST_CLASSES / 2,
            Y0 - 40, Y0 + CELL * MNIST_CLASSES / 2, Y0 + CELL * MNIST_CLASSES / 2);
    for (int i = 0; i < MNIST_CLASSES; i++) {
        fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='end'>", X0 - 6, Y0 + i * CELL + CELL / 2 + 4);
        text(f, classes[i]);
        fprintf(f, "</text>\n<text x='%d' y='%d' font-size='11' text-anchor='start' transform='rotate(-45 %d %d)'>",
                X0 + i * CELL + CELL / 2, Y0 - 6, X0 + i * CELL + CELL / 2, Y0 - 6);
        text(f, classes[i]);
        fprintf(f, "</text>\n");
    }
    for (int i = 0; i < MNIST_CLASSES; i++)
        for (int j = 0; j < MNIST_CLASSES; j++) {
            /* light to dark by sqrt of the count, blue on the diagonal, red off it */
            double t = sqrt((double)conf[i][j] / most);
            int r = i == j ? (int)(255 - 225 * t) : 255, g = (int)(255 - 200 * t), b = i == j ? 255 : (int)(255 - 210 * t);
            fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='rgb(%d,%d,%d)' stroke='white'>"
                       "<title>true %d, predicted %d: %d</title></rect>\n"
                       "<text x='%d' y='%d' font-size='12' text-anchor='middle' fill='%s'>%d</text>\n",
                    X0 + j * CELL, Y0 + i * CELL, CELL, CELL, r, g, b, i, j, conf[i][j], X0 + j * CELL + CELL / 2,
                    Y0 + i * CELL + CELL / 2 + 4, t > 0.6 ? "white" : "black", conf[i][j]);
        }
    fprintf(f, "</svg>\n");
    return atomic_commit(&a, err); /* says why a write failed: 'write failed' did not */
}
