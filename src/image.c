/* image.c: image files to the 784 inputs the network sees: decoding, and the lab's recipe.
 *
 * Decoding is stb_image's (libstb-dev's, compiled in stb_image.c with zeroed buffers), with a
 * JPEG's or a PNG's EXIF orientation applied for the MNIST recipe. Two recipes:
 *
 *   lab    the lab's load_image, Image.open(f).convert('L').resize((28, 28)) / 255, byte for
 *          byte: Pillow's integer ITU-R 601-2 luma, then Pillow's BICUBIC resampling (a = -0.5,
 *          support widened by the reduction factor, 22-bit fixed-point coefficients, a horizontal
 *          then a vertical pass, each rounded and clipped to 8 bits). Here.
 *   mnist  as MNIST was made, after what a photo needs first: photo.c (and page.c).
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
#include <zlib.h>

#include "blas.h"
#include "image.h"
#include "util.h"

#define MAX_FILE (1u << 30) /* image files larger than 1 GiB are refused before reading */
#define MAX_SCANS 100       /* JPEG scans: each one is a pass over the whole image (see jpeg_scans) */
#define MAX_SIDE (1u << 24)  /* stb_image's STBI_MAX_DIMENSIONS: a longer side is refused (a PNG's as no PNG) */

/* ---- decoding ----------------------------------------------------------- */

static void decoded_free(decoded *d) {
    stbi_image_free(d->px);
    stbi_image_free(d->px16);
}

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

/* Formats stb_image reads that the command does not promise; refused so that a server exposes
 * only the decoders it means to. */
static const char *unsupported(const uint8_t *b, size_t n) {
    if (n >= 4 && !memcmp(b, "8BPS", 4)) return "PSD";
    if (n >= 6 && !memcmp(b, "#?RGBE", 6)) return "HDR";
    if (n >= 10 && !memcmp(b, "#?RADIANCE", 10)) return "HDR";
    if (n >= 4 && b[0] == 0x53 && b[1] == 0x80 && b[2] == 0xF6 && b[3] == 0x34) return "Softimage PIC";
    return NULL;
}

/* The numbers of image headers: little-endian (BMP, GIF); PNG's are big-endian (be32, util.h) */
static uint32_t le16(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8; }
static uint32_t le32(const uint8_t *b) { return le16(b) | le16(b + 2) << 16; }

/* Whether bytes begin with PNG's signature. */
static int is_png(const uint8_t *b, size_t n) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return n >= 8 && !memcmp(b, sig, 8);
}

/* Whether a whole chunk of a PNG of n bytes starts at b + at (its length, type, data and CRC within
 * them), *len its data's length: the chunks are walked by their lengths, as stb_image walks them,
 * from the first at 8 (past the signature) to one cut short. */
static int png_chunk(const uint8_t *b, size_t n, size_t at, uint32_t *len) {
    if (n - at < 12) return 0;
    *len = be32(b + at);
    return *len <= n - at - 12;
}

/* A binary PGM or PPM (P5, P6): its width, height and maximum value into v, read as stb_image reads
 * them (white space and # comments before each, then its digits), and *end the byte after the one
 * white space that ends the header; 1, or 0 when bytes do not begin one. A number is kept up to
 * 2^31 and its digits all read: stb_image 2.27 reads them into an int that overflows (upstream
 * refuses such numbers since 2.28), so 42949672988 was 28 to it, and this header's end, read only
 * to 2^30 (4294967298), fell before the real one. */
static int pnm_header(const uint8_t *b, size_t n, uint64_t v[3], size_t *end) {
    if (n < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return 0;
    size_t i = 2;
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and comments, as stb skips them */
            while (i < n && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r'))) i++;
            if (i >= n || b[i] != '#') break;
            while (i < n && b[i] != '\n' && b[i] != '\r') i++;
        }
        for (v[k] = 0; i < n && b[i] >= '0' && b[i] <= '9'; i++)
            if (v[k] <= INT_MAX) v[k] = 10 * v[k] + (uint64_t)(b[i] - '0');
    }
    *end = i + 1;
    return 1;
}

/* Where a JPEG's markers begin: past its SOI as stb_image finds it, 0xFF, any number of 0xFF fill
 * bytes, then 0xD8 (FF FF D8 begins a JPEG too: the scans of one so were not counted); 0 when bytes
 * do not begin a JPEG. */
static size_t jpeg_start(const uint8_t *b, size_t n) {
    if (n < 2 || b[0] != 0xFF) return 0;
    size_t i = 1;
    while (i < n && b[i] == 0xFF) i++;
    return i < n && b[i] == 0xD8 ? i + 1 : 0;
}

/* A GIF's first frame, the one stb_image decodes: where it lies on its canvas, its palette (the
 * frame's own, else the global one; 3 bytes a colour) and its transparent colour (-1: none); 1, or
 * 0 when no frame begins within the bytes. The frame is found as stb_image 2.27 finds it: past the
 * header and its global colour table, extensions skipped by their sub-blocks (a graphic control
 * extension not of 4 bytes by its length alone, one of 4 giving the transparent colour), up to an
 * image descriptor (0x2C: x, y, width, height, flags). A frame may cover a part of its canvas only,
 * the rest the background, and only the frame's pixels are coded: a 1000x1000 canvas of a 28x28
 * frame is 142 bytes. The canvas is held to the pixel limit as any image is (stbi_info gives its
 * size), and costs what a full frame of its size costs: a 43-byte GIF of a 1x1 frame on an 8000x8000
 * canvas of a background colour took 1.2 s and 320 MB, a 48 KB one of 8000x8000 pixels 1.4 s and
 * 320 MB (serve budgets either by mnist_image_decode_bytes, 9 bytes a pixel). */
typedef struct {
    size_t at; /* the image descriptor's offset */
    uint32_t x, y, w, h;
    const uint8_t *pal;
    size_t colors;
    int trns;
} gif_head;
static int gif_frame(const uint8_t *b, size_t n, gif_head *g) {
    if (n < 13) return 0;
    size_t i = 13 + (b[10] & 0x80 ? (size_t)3 << ((b[10] & 7) + 1) : 0);
    g->pal = b[10] & 0x80 ? b + 13 : NULL, g->colors = b[10] & 0x80 ? (size_t)2 << (b[10] & 7) : 0, g->trns = -1;
    while (i < n && b[i] == 0x21) {
        if (i + 2 < n && b[i + 1] == 0xF9 && b[i + 2] != 4) { /* stb_image skips it, then reads a tag */
            i += 3 + b[i + 2];
            continue;
        }
        if (i + 6 < n && b[i + 1] == 0xF9) g->trns = b[i + 3] & 1 ? b[i + 6] : -1;
        for (i += 2; i < n && b[i]; i += 1 + (size_t)b[i]) {}
        i++;
    }
    if (i + 9 > n || b[i] != 0x2C) return 0;
    g->at = i, g->x = le16(b + i + 1), g->y = le16(b + i + 3), g->w = le16(b + i + 5), g->h = le16(b + i + 7);
    if (i + 9 < n && b[i + 9] & 0x80) g->pal = b + i + 10, g->colors = (size_t)2 << (b[i + 9] & 7);
    if (g->pal && (size_t)(g->pal - b) + 3 * g->colors > n) g->colors = (n - (size_t)(g->pal - b)) / 3;
    return 1;
}

/* A BMP's header as stb_image 2.27 reads it, a byte past the file's end as 0: the pixels' offset,
 * the size of the info header (12 for OS/2's, whose fields are 16-bit), bits a pixel and
 * compression (none in OS/2's); 1, or 0 when bytes do not begin a BMP of a header stb_image knows. */
typedef struct { uint32_t offset, hsz, bpp, compression; } bmp_head;
static int bmp_head_read(const uint8_t *b, size_t n, bmp_head *m) {
    if (n < 18 || b[0] != 'B' || b[1] != 'M') return 0;
    m->offset = le32(b + 10), m->hsz = le32(b + 14);
    if (m->hsz != 12 && m->hsz != 40 && m->hsz != 56 && m->hsz != 108 && m->hsz != 124) return 0;
    uint8_t f[34] = {0};
    memcpy(f, b, n < sizeof f ? n : sizeof f);
    m->bpp = m->hsz == 12 ? le16(f + 24) : le16(f + 28);
    m->compression = m->hsz == 12 ? 0 : le32(f + 30);
    return 1;
}

/* For the uncompressed kinds of PNM (P5, P6), TGA (types 1-3) and BMP: *need gets the bytes that
 * the header promises (header, palette and w x h pixels) and the function returns 1. For JPEG,
 * GIF and run-length TGA (types 9-11), whose codes pack many pixels in a byte: *need gets the
 * fewest bytes that can code w x h pixels (a GIF's first frame's), and the function returns 2.
 * Else 0.
 * stb_image leaves the pixels of a PNM or TGA cut short uninitialised (found by fuzz_image, seen
 * under valgrind: the network would see leftover heap memory), and decodes the others in full with
 * what is missing filled in: a header alone, 23 to 54 bytes saying 8000x8000, took 0.8-1.5 s and
 * 200-600 MB (a serve thread's, for each such upload). So a short one is refused first. */
static int raw_size(const uint8_t *b, size_t n, uint64_t w, uint64_t h, uint64_t *need) {
    if (jpeg_start(b, n)) { /* a JPEG codes each 8x8 block's DC in a bit at least */
        *need = (w + 7) / 8 * ((h + 7) / 8) / 8;
        return 2;
    }
    if (n >= 4 && !memcmp(b, "GIF8", 4)) { /* a 12-bit LZW code gives at most 4096 pixels */
        gif_head g; /* the canvas's pixels when no frame begins within the bytes */
        uint64_t frame = gif_frame(b, n, &g) ? (uint64_t)g.w * g.h : w * h;
        *need = frame / 4096 * 12 / 8;
        return 2;
    }
    bmp_head m;
    if (bmp_head_read(b, n, &m)) { /* rows of bpp bits, each padded to 4 bytes, from the offset */
        if (m.compression != 0 && m.compression != 3) return 0; /* run-length: stb_image refuses it */
        /* the last row's padding may be left out, as some writers do: Pillow reads such a file, and
         * stb_image reads no pixel from it */
        uint64_t bpp = m.bpp;
        *need = (uint64_t)m.offset + (h - 1) * ((w * bpp + 31) / 32 * 4) + (w * bpp + 7) / 8;
        return 1;
    }
    /* a TGA's 18-byte header as stb_image reads it, a byte past the file's end as 0: a header of 17
     * bytes saying 4608x4351 was not checked, and took 0.3 s and 90 MB (a serve thread's) */
    uint8_t t[18] = {0};
    memcpy(t, b, n < sizeof t ? n : sizeof t);
    if (n >= 3 && t[1] <= 1 && t[2] >= 9 && t[2] <= 11 && !(t[2] == 9 && t[1] != 1)) { /* run-length TGA */
        *need = 18 + w * h / 128 * 2; /* a packet: a byte, then one pixel of at least a byte for up to 128 */
        return 2;
    }
    if (n >= 3 && t[1] <= 1 && t[2] >= 1 && t[2] <= 3 && !(t[2] == 1 && t[1] != 1)) { /* TGA, as stb tests it */
        uint64_t pal = t[1] ? (uint64_t)le16(t + 5) * ((t[7] + 7u) / 8) : 0;
        *need = 18 + t[0] + pal + w * h * ((t[16] + 7u) / 8);
        return 1;
    }
    uint64_t v[3];
    size_t end;
    if (!pnm_header(b, n, v, &end)) return 0;
    *need = end + w * h * (b[1] == '6' ? 3u : 1u) * (v[2] > 255 ? 2u : 1u);
    return 1;
}

/* The most codes that a Huffman table of the DHT segment whose marker is at b[i] holds, its tables
 * read as stb_image reads them: while the segment's length lasts, a byte naming the table, 16
 * counts of codes (1 to 16 bits long) and the codes' symbols, where the counts say, past the
 * segment's end if they say so, a byte past the file's end read as 0. A table holds 256 symbols at
 * most; stb_image 2.27 (Debian 12's) does not check it before it fills its 257-entry array of code
 * sizes from the counts: 16 counts of 255 wrote 3823 bytes past it (upstream checks since 2.28). */
static long dht_codes(const uint8_t *b, size_t n, size_t i) {
    long left = ((long)b[i + 2] << 8 | b[i + 3]) - 2, most = 0;
    for (size_t p = i + 4; left > 0 && p < n && b[p] >> 4 <= 1 && (b[p] & 15) <= 3;) { /* else "bad DHT header" */
        long codes = 0;
        for (size_t k = p + 1; k <= p + 16; k++) codes += k < n ? b[k] : 0;
        if (codes > most) most = codes;
        left -= 17 + codes;
        p += 17 + (size_t)codes;
    }
    return most;
}

/* The scans (SOS markers) of a JPEG; 0 when bytes do not begin one. stb_image decodes each scan of
 * a progressive JPEG by a pass over every block of the image, and a scan that codes nothing but
 * end-of-band runs takes a hundred bytes: a 2 MB file of 20000 such scans over an 8192x8192 image
 * took 30 s to decode (and a 10 MB upload would hold a server's thread for over two minutes).
 * Encoders write about 10 scans (libjpeg's progressive default), mozjpeg a few more. *codes gets
 * the most codes of a Huffman table (dht_codes), over the segments stb_image reads; *sof the frame
 * (SOF) marker before the first scan (0: none), *at where it begins, and *bits its bits a sample. stb_image reads
 * baseline and progressive frames (SOF0 to SOF2) of 8 bits; of the others it says only "unknown
 * image type", and predict said that a JPEG was none. */
static long jpeg_scans(const uint8_t *b, size_t n, long *codes, int *sof, size_t *at, int *bits) {
    *codes = 0, *sof = 0, *at = 0, *bits = 0;
    size_t i = jpeg_start(b, n);
    if (!i) return 0;
    long scans = 0;
    while (i + 4 <= n) {
        if (b[i] != 0xFF) { /* entropy-coded data after a scan's header: up to the next marker */
            i++;
            continue;
        }
        uint8_t m = b[i + 1];
        if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7)) { /* fill, stuffed byte, restart: no length */
            i += m == 0xFF ? 1 : 2;
            continue;
        }
        if (m == 0xD9) break; /* EOI */
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (!scans && !*sof && m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && i + 5 <= n)
            *sof = m, *at = i, *bits = b[i + 4]; /* not DHT, JPG, DAC */
        if (m == 0xDA) scans++;
        if (m == 0xC4) {
            long c = dht_codes(b, n, i);
            if (c > *codes) *codes = c;
        }
        i += 2 + len;
    }
    return scans;
}

/* The bytes stb_image 2.27 holds decoding a w x h JPEG whose frame header (SOF) is at b[at], beside
 * its output: each component's plane, of whole MCUs (8x8 blocks times the largest sampling factors),
 * and for a progressive JPEG (SOF2) its coefficients too, 64 shorts a block (2 bytes a pixel) until
 * the last scan; 0 when the header is not within the bytes. */
static uint64_t jpeg_planes(const uint8_t *b, size_t n, size_t at, uint64_t w, uint64_t h) {
    if (n - at < 10 || n - at - 10 < 3 * (size_t)b[at + 9]) return 0;
    int nf = b[at + 9], hmax = 1, vmax = 1;
    for (int k = 0; k < nf; k++) { /* id, sampling factors (horizontal, vertical: 1 to 4), table */
        int hv = b[at + 11 + 3 * k];
        hmax = hv >> 4 > hmax ? hv >> 4 : hmax, vmax = (hv & 15) > vmax ? hv & 15 : vmax;
    }
    uint64_t mx = (w + 8 * (uint64_t)hmax - 1) / (8 * (uint64_t)hmax); /* MCUs across and down */
    uint64_t my = (h + 8 * (uint64_t)vmax - 1) / (8 * (uint64_t)vmax);
    uint64_t planes = 0;
    for (int k = 0; k < nf; k++) {
        int hv = b[at + 11 + 3 * k];
        planes += mx * 8 * (uint64_t)(hv >> 4) * (my * 8 * (uint64_t)(hv & 15));
    }
    return planes * (b[at + 1] == 0xC2 ? 3 : 1);
}

/* The orientation (1 to 8) that EXIF data's first IFD holds, t its tn bytes from its TIFF header
 * ("II*\0" or "MM\0*"), or 1 when it says none or the data is no such header, cut short or out of
 * its bounds. A phone stores a photo as its sensor saw it and says in this tag how to turn it for
 * viewing (6: a quarter turn clockwise). */
static int tiff_orientation(const uint8_t *t, size_t tn) {
    if (tn < 8) return 1;
    int le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
#define RD16(p) (le ? (p)[0] | (p)[1] << 8 : (p)[0] << 8 | (p)[1])
#define RD32(p) (le ? (uint32_t)RD16(p) | (uint32_t)RD16((p) + 2) << 16 : (uint32_t)RD16(p) << 16 | (uint32_t)RD16((p) + 2))
    uint32_t ifd = RD32(t + 4);
    if (ifd > tn - 2) return 1;
    int count = RD16(t + ifd);
    for (int k = 0; k < count && ifd + 2 + 12 * (size_t)(k + 1) <= tn; k++) {
        const uint8_t *e = t + ifd + 2 + 12 * k;
        if (RD16(e) == 0x0112 && RD16(e + 2) == 3) { /* Orientation, a SHORT */
            int v = RD16(e + 8);
            return v >= 1 && v <= 8 ? v : 1;
        }
    }
#undef RD16
#undef RD32
    return 1;
}

/* The EXIF orientation of a JPEG or a PNG (1 to 8), or 1 when it says none. A JPEG's is in an APP1
 * segment, "Exif\0\0" and the TIFF header, before its scan; a PNG's in its eXIf chunk, the TIFF
 * header alone, which counts before the first IDAT only (PNG's third edition). Segments and chunks
 * are walked by their lengths; one cut short ends the walk. */
static int exif_orientation(const uint8_t *b, size_t n) {
    if (is_png(b, n)) {
        uint32_t len;
        for (size_t at = 8; png_chunk(b, n, at, &len) && memcmp(b + at + 4, "IDAT", 4); at += 12 + (size_t)len)
            if (!memcmp(b + at + 4, "eXIf", 4)) return tiff_orientation(b + at + 8, len);
        return 1;
    }
    size_t i = jpeg_start(b, n);
    if (!i) return 1;
    while (i + 4 <= n && b[i] == 0xFF) {
        uint8_t m = b[i + 1];
        if (m == 0xFF) { /* fill */
            i++;
            continue;
        }
        if (m == 0xDA || m == 0xD9) break; /* the scan: the headers are over */
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (len < 2 || len > n - i - 2) break;
        if (m == 0xE1 && len >= 8 + 8 && !memcmp(b + i + 4, "Exif\0\0", 6))
            return tiff_orientation(b + i + 10, len - 8); /* the TIFF header after "Exif\0\0" */
        i += 2 + len;
    }
    return 1;
}

/* d turned as EXIF orientation o says: the picture as its viewer saw it. 0, or -1 when out of memory. */
static int orient(decoded *d, int o) {
    int w = d->w, h = d->h, nc = d->nc, swap = o >= 5, ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = malloc((size_t)w * h * nc);
    if (!out) return -1;
    for (int Y = 0; Y < oh; Y++)
        for (int X = 0; X < ow; X++) {
            int x, y; /* where the stored image holds the pixel seen at (X, Y) */
            switch (o) {
            case 2: x = w - 1 - X, y = Y; break;
            case 3: x = w - 1 - X, y = h - 1 - Y; break;
            case 4: x = X, y = h - 1 - Y; break;
            case 5: x = Y, y = X; break;
            case 6: x = Y, y = h - 1 - X; break;
            case 7: x = w - 1 - Y, y = h - 1 - X; break;
            case 8: x = w - 1 - Y, y = X; break;
            default: x = X, y = Y; break;
            }
            memcpy(out + ((size_t)Y * ow + X) * nc, d->px + ((size_t)y * w + x) * nc, (size_t)nc);
        }
    stbi_image_free(d->px); /* free(), as for stb's own buffers */
    d->px = out, d->w = ow, d->h = oh;
    return 0;
}

/* A BMP of 1, 4 or 8 bits a pixel indexes a palette, which stb_image 2.27 reads into a 256-entry
 * array on its stack, filling the file's entries only, and it looks the pixels up unchecked: a
 * pixel past the palette was the stack's leftover bytes (an 8-bit BMP of 2 colours: 873 reads of
 * uninitialised memory under valgrind, another input on each run), and a palette whose size, as
 * stb_image reckons it from the pixels' offset, is negative left all of it so. *colors gets that
 * size; -1 with *index the first index past it, or *index -1 for a size below 1; 0 when every
 * pixel is within it, or bytes are no such BMP (stb_image says what else is wrong). The pixels are
 * read as stb_image reads them: from the offset, rows of w, padded to 4 bytes, a byte past the
 * file's end 0. */
static int bmp_palette(const uint8_t *b, size_t n, int w, int h, long *colors, int *index) {
    bmp_head m;
    if (!bmp_head_read(b, n, &m) || m.offset > INT32_MAX) return 0;
    long offset = m.offset, hsz = m.hsz;
    unsigned bpp = m.bpp;
    if ((bpp != 1 && bpp != 4 && bpp != 8) || m.compression != 0) return 0; /* stb_image: RLE, bitfields refused */
    /* stb_image's own arithmetic, on ints (an OS/2 one's as os2_bmp_copy hands it the file) */
    long psize = hsz == 12 ? (offset - 14 - 12) / 3 : (offset - 14 - hsz) / 4;
    if (offset - 14 - hsz < 0) psize = -1; /* its >> 2 of a negative size; no OS/2 copy */
    *colors = psize;
    if (psize > 256 || psize == 0) return 0; /* "Corrupt BMP" */
    if (psize < 0) return *index = -1, -1;
    size_t width = bpp == 8 ? (size_t)w : bpp == 4 ? ((size_t)w + 1) / 2 : ((size_t)w + 7) / 8;
    size_t stride = width + (-width & 3), at = (size_t)offset;
    for (int y = 0; y < h; y++, at += stride) {
        if (at >= n) break; /* the rest reads as 0 */
        for (int x = 0; x < w; x++) {
            size_t k = at + (size_t)x * bpp / 8;
            int v = k < n ? b[k] : 0;
            v = bpp == 8 ? v : bpp == 4 ? (x & 1 ? v & 15 : v >> 4) : v >> (7 - (x & 7)) & 1;
            if (v >= psize) return *index = v, -1;
        }
    }
    return 0;
}

/* An OS/2 BMP (12-byte header) of 1, 4 or 8 bits a pixel, its palette's 3-byte colours between
 * the header's end (byte 26) and the pixels' offset: stb_image 2.27 counts them from byte 38, not
 * 26, so it read 4 colours too few (an 8-bit BMP's 256 as 252, the last 4 leftover stack memory; a
 * 1-bit one's 2 as a negative count: none, and its pixels from 12 bytes late). *out a copy of the
 * file (malloc'd) with 12 bytes put before the pixels, the offset moved past them, so that
 * stb_image counts the palette whole; NULL when bytes are no such BMP; -1 when out of memory. */
static int os2_bmp_copy(const uint8_t *b, size_t n, uint8_t **out, size_t *out_len) {
    *out = NULL;
    bmp_head m;
    if (!bmp_head_read(b, n, &m) || m.hsz != 12) return 0;
    uint64_t offset = m.offset, bpp = m.bpp;
    if ((bpp != 1 && bpp != 4 && bpp != 8) || offset < 26 || offset > n || offset + 12 > INT32_MAX) return 0;
    uint8_t *c = malloc(n + 12);
    if (!c) return -1;
    memcpy(c, b, (size_t)offset);
    memset(c + offset, 0, 12);
    memcpy(c + offset + 12, b + offset, n - (size_t)offset);
    for (int j = 0; j < 4; j++) c[10 + j] = (uint8_t)((offset + 12) >> 8 * j);
    *out = c, *out_len = n + 12;
    return 0;
}

/* A BMP's bit fields (compression 3, BI_BITFIELDS) as Pillow 9 reads them: red, green, blue and alpha
 * masks from the header's byte 40, where a header of 56 bytes or more holds the four and a 40-byte one
 * is followed by three (its alpha 0). 1, or 0 when bytes are no such BMP or end before the masks. */
static int bmp_masks(const uint8_t *b, size_t n, const bmp_head *m, uint32_t mask[4]) {
    if (m->hsz < 40 || m->compression != 3 || n < 14 + 40 + (m->hsz == 40 ? 12 : 16)) return 0;
    for (int k = 0; k < 4; k++) mask[k] = k < 3 || m->hsz > 40 ? le32(b + 54 + 4 * k) : 0;
    return 1;
}

/* A copy of a BMP that stb_image 2.27 misreads or refuses where Pillow reads it: a header of 56 bytes
 * (BITMAPV3INFOHEADER) in bit fields, whose masks stb_image looks for past the header (in the pixels:
 * "bad offset"), made a 108-byte one, 52 bytes of 0 put after it and the offset moved past them; and 24
 * bits a pixel in bit fields of 8-8-8 (Pillow's "BGR"; stb_image takes bit fields of 16 and 32 bits
 * only) or 32 in masks all 0 (Pillow's "BGRA"; stb_image refuses masks all alike), made plain
 * (compression 0, which stb_image reads so, an alpha all 0 as opaque), a 40-byte header's three masks
 * after it dropped and the offset moved back over them, where stb_image wants the pixels. *out the copy
 * (malloc'd), NULL when bytes are no such BMP; -1 when out of memory. */
static int bmp_stb_copy(const uint8_t *b, size_t n, uint8_t **out, size_t *out_len) {
    *out = NULL;
    bmp_head m;
    uint32_t k[4];
    if (!bmp_head_read(b, n, &m) || !bmp_masks(b, n, &m, k)) return 0;
    int grow = m.hsz == 56, plain = (m.bpp == 24 && k[0] == 0xFF0000 && k[1] == 0xFF00 && k[2] == 0xFF) ||
                                    (m.bpp == 32 && !k[0] && !k[1] && !k[2] && !k[3]);
    size_t at = 14 + (size_t)m.hsz + (m.hsz == 40 ? 12 : 0); /* where the header and the masks end */
    if ((!grow && !plain) || m.offset < at || m.offset > n || (uint64_t)m.offset + 52 > INT32_MAX) return 0;
    size_t cut = plain && m.hsz == 40 ? 12 : 0, extra = grow ? 52 : 0, len = n + extra - cut;
    uint8_t *c = malloc(len);
    if (!c) return -1;
    memcpy(c, b, at - cut);
    memset(c + at - cut, 0, extra);
    memcpy(c + at - cut + extra, b + at, n - at);
    uint32_t offset = m.offset + (uint32_t)extra - (uint32_t)cut, hsz = grow ? 108 : m.hsz;
    for (int j = 0; j < 4; j++) {
        c[10 + j] = (uint8_t)(offset >> 8 * j), c[14 + j] = (uint8_t)(hsz >> 8 * j);
        if (plain) c[30 + j] = 0;
    }
    *out = c, *out_len = len;
    return 0;
}

/* Whether Pillow 9, and so the lab's load_image, refuses a BMP that stb_image may read: a header of 56
 * bytes (BITMAPV3INFOHEADER; it reads 12, 40, 64, 108 and 124), or bit fields other than 5-5-5 and 5-6-5
 * at 16 bits a pixel, 8-8-8 at 24, and at 32 BGRX, XBGR, ABGR, RGBA, BGRA and all 0 (stb_image read
 * others, 4-4-4-4, 8-8-8 with the alpha in the low byte, by their masks). -1 with err, or 0. */
static int bmp_lab_check(const uint8_t *b, size_t n, const char *name, mnist_err *err) {
    static const uint32_t known[][5] = { /* bits a pixel, masks (alpha not looked at under 32 bits) */
        {16, 0xF800, 0x7E0, 0x1F, 0}, {16, 0x7C00, 0x3E0, 0x1F, 0}, {24, 0xFF0000, 0xFF00, 0xFF, 0},
        {32, 0xFF0000, 0xFF00, 0xFF, 0}, {32, 0xFF000000, 0xFF0000, 0xFF00, 0}, {32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF},
        {32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000}, {32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000}, {32, 0, 0, 0, 0}};
    bmp_head m;
    uint32_t k[4];
    if (!bmp_head_read(b, n, &m)) return 0;
    if (m.hsz == 56)
        return errf(err, "%s: a BMP of a 56-byte header (BITMAPV3INFOHEADER), which Pillow does not read, nor so the "
                    "lab's load_image (the MNIST recipe reads it)", name);
    if (!bmp_masks(b, n, &m, k)) return 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (known[i][0] == m.bpp && known[i][1] == k[0] && known[i][2] == k[1] && known[i][3] == k[2] &&
            (m.bpp != 32 || known[i][4] == k[3]))
            return 0;
    return errf(err, "%s: a BMP of %u bits a pixel in bit fields (red, green, blue, alpha masks 0x%X, 0x%X, 0x%X, "
                "0x%X) that Pillow does not read, nor so the lab's load_image: it reads 5-5-5 and 5-6-5 at 16 bits, "
                "8-8-8 at 24 and 32", name, m.bpp, k[0], k[1], k[2], k[3]);
}

/* Where a PNG's IHDR chunk begins, its size in it: past the signature, and past the CgBI chunks
 * before it of Apple's PNGs (stb_image reads them, a raw deflate stream their image data); 0 when
 * bytes do not begin a PNG with its size there. */
static size_t png_ihdr(const uint8_t *b, size_t n) {
    size_t at = 8;
    uint32_t len;
    if (!is_png(b, n)) return 0;
    while (png_chunk(b, n, at, &len) && !memcmp(b + at + 4, "CgBI", 4)) at += 12 + (size_t)len;
    return n - at >= 16 && be32(b + at) == 13 && !memcmp(b + at + 4, "IHDR", 4) ? at : 0;
}

/* A PNG's size from its IHDR chunk, for the cases stb_image refuses to report one (over 2^30 pixels,
 * or none, it says only "unknown image type"); 0 when bytes do not begin a PNG. */
static int png_size(const uint8_t *b, size_t n, uint64_t *w, uint64_t *h) {
    size_t at = png_ihdr(b, n);
    if (!at) return 0;
    *w = be32(b + at + 8);
    *h = be32(b + at + 12);
    return 1;
}

/* The bytes that a PNG's image data inflates to for its header's pixels: each row's filter byte
 * and samples, in each of the 7 passes of an interlaced one; 0 when bytes are no PNG of a known
 * colour type. A CgBI PNG's too: without it, stb_image inflated its data unbounded, a 28x28 one to
 * 256 MB. */
static uint64_t png_raw_bytes(const uint8_t *b, size_t n) {
    /* samples a pixel by colour type: gray, RGB, palette, gray+alpha, RGBA */
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
    static const uint8_t pass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2},
                                       {0, 1, 1, 2}}; /* Adam7: first column and row, steps */
    size_t at = png_ihdr(b, n);
    if (!at || n - at < 21) return 0;
    const uint8_t *d = b + at + 8; /* IHDR's data: width, height, depth, colour type, ..., interlace */
    if (d[9] > 6 || !channels[d[9]]) return 0;
    uint64_t w = be32(d), h = be32(d + 4);
    uint64_t bits = (uint64_t)channels[d[9]] * d[8], raw = 0;
    for (int p = 0; p < (d[12] ? 7 : 1); p++) {
        uint64_t x0 = d[12] ? pass[p][0] : 0, y0 = d[12] ? pass[p][1] : 0, dx = d[12] ? pass[p][2] : 1,
                 dy = d[12] ? pass[p][3] : 1;
        uint64_t pw = w > x0 ? (w - x0 + dx - 1) / dx : 0, ph = h > y0 ? (h - y0 + dy - 1) / dy : 0;
        if (pw && ph) raw += ph * (1 + (pw * bits + 7) / 8);
    }
    return raw;
}

/* Bytes a PNG's image data may inflate to past its pixels': some PNGs in the wild hold more at the
 * end (zeros, stb_image's issue #276), which stb_image and Pillow read past; a row of the widest
 * image (8000 pixels of 8 bytes and its filter byte) fits in it, and it costs stb_image little. */
#define PNG_EXTRA (1u << 16)

/* Whether a PNG's chunks, walked from its signature as stb_image walks them, come to an IDAT chunk cut short
 * (its length past the file's end) before IEND: stb_image 2.27 grows its buffer of the image data to hold
 * the chunk before it reads it and finds the file too short, so a 239-byte PNG whose chunk says 1.8 GB
 * took 2 GB of address space (fuzz_number), and where there is less, it is "out of memory". */
static int png_idat_cut(const uint8_t *b, size_t n) {
    uint32_t len;
    size_t at = 8;
    while (png_chunk(b, n, at, &len) && memcmp(b + at + 4, "IEND", 4)) at += 12 + (size_t)len;
    return n - at >= 8 && !memcmp(b + at + 4, "IDAT", 4) && be32(b + at) > n - at - 8;
}

/* A PNG's image data (its IDAT chunks, walked by their lengths as stb_image walks them, to IEND)
 * inflated by zlib into out->data (malloc'd), for stb_image to take in place of inflating it again
 * (stb_image.c). 1 when it inflates to more than limit bytes (under 4 GB: 64M pixels of 8 bytes);
 * else 0, out->data NULL unless zlib read the stream whole, the 4 bytes of its Adler-32 after it
 * (not checked: stb_image checks none; stb_image 2.27 refuses some streams with fewer than 2 bytes
 * after them), and stb_image then inflates it itself and says what is wrong; -1 when out of
 * memory. stb_image inflates all of it before it looks at the size, doubling its buffer up to
 * 4 GB: a 1 MB PNG of 28x28 pixels whose data inflates to 1 GB took 1 GB and 0.6 s (and serve
 * budgets a PNG by its header's pixels). */
static int png_inflate(const uint8_t *b, size_t n, uint64_t limit, png_inflated *out) {
    out->data = NULL, out->len = out->in_len = 0, out->limit = limit;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK || inflateValidate(&z, 0) != Z_OK) {
        inflateEnd(&z);
        return 0;
    }
    uint8_t *data = malloc(limit + 1);
    if (!data) {
        inflateEnd(&z);
        return -1;
    }
    z.next_out = data, z.avail_out = (uInt)(limit + 1); /* all of it filled: past the limit */
    int rc = Z_OK;
    uint32_t len;
    for (size_t at = 8; png_chunk(b, n, at, &len) && memcmp(b + at + 4, "IEND", 4); at += 12 + (size_t)len) {
        if (memcmp(b + at + 4, "IDAT", 4)) continue;
        out->in_len += len; /* what stb_image joins, to its end */
        if (rc != Z_OK || !z.avail_out) continue;
        z.next_in = (Bytef *)(uintptr_t)(b + at + 8), z.avail_in = len;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_out) rc = Z_OK; /* more input wanted: the next IDAT */
    }
    inflateEnd(&z);
    if (!z.avail_out || rc != Z_STREAM_END) {
        free(data);
        return !z.avail_out;
    }
    out->data = data, out->len = z.total_out;
    return 0;
}

/* "WxH is 81.0 megapixels, over the limit of 67.1": in megapixels, to as many places as tell the two apart
 * (8192x8193 is 67.12 over 67.11, not 67.1 over 67.1) */
static int too_many_pixels(mnist_err *err, const char *name, double w, double h) {
    double mp = w * h / 1e6, limit = MNIST_MAX_IMAGE_PIXELS / 1e6;
    int places = 1;
    while (places < 6 && round(mp * pow(10, places)) == round(limit * pow(10, places))) places++;
    return errf(err, "%s: %.0fx%.0f is %.*f megapixels, over the limit of %.*f", name, w, h, places, mp, places, limit);
}

/* What an image's header says, checked before anything is decoded: its size and channels into w,
 * h and nc, a PNM's maximum value into maxv (255 for the other kinds), and where a JPEG's frame
 * header (SOF) begins into *frame unless it is NULL (0: none, or no JPEG); 0, or -1 with err saying
 * why the image is refused (MNIST_NO_MEMORY: out of memory). */
static int header_check(const uint8_t *bytes, size_t len, const char *name, int *w, int *h, int *nc,
                        unsigned *maxv, size_t *frame, mnist_err *err) {
    char why[64];
    if (frame) *frame = 0;
    if (len == 0) return errf(err, "%s: empty file", name);
    if (len > INT_MAX) return errf(err, "%s: %zu bytes is too large a file", name, len);
    const char *no = unsupported(bytes, len);
    if (no) return errf(err, "%s: %s images are not supported (PNG, JPEG, BMP, GIF, TGA, PNM are)", name, no);
    /* the PNM kinds stb_image does not read: "not a ... PNM image" (unknown image type) was false of them */
    static const char *const pnm[] = {NULL, "plain PBM", "plain PGM", "plain PPM", "PBM", NULL, NULL, "PAM"};
    if (len >= 3 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7' && pnm[bytes[1] - '0'] &&
        (bytes[2] == ' ' || (bytes[2] >= '\t' && bytes[2] <= '\r')))
        return errf(err, "%s: a %s image (P%c): of the PNM kinds, binary PGM (P5) and PPM (P6) are read", name,
                    pnm[bytes[1] - '0'], bytes[1]);
    uint64_t pv[3];
    size_t pend;
    int is_pnm = pnm_header(bytes, len, pv, &pend);
    *maxv = is_pnm ? (unsigned)pv[2] : 255; /* refused below unless 1 to 65535 */
    if (is_pnm && (pv[0] > INT_MAX || pv[1] > INT_MAX))
        return errf(err, "%s: a corrupt PNM: its header's %s is past 2^31 (stb_image would read it wrapped)", name,
                    pv[0] > INT_MAX ? "width" : "height");
    if (is_pnm && (pv[2] == 0 || pv[2] > 65535)) /* stb_image took 0, read as 255 */
        return errf(err, "%s: a corrupt PNM: its maximum value is %s (1 to 65535 are)", name,
                    pv[2] > INT_MAX ? "past 2^31" : pv[2] ? "over 65535" : "0 or missing");
    long codes;
    int sof, bits;
    size_t sof_at;
    long scans = jpeg_scans(bytes, len, &codes, &sof, &sof_at, &bits);
    if (frame && sof) *frame = sof_at;
    if (codes > 256) /* before stb_image reads the table (stbi_info too): it writes past its arrays */
        return errf(err, "%s: a corrupt JPEG: a Huffman table (DHT) of %ld codes, more than the 256 a table holds",
                    name, codes);
    if (scans > MAX_SCANS)
        return errf(err, "%s: a JPEG of %ld scans, over the limit of %d (encoders write about 10; each scan is a "
                    "pass over the whole image)", name, scans, MAX_SCANS);
    static const char *const jpeg_kind[16] = {[3] = "lossless", [5] = "hierarchical", [6] = "hierarchical",
        [7] = "hierarchical", [9] = "arithmetic-coded", [10] = "arithmetic-coded", [11] = "arithmetic-coded",
        [13] = "hierarchical", [14] = "hierarchical", [15] = "hierarchical"};
    if (sof > 0xC2)
        return errf(err, "%s: a JPEG of a kind not read here (%s, SOF%d): baseline and progressive JPEGs are", name,
                    jpeg_kind[sof - 0xC0], sof - 0xC0);
    if (sof && bits != 8)
        return errf(err, "%s: a JPEG of %d bits a sample, a kind not read here: JPEGs of 8 bits are", name, bits);
    uint64_t pw, ph;
    int png = png_size(bytes, len, &pw, &ph);
    if (png && pw * ph > MNIST_MAX_IMAGE_PIXELS)
        return too_many_pixels(err, name, (double)pw, (double)ph);
    if (png && (pw == 0 || ph == 0)) /* stb_image: "unknown image type" */
        return errf(err, "%s: a PNG of %llux%llu pixels: there is no picture in it", name, (unsigned long long)pw,
                    (unsigned long long)ph);
    if (png && (pw > MAX_SIDE || ph > MAX_SIDE)) /* stb_image: "unknown image type" too */
        return errf(err, "%s: a PNG of %llux%llu pixels: a side over %u pixels is not read", name,
                    (unsigned long long)pw, (unsigned long long)ph, MAX_SIDE);
    stb_ran_out = 0;
    if (!stbi_info_from_memory(bytes, (int)len, w, h, nc))
        return stb_ran_out ? errf_no_memory(err, "%s: out of memory", name)
                           : errf(err, "%s: not a PNG, JPEG, BMP, GIF, TGA or PNM image (%s)", name,
                                  stb_reason(why, sizeof why));
    /* a BMP stored top row first says so by a negative height, which stb_image's info passes on as it
     * is (its decoder takes the height's size, and flips) */
    if (len >= 2 && bytes[0] == 'B' && bytes[1] == 'M' && *h < 0 && *h > INT_MIN) *h = -*h;
    if (*w < 1 || *h < 1) /* a GIF of its signature alone: 0x0 */
        return errf(err, "%s: its header says %dx%d pixels: there is no picture in it (a file cut short?)", name, *w, *h);
    if ((uint64_t)*w * (uint64_t)*h > MNIST_MAX_IMAGE_PIXELS)
        return too_many_pixels(err, name, *w, *h);
    if ((unsigned)*w > MAX_SIDE || (unsigned)*h > MAX_SIDE) /* a BMP's, a PNM's: "cannot decode (too large)" */
        return errf(err, "%s: an image of %dx%d pixels: a side over %u pixels is not read", name, *w, *h, MAX_SIDE);
    long colors;
    int index;
    if (bmp_palette(bytes, len, *w, *h, &colors, &index)) {
        if (index < 0) return errf(err, "%s: a corrupt BMP: its pixels' offset leaves no room for its palette", name);
        return errf(err, "%s: a corrupt BMP: a pixel is colour %d of a palette of %ld", name, index, colors);
    }
    uint64_t need;
    int raw = raw_size(bytes, len, (uint64_t)*w, (uint64_t)*h, &need);
    if (raw && need > len)
        return errf(err, "%s: truncated: its header promises %dx%d pixels in %s%llu bytes, the file has %zu", name,
                    *w, *h, raw == 2 ? "at least " : "", (unsigned long long)need, len);
    return 0;
}

/* The chunks of a PNG (past its signature) walked as stb_image walks them, by their lengths, one cut
 * short and what follows left as they are; each PLTE chunk of fewer than 256 colours written out
 * with 256, each empty IDAT chunk before the first that holds data left out, the rest as they are,
 * into c (NULL: counted only). The copy's length; *changed whether it differs from the file.
 * stb_image 2.27 copies an IDAT chunk's data to the end of the image data joined so far, which
 * before the first data is a NULL buffer: memcpy(NULL, p, 0), undefined (UndefinedBehaviorSanitizer
 * stops there; Pillow reads such a PNG). Left out, the data joined is the same. */
static size_t png_fill_palettes(const uint8_t *b, size_t n, uint8_t *c, int *changed) {
    size_t at = 8, k = 8;
    uint32_t len;
    int data = 0; /* an IDAT chunk with data came */
    *changed = 0;
    if (c) memcpy(c, b, 8);
    for (; png_chunk(b, n, at, &len); at += 12 + (size_t)len) {
        int fill = !memcmp(b + at + 4, "PLTE", 4) && len < 768 && len % 3 == 0;
        int idat = !memcmp(b + at + 4, "IDAT", 4);
        if (idat && !data && len == 0) {
            *changed = 1;
            continue;
        }
        data |= idat;
        *changed |= fill;
        if (c && fill) {
            static const uint8_t head[8] = {0, 0, 3, 0, 'P', 'L', 'T', 'E'}; /* 768 bytes */
            memcpy(c + k, head, 8);
            memcpy(c + k + 8, b + at + 8, len);
            for (uint32_t i = len / 3; i < 256; i++) memset(c + k + 8 + 3 * i, (int)i, 3);
            uLong crc = crc32(crc32(0L, Z_NULL, 0), c + k + 4, 4 + 768);
            for (int j = 0; j < 4; j++) c[k + 8 + 768 + j] = (uint8_t)(crc >> (24 - 8 * j));
        } else if (c) {
            memcpy(c + k, b + at, 12 + (size_t)len);
        }
        k += 12 + (fill ? 768 : (size_t)len);
    }
    if (c) memcpy(c + k, b + at, n - at); /* what follows the last whole chunk, as it is */
    return k + (n - at);
}

/* A PNG's palettes (PLTE chunks) of fewer than 256 colours, the colours it lacks filled in gray as
 * Pillow has them (colour i: i, i, i; the lab's load_image reads the same), and its empty IDAT
 * chunks before its image data left out (png_fill_palettes): *out a copy of the file so (malloc'd),
 * or NULL when there is nothing to change; -1 when out of memory. stb_image 2.27 keeps
 * the palette in a 1024-byte array on its stack, fills the file's colours only and looks pixels up
 * unchecked: a pixel past them was leftover stack memory (a 28x28 PNG of 2 colours whose pixels
 * are 0 to 255: 1092 reads of uninitialised memory under valgrind, another input on each run). */
static int png_full_palette(const uint8_t *b, size_t n, uint8_t **out, size_t *out_len) {
    *out = NULL;
    if (!is_png(b, n)) return 0;
    int changed;
    size_t size = png_fill_palettes(b, n, NULL, &changed);
    if (!changed) return 0;
    uint8_t *c = malloc(size);
    if (!c) return -1;
    png_fill_palettes(b, n, c, &changed);
    *out = c, *out_len = size;
    return 0;
}

/* A GIF whose global palette or first frame's own has fewer than 256 colours: *out a copy (malloc'd)
 * with both grown to 256, the colours they lack gray as Pillow has them (colour i: i, i, i), or NULL
 * when none lacks any, or a palette is cut short (stb_image says so); -1 when out of memory.
 * stb_image 2.27 draws a pixel past the palette as transparent (its table's zeroed entries) and
 * Pillow as gray i: the lab's recipe read it as the canvas's colour. */
static int gif_full_palette(const uint8_t *b, size_t n, uint8_t **out, size_t *out_len) {
    *out = NULL;
    gif_head g;
    if (n < 13 || memcmp(b, "GIF8", 4) || !gif_frame(b, n, &g) || g.at + 10 > n) return 0;
    size_t gs = b[10] & 0x80 ? (size_t)3 << ((b[10] & 7) + 1) : 0, at = g.at;
    size_t ls = b[at + 9] & 0x80 ? (size_t)3 << ((b[at + 9] & 7) + 1) : 0;
    size_t gfill = gs && gs < 768 ? 768 - gs : 0, lfill = ls && ls < 768 ? 768 - ls : 0;
    if ((!gfill && !lfill) || 13 + gs > at || at + 10 + ls > n) return 0;
    uint8_t *c = malloc(n + gfill + lfill), *p = c;
    if (!c) return -1;
    memcpy(p, b, 13 + gs), p += 13 + gs;
    for (size_t i = gs / 3; gfill && i < 256; i++) memset(p, (int)i, 3), p += 3;
    memcpy(p, b + 13 + gs, at + 10 + ls - (13 + gs)), p += at + 10 + ls - (13 + gs);
    for (size_t i = ls / 3; lfill && i < 256; i++) memset(p, (int)i, 3), p += 3;
    memcpy(p, b + at + 10 + ls, n - (at + 10 + ls));
    if (gfill) c[10] |= 7;
    if (lfill) c[at + gfill + 9] |= 7;
    *out = c, *out_len = n + gfill + lfill;
    return 0;
}

/* A PNM's sample v of maxv as a share of top (255, or 65535 for 16-bit grayscale in the lab's recipe), as
 * Pillow reads it: round(v / maxv * top), halves to even, top at most. stb_image keeps 8-bit samples as
 * they are and 16-bit ones' high byte, whatever the maximum value: a PGM of maximum value 1 read as
 * blank, and the lab's recipe was not Pillow's. */
static unsigned pnm_level(unsigned v, unsigned maxv, unsigned top) {
    double s = rint((double)v / maxv * top);
    return s > top ? top : (unsigned)s;
}

/* The i'th 16-bit sample of a PNM as stb_image 2.27 leaves it: the file's two bytes as they were,
 * most significant first (it does not put them in the machine's order, so that 256 was 1 and its
 * 8-bit reading, the high byte, the sample's low byte; upstream swaps them since 2.28). */
static unsigned pnm_sample(const uint16_t *v, size_t i) {
    const uint8_t *b = (const uint8_t *)(v + i);
    return (unsigned)b[0] << 8 | b[1];
}

static int decode_bytes(const uint8_t *bytes, size_t len, const char *name, int lab, decoded *d, mnist_err *err) {
    memset(d, 0, sizeof *d);
    char why[64];
    int w, h, nc;
    unsigned maxv; /* a PNM's maximum value; 255 for the other kinds */
    int rc = header_check(bytes, len, name, &w, &h, &nc, &maxv, NULL, err);
    if (rc) return rc;
    uint8_t *filled;
    size_t filled_len;
    if (png_full_palette(bytes, len, &filled, &filled_len) ||
        (!filled && os2_bmp_copy(bytes, len, &filled, &filled_len)) ||
        (!filled && gif_full_palette(bytes, len, &filled, &filled_len)))
        return errf_no_memory(err, "%s: out of memory", name);
    if (filled) {
        if (filled_len > INT_MAX) {
            free(filled);
            return errf(err, "%s: %zu bytes is too large a file", name, filled_len);
        }
        bytes = filled, len = filled_len;
    }
    if (is_png(bytes, len) && png_idat_cut(bytes, len)) {
        free(filled);
        return errf(err, "%s: cannot decode the image (it ends too early: a truncated file?)", name);
    }
    uint64_t raw = png_raw_bytes(bytes, len);
    /* stb_image takes it, or leaves it (its reader refused the PNG before the image data); its own
     * inflate, of a stream zlib refused, stops at the same limit (PNG_PAST) */
    stb_png_inflated.data = NULL, stb_png_inflated.limit = 0;
    int past = raw ? png_inflate(bytes, len, raw + PNG_EXTRA, &stb_png_inflated) : 0;
    if (past < 0) {
        free(filled);
        return errf_no_memory(err, "%s: out of memory", name);
    }
    int dw, dh;
    stb_ran_out = 0;
    /* Pillow opens 16-bit grayscale as mode I and convert('L') clips it to 0..255; stb would
     * scale it to 8 bits instead. Every other 16-bit kind Pillow reduces to its high byte, as stb. */
    if (!past && lab && nc == 1 && stbi_is_16_bit_from_memory(bytes, (int)len)) {
        d->px16 = stbi_load_16_from_memory(bytes, (int)len, &dw, &dh, &d->nc, 1);
        d->nc = 1;
        for (size_t i = 0; d->px16 && maxv > 255 && i < (size_t)dw * dh; i++) /* a PNM's 16-bit samples */
            d->px16[i] = (uint16_t)pnm_level(pnm_sample(d->px16, i), maxv, 65535);
    } else if (!past && maxv > 255) { /* a PNM's 16-bit samples, each its share of maxv in 8 bits */
        uint16_t *v = stbi_load_16_from_memory(bytes, (int)len, &dw, &dh, &d->nc, 0);
        size_t n = v ? (size_t)dw * dh * d->nc : 0;
        if (v && !(d->px = malloc(n))) stb_ran_out = 1; /* as when stb_image runs out */
        for (size_t i = 0; d->px && i < n; i++) d->px[i] = (uint8_t)pnm_level(pnm_sample(v, i), maxv, 255);
        stbi_image_free(v);
    } else if (!past) {
        d->px = stbi_load_from_memory(bytes, (int)len, &dw, &dh, &d->nc, 0);
        for (size_t i = 0; d->px && maxv < 255 && i < (size_t)dw * dh * d->nc; i++)
            d->px[i] = (uint8_t)pnm_level(d->px[i], maxv, 255);
    }
    free(stb_png_inflated.data);
    stb_png_inflated.data = NULL, stb_png_inflated.limit = 0; /* none for a later stbi_load of this thread */
    free(filled);
    if (!d->px && !d->px16) {
        const char *r = stb_reason(why, sizeof why);
        if (stb_ran_out) return errf_no_memory(err, "%s: out of memory", name);
        if (past || !strcmp(r, PNG_PAST))
            return errf(err, "%s: a corrupt PNG: its image data inflates to more than the %llu bytes of its %dx%d "
                        "pixels and 64 KiB", name, (unsigned long long)raw, w, h);
        return errf(err, "%s: cannot decode the image (%s)", name,
                    !strcmp(r, "outofdata") ? "it ends too early: a truncated file?" : r);
    }
    if (dw != w || dh != h || d->nc < 1 || d->nc > 4) {
        decoded_free(d);
        return errf(err, "%s: the image decoded to %dx%d with %d channels, not the %dx%d its header says", name,
                    dw, dh, d->nc, w, h);
    }
    d->w = w, d->h = h;
    return 0;
}

/* Decode an image into d: 0, or -1 (MNIST_NO_MEMORY) with err; a BMP that stb_image misreads (bmp_stb_copy) from a copy. */
static int decode(const uint8_t *bytes, size_t len, const char *name, int lab, decoded *d, mnist_err *err) {
    uint8_t *copy;
    size_t copy_len;
    memset(d, 0, sizeof *d);
    if (bmp_stb_copy(bytes, len, &copy, &copy_len)) return errf_no_memory(err, "%s: out of memory", name);
    int rc = copy ? decode_bytes(copy, copy_len, name, lab, d, err) : decode_bytes(bytes, len, name, lab, d, err);
    free(copy);
    return rc;
}

/* A GIF as Pillow opens it, for the lab's recipe: its first frame drawn on a canvas of colour 0 of
 * the frame's palette, or of its transparent colour when it has one, and the frame's transparent
 * pixels in that colour too (Pillow keeps them as the palette index they are, which convert('L')
 * looks up). stb_image leaves both transparent black, the canvas the colour the header names as
 * the background when that is not 0: a digit drawn on a transparent white background read as black
 * on black, 784 inputs of 0 where the lab's load_image sees the digit. */
static void gif_like_pillow(const uint8_t *b, size_t n, decoded *d) {
    gif_head g;
    if (n < 4 || memcmp(b, "GIF8", 4) || !gif_frame(b, n, &g) || !d->px || d->nc != 4) return;
    uint8_t k = g.trns >= 0 ? (uint8_t)g.trns : 0, c[4] = {k, k, k, 255}; /* past the palette: gray k, as Pillow */
    if (k < g.colors) memcpy(c, g.pal + 3 * (size_t)k, 3);
    for (size_t y = 0; y < (size_t)d->h; y++)
        for (size_t x = 0; x < (size_t)d->w; x++) {
            uint8_t *p = d->px + (y * (size_t)d->w + x) * 4;
            if (x < g.x || x >= g.x + g.w || y < g.y || y >= g.y + g.h || p[3] == 0) memcpy(p, c, 4);
        }
}

/* A BMP of 16 bits a pixel as Pillow reads it, for the lab's recipe: each 5- or 6-bit level v of
 * a channel as v * 255 / 31 (or 63), rounded down, where stb_image repeats v's bits (v << 3 | v >> 2:
 * 132 for 16, not 131), which moved a third of the levels by one (a pixel's gray by one too). Pillow
 * reads 5-5-5 (no masks, or those masks) and 5-6-5; other masks it refuses, as the lab's recipe does
 * before decoding (bmp_lab_check), and a header of 56 bytes too. stb_image's 8 bits begin with v's, so v
 * is its bits' top. */
static void bmp16_like_pillow(const uint8_t *b, size_t n, decoded *d) {
    bmp_head m;
    if (!bmp_head_read(b, n, &m) || m.bpp != 16 || m.hsz == 12 || m.hsz == 56 || !d->px || d->nc < 3) return;
    int green = 5; /* bits */
    if (m.compression == 3) {
        if (n < 66) return;
        uint32_t r = le32(b + 54), g = le32(b + 58), bl = le32(b + 62);
        if (r == 0xF800 && g == 0x7E0 && bl == 0x1F) green = 6;
        else if (r != 0x7C00 || g != 0x3E0 || bl != 0x1F) return;
    } else if (m.compression != 0) {
        return;
    }
    for (size_t i = 0; i < (size_t)d->w * d->h; i++) {
        uint8_t *p = d->px + i * d->nc;
        p[0] = (uint8_t)((p[0] >> 3) * 255 / 31);
        p[1] = (uint8_t)((p[1] >> (8 - green)) * 255 / ((1 << green) - 1));
        p[2] = (uint8_t)((p[2] >> 3) * 255 / 31);
    }
}

/* What mnist_image_prepare refuses before decoding, by the preprocessing: none of ours, or the lab's of a BMP that
 * Pillow does not read. -1 with err, or 0. */
static int prep_refuses(const uint8_t *bytes, size_t len, const char *name, mnist_prep prep, mnist_err *err) {
    if (prep != MNIST_PREP_MNIST && prep != MNIST_PREP_LAB && prep != MNIST_PREP_FASHION && prep != MNIST_PREP_OUTLINE)
        return errf(err, "%s: unknown preprocessing %d", name, (int)prep);
    return prep == MNIST_PREP_LAB ? bmp_lab_check(bytes, len, name, err) : 0; /* what Pillow refuses */
}

size_t mnist_image_decode_bytes(const uint8_t *bytes, size_t len, mnist_prep prep) {
    int w, h, nc;
    unsigned maxv;
    mnist_err err;
    size_t frame; /* a JPEG's SOF, found by header_check's pass over the bytes */
    uint8_t *copy; /* a BMP that stb_image misreads, as decode reads it */
    size_t copy_len;
    if (prep_refuses(bytes, len, "image", prep, &err)) return 0;
    if (bmp_stb_copy(bytes, len, &copy, &copy_len)) return 0;
    int bad = copy ? header_check(copy, copy_len, "image", &w, &h, &nc, &maxv, &frame, &err)
                   : header_check(bytes, len, "image", &w, &h, &nc, &maxv, &frame, &err);
    free(copy);
    if (bad) return 0;
    size_t px = (size_t)w * (size_t)h, bytes_per = stbi_is_16_bit_from_memory(bytes, (int)len) ? 2 : 1;
    /* stb's buffer (a PNG's inflated rows, say) and its output, then the luma plane; the lab's
     * resize holds 28-pixel strips of the other side and their weights (measured: a 4x16M PNG,
     * 790 MB) */
    size_t held = px * (size_t)nc * bytes_per * 2;
    /* a JPEG's planes, and a progressive one's coefficients: a 1 MB progressive CMYK JPEG of
     * 8192x8192 took 980 MB, which 2 bytes a pixel a channel counted as 450 MB */
    uint64_t planes = frame ? jpeg_planes(bytes, len, frame, (uint64_t)w, (uint64_t)h) : 0;
    if (planes + px * (size_t)nc > held) held = (size_t)planes + px * (size_t)nc;
    /* an interlaced PNG's passes, each decoded apart and copied into the whole, the largest (every other
     * row) half of it: one of 8192x8192 16-bit RGBA pixels took 1.3 GB, counted 1.14 */
    size_t ihdr = png_ihdr(bytes, len);
    if (ihdr && len - ihdr >= 21 && bytes[ihdr + 20]) held += px * (size_t)nc * bytes_per / 2;
    return held + px + (prep == MNIST_PREP_LAB ? 64 * ((size_t)w + (size_t)h) : 0) +
           (prep == MNIST_PREP_FASHION || prep == MNIST_PREP_OUTLINE ? px * sizeof(float) : 0); /* fashion.c's copy, trimmed */
}

/* ---- the lab's recipe: Pillow, byte for byte ---------------------------- */

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

/* Pillow's convert('L') of row y: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, alpha ignored;
 * gray (with or without alpha) is kept as it is; 16-bit gray is clipped to 255. */
static void pil_luma_row(const decoded *d, int y, uint8_t *out) {
    size_t i0 = (size_t)y * d->w;
    if (d->px16) {
        for (int i = 0; i < d->w; i++) out[i] = d->px16[i0 + i] > 255 ? 255 : (uint8_t)d->px16[i0 + i];
        return;
    }
    int nc = d->nc;
    const uint8_t *p = d->px + i0 * nc;
    if (nc <= 2)
        for (int i = 0; i < d->w; i++) out[i] = p[i * nc];
    else
        for (int i = 0; i < d->w; i++)
            out[i] = (uint8_t)((p[i * nc] * 19595u + p[i * nc + 1] * 38470u + p[i * nc + 2] * 7471u + 0x8000u) >> 16);
}

/* resize((28, 28)) with Pillow's default filter for mode L, BICUBIC: a horizontal pass over the
 * rows the vertical pass reads, then the vertical pass, each rounded and clipped to bytes. */
static int lab_prepare(const decoded *d, const char *name, float *x, mnist_err *err) {
    int w = d->w, h = d->h, S = MNIST_SIDE;
    int hf[MNIST_SIDE], hn[MNIST_SIDE], vf[MNIST_SIDE], vn[MNIST_SIDE], hk = 0, vk = 0;
    int32_t *hkk = NULL, *vkk = NULL;
    uint8_t *tmp = NULL, *luma = NULL;
    int rc = 0;
    if (pil_coeffs(w, S, hf, hn, &hkk, &hk) || pil_coeffs(h, S, vf, vn, &vkk, &vk) || !(luma = malloc((size_t)w))) {
        rc = errf_no_memory(err, "%s: out of memory for resampling", name);
        goto done;
    }
    int y0 = vf[0], y1 = vf[S - 1] + vn[S - 1]; /* the rows the vertical pass reads */
    if (!(tmp = malloc((size_t)(y1 - y0) * S))) {
        rc = errf_no_memory(err, "%s: out of memory for resampling", name);
        goto done;
    }
    /* a row narrower than 28 grows: its weights as a (w, 28) table, each pixel added to the 28 sums at
     * once (a 1x16M PNG's 16M rows, one tap for each of 28 outputs, took 6 s tap by tap, 0.5 s so) */
    int32_t grow[MNIST_SIDE * MNIST_SIDE] = {0};
    for (int o = 0; w < S && o < S; o++)
        for (int i = 0; i < hn[o]; i++) grow[(hf[o] + i) * S + o] = hkk[(size_t)o * hk + i];
    for (int y = y0; y < y1; y++) {
        uint8_t *row = tmp + (size_t)(y - y0) * S;
        pil_luma_row(d, y, luma); /* once a row, not once a tap */
        if (w < S) {
            int32_t s[MNIST_SIDE]; /* Pillow's sums are ints too: 22 bits of weights leave room for 255 times them */
            for (int o = 0; o < S; o++) s[o] = 1 << (PIL_BITS - 1);
            for (int i = 0; i < w; i++)
                for (int o = 0; o < S; o++) s[o] += luma[i] * grow[i * S + o];
            for (int o = 0; o < S; o++) row[o] = pil_clip8(s[o]);
            continue;
        }
        for (int o = 0; o < S; o++) {
            if (w == S) { /* Pillow skips the pass: the pixels as they are */
                row[o] = luma[o];
                continue;
            }
            int64_t s = 1 << (PIL_BITS - 1);
            const int32_t *k = hkk + (size_t)o * hk;
            for (int i = 0; i < hn[o]; i++) s += (int64_t)luma[hf[o] + i] * k[i];
            row[o] = pil_clip8(s);
        }
    }
    /* each output row's sums over whole rows of tmp, one tap at a time: summed a column at a time,
     * down the rows 28 bytes apart, a tall image's strip (16M rows of a 1x16M PNG, 448 MB) was read
     * from memory once a column, 28 times, and took 10 s */
    for (int o = 0; o < S; o++) {
        int32_t s[MNIST_SIDE]; /* ints, as the growing rows' */
        for (int c = 0; c < S; c++) s[c] = 1 << (PIL_BITS - 1);
        const int32_t *k = vkk + (size_t)o * vk;
        for (int i = 0; h != S && i < vn[o]; i++) {
            const uint8_t *row = tmp + (size_t)(vf[o] + i - y0) * S;
            for (int c = 0; c < S; c++) s[c] += row[c] * k[i];
        }
        for (int c = 0; c < S; c++) {
            uint8_t v = h == S ? tmp[(size_t)(o - y0) * S + c] : pil_clip8(s[c]);
            x[o * S + c] = (float)v / 255.0f; /* np.float32 / 255.0, as the lab */
        }
    }
done:
    free(hkk);
    free(vkk);
    free(tmp);
    free(luma);
    return rc;
}


/* ---- the public functions ----------------------------------------------- */

int mnist_image_prepare(const uint8_t *bytes, size_t len, const char *name, mnist_prep prep, float *x,
                        mnist_err *err) {
    if (!name) name = "image";
    if (prep_refuses(bytes, len, name, prep, err)) return -1;
    decoded d;
    int rc = decode(bytes, len, name, prep == MNIST_PREP_LAB, &d, err);
    if (rc) return rc;
    /* photo.c's fits of the paper and the light; asked after decoding, which another thread's opening of it
     * (blas_preload) may overlap */
    if (prep == MNIST_PREP_MNIST && blas_load(err)) {
        decoded_free(&d);
        return -1;
    }
    /* a phone's photo as it was taken (the lab's Pillow code, and so its recipe, reads it as stored) */
    if (prep == MNIST_PREP_LAB) {
        gif_like_pillow(bytes, len, &d);
        bmp16_like_pillow(bytes, len, &d);
    }
    int o = prep != MNIST_PREP_LAB ? exif_orientation(bytes, len) : 1;
    if (o > 1 && orient(&d, o)) {
        decoded_free(&d);
        return errf_no_memory(err, "%s: out of memory turning the image", name);
    }
    rc = prep == MNIST_PREP_LAB       ? lab_prepare(&d, name, x, err)
         : prep == MNIST_PREP_FASHION ? fashion_prepare(&d, name, 0, x, err)
         : prep == MNIST_PREP_OUTLINE ? fashion_prepare(&d, name, 1, x, err)
                                      : photo_prepare(&d, name, x, err);
    decoded_free(&d);
    return rc;
}

int mnist_number_prepare(const uint8_t *bytes, size_t len, const char *name, float *x, int cap, int *n,
                         mnist_err *err) {
    return number_prepare(bytes, len, name, x, cap, n, NULL, NULL, err);
}

int number_prepare(const uint8_t *bytes, size_t len, const char *name, float *x, int cap, int *n, digit_reader read,
                   void *ctx, mnist_err *err) {
    if (!name) name = "image";
    *n = 0;
    if (cap < 1) return errf(err, "%s: no room for a digit (%d)", name, cap);
    decoded d;
    int rc = decode(bytes, len, name, 0, &d, err);
    if (rc) return rc;
    if (blas_load(err)) { /* photo.c's fits, as mnist_image_prepare's: asked after decoding */
        decoded_free(&d);
        return -1;
    }
    int o = exif_orientation(bytes, len); /* as mnist_image_prepare turns a photo for MNIST_PREP_MNIST */
    if (o > 1 && orient(&d, o)) {
        decoded_free(&d);
        return errf_no_memory(err, "%s: out of memory turning the image", name);
    }
    rc = photo_number(&d, name, x, cap, n, read, ctx, err);
    decoded_free(&d);
    return rc;
}

int image_read_stream(FILE *f, const char *name, uint8_t **bytes, size_t *bytes_len, mnist_err *err) {
    struct stat st;
    *bytes = NULL, *bytes_len = 0;
    int sized = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode); /* a file says its size, a pipe not */
    if (sized && (uint64_t)st.st_size > MAX_FILE) /* before reading */
        return errf(err, "%s: %.0f MB is too large an image file (limit %u MB)", name, st.st_size / 1e6,
                    MAX_FILE >> 20);
    /* read in growing chunks, a byte past the limit at most; a file's size (and a byte for its end)
     * at once */
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, first = sized ? (size_t)st.st_size + 1 : 1u << 16;
    int rc = 0;
    for (;;) {
        if (len > MAX_FILE) {
            rc = errf(err, "%s: too large an image file (over the limit of %u MB)", name, MAX_FILE >> 20);
            break;
        }
        if (len == cap) {
            size_t next = cap ? 2 * cap : first;
            if (next > (size_t)MAX_FILE + 1) next = (size_t)MAX_FILE + 1;
            uint8_t *b = realloc(buf, next);
            if (!b) {
                rc = errf_no_memory(err, "%s: out of memory for %zu bytes", name, next);
                break;
            }
            buf = b, cap = next;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) { /* the end, or an error */
            if (ferror(f)) rc = errf(err, "%s: read error: %s", name, strerror(errno ? errno : EIO));
            break;
        }
    }
    if (rc) free(buf);
    else *bytes = buf, *bytes_len = len;
    return rc;
}

int mnist_image_prepare_stream(FILE *f, const char *name, mnist_prep prep, float *x, mnist_err *err) {
    if (!name) name = "image";
    uint8_t *buf;
    size_t len;
    int rc = image_read_stream(f, name, &buf, &len, err);
    if (rc == 0) rc = mnist_image_prepare(buf, len, name, prep, x, err);
    free(buf);
    return rc;
}

int mnist_image_prepare_file(const char *path, mnist_prep prep, float *x, mnist_err *err) {
    FILE *f = open_input(path, err);
    if (!f) return -1;
    int rc = mnist_image_prepare_stream(f, path, prep, x, err);
    fclose(f);
    return rc;
}
