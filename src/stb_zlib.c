/* stb_zlib.c: stb_image's own inflate, for a PNG whose image data zlib does not read whole (a stream
 * cut short, or not quite deflate's: stb_image 2.27 reads some that zlib refuses, and says what is
 * wrong with the others in its words). stb_image.c hands the rest to zlib (image.c's png_inflate),
 * so it leaves this part of stb_image out, and the rest of stb_image is left out here: compiled
 * static, as nothing outside calls it, its buffers allocated as in stb_image.c. It stops at the limit
 * that zlib's pass holds to (the header's bytes and 64 KiB): stb_image grows its buffer without
 * bound, and a stream that zlib refuses from its start (a window over 32 KB in its header) was
 * inflated whole, a 28x28 PNG to 256 MB. */
#include <stdlib.h>

#include "image.h"

#define STB_IMAGE_STATIC
#define STBI_SUPPORT_ZLIB
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_NO_JPEG
#define STBI_NO_PNG
#define STBI_NO_BMP
#define STBI_NO_PSD
#define STBI_NO_TGA
#define STBI_NO_GIF
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STB_IMAGE_IMPLEMENTATION
#define STBI_MALLOC(n) stb_calloc(n)
#define STBI_REALLOC(p, n) stb_realloc((p), (n))
#define STBI_FREE(p) free(p)
/* the rest of stb_image's API, static and unused, its readers with no format to try */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stb_image.h>

/* stb_image's reason for its inflate's failure: a block of type 3 is the one it gives none for */
static const char *reason(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "bad block type";
}

char *stb_inflate(const char *in, int len, int guess, size_t limit, int *out_len, int header, const char **why) {
    stbi__err(NULL, NULL); /* not the last failure's reason */
    if (!limit) {
        char *out = stbi_zlib_decode_malloc_guesssize_headerflag(in, len, guess, out_len, header);
        if (!out) *why = reason();
        return out;
    }
    /* into limit + 1 bytes, not grown: all of them filled, or more wanted, is past the limit */
    char *out = STBI_MALLOC(limit + 1);
    if (!out) {
        *why = "outofmem";
        return NULL;
    }
    stbi__zbuf z = {.zbuffer = (stbi_uc *)in, .zbuffer_end = (stbi_uc *)in + len};
    int ok = stbi__do_zlib(&z, out, (int)(limit + 1), 0, header);
    if (!ok || (size_t)(z.zout - out) > limit) {
        *why = ok || !strcmp(reason(), "output buffer limit") ? PNG_PAST : reason();
        STBI_FREE(out);
        return NULL;
    }
    *out_len = (int)(z.zout - out);
    return out;
}
