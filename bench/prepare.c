/* prepare.c: how long mnist_image_prepare takes on an image file, in one process.
 *
 *   prepare [--repeat N] [--lab] IMAGE...
 *
 * Each image is read into memory once, then decoded and prepared (the MNIST recipe, or --lab the
 * lab's) N times over (default 300), five rounds; the best round's mean per image is printed, in
 * microseconds: a drawing from the page, a photo, without the HTTP and the network around it (make
 * bench-serve) or a process's start (predict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mnist.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The whole of path into *bytes (malloc'd); returns its length, or -1 with a message. */
static long slurp(const char *path, unsigned char **bytes) {
    FILE *f = fopen(path, "rb");
    long n = -1;
    *bytes = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (*bytes = malloc(n ? (size_t)n : 1)) && fread(*bytes, 1, (size_t)n, f) == (size_t)n) {
        fclose(f);
        return n;
    }
    fprintf(stderr, "prepare: %s: cannot read it\n", path);
    if (f) fclose(f);
    free(*bytes);
    return -1;
}

int main(int argc, char **argv) {
    int repeat = 300, first = 1;
    mnist_prep prep = MNIST_PREP_MNIST;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--repeat") && first + 1 < argc && (repeat = atoi(argv[first + 1])) > 0) first++;
        else if (!strcmp(argv[first], "--lab")) prep = MNIST_PREP_LAB;
        else break;
    }
    if (first >= argc || argv[first][0] == '-') {
        fprintf(stderr, "usage: prepare [--repeat N (> 0)] [--lab] IMAGE...\n");
        return 2;
    }
    printf("| image | recipe | us per image, best of 5 rounds of %d |\n| --- | --- | ---: |\n", repeat);
    for (int i = first; i < argc; i++) {
        unsigned char *bytes;
        long n = slurp(argv[i], &bytes);
        if (n < 0) return 1;
        float x[MNIST_PIXELS];
        mnist_err err;
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            double t = now();
            for (int r = 0; r < repeat; r++)
                if (mnist_image_prepare(bytes, (size_t)n, argv[i], prep, x, &err)) {
                    fprintf(stderr, "prepare: %s\n", err.msg);
                    free(bytes);
                    return 1;
                }
            t = (now() - t) / repeat;
            best = t < best ? t : best;
        }
        printf("| %s | %s | %.0f |\n", argv[i], prep == MNIST_PREP_LAB ? "lab" : "mnist", 1e6 * best);
        free(bytes);
    }
    return 0;
}
