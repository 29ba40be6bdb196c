/* page.c: what on a photo of a page is the page and not ink: the lines of ruled or squared paper
 * and a notebook's margin, and a darker desk around the sheet. Both work on photo.c's working
 * copy (at most WORK_MAX a side): the desk before its ink is read, the lines on the ink as it is
 * read; both take away only what they are sure of. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "image.h"
#include "util.h"

/* ---- ruled and squared paper -------------------------------------------- */

#define LINE_TURN 6      /* degrees: the lines of a page turned up to this are found */
#define LINE_COVER 0.85f /* a line has ink along this share of its length, at least ... */
#define LINE_THICK 0.03  /* ... is at most this share of the frame's longer side thick */
#define LINE_FAINT 0.7f  /* one line alone is the page's when fainter than this share of the strokes, */
#define LINE_RULED 5     /* or when this many lines or more cross it (a ruled page's margin) */
#define LINE_BINS (WORK_MAX + 2 * 64) /* lines across: the frame's side, and 512 tan 6 degrees each way */
#define DEGREE 0.017453292519943295   /* pi / 180 */

/* One family of lines: horizontal ones (vertical = 0) are indexed along x and across y, vertical
 * ones along y and across x. Pixel (along a, across c) lies on line c + shift[a] at slope t, where
 * shift[a] = off - round(a t). */
typedef struct {
    int vertical, along, across;
    double turn; /* degrees: the turn its lines were found at (find_lines) */
    int shift[WORK_MAX];
} lines_family;

/* 1 + ceil(along tan LINE_TURN): at least 1 + the most a line turned up to LINE_TURN degrees shifts
 * across over the family's length (lrint((along - 1) tan), family_slope) */
static int family_off(const lines_family *f) {
    return (int)ceil(f->along * tan(LINE_TURN * DEGREE)) + 1;
}

static void family_slope(lines_family *f, double t) {
    int off = family_off(f);
    for (int a = 0; a < f->along; a++) f->shift[a] = off + (int)lrint(-a * t);
}

/* The line of pixel on[i] (y << 16 | x). */
static inline int line_of(const lines_family *f, uint32_t p) {
    int x = (int)(p & 0xffff), y = (int)(p >> 16);
    return f->vertical ? x + f->shift[y] : y + f->shift[x];
}

#define LINE_SAMPLE 10000 /* pixels with ink on which a slope is tried */

/* How sharply the pixels with ink, on (m of them), gather on lines at slope t: the sum of the
 * squares of their counts on each line. Counts, not sums of ink: a digit's strokes are darker than
 * a page's lines, and sums would choose the slope of the digit's bars. */
static double line_energy(lines_family *f, const uint32_t *on, long m, double t) {
    /* four counts a line, taken in turn: the pixels of a row come one after another onto the same line, and
     * one count waited on each increment before it (four times as long, here most of a photo's line search) */
    int count[4][LINE_BINS] = {{0}};
    family_slope(f, t);
    long i = 0;
    for (; i + 4 <= m; i += 4) {
        count[0][line_of(f, on[i])]++, count[1][line_of(f, on[i + 1])]++;
        count[2][line_of(f, on[i + 2])]++, count[3][line_of(f, on[i + 3])]++;
    }
    for (; i < m; i++) count[0][line_of(f, on[i])]++;
    double e = 0;
    for (int b = 0; b < LINE_BINS; b++) {
        int c = count[0][b] + count[1][b] + count[2][b] + count[3][b];
        e += (double)c * c;
    }
    return e;
}

/* The turn, within LINE_TURN degrees, at which the pixels on (m of them) gather on lines most:
 * tried in steps of 1 degree, then of 1/8 around the best. */
static double best_turn(lines_family *f, const uint32_t *on, long m) {
    double best = 0, top = -1;
    for (int d = -LINE_TURN; d <= LINE_TURN; d++) {
        double e = line_energy(f, on, m, tan(d * DEGREE));
        if (e > top) top = e, best = d;
    }
    double turn = best;
    top = -1;
    for (int k = -4; k <= 4; k++) {
        double d = best + k / 8.0, e;
        if (fabs(d) <= LINE_TURN && (e = line_energy(f, on, m, tan(d * DEGREE))) > top) top = e, turn = d;
    }
    return turn;
}

/* Whether pixel p (y << 16 | x) of the ink (w x h) lies in shade along the frame's side, across
 * the family's lines: the ink from it reaches that side within reach (0: never) with no paper (ink
 * at or under tau) between. */
static int along_side(const lines_family *f, const float *ink, int w, int h, uint32_t p, float tau, int reach) {
    int x = (int)(p & 0xffff), y = (int)(p >> 16), side = f->vertical ? w : h, c = f->vertical ? x : y;
    long step = f->vertical ? 1 : w, i = (long)y * w + x;
    for (int d = 1; d <= reach; d++) {
        if (c - d < 0) return 1;
        if (ink[i - d * step] <= tau) break;
    }
    for (int d = 1; d <= reach; d++) {
        if (c + d >= side) return 1;
        if (ink[i + d * step] <= tau) break;
    }
    return 0;
}

/* Up to LINE_SAMPLE of the pixels with ink, on (m of them), evenly spaced, into sample: of those
 * not in shade along the frame's side within reach (along_side; reach 0: of all), or of all where
 * those are too few for a line (a noisy page marks most of its pixels). Returns how many. */
static long line_sample(const lines_family *f, const float *ink, int w, int h, const uint32_t *on, long m, float tau,
                        int reach, uint32_t *sample) {
    long inside = 0;
    for (long i = 0; i < m && reach; i++) inside += !along_side(f, ink, w, h, on[i], tau, reach);
    int all = !reach || inside < f->along;
    long stride = (all ? m : inside) / LINE_SAMPLE + 1, k = 0, n = 0;
    for (long i = 0; i < m; i++)
        if (all || !along_side(f, ink, w, h, on[i], tau, reach)) {
            if (k == 0) sample[n++] = on[i]; /* every stride-th: a count down, not a division a pixel */
            k = k + 1 < stride ? k + 1 : 0;
        }
    return n;
}

/* Whether lines b and b + 1 between them have ink (over tau) along LINE_COVER of their length:
 * a thin line that lies between two lines of pixels puts half its ink in each, and may have it
 * over tau in neither along all its length. */
static int pair_covered(const lines_family *f, const float *ink, long sa, long sc, int b, float tau, int len) {
    int n = 0;
    for (int a = 0; a < f->along; a++) {
        int c = b - f->shift[a];
        if (c >= 0 && c + 1 < f->across) n += ink[c * sc + a * sa] > tau || ink[(c + 1) * sc + a * sa] > tau;
    }
    return n >= LINE_COVER * len;
}

/* Whether the pixels with ink, on (m of them), could hold a line of the family f that
 * find_lines takes, at any turn it tries: one with ink along LINE_COVER of its length in the frame,
 * that length half the frame's at least, or two side by side with ink between them along that
 * much. A line turned up to LINE_TURN degrees keeps to `off` lines of pixels across (family_slope:
 * its pixels' shift differs by off - 1 at most), two side by side to off + 1: so such a band of
 * lines across holds ink at LINE_COVER of the frame's length at least (a line that stays in the
 * frame is as long as the frame), or at half that where it meets the frame's side (a line that
 * leaves the frame, there). Where no band does, none of the turns find a line, and the search (a
 * quarter of a clean drawing's reading) is not made: the same answer. Each pixel counts for the
 * bands that hold it, in the column (row) it lies in, once: runs of bands per column, counted as
 * a difference along the bands. Pixels in any order (out of order, a column may count twice for a
 * band: never less). */
static int family_may_hold(const lines_family *f, const uint32_t *on, long m) {
    int band = family_off(f) + 1, nb = f->across + band - 1; /* bands start at c0 = 1 - band .. across - 1 */
    int lo[WORK_MAX], hi[WORK_MAX], diff[LINE_BINS + 1] = {0}; /* band starts, + 1: across + band - 1 < LINE_BINS */
    for (int a = 0; a < f->along; a++) lo[a] = 0, hi[a] = -2; /* none yet: hi + 1 < lo */
    for (long i = 0; i < m; i++) {
        int x = (int)(on[i] & 0xffff), y = (int)(on[i] >> 16);
        int a = f->vertical ? y : x, c = (f->vertical ? x : y) + band - 1; /* the bands c - band + 1 .. c, from 0 */
        int l = c - band + 1;
        if (l <= hi[a] + 1 && c + 1 >= lo[a]) { /* touches the column's run of bands: one run */
            lo[a] = l < lo[a] ? l : lo[a], hi[a] = c > hi[a] ? c : hi[a];
            continue;
        }
        if (hi[a] >= lo[a]) diff[lo[a]]++, diff[hi[a] + 1]--;
        lo[a] = l, hi[a] = c;
    }
    for (int a = 0; a < f->along; a++)
        if (hi[a] >= lo[a]) diff[lo[a]]++, diff[hi[a] + 1]--;
    int cols = 0;
    for (int b = 0; b < nb; b++) {
        cols += diff[b];
        int c0 = b - band + 1, side = c0 <= 0 || c0 + band >= f->across; /* meets the first or last line across */
        if (cols >= LINE_COVER * (side ? (f->along + 1) / 2 : f->along)) return 1; /* as find_lines weighs a length */
    }
    return 0;
}

/* Ruled or squared paper's lines, one family (fam: which; its slope and turn are set here), found in
 * the ink (w wide) where on (m pixels) marks it over tau. The slope: that of the turn at (degrees)
 * where one is given (not NAN), else the turn, within LINE_TURN degrees, whose lines gather the
 * pixels with ink most (tried in steps of 1 degree, then of 1/8 around the best, each on a sample
 * of LINE_SAMPLE of them: on 4000, the spread of a large thick digit's many pixels could hide a
 * lone margin's); where the bands found at it hold ink mostly in shade along the
 * frame's side (along_side: a vignette's dark edge, at the frame's own turn, gathers more pixels
 * than a notebook's margin at its own), looked for again on the pixels not in such shade. The lines: those with ink along LINE_COVER of their length in the
 * frame (or two side by side that have it between them, with little on either side: a thin line
 * between two lines of pixels; not the edges of a thick stroke down the frame),
 * that length at least half the frame's, in bands at most LINE_THICK of the whole photo's side
 * (frame, in pixels here) thick: in the region around a small digit, looked at closer, a page's
 * lines are as thick as in the whole photo. Each band's level (the mean of its pixels under 1.5
 * times their mean: the lines' and the paper's, not the strokes' across them) goes into take, over
 * it and a line each side (the soft edge), so that those strokes stay. The bands count when there
 * are two or more (a page has many lines), or one whose level is under LINE_FAINT of the strokes'
 * strength (strokes: that of the strongest ink): a notebook's margin, printed red or pink, is
 * lighter than a pen's ink, but one long straight stroke as strong as the ink may be the digit (a
 * '1' drawn across the frame is its own strongest ink), unless ruled (the bands of the other
 * family) is LINE_RULED or more: then it runs along 85% of a frame 4 of the page's lines tall at
 * least, and a digit written on ruled paper is one or two lines tall. Returns the bands, or 0
 * (*lone set when that is for one band as strong as the ink alone). */
static int find_lines(lines_family *fam, float *take, const float *ink, int w, const uint32_t *on, long m, float tau,
                      float strokes, int frame, int ruled, double at, int *lone) {
    *lone = 0;
    lines_family f = *fam;
    int vertical = f.vertical;
    if (m < f.along) return 0; /* not even one line's worth of ink */
    if (!family_may_hold(&f, on, m)) return 0; /* no band of lines holds enough: no turn finds one */
    int thick = (int)(LINE_THICK * frame) > 2 ? (int)(LINE_THICK * frame) : 2, h = vertical ? f.along : f.across;
    long sa = vertical ? w : 1, sc = vertical ? 1 : w;
    int len[LINE_BINS + 1], over[LINE_BINS], nb = 0;
    char lined[LINE_BINS + 1], band[LINE_BINS];
    uint32_t sample[LINE_SAMPLE];
    for (int again = 0; again < 2; again++) {
        if (isnan(at)) {
            long ns = line_sample(&f, ink, w, h, on, m, tau, again ? thick : 0, sample);
            f.turn = best_turn(&f, sample, ns);
        } else {
            f.turn = at;
        }
        family_slope(&f, tan(f.turn * DEGREE));
        /* each line's length in the frame (each a puts `across` pixels on lines shift[a] ..), and its ink */
        memset(len, 0, sizeof len), memset(over, 0, sizeof over);
        memset(lined, 0, sizeof lined), memset(band, 0, sizeof band);
        for (int a = 0; a < f.along; a++) len[f.shift[a]]++, len[f.shift[a] + f.across]--;
        for (int b = 1; b < LINE_BINS; b++) len[b] += len[b - 1];
        for (long i = 0; i < m; i++) over[line_of(&f, on[i])]++;
        for (int b = 0; b < LINE_BINS; b++) lined[b] = 2 * len[b] >= f.along && over[b] >= LINE_COVER * len[b];
        for (int b = 1; b + 2 < LINE_BINS; b++) { /* and pairs of lines between which one lies, alone */
            int l = len[b] < len[b + 1] ? len[b] : len[b + 1];
            if (!lined[b] && !lined[b + 1] && 2 * l >= f.along && over[b] + over[b + 1] >= LINE_COVER * l &&
                2 * over[b - 1] < len[b - 1] && 2 * over[b + 2] < len[b + 2] && pair_covered(&f, ink, sa, sc, b, tau, l))
                lined[b] = lined[b + 1] = 1;
        }
        nb = 0;
        for (int b = 0; b < LINE_BINS;) {
            int e = b;
            while (e < LINE_BINS && lined[e]) e++;
            if (e > b && e - b <= thick) {
                nb++;
                for (int j = b - 1; j <= e; j++)
                    if (j >= 0 && j < LINE_BINS) band[j] = 1;
            }
            b = e > b ? e : b + 1;
        }
        /* bands of shade along the frame's side, mostly: the turn again, without that shade */
        long banded = 0, side = 0;
        for (long i = 0; i < m && nb && !again && isnan(at); i++)
            if (band[line_of(&f, on[i])]) banded++, side += along_side(&f, ink, w, h, on[i], tau, thick);
        if (2 * side <= banded || !isnan(at)) break;
    }
    if (nb == 0) return 0;
    /* the level of each line of the bands, then of each band (its peak) */
    double sum[LINE_BINS] = {0}, cut_sum[LINE_BINS] = {0};
    int cut_n[LINE_BINS] = {0};
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < f.across; c++)
            for (int a = 0; a < f.along; a++) {
                int b = c + f.shift[a];
                if (!band[b]) continue;
                float v = ink[c * sc + a * sa];
                if (pass == 0) sum[b] += v;
                else if (v <= 1.5 * sum[b] / len[b]) cut_sum[b] += v, cut_n[b]++;
            }
    for (int b = 0; b < LINE_BINS;) {
        if (!band[b]) {
            b++;
            continue;
        }
        int e = b;
        float peak = 0;
        for (; e < LINE_BINS && band[e]; e++)
            if (cut_n[e] && cut_sum[e] / cut_n[e] > peak) peak = (float)(cut_sum[e] / cut_n[e]);
        for (; b < e; b++) take[b] = peak;
        if (nb == 1 && peak >= LINE_FAINT * strokes && ruled < LINE_RULED) { /* as strong as the ink: a '1', perhaps */
            *lone = 1;
            return 0;
        }
    }
    *fam = f;
    return nb;
}

/* Takes each band's level (take, by line of pixels) away over it. */
static void take_lines(const lines_family *f, const float *take, float *ink, int w) {
    long sa = f->vertical ? w : 1, sc = f->vertical ? 1 : w;
    for (int c = 0; c < f->across; c++)
        for (int a = 0; a < f->along; a++) {
            float *v = ink + c * sc + a * sa, d = take[c + f->shift[a]];
            if (d > 0) *v = *v > d ? *v - d : 0;
        }
}

/* Both families are found on the ink as it is, then taken away: on squared paper, the bands across
 * would take a fifth of each line down away (lines 3 pixels wide every 24, with their soft edges),
 * which would then have ink along less than LINE_COVER of its length. A page's lines down are square
 * to its lines across: a family that found fewer than two lines, at the turn where other ink
 * gathered most (a large digit's pixels, shade along the frame's side: a double margin's 3400
 * pixels among 57000 of a thick 2, 3/4 of a degree off, had ink along 84% of their length, and
 * stayed beside the digit), is looked for again at the turn square to the other family's two or
 * more, and what it finds there is taken where it is more lines (a margin printed a degree off
 * square, found alone at its own turn, stays found there: found square instead, a 7 touching it
 * kept a correlation of 0.57 with itself clean). A lone line as strong as the ink is looked at
 * again once the other family is known: crossed by LINE_RULED of a ruled page's lines, it is the
 * page's margin (kept, it was the digit's largest part, or joined it, and the digit read as a 1).
 * Returns the bands taken away. */
int page_remove_lines(float *ink, int w, int h, const uint32_t *on, long m, float tau, float strokes, int frame) {
    lines_family f[2] = {{0, w, h, 0, {0}}, {1, h, w, 0, {0}}};
    float take[2][LINE_BINS] = {{0}};
    int nb[2], lone[2];
    for (int v = 0; v < 2; v++) nb[v] = find_lines(&f[v], take[v], ink, w, on, m, tau, strokes, frame, 0, NAN, &lone[v]);
    for (int v = 0; v < 2; v++)
        if (nb[v] < 2 && nb[!v] >= 2) {
            lines_family g = f[v];
            float square[LINE_BINS] = {0};
            int alone, n = find_lines(&g, square, ink, w, on, m, tau, strokes, frame, nb[!v], -f[!v].turn, &alone);
            if (n > nb[v]) f[v] = g, nb[v] = n, lone[v] = 0, memcpy(take[v], square, sizeof square);
        }
    for (int v = 0; v < 2; v++)
        if (lone[v] && nb[!v] >= LINE_RULED)
            nb[v] = find_lines(&f[v], take[v], ink, w, on, m, tau, strokes, frame, nb[!v], NAN, &lone[v]);
    for (int v = 0; v < 2; v++)
        if (nb[v]) take_lines(&f[v], take[v], ink, w);
    return nb[0] + nb[1];
}

int page_lines_possible(int w, int h, const uint32_t *on, long m) {
    if (w < 1 || h < 1 || w > WORK_MAX || h > WORK_MAX) return 3; /* no working copy: no bound, both searched */
    lines_family across = {0, w, h, 0, {0}}, down = {1, h, w, 0, {0}};
    return family_may_hold(&across, on, m) | family_may_hold(&down, on, m) << 1;
}

/* ---- a page on a desk --------------------------------------------------- */

#define DESK_EDGE 0.5   /* the desk runs along half the frame's edge at least ... */
#define DESK_DARK 0.7   /* ... is darker than this share of the page's light ... */
#define DESK_GAP 0.15   /* ... by this much of the light at least ... */
#define DESK_STEP 0.6   /* ... and meets the page in a step: of the rise over 11 pixels, this share in 3 ... */
#define DESK_SHARP 0.5  /* ... along this share of where they meet */
#define DESK_FILL 0.85  /* the page fills this share of its convex hull, at least, ... */
#define DESK_LIGHT 0.75 /* ... and is light over this share of it, ... */
#define DESK_WIDE 0.25  /* ... this share of that light a 25th of the frame's shorter side inside it */
#define DESK_SMALL 0.0125 /* a page this share of the frame at least; under a fifth (a note, a card), ... */
#define DESK_NOTE 0.05  /* (a page under this share is a note's shape before any shade on it is added) */
#define DESK_LONG 3     /* ... no longer than this many times its width, ... */
#define DESK_CORNERS 0.88 /* ... and a rectangle (filling this share of its box) */

/* m (h, w: 0 or 1) eroded (grow = 0) or dilated (grow = 1) by a square of side 2r + 1, a pass
 * across and a pass down, each counting the set pixels in a running window (outside the frame
 * counts as set when eroding: a desk runs on past the edge). tmp: n bytes of scratch. */
static void square_morph(uint8_t *m, uint8_t *tmp, int w, int h, int r, int grow) {
    for (int down = 0; down < 2; down++) {
        int len = down ? h : w, lines = down ? w : h;
        long step = down ? w : 1, next = down ? 1 : w;
        for (int l = 0; l < lines; l++) {
            const uint8_t *src = m + l * next;
            uint8_t *dst = tmp + l * next;
            int count = 0;
            for (int j = -r; j <= r; j++) count += j < 0 || j >= len ? !grow : src[j * step];
            for (int j = 0; j < len; j++) {
                dst[j * step] = (uint8_t)(grow ? count > 0 : count == 2 * r + 1);
                int in = j + r + 1, gone = j - r;
                count += (in >= len ? !grow : src[in * step]) - (gone < 0 ? !grow : src[gone * step]);
            }
        }
        memcpy(m, tmp, (size_t)w * h);
    }
}

/* Whether box b, in a frame of w by h, reaches the frame's edge. */
static int at_frame_edge(const box *b, int w, int h) {
    return b->x0 == 0 || b->y0 == 0 || b->x1 == w || b->y1 == h;
}

/* Flood from the pixels in queue[0..tail) (y << 16 | x, already marked) to their 4-neighbours
 * that are unmarked and (can: NULL for any) can be reached, marking them id. Returns how many it
 * marked in all, and their box in bb. */
static long flood(uint8_t *mark, const uint8_t *can, int w, int h, uint8_t id, uint32_t *queue, long tail, box *bb) {
    *bb = (box){w, h, 0, 0};
    for (long head = 0; head < tail; head++) {
        int x = (int)(queue[head] & 0xffff), y = (int)(queue[head] >> 16);
        long i = (long)y * w + x;
        bb->x0 = x < bb->x0 ? x : bb->x0, bb->x1 = x + 1 > bb->x1 ? x + 1 : bb->x1;
        bb->y0 = y < bb->y0 ? y : bb->y0, bb->y1 = y + 1 > bb->y1 ? y + 1 : bb->y1;
        const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
        for (int d = 0; d < 4; d++) {
            int u = x + dx[d], v = y + dy[d];
            long j = i + dx[d] + (long)dy[d] * w;
            if (u >= 0 && u < w && v >= 0 && v < h && !mark[j] && (!can || can[j]))
                mark[j] = id, queue[tail++] = (uint32_t)v << 16 | (uint32_t)u;
        }
    }
    return tail;
}

/* v's bin of 64 over [0, 1] (NaN in the first) */
static inline int level(float v) {
    float l = v * 63.999f;
    return !(l > 0) ? 0 : l >= 63 ? 63 : (int)l;
}

/* Otsu's cut of a histogram of 64 levels over [0, 1]: the value at and under which is the dark
 * side; the two sides' means into dark_mean and light_mean (both the one level there is, when all
 * are in one: no two sides). */
static float otsu(const long hist[64], double *dark_mean, double *light_mean) {
    double total = 0, n = 0, best = -1, w0 = 0, s0 = 0;
    for (int l = 0; l < 64; l++) total += (double)l * hist[l], n += hist[l];
    int cut = 0;
    *dark_mean = *light_mean = n > 0 ? (total / n + 0.5) / 64 : 0;
    for (int l = 0; l < 63; l++) {
        w0 += hist[l], s0 += (double)l * hist[l];
        if (w0 == 0 || w0 == n) continue;
        double m0 = s0 / w0, m1 = (total - s0) / (n - w0), between = w0 * (n - w0) * (m0 - m1) * (m0 - m1);
        if (between > best) best = between, cut = l, *dark_mean = (m0 + 0.5) / 64, *light_mean = (m1 + 0.5) / 64;
    }
    return (cut + 1) / 64.0f;
}

/* Pixel corners, (y << 16 | x): rows first, then across, as a number's order gives them. */
static int corner_order(const void *a, const void *b) {
    uint32_t u = *(const uint32_t *)a, v = *(const uint32_t *)b;
    return (u > v) - (u < v);
}

/* Twice the signed area of the triangle o, a, b (corners y << 16 | x) */
static long cross(uint32_t o, uint32_t a, uint32_t b) {
    long oy = (long)(o >> 16), ox = (long)(o & 0xffff);
    return ((long)(a >> 16) - oy) * ((long)(b & 0xffff) - ox) - ((long)(a & 0xffff) - ox) * ((long)(b >> 16) - oy);
}

/* Whether the pixels marked id in m (w wide, at most WORK_MAX tall), all within box in, are a
 * note's or a card's shape: a rectangle turned any way, filling DESK_CORNERS of the least box
 * around them turned every 2 degrees (an ellipse fills pi / 4 of its own), no longer than
 * DESK_LONG times as wide. The box is that of each row's first and last pixel. */
static int page_is_card(const uint8_t *m, int w, const box *in, uint8_t id) {
    int first[WORK_MAX], last[WORK_MAX];
    long k = 0;
    if (in->y1 > WORK_MAX) return 0;
    for (int y = in->y0; y < in->y1; y++) {
        first[y] = -1;
        for (int x = in->x0; x < in->x1; x++)
            if (m[(long)y * w + x] == id) last[y] = x, first[y] = first[y] < 0 ? x : first[y], k++;
    }
    double least = INFINITY, side = 1, across = 1;
    for (int deg = 0; deg < 90; deg += 2) {
        double c = cos(deg * DEGREE), s = sin(deg * DEGREE), u0 = INFINITY, u1 = -INFINITY, v0 = INFINITY, v1 = -INFINITY;
        for (int y = in->y0; y < in->y1; y++)
            for (int x = first[y]; x >= 0; x = x == last[y] ? -1 : last[y]) {
                double u = x * c + y * s, v = y * c - x * s;
                u0 = fmin(u0, u), u1 = fmax(u1, u), v0 = fmin(v0, v), v1 = fmax(v1, v);
            }
        double a = (u1 - u0 + 1) * (v1 - v0 + 1);
        if (a < least) least = a, side = fmax(u1 - u0, v1 - v0) + 1, across = fmin(u1 - u0, v1 - v0) + 1;
    }
    return k >= DESK_CORNERS * least && side <= DESK_LONG * across;
}

/* The convex hull of the pixels marked id in m (w x h, h at most WORK_MAX), of the corners of each
 * row's first and last such pixel, by Andrew's monotone chain: its area, and where each row's
 * pixel centres cross it into lo[y] and hi[y] (lo over hi: the row misses it). */
static double page_hull(const uint8_t *m, int w, int h, uint8_t id, float *lo, float *hi) {
    uint32_t pt[4 * WORK_MAX], hull[4 * WORK_MAX + 1];
    int np = 0;
    if (h > WORK_MAX) return 0; /* lo, hi and pt hold no more */
    for (int y = 0; y < h; y++) {
        lo[y] = 1, hi[y] = 0;
        int l = -1, r = -1;
        for (int x = 0; x < w; x++)
            if (m[(long)y * w + x] == id) r = x, l = l < 0 ? x : l;
        if (l < 0) continue;
        pt[np++] = (uint32_t)y << 16 | (uint32_t)l, pt[np++] = (uint32_t)y << 16 | (uint32_t)(r + 1);
        pt[np++] = (uint32_t)(y + 1) << 16 | (uint32_t)l, pt[np++] = (uint32_t)(y + 1) << 16 | (uint32_t)(r + 1);
    }
    if (np < 3) return 0;
    qsort(pt, (size_t)np, sizeof *pt, corner_order);
    int k = 0;
    for (int i = 0; i < np; i++) { /* one side */
        while (k >= 2 && cross(hull[k - 2], hull[k - 1], pt[i]) <= 0) k--;
        hull[k++] = pt[i];
    }
    for (int i = np - 2, low = k + 1; i >= 0; i--) { /* and back along the other, to the first */
        while (k >= low && cross(hull[k - 2], hull[k - 1], pt[i]) <= 0) k--;
        hull[k++] = pt[i];
    }
    long twice = 0;
    for (int i = 0; i + 1 < k; i++) {
        double x0 = hull[i] & 0xffff, y0 = hull[i] >> 16, x1 = hull[i + 1] & 0xffff, y1 = hull[i + 1] >> 16;
        twice += (long)x0 * (long)y1 - (long)x1 * (long)y0;
        if (y0 == y1) continue;
        int a = (int)ceil(fmin(y0, y1) - 0.5), b = (int)floor(fmax(y0, y1) - 0.5);
        for (int y = a < 0 ? 0 : a; y <= b && y < h; y++) {
            float x = (float)(x0 + (y + 0.5 - y0) * (x1 - x0) / (y1 - y0));
            if (lo[y] > hi[y]) lo[y] = hi[y] = x;
            else lo[y] = x < lo[y] ? x : lo[y], hi[y] = x > hi[y] ? x : hi[y];
        }
    }
    return fabs((double)twice) / 2;
}

#define LIGHT_TERMS 5 /* the light's log: x, y, x^2, xy, y^2 */

/* The log of the light at (x, y), each -1/2..1/2 across the frame: the quadratic c, its mean over
 * the frame 0 (x^2 and y^2 average 1/12). */
static inline double light_log(const double *c, double x, double y) {
    return c[0] * x + c[1] * y + c[2] * (x * x - 1.0 / 12) + c[3] * x * y + c[4] * (y * y - 1.0 / 12);
}

/* Whether the dark, v at or under t times the light (c; NULL: the same all over), runs along
 * DESK_EDGE of the frame's edge (each of its pixels counted once). */
static int dark_along_edge(const float *v, int w, int h, float t, const double *c) {
    long perimeter = 2L * (w + h) - 4, dark = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x += y == 0 || y == h - 1 || x == w - 1 ? 1 : w - 1)
            dark += v[(long)y * w + x] <= (c ? t * exp(light_log(c, (x + 0.5) / w - 0.5, (y + 0.5) / h - 0.5)) : t);
    return dark >= DESK_EDGE * perimeter;
}

/* Whether v steps at (x, y), across or down, either way: of the rise over 11 pixels, from 5 before
 * to 6 after (clamped at the frame's edge), DESK_STEP within the 3 in the middle, and the rise half
 * of DESK_GAP at least (as desk_around_page takes a step where the desk meets the page) */
static inline int rises(float span, float near) {
    float up = fabsf(span), in = span < 0 ? -near : near; /* the rise made positive; no branch, for steps_row */
    return (up >= 0.5f * DESK_GAP) & (in >= DESK_STEP * up);
}

static int step_at(const float *v, int w, int h, int x, int y) {
    long i = (long)y * w + x;
    for (int d = 0; d < 2; d++) {
        int at = d ? y : x, len = d ? h : w;
        long s = d ? w : 1;
        float span = v[i + ((at + 6 < len ? at + 6 : len - 1) - at) * s] - v[i - (at > 5 ? 5 : at) * s];
        float near = v[i + ((at + 2 < len ? at + 2 : len - 1) - at) * s] - v[i - (at > 0) * s];
        if (rises(span, near)) return 1;
    }
    return 0;
}

/* step_at of each pixel of row y, into out: where all 11 pixels each way are in the frame, by a loop that the
 * compiler vectorises (a pixel at a time, this test took a tenth of a photo's time) */
static void steps_row(const float *v, int w, int h, int y, uint8_t *out) {
    const float *r = v + (long)y * w;
    long s = w;
    int x = 0;
    for (; x < w && (x < 5 || y < 5 || y + 6 >= h); x++) out[x] = (uint8_t)step_at(v, w, h, x, y);
    for (; x + 6 < w; x++)
        out[x] = (uint8_t)(rises(r[x + 6] - r[x - 5], r[x + 2] - r[x - 1]) |
                           rises(r[x + 6 * s] - r[x - 5 * s], r[x + 2 * s] - r[x - s]));
    for (; x < w; x++) out[x] = (uint8_t)step_at(v, w, h, x, y);
}

/* A frame's light split in two at Otsu's threshold t (its 64 levels), the means of the halves, and
 * whether the dark at t runs along DESK_EDGE of the frame's edge (-1: not asked yet). find_desk
 * and find_desk_by_steps both start from it on the same frame: made once, asked once. */
typedef struct {
    float t;
    double dark, light;
    int along_edge;
} light_split;

static void split_light(const float *v, long n, light_split *s) {
    long hist[64] = {0};
    for (long i = 0; i < n; i++) hist[level(v[i])]++;
    s->t = otsu(hist, &s->dark, &s->light);
    s->along_edge = -1;
}

static int split_along_edge(const float *v, int w, int h, light_split *s) {
    if (s->along_edge < 0) s->along_edge = dark_along_edge(v, w, h, s->t, NULL);
    return s->along_edge;
}

/* A page photographed on a darker desk: the desk would read as ink, and the page's edge as the
 * largest stroke. Split the light at Otsu's threshold; the desk is the dark that reaches the
 * frame's edge (opened, so that lines and strokes do not reach it), when it runs along DESK_EDGE
 * of that edge, is darker than DESK_DARK of the page and by DESK_GAP, meets the page in a step
 * (not a vignette's slope) along DESK_SHARP of their border, and leaves one page (a fifth of the
 * frame, DESK_FILL of its convex hull, DESK_LIGHT light, that light wide). Returns whether it found one:
 * then the desk (but for the inside of the page's hull), grown by a 64th of the frame (the sheet's
 * soft edge, its shadow), is marked in scratch's last third, and page_level is the page's light. */
static int desk_around_page(const float *v, int w, int h, float t, const uint8_t *lit, uint8_t *scratch, uint8_t big,
                            long big_n, int r);

static int find_desk(const float *v, int w, int h, light_split *sp, uint8_t *scratch, uint32_t *queue,
                     double *page_level) {
    long n = (long)w * h;
    float t = sp->t;
    /* the two halves far enough apart for a desk and a page (tested again on the parts found) */
    if (sp->dark > DESK_DARK * sp->light || sp->light - sp->dark < DESK_GAP) return 0;
    if (!split_along_edge(v, w, h, sp)) return 0; /* most photos stop here: paper at the edge */
    long perimeter = 2L * (w + h) - 4;
    /* the dark, opened by a square of about a 25th of the frame's side: a page's lines and a pen's
     * strokes go, a desk around the page stays. Each pass counts the dark in a running window. */
    size_t bytes = (size_t)w * (size_t)h;
    uint8_t *dark_px = scratch, *tmp = dark_px + bytes, *out = tmp + bytes;
    int side = w > h ? w : h, r = side / 50 > 3 ? side / 50 : 3;
    for (long i = 0; i < n; i++) dark_px[i] = v[i] <= t;
    square_morph(dark_px, tmp, w, h, r, 0);
    square_morph(dark_px, tmp, w, h, r, 1);
    /* the desk: that dark where it reaches the frame's edge, and all it touches */
    memset(out, 0, bytes);
    long tail = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x += y == 0 || y == h - 1 || x == w - 1 ? 1 : w - 1) {
            long i = (long)y * w + x;
            if (dark_px[i]) out[i] = 1, queue[tail++] = (uint32_t)y << 16 | (uint32_t)x;
        }
    long edge = tail;
    box bb;
    flood(out, dark_px, w, h, 1, queue, tail, &bb);
    /* the opening rounded the desk's corners and dropped its narrow parts: what is dark within r
     * of it is desk too, so that it meets the page where the light changes */
    square_morph(out, tmp, w, h, r + 1, 1);
    long desk = 0;
    for (long i = 0; i < n; i++) desk += out[i] = out[i] && v[i] <= t;
    if (edge < DESK_EDGE * perimeter || desk > (1 - DESK_SMALL) * n || desk < 0.03 * n) return 0;
    /* the page's light and the desk's: their means */
    double page = 0, dark = 0;
    long np = 0;
    for (long i = 0; i < n; i++)
        if (out[i]) dark += v[i];
        else if (v[i] > t) page += v[i], np++;
    if (np < 0.8 * DESK_SMALL * n) return 0; /* the page's light, but for its ink */
    page /= np, dark /= desk;
    if (dark > DESK_DARK * page || page - dark < DESK_GAP) return 0;
    /* the page: the largest part of what the desk leaves, a fifth of the frame at least (or an
     * 80th, a note's or a card's shape), filling
     * DESK_FILL of its convex hull (a sheet turned as it may be: one five times as long as wide,
     * turned 15 degrees, fills 0.43 of its box; not chalk strokes on a board, nor the cells between a grid's
     * lines); all else becomes desk */
    int pages = 0, big = 0;
    long big_n = 0;
    box big_box = {0, 0, w, h}, frame = {0, 0, w, h};
    char at_edge[256] = {0}; /* each part, whether it reaches the frame's edge */
    for (long at = 0; at < n && pages < 250; at++) {
        if (out[at]) continue;
        uint8_t id = (uint8_t)(2 + pages++);
        box b;
        out[at] = id, queue[0] = (uint32_t)(at / w) << 16 | (uint32_t)(at % w);
        long size = flood(out, NULL, w, h, id, queue, 1, &b);
        at_edge[id] = at_frame_edge(&b, w, h);
        if (size > big_n) big_n = size, big = id, big_box = b;
    }
    /* a page under a twentieth of the frame (the desk over 95% of it, or the light under 4%: a small
     * note; DESK_NOTE) is a note's shape before any shade on it is added below: most chalk on a board is not,
     * and the search for that shade made a board's reading 1.8 ms slower (of 17), on average */
    int card = -1; /* whether the page is a note's shape: -1, not asked (or asked before it grew) */
    if (desk > (1 - DESK_NOTE) * n || np < 0.04 * n) { /* 0.04: 0.8 DESK_NOTE, the page's light but for its ink */
        card = page_is_card(out, w, &big_box, (uint8_t)big);
        if (!card) return 0;
    }
    /* a soft edge is no desk's border: shade over part of the sheet (a shadow's edge down it, a
     * vignette's corner) can be as dark as the desk, but it meets the lit page in a slope, and the
     * desk in a step. What of the desk the page reaches without crossing a step is page, each such
     * part that does not reach the frame's edge (the desk does) */
    uint8_t *mark = dark_px; /* done with: 0 where the desk has no step */
    for (int y = 0; y < h; y++) {
        steps_row(v, w, h, y, mark + (long)y * w);
        for (long i = (long)y * w; i < (long)(y + 1) * w; i++) mark[i] = mark[i] || out[i] != 1;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
            for (int d = 0; d < 4 && out[(long)y * w + x] == big; d++) {
                int u = x + dx[d], z = y + dy[d];
                long j = (long)z * w + u;
                if (u < 0 || u >= w || z < 0 || z >= h || mark[j]) continue;
                box b;
                mark[j] = 2, queue[0] = (uint32_t)z << 16 | (uint32_t)u;
                long k = flood(mark, NULL, w, h, 2, queue, 1, &b);
                int shut = !at_frame_edge(&b, w, h);
                for (long q = 0; q < k && shut; q++) { /* nor meets a part that does (a desk's lit side) */
                    long at = (long)(queue[q] >> 16) * w + (queue[q] & 0xffff);
                    shut = !at_edge[out[at - 1]] && !at_edge[out[at + 1]];
                    shut = shut && !at_edge[out[at - w]] && !at_edge[out[at + w]];
                }
                if (!shut) continue;
                for (long q = 0; q < k; q++) out[(long)(queue[q] >> 16) * w + (queue[q] & 0xffff)] = (uint8_t)big;
                big_n += k, card = -1;
            }
        }
    /* a small page: a note or a card, not a thick light stroke on a board (a 1, or a 0 with its hole) */
    if (big_n < 0.2 * n && !(card >= 0 ? card : page_is_card(out, w, &frame, (uint8_t)big))) return 0;
    if (!desk_around_page(v, w, h, t, NULL, scratch, (uint8_t)big, big_n, r)) return 0;
    *page_level = page;
    return 1;
}

/* The rest of find_desk (and of find_desk_by_steps), once the frame is split, in scratch's last
 * third, into the desk (1) and what is not (2 and on), the page being part big (big_n pixels): what
 * is light on the page is what is over t, or what lit marks (NULL: over t); r is the radius the
 * dark was opened by. Returns whether the page and the desk pass the tests; then the desk is marked
 * there as find_desk says. */
static int desk_around_page(const float *v, int w, int h, float t, const uint8_t *lit, uint8_t *scratch, uint8_t big,
                            long big_n, int r) {
    long n = (long)w * h;
    size_t bytes = (size_t)w * (size_t)h;
    uint8_t *dark_px = scratch, *tmp = dark_px + bytes, *out = tmp + bytes;
    int side = w > h ? w : h;
    float lo[WORK_MAX], hi[WORK_MAX]; /* the page's convex hull, each row's span */
    if (h > WORK_MAX || big_n < DESK_SMALL * n || big_n < DESK_FILL * page_hull(out, w, h, big, lo, hi)) return 0;
    /* a step where they meet: at each pixel of the desk's border with the page (not with the
     * desk's own lighter spots, a wood's grain or its lit side), of the rise from 5 pixels into the
     * desk to 6 into the page, DESK_STEP within the 3 in the middle */
    long sharp = 0, nstep = 0;
    for (int y = 6; y < h - 6; y++)
        for (int x = 6; x < w - 6; x++) {
            long i = (long)y * w + x;
            if (out[i] != 1) continue;
            const long dir[4] = {1, -1, w, -w};
            for (int d = 0; d < 4; d++)
                if (out[i + dir[d]] == big) {
                    float near = v[i + 2 * dir[d]] - v[i - dir[d]], span = v[i + 6 * dir[d]] - v[i - 5 * dir[d]];
                    sharp += span >= 0.5f * DESK_GAP && near >= DESK_STEP * span;
                    nstep++;
                }
        }
    if (nstep == 0 || sharp < DESK_SHARP * nstep) return 0;
    /* the desk: all but the page, and but the inside of the page's hull, deeper in it than the
     * desk's edge is grown below and was by the opening (a thick stroke that meets the sheet's edge
     * is dark that reaches the frame's edge, but within the sheet). For a small page, a note, its
     * own side in place of the frame's: by the frame's, what the desk took from a note of an 80th
     * of the frame went 19 of its 50 pixels deep, the digit's strokes near its edge with it */
    int small = big_n < 0.2 * n, own = small ? (int)sqrt((double)big_n) : side;
    int grow = own / 64 > 3 ? own / 64 : 3, m = grow + (small ? (own / 50 > 3 ? own / 50 : 3) : r) + 1;
    float deep_lo[WORK_MAX], deep_hi[WORK_MAX];
    for (int y = 0; y < h; y++) {
        deep_lo[y] = 1, deep_hi[y] = 0;
        if (y < m || y + m >= h) continue;
        float a = lo[y - m], b = hi[y - m];
        for (int d = -m; d <= m; d++) a = fmaxf(a, lo[y + d]), b = fminf(b, hi[y + d]);
        deep_lo[y] = a + m, deep_hi[y] = b - m;
    }
    long light = 0; /* mostly light: a page with a digit on it, not light strokes around dark loops */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            long i = (long)y * w + x;
            out[i] = out[i] != big && !(x + 0.5f >= deep_lo[y] && x + 0.5f <= deep_hi[y]);
            light += !out[i] && (lit ? lit[i] : v[i] > t);
        }
    if (light < DESK_LIGHT * big_n) return 0;
    /* and a sheet, not light strokes: its light is wide, a quarter of it a 25th of the frame's
     * shorter side from the dark (a digit's loops closed by its strokes can pass all the rest; a
     * digit's strokes go with the frame's shorter side, and a long sheet across a wide frame is
     * no wider than that side: a 25th of the longer took most of it) */
    for (long i = 0; i < n; i++) tmp[i] = !out[i] && (lit ? lit[i] : v[i] > t);
    uint8_t *wide = dark_px; /* done with */
    memcpy(wide, tmp, bytes);
    int across = w < h ? w : h;
    int in = big_n < 0.2 * n ? (int)fmin(across / 25, sqrt((double)big_n) / 12) : across / 25; /* a small page's 12th */
    square_morph(wide, tmp, w, h, in > 2 ? in : 2, 0);
    long inner = 0;
    for (long i = 0; i < n; i++) inner += wide[i];
    if (inner < DESK_WIDE * light) return 0;
    /* the desk, grown by a 64th of the side, or of a small page's own (the sheet's soft edge, its shadow) */
    square_morph(out, tmp, w, h, grow, 1);
    return 1;
}

/* A page under a shadow's edge, or under light that falls across the frame so that the desk on one
 * side is as light as the page on the other: no one cut splits desk from page (Otsu's puts the
 * page's shade with the desk, or the desk's lit side with the page), but the page still meets the
 * desk in a step all along, and within it the light changes softly. So the frame is split along
 * its steps: walls where the rise over 11 pixels, across or down, either way, is DESK_STEP within
 * the 3 in the middle (as desk_around_page takes a step), and the parts that no wall crosses
 * (4-neighbours). The page's part is the lightest of a tenth of the frame at least, and must be
 * lighter than what lies 3 pixels across the walls around it for half of them at least (the
 * desk's side of its edge, strokes; and some strokes' insides where a wall has a gap): not the
 * dark inside of a large light loop, a chalk 0. The desk is the parts darker than it that reach
 * the frame's edge, and the walls within 2 pixels of them (a step's dark half: where the desk then
 * meets the page, the rise is across the pixels there); all else is page, its part being what is
 * light on it. Then as find_desk, from the same early test (most photos stop there). */
static int find_desk_by_steps(const float *v, int w, int h, light_split *sp, uint8_t *scratch, uint32_t *queue,
                              double *page_level) {
    long n = (long)w * h;
    size_t bytes = (size_t)w * (size_t)h;
    uint8_t *open = scratch, *tmp = open + bytes, *out = tmp + bytes;
    if (!split_along_edge(v, w, h, sp)) return 0; /* paper at the edge */
    for (int y = 0; y < h; y++) steps_row(v, w, h, y, open + (long)y * w);
    for (long i = 0; i < n; i++) open[i] = !open[i];
    /* the parts (2 and on; 0: a wall, or past the 250th part): their size, sum and whether they reach the frame's edge */
    long size[256] = {0};
    double sum[256] = {0};
    char edge[256] = {0}, desk_part[256] = {0};
    int parts = 0, page = 0;
    memset(out, 0, bytes);
    for (long at = 0; at < n && parts < 250; at++) {
        if (out[at] || !open[at]) continue;
        uint8_t id = (uint8_t)(2 + parts++);
        box b;
        out[at] = id, queue[0] = (uint32_t)(at / w) << 16 | (uint32_t)(at % w);
        long k = flood(out, open, w, h, id, queue, 1, &b);
        for (long j = 0; j < k; j++) sum[id] += v[(long)(queue[j] >> 16) * w + (queue[j] & 0xffff)];
        size[id] = k, edge[id] = at_frame_edge(&b, w, h);
        if (k >= 0.1 * n && (!page || sum[id] / k > sum[page] / size[page])) page = id;
    }
    if (!page) return 0;
    long desk = 0;
    for (int id = 2; id < 2 + parts; id++) {
        desk_part[id] = id != page && edge[id] && sum[id] / size[id] < sum[page] / size[page];
        desk += desk_part[id] ? size[id] : 0;
    }
    if (desk < 0.03 * n || desk > 0.85 * n) return 0;
    long falls = 0, rims = 0;
    for (int y = 3; y < h - 3; y++)
        for (int x = 3; x < w - 3; x++) {
            long i = (long)y * w + x;
            const long dir[4] = {1, -1, w, -w};
            for (int d = 0; d < 4 && out[i] == page; d++)
                if (!open[i + dir[d]]) falls += v[i + 3 * dir[d]] < v[i], rims++;
        }
    if (falls < 0.5 * rims) return 0;
    uint8_t *lit = (uint8_t *)queue; /* done with */
    for (long i = 0; i < n; i++) lit[i] = out[i] == page, out[i] = !open[i] ? 3 : desk_part[out[i]] ? 1 : 2;
    for (long i = 0; i < n; i++) open[i] = out[i] == 1;
    square_morph(open, tmp, w, h, 2, 1);
    long perimeter = 2L * (w + h) - 4, along = 0, page_n = 0;
    for (long i = 0; i < n; i++) out[i] = out[i] == 1 || (out[i] == 3 && open[i]) ? 1 : 2, page_n += out[i] == 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x += y == 0 || y == h - 1 || x == w - 1 ? 1 : w - 1) along += out[(long)y * w + x] == 1;
    int side = w > h ? w : h, r = side / 50 > 3 ? side / 50 : 3;
    if (along < DESK_EDGE * perimeter || page_n < 0.2 * n || !desk_around_page(v, w, h, 0, lit, scratch, 2, page_n, r))
        return 0;
    *page_level = sum[page] / size[page];
    return 1;
}


/* ---- the light across a page on a desk ---------------------------------- */

#define LIGHT_ROUNDS 12 /* fits, each from the split the one before leaves, at most */
#define LIGHT_SAMPLES 128 /* pixels a side in the fit, at most */
#define LIGHT_MIN_SIDE 100 /* pixels on the shorter side, at least, for a fit */
#define LIGHT_OFF 1.25     /* a sample this far off its side's level, either way, is left out */
#define LIGHT_LOG_MAX 8    /* a fit whose terms or levels reach this is no photo's light: one on too few samples */

/* exp(sign L) of the light (c) along row y of a w x h frame, at x = x0, x0 + step, ... (n of
 * them), into out: along a row L is a quadratic in x, and its exp comes by two products a pixel.
 * From x to x + d, L rises by d (c0 + c3 Y + c2 (2 X + d)) (X, Y, d across the frame): q, whose own
 * ratio is s. */
static void light_row(const double *c, int w, int h, int y, int x0, int step, int n, int sign, float *out) {
    double Y = (y + 0.5) / h - 0.5, X = (x0 + 0.5) / w - 0.5, d = (double)step / w;
    double e = exp(sign * light_log(c, X, Y)), q = exp(sign * d * (c[0] + c[3] * Y + c[2] * (2 * X + d)));
    double s = exp(sign * 2 * c[2] * d * d);
    for (int i = 0; i < n; i++) {
        out[i] = (float)e;
        e *= q, q *= s;
    }
}

#define FIT_N (LIGHT_TERMS + 2) /* the terms, and the levels of the dark and the light sides */

/* Where sample k of a row or column of a grid step apart lies across a frame side n long (-0.5 to 0.5) */
static double light_at(int k, int step, int n) { return (step / 2 + k * step + 0.5) / n - 0.5; }

/* The terms of the light's quadratic at X, Y across the frame */
static void light_terms(double X, double Y, double f[LIGHT_TERMS]) {
    f[0] = X, f[1] = Y, f[2] = X * X - 1.0 / 12, f[3] = X * Y, f[4] = Y * Y - 1.0 / 12;
}

/* The light across a page on a desk lit unevenly (brighter on one side, darker at the corners), under
 * which the desk's lit side can be as light as the page's shaded side, and no one cut splits them:
 * log v as the light's quadratic (light_log) plus one level for the dark side and one for the
 * light, split at Otsu's cut of v over the light so far, fitted by least squares on a grid of at
 * most LIGHT_SAMPLES pixels a side, until the split is the one before, LIGHT_ROUNDS times at most.
 * c gets the quadratic. Returns 1 when what the light leaves may be a desk: two sides as far apart
 * as find_desk wants, the dark along DESK_EDGE of the frame's edge (on most photos, paper at the
 * edge, it is not), else 0. scratch: w h floats. */
static int fit_light(const float *v, int w, int h, float *scratch, double c[LIGHT_TERMS]) {
    /* the samples' v, log v, light and v over the light in scratch: with a step of 3 at least, and sides of
     * LIGHT_MIN_SIDE, each takes under a fifth of it; where each lies across the frame in sx and sy (at most
     * WORK_MAX a side: a step of 3 at least), so that each round's sums divide nothing again */
    int side = w > h ? w : h, step = side / LIGHT_SAMPLES > 3 ? side / LIGHT_SAMPLES : 3;
    int sw = (w - step / 2 + step - 1) / step, sh = (h - step / 2 + step - 1) / step;
    long ns = (long)sw * sh;
    float *val = scratch, *lv = scratch + ns, *light = scratch + 2 * ns, *q = scratch + 3 * ns;
    double sx[WORK_MAX], sy[WORK_MAX];
    for (int k = 0; k < sw; k++) sx[k] = light_at(k, step, w);
    for (int k = 0; k < sh; k++) sy[k] = light_at(k, step, h);
    /* the normal equations of the fit over all samples: those of the quadratic's terms are the
     * same each round, but for the samples left out (below); each side's level takes in the sums
     * over its own samples */
    double pp[LIGHT_TERMS][LIGHT_TERMS] = {{0}}, pl[LIGHT_TERMS] = {0}, all_p[LIGHT_TERMS] = {0}, sum_l = 0;
    for (int sr = 0; sr < sh; sr++)
        for (int sc = 0; sc < sw; sc++) {
            long i = (long)sr * sw + sc, at = (long)(step / 2 + sr * step) * w + step / 2 + sc * step;
            double f[LIGHT_TERMS];
            light_terms(sx[sc], sy[sr], f);
            val[i] = v[at] > 1.0f / 255 ? v[at] : 1.0f / 255; /* a log to take */
            lv[i] = logf(val[i]);
            light[i] = 1;
            for (int r = 0; r < LIGHT_TERMS; r++) {
                for (int k = 0; k < LIGHT_TERMS; k++) pp[r][k] += f[r] * f[k];
                pl[r] += f[r] * lv[i], all_p[r] += f[r];
            }
            sum_l += lv[i];
        }
    memset(c, 0, LIGHT_TERMS * sizeof *c);
    double dm = 0, lm = 0, level_of[2] = {0, 0}, last_dl = 0;
    float t = 0;
    long last_nd = -1, last_ne = -1;
    for (int round = 0; round <= LIGHT_ROUNDS; round++) {
        long hist[64] = {0};
        for (long i = 0; i < ns; i++) q[i] = val[i] / light[i], hist[level(q[i])]++;
        t = otsu(hist, &dm, &lm);
        if (round == LIGHT_ROUNDS) break; /* the split that the last light leaves */
        /* the dark side's sums, and those of the samples left out: once a light is fitted, those
         * off their side's level by over LIGHT_OFF (a pen's strokes, a shadow's edge), which would
         * bend the light around them */
        double dp[LIGHT_TERMS] = {0}, dl = 0, ep[LIGHT_TERMS][LIGHT_TERMS] = {{0}}, epl[LIGHT_TERMS] = {0};
        double e1[LIGHT_TERMS] = {0}, el = 0;
        long nd = 0, ne = 0;
        for (int sr = 0; sr < sh; sr++)
            for (int sc = 0; sc < sw; sc++) {
                long i = (long)sr * sw + sc;
                int dark = q[i] <= t;
                double f[LIGHT_TERMS];
                if (round > 0 && (q[i] > LIGHT_OFF * level_of[dark] || q[i] * LIGHT_OFF < level_of[dark])) {
                    light_terms(sx[sc], sy[sr], f);
                    for (int r = 0; r < LIGHT_TERMS; r++) {
                        for (int k = 0; k < LIGHT_TERMS; k++) ep[r][k] += f[r] * f[k];
                        epl[r] += f[r] * lv[i], e1[r] += f[r];
                    }
                    el += lv[i], ne++;
                } else if (dark) {
                    light_terms(sx[sc], sy[sr], f);
                    for (int r = 0; r < LIGHT_TERMS; r++) dp[r] += f[r];
                    dl += lv[i], nd++;
                }
            }
        if (nd < ns / 100 || ns - ne - nd < ns / 100) return 0; /* a desk is 3% of the frame, a page 20% */
        if (nd == last_nd && ne == last_ne && dl == last_dl) break; /* the split the light was fitted to */
        last_nd = nd, last_ne = ne, last_dl = dl;
        double a[FIT_N][FIT_N] = {{0}}, b[FIT_N] = {0};
        for (int r = 0; r < LIGHT_TERMS; r++) {
            for (int k = 0; k < LIGHT_TERMS; k++) a[r][k] = pp[r][k] - ep[r][k];
            a[r][5] = a[5][r] = dp[r], a[r][6] = a[6][r] = all_p[r] - e1[r] - dp[r];
            b[r] = pl[r] - epl[r];
        }
        a[5][5] = (double)nd, a[6][6] = (double)(ns - ne - nd), b[5] = dl, b[6] = sum_l - el - dl;
        if (solve_symmetric(FIT_N, &a[0][0], b)) return 0;
        for (int k = 0; k < FIT_N; k++) /* a light no photo has: a fit on too few samples */
            if (!(fabs(b[k]) < LIGHT_LOG_MAX)) return 0;
        memcpy(c, b, LIGHT_TERMS * sizeof *c);
        level_of[1] = exp(b[5]), level_of[0] = exp(b[6]);
        for (int r = 0; r < sh; r++) light_row(c, w, h, step / 2 + r * step, step / 2, step, sw, 1, light + (long)r * sw);
    }
    return dm <= DESK_DARK * lm && lm - dm >= DESK_GAP && dark_along_edge(v, w, h, t, c);
}

/* v over the light c into flat: times its inverse, a row at a time. */
static void flatten(const float *v, int w, int h, const double *c, float *flat) {
    for (int y = 0; y < h; y++) {
        float *row = flat + (long)y * w;
        light_row(c, w, h, y, 0, 1, w, -1, row);
        for (int x = 0; x < w; x++) row[x] *= v[(long)y * w + x];
    }
}

/* The desk (marked in desk) in p made paper at the page's level, page, where the light is the
 * same all over (c NULL); else as lit by c there, page being the light of the page over all of it
 * that is not desk. row: w floats of scratch. */
static void fill_desk(plane *p, const uint8_t *desk, double page, const double *c, float *row) {
    int w = p->w, h = p->h;
    if (!c) {
        for (long i = 0; i < (long)w * h; i++)
            if (desk[i]) p->v[i] = (float)page;
        return;
    }
    for (int y = 0; y < h; y++) {
        light_row(c, w, h, y, 0, 1, w, 1, row);
        for (int x = 0; x < w; x++)
            if (desk[(long)y * w + x]) p->v[(long)y * w + x] = (float)page * row[x];
    }
}

/* The desk (marked in desk) in p made paper at the page's level, page, lit as the page is: by the
 * light c where it was fitted (NULL: the same all over), the page's level then over the mean light
 * of what is not desk. row: w floats of scratch. */
static void fill_desk_lit(plane *p, const uint8_t *desk, double page, const double *c, float *row) {
    int w = p->w, h = p->h;
    if (!c) {
        fill_desk(p, desk, page, NULL, NULL);
        return;
    }
    double sum = 0;
    long count = 0;
    for (int y = 0; y < h; y++) {
        light_row(c, w, h, y, 0, 1, w, 1, row);
        for (int x = 0; x < w; x++)
            if (!desk[(long)y * w + x]) sum += row[x], count++;
    }
    fill_desk(p, desk, count ? page * count / sum : page, c, row);
}

int page_light_to_edge(const plane *p) {
    const float *v = p->v;
    int w = p->w, h = p->h, over = 0;
    long n = (long)w * h;
    for (int y = 0; y < h; y++) /* the edge all at the level of its first pixel (a photo's noise stops it here) */
        for (int x = 0; x < w; x += y == 0 || y == h - 1 || x == w - 1 ? 1 : w - 1)
            if (v[(long)y * w + x] != v[0]) return 0;
    for (long i = 0; i < n; i++) over |= v[i] > v[0]; /* and none lighter */
    return !over;
}

int page_on_desk(plane *p, uint8_t *scratch, uint32_t *queue, float *flat) {
    int w = p->w, h = p->h;
    long n = (long)w * h;
    const uint8_t *desk = scratch + 2 * (size_t)n;
    double page, c[LIGHT_TERMS];
    int fit = flat && (w < h ? w : h) >= LIGHT_MIN_SIDE;
    light_split sp, sflat; /* the frame's, for find_desk and find_desk_by_steps both; the flattened one's */
    split_light(p->v, n, &sp);
    if (find_desk(p->v, w, h, &sp, scratch, queue, &page)) { /* paper lit as the page is, the light fitted as below */
        fill_desk_lit(p, desk, page, fit && fit_light(p->v, w, h, flat, c) ? c : NULL, flat);
        return 1;
    }
    /* again with the light taken out: the desk becomes paper as the page would be lit there */
    int lit = fit && fit_light(p->v, w, h, flat, c);
    if (lit) {
        flatten(p->v, w, h, c, flat);
        split_light(flat, n, &sflat);
        if (find_desk(flat, w, h, &sflat, scratch, queue, &page)) {
            fill_desk(p, desk, page, c, flat); /* flat, read, holds a row's light */
            return 1;
        }
    }
    /* again split along the steps (not in a frame cropped tight, which has no desk) */
    if (!flat || !find_desk_by_steps(p->v, w, h, &sp, scratch, queue, &page)) return 0;
    fill_desk_lit(p, desk, page, lit ? c : NULL, flat);
    return 1;
}
