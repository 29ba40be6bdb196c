/* stb_zlib.c: stb_image's own inflate, for a PNG whose image data zlib does not read whole (a stream
 * cut short, or not quite deflate's: stb_image 2.27 reads some that zlib refuses, and says what is
 * wrong with the others in its words). stb_image.c hands the rest to zlib (image.c's png_inflate),
 * so it leaves this part of stb_image out, and the rest of stb_image is left out here: compiled
 * static, as nothing outside calls it, its buffers zeroed as in stb_image.c. */
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
#define STBI_MALLOC(n) calloc(1, (n))
#define STBI_REALLOC(p, n) realloc((p), (n))
#define STBI_FREE(p) free(p)
/* the rest of stb_image's API, static and unused, its readers with no format to try */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stb_image.h>

char *stb_inflate(const char *in, int len, int guess, int *out_len, int header, const char **why) {
    stbi__err(NULL, NULL); /* a block of type 3 fails without a reason: not the last one's */
    char *out = stbi_zlib_decode_malloc_guesssize_headerflag(in, len, guess, out_len, header);
    if (!out) *why = stbi_failure_reason() ? stbi_failure_reason() : "bad block type";
    return out;
}
