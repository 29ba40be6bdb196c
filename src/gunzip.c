/* gunzip.c: a file read as gzip when it starts with gzip's magic bytes, as it is otherwise (the
 * IDX reader and the SHA-256 of fetch.c take both). zlib's gzread ends quietly at bytes after the
 * gzip stream and at a stream cut short before its trailer; this reader refuses both, naming the
 * file.
 *
 * Several gzip members one after the other are legal gzip (RFC 1952 2.2: a gzip file is a series
 * of members; `cat a.gz b.gz` makes one, gunzip and gzread read them as their contents joined), so
 * a member may follow another, and the content is all of theirs. After the end of a member only
 * the next member's magic or the end of the file may come: anything else, zeros included, is
 * "trailing data after the gzip stream". */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#define GZ_IN_BUF (1 << 17)   /* bytes of the file read at a time */
#define GZ_WINDOW (15 + 16)   /* inflate's largest window, and a gzip header and trailer only */
static const uint8_t gz_magic[2] = {0x1f, 0x8b};

struct gz_input {
    const char *path;
    FILE *f;
    int gzip;      /* 1: inflated; 0: read as it is */
    int in_member; /* 1: inside a gzip member (its header read, its trailer not yet) */
    int file_end;  /* fread reached the end of the file */
    uint64_t at;   /* the file's bytes read so far, those still in the buffer included */
    z_stream z;    /* next_in, avail_in: the bytes read and not yet used */
    uint8_t buf[GZ_IN_BUF];
};

/* Move the unused input to the front of the buffer and read more after it. */
static int fill(gz_input *g, mnist_err *err) {
    memmove(g->buf, g->z.next_in, g->z.avail_in);
    g->z.next_in = g->buf;
    size_t n = fread(g->buf + g->z.avail_in, 1, sizeof g->buf - g->z.avail_in, g->f);
    if (ferror(g->f)) return errf(err, "%s: cannot read: %s", g->path, strerror(errno ? errno : EIO));
    g->file_end = feof(g->f);
    g->z.avail_in += (uInt)n;
    g->at += n;
    return 0;
}

/* At least want bytes of input (fewer only at the end of the file). */
static int need(gz_input *g, size_t want, mnist_err *err) {
    while (g->z.avail_in < want && !g->file_end)
        if (fill(g, err)) return -1;
    return 0;
}

static int starts_gzip(const gz_input *g) {
    return g->z.avail_in >= sizeof gz_magic && !memcmp(g->z.next_in, gz_magic, sizeof gz_magic);
}

gz_input *gz_input_open(const char *path, mnist_err *err) {
    mnist_err e;
    FILE *f = open_input(path, &e);
    if (!f) {
        errf(err, "%s: cannot open: %s", path, after_path(e.msg, path));
        return NULL;
    }
    gz_input *g = calloc(1, sizeof *g);
    if (!g) {
        errf(err, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    g->path = path;
    g->f = f;
    g->z.next_in = g->buf;
    if (need(g, sizeof gz_magic, err)) {
        gz_input_close(g);
        return NULL;
    }
    g->gzip = starts_gzip(g);
    if (g->gzip && inflateInit2(&g->z, GZ_WINDOW) != Z_OK) {
        errf(err, "%s: cannot start zlib: out of memory", path);
        g->gzip = 0;
        gz_input_close(g);
        return NULL;
    }
    g->in_member = g->gzip;
    return g;
}

void gz_input_close(gz_input *g) {
    if (!g) return;
    if (g->gzip) inflateEnd(&g->z);
    fclose(g->f);
    free(g);
}

/* A file that is no gzip: the bytes already in the buffer, then the rest straight from the file. */
static int read_plain(gz_input *g, uint8_t *dst, size_t want, size_t *got, mnist_err *err) {
    size_t n = g->z.avail_in < want ? g->z.avail_in : want;
    memcpy(dst, g->z.next_in, n);
    g->z.next_in += n;
    g->z.avail_in -= (uInt)n;
    *got = n;
    if (n < want && !g->file_end) {
        *got += fread(dst + n, 1, want - n, g->f);
        if (ferror(g->f)) return errf(err, "%s: cannot read: %s", g->path, strerror(errno ? errno : EIO));
    }
    return 0;
}

/* Between two members: the end of the file, or the next member's magic. 1: one begins, 0: the
 * end, -1: an error. */
static int next_member(gz_input *g, mnist_err *err) {
    if (need(g, sizeof gz_magic, err)) return -1;
    if (g->z.avail_in == 0) return 0;
    if (!starts_gzip(g))
        return errf(err, "%s: trailing data after the gzip stream (at byte %llu of the file)", g->path,
                    (unsigned long long)(g->at - g->z.avail_in));
    if (inflateReset(&g->z) != Z_OK) return errf(err, "%s: cannot read: zlib failed to reset", g->path);
    g->in_member = 1;
    return 1;
}

int gz_input_read(gz_input *g, void *dst, size_t want, size_t *got, mnist_err *err) {
    if (!g->gzip) return read_plain(g, dst, want, got, err);
    uint8_t *out = dst;
    *got = 0;
    while (*got < want) {
        if (!g->in_member) {
            int more = next_member(g, err);
            if (more <= 0) return more;
        }
        if (g->z.avail_in == 0 && fill(g, err)) return -1;
        if (g->z.avail_in == 0)
            return errf(err, "%s: cannot read: truncated gzip stream (the file ends inside a member)", g->path);
        size_t room = want - *got;
        g->z.next_out = out + *got;
        g->z.avail_out = room < UINT_MAX ? (uInt)room : UINT_MAX;
        int rc = inflate(&g->z, Z_NO_FLUSH);
        *got += (size_t)(g->z.next_out - (out + *got));
        if (rc == Z_STREAM_END)
            g->in_member = 0;
        else if (rc == Z_MEM_ERROR)
            return errf(err, "%s: cannot read: out of memory (zlib)", g->path);
        else if (rc != Z_OK && rc != Z_BUF_ERROR) /* Z_BUF_ERROR: more input is needed */
            return errf(err, "%s: cannot read: %s", g->path, g->z.msg ? g->z.msg : "corrupt gzip data");
    }
    return 0;
}
