/* fuzz.h: what the libFuzzer targets share. The library's readers take paths, so each input is
 * put in an anonymous in-memory file (memfd_create) and handed over as /proc/self/fd/N. */
#ifndef MNIST_FUZZ_H
#define MNIST_FUZZ_H

#define _GNU_SOURCE /* memfd_create: include this header first */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mnist.h"

typedef struct {
    int fd;
    char path[64];
} mem_file;

/* A file holding data[0..len), readable by path while m is open. */
__attribute__((unused)) static void mem_file_open(mem_file *m, const uint8_t *data, size_t len) {
    m->fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (m->fd < 0) {
        perror("memfd_create");
        abort();
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(m->fd, data + done, len - done);
        if (w <= 0) {
            perror("write to memfd");
            abort();
        }
        done += (size_t)w;
    }
    snprintf(m->path, sizeof m->path, "/proc/self/fd/%d", m->fd);
}

__attribute__((unused)) static void mem_file_close(mem_file *m) { close(m->fd); }

/* A refusal must be one line that names the file: anything else is a finding. */
__attribute__((unused)) static void check_refusal(const mnist_err *err, const char *path) {
    if (!memchr(err->msg, '\0', sizeof err->msg) || !err->msg[0] || strchr(err->msg, '\n') ||
        !strstr(err->msg, path)) {
        fprintf(stderr, "bad error message for %s: \"%.*s\"\n", path, (int)sizeof err->msg, err->msg);
        abort();
    }
}

/* Reads every byte of p[0..n), so that ASan sees a buffer shorter than it claims to be. */
__attribute__((unused)) static void touch(const void *p, size_t n) {
    const unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    __asm__ volatile("" : : "r"(s)); /* the sum is used, so the loop stays */
}

#endif
