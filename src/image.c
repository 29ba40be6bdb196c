/* image.c: image files to the 784 inputs the network sees.
 *
 * Decoding is stb_image's (Debian's libstb, which holds the implementations). Two recipes:
 *
 *   lab    the lab's load_image, Image.open(f).convert('L').resize((28, 28)) / 255, byte for
 *          byte: Pillow's integer ITU-R 601-2 luma, then Pillow's BICUBIC resampling (a = -0.5,
 *          support widened by the reduction factor, 22-bit fixed-point coefficients, a horizontal
 *          then a vertical pass, each rounded and clipped to 8 bits).
 *   mnist  as MNIST was made (LeCun et al.: the digit size-normalised to a 20x20 box keeping its
 *          aspect ratio, anti-aliased, centred in 28x28 by its centre of mass), after what a photo
 *          needs first: alpha over white, luma, a smaller working copy by area averaging, the ink's
 *          polarity, the paper's uneven lighting estimated and divided out, a noise-aware
 *          threshold, specks dropped, and a crop to the ink.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_resize.h>

#include "util.h"

#define BOX 20             /* MNIST's digits fill a 20x20 box ... */
#define CENTRE 14.0        /* ... whose centre of mass sits at pixel (14, 14) of 28x28 (measured) */
#define WORK_MAX 512       /* longest side of the working copy of a photo */
#define SMALL_INK 96       /* ink smaller than this (working pixels) is looked at again, closer */
#define PAPER_MIN 0.2f      /* paper darker than this is taken as this: dark paper is no paper */
#define NOISY 0.02f         /* noise (relative to the paper) above which the ink is smoothed */
#define THIN 1.5            /* strokes thinner than this in the 28x28 input are thickened ... */
#define STROKE 2.0          /* ... to this, MNIST's median (see stroke_width) */
#define MAX_FILE (1u << 30) /* image files larger than 1 GiB are refused before reading */

typedef struct {
    int w, h;
    float *v; /* (h, w) */
} plane;

static int plane_new(plane *p, int w, int h, const char *name, mnist_err *err) {
    p->w = w, p->h = h;
    p->v = calloc((size_t)w * h, sizeof(float));
    return p->v ? 0 : errf(err, "%s: out of memory for a %dx%d image", name, w, h);
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct {
    uint8_t *px;     /* (h, w, nc) bytes from stb_image */
    uint16_t *px16;  /* (h, w) for 16-bit grayscale in the lab recipe (Pillow clips it, see below) */
    int w, h, nc;    /* nc: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
} decoded;

static void decoded_free(decoded *d) {
    stbi_image_free(d->px);
    stbi_image_free(d->px16);
}

/* Formats stb_image reads that the command does not promise; refused so that a server exposes
 * only the decoders it means to. */
/* stb_image's reason for its last failure, printable and on one line (fuzzing found a reason
 * that is a lone newline: tests/data/image-newline-reason.png). */
static const char *stb_reason(char *buf, size_t cap) {
    const char *r = stbi_failure_reason();
    size_t n = 0;
    for (; r && r[n] && n + 1 < cap; n++) buf[n] = r[n] >= 32 && r[n] < 127 ? r[n] : ' ';
    while (n && buf[n - 1] == ' ') n--;
    buf[n] = '\0';
    return n ? buf : "no reason given";
}

static const char *unsupported(const uint8_t *b, size_t n) {
    if (n >= 4 && !memcmp(b, "8BPS", 4)) return "PSD";
    if (n >= 6 && !memcmp(b, "#?RGBE", 6)) return "HDR";
    if (n >= 10 && !memcmp(b, "#?RADIANCE", 10)) return "HDR";
    if (n >= 4 && b[0] == 0x53 && b[1] == 0x80 && b[2] == 0xF6 && b[3] == 0x34) return "Softimage PIC";
    return NULL;
}

/* For the uncompressed kinds of PNM (P5, P6) and TGA (types 1-3): *need gets the bytes that the
 * header promises (header, palette and w x h pixels) and the function returns 1; else 0. stb_image
 * leaves the pixels of such a file cut short uninitialised (found by fuzz_image, seen under
 * valgrind: the network would see leftover heap memory), so a short one is refused first. */
static int raw_size(const uint8_t *b, size_t n, uint64_t w, uint64_t h, uint64_t *need) {
    if (n >= 18 && b[1] <= 1 && b[2] >= 1 && b[2] <= 3 && !(b[2] == 1 && b[1] != 1)) { /* TGA, as stb tests it */
        uint64_t pal = b[1] ? (uint64_t)(b[5] | b[6] << 8) * ((b[7] + 7u) / 8) : 0;
        *need = 18 + b[0] + pal + w * h * ((b[16] + 7u) / 8);
        return 1;
    }
    if (n < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return 0;
    size_t i = 2;
    uint64_t v[3] = {0, 0, 0}; /* width, height, maxval */
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and comments, as stb skips them */
            while (i < n && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r'))) i++;
            if (i >= n || b[i] != '#') break;
            while (i < n && b[i] != '\n' && b[i] != '\r') i++;
        }
        while (i < n && b[i] >= '0' && b[i] <= '9' && v[k] < (1u << 30)) v[k] = 10 * v[k] + (uint64_t)(b[i++] - '0');
    }
    *need = i + 1 + w * h * (b[1] == '6' ? 3u : 1u) * (v[2] > 255 ? 2u : 1u);
    return 1;
}

static int decode(const uint8_t *bytes, size_t len, const char *name, int lab, decoded *d, mnist_err *err) {
    memset(d, 0, sizeof *d);
    char why[64];
    if (len == 0) return errf(err, "%s: empty file", name);
    if (len > INT_MAX) return errf(err, "%s: %zu bytes is too large a file", name, len);
    const char *no = unsupported(bytes, len);
    if (no) return errf(err, "%s: %s images are not supported (PNG, JPEG, BMP, GIF, TGA, PNM are)", name, no);
    int w, h, nc;
    if (!stbi_info_from_memory(bytes, (int)len, &w, &h, &nc))
        return errf(err, "%s: not a PNG, JPEG, BMP, GIF, TGA or PNM image (%s)", name, stb_reason(why, sizeof why));
    if (w < 1 || h < 1) return errf(err, "%s: the image is %dx%d", name, w, h);
    if ((uint64_t)w * (uint64_t)h > MNIST_MAX_IMAGE_PIXELS)
        return errf(err, "%s: %dx%d is %.1f megapixels, over the limit of %u", name, w, h, (double)w * h / 1e6,
                    MNIST_MAX_IMAGE_PIXELS);
    uint64_t need;
    if (raw_size(bytes, len, (uint64_t)w, (uint64_t)h, &need) && need > len)
        return errf(err, "%s: truncated: its header promises %dx%d pixels in %llu bytes, the file has %zu", name, w, h,
                    (unsigned long long)need, len);
    int dw, dh;
    /* Pillow opens 16-bit grayscale as mode I and convert('L') clips it to 0..255; stb would
     * scale it to 8 bits instead. Every other 16-bit kind Pillow reduces to its high byte, as stb. */
    if (lab && nc == 1 && stbi_is_16_bit_from_memory(bytes, (int)len)) {
        d->px16 = stbi_load_16_from_memory(bytes, (int)len, &dw, &dh, &d->nc, 1);
        d->nc = 1;
    } else {
        d->px = stbi_load_from_memory(bytes, (int)len, &dw, &dh, &d->nc, 0);
    }
    if (!d->px && !d->px16) return errf(err, "%s: cannot decode the image (%s)", name, stb_reason(why, sizeof why));
    if (dw != w || dh != h || d->nc < 1 || d->nc > 4) {
        decoded_free(d);
        return errf(err, "%s: the image decoded to %dx%d with %d channels, not the %dx%d its header says", name,
                    dw, dh, d->nc, w, h);
    }
    d->w = w, d->h = h;
    return 0;
}

/* ---- the lab's recipe: Pillow, byte for byte --------------------------- */

#define PIL_BITS 22 /* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */

/* Pillow's BICUBIC kernel (a = -0.5), one operation per statement so that no compiler fuses a
 * multiply and an add that Pillow's build does not. */
static double pil_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) {
        double t = (a + 2.0) * x;
        t = t - (a + 3.0);
        t = t * x;
        t = t * x;
        return t + 1;
    }
    if (x < 2.0) {
        double t = x - 5;
        t = t * x;
        t = t + 8;
        t = t * x;
        t = t - 4;
        return t * a;
    }
    return 0.0;
}

/* Pillow's precompute_coeffs and normalize_coeffs_8bpc for one axis, box (0, in): for output
 * pixel o, source pixels first[o] .. first[o] + count[o] - 1 with weights k[o * ksize + i]. */
static int pil_coeffs(int in, int out, int *first, int *count, int32_t **kp, int *ksizep) {
    double scale = (double)(float)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc((size_t)ksize * sizeof(double));
    int32_t *kk = calloc((size_t)out * ksize, sizeof(int32_t));
    if (!k || !kk) {
        free(k);
        free(kk);
        return -1;
    }
    for (int o = 0; o < out; o++) {
        double center = (o + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int n = hi - lo;
        for (int i = 0; i < n; i++) {
            double t = (i + lo) - center;
            t = t + 0.5;
            k[i] = pil_bicubic(t * ss);
            ww += k[i];
        }
        for (int i = 0; i < n; i++) {
            if (ww != 0.0) k[i] /= ww;
            double f = k[i] * (1 << PIL_BITS);
            kk[(size_t)o * ksize + i] = (int32_t)(k[i] < 0 ? -0.5 + f : 0.5 + f);
        }
        first[o] = lo, count[o] = n;
    }
    free(k);
    *kp = kk, *ksizep = ksize;
    return 0;
}

static uint8_t pil_clip8(int64_t v) {
    if (v < 0) return 0;
    v >>= PIL_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* Pillow's convert('L'): L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, alpha ignored; gray
 * (with or without alpha) is kept as it is; 16-bit gray is clipped to 255. */
static uint8_t pil_luma(const decoded *d, size_t i) {
    if (d->px16) return d->px16[i] > 255 ? 255 : (uint8_t)d->px16[i];
    const uint8_t *p = d->px + i * d->nc;
    if (d->nc <= 2) return p[0];
    return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

/* resize((28, 28)) with Pillow's default filter for mode L, BICUBIC: a horizontal pass over the
 * rows the vertical pass reads, then the vertical pass, each rounded and clipped to bytes. */
static int lab_prepare(const decoded *d, const char *name, float *x, mnist_err *err) {
    int w = d->w, h = d->h, S = MNIST_SIDE;
    int hf[MNIST_SIDE], hn[MNIST_SIDE], vf[MNIST_SIDE], vn[MNIST_SIDE], hk = 0, vk = 0;
    int32_t *hkk = NULL, *vkk = NULL;
    uint8_t *tmp = NULL;
    int rc = 0;
    if (pil_coeffs(w, S, hf, hn, &hkk, &hk) || pil_coeffs(h, S, vf, vn, &vkk, &vk)) {
        rc = errf(err, "%s: out of memory for resampling", name);
        goto done;
    }
    int y0 = vf[0], y1 = vf[S - 1] + vn[S - 1]; /* the rows the vertical pass reads */
    if (!(tmp = malloc((size_t)(y1 - y0) * S))) {
        rc = errf(err, "%s: out of memory for resampling", name);
        goto done;
    }
    for (int y = y0; y < y1; y++) {
        uint8_t *row = tmp + (size_t)(y - y0) * S;
        for (int o = 0; o < S; o++) {
            if (w == S) { /* Pillow skips the pass: the pixels as they are */
                row[o] = pil_luma(d, (size_t)y * w + o);
                continue;
            }
            int64_t s = 1 << (PIL_BITS - 1);
            const int32_t *k = hkk + (size_t)o * hk;
            for (int i = 0; i < hn[o]; i++) s += (int64_t)pil_luma(d, (size_t)y * w + hf[o] + i) * k[i];
            row[o] = pil_clip8(s);
        }
    }
    for (int o = 0; o < S; o++)
        for (int c = 0; c < S; c++) {
            uint8_t v;
            if (h == S) {
                v = tmp[(size_t)(o - y0) * S + c];
            } else {
                int64_t s = 1 << (PIL_BITS - 1);
                const int32_t *k = vkk + (size_t)o * vk;
                for (int i = 0; i < vn[o]; i++) s += (int64_t)tmp[(size_t)(vf[o] + i - y0) * S + c] * k[i];
                v = pil_clip8(s);
            }
            x[o * S + c] = (float)v / 255.0f; /* np.float32 / 255.0, as the lab */
        }
done:
    free(hkk);
    free(vkk);
    free(tmp);
    return rc;
}

/* ---- the MNIST recipe: the working copy ------------------------------- */

typedef struct {
    const decoded *d;
    float bg; /* what transparent pixels show: 1 (white paper) or 0 */
} source;

/* Row y, columns x0 .. x0 + n - 1 of the source as luma in [0, 1], alpha composited over bg. */
static void source_row(const source *s, int y, int x0, int n, float *out) {
    const decoded *d = s->d;
    const uint8_t *p = d->px + ((size_t)y * d->w + x0) * d->nc;
    for (int i = 0; i < n; i++, p += d->nc) {
        float l = d->nc <= 2 ? p[0] / 255.0f : (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;
        if (d->nc == 2 || d->nc == 4) {
            float a = p[d->nc - 1] / 255.0f;
            l = l * a + s->bg * (1 - a);
        }
        out[i] = l;
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
 * covers [o * r, (o + 1) * r) with r = in / out; each source pixel weighs by its overlap. */
typedef struct {
    int *first, *count, taps;
    float *w;
} area_axis;

static int area_axis_make(area_axis *a, int in, int out) {
    double r = (double)in / out;
    a->taps = (int)ceil(r) + 1;
    a->first = malloc((size_t)out * sizeof(int));
    a->count = malloc((size_t)out * sizeof(int));
    a->w = calloc((size_t)out * a->taps, sizeof(float));
    if (!a->first || !a->count || !a->w) return -1;
    for (int o = 0; o < out; o++) {
        double lo = o * r, hi = (o + 1) * r;
        int i0 = (int)floor(lo), i1 = (int)ceil(hi);
        if (i1 > in) i1 = in;
        if (i1 - i0 > a->taps) i1 = i0 + a->taps;
        a->first[o] = i0, a->count[o] = i1 - i0;
        for (int i = i0; i < i1; i++) {
            double c = fmin(i + 1, hi) - fmax(i, lo);
            a->w[(size_t)o * a->taps + i - i0] = (float)(c > 0 ? c / r : 0);
        }
    }
    return 0;
}

static void area_axis_free(area_axis *a) {
    free(a->first);
    free(a->count);
    free(a->w);
}

/* The region [x0, x0 + rw) x [y0, y0 + rh) of the source, reduced by area averaging so that its
 * longest side is at most WORK_MAX, into p; *scale gets working pixels per source pixel. Reads
 * the source a row at a time, so a large photo never exists as floats. */
static int working_copy(const source *s, int x0, int y0, int rw, int rh, plane *p, double *scale, const char *name,
                        mnist_err *err) {
    int big = rw > rh ? rw : rh;
    double sc = big > WORK_MAX ? (double)WORK_MAX / big : 1.0;
    int ow = (int)lround(rw * sc), oh = (int)lround(rh * sc);
    ow = ow < 1 ? 1 : ow, oh = oh < 1 ? 1 : oh;
    if (plane_new(p, ow, oh, name, err)) return -1;
    *scale = (double)ow / rw;
    float *row = malloc((size_t)rw * sizeof(float)), *hrow = malloc((size_t)ow * sizeof(float));
    area_axis ax = {0}, ay = {0};
    int rc = 0;
    if (!row || !hrow || area_axis_make(&ax, rw, ow) || area_axis_make(&ay, rh, oh)) {
        rc = errf(err, "%s: out of memory for a %dx%d working copy", name, ow, oh);
        goto done;
    }
    int have = -1; /* the source row whose horizontal reduction hrow holds */
    for (int o = 0; o < oh; o++) {
        float *out = p->v + (size_t)o * ow;
        for (int t = 0; t < ay.count[o]; t++) {
            int y = ay.first[o] + t;
            float wy = ay.w[(size_t)o * ay.taps + t];
            if (y != have) {
                source_row(s, y0 + y, x0, rw, row);
                for (int c = 0; c < ow; c++) {
                    float acc = 0;
                    const float *wx = ax.w + (size_t)c * ax.taps;
                    for (int i = 0; i < ax.count[c]; i++) acc += wx[i] * row[ax.first[c] + i];
                    hrow[c] = acc;
                }
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
    if (rc) free(p->v), p->v = NULL;
    return rc;
}

/* ---- the MNIST recipe: finding the ink --------------------------------- */

static void swapf(float *a, float *b) {
    float t = *a;
    *a = *b, *b = t;
}

/* The k-th smallest of a[0..n-1] (a is reordered): Hoare's selection. */
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

/* The q-quantile of v[0..n-1], from at most 65536 of them evenly spread (they estimate the
 * paper's level and its noise, for which that is plenty); scratch holds n floats. */
static float quantile(const float *v, long n, double q, float *scratch) {
    long step = n / 65536 + 1, m = 0;
    for (long i = 0; i < n; i += step) scratch[m++] = v[i];
    return select_kth(scratch, m, (long)(q * (m - 1) + 0.5));
}

/* out = v smoothed by the 3x3 kernel [1 2 1]^T [1 2 1] / 16, edges clamped. */
static void smooth3(const plane *v, float *out, float *tmp) {
    int w = v->w, h = v->h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float *r = v->v + (size_t)y * w;
            tmp[(size_t)y * w + x] = 0.25f * r[x > 0 ? x - 1 : x] + 0.5f * r[x] + 0.25f * r[x < w - 1 ? x + 1 : x];
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float *up = tmp + (size_t)(y > 0 ? y - 1 : y) * w, *dn = tmp + (size_t)(y < h - 1 ? y + 1 : y) * w;
            out[(size_t)y * w + x] = 0.25f * up[x] + 0.5f * tmp[(size_t)y * w + x] + 0.25f * dn[x];
        }
}

typedef struct {
    int x0, y0, x1, y1; /* bounding box of the ink, x1 and y1 exclusive */
} box;

typedef struct {
    plane ink;   /* ink in [0, 1], 0 where there is none */
    box bb;
} ink_map;

/* The level of the paper under every pixel of p (ink dark on light), in bg. A coarse grid of
 * blocks, each summarised by its 90th percentile (so that strokes covering most of a block still
 * leave its paper); a quadratic in x and y fitted to the blocks by least squares, first to the
 * brighter half of them, then again and again to those not far below the fit (far below is ink):
 * that is the lighting, a gradient and a vignette. What the quadratic misses (a soft shadow, and
 * the blocks inside thick strokes) is added back after a grey closing over the grid, which fills
 * the narrow dips of strokes but keeps the broad ones of shadows. */
#define GRID 24 /* blocks along the longer side */
#define NQ 6    /* terms of the quadratic */

static void quad_terms(double u, double v, double *t) {
    t[0] = 1, t[1] = u, t[2] = v, t[3] = u * u, t[4] = u * v, t[5] = v * v;
}

/* Solve A c = b (NQ x NQ) by Gaussian elimination with partial pivoting; A has a small ridge. */
static void solve(double A[NQ][NQ], double *b, double *c) {
    for (int i = 0; i < NQ; i++) A[i][i] += 1e-9 + 1e-6 * A[0][0];
    for (int col = 0; col < NQ; col++) {
        int piv = col;
        for (int r = col + 1; r < NQ; r++)
            if (fabs(A[r][col]) > fabs(A[piv][col])) piv = r;
        for (int k = 0; k < NQ; k++) {
            double t = A[col][k];
            A[col][k] = A[piv][k], A[piv][k] = t;
        }
        double t = b[col];
        b[col] = b[piv], b[piv] = t;
        for (int r = col + 1; r < NQ; r++) {
            double f = A[r][col] / A[col][col];
            for (int k = col; k < NQ; k++) A[r][k] -= f * A[col][k];
            b[r] -= f * b[col];
        }
    }
    for (int r = NQ - 1; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < NQ; k++) s -= A[r][k] * c[k];
        c[r] = s / A[r][r];
    }
}

static int paper_level(const plane *p, float *bg, float *scratch) {
    int w = p->w, h = p->h, big = w > h ? w : h;
    int bs = (big + GRID - 1) / GRID;
    bs = bs < 4 ? 4 : bs;
    int gw = (w + bs - 1) / bs, gh = (h + bs - 1) / bs, ng = gw * gh, sb = (bs + 15) / 16;
    float *g = malloc((size_t)ng * sizeof(float)), *e = malloc((size_t)ng * sizeof(float));
    float *e2 = malloc((size_t)ng * sizeof(float)), *absr = malloc((size_t)ng * sizeof(float));
    double *gu = malloc((size_t)ng * sizeof(double)), *gv = malloc((size_t)ng * sizeof(double));
    char *use = malloc((size_t)ng);
    int rc = -1;
    if (!g || !e || !e2 || !absr || !gu || !gv || !use) goto done;
    for (int by = 0; by < gh; by++)
        for (int bx = 0; bx < gw; bx++) {
            long n = 0;
            int x1 = (bx + 1) * bs < w ? (bx + 1) * bs : w, y1 = (by + 1) * bs < h ? (by + 1) * bs : h;
            for (int y = by * bs; y < y1; y += sb) /* at most 16x16 of each block */
                for (int x = bx * bs; x < x1; x += sb) scratch[n++] = p->v[(size_t)y * w + x];
            int b = by * gw + bx;
            g[b] = select_kth(scratch, n, (long)(0.9 * (n - 1) + 0.5));
            gu[b] = (bx * bs + x1) / (double)w - 1, gv[b] = (by * bs + y1) / (double)h - 1; /* centre, in [-1, 1] */
        }
    for (int b = 0; b < ng; b++) absr[b] = g[b];
    float gmed = select_kth(absr, ng, ng / 2);
    for (int b = 0; b < ng; b++) use[b] = g[b] >= gmed;
    double c[NQ] = {0};
    for (int it = 0; it < 6; it++) {
        double A[NQ][NQ] = {{0}}, rhs[NQ] = {0}, t[NQ];
        for (int b = 0; b < ng; b++) {
            if (!use[b]) continue;
            quad_terms(gu[b], gv[b], t);
            for (int i = 0; i < NQ; i++) {
                rhs[i] += t[i] * g[b];
                for (int k = 0; k < NQ; k++) A[i][k] += t[i] * t[k];
            }
        }
        if (A[0][0] < 1) break; /* no block left: keep the last fit */
        solve(A, rhs, c);
        int m = 0; /* paper's residuals scatter both ways; ink's only down: the scale from those above */
        for (int b = 0; b < ng; b++) {
            quad_terms(gu[b], gv[b], t);
            double f = 0;
            for (int i = 0; i < NQ; i++) f += c[i] * t[i];
            e[b] = (float)(g[b] - f);
            if (e[b] > 0) absr[m++] = e[b];
        }
        float scale = m ? 1.4826f * select_kth(absr, m, m / 2) : 0;
        for (int b = 0; b < ng; b++) use[b] = e[b] > -3 * scale - 0.02f;
    }
    /* the closing: the largest of each 5x5 blocks, then the smallest; dips up to 4 blocks across
     * are filled from around them */
    const int R = 2;
    for (int pass = 0; pass < 2; pass++) {
        const float *src = pass ? e2 : e;
        float *dst = pass ? e : e2;
        for (int by = 0; by < gh; by++)
            for (int bx = 0; bx < gw; bx++) {
                float mm = src[by * gw + bx];
                for (int yy = by - R; yy <= by + R; yy++)
                    for (int xx = bx - R; xx <= bx + R; xx++) {
                        if (yy < 0 || yy >= gh || xx < 0 || xx >= gw) continue;
                        float v = src[yy * gw + xx];
                        mm = pass ? (v < mm ? v : mm) : (v > mm ? v : mm);
                    }
                dst[by * gw + bx] = mm;
            }
    }
    for (int y = 0; y < h; y++) {
        float fy = (y + 0.5f) / bs - 0.5f;
        fy = fy < 0 ? 0 : fy > gh - 1 ? gh - 1 : fy;
        int iy = (int)fy, jy = iy + 1 < gh ? iy + 1 : iy;
        float ty = fy - iy;
        double v = (2 * y + 1.0) / h - 1, q0 = c[0] + v * (c[2] + v * c[5]), q1 = c[1] + v * c[4];
        for (int x = 0; x < w; x++) {
            float fx = (x + 0.5f) / bs - 0.5f;
            fx = fx < 0 ? 0 : fx > gw - 1 ? gw - 1 : fx;
            int ix = (int)fx, jx = ix + 1 < gw ? ix + 1 : ix;
            float tx = fx - ix;
            float top = e[iy * gw + ix] * (1 - tx) + e[iy * gw + jx] * tx;
            float bot = e[jy * gw + ix] * (1 - tx) + e[jy * gw + jx] * tx;
            double u = (2 * x + 1.0) / w - 1, f = q0 + u * (q1 + u * c[3]);
            bg[(size_t)y * w + x] = (float)f + top * (1 - ty) + bot * ty;
        }
    }
    rc = 0;
done:
    free(g);
    free(e);
    free(e2);
    free(absr);
    free(gu);
    free(gv);
    free(use);
    return rc;
}

/* Connected parts of ink > 0 (8-neighbours): keep the heaviest and those near it that are not
 * specks; zero the rest; the kept ink's bounding box. Returns the kept mass. */
static double keep_digit(plane *ink, box *bb, int *label, int *stack) {
    int w = ink->w, h = ink->h;
    long n = (long)w * h;
    for (long i = 0; i < n; i++) label[i] = -1;
    /* per part: mass and box, in a growing array kept on the heap */
    int nparts = 0, cap = 64;
    double *mass = malloc((size_t)cap * sizeof(double));
    box *pb = malloc((size_t)cap * sizeof(box));
    if (!mass || !pb) {
        free(mass);
        free(pb);
        return -1;
    }
    for (long s = 0; s < n; s++) {
        if (ink->v[s] <= 0 || label[s] >= 0) continue;
        if (nparts == cap) {
            cap *= 2;
            double *m2 = realloc(mass, (size_t)cap * sizeof(double));
            if (m2) mass = m2;
            box *b2 = realloc(pb, (size_t)cap * sizeof(box));
            if (b2) pb = b2;
            if (!m2 || !b2) {
                free(mass);
                free(pb);
                return -1;
            }
        }
        int id = nparts++;
        double m = 0;
        box b = {w, h, 0, 0};
        long top = 0;
        stack[top++] = (int)s;
        label[s] = id;
        while (top) {
            int i = stack[--top], x = i % w, y = i / w;
            m += ink->v[i];
            b.x0 = x < b.x0 ? x : b.x0, b.y0 = y < b.y0 ? y : b.y0;
            b.x1 = x + 1 > b.x1 ? x + 1 : b.x1, b.y1 = y + 1 > b.y1 ? y + 1 : b.y1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx, yy = y + dy;
                    if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
                    long j = (long)yy * w + xx;
                    if (ink->v[j] > 0 && label[j] < 0) label[j] = id, stack[top++] = (int)j;
                }
        }
        mass[id] = m, pb[id] = b;
    }
    double kept = 0;
    if (nparts > 0) {
        int big = 0;
        for (int i = 1; i < nparts; i++)
            if (mass[i] > mass[big]) big = i;
        *bb = pb[big];
        kept = mass[big];
        /* the others, heaviest first, join when they are not specks (8% of the heaviest) and lie
         * within 60% of the digit's size of what was kept so far */
        char *keep = calloc((size_t)nparts, 1);
        if (!keep) {
            free(mass);
            free(pb);
            return -1;
        }
        keep[big] = 1;
        for (;;) {
            int best = -1;
            for (int i = 0; i < nparts; i++)
                if (!keep[i] && mass[i] >= 0.08 * mass[big] && (best < 0 || mass[i] > mass[best])) best = i;
            if (best < 0) break;
            keep[best] = 2; /* looked at */
            int side = bb->x1 - bb->x0 > bb->y1 - bb->y0 ? bb->x1 - bb->x0 : bb->y1 - bb->y0;
            int gap = (int)(0.6 * side) + 1;
            box b = pb[best];
            if (b.x1 + gap < bb->x0 || b.x0 > bb->x1 + gap || b.y1 + gap < bb->y0 || b.y0 > bb->y1 + gap) continue;
            keep[best] = 1;
            kept += mass[best];
            bb->x0 = b.x0 < bb->x0 ? b.x0 : bb->x0, bb->y0 = b.y0 < bb->y0 ? b.y0 : bb->y0;
            bb->x1 = b.x1 > bb->x1 ? b.x1 : bb->x1, bb->y1 = b.y1 > bb->y1 ? b.y1 : bb->y1;
        }
        for (long i = 0; i < n; i++)
            if (label[i] >= 0 && keep[label[i]] != 1) ink->v[i] = 0;
        free(keep);
    }
    free(mass);
    free(pb);
    return kept;
}

/* Scratch for finding ink in a w x h working copy. */
typedef struct {
    float *a, *b, *c;
    int *label, *stack;
} ink_work;

typedef struct {
    float s;      /* the strokes' strength: the share of the paper's light they take */
    float sigma;  /* the noise of that, on the paper */
    float cover;  /* the share of the frame the kept ink covers */
} reading;

/* The ink of p taken as dark on light, into m->ink (allocated by the caller) and m->bb, and what
 * the reading found in rd. Returns 0, or -1 with err saying why there is no clear ink, or -2 when
 * out of memory. */
static int ink_dark(const plane *p, ink_map *m, ink_work *t, reading *rd, const char *name, mnist_err *err) {
    int w = p->w, h = p->h;
    long n = (long)w * h;
    float *a = t->a, *b = t->b, *c = t->c, *ink = m->ink.v;
    /* Ink as the fraction of light the paper loses there: (paper - pixel) / paper, which divides
     * out uneven lighting. */
    memset(rd, 0, sizeof *rd);
    if (paper_level(p, a, b)) return -2;
    for (long i = 0; i < n; i++) ink[i] = (a[i] - p->v[i]) / (a[i] > PAPER_MIN ? a[i] : PAPER_MIN);
    /* Noise: the spread of that over the frame, which is mostly paper. Where it is more than a
     * little, the ink is smoothed so that noise does not pass for ink (not otherwise: at a low
     * resolution smoothing thickens the strokes). */
    float sigma = 0;
    for (int pass = 0; pass < 2; pass++) {
        float rmed = quantile(ink, n, 0.5, a);
        for (long i = 0; i < n; i++) c[i] = fabsf(ink[i] - rmed);
        sigma = 1.4826f * quantile(c, n, 0.5, a);
        if (pass || sigma <= NOISY) break;
        memcpy(b, ink, (size_t)n * sizeof(float));
        plane r = {w, h, b};
        smooth3(&r, ink, a);
    }
    sigma = sigma < 1.0f / 512 ? 1.0f / 512 : sigma;
    /* the ink's strength: the typical value of the strongest strokes, those above half of the
     * 20th strongest pixel (the 20th, so that a few hot pixels do not set it) */
    float floor_ = 4 * sigma > 0.04f ? 4 * sigma : 0.04f;
    long k = 0;
    for (long i = 0; i < n; i++)
        if (ink[i] > floor_) c[k++] = ink[i];
    if (k < 20) return errf(err, "%s: no clear ink: the image looks blank", name);
    float top = select_kth(c, k, k - 20), half = 0.5f * top;
    long k2 = 0;
    for (long i = 0; i < k; i++)
        if (c[i] >= half) c[k2++] = c[i];
    float s = select_kth(c, k2, k2 / 2);
    rd->s = s, rd->sigma = sigma;
    if (s < 0.12f)
        return errf(err, "%s: no clear ink: the strongest strokes differ from the paper by only %.0f%%", name, 100 * s);
    if (s < 8 * sigma) return errf(err, "%s: no clear ink: the strokes are hardly stronger than the noise", name);
    /* a soft threshold: nothing below lo (noise, paper texture), full ink from hi up */
    float lo = 0.2f * s > 4 * sigma ? 0.2f * s : 4 * sigma;
    float hi = 0.55f * s > lo + 0.05f ? 0.55f * s : lo + 0.05f;
    for (long i = 0; i < n; i++) {
        float v = (ink[i] - lo) / (hi - lo);
        ink[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    double kept = keep_digit(&m->ink, &m->bb, t->label, t->stack);
    if (kept < 0) return -2;
    rd->cover = (float)(kept / n);
    if (kept < 4) return errf(err, "%s: no clear ink: only specks", name);
    if (kept > 0.5 * n)
        return errf(err, "%s: no clear ink: marks cover %.0f%% of the image", name, 100 * kept / n);
    return 0;
}

/* The ink of working copy p (which it overwrites), dark on light or light on dark: both are
 * looked for, and the reading whose strokes stand out more from the noise of their paper wins
 * (read the wrong way, the "ink" is paper's noise and shading, or the "paper" is made of
 * strokes and noisy); when they are about even (a clean drawing), the one whose ink covers less. */
static int find_ink(plane *p, ink_map *m, const char *name, mnist_err *err) {
    int w = p->w, h = p->h;
    long n = (long)w * h;
    memset(m, 0, sizeof *m);
    ink_work t = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float)),
                  malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(int)), malloc((size_t)n * sizeof(int))};
    ink_map other = {0};
    int rc = 0;
    if (!t.a || !t.b || !t.c || !t.label || !t.stack || plane_new(&m->ink, w, h, name, err) ||
        plane_new(&other.ink, w, h, name, err)) {
        rc = errf(err, "%s: out of memory for a %dx%d working copy", name, w, h);
        goto done;
    }
    reading rd_dark, rd_light;
    mnist_err err_light;
    int dark = ink_dark(p, m, &t, &rd_dark, name, err);
    for (long i = 0; i < n; i++) p->v[i] = 1 - p->v[i];
    int light = dark == -2 ? -2 : ink_dark(p, &other, &t, &rd_light, name, &err_light);
    if (dark == -2 || light == -2) {
        rc = errf(err, "%s: out of memory", name);
        goto done;
    }
    int take_light = light == 0 && dark != 0;
    if (light == 0 && dark == 0) { /* both found ink; sigma is at least 1/512 in each */
        double q_dark = rd_dark.s / rd_dark.sigma, q_light = rd_light.s / rd_light.sigma;
        int even = q_light < 1.2 * q_dark && q_dark < 1.2 * q_light;
        take_light = even ? rd_light.cover < rd_dark.cover : q_light > q_dark;
    }
    if (take_light) {
        float *v = m->ink.v;
        *m = other;
        other.ink.v = v;
    } else if (dark != 0) {
        rc = -1; /* err holds why the dark reading found nothing */
    }
done:
    free(t.a);
    free(t.b);
    free(t.c);
    free(t.label);
    free(t.stack);
    free(other.ink.v);
    if (rc) free(m->ink.v), m->ink.v = NULL;
    return rc;
}

/* ---- the MNIST recipe: 20x20 box, centre of mass ----------------------- */

/* The kept ink scaled so its bounding box fits 20x20 keeping its aspect ratio (area averaging
 * when shrinking, linear interpolation when growing), placed in 28x28 with its centre of mass
 * at (14, 14). */
static int fit_box(const ink_map *m, float *x, const char *name, mnist_err *err) {
    int bw = m->bb.x1 - m->bb.x0, bh = m->bb.y1 - m->bb.y0, big = bw > bh ? bw : bh;
    double f = (double)BOX / big;
    int ow = (int)lround(bw * f), oh = (int)lround(bh * f);
    ow = ow < 1 ? 1 : ow, oh = oh < 1 ? 1 : oh;
    float out[BOX * BOX];
    const float *in = m->ink.v + (size_t)m->bb.y0 * m->ink.w + m->bb.x0;
    stbir_filter filter = f < 1 ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
    if (!stbir_resize(in, bw, bh, m->ink.w * (int)sizeof(float), out, ow, oh, ow * (int)sizeof(float),
                      STBIR_TYPE_FLOAT, 1, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_ZERO, STBIR_EDGE_ZERO, filter,
                      filter, STBIR_COLORSPACE_LINEAR, NULL))
        return errf(err, "%s: resizing the digit to %dx%d failed", name, ow, oh);
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

/* The width of the strokes in a 28x28 input, as twice their area over their outline, for the
 * pixels over one half: measured so on MNIST's test set, the median is 2.0, a tenth are under 1.46. */
static double stroke_width(const float *x) {
    int area = 0, edges = 0;
    for (int y = 0; y < MNIST_SIDE; y++)
        for (int c = 0; c < MNIST_SIDE; c++) {
            int on = x[y * MNIST_SIDE + c] > 0.5f;
            area += on;
            if (c + 1 < MNIST_SIDE) edges += on != (x[y * MNIST_SIDE + c + 1] > 0.5f);
            if (y + 1 < MNIST_SIDE) edges += on != (x[(y + 1) * MNIST_SIDE + c] > 0.5f);
        }
    return edges ? 2.0 * area / edges : 0;
}

/* Grow the ink by r pixels every way (the largest value in each (2r+1)^2 square, a row pass then a
 * column pass), and its box with it. */
static int thicken(ink_map *m, int r) {
    int w = m->ink.w, h = m->ink.h;
    box b = {m->bb.x0 - r, m->bb.y0 - r, m->bb.x1 + r, m->bb.y1 + r};
    b.x0 = b.x0 < 0 ? 0 : b.x0, b.y0 = b.y0 < 0 ? 0 : b.y0;
    b.x1 = b.x1 > w ? w : b.x1, b.y1 = b.y1 > h ? h : b.y1;
    int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
    float *t = malloc((size_t)bw * bh * sizeof(float));
    if (!t) return -1;
    float *v = m->ink.v;
    for (int y = b.y0; y < b.y1; y++)
        for (int x = b.x0; x < b.x1; x++) {
            const float *row = v + (size_t)y * w;
            float mx = 0;
            for (int k = x - r < b.x0 ? b.x0 : x - r; k <= x + r && k < b.x1; k++) mx = row[k] > mx ? row[k] : mx;
            t[(size_t)(y - b.y0) * bw + x - b.x0] = mx;
        }
    for (int y = b.y0; y < b.y1; y++)
        for (int x = b.x0; x < b.x1; x++) {
            const float *col = t + (x - b.x0);
            float mx = 0;
            for (int k = y - r < b.y0 ? b.y0 : y - r; k <= y + r && k < b.y1; k++) {
                float u = col[(size_t)(k - b.y0) * bw];
                mx = u > mx ? u : mx;
            }
            v[(size_t)y * w + x] = mx;
        }
    free(t);
    m->bb = b;
    return 0;
}

/* Working copy of a region of the source, and its ink. */
static int ink_of_region(const source *s, int x0, int y0, int rw, int rh, ink_map *m, double *scale,
                         const char *name, mnist_err *err) {
    plane p;
    if (working_copy(s, x0, y0, rw, rh, &p, scale, name, err)) return -1;
    int rc = find_ink(&p, m, name, err);
    free(p.v);
    return rc;
}

static int mnist_style(const decoded *d, const char *name, float *x, mnist_err *err) {
    source s = {d, 1.0f};
    ink_map m;
    double scale;
    if (ink_of_region(&s, 0, 0, d->w, d->h, &m, &scale, name, err)) {
        /* a drawing app's export may keep light ink in the alpha channel: try it over black */
        if (!source_alpha_varies(d)) return -1;
        mnist_err e2;
        s.bg = 0.0f;
        if (ink_of_region(&s, 0, 0, d->w, d->h, &m, &scale, name, &e2)) return -1;
    }
    /* A digit small in a large photo: look again at the region around it, at a finer scale. */
    int side = m.bb.x1 - m.bb.x0 > m.bb.y1 - m.bb.y0 ? m.bb.x1 - m.bb.x0 : m.bb.y1 - m.bb.y0;
    if (scale < 1 && side < SMALL_INK) {
        int cx0 = (int)floor(m.bb.x0 / scale), cy0 = (int)floor(m.bb.y0 / scale);
        int cx1 = (int)ceil(m.bb.x1 / scale), cy1 = (int)ceil(m.bb.y1 / scale);
        int pad = (int)ceil(side / scale);
        cx0 = cx0 - pad < 0 ? 0 : cx0 - pad, cy0 = cy0 - pad < 0 ? 0 : cy0 - pad;
        cx1 = cx1 + pad > d->w ? d->w : cx1 + pad, cy1 = cy1 + pad > d->h ? d->h : cy1 + pad;
        ink_map m2;
        double scale2;
        mnist_err e2;
        if (ink_of_region(&s, cx0, cy0, cx1 - cx0, cy1 - cy0, &m2, &scale2, name, &e2) == 0) {
            free(m.ink.v);
            m = m2;
        }
    }
    int rc = fit_box(&m, x, name, err);
    /* A fine pen drawn large leaves strokes thinner than MNIST's: thicken them where they were
     * found and fit again. Growing the ink by r on every side takes a stroke of width w in the
     * box (side S, scale 20 / S) to (w S / 20 + 2r) * 20 / (S + 2r), which is STROKE for
     * r = S (STROKE - w) / (40 - 2 STROKE). */
    double w = rc ? 0 : stroke_width(x);
    if (rc == 0 && w < THIN) {
        int side2 = m.bb.x1 - m.bb.x0 > m.bb.y1 - m.bb.y0 ? m.bb.x1 - m.bb.x0 : m.bb.y1 - m.bb.y0;
        int r = (int)lround(side2 * (STROKE - w) / (2 * BOX - 2 * STROKE));
        if (r >= 1) {
            if (thicken(&m, r)) rc = errf(err, "%s: out of memory", name);
            else rc = fit_box(&m, x, name, err);
        }
    }
    free(m.ink.v);
    return rc;
}

/* ---- the public functions ---------------------------------------------- */

int mnist_image_prepare(const uint8_t *bytes, size_t len, const char *name, mnist_prep prep, float *x,
                        mnist_err *err) {
    if (!name) name = "image";
    if (prep != MNIST_PREP_MNIST && prep != MNIST_PREP_LAB)
        return errf(err, "%s: unknown preprocessing %d", name, (int)prep);
    decoded d;
    if (decode(bytes, len, name, prep == MNIST_PREP_LAB, &d, err)) return -1;
    int rc = prep == MNIST_PREP_LAB ? lab_prepare(&d, name, x, err) : mnist_style(&d, name, x, err);
    decoded_free(&d);
    return rc;
}

int mnist_image_prepare_file(const char *path, mnist_prep prep, float *x, mnist_err *err) {
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO is refused below instead of waited on */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        return errf(err, "%s: %s", path, strerror(e));
    }
    struct stat st;
    uint8_t *buf = NULL;
    int rc = 0;
    if (fstat(fileno(f), &st)) {
        rc = errf(err, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = errf(err, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size > MAX_FILE) {
        rc = errf(err, "%s: %.0f MB is too large an image file (limit %u MB)", path, st.st_size / 1e6, MAX_FILE >> 20);
    } else if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
        rc = errf(err, "%s: out of memory for %lld bytes", path, (long long)st.st_size);
    } else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        rc = errf(err, "%s: read error%s", path, ferror(f) ? "" : " (the file shrank)");
    }
    fclose(f);
    if (rc == 0) rc = mnist_image_prepare(buf, (size_t)st.st_size, path, prep, x, err);
    free(buf);
    return rc;
}
