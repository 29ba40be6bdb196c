/* check.h: the test programs' helpers. Each check prints "PASS name" or "FAIL name";
 * tests/run.sh counts them, and a program exits non-zero if any check failed. */
#ifndef MNIST_CHECK_H
#define MNIST_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* ||a - b|| / ||b|| in double; NaN when a holds a NaN, 0 when both are 0, infinite when only b is. */
__attribute__((unused)) static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        d += e * e;
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : d > 0 || d != d ? INFINITY + d : 0.0;
}

/* The larger of a worst difference m and a new one e, NaN once either is: fmax drops a NaN, and a
 * difference with a NaN in it would then pass any bound. */
__attribute__((unused)) static double worst_of(double m, double e) { return e > m || e != e ? e : m; }

/* x rounded to TF32 as the GPU's __float_to_tf32 does (cvt.rna): 10 mantissa bits, to nearest,
 * ties away from zero; infinities and NaN as they are. The tests' own, apart from the emulator's. */
__attribute__((unused)) static float tf32_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The exit status of a test program. */
__attribute__((unused)) static int check_status(void) { return checks_failed ? 1 : 0; }

#endif
