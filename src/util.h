/* util.h: small internal helpers shared by the library's files (not public). */
#ifndef MNIST_UTIL_H
#define MNIST_UTIL_H

#include <stdio.h>
#include <stddef.h>
#include "mnist.h"

/* Fill err with a formatted message; returns -1 so callers can `return errf(...)`. */
int errf(mnist_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* *out = a * b; returns 0, or -1 when it would overflow. */
int mul_size(size_t a, size_t b, size_t *out);

/* Monotonic clock in seconds. */
double now_seconds(void);

/* A file written under a temporary name in the target's folder and renamed over the target
 * only on commit, so readers never see a partial file. */
typedef struct {
    FILE *f;
    char tmp[4096];
    char path[4096];
} atomic_file;

int atomic_open(atomic_file *a, const char *path, mnist_err *err);
/* Flush, fsync, close and rename; on any failure removes the temporary file. */
int atomic_commit(atomic_file *a, mnist_err *err);
/* Close and remove the temporary file. */
void atomic_abort(atomic_file *a);

#endif
