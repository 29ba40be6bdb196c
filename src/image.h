/* image.h: what the image files share (not public): image.c decodes a file and holds the lab's
 * recipe, photo.c makes the MNIST recipe's input from a photo, page.c finds what on a photo is the
 * page and not ink (ruled lines, a desk around the sheet). */
#ifndef MNIST_IMAGE_H
#define MNIST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mnist.h"

#define WORK_MAX 512 /* longest side of the working copy of a photo */

typedef struct {
    int w, h;
    float *v; /* (h, w) */
} plane;

typedef struct {
    uint8_t *px;     /* (h, w, nc) bytes from stb_image */
    uint16_t *px16;  /* (h, w) for 16-bit grayscale in the lab recipe (Pillow clips it: see image.c) */
    int w, h, nc;    /* nc: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
} decoded;

typedef struct {
    int x0, y0, x1, y1; /* bounding box of the ink, x1 and y1 exclusive */
} box;

/* A PNG's image data as image.c's zlib pass inflated it, for stb_image to take in place of inflating
 * it again (stb_image.c): set on this thread around one stbi_load, data NULL when there is none to
 * take. in_len: the length of the image data (the IDAT chunks joined) it was inflated from; limit:
 * the bytes it may inflate to, which stb_image's own inflate holds to too (0: none). */
typedef struct {
    uint8_t *data; /* malloc'd; stb_image frees it when it takes it */
    size_t len, in_len, limit;
    unsigned long taken; /* how many stb_image took on this thread (test_image counts them) */
} png_inflated;
extern _Thread_local png_inflated stb_png_inflated;
/* Set where an allocation of stb_image's failed on this thread (it is cleared by its reader): stb_image
 * then goes on to try the next format, and says "unknown image type". stb_image allocates by these,
 * its buffers zeroed (stb_image.c says why), each failure setting stb_ran_out. */
extern _Thread_local int stb_ran_out;
void *stb_calloc(size_t n);
void *stb_realloc(void *p, size_t n);
/* stb_image's reason when its own inflate stopped at the limit */
#define PNG_PAST "image data past its limit"
/* stb_image's own inflate (stb_zlib.c), stbi_zlib_decode_malloc_guesssize_headerflag's, to at most
 * limit bytes (0: any number): the bytes (malloc'd), or NULL with *why its reason (never NULL;
 * PNG_PAST past the limit). */
char *stb_inflate(const char *in, int len, int guess, size_t limit, int *out_len, int header, const char **why);

/* The MNIST recipe (photo.c): the decoded image d to the 784 inputs x, as MNIST's digits were
 * made. Returns 0, or -1 with err naming `name` and why there is no digit to read, or MNIST_NO_MEMORY. */
int photo_prepare(const decoded *d, const char *name, float *x, mnist_err *err);
/* All that f holds to its end (a file's size checked first), at most 1 GiB, into *bytes (malloc'd; *len of them):
 * 0, or -1 with err naming `name` (too large, a read error; *bytes NULL), or MNIST_NO_MEMORY (image.c). */
int image_read_stream(FILE *f, const char *name, uint8_t **bytes, size_t *len, mnist_err *err);
/* The model's reading of one digit's 784 inputs x: logp (10) its log-probabilities. 0, or -1 with err. */
typedef int (*digit_reader)(void *ctx, const float *x, float *logp, mnist_err *err);
/* The MNIST recipe for a number written in d (photo.c): its digits, left to right, each to the 784 inputs of
 * x (cap, 784) as photo_prepare makes one digit's; *n gets their count. Returns 0, or -1 with err naming `name` and
 * why (no clear ink, a digit that is none, more digits than cap), or MNIST_NO_MEMORY. */
int photo_number(const decoded *d, const char *name, float *x, int cap, int *n, digit_reader read, void *ctx,
                 mnist_err *err);
/* mnist_number_prepare, touching digits cut apart where read does so (photo_number) */
int number_prepare(const uint8_t *bytes, size_t len, const char *name, float *x, int cap, int *n, digit_reader read,
                   void *ctx, mnist_err *err);
/* A bw x bh image (rows stride floats apart) scaled so that its longer side is side, its aspect kept:
 * out (*oh, *ow) (photo.c, for both recipes that scale what they found). Shrinking averages areas (a
 * tenth of stb_image_resize's box filter's cost, the same average); growing interpolates linearly
 * (stb_image_resize's triangle filter; past the edges clamp ? the edge's pixels : 0). 0, or -1 out
 * of memory. */
int scale_to_side(const float *in, int bw, int bh, size_t stride, int side, int clamp, float *out, int *ow, int *oh);
/* The Fashion-MNIST recipe (fashion.c): a product photo d to the 784 inputs x, as Fashion-MNIST's were
 * made. Returns 0, or -1 with err naming `name` (an image of one colour), or MNIST_NO_MEMORY. */
int fashion_prepare(const decoded *d, const char *name, int fill, float *x, mnist_err *err);
/* The width of the strokes in a 28x28 input, as twice their area over their outline, for the
 * pixels over one half: measured so on MNIST's test set, the median is 2.0, a tenth are under 1.46. */
double photo_stroke_width(const float *x);

/* page.c, both on a working copy of at most WORK_MAX a side.
 * Takes ruled or squared paper's lines, or a notebook's margin, across and down, out of the ink
 * (h, w), given the m pixels with ink over tau in on (y << 16 | x), the strokes' strength (ink of
 * the strongest strokes) and the whole photo's longer side in these pixels (frame: a region around
 * a small digit is looked at finer). Returns the bands taken away. */
int page_remove_lines(float *ink, int w, int h, const uint32_t *on, long m, float tau, float strokes, int frame);
/* Which families of lines page_remove_lines could find in the m pixels on (y << 16 | x) of a w x h
 * frame (w, h <= WORK_MAX), at any turn it tries: 1 lines across, 2 lines down, 3 both. A family
 * not in it holds none, and page_remove_lines does not search it. */
int page_lines_possible(int w, int h, const uint32_t *on, long m);
/* Makes a darker desk around a photographed page into paper, in p, lit as the page is there.
 * scratch: 3 w h bytes; queue: w h entries; flat: w h floats. Returns whether it found one. Not for a
 * frame light to its edge (page_light_to_edge), which has none. */
int page_on_desk(plane *p, uint8_t *scratch, uint32_t *queue, float *flat);
/* Whether every pixel along p's edge is as light as the lightest in it: paper to the edge, as on a drawing or a
 * clean scan. */
int page_light_to_edge(const plane *p);

#endif
