/* stb_image.c: the image decoders, stb_image's (libstb-dev's header, the code of Debian's libstb),
 * compiled here so that every buffer they allocate starts zeroed (one grown by realloc is not zeroed
 * past its old end, but stb reads such a buffer, zlib's output or a PNG's joined IDAT data, only as
 * far as it wrote it).
 *
 * stb_image 2.27 leaves memory it allocates unwritten where a file holds less than it says, and
 * returns that memory as pixels: a baseline JPEG with a restart interval (DRI) whose scan ends at
 * its first missing restart marker fills its first blocks only (stbi__parse_entropy_coded_data
 * returns early), a progressive one leaves the coefficients of blocks no scan reaches, and the
 * decoder's own state (stbi__jpeg: its Huffman and quantization tables) is not cleared, so a scan
 * that names a table no DHT defined decodes with whatever the heap held. A 28x28 JPEG of one
 * restart interval gave 720 reads of uninitialised memory (valgrind), a different input on each
 * run, and `serve` answers with the input: the heap of the server, other uploads among it. Its
 * upstream clears some of this since 2.28; calloc clears all of it. libstb (linked for
 * stb_image_resize) keeps its own copy, which nothing here calls. A PNG's image
 * data is inflated by zlib (image.c), once: its inflate is ours below, stb_image's in stb_zlib.c.
 * Where an allocation fails, stb_ran_out says so (image.h). */
#include <stdlib.h>

#include "image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_ZLIB /* a PNG's image data is inflated below, once */
_Thread_local int stb_ran_out;

void *stb_calloc(size_t n) {
    void *p = calloc(1, n);
    stb_ran_out |= !p && n;
    return p;
}

void *stb_realloc(void *p, size_t n) {
    void *q = realloc(p, n);
    stb_ran_out |= !q && n;
    return q;
}

#define STBI_MALLOC(n) stb_calloc(n)
#define STBI_REALLOC(p, n) stb_realloc((p), (n))
#define STBI_FREE(p) free(p)
#include <stb_image.h>

_Thread_local png_inflated stb_png_inflated;

/* stb_image's inflate of a PNG's image data (its IDAT chunks joined, in), which its PNG reader
 * calls once, at IEND: what image.c's zlib pass made of it when there is that (png_inflate), else
 * stb_image's own (stb_zlib.c: a stream zlib does not read whole). The zlib pass comes first, as
 * stb_image's inflate grows its buffer without bound; inflating the data again here made reading a
 * drawing 16% slower, a photo's PNG 4 to 33%. header 0: a CgBI PNG's stream, without zlib's
 * header, which the zlib pass does not read. */
char *stbi_zlib_decode_malloc_guesssize_headerflag(const char *in, int len, int guess, int *out_len, int header) {
    png_inflated *z = &stb_png_inflated;
    if (z->data && header && (size_t)len == z->in_len) {
        char *out = (char *)z->data;
        *out_len = (int)z->len;
        z->data = NULL;
        z->taken++;
        return out;
    }
    const char *why = NULL;
    char *out = stb_inflate(in, len, guess, z->limit, out_len, header, &why);
    if (!out) stbi__err(why, why);
    return out;
}
