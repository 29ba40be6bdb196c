/* fashion.c: a product photo (a garment, a shoe, a bag) made into the 784 inputs as Fashion-MNIST's
 * were made from Zalando's (Xiao, Rasul and Vollgraf 2017, section 2): its edges within 5% of its
 * corners' colour trimmed, its longer side resized to 28, its shorter extended to 28 about its
 * centre, its intensities negated. Two things differ, for photos not made on a shop's white: the
 * background's own shade is taken as 0 (not only white; where its corners lie on a plane, the light
 * falling evenly across it too), and a dark background is not negated
 * (the item is what differs from it either way); and the resizing averages areas (Fashion-MNIST
 * skipped rows and columns, then sharpened), which a camera's noise does not alias through. A
 * transparent background (a shop's PNG) is white, or black where nothing differs from it over white (a
 * white item cut out). An item drawn as its outline (MNIST_PREP_OUTLINE,
 * fill) is then filled, Fashion-MNIST's items being solid. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "util.h"

#define TRIM 0.05 /* a pixel within this of the corners' colour (of 255, in each channel) is background */
#define BLOB 11   /* strokes holding a BLOB x BLOB square of full ink are a dot; Fashion-MNIST's items hold 5x5 at most */

/* pixel i's red, green and blue over the shade matte, 255 or 0 (its alpha, where it has one, mixing them) */
static void rgb(const decoded *d, double matte, size_t i, double c[3]) {
    const uint8_t *p = d->px + i * (size_t)d->nc;
    int grey = d->nc <= 2, alpha = d->nc == 2 || d->nc == 4;
    double a = alpha ? p[d->nc - 1] / 255.0 : 1.0;
    for (int k = 0; k < 3; k++) c[k] = a * p[grey ? 0 : k] + (1 - a) * matte;
}

/* the median of a, b, c and d: the mean of the middle two */
static double median4(double a, double b, double c, double d) {
    double lo = fmin(fmin(a, b), fmin(c, d)), hi = fmax(fmax(a, b), fmax(c, d));
    return (a + b + c + d - lo - hi) / 2;
}

static double luma(const double c[3]) { return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]; }

/* the background's colour at pixel (x, y) of w x h: its colour at the centre, bg, and its change
 * across the frame and down it */
static void background(const double bg[3], const double across[3], const double down[3], int x, int y, int w,
                       int h, double at[3]) {
    double fx = w > 1 ? (double)x / (w - 1) - 0.5 : 0, fy = h > 1 ? (double)y / (h - 1) - 0.5 : 0;
    for (int k = 0; k < 3; k++) at[k] = bg[k] + across[k] * fx + down[k] * fy;
}

/* For an outline (fill): the cells of the 28x28 frame that its strokes touch, the item's pixels (v, bw x
 * bh) of half its strongest shade or more, each marking every cell its area scales onto (ow x oh at x0,
 * y0: one cell or two where the item shrinks, several where a small one grows) */
static void stroke_cells(const float *v, int bw, int bh, float strong, int ow, int oh, int x0, int y0,
                         uint8_t *cells) {
    memset(cells, 0, MNIST_PIXELS);
    for (int y = 0; y < bh; y++)
        for (int i = 0; i < bw; i++)
            if (v[(size_t)y * bw + i] >= 0.5f * strong)
                for (long r = (long)y * oh / bh; r <= ((long)y * oh + oh - 1) / bh; r++)
                    for (long c = (long)i * ow / bw; c <= ((long)i * ow + ow - 1) / bw; c++)
                        cells[(y0 + r) * MNIST_SIDE + x0 + c] = 1;
}

/* Which cells a path of cells free of `cells` (4-neighbours) joins to the frame's edge: 1 in out. Returns
 * how many free cells no such path reaches. */
static int edge_reach(const uint8_t *cells, uint8_t *out) {
    enum { S = MNIST_SIDE };
    int queue[MNIST_PIXELS], n = 0, clear = 0;
    memset(out, 0, MNIST_PIXELS);
    for (int i = 0; i < MNIST_PIXELS; i++) {
        int y = i / S, c = i % S;
        clear += !cells[i];
        if ((y == 0 || y == S - 1 || c == 0 || c == S - 1) && !cells[i]) out[i] = 1, queue[n++] = i;
    }
    for (int k = 0; k < n; k++) {
        int i = queue[k], y = i / S, c = i % S;
        int next[4] = {y > 0 ? i - S : -1, y < S - 1 ? i + S : -1, c > 0 ? i - 1 : -1, c < S - 1 ? i + 1 : -1};
        for (int j = 0; j < 4; j++)
            if (next[j] >= 0 && !out[next[j]] && !cells[next[j]]) out[next[j]] = 1, queue[n++] = next[j];
    }
    return clear - n;
}

/* Whether x holds a k x k square of full ink (within 1% of ink, the strokes' strongest shade): a dot, a tap on a
 * drawing pad, scaled to the frame (none of Fashion-MNIST's 70000 items holds more than 5x5 of its strongest shade) */
static int full_square(const float *x, float ink, int k) {
    int sum[MNIST_SIDE + 1][MNIST_SIDE + 1] = {{0}}; /* full pixels above and left of (y, c) */
    for (int y = 0; y < MNIST_SIDE; y++)
        for (int c = 0; c < MNIST_SIDE; c++)
            sum[y + 1][c + 1] = sum[y][c + 1] + sum[y + 1][c] - sum[y][c] + (ink > 0 && x[y * MNIST_SIDE + c] >= 0.99f * ink);
    for (int y = k; y <= MNIST_SIDE; y++)
        for (int c = k; c <= MNIST_SIDE; c++)
            if (sum[y][c] - sum[y - k][c] - sum[y][c - k] + sum[y - k][c - k] == k * k) return 1;
    return 0;
}

/* What the strokes close, filled: the cells free of strokes that no path of such cells (4-neighbours)
 * joins to the frame's edge, and the strokes' cells beside them (8-neighbours), raised to the strokes'
 * strongest shade (the pen's ink). The cells judge, not the inputs: a thin pen's outline, faint at
 * 28x28, still closes, and a gap in it narrower than a cell is closed. Where the strokes close nothing,
 * their cells are closed first (grown by a cell each way, then shrunk by one, the frame's outside
 * counted as strokes), which closes a gap of up to two free cells (an outline drawn quickly); strokes
 * that close nothing even so are left as they are. */
static void fill_closed(float *x, const uint8_t *strokes, float ink) {
    enum { S = MNIST_SIDE };
    uint8_t out[MNIST_PIXELS], grown[MNIST_PIXELS], closed[MNIST_PIXELS];
    const uint8_t *cells = strokes;
    if (edge_reach(strokes, out) == 0) { /* closing nothing: a gap of up to two cells in them closed */
        for (int pass = 0; pass < 2; pass++) { /* grown by a cell each way, then shrunk by one */
            const uint8_t *from = pass ? grown : strokes;
            uint8_t *to = pass ? closed : grown;
            for (int i = 0; i < MNIST_PIXELS; i++) {
                int y = i / S, c = i % S, any = 0, all = 1;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy, cc = c + dx;
                        int on = yy < 0 || yy >= S || cc < 0 || cc >= S ? pass : from[yy * S + cc];
                        any |= on, all &= on;
                    }
                to[i] = pass ? all : any;
            }
        }
        cells = closed;
        edge_reach(closed, out);
    }
    /* the enclosed cells, and the strokes' cells beside them (8-neighbours): the item's silhouette */
    uint8_t raise[MNIST_PIXELS] = {0};
    for (int i = 0; i < MNIST_PIXELS; i++) {
        if (out[i] || cells[i]) continue;
        int y = i / S, c = i % S;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
                if (y + dy >= 0 && y + dy < S && c + dx >= 0 && c + dx < S) raise[(y + dy) * S + c + dx] = 1;
    }
    for (int i = 0; i < MNIST_PIXELS; i++)
        if (raise[i] && !out[i] && x[i] < ink) x[i] = ink;
}

/* fashion_prepare over the shade matte; NO_ITEM (err filled) where nothing differs from the background */
enum { NO_ITEM = 1 };
static int over(const decoded *d, double matte, const char *name, int fill, float *x, mnist_err *err) {
    int w = d->w, h = d->h;
    /* the background: each channel's median over the four corners (one stray corner does not move
     * it), and where the corners lie on a plane, within TRIM (c0 + c3 = c1 + c2), that plane's slopes
     * across and down: the light falling off across a photo. The median of four corners on a plane is
     * its value at the centre. */
    size_t corner[4] = {0, (size_t)w - 1, (size_t)(h - 1) * w, (size_t)h * w - 1};
    double cc[4][3], bg[3], across[3] = {0, 0, 0}, down[3] = {0, 0, 0};
    for (int k = 0; k < 4; k++) rgb(d, matte, corner[k], cc[k]);
    int on_plane = 1;
    for (int k = 0; k < 3; k++) {
        bg[k] = median4(cc[0][k], cc[1][k], cc[2][k], cc[3][k]);
        on_plane &= fabs(cc[0][k] + cc[3][k] - cc[1][k] - cc[2][k]) <= TRIM * 255;
    }
    for (int k = 0; k < 3 && on_plane; k++) {
        across[k] = (cc[1][k] - cc[0][k] + cc[3][k] - cc[2][k]) / 2;
        down[k] = (cc[2][k] - cc[0][k] + cc[3][k] - cc[1][k]) / 2;
    }
    /* trimmed: the box of the pixels that differ from the background there by more than TRIM in a channel */
    box b = {w, h, 0, 0};
    for (int y = 0; y < h; y++)
        for (int i = 0; i < w; i++) {
            double c[3], at[3];
            rgb(d, matte, (size_t)y * w + i, c);
            background(bg, across, down, i, y, w, h, at);
            if (fabs(c[0] - at[0]) > TRIM * 255 || fabs(c[1] - at[1]) > TRIM * 255 || fabs(c[2] - at[2]) > TRIM * 255) {
                if (i < b.x0) b.x0 = i;
                if (i >= b.x1) b.x1 = i + 1;
                if (y < b.y0) b.y0 = y;
                if (y >= b.y1) b.y1 = y + 1;
            }
        }
    if (b.x1 <= b.x0) {
        int shaded = 0;
        for (int k = 0; k < 3; k++) shaded |= across[k] != 0 || down[k] != 0;
        errf(err, "%s: no item: the whole image is within %.0f%% of its background (%s its corners)", name,
             100 * TRIM, shaded ? "the light falling evenly across" : "the colour of");
        return NO_ITEM;
    }
    /* the item's shade against the background's there, 0 to 1: a light background's darker pixels, or a
     * dark one's lighter pixels (Fashion-MNIST negated its photos' white); light or dark as at its centre */
    int bw = b.x1 - b.x0, bh = b.y1 - b.y0, light = luma(bg) >= 127.5;
    float *v = malloc((size_t)bw * bh * sizeof(float));
    if (!v) return errf_no_memory(err, "%s: out of memory", name);
    for (int y = 0; y < bh; y++)
        for (int i = 0; i < bw; i++) {
            double c[3], at[3];
            rgb(d, matte, (size_t)(b.y0 + y) * w + b.x0 + i, c);
            background(bg, across, down, b.x0 + i, b.y0 + y, w, h, at);
            double l0 = luma(at), scale = light ? -1 / fmax(l0, 1) : 1 / fmax(255 - l0, 1);
            double s = (luma(c) - l0) * scale;
            v[(size_t)y * bw + i] = (float)(s < 0 ? 0 : s > 1 ? 1 : s);
        }
    /* its longer side to 28, centred */
    float out[MNIST_PIXELS], strong = 0;
    int ow, oh, S = MNIST_SIDE;
    int rc = scale_to_side(v, bw, bh, (size_t)bw, S, 1, out, &ow, &oh);
    int x0 = (S - ow) / 2, y0 = (S - oh) / 2;
    uint8_t cells[MNIST_PIXELS];
    if (fill && !rc) {
        for (size_t i = 0; i < (size_t)bw * bh; i++) strong = v[i] > strong ? v[i] : strong;
        stroke_cells(v, bw, bh, strong, ow, oh, x0, y0, cells);
    }
    free(v);
    if (rc) return errf_no_memory(err, "%s: out of memory resizing the item", name);
    memset(x, 0, MNIST_PIXELS * sizeof(float));
    for (int y = 0; y < oh; y++)
        for (int i = 0; i < ow; i++) {
            float s = out[y * ow + i];
            x[(y0 + y) * S + x0 + i] = s < 0 ? 0 : s > 1 ? 1 : s;
        }
    /* a dot (a tap on the page's pad) scaled to the frame reads as some item (a bag): say so, as photo.c does of
     * a digit */
    if (fill && full_square(x, strong, BLOB))
        return errf(err, "%s: no clear item: the strokes are one solid blob (a dot?): they hold an %dx%d square of full "
                    "ink in the 28x28 input, as none of Fashion-MNIST's 70000 items does", name, BLOB, BLOB);
    if (fill) fill_closed(x, cells, strong);
    return 0;
}

int fashion_prepare(const decoded *d, const char *name, int fill, float *x, mnist_err *err) {
    int rc = over(d, 255, name, fill, x, err);
    /* a light item on a transparent background (a white shirt cut out) vanishes over white: over black it
     * shows, as a light item on a dark background reads (it was refused, "no item") */
    if (rc == NO_ITEM && (d->nc == 2 || d->nc == 4)) rc = over(d, 0, name, fill, x, err);
    return rc == NO_ITEM ? -1 : rc;
}
