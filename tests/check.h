/* check.h: the test programs' one helper. Each check prints "PASS name" or "FAIL name";
 * tests/run.sh counts them, and a program exits non-zero if any check failed. */
#ifndef MNIST_CHECK_H
#define MNIST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int checks_failed;

/* Report one check: ok != 0 passes. The name (printf format) says what was compared. */
__attribute__((format(printf, 2, 3), unused)) static int check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs(ok ? "PASS " : "FAIL ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    if (!ok) checks_failed++;
    return ok;
}

/* The exit status of a test program. */
__attribute__((unused)) static int check_status(void) { return checks_failed ? 1 : 0; }

#endif
