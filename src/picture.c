/* picture.c: digits as pictures: a PNG grid with labels, and shaded characters for a terminal. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "util.h"

/* stbi_write_png_to_func, compiled below: 0 where it ran out of memory (its one way to fail) */
typedef void png_sink(void *context, void *data, int size);
static int png_write(png_sink *to, void *f, int w, int h, int nc, const void *px, int stride);

#define ZOOM 2                         /* each MNIST pixel is ZOOM x ZOOM in the PNG */
#define GLYPH_W 3                      /* the built-in font: 3x5 digits ... */
#define GLYPH_H 5
#define GLYPH_ZOOM 2                   /* ... drawn twice as large */
#define PAD 4                          /* around and between cells */
#define LABEL_H (GLYPH_H * GLYPH_ZOOM + 4) /* the strip under each digit */
#define CELL_W (MNIST_SIDE * ZOOM)
#define CELL_H (MNIST_SIDE * ZOOM + LABEL_H)
#define MAX_COLS 10
#define NGLYPHS 10                     /* the font has the digits 0..9: other labels are not drawn */

/* 3x5 digits, one row a byte, bit 2 the leftmost column. */
static const uint8_t glyphs[NGLYPHS][GLYPH_H] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 2, 2}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

static const uint8_t label_rgb[3] = {255, 200, 40}; /* labels in amber, digits in gray */
static const uint8_t frame_rgb[3] = {40, 40, 48};
static const uint8_t guess_rgb[3] = {255, 70, 60}; /* what a model read instead */

static void put(uint8_t *img, int stride, int x, int y, const uint8_t *rgb) {
    uint8_t *p = img + (size_t)y * stride + (size_t)x * 3;
    p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
}

static void write_to(void *f, void *data, int size) { fwrite(data, 1, (size_t)size, f); } /* errors: ferror */

/* The grid of n images, each with its label and, when guesses is given, the label read instead. */
static int grid_png(const char *path, const uint8_t *images, const uint8_t *labels, const uint8_t *guesses, int n,
                    mnist_err *err) {
    if (n < 1) return errf(err, "%s: no images to draw", path);
    if (n > MNIST_PICTURE_MAX)
        return errf(err, "%s: %d images are too many for one picture (at most %d)", path, n, MNIST_PICTURE_MAX);
    int cols = n < MAX_COLS ? n : MAX_COLS, rows = (n + cols - 1) / cols;
    int W = PAD + cols * (CELL_W + PAD), H = PAD + rows * (CELL_H + PAD), stride = W * 3;
    uint8_t *img = malloc((size_t)H * stride);
    if (!img) return errf(err, "%s: out of memory for a %dx%d picture", path, W, H);
    for (size_t i = 0; i < (size_t)W * H; i++) memcpy(img + 3 * i, frame_rgb, 3);
    for (int k = 0; k < n; k++) {
        int cx = PAD + (k % cols) * (CELL_W + PAD), cy = PAD + (k / cols) * (CELL_H + PAD);
        const uint8_t *im = images + (size_t)k * MNIST_PIXELS;
        for (int y = 0; y < MNIST_SIDE * ZOOM; y++)
            for (int x = 0; x < MNIST_SIDE * ZOOM; x++) {
                uint8_t v = im[(y / ZOOM) * MNIST_SIDE + x / ZOOM];
                const uint8_t g[3] = {v, v, v};
                put(img, stride, cx + x, cy + y, g);
            }
        if (!labels || labels[k] >= NGLYPHS) continue;
        int two = guesses && guesses[k] < NGLYPHS, gw = GLYPH_W * GLYPH_ZOOM;
        int gx = cx + (CELL_W - (two ? 3 * gw : gw)) / 2, gy = cy + MNIST_SIDE * ZOOM + 2;
        for (int g = 0; g <= two; g++) /* the true label, then the one read in red */
            for (int r = 0; r < GLYPH_H * GLYPH_ZOOM; r++)
                for (int c = 0; c < gw; c++)
                    if (glyphs[g ? guesses[k] : labels[k]][r / GLYPH_ZOOM] >> (GLYPH_W - 1 - c / GLYPH_ZOOM) & 1)
                        put(img, stride, gx + 2 * g * gw + c, gy + r, g ? guess_rgb : label_rgb);
    }
    /* written beside the path and renamed, as the model files are */
    atomic_file a;
    int rc = atomic_open(&a, path, err);
    if (rc == 0) {
        if (!png_write(write_to, a.f, W, H, 3, img, stride)) {
            atomic_abort(&a);
            rc = errf(err, "%s: out of memory encoding the PNG", path);
        } else {
            rc = atomic_commit(&a, err);
        }
    }
    free(img);
    return rc;
}

int mnist_picture_png(const char *path, const uint8_t *images, const uint8_t *labels, int n, mnist_err *err) {
    return grid_png(path, images, labels, NULL, n, err);
}

int mnist_picture_errors_png(const char *path, const uint8_t *images, const uint8_t *truth, const uint8_t *guess, int n,
                             mnist_err *err) {
    return grid_png(path, images, truth, guess, n, err);
}

void mnist_shade_line(const float *x, int wide, int line, char *out) {
    static const char shades[] = " .:-=+*#%@";
    const int levels = (int)sizeof shades - 1;
    for (int c = 0; c < MNIST_SIDE; c++) {
        float v = wide ? x[line * MNIST_SIDE + c]
                       : 0.5f * (x[2 * line * MNIST_SIDE + c] + x[(2 * line + 1) * MNIST_SIDE + c]);
        int i = (int)(v * levels);
        char ch = shades[i < 0 ? 0 : i >= levels ? levels - 1 : i];
        if (wide) *out++ = ch;
        *out++ = ch;
    }
    *out = '\0';
}

/* ---- the PNG writer ---------------------------------------------------- */

/* stb_image_write's PNG writer (libstb-dev's header), compiled here with zlib's deflate for its own.
 * Debian's libstb asserts that each growth of its deflate's buffer succeeded: out of memory, `show
 * --out` aborted (752 of its 767 allocations, failed in turn). Its other allocations are checked, so
 * it then fails only for memory, but it leaks the deflated data where the PNG's own buffer cannot be
 * had: png_write frees what it left (deflated, until stb frees it). */
static _Thread_local void *deflated;

/* at zlib's default level, not the 8 stb asks: `show --count 10000 --out` took 3.4 s at 8, 1.6 s at 6,
 * for a file 1.5% larger (stb's own deflate: 3.1 s, 34% larger) */
static unsigned char *deflate_png(unsigned char *data, int len, int *out_len, int level) {
    (void)level;
    uLongf n = compressBound((uLong)len);
    unsigned char *out = malloc(n);
    if (!out || compress2(out, &n, data, (uLong)len, Z_DEFAULT_COMPRESSION) != Z_OK || n > INT_MAX) {
        free(out);
        return NULL;
    }
    *out_len = (int)n;
    return deflated = out;
}

static void free_png(void *p) {
    if (p == deflated) deflated = NULL;
    free(p);
}

#define STBIW_ZLIB_COMPRESS deflate_png
#define STBIW_MALLOC malloc
#define STBIW_REALLOC realloc
#define STBIW_FREE free_png
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic ignored "-Wunused-function" /* the other formats' writers: stb's code to the file's end */
#include <stb_image_write.h>

static int png_write(png_sink *to, void *f, int w, int h, int nc, const void *px, int stride) {
    int ok = stbi_write_png_to_func(to, f, w, h, nc, px, stride);
    free_png(deflated);
    return ok;
}
