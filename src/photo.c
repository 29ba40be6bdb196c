/* photo.c: the MNIST recipe, a photo (or drawing) of a digit to the 784 inputs as MNIST's digits
 * were made (LeCun et al.: the digit size-normalised to a 20x20 box keeping its aspect ratio,
 * anti-aliased, centred in 28x28 by its centre of mass), after what a photo needs first: alpha
 * over white, luma, a smaller working copy by area averaging, a desk around the page made paper
 * and a page's ruled lines taken out (page.c), the ink's polarity, the paper's uneven lighting
 * estimated and divided out, a noise-aware threshold, the dark side of steps (a lighter desk's
 * edge) and specks dropped, a frame cropped tight read again with paper added around it, and a
 * crop to the ink.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_resize.h>

#include "blas.h"
#include "image.h"
#include "util.h"

#define BOX 20             /* MNIST's digits fill a 20x20 box ... */
#define CENTRE 14.0        /* ... whose centre of mass sits at pixel (14, 14) of 28x28 (measured) */
#define SMALL_INK 96       /* ink smaller than this (working pixels) is looked at again, closer */
#define NOISE_SAMPLES 2048 /* pixels the noise is measured on, at most */
#define BLOCK_SAMPLES 8    /* pixels a side of a block that the paper's level is taken from, at most */
#define PAPER_MIN 0.2f     /* paper darker than this is taken as this: dark paper is no paper */
#define NOISY 0.02f        /* noise (relative to the paper) above which the ink is smoothed */
#define STRONG 0.4f        /* strokes that take this share of the paper's light are a pen's */
#define FAINT 0.12f        /* strokes that take less are too faint to be ink */
#define THIN 1.5           /* strokes thinner than this in the 28x28 input are thickened ... */
#define STROKE 2.0         /* ... to this, MNIST's median (see photo_stroke_width) */
#define BLOB 11            /* ink holding a BLOB x BLOB square is a blob; no MNIST digit does */
#define PATTERN_RUNS 4     /* a row or column of the input crossing this many strokes or more ... */
#define PATTERN 0.3        /* ... in this share of the ink's rows and of its columns is a pattern (regular_pattern) */
#define REPEATS 0.4        /* ink that repeats this well along a way (repeat) is a pattern ... (repeating_pattern) */
#define UNIFORM 0.7        /* ... along both ways, or along one and is this alike moved along the other (stripes) */
#define FLAT 3             /* ink this many times as wide as tall is no digit (MNIST's: 2.2 at most) */
#define BAR 8              /* a part this many times as long as it is wide is a straight bar (keep_digit) */
#define PEN_LONG 2         /* a bar inside the frame this many times another part's side is a pen (keep_parts) */
#define UNDERLINE 6        /* a level part under the digit this many times as long as wide is a line (writers_mark) */
#define BESIDE_MASS 0.4   /* another digit beside the one kept weighs this much of the heaviest (digits_beside) */
#define BESIDE_TALL 0.7   /* ... and is this much of its height tall */
#define CHANCE 2           /* standard errors over none that neighbours' likeness must be (noise_only) */
#define ALONG 3            /* ... or along one direction alone (noise_only) */
#define SMOOTH 0.1         /* a page's light this close to a smooth one is lit so (light_rough) */

/* Why a photo's ink was not read, beside the words err gives: shadow_blank takes a page whose
 * shadow, divided out, leaves no ink for blank, but not one that ran out of memory or whose marks
 * covered the frame. NO_INK is errf's -1, NO_MEMORY the library's (photo_prepare returns it). */
enum { NO_INK = -1, NO_MEMORY = MNIST_NO_MEMORY, MARKS_COVER = -3 };

/* ---- the working copy --------------------------------------------------- */

typedef struct {
    const decoded *d;
    float bg;   /* what transparent pixels show: 1 (white paper) or 0 */
    int number; /* a number is read: the digits beside the first are kept too (keep_parts) */
} source;

/* Row y, columns x0 .. x0 + n - 1 of the source as luma in [0, 1], alpha composited over bg. One
 * plain loop per step and per number of channels, so that the compiler vectorises each. */
static void source_row(const source *s, int y, int x0, int n, float *out) {
    const decoded *d = s->d;
    const uint8_t *p = d->px + ((size_t)y * d->w + x0) * d->nc;
    switch (d->nc) {
    case 1:
        for (int i = 0; i < n; i++) out[i] = p[i] / 255.0f;
        return;
    case 2:
        for (int i = 0; i < n; i++) out[i] = p[2 * i] / 255.0f;
        break;
    case 3:
        for (int i = 0; i < n; i++)
            out[i] = (0.299f * p[3 * i] + 0.587f * p[3 * i + 1] + 0.114f * p[3 * i + 2]) / 255.0f;
        return;
    default:
        for (int i = 0; i < n; i++)
            out[i] = (0.299f * p[4 * i] + 0.587f * p[4 * i + 1] + 0.114f * p[4 * i + 2]) / 255.0f;
    }
    for (int i = 0; i < n; i++) { /* gray + alpha, RGBA */
        float a = p[i * d->nc + d->nc - 1] / 255.0f;
        out[i] = out[i] * a + s->bg * (1 - a);
    }
}

static int source_alpha_varies(const decoded *d) {
    if (d->nc != 2 && d->nc != 4) return 0;
    int lo = 255, hi = 0;
    for (size_t i = 0, n = (size_t)d->w * d->h; i < n; i++) {
        int a = d->px[i * d->nc + d->nc - 1];
        lo = a < lo ? a : lo, hi = a > hi ? a : hi;
    }
    return hi - lo > 128;
}

/* Area-averaging weights for one axis, in source pixels -> out pixels (in >= out): out pixel o
 * covers [o * r, (o + 1) * r) with r = in / out; each source pixel weighs by its overlap. Pixel o
 * takes taps pixels from first[o] on, the weights tap by tap (w[t * out + o]), 0 past its span. */
typedef struct {
    int out, taps, *first;
    float *w;
} area_axis;

static int area_axis_make(area_axis *a, int in, int out) {
    double r = (double)in / out;
    a->out = out, a->taps = (int)ceil(r) + 1;
    a->first = malloc((size_t)out * sizeof(int));
    a->w = calloc((size_t)out * a->taps, sizeof(float));
    if (!a->first || !a->w) return -1;
    for (int o = 0; o < out; o++) {
        double lo = o * r, hi = (o + 1) * r;
        int i0 = (int)floor(lo), i1 = (int)ceil(hi);
        if (i1 > in) i1 = in;
        if (i1 - i0 > a->taps) i1 = i0 + a->taps;
        a->first[o] = i0;
        for (int i = i0; i < i1; i++) {
            double c = fmin(i + 1, hi) - fmax(i, lo);
            a->w[(size_t)(i - i0) * out + o] = (float)(c > 0 ? c / r : 0);
        }
    }
    return 0;
}

static void area_axis_free(area_axis *a) {
    free(a->first);
    free(a->w);
}

/* out[c] = the area average of row over out pixel c's span, c < ax->out. Tap by tap, each a loop
 * over all of out that the compiler vectorises, so row must be readable for taps - 1 floats past
 * its end, and finite there (their weight is 0). */
static void area_row(const area_axis *ax, const float *row, float *out) {
    int n = ax->out;
    for (int c = 0; c < n; c++) out[c] = 0;
    for (int t = 0; t < ax->taps; t++) {
        const float *w = ax->w + (size_t)t * n;
        for (int c = 0; c < n; c++) out[c] += w[c] * row[ax->first[c] + t];
    }
}

/* A bw x bh image (rows stride floats apart) reduced by area averaging to out (oh, ow), ow <= bw
 * and oh <= bh: a horizontal pass over each row (copied, for area_row's padding), then a vertical
 * one. 0, or -1 out of memory. */
static int area_resize(const float *in, int bw, int bh, size_t stride, float *out, int ow, int oh) {
    area_axis ax = {0}, ay = {0};
    float *hrow = malloc((size_t)ow * sizeof(float)), *row = NULL;
    int rc = -1;
    if (!hrow || area_axis_make(&ax, bw, ow) || area_axis_make(&ay, bh, oh)) goto done;
    if (!(row = calloc((size_t)bw + ax.taps, sizeof(float)))) goto done;
    memset(out, 0, (size_t)ow * oh * sizeof(float));
    for (int o = 0; o < oh; o++)
        for (int t = 0; t < ay.taps; t++) {
            float wy = ay.w[(size_t)t * oh + o];
            if (wy == 0) continue; /* past the span (and the image) */
            memcpy(row, in + (size_t)(ay.first[o] + t) * stride, (size_t)bw * sizeof(float));
            area_row(&ax, row, hrow);
            for (int c = 0; c < ow; c++) out[(size_t)o * ow + c] += wy * hrow[c];
        }
    rc = 0;
done:
    free(hrow);
    free(row);
    area_axis_free(&ax);
    area_axis_free(&ay);
    return rc;
}

/* The size of the working copy of a rw x rh region: its longest side at most WORK_MAX. */
static void working_size(int rw, int rh, int *ow, int *oh) {
    int big = rw > rh ? rw : rh;
    double sc = big > WORK_MAX ? (double)WORK_MAX / big : 1.0;
    *ow = (int)lround(rw * sc), *oh = (int)lround(rh * sc);
    *ow = *ow < 1 ? 1 : *ow, *oh = *oh < 1 ? 1 : *oh;
}

/* The region [x0, x0 + rw) x [y0, y0 + rh) of the source into p (p->w x p->h, from working_size),
 * reduced by area averaging when it is smaller. Reads the source a row at a time, so a large photo
 * never exists as floats. Returns 0, or NO_MEMORY. */
static int working_copy(const source *s, int x0, int y0, int rw, int rh, plane *p, const char *name, mnist_err *err) {
    int ow = p->w, oh = p->h;
    if (ow == rw && oh == rh) { /* no reduction: the rows as they are */
        for (int y = 0; y < oh; y++) source_row(s, y0 + y, x0, rw, p->v + (size_t)y * ow);
        return 0;
    }
    float *row = NULL, *hrow = malloc((size_t)ow * sizeof(float));
    area_axis ax = {0}, ay = {0};
    int rc = 0;
    if (!hrow || area_axis_make(&ax, rw, ow) || area_axis_make(&ay, rh, oh) ||
        !(row = calloc((size_t)rw + ax.taps, sizeof(float)))) { /* zeros past the end: area_row's padding */
        errf(err, "%s: out of memory for a %dx%d working copy", name, ow, oh);
        rc = NO_MEMORY;
        goto done;
    }
    memset(p->v, 0, (size_t)ow * oh * sizeof(float));
    int have = -1; /* the source row whose horizontal reduction hrow holds */
    for (int o = 0; o < oh; o++) {
        float *out = p->v + (size_t)o * ow;
        for (int t = 0; t < ay.taps; t++) {
            int y = ay.first[o] + t;
            float wy = ay.w[(size_t)t * oh + o];
            if (wy == 0) continue; /* past the span (and the image) */
            if (y != have) {
                source_row(s, y0 + y, x0, rw, row);
                area_row(&ax, row, hrow);
                have = y;
            }
            for (int c = 0; c < ow; c++) out[c] += wy * hrow[c];
        }
    }
done:
    free(row);
    free(hrow);
    area_axis_free(&ax);
    area_axis_free(&ay);
    return rc;
}

/* ---- order statistics --------------------------------------------------- */

static void swapf(float *a, float *b) {
    float t = *a;
    *a = *b, *b = t;
}

/* The k-th smallest of a[0..n-1] (a is reordered so that a[0..k-1] <= a[k]): Hoare's selection,
 * for small sets. */
static float select_kth(float *a, long n, long k) {
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = a[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) swapf(&a[i++], &a[j--]);
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

/* A float's bits as an integer that orders as the float does (the sign bit flipped for positives,
 * every bit flipped for negatives), and back. */
static uint32_t order_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u ^ (-(u >> 31) | 0x80000000u);
}

static float key_value(uint32_t k) {
    uint32_t u = k ^ (k >> 31 ? 0x80000000u : 0xffffffffu);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* How many of v[0..n-1] are at most x. */
static long count_at_most(const float *v, long n, float x) {
    int c = 0; /* n < 2^31: the working copy is at most WORK_MAX a side */
    for (long i = 0; i < n; i++) c += v[i] <= x;
    return c;
}

/* The k-th smallest of v[0..n-1] (0 <= k < n), exactly: the least float that more than k of v
 * are at most, found by bisection on the floats' order keys between the least and the largest of
 * v. Each of the 30 or so steps is one count, a loop that the compiler vectorises: several times
 * less work than a selection that moves the values (and mispredicts). */
static float kth_smallest(const float *v, long n, long k) {
    uint32_t lo = UINT32_MAX, hi = 0; /* the answer's key is in [lo, hi] */
    for (long i = 0; i < n; i++) {    /* on keys, integers, whose least and largest vectorise */
        uint32_t key = order_key(v[i]);
        lo = key < lo ? key : lo;
        hi = key > hi ? key : hi;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (count_at_most(v, n, key_value(mid)) > k) hi = mid;
        else lo = mid + 1;
    }
    return key_value(lo);
}

/* The spread of the ink over the frame, which is mostly paper: 1.4826 times the median absolute
 * deviation from the median (sigma for Gaussian noise), from NOISE_SAMPLES pixels at most, evenly
 * spread (their estimate is within a few percent), of those under cut (INFINITY: all; all the same
 * where fewer than 20 are under it). t holds n floats. */
static float noise_width(const float *ink, long n, float cut, float *t) {
    long step = n / NOISE_SAMPLES + 1, m = 0;
    for (long i = 0; i < n; i += step) {
        t[m] = ink[i];
        m += ink[i] < cut;
    }
    if (m < 20)
        for (long i = (m = 0); i < n; i += step) t[m++] = ink[i];
    long k = (long)(0.5 * (m - 1) + 0.5);
    float med = kth_smallest(t, m, k);
    for (long i = 0; i < m; i++) t[i] = fabsf(t[i] - med);
    return 1.4826f * kth_smallest(t, m, k);
}

/* The noise of the ink (h, w) from pixel to pixel: from the differences between pixels 3 apart
 * along a row (past the correlation smooth3 leaves), or down a column (down: a tall stroke's
 * differences are small down it, and cross its edges along a row), 1.4826 times their median
 * absolute value over sqrt(2), from NOISE_SAMPLES of them at most. Shading, a desk and a shadow's
 * edge, which noise_width counts, change little over 3 pixels. t holds n floats. */
static float noise_local(const float *ink, int w, int h, int down, float *t) {
    int cw = down ? w : w - 3, d = down ? 3 * w : 3;
    if (cw < 1 || (down ? h : w) < 4) return 1e30f;
    long n = (long)(down ? h - 3 : h) * cw, step = n / NOISE_SAMPLES + 1, m = 0;
    for (long i = 0; i < n; i += step) {
        long at = i / cw * w + i % cw;
        t[m++] = fabsf(ink[at + d] - ink[at]);
    }
    return 1.4826f / 1.41421356f * kth_smallest(t, m, (long)(0.5 * (m - 1) + 0.5));
}

/* A 1 cropped to its own width: a frame at least TALL times as high as wide whose strokes (ink over
 * half its 20th strongest pixel, as read_ink takes them) run through TALL_ROWS of its rows and cover
 * TALL_SHARE of it at least. Such a frame is as much stroke as paper, where every other digit's
 * leaves most of it paper (a tall photo's desk along its side covers a quarter or so); returns that
 * half, under which the paper is (0: not such a frame). */
#define TALL 3
#define TALL_ROWS 0.75
#define TALL_SHARE (1.0 / 3)

static float tall_stroke(const float *ink, int w, int h) {
    long n = (long)w * h, strokes = 0;
    if (h < TALL * w || n <= 20) return 0;
    float half = 0.5f * kth_smallest(ink, n, n - 20);
    if (!(half > 0)) return 0;
    int rows = 0;
    for (int y = 0; y < h; y++) {
        int across = 0;
        for (int x = 0; x < w; x++) across += ink[(size_t)y * w + x] >= half;
        rows += across > 0, strokes += across;
    }
    return rows >= TALL_ROWS * h && strokes >= TALL_SHARE * n ? half : 0;
}

/* ---- the paper ---------------------------------------------------------- */

/* The longer of b's width and height. */
static int box_side(const box *b) {
    int w = b->x1 - b->x0, h = b->y1 - b->y0;
    return w > h ? w : h;
}

/* to grown to hold b too. */
static void box_add(box *to, const box *b) {
    to->x0 = b->x0 < to->x0 ? b->x0 : to->x0, to->y0 = b->y0 < to->y0 ? b->y0 : to->y0;
    to->x1 = b->x1 > to->x1 ? b->x1 : to->x1, to->y1 = b->y1 > to->y1 ? b->y1 : to->y1;
}

typedef struct {
    plane ink; /* ink in [0, 1], 0 where there is none (it points into mem) */
    box bb;
    int pad;             /* paper added on each side of the working copy (pad_frame), in its pixels */
    int light;           /* the ink was read light on dark */
    int clean;           /* the frame is paper to its edges, at its lightest (page_light_to_edge) */
    int edges_light;     /* the frame's edges say the ink is light (edge_light; not asked of a clean
                          * frame whose ink was read dark, nor of one with paper added; of ink read
                          * dark, only where the light outside it is not smooth, light_rough) */
    int tall;            /* a 1 cropped to its own width (tall_stroke) */
    void *mem;           /* what holds it, to free */
    float *grown;        /* the ink thickened (thicken), where it was: m->ink then points here */
    int crossings;       /* where paper was added: the times ink crossed the frame's edges */
    int weak;            /* where none was found: the dark reading's strokes were faint, or specks */
    int noise;           /* the working copy is random pixels (noise_only) ... */
    double alike;        /* ... its neighbouring pixels' correlation */
    int beside;          /* digits beside the one kept (digits_beside) */
} ink_map;

/* The level of the paper under every pixel of a plane (ink dark on light). A coarse grid of
 * blocks, each summarised by its 90th percentile (so that strokes covering most of a block still
 * leave its paper); a quadratic in x and y fitted to the blocks by least squares, first to the
 * brighter half of them, then again and again to those not far below the fit (far below is ink):
 * that is the lighting, a gradient and a vignette. What the quadratic misses (a soft shadow, and
 * the blocks inside thick strokes) is added back after a grey closing over the grid, which fills
 * the narrow dips of strokes but keeps the broad ones of shadows. The paper is kept as that model
 * and made a row at a time where it is needed (paper_row), never as a plane. */
#define GRID 24 /* blocks along the longer side */
#define NQ 6    /* terms of the quadratic */

typedef struct {
    int w, h, bs, gw, gh;  /* the plane; the side of a block; blocks across and down (<= GRID) */
    double c[NQ];          /* the quadratic, in x and y scaled to [-1, 1] */
    float e[GRID * GRID];  /* (gh, gw) what each block keeps beyond it, after the closing */
    float u[WORK_MAX];     /* per column: x scaled to [-1, 1] */
    float *across;         /* (gh, w) e interpolated along each row of block centres (paper_across) */
} paper;

/* The grid of blocks over a w x h plane (w, h <= WORK_MAX): blocks of bs pixels, at least 4, at
 * most GRID along the longer side; and each column's x in [-1, 1]. */
static void paper_grid(paper *pp, int w, int h) {
    int big = w > h ? w : h, bs = (big + GRID - 1) / GRID;
    bs = bs < 4 ? 4 : bs;
    pp->w = w, pp->h = h, pp->bs = bs, pp->gw = (w + bs - 1) / bs, pp->gh = (h + bs - 1) / bs;
    for (int x = 0; x < w; x++) pp->u[x] = (float)((2 * x + 1.0) / w - 1);
}

/* Each block of p summarised from at most BLOCK_SAMPLES x BLOCK_SAMPLES of its pixels, evenly
 * spread: hi gets their 90th percentile, the paper's level when the ink is dark; lo gets that of
 * 1 - p, the paper's level when the ink is light (1 - their 10th percentile). Both are the r-th
 * largest and smallest of a block's samples for a small r; a block keeps its r + 1 largest and
 * smallest in order, each sample going in by a branch-free insertion, and the blocks of a grid row
 * are done side by side, which the compiler vectorises. */
#define RANKS (BLOCK_SAMPLES * BLOCK_SAMPLES / 10 + 2) /* r < RANKS */

static void block_levels(const plane *p, const paper *pp, float *hi, float *lo) {
    int w = p->w, h = p->h, bs = pp->bs, gw = pp->gw, sb = (bs + BLOCK_SAMPLES - 1) / BLOCK_SAMPLES;
    int per = (bs + sb - 1) / sb; /* samples along a whole block's side */
    int ranks = (int)(per * per - 1 - (long)(0.9 * (per * per - 1) + 0.5)) + 1; /* r + 1 of a whole block */
    for (int by = 0; by < pp->gh; by++) {
        float top[RANKS][GRID], bot[RANKS][GRID]; /* per block, descending and ascending */
        for (int j = 0; j < ranks; j++)
            for (int bx = 0; bx < gw; bx++) top[j][bx] = -INFINITY, bot[j][bx] = INFINITY;
        int y1 = (by + 1) * bs < h ? (by + 1) * bs : h;
        for (int y = by * bs; y < y1; y += sb)
            for (int ix = 0; ix < per; ix++) {
                const float *row = p->v + (size_t)y * w + ix * sb;
                float up[GRID], dn[GRID]; /* the sample going in, or what it pushes on */
                int nb = (w - ix * sb + bs - 1) / bs; /* the blocks that have this sample: the last may be cut short */
                for (int bx = 0; bx < nb; bx++) up[bx] = dn[bx] = row[bx * bs];
                for (int bx = nb; bx < gw; bx++) up[bx] = -INFINITY, dn[bx] = INFINITY;
                for (int j = 0; j < ranks; j++)
                    for (int bx = 0; bx < gw; bx++) {
                        float t = top[j][bx], b = bot[j][bx], u = up[bx], d = dn[bx];
                        top[j][bx] = u > t ? u : t, up[bx] = u > t ? t : u;
                        bot[j][bx] = d < b ? d : b, dn[bx] = d < b ? b : d;
                    }
            }
        for (int bx = 0; bx < gw; bx++) {
            int x1 = (bx + 1) * bs < w ? (bx + 1) * bs : w;
            int n = ((x1 - bx * bs + sb - 1) / sb) * ((y1 - by * bs + sb - 1) / sb);
            int r = n - 1 - (int)(0.9 * (n - 1) + 0.5); /* the 90th percentile's rank from the top */
            hi[by * gw + bx] = top[r][bx], lo[by * gw + bx] = 1 - bot[r][bx];
        }
    }
}

/* The quadratic's terms are u^a v^b: 1, u, v, u^2, uv, v^2. */
static const int QA[NQ] = {0, 1, 0, 2, 1, 0}, QB[NQ] = {0, 0, 1, 0, 1, 2};

/* The least-squares quadratic c through the levels g of the blocks marked in use, the blocks'
 * centres being u[bx], v[by] in [-1, 1]. Its normal equations sum t t^T over the blocks, whose
 * entries are the moments sum u^a v^b (a + b <= 4): a grid row shares v, so each row's sums of u^a
 * are taken once and then weighed by the row's powers of v. Returns -1, c as it was, when no block
 * is in use (or the blocks in use leave it singular, which its small ridge should not let be). */
static int fit_quadratic(const float *g, const char *use, int gw, int gh, const double *u, const double *v,
                         double *c) {
    double mom[5][5] = {{0}}, gmom[3][3] = {{0}}; /* sum u^a v^b; sum g u^a v^b */
    for (int by = 0; by < gh; by++) {
        double su[5] = {0}, sg[3] = {0};
        for (int bx = 0; bx < gw; bx++) {
            int b = by * gw + bx;
            if (!use[b]) continue;
            double p = 1;
            for (int a = 0; a < 5; a++, p *= u[bx]) {
                su[a] += p;
                if (a < 3) sg[a] += p * g[b];
            }
        }
        double pv = 1;
        for (int k = 0; k < 5; k++, pv *= v[by])
            for (int a = 0; a + k < 5; a++) {
                mom[a][k] += su[a] * pv;
                if (a + k < 3) gmom[a][k] += sg[a] * pv;
            }
    }
    if (mom[0][0] < 1) return -1;
    double A[NQ][NQ], x[NQ];
    for (int i = 0; i < NQ; i++) {
        x[i] = gmom[QA[i]][QB[i]];
        for (int k = 0; k < NQ; k++) A[i][k] = mom[QA[i] + QA[k]][QB[i] + QB[k]];
    }
    for (int i = 0; i < NQ; i++) A[i][i] += 1e-9 + 1e-6 * mom[0][0]; /* a small ridge */
    if (solve_symmetric(NQ, &A[0][0], x)) return -1;
    memcpy(c, x, sizeof x);
    return 0;
}

/* The grey closing of e (gh, gw) by a (2R+1) square, in place: the largest of each square, then
 * the smallest, each square a row pass then a column pass. */
static void closing(float *e, int gw, int gh) {
    const int R = 2;
    float t[GRID * GRID];
    for (int pass = 0; pass < 4; pass++) { /* max across, max down, min across, min down */
        int down = pass & 1, least = pass >> 1;
        int n = down ? gh : gw, step = down ? gw : 1;
        for (int line = 0; line < (down ? gw : gh); line++) {
            float *l = e + (down ? line : line * gw);
            for (int i = 0; i < n; i++) {
                float m = l[i * step];
                for (int j = i - R < 0 ? 0 : i - R; j <= i + R && j < n; j++) {
                    float x = l[j * step];
                    m = least ? (x < m ? x : m) : (x > m ? x : m);
                }
                t[i] = m;
            }
            for (int i = 0; i < n; i++) l[i * step] = t[i];
        }
    }
}

/* The centre of block b (of side bs) along an axis of n pixels, in [-1, 1]. */
static double block_centre(int b, int bs, int n) {
    int end = (b + 1) * bs < n ? (b + 1) * bs : n;
    return (b * bs + end) / (double)n - 1;
}

/* After a fit to paper (ink on its low side), from its residuals e[0..n): which are paper now, into
 * use: those not far below the fit, within 3 scales and 0.02, the scale 1.4826 times the median of
 * the residuals above it (paper's residuals scatter both ways; ink's only down). 1 when use is as it
 * was: the next fit would be this one again. t holds n floats. */
static int paper_reselect(const float *e, int n, char *use, float *t) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (e[i] > 0) t[m++] = e[i];
    float scale = m ? 1.4826f * kth_smallest(t, m, m / 2) : 0;
    int same = 1;
    for (int i = 0; i < n; i++) {
        char now = e[i] > -3 * scale - 0.02f;
        same &= now == use[i];
        use[i] = now;
    }
    return same;
}

/* The paper's model from the blocks' levels g (gh, gw): the quadratic, fitted first to the brighter
 * half of the blocks, then again to those not far below the fit until they settle (6 fits at
 * most); what the blocks keep beyond it, closed. */
static void paper_fit(paper *pp, const float *g) {
    int gw = pp->gw, gh = pp->gh, ng = gw * gh, bs = pp->bs;
    double u[GRID], v[GRID]; /* block centres, in [-1, 1] */
    float absr[GRID * GRID];
    char use[GRID * GRID];
    for (int bx = 0; bx < gw; bx++) u[bx] = block_centre(bx, bs, pp->w);
    for (int by = 0; by < gh; by++) v[by] = block_centre(by, bs, pp->h);
    for (int b = 0; b < ng; b++) absr[b] = g[b];
    float gmed = select_kth(absr, ng, ng / 2);
    for (int b = 0; b < ng; b++) use[b] = g[b] >= gmed;
    double *c = pp->c;
    float *e = pp->e;
    memset(c, 0, NQ * sizeof(double));
    memset(e, 0, (size_t)ng * sizeof(float));
    for (int it = 0; it < 6; it++) {
        if (fit_quadratic(g, use, gw, gh, u, v, c)) break; /* no block left: keep the last fit */
        for (int by = 0; by < gh; by++)
            for (int bx = 0; bx < gw; bx++) {
                int b = by * gw + bx;
                double f = c[0] + u[bx] * (c[1] + u[bx] * c[3] + v[by] * c[4]) + v[by] * (c[2] + v[by] * c[5]);
                e[b] = (float)(g[b] - f);
            }
        if (paper_reselect(e, ng, use, absr)) break;
    }
    /* the closing: dips up to 4 blocks across are filled from around them */
    closing(e, gw, gh);
}

/* The first half of the bilinear interpolation of e between block centres: along each row of
 * centres, at every column, into pp->across (gh x w floats, given by the caller). */
static void paper_across(paper *pp, float *across) {
    int gw = pp->gw;
    pp->across = across;
    for (int x = 0; x < pp->w; x++) {
        float fx = (x + 0.5f) / pp->bs - 0.5f;
        fx = fx < 0 ? 0 : fx > gw - 1 ? gw - 1 : fx;
        int ix = (int)fx, jx = ix + 1 < gw ? ix + 1 : ix;
        float tx = fx - ix;
        for (int gy = 0; gy < pp->gh; gy++)
            across[(size_t)gy * pp->w + x] = pp->e[gy * gw + ix] * (1 - tx) + pp->e[gy * gw + jx] * tx;
    }
}

/* The paper's level along row y: the quadratic, plus the closed residuals interpolated down
 * between the two rows of block centres around y. */
static void paper_row(const paper *pp, int y, float *out) {
    int gh = pp->gh;
    float fy = (y + 0.5f) / pp->bs - 0.5f;
    fy = fy < 0 ? 0 : fy > gh - 1 ? gh - 1 : fy;
    int iy = (int)fy, jy = iy + 1 < gh ? iy + 1 : iy;
    float ty = fy - iy;
    const float *up = pp->across + (size_t)iy * pp->w, *dn = pp->across + (size_t)jy * pp->w;
    const double *c = pp->c;
    double v = (2 * y + 1.0) / pp->h - 1;
    float q0 = (float)(c[0] + v * (c[2] + v * c[5])), q1 = (float)(c[1] + v * c[4]), q2 = (float)c[3];
    for (int x = 0; x < pp->w; x++) {
        float u = pp->u[x];
        out[x] = q0 + u * (q1 + u * q2) + up[x] * (1 - ty) + dn[x] * ty;
    }
}

/* The paper's level at (x, y), in pixels, as paper_row has it there: where only a few points are
 * wanted (mark_steps). */
static float paper_at(const paper *pp, double x, double y) {
    double fx = (x + 0.5) / pp->bs - 0.5, fy = (y + 0.5) / pp->bs - 0.5;
    fx = fx < 0 ? 0 : fx > pp->gw - 1 ? pp->gw - 1 : fx;
    fy = fy < 0 ? 0 : fy > pp->gh - 1 ? pp->gh - 1 : fy;
    int ix = (int)fx, jx = ix + 1 < pp->gw ? ix + 1 : ix, iy = (int)fy, jy = iy + 1 < pp->gh ? iy + 1 : iy;
    double tx = fx - ix, ty = fy - iy;
    const float *e = pp->e;
    double up = e[iy * pp->gw + ix] * (1 - tx) + e[iy * pp->gw + jx] * tx;
    double dn = e[jy * pp->gw + ix] * (1 - tx) + e[jy * pp->gw + jx] * tx;
    double u = (2 * x + 1) / pp->w - 1, v = (2 * y + 1) / pp->h - 1;
    const double *c = pp->c;
    return (float)(c[0] + v * (c[2] + v * c[5]) + u * (c[1] + v * c[4] + u * c[3]) + up * (1 - ty) + dn * ty);
}

/* ---- finding the ink ---------------------------------------------------- */

/* r smoothed by [1 2 1] / 4, edges clamped, into out. */
static void smooth_row(const float *r, int w, float *out) {
    if (w == 1) {
        out[0] = r[0];
        return;
    }
    out[0] = 0.25f * r[0] + 0.5f * r[0] + 0.25f * r[1];
    for (int x = 1; x < w - 1; x++) out[x] = 0.25f * r[x - 1] + 0.5f * r[x] + 0.25f * r[x + 1];
    out[w - 1] = 0.25f * r[w - 2] + 0.5f * r[w - 1] + 0.25f * r[w - 1];
}

/* v smoothed in place by the 3x3 kernel [1 2 1]^T [1 2 1] / 16, edges clamped: each row's
 * horizontal pass is kept for the rows above and below (rows3 holds three rows). */
static void smooth3(plane *v, float *rows3) {
    int w = v->w, h = v->h;
    float *up = rows3, *mid = rows3 + w, *dn = rows3 + 2 * w;
    smooth_row(v->v, w, mid);
    memcpy(up, mid, (size_t)w * sizeof(float));
    for (int y = 0; y < h; y++) {
        if (y + 1 < h) smooth_row(v->v + (size_t)(y + 1) * w, w, dn);
        else memcpy(dn, mid, (size_t)w * sizeof(float));
        float *out = v->v + (size_t)y * w;
        for (int x = 0; x < w; x++) out[x] = 0.25f * up[x] + 0.5f * mid[x] + 0.25f * dn[x];
        float *t = up;
        up = mid, mid = dn, dn = t;
    }
}

/* The ink's connected parts are found as runs: the stretches of ink along each row, each joined
 * (union-find) to the runs of the row above that touch it, diagonals included. Work and memory go
 * with the number of runs, not of pixels. */
typedef struct {
    int y, x0, x1; /* row y, columns x0 .. x1 - 1 */
    int up;        /* the run it joined (itself for a part's first run); then -1 - its part */
} run;

static int run_root(run *r, int i) {
    while (r[i].up != i) {
        r[i].up = r[r[i].up].up; /* halve the path */
        i = r[i].up;
    }
    return i;
}

/* The runs of row `on` (w bytes, 1 where there is ink) into r from r[n]; returns the new count.
 * Eight pixels are skipped at a time where they are all paper or all ink. */
static long row_runs(const uint8_t *on, int w, int y, run *r, long n) {
    const uint64_t ink8 = 0x0101010101010101u;
    int x = 0;
    for (;;) {
        uint64_t b8;
        while (x + 8 <= w && (memcpy(&b8, on + x, 8), b8 == 0)) x += 8;
        while (x < w && !on[x]) x++;
        if (x >= w) return n;
        int x0 = x;
        while (x + 8 <= w && (memcpy(&b8, on + x, 8), b8 == ink8)) x += 8;
        while (x < w && on[x]) x++;
        r[n] = (run){y, x0, x, (int)n};
        n++;
    }
}

/* The parts of ink (on: 1 where ink > 0; 8-neighbours): each run's up becomes -1 - its part, the
 * parts numbered in the order their first pixels come row by row. r holds up to h * (w + 1) / 2
 * runs. Returns the number of runs; *nparts gets the number of parts. */
static long ink_parts(const uint8_t *on, int w, int h, run *r, int *nparts) {
    long n = 0, above = 0; /* the row above's runs: r[above .. row) */
    for (int y = 0; y < h; y++) {
        long row = n, j = above;
        n = row_runs(on + (size_t)y * w, w, y, r, n);
        for (long i = row; i < n; i++) {
            while (j < row && r[j].x1 < r[i].x0) j++; /* ends left of it, not even diagonally touching */
            for (long k = j; k < row && r[k].x0 <= r[i].x1; k++) {
                int a = run_root(r, (int)i), b = run_root(r, (int)k);
                if (a != b) r[a > b ? a : b].up = a < b ? a : b; /* the earlier run stays the root */
            }
        }
        above = row;
    }
    int parts = 0;
    for (long i = 0; i < n; i++) { /* up leads to earlier runs, the root being a part's first */
        int up = r[i].up;
        r[i].up = up == i ? -1 - parts++ : r[up].up;
    }
    *nparts = parts;
    return n;
}

/* The ink of run r in a plane w wide, negated: held aside (keep_digit, stroke_steps), or back. */
static void flip_run(float *v, int w, const run *r) {
    for (float *t = v + (size_t)r->y * w + r->x0, *e = t + (r->x1 - r->x0); t < e; t++) *t = -*t;
}

/* The spread (variance) of a part's ink along its long axis and across it, from its ink's moments mo
 * (sum v x, v y, v x^2, v y^2, v x y) and mass m; and in *tilt (unless NULL) the long axis's angle from
 * level, in radians. */
static void part_axes(const double *mo, double m, double *along, double *across, double *tilt) {
    double mx = mo[0] / m, my = mo[1] / m;
    double a = mo[2] / m - mx * mx, c = mo[3] / m - my * my, b = mo[4] / m - mx * my;
    double t = 0.5 * (a + c), d = sqrt(0.25 * (a - c) * (a - c) + b * b);
    if (tilt) *tilt = 0.5 * atan2(2 * b, a - c);
    *along = t + d, *across = t - d;
}

/* How many times as long as it is wide a part is, from its ink's moments mo (sum v x, v y, v x^2,
 * v y^2, v x y) and mass m: the square root of the ratio of the two axes' variances (a uniform bar
 * L x w: L / w); and in *tilt (unless NULL) its long axis's angle from level, in radians. */
static double part_length(const double *mo, double m, double *tilt) {
    double along, across;
    part_axes(mo, m, &along, &across, tilt);
    return across > 0 ? sqrt(along / across) : INFINITY;
}

/* Whether boxes a and b lie more than gap pixels apart, across or down. */
static int boxes_apart(const box *a, const box *b, int gap) {
    return a->x1 + gap < b->x0 || a->x0 > b->x1 + gap || a->y1 + gap < b->y0 || a->y0 > b->y1 + gap;
}

/* How far box b lies from the segment (ax, ay)-(bx, by): 0 where they meet; else the least of the
 * distances from the box's corners to the segment and from the segment's ends to the box. */
static double segment_box_gap(double ax, double ay, double bx, double by, const box *b) {
    double x0 = b->x0, y0 = b->y0, x1 = b->x1, y1 = b->y1, dx = bx - ax, dy = by - ay, ll = dx * dx + dy * dy;
    double t0 = 0, t1 = 1; /* the segment clipped to the box (Liang-Barsky): they meet where some stays */
    double pq[4][2] = {{-dx, ax - x0}, {dx, x1 - ax}, {-dy, ay - y0}, {dy, y1 - ay}};
    int meet = 1;
    for (int k = 0; k < 4 && meet; k++) {
        double pk = pq[k][0], qk = pq[k][1];
        if (pk == 0) meet = qk >= 0;
        else if (pk < 0) t0 = fmax(t0, qk / pk);
        else t1 = fmin(t1, qk / pk);
        meet = meet && t0 <= t1;
    }
    if (meet) return 0;
    double best = INFINITY, cx[4] = {x0, x1, x0, x1}, cy[4] = {y0, y0, y1, y1};
    for (int k = 0; k < 4; k++) {
        double t = ll > 0 ? ((cx[k] - ax) * dx + (cy[k] - ay) * dy) / ll : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        best = fmin(best, hypot(cx[k] - ax - t * dx, cy[k] - ay - t * dy));
    }
    double ex[2] = {ax, bx}, ey[2] = {ay, by};
    for (int k = 0; k < 2; k++)
        best = fmin(best, hypot(fmax(0, fmax(x0 - ex[k], ex[k] - x1)), fmax(0, fmax(y0 - ey[k], ey[k] - y1))));
    return best;
}

/* The mean length of part id's runs (of the runs r): about its strokes' width, more where they lie level. */
static double mean_run(const run *r, long nruns, int id) {
    double sum = 0, n = 0;
    for (long i = 0; i < nruns; i++)
        if (-1 - r[i].up == id) sum += r[i].x1 - r[i].x0, n++;
    return n ? sum / n : 0;
}

/* Whether part id (of the runs r) goes around box b: it has ink left and right of b along b's rows,
 * and above and below it across b's columns. */
static int goes_around(const run *r, long nruns, int id, const box *b) {
    int sides = 0;
    for (long i = 0; i < nruns; i++) {
        const run *u = &r[i];
        if (-1 - u->up != id) continue;
        if (u->y >= b->y0 && u->y < b->y1) sides |= (u->x0 < b->x0) | (u->x1 > b->x1) << 1;
        if (u->x0 < b->x1 && u->x1 > b->x0) sides |= (u->y < b->y0) << 2 | (u->y >= b->y1) << 3;
    }
    return sides == 15;
}

/* Where the lowest of the kept ink but part id's lies (of the runs r; rest: that ink's box): the
 * mean column of its runs in the lowest twentieth of rest's rows (the lowest row at least). */
static double lowest_ink(const run *r, long nruns, int id, const char *keep, const box *rest) {
    int from = rest->y1 - 1 - (int)(0.05 * (rest->y1 - rest->y0));
    double sum = 0, n = 0;
    for (long k = 0; k < nruns; k++) {
        int part = -1 - r[k].up;
        if (part == id || keep[part] != 1 || r[k].y < from) continue;
        sum += 0.5 * (r[k].x0 + r[k].x1) * (r[k].x1 - r[k].x0), n += r[k].x1 - r[k].x0;
    }
    return sum / n;
}

/* A line drawn under the digit, or a ring drawn around it: a writer's marks, which MNIST's digits
 * do not hold (one of its 70000 is underlined so, and its line is all that this finds in them; a
 * 5's or a 2's foot apart from the rest is as long as 4 to 5.4 times its width). Of the kept parts
 * (keep 1), a straight part (UNDERLINE) within 20 degrees of level, below the rest of the kept ink
 * by 0.15 of the rest's height at least (a 2's foot drawn apart from it is nearer: without it, the
 * 2 read as a 7) and at least 0.7 times as wide. Or shorter: a level part 2 pixels thick to a
 * quarter of the rest's height and 0.6 times as wide as the rest at least, as far below it, twice
 * as long as wide and lighter than the rest (a short thick line: 0.6 to 1 times the digit's width,
 * its pen 0.12 to 0.2 of its height, make_photo_set.py's near kind draws; with the test below, a
 * 7's, a 9's or a 5's lowest ink lay over the line's left fifth, and the line was read as the
 * digit's: 88 of 353 such lines under digits read right without them made them read wrong, 7 now).
 * Or nearer, with that thickness and width: 2.5 times as long as wide, under half the rest's
 * weight, with the rest's lowest ink not over its left fifth (where a 2's foot drawn apart starts,
 * under its diagonal's end; a 7 underlined so close is a 2 to this, and stays one). In MNIST's
 * 70000 this finds nothing more: a piece of a digit apart below the rest there is a pixel thick,
 * or heavier, or thicker, or under a 2's diagonal. Or a
 * part whose box holds the rest's and that goes around it, the rest weighing a tenth of it at
 * least. But a ring around one straight part that weighs under a quarter of it and leans 15
 * degrees or more from upright is a 0 with a slash through it that does not touch it (a ring
 * drawn around a digit holds more: a ringed 1, the lightest, weighs 0.2 to 0.47 of its ring, and
 * stands within 12 degrees of upright where under 0.3; such a slash 0.1 to 0.32 of its 0): the
 * slash is the mark, held aside (with the 0 held aside instead the slash read as a 1). Those
 * rings are make_photo_set.py's, ellipses: a round one drawn wide around a 1 leaning 15 degrees
 * or more weighs over 4 times it, and the 1 is taken for a slash (docs/predict.md says so). Returns the
 * part, or -1. */
static int writers_mark(const run *r, long nruns, int nparts, const char *keep, const box *pb, const double *mass,
                        const double *mom) {
    for (int i = 0; i < nparts; i++) {
        if (keep[i] != 1) continue;
        box rest = {INT_MAX, INT_MAX, -1, -1};
        double m = 0;
        for (int j = 0; j < nparts; j++) {
            if (j == i || keep[j] != 1) continue;
            box_add(&rest, &pb[j]);
            m += mass[j];
        }
        if (m == 0) return -1; /* one part kept: the digit */
        const box *b = &pb[i];
        double tilt, length = part_length(mom + 5 * i, mass[i], &tilt);
        int tall = rest.y1 - rest.y0, wide = rest.x1 - rest.x0, span = b->x1 - b->x0, thick = b->y1 - b->y0;
        if (fabs(tilt) <= 0.35 /* 20 degrees */ && b->y0 >= rest.y1) {
            int far = b->y0 >= rest.y1 + 0.15 * tall;
            if (length >= UNDERLINE && far && span >= 0.7 * wide) return i;
            int under = far ? length >= 2 && mass[i] < m
                            : length >= 2.5 && mass[i] < 0.5 * m &&
                                  lowest_ink(r, nruns, i, keep, &rest) >= b->x0 + 0.2 * span;
            if (under && thick >= 2 && thick <= 0.25 * tall && span >= 0.6 * wide) return i;
        }
        if (m >= 0.1 * mass[i] && b->x0 < rest.x0 && b->y0 < rest.y0 && b->x1 > rest.x1 && b->y1 > rest.y1 &&
            goes_around(r, nruns, i, &rest)) {
            int inside = -1, n = 0;
            for (int j = 0; j < nparts; j++)
                if (j != i && keep[j] == 1) inside = j, n++;
            double lean, straight = n == 1 ? part_length(mom + 5 * inside, mass[inside], &lean) : 0;
            if (straight >= 3 && m < 0.25 * mass[i] && fabs(lean) < 1.31 /* 75 degrees from level */) return inside;
            return i;
        }
    }
    return -1;
}

/* ---- a ring drawn around the digit, touching it --------------------------- */

/* A ring drawn around the digit that touches it or runs through its strokes is one part with it,
 * which writers_mark cannot hold aside: the digit was read with its ring around it (a ringed 4 as a 0
 * or an 8). Where the part's outermost ink, looked at in RING_BINS directions from its box's centre
 * (the box made round), lies on an ellipse in RING_ROUND of them (the least-squares conic through it,
 * fitted again twice on the directions within RING_FIT of it), as a pen's band (its depth along the
 * line in to the centre, the median over those directions, RING_PEN of the ellipse's radius at most)
 * with paper inside it in RING_PAPER of them, that band is taken for a ring: its pixels are the part's
 * from the ring's outer edge (in each direction the median of the 7 around, so that a stroke through
 * it or its open ends do not move it) to a pen and 2 pixels in from it, and 2 pixels out. It is held
 * aside, and the rest read again, where what lies a further pen inside weighs RING_INSIDE of the ring
 * at least, and that is not one straight stroke under RING_SLASH of it leaning 15 degrees or more (a 0
 * with a slash through it that touches it, as writers_mark says of one apart; a slash from side to
 * side of a 0 weighs 0.3 to 0.35 of it, and with writers_mark's quarter a 0 so slashed read as a 1). Measured on make_photo_set.py's
 * near kind's rings and plain digits (the lab's model): a ring's outer edge lies on the ellipse in 57
 * to 64 of the 64 directions, a 6's, a 3's or a 9's in 48 to 52 (their inward bends), a 0's in up to
 * 64; and inside it, deeper than a pen, a 0 leaves under 0.09 of its weight (slivers of an uneven
 * pen), the digits in the rings 0.13 to 0.96 (one 0.025). */
#define RING_BINS 64
#define RING_FIT 0.12
#define RING_ROUND 0.875
#define RING_PEN 0.3
#define RING_PAPER 0.6
#define RING_INSIDE 0.12
#define RING_SLASH 0.35
#define TURN 6.283185307179586 /* radians */

typedef struct {
    double cx, cy, s;  /* the box's centre and larger half-side: the conic's coordinates are (x - cx) / s, (y - cy) / s */
    double c[5];       /* the conic A X^2 + B X Y + C Y^2 + D X + E Y = 1 */
    double ex, ey, g0; /* its centre (in X, Y), and there the conic's left side less 1 (negative) */
} ring_fit;

/* Pixel (x, y)'s distance from the ellipse's centre in the ellipse's own measure: 1 on it. */
static double ring_q(const ring_fit *f, double x, double y) {
    double X = (x - f->cx) / f->s - f->ex, Y = (y - f->cy) / f->s - f->ey;
    double Q = f->c[0] * X * X + f->c[1] * X * Y + f->c[2] * Y * Y;
    return sqrt(fmax(Q, 0) / -f->g0);
}

/* Which of RING_BINS directions angle a (atan2's, radians) falls in. */
static int ring_bin(double a) {
    int k = (int)((a / TURN + 0.5) * RING_BINS);
    return k >= RING_BINS ? RING_BINS - 1 : k < 0 ? 0 : k;
}

/* The conic through the points (px, py) of the directions in use, and its centre: 0, or -1 where it
 * is no ellipse. */
static int ring_conic(ring_fit *f, const double *px, const double *py, const char *use) {
    double a[25] = {0}, b[5] = {0};
    for (int k = 0; k < RING_BINS; k++) {
        if (!use[k]) continue;
        double X = (px[k] - f->cx) / f->s, Y = (py[k] - f->cy) / f->s, t[5] = {X * X, X * Y, Y * Y, X, Y};
        for (int i = 0; i < 5; i++) {
            b[i] += t[i];
            for (int j = 0; j < 5; j++) a[5 * i + j] += t[i] * t[j];
        }
    }
    if (solve_symmetric(5, a, b)) return -1;
    double A = b[0], B = b[1], C = b[2], D = b[3], E = b[4], det = 4 * A * C - B * B;
    if (!(A > 0) || !(det > 0)) return -1;
    double X = (B * E - 2 * C * D) / det, Y = (B * D - 2 * A * E) / det;
    f->g0 = A * X * X + B * X * Y + C * Y * Y + D * X + E * Y - 1;
    if (!(f->g0 < 0)) return -1;
    f->ex = X, f->ey = Y;
    memcpy(f->c, b, sizeof f->c);
    return 0;
}

/* How far ink runs from pixel (x, y) along the line in to (ox, oy) before paper (on 0), in pixels,
 * looked at each half pixel; INFINITY where it gets there without paper. */
static double ring_depth(const uint8_t *on, int w, int h, double x, double y, double ox, double oy) {
    double dx = ox - x, dy = oy - y, len = hypot(dx, dy);
    for (int i = 0; i < (int)(2 * len); i++) {
        int u = (int)(x + dx * i / (2 * len)), v = (int)(y + dy * i / (2 * len));
        if (u < 0 || v < 0 || u >= w || v >= h || !on[(size_t)v * w + u]) return 0.5 * i;
    }
    return INFINITY;
}

/* The median of v[0..n-1] (n <= RING_BINS), the upper one of an even n. */
static double ring_median(const double *v, int n) {
    double s[RING_BINS] = {0};
    for (int i = 0; i < n; i++) {
        int at = i;
        for (; at > 0 && s[at - 1] > v[i]; at--) s[at] = s[at - 1];
        s[at] = v[i];
    }
    return s[n / 2];
}

/* Part id (of the runs r, box b) as a ring with the digit inside it: *kept gets on less the ring's
 * pixels (w h bytes, malloc'd), and it returns 1; 0 where it is no ring, -1 out of memory. */
static int ring_around(const plane *ink, const uint8_t *on, const run *r, long nruns, int id, const box *b,
                       uint8_t **kept) {
    int w = ink->w, h = ink->h;
    double ax = 0.5 * (b->x1 - b->x0), ay = 0.5 * (b->y1 - b->y0);
    if (ax < 6 || ay < 6) return 0;
    ring_fit f = {.cx = 0.5 * (b->x0 + b->x1), .cy = 0.5 * (b->y0 + b->y1), .s = fmax(ax, ay)};
    double far[RING_BINS], px[RING_BINS], py[RING_BINS];
    char use[RING_BINS];
    for (int k = 0; k < RING_BINS; k++) far[k] = -1;
    for (long i = 0; i < nruns; i++) { /* the outermost ink in each direction, the box made round */
        if (-1 - r[i].up != id) continue;
        double y = r[i].y + 0.5, t = (y - f.cy) / ay;
        for (int x = r[i].x0; x < r[i].x1; x++) {
            double u = (x + 0.5 - f.cx) / ax, d = u * u + t * t;
            int k = ring_bin(atan2(t, u));
            if (d > far[k]) far[k] = d, px[k] = x + 0.5, py[k] = y;
        }
    }
    int n = 0;
    for (int k = 0; k < RING_BINS; k++) n += use[k] = far[k] >= 0;
    for (int round = 0; round < 3; round++) {
        if (n < RING_ROUND * RING_BINS || ring_conic(&f, px, py, use)) return 0;
        n = 0;
        for (int k = 0; k < RING_BINS; k++) n += use[k] = far[k] >= 0 && fabs(ring_q(&f, px[k], py[k]) - 1) <= RING_FIT;
    }
    if (n < RING_ROUND * RING_BINS) return 0;
    double ox = f.cx + f.s * f.ex, oy = f.cy + f.s * f.ey, depth[RING_BINS], radius = 0;
    int m = 0, clear = 0; /* clear: directions with paper inside the ring */
    for (int k = 0; k < RING_BINS; k++) {
        if (!use[k]) continue;
        depth[m++] = ring_depth(on, w, h, px[k], py[k], ox, oy);
        radius += hypot(px[k] - ox, py[k] - oy) / n;
    }
    double pen = ring_median(depth, m);
    for (int i = 0; i < m; i++) clear += depth[i] <= 2 * pen + 2;
    if (!(pen <= RING_PEN * radius) || clear < RING_PAPER * m) return 0;
    double edge[RING_BINS], outer[RING_BINS]; /* the ring's outer edge in each direction (q), then smoothed */
    for (int k = 0; k < RING_BINS; k++) edge[k] = -1;
    for (long i = 0; i < nruns; i++) {
        if (-1 - r[i].up != id) continue;
        for (int x = r[i].x0; x < r[i].x1; x++) {
            double q = ring_q(&f, x + 0.5, r[i].y + 0.5);
            int k = ring_bin(atan2(r[i].y + 0.5 - oy, x + 0.5 - ox));
            if (fabs(q - 1) <= RING_FIT + 0.05 && q > edge[k]) edge[k] = q;
        }
    }
    for (int k = 0; k < RING_BINS; k++) {
        double near[7];
        int c = 0;
        for (int j = -3; j <= 3; j++)
            if (edge[(k + j + RING_BINS) % RING_BINS] >= 0) near[c++] = edge[(k + j + RING_BINS) % RING_BINS];
        outer[k] = c ? ring_median(near, c) : 1;
    }
    uint8_t *keep = malloc((size_t)w * h);
    if (!keep) return -1;
    memcpy(keep, on, (size_t)w * h);
    double ring = 0, in = 0, deep = 0, mo[5] = {0}; /* in: the part's ink inside the ring; mo: its moments */
    for (long i = 0; i < nruns; i++) {
        if (-1 - r[i].up != id) continue;
        const float *v = ink->v + (size_t)r[i].y * w;
        double y = r[i].y + 0.5;
        for (int x = r[i].x0; x < r[i].x1; x++) {
            double u = x + 0.5, q = ring_q(&f, u, y), d = hypot(u - ox, y - oy);
            double unit = d / fmax(q, 1e-9); /* pixels to 1 of q in this direction */
            double o = outer[ring_bin(atan2(y - oy, u - ox))], from = q < 0.5 ? INFINITY : o - (pen + 2) / unit;
            if (q >= from && q <= o + 2 / unit) {
                keep[(size_t)r[i].y * w + x] = 0, ring += v[x];
            } else if (q < from) {
                in += v[x], deep += q < from - pen / unit ? v[x] : 0;
                mo[0] += v[x] * u, mo[1] += v[x] * y, mo[2] += v[x] * u * u, mo[3] += v[x] * y * y, mo[4] += v[x] * u * y;
            }
        }
    }
    double lean;
    int slash = in > 0 && in < RING_SLASH * ring && part_length(mo, in, &lean) >= 3 && fabs(lean) < 1.31;
    if (!(deep >= RING_INSIDE * ring) || slash) {
        free(keep);
        return 0;
    }
    *kept = keep;
    return 1;
}

/* Other digits beside the one kept (keep: 1 kept, 2 looked at and apart; bb: the kept ink's box, kh its height): a
 * number written, "42". Joined to the kept ink (within 60% of its size), they are kept parts in groups apart along
 * the rows (order: nparts ints of scratch); apart, a part beside it on its line (half its height shared with the
 * kept box's) within its height. Either counts where it weighs BESIDE_MASS of the heaviest group (or part) and is
 * BESIDE_TALL of kh tall (an apart part 1.4 times at most, and no bar: a pen). A number read as one digit read as
 * one of its digits or as another, silently. Measured on 200 numbers of 2 or 3 MNIST test digits side by side,
 * gaps 0.05 to 0.8 of their height: 196 found (at 0.2 and 0.5 of kh, 199, but 11 of MNIST's 70000 digits found
 * others beside them, smudges on their lines, and 2 of 6000 photos, a sheet's edge; now 1 of MNIST's, a 1 with a
 * second stroke beside it, and 3 of 420 dithered photos, whose dots leave a stroke's pieces apart). */
static int digits_beside(int nparts, const char *keep, const box *pb, const double *mass, const double *mom, int big,
                         const box *bb, int *order) {
    int n = 0, kh = bb->y1 - bb->y0, k = 0;
    for (int i = 0; i < nparts; i++) {
        const box *b = &pb[i];
        int ph = b->y1 - b->y0, over = (b->y1 < bb->y1 ? b->y1 : bb->y1) - (b->y0 > bb->y0 ? b->y0 : bb->y0);
        int gap = b->x0 >= bb->x1 ? b->x0 - bb->x1 : bb->x0 - b->x1;
        n += keep[i] == 2 && mass[i] >= BESIDE_MASS * mass[big] && ph >= BESIDE_TALL * kh && 5 * ph <= 7 * kh &&
             2 * over >= (ph < kh ? ph : kh) && gap >= 0 && gap <= kh && part_length(mom + 5 * i, mass[i], NULL) < BAR;
        if (keep[i] == 1) { /* in order of their left edges */
            int j = k++;
            while (j > 0 && pb[order[j - 1]].x0 > b->x0) order[j] = order[j - 1], j--;
            order[j] = i;
        }
    }
    if (k == 0) return n;
    /* the groups: each part joins the one before where it begins left of that one's right edge; the heaviest's
     * mass first, then those that count */
    double top = 0;
    for (int pass = 0, groups = 0; pass < 2; pass++) {
        box g = pb[order[0]];
        double m = 0;
        for (int t = 0; t <= k; t++) {
            if (t == k || pb[order[t]].x0 >= g.x1) { /* the group ends */
                if (pass == 0) top = m > top ? m : top;
                else groups += m >= BESIDE_MASS * top && g.y1 - g.y0 >= BESIDE_TALL * kh;
                if (t == k) break;
                g = pb[order[t]], m = 0;
            }
            box_add(&g, &pb[order[t]]);
            m += mass[order[t]];
        }
        if (pass == 1) n += groups > 1 ? groups - 1 : 0;
    }
    return n;
}

/* A number's other digits (keep_parts, number != 0; keep: 1 kept, 2 looked at and apart; bb: the kept ink's box):
 * the parts apart from the kept ink on its line are kept too, as digits_beside counts them but for their weight (a 1
 * weighs a third of an 8) and size: a third to 1.4 times as tall as the box as it has grown (a number's digits differ
 * in size, and in their baselines), half their height within its rows, within 1.5 times its height of it across (a 1
 * written in a digit's width has paper beside it); then the parts looked at within 60% of such a part's side (a 5's
 * bar apart from the rest of it); again until none is added. *kept gets their mass. */
static void number_beside(int nparts, char *keep, const box *pb, const double *mass, box *bb, double *kept) {
    for (int added = 1; added;) {
        added = 0;
        for (int i = 0; i < nparts; i++) {
            const box *b = &pb[i];
            int kh = bb->y1 - bb->y0, ph = b->y1 - b->y0;
            int over = (b->y1 < bb->y1 ? b->y1 : bb->y1) - (b->y0 > bb->y0 ? b->y0 : bb->y0);
            int gap = b->x0 >= bb->x1 ? b->x0 - bb->x1 : bb->x0 - b->x1;
            if (keep[i] != 2 || 3 * ph < kh || 5 * ph > 7 * kh || 2 * over < (ph < kh ? ph : kh) || 2 * gap > 3 * kh)
                continue;
            keep[i] = 1, *kept += mass[i], added = 1;
            box_add(bb, b);
            for (int more = 1; more;) { /* its pieces */
                more = 0;
                for (int j = 0; j < nparts; j++)
                    if (keep[j] == 2 && !boxes_apart(&pb[j], b, (int)(0.6 * box_side(b)) + 1)) {
                        keep[j] = 1, *kept += mass[j], more = 1;
                        box_add(bb, &pb[j]);
                    }
            }
        }
    }
}

/* The ink's connected parts (8-neighbours): of those that are not along the frame's edge nor
 * faint beside the others, keep the heaviest and those near it that are not specks; the rest is
 * held aside, negated (for stroke_steps); the kept ink's bounding box, and in *part the heaviest
 * part's mass. Returns the kept mass, or -1 when out of memory. on (w x h bytes) marks the ink; r
 * holds h * (w + 1) / 2 runs. *beside: digits_beside's count. number: a number is read, its other
 * digits kept too (number_beside). */
static double keep_parts(plane *ink, const uint8_t *on, run *r, box *bb, double *part, int rings, int number,
                         int *beside) {
    int w = ink->w, h = ink->h, nparts;
    uint8_t *again = NULL; /* on less a ring found around the digit */
    *beside = 0;
    long nruns = ink_parts(on, w, h, r, &nparts);
    if (nparts == 0) return 0;
    double kept = -1; /* out of memory, until it is known */
    double *mass = calloc((size_t)nparts, sizeof(double));
    box *pb = malloc((size_t)nparts * sizeof(box));
    char *keep = calloc((size_t)nparts, 1);
    double *sq = calloc((size_t)nparts, sizeof(double));
    long *along = calloc((size_t)nparts * 4, sizeof(long)); /* per part, how far it runs along each side */
    double *mom = calloc((size_t)nparts * 5, sizeof(double)); /* per part, sum v x, v y, v x^2, v y^2, v x y */
    int *order = malloc((size_t)nparts * sizeof(int));        /* digits_beside's */
    if (!mass || !pb || !keep || !sq || !along || !mom || !order) goto done;
    for (int i = 0; i < nparts; i++) pb[i] = (box){w, h, 0, 0};
    for (long i = 0; i < nruns; i++) { /* per part: mass, box, and how much of the frame's edge it runs along */
        int id = -1 - r[i].up;
        const float *v = ink->v + (size_t)r[i].y * w;
        double m = 0, m2 = 0;
        double *mo = mom + 5 * id, y = r[i].y;
        for (int x = r[i].x0; x < r[i].x1; x++) {
            m += v[x], m2 += (double)v[x] * v[x];
            mo[0] += v[x] * x, mo[2] += (double)v[x] * x * x, mo[4] += (double)v[x] * x * y;
        }
        mo[1] += m * y, mo[3] += m * y * y;
        box *b = &pb[id];
        mass[id] += m, sq[id] += m2;
        box_add(b, &(box){r[i].x0, r[i].y, r[i].x1, r[i].y + 1});
        along[4 * id] += r[i].y == 0 ? r[i].x1 - r[i].x0 : 0; /* the top, bottom, left, right */
        along[4 * id + 1] += r[i].y == h - 1 ? r[i].x1 - r[i].x0 : 0;
        along[4 * id + 2] += r[i].x0 == 0, along[4 * id + 3] += r[i].x1 == w;
    }
    /* a part along a quarter of the frame's edge is no stroke: the desk around a page, a shadow's
     * edge, a board's frame; nor is one that runs along a side of the frame for more than twice as
     * far as it reaches in from it: a sliver of desk between the sheet's edge and the frame's (a
     * stroke meets the frame across); both are dropped */
    for (int i = 0; i < nparts; i++) {
        const box *b = &pb[i];
        long reach[4] = {b->y1, h - b->y0, b->x1, w - b->x0};
        long *a = along + 4 * i;
        if (a[0] + a[1] + a[2] + a[3] > (w + h) / 2) mass[i] = 0;
        for (int s = 0; s < 4; s++)
            if (a[s] > 2 * reach[s]) mass[i] = 0;
    }
    int big = 0;
    for (int i = 1; i < nparts; i++)
        if (mass[i] > mass[big]) big = i;
    /* one pen draws the whole digit, so its parts share a strength: a part whose ink, weighted by
     * itself (sum v^2 / sum v: 1 for a stroke at full ink), comes to under half that of the
     * strongest part that is not a speck is a faint smear (a sheet's soft edge, a shadow's
     * boundary), and is dropped, the heaviest of the rest being the digit. Half leaves room for
     * a stroke drawn lighter or thinner than the others (a pencil's pressure, blur) */
    double strongest = 0;
    for (int i = 0; i < nparts; i++)
        if (mass[i] > 0 && mass[i] >= 0.08 * mass[big] && sq[i] / mass[i] > strongest) strongest = sq[i] / mass[i];
    for (int i = 0; i < nparts; i++)
        if (mass[i] > 0 && sq[i] / mass[i] < 0.5 * strongest) mass[i] = 0;
    for (int i = 0; i < nparts; i++)
        if (mass[i] > mass[big]) big = i;
    /* a straight bar (BAR times as long as wide) that runs to the frame's edge is a pen, a pencil or a
     * ruler lying on the page, out of the photo, where a part that is no bar, no speck and no blob
     * (it covers half its box at most, as a dot or a smudge does not) lies apart from it (the bar
     * would not join it: that part's box lies further than 60% of its side from the bar's axis): that
     * part is the digit. A 1 is such a bar, but one that runs out of the photo with another stroke
     * inside it is as likely to be the pen; so is one wholly inside the photo whose box's diagonal is
     * PEN_LONG times that part's box's longer side or more and that is as wide as that part's runs
     * along the rows are long on average, or wider (a pen photographed with a digit beside it: a
     * digit's own strokes are not so long beside the rest of it, and a 1 with a mark beside it,
     * written with one pen, is no wider than the mark's strokes, whose runs are longer where they
     * lie level) */
    if (mass[big] > 0 && part_length(mom + 5 * big, mass[big], NULL) >= BAR) {
        box bar = pb[big];
        int e = (w > h ? w : h) / 25, digit = -1; /* within 4% of the frame's side, as box_in_frame */
        e = e < 3 ? 3 : e;
        int out = bar.x0 <= e || bar.y0 <= e || bar.x1 >= w - e || bar.y1 >= h - e;
        /* the bar's axis, from its moments: through its centre along its tilt, as long as a uniform bar
         * of its spread along it (a bar L long spreads L^2 / 12) */
        const double *mo = mom + 5 * big;
        double tilt, spread, across, mx = mo[0] / mass[big], my = mo[1] / mass[big];
        part_axes(mo, mass[big], &spread, &across, &tilt);
        double length = hypot(bar.x1 - bar.x0, bar.y1 - bar.y0), half = sqrt(3 * spread);
        double thick = sqrt(12 * fmax(across, 0)); /* a uniform bar's width */
        double ux = cos(tilt) * half, uy = sin(tilt) * half;
        for (int i = 0; i < nparts; i++) {
            box pbox = pb[i];
            int gap = (int)(0.6 * box_side(&pbox)) + 1;
            if (i == big || mass[i] < 0.08 * mass[big] || mass[i] > 0.5 * (pbox.x1 - pbox.x0) * (pbox.y1 - pbox.y0) ||
                part_length(mom + 5 * i, mass[i], NULL) >= BAR ||
                segment_box_gap(mx - ux, my - uy, mx + ux, my + uy, &pbox) <= gap ||
                (!out && (length < PEN_LONG * box_side(&pbox) || thick < mean_run(r, nruns, i))))
                continue;
            if (digit < 0 || mass[i] > mass[digit]) digit = i;
        }
        if (digit >= 0) mass[big] = 0, big = digit;
    }
    kept = 0;
    if (mass[big] <= 0) goto done; /* all along the edge: nothing kept */
    *bb = pb[big];
    kept = *part = mass[big];
    /* the others, heaviest first, join when they are not specks (8% of the heaviest) and lie
     * within 60% of the digit's size of what was kept so far */
    keep[big] = 1;
    for (;;) {
        int best = -1;
        for (int i = 0; i < nparts; i++)
            if (!keep[i] && mass[i] >= 0.08 * mass[big] && (best < 0 || mass[i] > mass[best])) best = i;
        if (best < 0) break;
        keep[best] = 2; /* looked at */
        int side = box_side(bb);
        int gap = (int)(0.6 * side) + 1;
        box b = pb[best];
        if (boxes_apart(&b, bb, gap)) continue;
        keep[best] = 1;
        kept += mass[best];
        box_add(bb, &b);
    }
    if (number) number_beside(nparts, keep, pb, mass, bb, &kept);
    *beside = digits_beside(nparts, keep, pb, mass, mom, big, bb, order);
    int mark = writers_mark(r, nruns, nparts, keep, pb, mass, mom);
    if (mark < 0 && rings) {
        int found = ring_around(ink, on, r, nruns, big, &pb[big], &again);
        if (found < 0) {
            kept = -1;
            goto done;
        }
        if (found) {
            for (size_t i = 0; i < (size_t)w * h; i++) /* the ring held aside */
                if (on[i] && !again[i]) ink->v[i] = -ink->v[i];
            goto done;
        }
    }
    if (mark >= 0) { /* held aside, and the digit's box and mass are the rest's */
        keep[mark] = 2, kept -= mass[mark], *part = 0;
        *bb = (box){w, h, 0, 0};
        for (int i = 0; i < nparts; i++) {
            if (keep[i] != 1) continue;
            box_add(bb, &pb[i]);
            *part = mass[i] > *part ? mass[i] : *part;
        }
    }
    for (long i = 0; i < nruns; i++)
        if (keep[-1 - r[i].up] != 1) flip_run(ink->v, w, &r[i]);
done:
    free(mass);
    free(pb);
    free(keep);
    free(sq);
    free(along);
    free(mom);
    free(order);
    if (again) {
        kept = keep_parts(ink, again, r, bb, part, 0, 0, beside);
        free(again);
    }
    return kept;
}

/* keep_parts, a ring around the digit looked for too; of a number (number != 0), its digits kept
 * and no ring looked for (a 0 of the number would be one) */
static double keep_digit(plane *ink, const uint8_t *on, run *r, box *bb, double *part, int number, int *beside) {
    return keep_parts(ink, on, r, bb, part, !number, number, beside);
}

/* Steps that are strokes. A digit cropped tight runs along the frame's edge (a 7's bar along the
 * top of a crop that ends at the bar), and there its pixels see paper on one side only, as a
 * step's do: mark_steps takes them, and the bar's end, apart from the rest, is then a speck to
 * keep_digit (a 7 read as a 1). What those two took away is held in ink negated. Of its parts
 * (8-neighbours), one that touches the digit's heaviest part, as strong (sum v^2 / sum v: at least
 * STROKE_STEP of that part's), and a band along a side of the frame, at least three times as long
 * as it is deep and no deeper than three times that part's strokes are wide, is a stroke of the
 * digit, and joins it; the rest is zeroed. A step that meets a digit is the edge of a desk or a
 * shadow: fainter than a pen when narrow (a desk lighter than page_on_desk takes, a shadow), else
 * as deep as the desk. Not any kept part: keep_digit keeps a piece of a desk's edge that is near
 * the digit, and the rest of that edge would join it; a band, not any shape: a sheet read the
 * wrong way round is one broad part, and its edges are steps that touch it. The band's depth is
 * that of its pixels of more than half ink (a stroke's faint rim, taken with it, may run on along
 * another); the width is photo_stroke_width's measure, twice the area over the outline, which is
 * 0.6 to 0.9 of a pen's width here (a slanted stroke's outline is a staircase). Returns the mass
 * that joined, or -1 when out of memory. on: w h bytes of scratch; r holds h (w + 1) / 2 runs. */
#define STROKE_STEP 0.8

static double stroke_steps(plane *ink, uint8_t *on, run *r, box *bb) {
    int w = ink->w, h = ink->h, nparts, big = 0;
    float *v = ink->v;
    long n = (long)w * h;
    double joined = -1, *mass = NULL, *sq = NULL;
    box *deep = NULL, *all = NULL; /* per part: the box of its pixels of more than half ink; of all */
    char *join = NULL;
    uint8_t *aside = NULL;
    int held = 0; /* nothing held aside (a clean drawing: no steps, one part): nothing to join */
    for (long i = 0; i < n; i++) held |= v[i] < 0;
    if (!held) {
        joined = 0;
        goto done;
    }
    if (!(aside = malloc((size_t)n))) goto done;
    /* the digit's heaviest part, 2 in on: its strength, and its strokes' width */
    for (long i = 0; i < n; i++) on[i] = v[i] > 0;
    long nruns = ink_parts(on, w, h, r, &nparts);
    if (nparts == 0) { /* nothing kept: nothing to join */
        joined = 0;
        goto done;
    }
    if (!(mass = calloc((size_t)nparts, sizeof(double)))) goto done;
    for (long i = 0; i < nruns; i++)
        for (int x = r[i].x0; x < r[i].x1; x++) mass[-1 - r[i].up] += v[(long)r[i].y * w + x];
    for (int i = 1; i < nparts; i++)
        if (mass[i] > mass[big]) big = i;
    box hb = {w, h, 0, 0};
    for (long i = 0; i < nruns; i++)
        if (-1 - r[i].up == big) {
            memset(on + (long)r[i].y * w + r[i].x0, 2, (size_t)(r[i].x1 - r[i].x0));
            hb.x0 = r[i].x0 < hb.x0 ? r[i].x0 : hb.x0, hb.x1 = r[i].x1 > hb.x1 ? r[i].x1 : hb.x1;
            hb.y0 = r[i].y < hb.y0 ? r[i].y : hb.y0, hb.y1 = r[i].y + 1;
        }
    double dm = 0, dsq = 0;
    long area = 0, edges = 0; /* of its pixels over half ink; an edge on the box's is counted */
    for (int y = hb.y0; y < hb.y1; y++)
        for (int x = hb.x0; x < hb.x1; x++) {
            long i = (long)y * w + x;
            int in = on[i] == 2 && v[i] > 0.5f;
            dm += on[i] == 2 ? v[i] : 0, dsq += on[i] == 2 ? (double)v[i] * v[i] : 0, area += in;
            edges += x + 1 < hb.x1 ? in != (on[i + 1] == 2 && v[i + 1] > 0.5f) : in;
            edges += y + 1 < hb.y1 ? in != (on[i + w] == 2 && v[i + w] > 0.5f) : in;
            edges += (x == hb.x0 && in) + (y == hb.y0 && in);
        }
    double width = edges ? 2.0 * area / edges : 0, strength = dm > 0 ? dsq / dm : 0;
    free(mass);
    mass = NULL;
    /* the parts held aside: their mass, strength and boxes, and whether each touches the heaviest
     * part (in the rows above and below a run, diagonals included, or at its ends) */
    for (long i = 0; i < n; i++) aside[i] = v[i] < 0;
    nruns = ink_parts(aside, w, h, r, &nparts);
    joined = 0;
    if (nparts == 0) goto done;
    mass = calloc((size_t)nparts, sizeof(double)), sq = calloc((size_t)nparts, sizeof(double));
    deep = malloc((size_t)nparts * sizeof(box)), all = malloc((size_t)nparts * sizeof(box));
    join = calloc((size_t)nparts, 1);
    if (!mass || !sq || !deep || !all || !join) {
        joined = -1;
        goto done;
    }
    for (int i = 0; i < nparts; i++) deep[i] = all[i] = (box){w, h, 0, 0};
    for (long i = 0; i < nruns; i++) {
        int id = -1 - r[i].up, y = r[i].y, x0 = r[i].x0, x1 = r[i].x1, s0 = x1, s1 = x0; /* s: over half ink */
        for (int x = x0; x < x1; x++) {
            float t = v[(long)y * w + x];
            mass[id] -= t, sq[id] += (double)t * t;
            s0 = t < -0.5f && x < s0 ? x : s0, s1 = t < -0.5f ? x + 1 : s1;
        }
        box *b = &all[id];
        b->x0 = x0 < b->x0 ? x0 : b->x0, b->x1 = x1 > b->x1 ? x1 : b->x1;
        b->y0 = y < b->y0 ? y : b->y0, b->y1 = y + 1 > b->y1 ? y + 1 : b->y1;
        b = &deep[id];
        if (s0 < s1) {
            b->x0 = s0 < b->x0 ? s0 : b->x0, b->x1 = s1 > b->x1 ? s1 : b->x1;
            b->y0 = y < b->y0 ? y : b->y0, b->y1 = y + 1 > b->y1 ? y + 1 : b->y1;
        }
        int a0 = x0 > 0 ? x0 - 1 : 0, a1 = x1 < w ? x1 + 1 : w;
        for (int yy = y > 0 ? y - 1 : 0; yy <= y + 1 && yy < h && !join[id]; yy++)
            join[id] = memchr(on + (long)yy * w + a0, 2, (size_t)(a1 - a0)) != NULL;
    }
    for (int i = 0; i < nparts; i++) {
        const box *b = &deep[i];
        if (!join[i] || b->x0 >= b->x1 || sq[i] < STROKE_STEP * strength * mass[i]) { /* apart, faint */
            join[i] = 0;
            continue;
        }
        int reach[4] = {b->y1, h - b->y0, b->x1, w - b->x0}, s = 0; /* from the top, bottom, left, right */
        for (int t = 1; t < 4; t++) s = reach[t] < reach[s] ? t : s;
        int along = s < 2 ? b->x1 - b->x0 : b->y1 - b->y0;
        /* past the digit at both ends (a desk's strip that a stroke meets): not a stroke of it */
        int before = s < 2 ? hb.x0 - b->x0 : hb.y0 - b->y0, after = s < 2 ? b->x1 - hb.x1 : b->y1 - hb.y1;
        double past = fmax(2 * width, 0.25 * (s < 2 ? hb.x1 - hb.x0 : hb.y1 - hb.y0));
        join[i] = reach[s] <= 3 * width && along >= 3 * reach[s] && (before <= past || after <= past);
        if (!join[i]) continue;
        joined += mass[i];
        box_add(bb, &all[i]);
    }
    for (long i = 0; i < nruns; i++)
        if (join[-1 - r[i].up]) flip_run(v, w, &r[i]);
done:
    for (long i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : 0; /* what stays aside, and -0, to +0 */
    free(aside);
    free(mass);
    free(sq);
    free(deep);
    free(all);
    free(join);
    return joined;
}

/* What finding ink in a w x h working copy needs, in one allocation, so that nothing is
 * allocated per pixel or per step: the copy, the ink of each reading, and scratch that each step uses in turn: page_on_desk's marks (3 n bytes, its queue in ink[0], its copy with the light taken out in ink[1]); the
 * paper interpolated across (gh x w floats), then the values for the order statistics and the
 * list of marked pixels (n floats); then the ink's marks (n bytes) and runs (h * (w + 1) / 2 at
 * most), in whose room mark_steps first makes its cells. Allocated memory takes the type of what
 * is stored in it, so one block serves them all. */
typedef struct {
    plane p;       /* the working copy */
    float *ink[2]; /* (h, w) the ink read dark on light, and light on dark */
    float *t;      /* (h, w) scratch: the paper across, then order statistics ... */
    uint8_t *on;   /* ... then ink marks (h, w) ... */
    run *runs;     /* ... and runs */
    int frame;     /* the whole photo's longer side, in the copy's pixels (a region's copy is finer) */
    int padded;    /* paper was added around the copy (pad_frame) */
    int number;    /* a number is read (source.number) */
    void *mem;
} ink_work;

static int ink_work_new(ink_work *k, int w, int h, const char *name, mnist_err *err) {
    size_t n = (size_t)w * h; /* w, h <= WORK_MAX: none of this overflows */
    size_t on_bytes = (n + 15) & ~(size_t)15, runs = (size_t)h * ((w + 1) / 2);
    size_t stats = n * sizeof(float), parts = on_bytes + runs * sizeof(run);
    float *mem = malloc(3 * n * sizeof(float) + (stats > parts ? stats : parts));
    memset(k, 0, sizeof *k);
    if (!mem) {
        errf(err, "%s: out of memory for a %dx%d working copy", name, w, h);
        return NO_MEMORY;
    }
    k->mem = mem, k->p = (plane){w, h, mem};
    k->ink[0] = mem + n, k->ink[1] = mem + 2 * n, k->t = mem + 3 * n;
    k->on = (uint8_t *)k->t, k->runs = (run *)(void *)(k->on + on_bytes);
    k->frame = w > h ? w : h;
    return 0;
}

/* The sum of v[0..n-1] in double, in order, over the i where keep[i] (keep NULL: all): the same sum as
 * one add a pixel, but where a block of 64 adds nothing (paper: v or keep all 0), one vectorised test
 * passes it, not a chain of 64 adds, each waiting on the one before (a tenth of a drawing's reading).
 * The sum starts at +0 and never becomes -0 (x + y is -0 only where both are), and s + 0 or s - 0 is
 * s for any other s: leaving out the adds of 0 is no change. */
static double sum_where(const float *v, const uint8_t *keep, long n) {
    double s = 0;
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        int any = 0;
        if (keep)
            for (int j = 0; j < 64; j++) any |= keep[i + j];
        else
            for (int j = 0; j < 64; j++) any |= v[i + j] != 0;
        if (!any) continue;
        for (int j = 0; j < 64; j++)
            if (keep ? keep[i + j] : v[i + j] != 0) s += v[i + j];
    }
    for (; i < n; i++)
        if (keep ? keep[i] : v[i] != 0) s += v[i];
    return s;
}

/* The values of ink[0..n-1] over floor into t; returns how many. Mostly there are none in a run of
 * 64 (paper), which a vectorised count tells; where there are, they are kept without a branch (ink's
 * edges would mispredict it). */
static long candidates(const float *ink, long n, float floor_, float *t) {
    long m = 0, i = 0;
    for (; i + 64 <= n; i += 64) {
        int over = 0;
        for (int j = 0; j < 64; j++) over += ink[i + j] > floor_;
        if (!over) continue;
        for (int j = 0; j < 64; j++) {
            t[m] = ink[i + j];
            m += ink[i + j] > floor_;
        }
    }
    for (; i < n; i++) {
        t[m] = ink[i];
        m += ink[i] > floor_;
    }
    return m;
}

/* The pixels of ink (h, w) over tau, as y << 16 | x, into on; returns how many. A row's run of 64
 * with none (paper) is passed in one vectorised test, as in candidates. */
static long ink_over(const float *ink, int w, int h, float tau, uint32_t *on) {
    long m = 0;
    for (int y = 0; y < h; y++) {
        const float *row = ink + (size_t)y * w;
        int x = 0;
        for (; x + 64 <= w; x += 64) {
            int over = 0;
            for (int j = 0; j < 64; j++) over += row[x + j] > tau;
            if (!over) continue;
            for (int j = x; j < x + 64; j++) {
                on[m] = (uint32_t)y << 16 | (uint32_t)j;
                m += row[j] > tau;
            }
        }
        for (; x < w; x++) {
            on[m] = (uint32_t)y << 16 | (uint32_t)x;
            m += row[x] > tau;
        }
    }
    return m;
}

/* Ink that is the dark side of a step, not a stroke: where a desk too light for page_on_desk (or
 * a shadow's hard edge) meets the page, the paper's model, made of blocks, keeps the page's level
 * a block into the desk, so a band of the desk reads as ink. A stroke's pixel sees paper (lighter
 * than halfway from it to its paper's level) on both sides, in some pair of opposite directions of
 * the 8, within STEP_REACH of the frame's side (across the stroke; at a crossing, between its
 * arms); a step's sees it on one side only, the page's (the frame's edge counts as dark, a desk
 * going on past it, unless the walk left the frame through paper: a stroke near the edge). So a
 * stroke thicker than about twice that reach loses its core. */
#define STEP_REACH 6      /* a sixth of the frame's longer side ... */
#define STEP_REACH_MIN 16 /* ... and 16 pixels at least */
#define STEP_FINE 64      /* a side over 4 times this is looked at in cells of 4 x 4, over twice 2 x 2 */

/* Whether the pixel (x, y) of the plane u (w, h; read dark on light), its paper at bg, sees paper
 * on two opposite sides within reach. All 8 directions are walked together, a pixel at a time,
 * until an opposite pair has met paper (two pixels in a row lighter than halfway from the pixel to
 * its paper), or until each pair has a side that left the frame or walked reach without meeting
 * it. */
static int sees_both_sides(const float *u, int w, int h, int x, int y, float bg, int reach) {
    static const int dx[8] = {1, 1, 0, -1, -1, -1, 0, 1}, dy[8] = {0, 1, 1, 1, 0, -1, -1, -1};
    float level = 0.5f * (bg + u[(long)y * w + x]);
    int lit[8] = {0}, state[8] = {0}; /* 0 walking, 1 met paper, -1 left the frame */
    for (int s = 1; s <= reach; s++) {
        for (int d = 0; d < 8; d++) {
            if (state[d]) continue;
            int i = x + s * dx[d], j = y + s * dy[d];
            if (i < 0 || i >= w || j < 0 || j >= h) { /* out of the frame: through paper, or dark */
                state[d] = lit[d] ? 1 : -1;
                continue;
            }
            lit[d] = u[(long)j * w + i] > level ? lit[d] + 1 : 0;
            state[d] = lit[d] == 2;
        }
        int blocked = 0;
        for (int d = 0; d < 4; d++) {
            if (state[d] == 1 && state[d + 4] == 1) return 1;
            blocked += state[d] == -1 || state[d + 4] == -1;
        }
        if (blocked == 4) return 0;
    }
    return 0;
}

/* Adds one row's pixels (v, w of them; a + b v each) to the sums of its cells f wide (row), and
 * marks the cells where it has ink (in > 0) in irow. Each cell adds its f pixels in turn, in the
 * same order as one pixel at a time along the row, but the cells side by side: one add after
 * another into the same cell had each waited on the one before. */
static inline void cell_row(float *row, uint8_t *irow, const float *v, const float *in, int w, int f, float a,
                            float b) {
    int cx = 0;
    for (; (cx + 1) * f <= w; cx++) {
        float s = row[cx];
        int any = irow[cx];
        for (int j = 0; j < f; j++) s += a + b * v[cx * f + j], any |= in[cx * f + j] > 0;
        row[cx] = s, irow[cx] = (uint8_t)any;
    }
    for (int x = cx * f; x < w; x++) row[cx] += a + b * v[x], irow[cx] |= in[x] > 0;
}

/* Marks in step (h, w) the ink of reading `light`, its paper's model pp, that sees paper on one
 * side only. A large working copy is looked at in cells of 4 x 4 pixels (or 2 x 2: STEP_FINE),
 * each the mean of its pixels, a cell with ink in it being marked whole: a step is a wide band,
 * and the cells are narrower than the strokes of a digit that large, so this costs a tenth and
 * changes little. The cells' plane (cw ch floats) and which of them hold ink (cw ch bytes) are
 * made in the room of k->runs (h (w + 1) / 2 runs of 16 bytes), free until keep_digit. */
static void mark_steps(ink_work *k, int light, const paper *pp, uint8_t *step) {
    const plane *p = &k->p;
    const float *ink = k->ink[light];
    int w = p->w, h = p->h, side = w > h ? w : h;
    int sh = side > 4 * STEP_FINE ? 2 : side > 2 * STEP_FINE ? 1 : 0, f = 1 << sh; /* cells of f x f */
    int cw = (w + f - 1) / f, ch = (h + f - 1) / f;
    int reach_px = side / STEP_REACH > STEP_REACH_MIN ? side / STEP_REACH : STEP_REACH_MIN;
    int reach = (reach_px + f - 1) / f;
    float a = light ? 1.0f : 0.0f, b = light ? -1.0f : 1.0f;
    float *cu = (float *)(void *)k->runs; /* (ch, cw) the mean of a + b v */
    uint8_t *inked = (uint8_t *)(cu + (size_t)cw * ch);
    memset(cu, 0, (size_t)cw * ch * sizeof(float));
    memset(inked, 0, (size_t)cw * ch);
    for (int y = 0; y < h; y++) {
        float *row = cu + (size_t)(y >> sh) * cw;
        uint8_t *irow = inked + (size_t)(y >> sh) * cw;
        const float *v = p->v + (size_t)y * w, *in = ink + (size_t)y * w;
        if (sh == 2) cell_row(row, irow, v, in, w, 4, a, b); /* constant f: its loop unrolled */
        else if (sh == 1) cell_row(row, irow, v, in, w, 2, a, b);
        else cell_row(row, irow, v, in, w, 1, a, b);
    }
    for (int cy = 0; cy < ch; cy++)
        for (int cx = 0; cx < cw; cx++) {
            int fw = (cx + 1) * f < w ? f : w - cx * f, fh = (cy + 1) * f < h ? f : h - cy * f;
            cu[(size_t)cy * cw + cx] /= (float)(fw * fh);
        }
    memset(step, 0, (size_t)w * h);
    for (int cy = 0; cy < ch; cy++)
        for (int cx = 0; cx < cw; cx++) {
            if (!inked[(size_t)cy * cw + cx]) continue;
            int x0 = cx * f, y0 = cy * f, x1 = x0 + f < w ? x0 + f : w, y1 = y0 + f < h ? y0 + f : h;
            float bg = paper_at(pp, 0.5 * (x0 + x1 - 1), 0.5 * (y0 + y1 - 1));
            if (sees_both_sides(cu, cw, ch, cx, cy, bg, reach)) continue;
            for (int y = y0; y < y1; y++) memset(step + (size_t)y * w + x0, 1, (size_t)(x1 - x0));
        }
}

typedef struct {
    float s;      /* the strokes' strength: the share of the paper's light they take */
    float sigma;  /* the noise of that, on the paper (as first measured: with a page's lines) */
    float cover;  /* the share of the frame the ink covers (all its marks) */
    int tall;     /* a 1 cropped to its own width (tall_stroke) */
    int specks;   /* keep_ink found only specks of it */
    long few;     /* fewer than 20 pixels of ink: the mass its heaviest part must have (keep_ink); else 0 */
    int beside;   /* digits beside the one kept (digits_beside) */
} reading;

/* The ink of the working copy read one way (light = 0: dark ink on light paper; light = 1: light
 * ink on a dark board, the copy taken as 1 - p), the paper's model being pp, into k->ink[light]
 * (all its marks, in [0, 1]), and what the reading found in rd. Returns 0, or NO_INK with err saying why there is no clear ink. */
static int read_ink(ink_work *k, int light, paper *pp, reading *rd, const char *name, mnist_err *err) {
    const plane *p = &k->p;
    int w = p->w, h = p->h;
    long n = (long)w * h;
    float *t = k->t, *ink = k->ink[light], bg[WORK_MAX];
    memset(rd, 0, sizeof *rd);
    /* Ink as the fraction of light the paper loses there: (paper - pixel) / paper, which divides
     * out uneven lighting. */
    paper_across(pp, t);
    for (int y = 0; y < h; y++) {
        const float *v = p->v + (size_t)y * w;
        float *o = ink + (size_t)y * w;
        paper_row(pp, y, bg);
        if (light)
            for (int x = 0; x < w; x++) o[x] = (bg[x] - (1 - v[x])) / (bg[x] > PAPER_MIN ? bg[x] : PAPER_MIN);
        else
            for (int x = 0; x < w; x++) o[x] = (bg[x] - v[x]) / (bg[x] > PAPER_MIN ? bg[x] : PAPER_MIN);
    }
    /* Noise: the spread of that over the frame. Where it is more than a little, the ink is
     * smoothed so that noise does not pass for ink (not otherwise: at a low resolution smoothing
     * thickens the strokes). */
    plane inkp = {w, h, ink};
    float cut = tall_stroke(ink, w, h); /* the frame's median may fall between stroke and paper */
    cut = cut > 0 ? cut : INFINITY;
    rd->tall = cut < INFINITY;
    float sigma = noise_width(ink, n, cut, t);
    if (sigma > NOISY) {
        float rows3[3 * WORK_MAX];
        smooth3(&inkp, rows3);
        sigma = noise_width(ink, n, cut, t);
    }
    sigma = sigma < 1.0f / 512 ? 1.0f / 512 : sigma;
    float s, local = 0, spread = sigma;
    long m = 0; /* the pixels over the floor set below: some, but fewer than least, are specks */
    /* Ink is 20 pixels at least, or, in a small photo, half its longer side: a digit drawn one
     * pixel wide there has no fewer (a 1 in 12x12: 10), a dot or a short dash has. Fewer than 20
     * count only where one part of them holds that many (keep_ink): not where they are a few hot
     * pixels or scattered noise */
    long least = k->frame / 2 < 20 ? k->frame / 2 : 20;
    for (int again = 0;; again++) {
        /* the ink's strength: the typical value of the strongest strokes, those above half of the
         * 20th strongest pixel (the 20th, so that a few hot pixels do not set it; the weakest where
         * there are fewer); 0: none */
        float floor_ = 4 * sigma > 0.04f ? 4 * sigma : 0.04f;
        m = candidates(ink, n, floor_, t);
        s = 0;
        if (m >= least && m > 0) {
            float half = 0.5f * kth_smallest(t, m, m < 20 ? 0 : m - 20);
            long m2 = 0;
            for (long i = 0; i < m; i++) {
                t[m2] = t[i];
                m2 += t[i] >= half;
            }
            s = kth_smallest(t, m2, m2 / 2);
            local = noise_local(ink, w, h, rd->tall, t);
            rd->few = m < 20 ? least : 0;
        }
        if ((s >= FAINT && (s >= 8 * sigma || s >= 8 * local)) || again) break;
        /* No ink stands out. Squared paper's grid, dense (half the frame), spreads the frame as
         * noise would, and a small digit's strokes stood under the floor it set: the page's lines,
         * found over half of 4 times that spread, are taken away (as below) and the spread
         * measured again, once. The reading is still weighed by the spread it had (find_ink): read
         * the wrong way round, the grid's cells are a page of light strokes, and without its lines
         * their spread comes out as none. */
        uint32_t *marked = (uint32_t *)(void *)t;
        long nmarked = ink_over(ink, w, h, 2 * sigma, marked);
        if (!page_remove_lines(ink, w, h, marked, nmarked, 2 * sigma, kth_smallest(ink, n, n - 20), k->frame)) break;
        sigma = noise_width(ink, n, cut, t);
        sigma = sigma < 1.0f / 512 ? 1.0f / 512 : sigma;
    }
    rd->s = s, rd->sigma = spread;
    if (s == 0) return errf(err, "%s: no clear ink: %s", name, m ? "only specks" : "the image looks blank");
    if (s < FAINT)
        return errf(err, "%s: no clear ink: the strongest strokes differ from the paper by only %.0f%%", name, 100 * s);
    /* against the frame's spread and the noise from pixel to pixel both: a desk that fills much of
     * the frame, or a hard shadow, widens the first (their edges are then dropped as steps) */
    if (s < 8 * sigma && s < 8 * local)
        return errf(err, "%s: no clear ink: the strokes are hardly stronger than the noise", name);
    /* a soft threshold: nothing below lo (noise, paper texture), full ink from hi up; lo at most
     * 70% of the strokes' strength where they are a pen's (STRONG): where the frame's spread is not
     * noise but a dense grid (the small region of squared paper around a small digit, looked at
     * closer: 0.18 of the paper's light, 4 times that 90% of the strokes') or the strokes
     * themselves (a frame cropped tight), 4 times it left only the strokes' cores (a 7's thinner
     * bar went, and it read as a 1). Not on a blank page, whose strongest "strokes" are its noise
     * and shading (0.16 and 0.3 of the paper's light, both ways round, on a noisy grey one lit
     * unevenly), which would then pass. */
    float lo = 0.2f * s > 4 * sigma ? 0.2f * s : 4 * sigma;
    if (s >= STRONG && lo > 0.7f * s) lo = 0.7f * s;
    float hi = 0.55f * s > lo + 0.05f ? 0.55f * s : lo + 0.05f;
    /* the lines of ruled or squared paper and a notebook's margin, where they would pass it, are
     * not ink */
    uint32_t *marked = (uint32_t *)(void *)t; /* t is free until the threshold below */
    long nmarked = ink_over(ink, w, h, 0.5f * lo, marked);
    page_remove_lines(ink, w, h, marked, nmarked, 0.5f * lo, s, k->frame);
    for (long i = 0; i < n; i++) {
        float v = (ink[i] - lo) / (hi - lo);
        v = v < 0 ? 0 : v;
        ink[i] = v > 1 ? 1 : v;
    }
    double all_ink = sum_where(ink, NULL, n);
    /* for choosing the reading: read the wrong way round, the paper around a digit is "ink" along
     * the frame's edge, which keep_digit drops, or is a step (mark_steps); counted, that reading
     * covers more */
    rd->cover = (float)(all_ink / n);
    return 0;
}

/* The digit's ink of the reading rd made by read_ink, in k->ink[light]: the steps and the parts
 * that are not the digit taken away (zeroed), and its box in bb. Returns 0, or with err saying why
 * there is no clear ink NO_INK (rd->specks: only specks) or MARKS_COVER; or NO_MEMORY (err not set). */
static int keep_ink(ink_work *k, int light, const paper *pp, reading *rd, box *bb, const char *name, mnist_err *err) {
    int w = k->p.w, h = k->p.h;
    long n = (long)w * h;
    float *ink = k->ink[light];
    uint8_t *on = k->on;
    mark_steps(k, light, pp, on);
    double stepped = sum_where(ink, on, n); /* the steps' ink */
    for (long i = 0; i < n; i++) {
        ink[i] = on[i] ? -ink[i] : ink[i]; /* held aside, for stroke_steps */
        on[i] = ink[i] > 0;
    }
    plane inkp = {w, h, ink};
    double part = 0, kept = keep_digit(&inkp, on, k->runs, bb, &part, k->number, &rd->beside), joined = 0;
    if (kept > 0) {
        joined = stroke_steps(&inkp, on, k->runs, bb); /* zeroes what stays aside */
    } else {
        for (long i = 0; i < n; i++) ink[i] = ink[i] > 0 ? ink[i] : 0;
    }
    if (kept < 0 || joined < 0) return NO_MEMORY;
    kept += joined;
    rd->specks = kept < 4 || part < rd->few;
    if (rd->specks) return errf(err, "%s: no clear ink: only specks", name);
    /* the steps count: read the wrong way round, a light digit's dark background is one step
     * around it, and what is left (its loops' holes) would pass for a digit (what joined the
     * digit may have been a step: counted once); a 1 cropped to its own width is itself half its
     * frame or more, and only its steps count */
    double marks = (rd->tall ? 0 : kept) + stepped - joined;
    if (marks > 0.5 * n) {
        errf(err, "%s: no clear ink: marks cover %.0f%% of the image", name, 100 * marks / n);
        return MARKS_COVER;
    }
    return 0;
}

/* The ink of the working copy in k, dark on light or light on dark: both are looked for, and the
 * reading whose strokes stand out more from the noise of their paper wins (read the wrong way, the
 * "ink" is paper's noise and shading, or the "paper" is made of strokes and noisy); when they are
 * about even (a clean drawing), the one whose ink covers less. The digit is then kept from the
 * winner, or from the other reading where the winner holds none. m->ink points into k. Returns 0,
 * or with err saying why there is no ink, NO_INK, NO_MEMORY or MARKS_COVER. */
static int find_ink(ink_work *k, ink_map *m, const char *name, mnist_err *err) {
    /* t: 4 n bytes at least. A frame cropped tight has no desk around it, and the paper added
     * around it (its edges' paper carried out) is no light to fit. A desk is darker than the page along
     * half the frame's edge: none where the edge is all at the frame's lightest (clean, below). Such a
     * frame (a drawing from serve's page) would stop at each look's first test, but for the light's fit, a
     * fifth of its reading, which could only have bent a desk into being there */
    int clean = page_light_to_edge(&k->p);
    float *flat = k->padded ? NULL : k->ink[1];
    if (!clean && page_on_desk(&k->p, (uint8_t *)(void *)k->t, (uint32_t *)(void *)k->ink[0], flat))
        clean = page_light_to_edge(&k->p); /* the desk, made paper, may be the frame's edge now */
    paper pp[2];
    float g[2][GRID * GRID];
    paper_grid(&pp[0], k->p.w, k->p.h);
    pp[1] = pp[0];
    block_levels(&k->p, &pp[0], g[0], g[1]);
    paper_fit(&pp[0], g[0]); /* pp[1] is fitted only where the light reading is made */
    reading rd[2];
    box bb = {0, 0, 0, 0};
    mnist_err err_light;
    int found[2]; /* 0: ink found, 1: not read, or why none was (NO_INK, NO_MEMORY, MARKS_COVER) */
    found[0] = read_ink(k, 0, &pp[0], &rd[0], name, err);
    /* Paper to the frame's edge at its lightest (clean: a drawing, a clean scan) is paper, and the ink dark:
     * read light, that paper is ink along all the frame's edge. That reading is made only where the dark
     * one's digit is not found (1: not made), not to be weighed against it: its search for a page's lines,
     * over all the paper, was a quarter of a drawing's reading */
    found[1] = 1;
    if (found[0] != 0 || !clean) paper_fit(&pp[1], g[1]), found[1] = read_ink(k, 1, &pp[1], &rd[1], name, &err_light);
    int first = found[1] == 0 && found[0] != 0;
    if (found[0] == 0 && found[1] == 0) { /* both found ink; sigma is at least 1/512 in each */
        double q_dark = rd[0].s / rd[0].sigma, q_light = rd[1].s / rd[1].sigma;
        int even = q_light < 1.2 * q_dark && q_dark < 1.2 * q_light;
        first = even ? rd[1].cover < rd[0].cover : q_light > q_dark;
    }
    /* the first reading, then the other where the first keeps no digit: made where it was not */
    int take = first;
    for (int t = 0; t < 2; t++, take = !first) {
        if (found[take] == 1) /* not made: the light reading (the dark one always is), take is 1 */
            paper_fit(&pp[1], g[1]), found[1] = read_ink(k, 1, &pp[1], &rd[1], name, &err_light);
        if (found[take] == 0)
            found[take] = keep_ink(k, take, &pp[take], &rd[take], &bb, name, take ? &err_light : err);
        if (found[take] == NO_MEMORY) { /* keep_ink's: read_ink needs none */
            errf(err, "%s: out of memory", name);
            return NO_MEMORY;
        }
        if (found[take] == 0) break;
    }
    if (found[take] != 0) { /* err holds why the dark reading found nothing (it was made: found[0] < 0) */
        m->weak = found[0] == NO_INK && ((rd[0].s > 0 && rd[0].s < FAINT) || rd[0].specks);
        return found[0];
    }
    m->ink = (plane){k->p.w, k->p.h, k->ink[take]};
    m->light = take, m->tall = rd[take].tall, m->clean = clean, m->beside = rd[take].beside;
    m->bb = bb;
    return 0;
}

/* ---- 20x20 box, centre of mass ------------------------------------------ */

/* scale_to_side (image.h) */
int scale_to_side(const float *in, int bw, int bh, size_t stride, int side, int clamp, float *out, int *ow, int *oh) {
    int big = bw > bh ? bw : bh;
    double f = (double)side / big;
    *ow = (int)lround(bw * f), *oh = (int)lround(bh * f);
    *ow = *ow < 1 ? 1 : *ow, *oh = *oh < 1 ? 1 : *oh;
    if (f < 1) return area_resize(in, bw, bh, stride, out, *ow, *oh);
    stbir_edge edge = clamp ? STBIR_EDGE_CLAMP : STBIR_EDGE_ZERO;
    return stbir_resize(in, bw, bh, (int)(stride * sizeof(float)), out, *ow, *oh, *ow * (int)sizeof(float),
                        STBIR_TYPE_FLOAT, 1, STBIR_ALPHA_CHANNEL_NONE, 0, edge, edge, STBIR_FILTER_TRIANGLE,
                        STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, NULL)
               ? 0
               : -1; /* its one way to fail here: memory */
}

/* The kept ink scaled so its bounding box fits 20x20 keeping its aspect ratio (scale_to_side: area
 * averaging when shrinking, linear interpolation when growing, zeros past its edges), placed in
 * 28x28 with its centre of mass at (14, 14). */
static int fit_box(const ink_map *m, float *x, const char *name, mnist_err *err) {
    float out[BOX * BOX];
    int ow, oh;
    if (scale_to_side(m->ink.v + (size_t)m->bb.y0 * m->ink.w + m->bb.x0, m->bb.x1 - m->bb.x0, m->bb.y1 - m->bb.y0,
                      (size_t)m->ink.w, BOX, 0, out, &ow, &oh))
        return errf_no_memory(err, "%s: out of memory resizing the digit", name);
    double sm = 0, sx = 0, sy = 0;
    for (int y = 0; y < oh; y++)
        for (int c = 0; c < ow; c++) {
            float v = out[y * ow + c];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            out[y * ow + c] = v;
            sm += v, sx += v * c, sy += v * y;
        }
    if (sm <= 0) return errf(err, "%s: no clear ink: the digit vanished when scaled to 20x20", name);
    int ox = (int)lround(CENTRE - sx / sm), oy = (int)lround(CENTRE - sy / sm);
    ox = ox < 0 ? 0 : ox > MNIST_SIDE - ow ? MNIST_SIDE - ow : ox;
    oy = oy < 0 ? 0 : oy > MNIST_SIDE - oh ? MNIST_SIDE - oh : oy;
    memset(x, 0, MNIST_PIXELS * sizeof(float));
    for (int y = 0; y < oh; y++)
        for (int c = 0; c < ow; c++) x[(oy + y) * MNIST_SIDE + ox + c] = out[y * ow + c];
    return 0;
}

/* The width of the strokes in v (w x h): twice the area of its pixels over one half over their outline (the sides
 * between them and the others; with frame, their sides along v's edges too). 0 where there is no outline. */
static double stroke_width(const float *v, int w, int h, int frame) {
    long area = 0, edges = 0;
    for (int y = 0; y < h; y++)
        for (int c = 0; c < w; c++) {
            int on = v[(size_t)y * w + c] > 0.5f;
            area += on;
            if (c + 1 < w) edges += on != (v[(size_t)y * w + c + 1] > 0.5f);
            if (y + 1 < h) edges += on != (v[(size_t)(y + 1) * w + c] > 0.5f);
            if (frame) edges += on * ((c == 0) + (c == w - 1) + (y == 0) + (y == h - 1));
        }
    return edges ? 2.0 * area / edges : 0;
}

double photo_stroke_width(const float *x) {
    return stroke_width(x, MNIST_SIDE, MNIST_SIDE, 0);
}

/* Whether the pixels over one half in a 28x28 input hold a k x k square: a pixel survives 5
 * erosions by a 3x3 square in no MNIST digit (of 70000; 44 survive 4), in a dot scaled to the box
 * 5 to 9. */
static int solid_square(const float *x, int k) {
    int sum[MNIST_SIDE + 1][MNIST_SIDE + 1] = {{0}}; /* on-pixels above and left of (y, c) */
    for (int y = 0; y < MNIST_SIDE; y++)
        for (int c = 0; c < MNIST_SIDE; c++)
            sum[y + 1][c + 1] = sum[y][c + 1] + sum[y + 1][c] - sum[y][c] + (x[y * MNIST_SIDE + c] > 0.5f);
    for (int y = k; y <= MNIST_SIDE; y++)
        for (int c = k; c <= MNIST_SIDE; c++)
            if (sum[y][c] - sum[y - k][c] - sum[y][c - k] + sum[y - k][c - k] == k * k) return 1;
    return 0;
}

/* The box of a 28x28 input's pixels over one half: columns x0..x1, rows y0..y1 (inclusive); x1 -1 where none is. */
static void input_ink_box(const float *x, int *x0, int *y0, int *x1, int *y1) {
    *x0 = *y0 = MNIST_SIDE, *x1 = *y1 = -1;
    for (int y = 0; y < MNIST_SIDE; y++)
        for (int c = 0; c < MNIST_SIDE; c++)
            if (x[y * MNIST_SIDE + c] > 0.5f) {
                *x0 = c < *x0 ? c : *x0, *x1 = c > *x1 ? c : *x1;
                *y0 = y < *y0 ? y : *y0, *y1 = y > *y1 ? y : *y1;
            }
}

/* Whether a 28x28 input is a regular pattern, no digit (a checkerboard, a grid of dots): PATTERN of
 * the rows and PATTERN of the columns of the box of its pixels over one half cross PATTERN_RUNS runs
 * of them or more. A digit's strokes cross a row or a column 3 times at most in most of it: of
 * MNIST's 70000 read as photos (light on dark, and dark on light), a quarter of the rows at most,
 * 0.61 of the columns, both a tenth at most (19 digits, none more); an 8x8 checkerboard, read as an 8
 * before (as 8x8, 32x32 and 256x256 pixels), 0.4 to 0.8 of both. *rows and *cols get the counts,
 * *bh and *bw the box's. */
static int regular_pattern(const float *x, int *rows, int *cols, int *bh, int *bw) {
    int x0, y0, x1, y1;
    input_ink_box(x, &x0, &y0, &x1, &y1);
    *rows = *cols = *bh = *bw = 0;
    if (x1 < 0) return 0;
    *bh = y1 - y0 + 1, *bw = x1 - x0 + 1;
    for (int y = y0; y <= y1; y++) { /* runs along row y */
        int runs = 0;
        for (int c = x0; c <= x1; c++)
            runs += x[y * MNIST_SIDE + c] > 0.5f && (c == x0 || !(x[y * MNIST_SIDE + c - 1] > 0.5f));
        *rows += runs >= PATTERN_RUNS;
    }
    for (int c = x0; c <= x1; c++) { /* and down column c */
        int runs = 0;
        for (int y = y0; y <= y1; y++)
            runs += x[y * MNIST_SIDE + c] > 0.5f && (y == y0 || !(x[(y - 1) * MNIST_SIDE + c] > 0.5f));
        *cols += runs >= PATTERN_RUNS;
    }
    return *rows >= PATTERN * *bh && *cols >= PATTERN * *bw;
}

/* How alike the ink (b, its box h x w at b's origin) is to itself moved by (dy, dx) >= 0: the pixels inked in
 * both over those inked in either, of the places where both lie in the box (0 where neither is inked). */
static double self_alike(const unsigned char *b, int h, int w, int dy, int dx) {
    int both = 0, either = 0;
    for (int y = 0; y + dy < h; y++)
        for (int c = 0; c + dx < w; c++) {
            int here = b[y * MNIST_SIDE + c], there = b[(y + dy) * MNIST_SIDE + c + dx];
            both += here && there;
            either += here || there;
        }
    return either ? (double)both / either : 0;
}

/* How well the ink (b, box h x w) repeats along one way (down: dy 1, across: dx 1): the most, over periods p of
 * 2 to half the box's extent that way, by which it is more alike to itself moved by p than moved by the least
 * alike shift under p (1 for a checkerboard: moved by a cell it is the other colour, by two the same; a
 * digit's strokes, the top and bottom of an 8 moved by half its height, are never both) with *period that p;
 * *same, the least it is alike moved by 1 to half the extent (1 for stripes along that way, and a bar's). */
static double repeat(const unsigned char *b, int h, int w, int dy, int dx, int *period, double *same) {
    int extent = dy ? h : w;
    double best = 0, least = 1; /* least: the least alike under s */
    *period = 0, *same = extent >= 2 ? 1 : 0;
    for (int s = 1; 2 * s <= extent; s++) {
        double alike = self_alike(b, h, w, s * dy, s * dx);
        if (s >= 2 && alike - least > best) best = alike - least, *period = s;
        least = alike < least ? alike : least;
        *same = least;
    }
    return best;
}

/* Whether a 28x28 input is a pattern that repeats (a checkerboard of 4 to 7 cells a side, a grid of 3x3 dots or
 * more, a # of lines, 3 stripes or more): its pixels over one half repeat (repeat) by REPEATS or more both
 * down and across, or along one way while they are UNIFORM alike moved along the other. Of MNIST's 70000 read
 * as photos (light on dark, and dark on light), none repeats both ways by more than 0.26, nor along one way by
 * more than 0.15 where the other is 0.7 alike; a 4x4 and a 5x5 checkerboard do by 1, 6x6 0.7, a grid of 4x4
 * dots 0.44. *down and *across get the periods (0: alike along that way), *rd and *ra how well. */
static int repeating_pattern(const float *x, int *down, int *across, double *rd, double *ra) {
    unsigned char b[MNIST_PIXELS] = {0}; /* the ink's box moved to the origin */
    int x0, y0, x1, y1;
    input_ink_box(x, &x0, &y0, &x1, &y1);
    *down = *across = 0, *rd = *ra = 0;
    if (x1 < 0) return 0;
    int h = y1 - y0 + 1, w = x1 - x0 + 1;
    for (int y = 0; y < h; y++)
        for (int c = 0; c < w; c++) b[y * MNIST_SIDE + c] = x[(y + y0) * MNIST_SIDE + c + x0] > 0.5f;
    double same_down, same_across;
    *rd = repeat(b, h, w, 1, 0, down, &same_down);
    *ra = repeat(b, h, w, 0, 1, across, &same_across);
    if (*rd >= REPEATS && *ra >= REPEATS) return 1;
    if (*rd >= REPEATS && same_across >= UNIFORM) return *across = 0, *ra = same_across, 1;
    if (*ra >= REPEATS && same_down >= UNIFORM) return *down = 0, *rd = same_down, 1;
    return 0;
}

/* Grow the ink by r pixels every way (the largest value in each (2r+1)^2 square, a row pass then a
 * column pass), into a plane of its own, its box with r more on every side, so that a digit that
 * meets the frame's edge (a 1 cropped to its own width) grows past it as it does elsewhere; m->ink
 * then points there (m->grown). Returns 0, or -1 out of memory. */
static int thicken(ink_map *m, int r) {
    int w = m->ink.w, bw = m->bb.x1 - m->bb.x0, bh = m->bb.y1 - m->bb.y0, gw = bw + 2 * r, gh = bh + 2 * r;
    float *g = calloc((size_t)gw * gh * 2, sizeof(float)), *t = g + (size_t)gw * gh;
    if (!g) return -1;
    for (int y = 0; y < bh; y++)
        memcpy(g + (size_t)(y + r) * gw + r, m->ink.v + (size_t)(y + m->bb.y0) * w + m->bb.x0,
               (size_t)bw * sizeof(float));
    for (int y = r; y < r + bh; y++) /* rows outside the box's are empty, and stay so in t */
        for (int x = 0; x < gw; x++) {
            const float *row = g + (size_t)y * gw;
            float mx = 0;
            for (int k = x - r < 0 ? 0 : x - r; k <= x + r && k < gw; k++) mx = row[k] > mx ? row[k] : mx;
            t[(size_t)y * gw + x] = mx;
        }
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            float mx = 0;
            for (int k = y - r < 0 ? 0 : y - r; k <= y + r && k < gh; k++) {
                float u = t[(size_t)k * gw + x];
                mx = u > mx ? u : mx;
            }
            g[(size_t)y * gw + x] = mx;
        }
    free(m->grown);
    m->grown = g, m->ink = (plane){gw, gh, g}, m->bb = (box){0, 0, gw, gh};
    return 0;
}

/* ---- a frame cropped tight -------------------------------------------- */

/* A person who crops a photo right around the digit leaves strokes along the frame's edges and
 * paper that is a small part of the frame: the paper's model, the noise, the steps and the choice
 * of reading are all made for a digit with paper around it. Such a frame is read again with paper
 * added around it, PAD_SHARE of its longer side on each side: the level of the paper along each
 * edge carried straight out. */
#define PAD_SHARE 0.25
#define PAD_TREND 2 /* read_photo's padded: 1, the edges' paper as it is; 2, less its trend */
#define CROSSINGS_MAX 32 /* a digit crosses the frame's edges a few times, a page's lines dozens */

/* The size of the working copy of a rw x rh region that gets paper added (pad_frame): its longer
 * side, with the paper, at most WORK_MAX; *pad gets the paper's width. */
static void padded_size(int rw, int rh, int *ow, int *oh, int *pad) {
    int big = rw > rh ? rw : rh, most = (int)(WORK_MAX / (1 + 2 * PAD_SHARE));
    double sc = big > most ? (double)most / big : 1.0;
    *ow = (int)lround(rw * sc), *oh = (int)lround(rh * sc);
    *ow = *ow < 1 ? 1 : *ow, *oh = *oh < 1 ? 1 : *oh;
    int side = *ow > *oh ? *ow : *oh;
    *pad = (int)(PAD_SHARE * side) < 4 ? 4 : (int)(PAD_SHARE * side);
}

/* Whether the ink is light on dark paper, as the frame's edges tell: mostly paper even in a frame
 * cropped tight, their median is then nearer the frame's darkest end than its lightest (its
 * 0.1% and 99.9% points); *ink gets the end that is the ink's, and *range (unless NULL) the
 * distance between the two ends. t holds 2 (w + h) floats. */
static int edge_light(const plane *p, float *t, float *ink, float *range) {
    int w = p->w, h = p->h;
    long n = (long)w * h, ne = 0;
    const float *v = p->v;
    for (int x = 0; x < w; x++) t[ne++] = v[x], t[ne++] = v[(size_t)(h - 1) * w + x];
    for (int y = 0; y < h; y++) t[ne++] = v[(size_t)y * w], t[ne++] = v[(size_t)y * w + w - 1];
    float edge = kth_smallest(t, ne, ne / 2);
    float lo = kth_smallest(v, n, n / 1000), hi = kth_smallest(v, n, n - 1 - n / 1000);
    int light = edge < 0.5f * (lo + hi);
    *ink = light ? hi : lo;
    if (range) *range = hi - lo;
    return light;
}

/* Whether there is ink (w x h) at (x, y) or within 2 pixels of it along its row or column. */
static int near_ink(const float *ink, int w, int h, int x, int y) {
    for (int d = -2; d <= 2; d++)
        if ((x + d >= 0 && x + d < w && ink[(size_t)y * w + x + d] > 0) ||
            (y + d >= 0 && y + d < h && ink[(size_t)(y + d) * w + x] > 0))
            return 1;
    return 0;
}

/* How far the light of the working copy p, outside the ink (and 2 pixels around it), is from
 * a smooth one: the RMS of its residuals from the quadratic surface in x and y fitted to it by least
 * squares, as a share of the frame's range (its 0.1% and 99.9% points, edge_light's). A page whose corners fall
 * dark under a flash's vignette, around a dark digit, is such a surface up to its noise; a frame of
 * dark paper whose light strokes cross it (read dark, the paper between them was the ink) is not.
 * Of a copy over 64 rows high, 64 rows spread over it are looked at. */
static double light_rough(const plane *p, const float *ink, float range) {
    int w = p->w, h = p->h, step = (h + 63) / 64;
    double a[6][7] = {{0}}, zz = 0; /* the normal equations (X'X | X'z), and z'z */
    for (int y = 0; y < h; y += step)
        for (int x = 0; x < w; x++) {
            if (near_ink(ink, w, h, x, y)) continue;
            double u = (x + 0.5) / w - 0.5, v = (y + 0.5) / h - 0.5, f[6] = {1, u, v, u * u, u * v, v * v};
            double z = p->v[(size_t)y * w + x];
            for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 6; j++) a[i][j] += f[i] * f[j];
                a[i][6] += f[i] * z;
            }
            zz += z * z;
        }
    double n0 = a[0][0], xz[6];
    if (n0 < 24) return 1; /* too little paper to tell: not smooth */
    for (int i = 0; i < 6; i++) xz[i] = a[i][6];
    for (int i = 0; i < 6; i++) { /* Gauss-Jordan with partial pivoting */
        int piv = i;
        for (int r = i + 1; r < 6; r++) piv = fabs(a[r][i]) > fabs(a[piv][i]) ? r : piv;
        for (int j = 0; j < 7; j++) {
            double tmp = a[i][j];
            a[i][j] = a[piv][j], a[piv][j] = tmp;
        }
        if (!(fabs(a[i][i]) > 1e-12 * n0)) return 1;
        for (int r = 0; r < 6; r++) {
            if (r == i) continue;
            double q = a[r][i] / a[i][i];
            for (int j = i; j < 7; j++) a[r][j] -= q * a[i][j];
        }
    }
    /* the residuals' sum of squares, z'z - c'X'z for the fit c (X'Xc = X'z), without a second pass */
    double ss = zz;
    for (int i = 0; i < 6; i++) ss -= a[i][6] / a[i][i] * xz[i];
    return range > 0 ? sqrt(fmax(ss, 0) / n0) / range : 1;
}

/* How many times ink crosses one edge: the runs of its n values v[0], v[along], ... that are a
 * third of the way or more from the paper there to the ink's level. */
static int edge_crossings(const float *v, int n, long along, const float *bg, float ink) {
    int runs = 0, was = 0;
    for (int i = 0; i < n; i++) {
        float u = v[i * along], cut = bg[i] + (ink - bg[i]) / 3;
        int on = ink < bg[i] ? u < cut : u > cut;
        runs += on && !was, was = on;
    }
    return runs;
}

/* The light's trend along one edge: the line through the n values v[0], v[along], ... that are
 * paper, fitted by least squares first to the paper's half of them (the lighter half for dark ink,
 * the darker for light), then again to those not far from the line on the ink's side until they
 * settle (6 fits at most), as paper_fit fits the blocks; its value at each of the n into tr. t
 * holds n floats. */
static void edge_trend(const float *v, int n, long along, int light, float *t, float *tr) {
    float sg = light ? -1.0f : 1.0f; /* sg v: paper high, ink below it */
    char use[WORK_MAX];
    float e[WORK_MAX]; /* sg (v - the line): the residuals */
    for (int i = 0; i < n; i++) t[i] = sg * v[i * along];
    float med = kth_smallest(t, n, n / 2);
    for (int i = 0; i < n; i++) use[i] = t[i] >= med, tr[i] = sg * med;
    for (int it = 0; it < 6; it++) {
        double s0 = 0, s1 = 0, s2 = 0, sv = 0, sxv = 0; /* x = i - (n - 1) / 2 */
        for (int i = 0; i < n; i++) {
            if (!use[i]) continue;
            double x = i - 0.5 * (n - 1), u = v[i * along];
            s0 += 1, s1 += x, s2 += x * x, sv += u, sxv += x * u;
        }
        double det = s0 * s2 - s1 * s1;
        if (s0 < 2 || !(det > 1e-9 * s0 * s2)) break; /* a point or two: keep the last line */
        double c0 = (s2 * sv - s1 * sxv) / det, c1 = (s0 * sxv - s1 * sv) / det;
        for (int i = 0; i < n; i++) {
            tr[i] = (float)(c0 + c1 * (i - 0.5 * (n - 1)));
            e[i] = sg * (v[i * along] - tr[i]);
        }
        if (paper_reselect(e, n, use, t)) break;
    }
}

/* The paper along one edge: the n values v[0], v[along], ... (trend: less their trend, edge_trend)
 * closed (dark ink: the largest within r either side, then the smallest of those) or opened (light
 * ink: the other way round), so that where a stroke crosses the edge, a dip up to 2 r long (r long
 * at the edge's ends), the paper beside it is taken (and the trend added back). Closed as they are,
 * light that falls along the edge (a gradient) comes out lifted at its dark end to the level r in
 * from it: the paper carried out from there is lighter than the frame's own beside it, and the
 * corner reads as ink. t holds n floats. */
static void edge_paper(const float *v, int n, long along, int r, int light, int trend, float *t, float *out) {
    float tr[WORK_MAX];
    if (trend) edge_trend(v, n, along, light, t, tr);
    else memset(tr, 0, (size_t)n * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        int most = pass == light; /* closing: max then min; opening: min then max */
        for (int i = 0; i < n; i++) {
            int i0 = i - r < 0 ? 0 : i - r, i1 = i + r >= n ? n - 1 : i + r;
            float e = pass ? t[i0] : v[i0 * along] - tr[i0];
            for (int j = i0 + 1; j <= i1; j++) {
                float u = pass ? t[j] : v[j * along] - tr[j];
                e = most ? (u > e ? u : e) : (u < e ? u : e);
            }
            if (pass) out[i] = e + tr[i];
            else t[i] = e;
        }
    }
}

/* The working copy p (w x h, its floats at the start of room for (w + 2 pad) x (h + 2 pad)) with
 * pad pixels of paper added on each side, in place: the paper along each edge (edge_paper, over
 * windows as long as the frame's longer side; trend: less the light's trend along it) carried
 * straight out, each corner the mean of its two edges' ends. Returns how many times ink crosses
 * the frame's edges (edge_crossings). t holds 3 (w + h) floats. */
static int pad_frame(plane *p, int pad, int trend, float *t) {
    int w = p->w, h = p->h, W = w + 2 * pad, H = h + 2 * pad, r = (w > h ? w : h) / 2;
    float ink;
    int light = edge_light(p, t, &ink, NULL);
    float *v = p->v, *top = t, *bottom = top + w, *left = bottom + w, *right = left + h, *work = right + h;
    edge_paper(v, w, 1, r, light, trend, work, top);
    edge_paper(v + (size_t)(h - 1) * w, w, 1, r, light, trend, work, bottom);
    edge_paper(v, h, w, r, light, trend, work, left);
    edge_paper(v + w - 1, h, w, r, light, trend, work, right);
    int crossings = edge_crossings(v, w, 1, top, ink) + edge_crossings(v + (size_t)(h - 1) * w, w, 1, bottom, ink) +
                    edge_crossings(v, h, w, left, ink) + edge_crossings(v + w - 1, h, w, right, ink);
    for (int y = h - 1; y >= 0; y--) /* the rows to their places, the last first: none is overwritten unread */
        memmove(v + (size_t)(y + pad) * W + pad, v + (size_t)y * w, (size_t)w * sizeof(float));
    for (int y = 0; y < H; y++) {
        float *row = v + (size_t)y * W;
        int yy = y - pad;
        if (yy >= 0 && yy < h) {
            for (int x = 0; x < pad; x++) row[x] = left[yy], row[pad + w + x] = right[yy];
            continue;
        }
        const float *e = yy < 0 ? top : bottom;
        float l = 0.5f * (e[0] + left[yy < 0 ? 0 : h - 1]), rr = 0.5f * (e[w - 1] + right[yy < 0 ? 0 : h - 1]);
        for (int x = 0; x < pad; x++) row[x] = l, row[pad + w + x] = rr;
        memcpy(row + pad, e, (size_t)w * sizeof(float));
    }
    p->w = W, p->h = H;
    return crossings;
}

/* How alike neighbouring b x b blocks of the working copy p are (b 1: pixels): along each of the 4
 * directions to a neighbour, the correlation between each block's sum and the next's (Pearson's,
 * over the frame); their mean, about 0 for noise, give or take its standard error sqrt(*var) / 4
 * (*var: sum 1 / n, n the pairs along a direction; the correlations of random pixels at different
 * lags are independent, each of variance 1 / n). *along gets the largest of the 4, in its own
 * standard errors. Of a copy over 64 blocks high, 64 rows of blocks spread over it are looked at
 * (each with the row below), and so of its columns. NaN where a direction has no variance (a flat
 * copy) or no pairs. */
static double likeness(const plane *p, int b, double *var, double *along) {
    static const int dx[4] = {1, 0, 1, -1}, dy[4] = {0, 1, 1, 1};
    /* 4096 pairs a direction at most (30000 of every column cost a drawing's reading 13%) */
    int w = p->w, bw = w / b, bh = p->h / b, step = (bh + 63) / 64, xstep = (bw + 63) / 64;
    double sum = 0;
    *var = 0, *along = 0;
    for (int d = 0; d < 4; d++) {
        double n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        for (int y = 0; y + dy[d] < bh; y += step)
            for (int x = dx[d] < 0; x < bw - (dx[d] > 0); x += xstep) {
                const float *u = p->v + (size_t)y * b * w + (size_t)x * b;
                const float *v = u + (size_t)dy[d] * b * w + dx[d] * b;
                double ua = 0, vb = 0;
                for (int i = 0; i < b; i++)
                    for (int j = 0; j < b; j++) ua += u[(size_t)i * w + j], vb += v[(size_t)i * w + j];
                n++, sa += ua, sb += vb, saa += ua * ua, sbb += vb * vb, sab += ua * vb;
            }
        double va = saa - sa * sa / n, vb = sbb - sb * sb / n;
        if (n < 2 || !(va > 0) || !(vb > 0)) return NAN;
        double r = (sab - sa * sb / n) / sqrt(va * vb);
        sum += r, *var += 1 / n, *along = fmax(*along, r * sqrt(n));
    }
    return sum / 4;
}

/* Whether the working copy p is random pixels: noise drawn as a tiny image, whose "ink" a frame
 * cropped tight finds all over. Strokes, and paper's light, make neighbouring pixels alike; random
 * pixels are no more alike than any two: their likeness, *alike, is about 0, give or take 0.07 for
 * an 8x8 image, 0.02 for 28x28. A digit's strokes make it 0.37 or more (MNIST's 70000; 0.41 in 6600
 * photos and drawings), strokes one pixel wide in a 12x12 image 0.1 or so: the copy is taken as
 * noise where it is under CHANCE standard errors, and no direction's own correlation is ALONG of its
 * standard errors or more: strokes one pixel wide along the rows and columns (a 0, a 5 or an 8 drawn
 * as boxes, 10 to 16 pixels high) are alike along them, 0.2 to 0.6, and unalike across the
 * diagonals, their mean 0.02 to 0.06, and were refused as noise. A flat copy, or a line of pixels,
 * is not. */
static int noise_only(const plane *p, double *alike) {
    double var, along;
    *alike = likeness(p, 1, &var, &along);
    if (isnan(*alike)) return *alike = 0, 0;
    return *alike < CHANCE * sqrt(var) / 4 && along < ALONG;
}

/* Whether the working copy p, its pixels no more alike than noise's, is dithered: a 1-bit scan, a
 * fax, a halftone, whose dots are unlike their neighbours (a Floyd-Steinberg dither of a photo of a
 * digit: -0.04 to -0.09) but whose 2x2 blocks' sums are the picture's shades, and alike (0.29 to
 * 0.49 in those photos; noise's blocks are as unalike as its pixels): at least 0.2, and twice
 * CHANCE of their standard errors, in a copy 64 pixels a side at least (at 8x8 to 16x16, noise's
 * blocks reached as far by chance, 2 images of 90). */
static int dithered(const plane *p) {
    if (p->w < 64 || p->h < 64) return 0;
    double var, along, a = likeness(p, 2, &var, &along);
    return !isnan(a) && a >= 0.2 && a >= 2 * CHANCE * sqrt(var) / 4;
}

/* The ink of a region of the source, in its working copy (padded: with paper added around it,
 * pad_frame, PAD_TREND: its edges' paper found less the light's trend along them); *scale gets
 * working pixels per source pixel. m->mem holds it all (ink_map_free). Returns 0, or as find_ink. */
static int ink_of_region(const source *s, int x0, int y0, int rw, int rh, int padded, ink_map *m, double *scale,
                         const char *name, mnist_err *err) {
    int w, h, pad = 0;
    ink_work k;
    if (padded) padded_size(rw, rh, &w, &h, &pad);
    else working_size(rw, rh, &w, &h);
    *scale = (double)w / rw;
    memset(m, 0, sizeof *m);
    if (ink_work_new(&k, w + 2 * pad, h + 2 * pad, name, err)) return NO_MEMORY;
    int big = s->d->w > s->d->h ? s->d->w : s->d->h;
    k.frame = (int)lround(big * *scale); /* a page's lines are as thick here as in the whole photo */
    k.p.w = w, k.p.h = h;
    int rc = working_copy(s, x0, y0, rw, rh, &k.p, name, err);
    int noise = rc == 0 && noise_only(&k.p, &m->alike); /* before find_ink makes a desk paper */
    if (noise && dithered(&k.p)) { /* its dots smoothed into the shades they draw (once makes them 0.8 alike) */
        double smoothed; /* the error says the pixels' likeness as they came, m->alike */
        smooth3(&k.p, k.t);
        noise = noise_only(&k.p, &smoothed);
    }
    /* ink[0] and ink[1], 2 n floats, are free until find_ink */
    int crossings = rc == 0 && pad ? pad_frame(&k.p, pad, padded == PAD_TREND, k.ink[0]) : 0;
    k.padded = pad > 0, k.number = s->number;
    if (rc || (rc = find_ink(&k, m, name, err))) {
        free(k.mem);
        return rc;
    }
    m->mem = k.mem;
    m->pad = pad; /* below: the copy as find_ink left it (a desk made paper), its scratch free */
    float ink, range;
    m->edges_light = !pad && (m->light || !m->clean) && edge_light(&k.p, k.t, &ink, &range) &&
                     (m->light || light_rough(&k.p, m->ink.v, range) >= SMOOTH);
    m->crossings = crossings;
    m->noise = noise;
    return 0;
}

static void ink_map_free(ink_map *m) {
    free(m->mem);
    free(m->grown);
    m->mem = NULL, m->grown = NULL, m->ink.v = NULL;
}

/* The ink of the whole photo into m (padded: with paper added around it, pad_frame; PAD_TREND:
 * its edges' paper found less the light's trend along them), looked at
 * again closer where the digit is small in it. Returns 0, or as find_ink, with err saying why there is none. */
static int read_photo(const decoded *d, int padded, int number, ink_map *m, const char *name, mnist_err *err) {
    source s = {d, 1.0f, number};
    double scale;
    int rc = ink_of_region(&s, 0, 0, d->w, d->h, padded, m, &scale, name, err);
    if (rc && rc != NO_MEMORY && source_alpha_varies(d)) {
        /* a drawing app's export may keep light ink in the alpha channel: try it over black */
        mnist_err e2;
        s.bg = 0.0f;
        int r2 = ink_of_region(&s, 0, 0, d->w, d->h, padded, m, &scale, name, &e2);
        if (r2 == NO_MEMORY && err) *err = e2;
        if (r2 == 0 || r2 == NO_MEMORY) rc = r2; /* else err says why the first found none */
    }
    if (rc) return rc;
    /* A digit small in a large photo: look again at the region around it, at a finer scale. */
    int side = box_side(&m->bb);
    if (scale < 1 && side < SMALL_INK) {
        int cx0 = (int)floor((m->bb.x0 - m->pad) / scale), cy0 = (int)floor((m->bb.y0 - m->pad) / scale);
        int cx1 = (int)ceil((m->bb.x1 - m->pad) / scale), cy1 = (int)ceil((m->bb.y1 - m->pad) / scale);
        int pad = (int)ceil(side / scale);
        cx0 = cx0 - pad < 0 ? 0 : cx0 - pad, cy0 = cy0 - pad < 0 ? 0 : cy0 - pad;
        cx1 = cx1 + pad > d->w ? d->w : cx1 + pad, cy1 = cy1 + pad > d->h ? d->h : cy1 + pad;
        ink_map m2;
        double scale2;
        mnist_err e2;
        int r2 = cx1 > cx0 && cy1 > cy0 ? ink_of_region(&s, cx0, cy0, cx1 - cx0, cy1 - cy0, padded, &m2, &scale2,
                                                        name, &e2) : NO_INK;
        if (r2 == 0 || r2 == NO_MEMORY) ink_map_free(m);
        if (r2 == 0) *m = m2;
        if (r2 == NO_MEMORY) { /* not the coarse reading instead: it would read otherwise than with memory */
            if (err) *err = e2;
            return NO_MEMORY;
        }
    }
    return 0;
}

/* Where the digit's box in m lies in the frame (the paper pad_frame added is not the frame), within
 * 4% of its longer side (3 pixels at least): returns how many of the frame's sides it meets, and
 * *inside whether it stays in the frame (one that runs into the added paper took a stroke along an
 * edge for paper and carried it out). */
static int box_in_frame(const ink_map *m, int *inside) {
    int w = m->ink.w - 2 * m->pad, h = m->ink.h - 2 * m->pad, e = (w > h ? w : h) / 25;
    int x0 = m->bb.x0 - m->pad, y0 = m->bb.y0 - m->pad, x1 = m->bb.x1 - m->pad, y1 = m->bb.y1 - m->pad;
    e = e < 3 ? 3 : e;
    *inside = x0 >= -e && y0 >= -e && x1 <= w + e && y1 <= h + e;
    return (x0 <= e) + (y0 <= e) + (x1 >= w - e) + (y1 >= h - e);
}

/* The digit's ink of the photo d into m: read as it is, and again with paper around it where that
 * is the better reading. Returns 0, or as find_ink, with err saying why there is none. */
static int read_digit(const decoded *d, int number, ink_map *m, const char *name, mnist_err *err) {
    int inside, rc = read_photo(d, 0, number, m, name, err);
    /* A frame cropped tight around the digit (pad_frame): the digit's box meets 3 of its sides, or
     * the ink was read the other way round from what the frame's edges say (the paper between thick
     * strokes taken for ink), or no ink was found (the paper's model and the noise made of
     * strokes). Read again with paper around it, that reading is taken where its digit stays in the
     * frame. Where only the edges said so, of ink read dark, its digit must also meet all 4 sides
     * (a light digit cropped tight, read dark, had the paper between its strokes for ink; but dark
     * edges are more often a desk around a sheet, whose dark reading is right), and they do not say
     * so where the page's light outside the dark ink is smooth (light_rough: a flash's vignette
     * darkens a page to its corners, and read again, its bright middle was a light digit meeting
     * all 4 sides). Where the first found none, its digit must meet 3 of the sides in a frame whose
     * edges ink crosses CROSSINGS_MAX times at most (a blank page stays refused, and so does a page
     * of squared paper with a digit too small on it, whose grid pad_frame cut short), and the first
     * must have found nothing at all, not faint strokes or specks: a digit that fills the frame
     * leaves it blank or noisy to the paper's model, which follows the strokes, while the edge of a
     * shadow on a blank page is faint there (or specks, held aside as a step where it is harder),
     * and the paper added beside it, carried out from the frame's edges, sets a seam that reads as
     * ink. A 1 cropped to its own width has its own reading (tall_stroke). */
    if (rc == NO_MEMORY) return rc; /* err says so */
    int met = rc ? 0 : box_in_frame(m, &inside), edges = rc == 0 && m->light != m->edges_light;
    if (rc || (!m->tall && (met >= 3 || edges))) {
        int fill = rc == 0 && met < 3 && !m->light; /* only the edges said so, of dark ink */
        ink_map m2;
        mnist_err e2;
        int r2 = read_photo(d, 1, number, &m2, name, &e2);
        met = r2 ? -1 : box_in_frame(&m2, &inside);
        /* Under light that falls across the frame, the paper carried out from an edge was lifted
         * at the edge's dark end (edge_paper): the corner there read as ink, and the digit ran into
         * the added paper or none was found. Then the edges' paper is found again less the
         * light's trend along them. */
        if (r2 != NO_MEMORY && (met < 0 || !inside)) {
            if (met >= 0) ink_map_free(&m2);
            r2 = read_photo(d, PAD_TREND, number, &m2, name, &e2);
            met = r2 ? -1 : box_in_frame(&m2, &inside);
        }
        if (r2 == NO_MEMORY) { /* not the first reading instead: the one it was to be weighed against is not made */
            if (rc == 0) ink_map_free(m);
            if (err) *err = e2;
            return NO_MEMORY;
        }
        if (met >= 0 && inside && (!fill || met == 4) &&
            (rc == 0 || (met >= 3 && m2.crossings <= CROSSINGS_MAX && !m->weak))) {
            if (rc == 0) ink_map_free(m);
            *m = m2, rc = 0;
        } else if (met >= 0) {
            ink_map_free(&m2);
        }
    }
    return rc;
}

/* ---- a shadow's straight edge ------------------------------------------- */

/* A blank page under a hard shadow (a phone's or a hand's, its edge straight across the frame)
 * read as a digit: the paper's model, made of blocks, bends to the step and leaves pieces of it as
 * ink. Where the frame's edge says such a step may cross it (edge_two_levels), it is looked for in
 * a small copy (find_step) and checked along its whole length (step_along); divided out of the
 * working copy (unshadow), the page is read again, and only where that finds no ink is the photo
 * refused. Otherwise it reads as it did: a sheet's edge on a desk is such a step too. */
#define SHADOW 0.85   /* a shadow takes 15% of the light at least */
#define STEP_SIDE 128 /* the longer side of the copy the step is looked for in */
#define STEP_PARTS 8  /* the stretches it is checked in along its length */
#define STEP_BAND 2.5 /* the step's line is known to this, in the small copy's pixels */

typedef struct {
    double cs, sn, r;             /* the line x cs + y sn = r in the small copy, its dark side beyond r */
    double a0, a1;                /* its ends, along it (-x sn + y cs) */
    float ratio, lit[STEP_PARTS]; /* the dark side's light over the lit side's; the lit side's, by stretch */
} step_line;

/* Whether the frame's edge, walked around, is lit along one stretch and darker by SHADOW or more
 * along the rest, and steps from one to the other: its means over 256 stretches at most, taken as
 * lit or dark by the middle (in ratio) of their 10% and 90% points, change twice around it, and a
 * 32nd of them at most lie in the middle half between the two. Not so under even light, light that
 * falls across the frame (a quarter of the photo sets' frames pass the rest, 1 in 200 this), a
 * vignette (4 dark corners), a desk all around a sheet, or strokes across the edge. NO_MEMORY where
 * it runs out. */
static int edge_two_levels(const source *s) {
    int w = s->d->w, h = s->d->h;
    long n = 2L * (w + h);
    if (w < 32 || h < 32) return 0;
    float *e = malloc((size_t)n * sizeof(float)), b[256], t[256];
    if (!e) return NO_MEMORY;
    source_row(s, 0, 0, w, e); /* clockwise from the top left corner */
    source_row(s, h - 1, 0, w, e + w + h);
    for (int x = 0; x < w / 2; x++) swapf(&e[w + h + x], &e[2 * w + h - 1 - x]);
    for (int y = 0; y < h; y++)
        source_row(s, y, w - 1, 1, e + w + y), source_row(s, h - 1 - y, 0, 1, e + 2 * w + h + y);
    int nb = n < 256 ? (int)n : 256;
    for (int k = 0; k < nb; k++) {
        long i0 = n * k / nb, i1 = n * (k + 1) / nb;
        double sum = 0;
        for (long i = i0; i < i1; i++) sum += e[i];
        b[k] = t[k] = (float)(sum / (double)(i1 - i0));
    }
    free(e);
    float lo = select_kth(t, nb, nb / 10), hi = select_kth(t, nb, nb - 1 - nb / 10), mid = sqrtf(lo * hi);
    float q1 = sqrtf(lo * mid), q3 = sqrtf(mid * hi); /* a quarter and three quarters of the way, in ratio */
    int changes = 0, between = 0;
    for (int k = 0; k < nb; k++)
        changes += (b[k] < mid) != (b[(k + 1) % nb] < mid), between += b[k] > q1 && b[k] < q3;
    return lo < SHADOW * hi && changes == 2 && between <= nb / 32;
}

/* The straight step across which the light (L: its log, (h, w)) falls most: over 90 turns of a
 * line, the pixels binned by their distance along its normal, the largest drop between the means
 * of the three bins either side of a bin, one bin apart from it, of 9 bins each a fifth of the
 * shorter side long at least. Returns the drop (in log), or -1 when out of memory. */
static double find_step(int w, int h, const float *L, step_line *st) {
    int nb = (int)ceil(hypot(w, h)) + 1, least = (w < h ? w : h) / 5;
    double best = 0, *sum = malloc((size_t)nb * sizeof(double));
    int *cnt = malloc((size_t)nb * sizeof(int));
    if (!sum || !cnt) best = -1;
    for (int deg = 0; deg < 180 && best >= 0; deg += 2) {
        double t = deg * 3.14159265358979323846 / 180, cs = cos(t), sn = sin(t), r0 = fmin(0, (w - 1) * cs);
        memset(sum, 0, (size_t)nb * sizeof(double));
        memset(cnt, 0, (size_t)nb * sizeof(int));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int i = (int)(x * cs + y * sn - r0);
                sum[i] += L[(size_t)y * w + x], cnt[i]++;
            }
        for (int c = 4; c + 4 < nb; c++) {
            int ok = 1;
            for (int i = c - 4; i <= c + 4; i++) ok &= cnt[i] >= least;
            if (!ok) continue;
            double j = 0;
            for (int i = 2; i <= 4; i++) j += (sum[c - i] / cnt[c - i] - sum[c + i] / cnt[c + i]) / 3;
            if (fabs(j) <= best) continue;
            double g = j > 0 ? 1 : -1; /* the dark side beyond the line */
            best = fabs(j), st->cs = g * cs, st->sn = g * sn, st->r = g * (c + 0.5 + r0);
        }
    }
    free(sum);
    free(cnt);
    return best;
}

/* The median of the pixels of p at a distance from the line st in (r0, r1] (beyond it: dark side)
 * and along it in [a0, a1), NAN where there are fewer than 10; *far (unless NULL) gets the
 * farthest one's distance. t holds w h floats. */
static float step_median(const plane *p, const step_line *st, double a0, double a1, double r0, double r1, float *t,
                         double *far) {
    long m = 0;
    double most = 0;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            double r = x * st->cs + y * st->sn - st->r, a = y * st->cs - x * st->sn;
            if (r <= r0 || r > r1 || a < a0 || a >= a1) continue;
            t[m++] = p->v[(size_t)y * p->w + x], most = fmax(most, r);
        }
    if (far) *far = most;
    return m < 10 ? NAN : select_kth(t, m, m / 2);
}

/* Whether the step st in the small copy p is a shadow's edge along its whole length: in each of
 * STEP_PARTS stretches along it, the dark side (3 to 8 pixels from the line) darker than the lit
 * side, and dark out to the frame's edge (a stroke has paper past it: past 8 pixels, cut in 4 by
 * distance, no part's median within 0.9 of the lit side's); of the stretches' ratios of dark to
 * lit, 6 within 0.05 of their median, under 0.9: st->ratio. t holds w h floats. */
static int step_along(const plane *p, step_line *st, float *t) {
    st->a0 = INFINITY, st->a1 = -INFINITY;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++)
            if (fabs(x * st->cs + y * st->sn - st->r) < 12) {
                double a = y * st->cs - x * st->sn;
                st->a0 = fmin(st->a0, a), st->a1 = fmax(st->a1, a);
            }
    float ratio[STEP_PARTS];
    for (int k = 0; k < STEP_PARTS; k++) {
        double a0 = st->a0 + (st->a1 - st->a0) * k / STEP_PARTS, a1 = st->a0 + (st->a1 - st->a0) * (k + 1) / STEP_PARTS;
        double far;
        float lit = step_median(p, st, a0, a1, -8, -3, t, NULL), dark = step_median(p, st, a0, a1, 3, 8, t, NULL);
        if (!(lit > 0) || isnan(dark)) return 0; /* the line's end cut short */
        st->lit[k] = lit, ratio[k] = dark / lit;
        step_median(p, st, a0, a1, 8, INFINITY, t, &far);
        for (int q = 1; q <= 4; q++)
            if (step_median(p, st, a0, a1, fmax(8, (q - 1) * far / 4), q * far / 4, t, NULL) > 0.9f * lit) ratio[k] = 9;
    }
    float r[STEP_PARTS];
    memcpy(r, ratio, sizeof r);
    float med = select_kth(r, STEP_PARTS, STEP_PARTS / 2);
    int alike = 0;
    for (int k = 0; k < STEP_PARTS; k++) alike += fabsf(ratio[k] - med) <= 0.05f;
    st->ratio = med;
    return alike >= 6 && med > 0.05f && med < 0.9f; /* the dark side not black: its light is divided by med */
}

/* The working copy wp (the small copy sw x sh of it held the step st) with the step divided out,
 * as bytes into px: the dark side divided by the ratio; within STEP_BAND of the line (whose place
 * is known to a pixel or so of the small copy), no lighter than the lit side beside it. */
static void unshadow(const plane *wp, const step_line *st, int sw, int sh, uint8_t *px) {
    for (int y = 0; y < wp->h; y++)
        for (int x = 0; x < wp->w; x++) {
            double xs = (x + 0.5) * sw / wp->w - 0.5, ys = (y + 0.5) * sh / wp->h - 0.5;
            double r = xs * st->cs + ys * st->sn - st->r, a = ys * st->cs - xs * st->sn;
            int k = (int)floor((a - st->a0) / (st->a1 - st->a0) * STEP_PARTS);
            k = k < 0 ? 0 : k >= STEP_PARTS ? STEP_PARTS - 1 : k;
            float v = wp->v[(size_t)y * wp->w + x], u = r > -STEP_BAND ? v / st->ratio : v;
            if (fabs(r) <= STEP_BAND && u > st->lit[k]) u = st->lit[k];
            px[(size_t)y * wp->w + x] = (uint8_t)lroundf(255 * (u < 0 ? 0 : u > 1 ? 1 : u));
        }
}

/* Whether the photo d is a blank page under a shadow's straight edge: such an edge is found
 * across it, and with it divided out, no ink; NO_MEMORY where it ran out before it knew. */
static int shadow_blank(const decoded *d, const char *name) {
    source s = {d, 1.0f, 0};
    int two = edge_two_levels(&s);
    if (two <= 0) return two;
    int w, h, big = d->w > d->h ? d->w : d->h, blank = 0;
    working_size(d->w, d->h, &w, &h);
    double sc = big > STEP_SIDE ? (double)STEP_SIDE / big : 1.0;
    int sw = (int)lround(d->w * sc), sh = (int)lround(d->h * sc);
    if (sw < 16 || sh < 16) return 0; /* too narrow for a step's 9 bins a fifth of it long (find_step) */
    size_t n = (size_t)w * h, ns = (size_t)sw * sh;
    float *mem = malloc((n + 3 * ns) * sizeof(float));
    uint8_t *px = malloc(n);
    plane wp = {w, h, mem}, sp = {sw, sh, mem + n};
    float *L = sp.v + ns, *t = L + ns;
    mnist_err e;
    step_line st;
    if (!mem || !px || working_copy(&s, 0, 0, d->w, d->h, &wp, name, &e) ||
        area_resize(wp.v, w, h, (size_t)w, sp.v, sw, sh)) {
        blank = NO_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < ns; i++) L[i] = logf(sp.v[i] > 1e-3f ? sp.v[i] : 1e-3f);
    double drop = find_step(sw, sh, L, &st);
    if (drop < 0) blank = NO_MEMORY;
    if (drop > -log(SHADOW) && step_along(&sp, &st, t)) {
        unshadow(&wp, &st, sw, sh, px);
        decoded d2 = {px, NULL, w, h, 1};
        ink_map m2;
        int rc = read_digit(&d2, 0, &m2, name, &e);
        if (rc == 0) ink_map_free(&m2);
        blank = rc == NO_MEMORY ? NO_MEMORY : rc == NO_INK; /* no ink left, no digit */
    }
done:
    free(mem);
    free(px);
    return blank;
}

/* The words of the error for a working copy of random pixels (m->noise). */
static int noise_error(const ink_map *m, const char *name, mnist_err *err) {
    double alike = fabs(m->alike) < 0.005 ? 0 : m->alike; /* not -0.00 */
    return errf(err, "%s: no clear digit: the image looks like random pixels: neighbouring pixels are hardly "
                "more alike than any two (their correlation is %.2f, where each of MNIST's 70000 digits makes it 0.37 "
                "or more)", name, alike);
}

/* The digit's ink found in m (its box m->bb) to the 784 inputs x: refused when flat (unless flat_ok), fitted to the
 * box, thickened where its strokes are thin, refused when a blob or a pattern (a repeating one unless flat_ok: the
 * ink of digits side by side). m is freed. 0, -1 with err, or NO_MEMORY. */
static int fit_digit(ink_map *m, int flat_ok, float *x, const char *name, mnist_err *err) {
    /* a dash, or a line along the page, scaled to the box reads as some digit: say so (of a number, that it is one) */
    int bw = m->bb.x1 - m->bb.x0, bh = m->bb.y1 - m->bb.y0;
    if (bw > FLAT * bh && !flat_ok) {
        ink_map_free(m);
        return errf(err, "%s: no clear digit: the ink is %.1f times as wide as it is tall, as none of MNIST's 60000 "
                    "training digits is (2.2 at most)", name, (double)bw / bh);
    }
    int rc = fit_box(m, x, name, err);
    /* A fine pen drawn large leaves strokes thinner than MNIST's: thicken them where they were
     * found and fit again. Growing the ink by r on every side takes a stroke of width w in the
     * box (side S, scale 20 / S) to (w S / 20 + 2r) * 20 / (S + 2r), which is STROKE for
     * r = S (STROKE - w) / (40 - 2 STROKE). */
    double w = rc ? 0 : photo_stroke_width(x);
    if (rc == 0 && w < THIN) {
        int side2 = box_side(&m->bb);
        int r = (int)lround(side2 * (STROKE - w) / (2 * BOX - 2 * STROKE));
        if (r >= 1) {
            if (thicken(m, r)) rc = errf_no_memory(err, "%s: out of memory", name);
            else rc = fit_box(m, x, name, err);
        }
    }
    ink_map_free(m);
    /* a dot (a tap on a drawing pad) or a smudge scaled to the box reads as some digit: say so */
    if (rc == 0 && solid_square(x, BLOB))
        return errf(err, "%s: no clear digit: the ink is one solid blob (a dot?): it holds an %dx%d square of full ink "
                    "in the 28x28 input, as none of MNIST's 70000 digits does", name, BLOB, BLOB);
    int rows, cols, ph, pw;
    if (rc == 0 && regular_pattern(x, &rows, &cols, &ph, &pw))
        return errf(err, "%s: no clear digit: the ink is a regular pattern (a checkerboard?): %d of its %d rows and %d "
                    "of its %d columns in the 28x28 input cross %d strokes or more, a tenth of both at most in MNIST's "
                    "70000 digits", name, rows, ph, cols, pw, PATTERN_RUNS);
    int down, across;
    double rd, ra; /* digits side by side (flat_ok), 111 among them, are said to be a number instead */
    if (rc == 0 && !flat_ok && repeating_pattern(x, &down, &across, &rd, &ra)) {
        char way[2][80];
        for (int k = 0; k < 2; k++) {
            int p = k ? across : down;
            double r = k ? ra : rd;
            if (p) snprintf(way[k], sizeof way[k], "repeats every %d pixels %s (by %.2f)", p, k ? "across" : "down", r);
            else snprintf(way[k], sizeof way[k], "is the same moved %s (%.2f alike)", k ? "across" : "down", r);
        }
        return errf(err, "%s: no clear digit: the ink is a regular pattern (a checkerboard, stripes, a grid?): in the "
                    "28x28 input it %s and %s, as none of MNIST's 70000 digits does", name, way[0], way[1]);
    }
    return rc;
}

/* Whether the photo d is a blank page under a shadow (shadow_blank), as an error: 0, -1 with err, or NO_MEMORY. */
static int shadow_error(const decoded *d, const char *name, mnist_err *err) {
    int blank = shadow_blank(d, name);
    if (blank == NO_MEMORY) return errf_no_memory(err, "%s: out of memory", name);
    if (blank) return errf(err, "%s: no clear ink: the image looks blank under a shadow's straight edge", name);
    return 0;
}

/* read_digit (number: as photo_number reads), random pixels refused (noise_error): 0 with *m, or -1 with err, or
 * NO_MEMORY, m freed. */
static int digit_ink(const decoded *d, int number, ink_map *m, const char *name, mnist_err *err) {
    int rc = read_digit(d, number, m, name, err);
    if (rc) return rc == NO_MEMORY ? NO_MEMORY : -1;
    if (m->noise) {
        rc = noise_error(m, name, err);
        ink_map_free(m);
        return rc;
    }
    return 0;
}

static int number_count(const decoded *d, const char *name);

int photo_prepare(const decoded *d, const char *name, float *x, mnist_err *err) {
    ink_map m;
    int rc = digit_ink(d, 0, &m, name, err);
    if (rc) return rc;
    int beside = m.beside; /* said last: a blank page under a shadow, whose edge's pieces lie side by side, as one */
    rc = fit_digit(&m, beside, x, name, err);
    /* a blank page under a shadow's hard edge: what was read is pieces of the edge */
    if (rc == 0 && (rc = shadow_error(d, name, err))) return rc;
    if (rc == 0 && beside) {
        int nd = number_count(d, name);
        return errf(err, "%s: no clear digit: it holds %d digits side by side (a number?); crop it to one digit, or read "
                    "it as a number", name, nd > beside ? nd : beside + 1);
    }
    return rc;
}

/* A number's digits in the ink of m (its box m->bb): its parts (8-neighbours) in groups of columns, a part joining
 * the group whose columns hold half of its own, or half of the group's, the narrower's; a group under a third as tall
 * as the tallest (a piece of a digit that reaches past it, a speck) joins the group nearest it across. Each group is
 * then one digit, its ink alone in a plane of its own, into digits[] (cap of them; ink_map_free each): their count
 * left to right, more than cap refused as a number too long (-1 with err), or NO_MEMORY. */
static int number_digits(const ink_map *m, ink_map *digits, int cap, const char *name, mnist_err *err) {
    int bw = m->bb.x1 - m->bb.x0, bh = m->bb.y1 - m->bb.y0, w = m->ink.w, nparts, ng = 0, rc = 0;
    uint8_t *on = malloc((size_t)bw * bh);
    run *r = malloc((size_t)bh * ((bw + 1) / 2) * sizeof(run));
    box *pb = NULL, *gb = NULL;
    int *group = NULL, *order = NULL;
    if (!on || !r) goto out_of_memory;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) on[(size_t)y * bw + x] = m->ink.v[(size_t)(y + m->bb.y0) * w + x + m->bb.x0] > 0;
    long nruns = ink_parts(on, bw, bh, r, &nparts);
    pb = malloc(((size_t)nparts + 1) * sizeof(box)), gb = malloc(((size_t)nparts + 1) * sizeof(box));
    group = malloc(((size_t)nparts + 1) * sizeof(int)), order = malloc(((size_t)nparts + 1) * sizeof(int));
    if (!pb || !gb || !group || !order) goto out_of_memory;
    for (int i = 0; i < nparts; i++) pb[i] = (box){bw, bh, 0, 0}, order[i] = i;
    for (long i = 0; i < nruns; i++) box_add(&pb[-1 - r[i].up], &(box){r[i].x0, r[i].y, r[i].x1, r[i].y + 1});
    for (int i = 1; i < nparts; i++) /* by their left edges */
        for (int j = i; j > 0 && pb[order[j - 1]].x0 > pb[order[j]].x0; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int t = 0; t < nparts; t++) {
        int i = order[t], best = -1, most = 0;
        for (int g = 0; g < ng; g++) {
            int over = (pb[i].x1 < gb[g].x1 ? pb[i].x1 : gb[g].x1) - (pb[i].x0 > gb[g].x0 ? pb[i].x0 : gb[g].x0);
            int pw = pb[i].x1 - pb[i].x0, gw = gb[g].x1 - gb[g].x0;
            if (2 * over >= (pw < gw ? pw : gw) && over > most) best = g, most = over;
        }
        if (best < 0) gb[best = ng++] = pb[i];
        else box_add(&gb[best], &pb[i]);
        group[i] = best;
    }
    int tall = 0, *into = order; /* order's room: which group each group's ink goes to */
    for (int g = 0; g < ng; g++) tall = gb[g].y1 - gb[g].y0 > tall ? gb[g].y1 - gb[g].y0 : tall;
    int n = 0;
    for (int g = 0; g < ng; g++) /* the digits numbered in the order of their left edges */
        into[g] = 3 * (gb[g].y1 - gb[g].y0) >= tall ? n++ : -1;
    for (int g = 0, prev = -1; g < ng; g++) { /* a short group: to the nearest digit across */
        if (into[g] >= 0) { /* gb[0 .. g) are done with: the digit's box there */
            gb[into[g]] = gb[g], prev = into[g];
            continue;
        }
        int h = g + 1;
        while (h < ng && into[h] < 0) h++;
        int before = prev >= 0 ? gb[g].x0 - gb[prev].x1 : INT_MAX, after = h < ng ? gb[h].x0 - gb[g].x1 : INT_MAX;
        into[g] = after < before ? into[h] : prev; /* the digit before it, or after it where that is nearer */
    }
    /* the digits' boxes again, short groups added, in gb[0 .. n) */
    for (int g = 0; g < n; g++) gb[g] = (box){bw, bh, 0, 0};
    for (int i = 0; i < nparts; i++) box_add(&gb[into[group[i]]], &pb[i]);
    if (n > cap) {
        rc = errf(err, "%s: the number has %d digits, more than the %d read at most", name, n, cap);
        goto done;
    }
    memset(digits, 0, (size_t)n * sizeof *digits);
    for (int g = 0; g < n; g++) {
        int gw = gb[g].x1 - gb[g].x0, gh = gb[g].y1 - gb[g].y0;
        float *v = calloc((size_t)gw * gh, sizeof(float));
        if (!v) {
            for (int k = 0; k < g; k++) ink_map_free(&digits[k]);
            goto out_of_memory;
        }
        digits[g].mem = v, digits[g].ink = (plane){gw, gh, v}, digits[g].bb = (box){0, 0, gw, gh};
    }
    for (long i = 0; i < nruns; i++) {
        int g = into[group[-1 - r[i].up]], y = r[i].y;
        const float *src = m->ink.v + (size_t)(y + m->bb.y0) * w + m->bb.x0 + r[i].x0;
        float *dst = digits[g].ink.v + (size_t)(y - gb[g].y0) * digits[g].ink.w + (r[i].x0 - gb[g].x0);
        memcpy(dst, src, (size_t)(r[i].x1 - r[i].x0) * sizeof(float));
    }
    rc = n;
    goto done;
out_of_memory:
    rc = errf_no_memory(err, "%s: out of memory", name);
done:
    free(on);
    free(r);
    free(pb);
    free(gb);
    free(group);
    free(order);
    return rc;
}

/* How many digits photo_number finds in d, for photo_prepare's refusal of a number (digits_beside counts only those
 * within a digit's height of the digit kept: 2 of a 3-digit number); 0 where it finds none or fails. */
static int number_count(const decoded *d, const char *name) {
    ink_map m, digits[MNIST_MAX_DIGITS];
    mnist_err err;
    if (digit_ink(d, 1, &m, name, &err)) return 0;
    int nd = number_digits(&m, digits, MNIST_MAX_DIGITS, name, &err);
    ink_map_free(&m);
    for (int i = 0; i < nd; i++) ink_map_free(&digits[i]);
    return nd > 0 ? nd : 0;
}

/* ---- digits whose ink touches ------------------------------------------ */

/* Digits written close enough that their ink touches are one part, and number_digits makes one digit of them (a 7
 * and a 2 touching read as a 2). A digit's ink that is wide for one is cut along the cheapest paths down it
 * (cut_paths), the pieces between any two of them read as digits by the model, and the pieces that read best
 * together are kept (split_digit), two or more, where they read clearly as digits, and better than the whole does as
 * one (or where the cuts are thin). The model is sure of itself on a blob of
 * digits squeezed into the box, so the ink's width, the pieces' heights and the ink a cut crosses say where to look,
 * and a piece (or whole) as wide as few digits are reads as less likely a digit (SPLIT_FLAT).
 * Measured with bench/read_numbers.py (BENCHMARKS.md): chosen on its seed 1, where no single digit of 2500 was cut
 * and 38 of 94 numbers of 2 to 4 touching digits were (two pieces at a time). The pieces taken among all the cuts at
 * once, and SPLIT_THIN, were chosen there too: of its 100 touching numbers 25 read exactly, 29 at once, 35 with
 * SPLIT_THIN 0.8, again no single digit cut (at 1.0 a 0 was). SPLIT_FLAT's cost and SPLIT_LOOSE were chosen there
 * too (35 exact then 52, no single digit cut), and SPLIT_ONE on seed 0, where 2 single 0s, wide and flat, were cut
 * without it (2026-12-02). */
#define SPLIT_WIDE 1.1  /* ink narrower than this times its height is not cut ... */
#define SPLIT_OTHERS 1.5 /* ... nor than this times the other digits' (their median) */
#define SPLIT_CUTS 8    /* the cheapest cuts read */
#define SPLIT_INK 2.0   /* a cut crosses this many strokes' widths of ink at most */
#define SPLIT_TALL 0.7  /* each piece is this share of the ink's height tall at least */
#define SPLIT_SURE 0.8  /* the pieces' digits' probabilities' product is more than this ... */
#define SPLIT_LOOSE 2.0 /* ... or this much less in log-probability per unit of the whole's width / height over 1, where
                           every cut crosses SPLIT_ONE strokes' widths at most (one stroke, not a 0's two) */
#define SPLIT_ONE 1.6
#define SPLIT_FLAT 1.4  /* ink wider than this times its height reads as one digit less likely ... */
#define SPLIT_FLAT_COST 6.0 /* ... by this in log-probability per unit of width / height over it: of MNIST's
                               60000 training digits 831 are 1.4 times as wide as tall, 49 1.8 times, 33 2.0 times
                               (e^-5 to e^-7 a unit) */
#define SPLIT_STEP 0.1f /* a cut's cost per column it moves across, in pixels of full ink (a slanted cut is counted
                           as crossing that much more) */
#define SPLIT_THIN 0.8  /* pieces cut where they touch thinly (each cut crossing this many strokes' widths at most) ... */
                        /* ... need not read better than the whole: a cut through a wide 0 crosses 2 */
#define SPLIT_SAME 0.03 /* cuts that leave ink left of them within this share of it alike are one */
#define SPLIT_SIDE 0.12 /* a cut leaves this much of the ink's height on each side at least */

/* The SPLIT_CUTS cheapest paths down p (w x h) that cut its ink in different ways, each from the top row to the
 * bottom, moving a column at most a row (cost: the ink it crosses, SPLIT_STEP a column moved), and SPLIT_SIDE of h
 * from either side at least all the way down: cut[k * h + y] is the k-th path's column in row y. Returns how many,
 * or NO_MEMORY. */
static int cut_paths(const plane *p, int *cut, float *cost) {
    int w = p->w, h = p->h, lo = (int)ceil(SPLIT_SIDE * h), hi = w - lo, n = 0;
    if (hi <= lo) return 0;
    float *c = malloc((size_t)w * h * sizeof(float));
    signed char *from = malloc((size_t)w * h);
    double *left = malloc((size_t)w * sizeof(double)); /* per end: the ink left of its path */
    if (!c || !from || !left) {
        free(c);
        free(from);
        free(left);
        return NO_MEMORY;
    }
    for (int x = lo; x < hi; x++) c[x] = p->v[x], from[x] = 0;
    for (int y = 1; y < h; y++)
        for (int x = lo; x < hi; x++) {
            const float *u = c + (size_t)(y - 1) * w;
            float best = u[x];
            int f = 0;
            if (x > lo && u[x - 1] + SPLIT_STEP < best) best = u[x - 1] + SPLIT_STEP, f = -1;
            if (x + 1 < hi && u[x + 1] + SPLIT_STEP < best) best = u[x + 1] + SPLIT_STEP, f = 1;
            c[(size_t)y * w + x] = best + p->v[(size_t)y * w + x], from[(size_t)y * w + x] = (signed char)f;
        }
    for (int e = lo; e < hi; e++) {
        left[e] = 0;
        for (int y = h - 1, x = e; y >= 0; y--) {
            for (int k = 0; k < x; k++) left[e] += p->v[(size_t)y * w + k];
            x += from[(size_t)y * w + x];
        }
    }
    double all = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) all += p->v[i];
    const float *e = c + (size_t)(h - 1) * w;
    char *taken = (char *)from; /* from's first row is no longer needed: which ends are taken */
    memset(taken, 0, (size_t)w);
    for (; n < SPLIT_CUTS; n++) { /* the cheapest end whose cut is not one taken; of equals, the middlemost */
        int b = -1;
        for (int x = lo; x < hi; x++)
            if (!taken[x] && (b < 0 || e[x] < e[b] || (e[x] == e[b] && abs(2 * x - w) < abs(2 * b - w)))) b = x;
        if (b < 0) break;
        for (int x = lo; x < hi; x++) /* about the same cut of the ink (SPLIT_SAME of it) */
            taken[x] |= fabs(left[x] - left[b]) <= SPLIT_SAME * all;
        cost[n] = e[b];
        int *path = cut + (size_t)n * h;
        for (int y = h - 1, x = b; y >= 0; y--) {
            path[y] = x;
            if (y) x += from[(size_t)y * w + x];
        }
    }
    free(c);
    free(from);
    free(left);
    return n;
}

/* The ink of src (its plane whole) between two paths down it, from path a (x >= a[y]; NULL: from the left edge) to
 * path b (x < b[y]; NULL: to the right edge), cropped to its box into *out (ink_map_free it): 0, 1 where there is
 * none, or NO_MEMORY. */
static int cut_piece(const ink_map *src, const int *a, const int *b, ink_map *out) {
    const plane *p = &src->ink;
    box bb = {p->w, p->h, 0, 0};
    for (int y = 0; y < p->h; y++)
        for (int x = a ? a[y] : 0; x < (b ? b[y] : p->w); x++)
            if (p->v[(size_t)y * p->w + x] > 0) box_add(&bb, &(box){x, y, x + 1, y + 1});
    if (bb.x1 <= bb.x0) return 1;
    int bw = bb.x1 - bb.x0, bh = bb.y1 - bb.y0;
    float *v = calloc((size_t)bw * bh, sizeof(float));
    if (!v) return NO_MEMORY;
    for (int y = bb.y0; y < bb.y1; y++) {
        int x0 = a && a[y] > bb.x0 ? a[y] : bb.x0, x1 = b && b[y] < bb.x1 ? b[y] : bb.x1;
        for (int x = x0; x < x1; x++) v[(size_t)(y - bb.y0) * bw + x - bb.x0] = p->v[(size_t)y * p->w + x];
    }
    memset(out, 0, sizeof *out);
    out->mem = v, out->ink = (plane){bw, bh, v}, out->bb = (box){0, 0, bw, bh};
    return 0;
}

/* The log-probability that ink w x h is one digit by its shape alone, as SPLIT_FLAT says (0 up to it). */
static double flat_cost(int w, int h) {
    double r = (double)w / h;
    return r > SPLIT_FLAT ? -SPLIT_FLAT_COST * (r - SPLIT_FLAT) : 0;
}

/* The piece of src between paths a and b (as cut_piece) read as a digit: *lp the log-probability of the model's
 * digit for it, with flat_cost's, *h its height and *w its width. 0; 1 where it is none (no ink, or no clear digit to
 * fit_digit); -1 with err where the model failed, or NO_MEMORY. */
static int read_piece(const ink_map *src, const int *a, const int *b, digit_reader read, void *ctx, double *lp,
                      int *h, int *w, mnist_err *err) {
    ink_map piece;
    float x[MNIST_PIXELS], logp[MNIST_CLASSES];
    mnist_err e2;
    int rc = cut_piece(src, a, b, &piece);
    if (rc) return rc == NO_MEMORY ? errf_no_memory(err, "out of memory") : 1;
    *h = piece.bb.y1 - piece.bb.y0, *w = piece.bb.x1 - piece.bb.x0;
    rc = fit_digit(&piece, 0, x, "piece", &e2);
    if (rc == NO_MEMORY) return errf_no_memory(err, "out of memory");
    if (rc) return 1;
    if (read(ctx, x, logp, err)) return -1;
    *lp = logp[0];
    for (int k = 1; k < MNIST_CLASSES; k++) *lp = logp[k] > *lp ? logp[k] : *lp;
    *lp += flat_cost(*w, *h);
    return 0;
}

/* Whether path a lies left of path b (or on it) in every one of the h rows; NULL is the left edge as a and the right
 * edge as b. */
static int path_left_of(const int *a, const int *b, int h) {
    if (!a || !b) return 1;
    for (int y = 0; y < h; y++)
        if (a[y] > b[y]) return 0;
    return 1;
}

/* Digit i of the nd in digits[] (cap at most) cut into pieces where that reads better (the pieces into i, i + 1 ...,
 * the rest moved up): where it is SPLIT_WIDE times as wide as tall or more, of its cut_paths those that cross
 * SPLIT_INK strokes' widths of ink at most, ordered across it, each run of pieces between paths that do not cross
 * (each SPLIT_TALL of its height tall) is read, and the pieces whose digits are likeliest together are chosen (the
 * product of their probabilities and flat_cost's, more than SPLIT_SURE or SPLIT_LOOSE's, and more than the whole's
 * digit's unless every cut crosses SPLIT_THIN strokes' widths at most: the network reads a blob of digits with
 * confidence; the whole's flat_cost counts only where every cut crosses SPLIT_ONE at most): 3 or 4 digits touching,
 * which no one cut leaves as two clear digits, are cut at once. A whole that is no digit to fit_digit (too wide for
 * one, a blob, a pattern) one of whose pieces is still SPLIT_WIDE times as wide as tall is taken for more digits than
 * SPLIT_CUTS cuts part, and left so (fit_digit refuses it): in doubt, refused rather than read as fewer digits; and
 * so is a cut into more digits than cap leaves room for. 1 where it was cut, 0 where not, -1 with err (naming name)
 * where the model failed or the digits would be more than cap, or NO_MEMORY. */
static int split_digit(ink_map *digits, int *others, int *nd, int i, int cap, const char *name, digit_reader read,
                       void *ctx, mnist_err *err) {
    ink_map *m = &digits[i];
    int w = m->ink.w, h = m->ink.h, rc, hp, wp;
    if (w < SPLIT_WIDE * h || w < SPLIT_OTHERS * others[i]) return 0;
    double whole, stroke = stroke_width(m->ink.v, w, h, 1),
           unit = stroke > 0 ? stroke : 1, /* a stroke cut by the plane's edge: outline there too */
           most = SPLIT_INK * unit;
    rc = read_piece(m, NULL, NULL, read, ctx, &whole, &hp, &wp, err);
    if (rc == 1) whole = -INFINITY, rc = 0; /* no digit as a whole (wider than any, say): its pieces may be */
    if (rc) return rc;
    double shape = whole > -INFINITY ? flat_cost(wp, hp) : 0; /* of whole */
    float cost[SPLIT_CUTS];
    int *cut = malloc((size_t)SPLIT_CUTS * h * sizeof(int));
    if (!cut) return errf_no_memory(err, "out of memory");
    int ncut = cut_paths(&m->ink, cut, cost);
    if (ncut == NO_MEMORY) {
        free(cut);
        return errf_no_memory(err, "out of memory");
    }
    /* the paths kept, across: at[0] the left edge, at[n - 1] the right (NULL), the cuts between by their mean column */
    const int *at[SPLIT_CUTS + 2];
    double mean[SPLIT_CUTS + 2], ink[SPLIT_CUTS + 2];
    int n = 1;
    at[0] = NULL, mean[0] = -1, ink[0] = 0;
    for (int k = 0; k < ncut; k++) {
        if (cost[k] > most) continue;
        const int *path = cut + (size_t)k * h;
        double sum = 0;
        for (int y = 0; y < h; y++) sum += path[y];
        int t = n++;
        for (; t > 1 && mean[t - 1] > sum / h; t--) at[t] = at[t - 1], mean[t] = mean[t - 1], ink[t] = ink[t - 1];
        at[t] = path, mean[t] = sum / h, ink[t] = cost[k];
    }
    ink[n] = 0, at[n++] = NULL;
    /* best[j][p]: the likeliest p pieces from the left edge to path j (their log-probabilities summed; -INFINITY
     * where none), from[j][p] the path before the last of them (kept apart by count); p up to n - 1, whatever room
     * cap leaves: a cut held to it read 17 digits, two touching, as 16 */
    double best[SPLIT_CUTS + 2][SPLIT_CUTS + 2];
    int from[SPLIT_CUTS + 2][SPLIT_CUTS + 2], room = n - 1;
    for (int j = 0; j < n; j++)
        for (int p = 0; p <= room; p++) best[j][p] = -INFINITY, from[j][p] = -1;
    best[0][0] = 0;
    for (int j = 1; j < n && rc == 0; j++) {
        for (int a = 0; a < j && rc == 0; a++) {
            double lp;
            int any = 0;
            for (int p = 0; p < room; p++) any |= best[a][p] > -INFINITY;
            if ((a == 0 && j == n - 1) || !any || !path_left_of(at[a], at[j], h)) continue;
            rc = read_piece(m, at[a], j < n - 1 ? at[j] : NULL, read, ctx, &lp, &hp, &wp, err);
            if (rc == 1) { /* a piece that is no digit: not these paths */
                rc = 0;
                continue;
            }
            for (int p = 0; rc == 0 && hp >= SPLIT_TALL * h && p < room; p++)
                if (best[a][p] > -INFINITY && best[a][p] + lp > best[j][p + 1])
                    best[j][p + 1] = best[a][p] + lp, from[j][p + 1] = a;
        }
    }
    int last = n - 1, np = 0; /* the likeliest pieces to the right edge, of any count (2 or more) */
    for (int p = 2; rc == 0 && p <= room; p++)
        if (best[last][p] > -INFINITY && (np == 0 || best[last][p] > best[last][np])) np = p;
    double crossed = 0; /* the most ink a kept cut crosses */
    for (int j = last, p = np; p > 1; p--) /* the np - 1 cuts, from the right */
        j = from[j][p], crossed = ink[j] > crossed ? ink[j] : crossed;
    double sure = log(SPLIT_SURE);
    if (crossed <= SPLIT_ONE * unit)
        sure -= SPLIT_LOOSE * ((double)w / h - 1);
    else if (whole > -INFINITY)
        whole -= shape; /* the whole's shape does not count for cuts through two strokes (a wide 0) */
    if (rc == 0 && np >= 2 && best[last][np] > sure && (best[last][np] > whole || crossed <= SPLIT_THIN * unit)) {
        ink_map part[SPLIT_CUTS + 1];
        int k = np, j = last;
        while (k > 0 && rc == 0) { /* the pieces, from the right: the k-th ends at path j */
            int a = from[j][k];
            rc = cut_piece(m, at[a], j < n - 1 ? at[j] : NULL, &part[--k]);
            if (rc) rc = NO_MEMORY; /* none: the piece was read */
            j = a;
        }
        for (int q = 0; rc == 0 && whole == -INFINITY && q < np; q++)
            if (part[q].ink.w >= SPLIT_WIDE * part[q].ink.h) rc = 1; /* more digits than the cuts part */
        if (rc == 0 && *nd + np - 1 > cap)
            rc = errf(err, "%s: the number has %d digits or more (touching ones cut apart), more than the %d read at "
                      "most", name, *nd + np - 1, cap);
        if (rc == 1 || rc == -1) {
            for (int q = 0; q < np; q++) ink_map_free(&part[q]);
            rc = rc == 1 ? 0 : -1;
        } else if (rc == 0) {
            ink_map_free(m);
            memmove(digits + i + np, digits + i + 1, (size_t)(*nd - i - 1) * sizeof *digits);
            memmove(others + i + np, others + i + 1, (size_t)(*nd - i - 1) * sizeof *others);
            for (k = 0; k < np; k++) digits[i + k] = part[k], others[i + k] = others[i];
            *nd += np - 1, rc = 1;
        } else {
            for (int q = k + 1; q < np; q++) ink_map_free(&part[q]);
            rc = errf_no_memory(err, "out of memory");
        }
    }
    free(cut);
    return rc;
}

int photo_number(const decoded *d, const char *name, float *x, int cap, int *n, digit_reader read, void *ctx,
                 mnist_err *err) {
    ink_map m, digits[MNIST_MAX_DIGITS];
    *n = 0;
    cap = cap < MNIST_MAX_DIGITS ? cap : MNIST_MAX_DIGITS;
    int rc = digit_ink(d, 1, &m, name, err);
    if (rc) return rc;
    int nd = number_digits(&m, digits, cap, name, err);
    ink_map_free(&m);
    if (nd < 0) return nd;
    if (nd == 0) return errf(err, "%s: no clear ink", name);
    rc = 0;
    int others[MNIST_MAX_DIGITS]; /* per digit found, the median width of the others (0: none), its pieces' too */
    for (int i = 0; i < nd; i++) {
        int wd[MNIST_MAX_DIGITS], k = 0;
        for (int j = 0; j < nd; j++) { /* in order */
            int t = k;
            if (j == i) continue;
            for (; t > 0 && wd[t - 1] > digits[j].ink.w; t--) wd[t] = wd[t - 1];
            wd[t] = digits[j].ink.w, k++;
        }
        others[i] = k ? wd[k / 2] : 0;
    }
    for (int i = 0; read && i < nd && rc >= 0;) { /* a digit cut is looked at again (its left piece) */
        rc = split_digit(digits, others, &nd, i, cap, name, read, ctx, err);
        i += rc == 0;
    }
    if (rc < 0) {
        for (int i = 0; i < nd; i++) ink_map_free(&digits[i]);
        if (rc == NO_MEMORY) errf_no_memory(err, "%s: out of memory", name);
        return rc;
    }
    rc = 0;
    for (int i = 0; i < nd; i++) {
        char label[MNIST_ERR_LEN];
        snprintf(label, sizeof label, "%s: digit %d of %d", name, i + 1, nd);
        if (rc == 0) rc = fit_digit(&digits[i], 0, x + (size_t)i * MNIST_PIXELS, label, err);
        else ink_map_free(&digits[i]);
    }
    if (rc == 0) rc = shadow_error(d, name, err);
    if (rc == 0) *n = nd;
    return rc;
}
