/* model.c: the parameter table over one contiguous float buffer, and the lab's init. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_PARAMS ((size_t)1 << 31) /* 8 GiB of float32: refused before allocating, not by the OOM killer */

int mnist_parse_layers(const char *s, int *sizes, int *n, mnist_err *err) {
    int k = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        /* digits only: strtol also takes blanks and a sign before them */
        if (*p < '0' || *p > '9' || errno || v < 1 || v > MAX_WIDTH)
            return errf(err, "layers '%s': each size must be a whole number from 1 to %d", s, MAX_WIDTH);
        if (k == MNIST_MAX_LAYERS + 1) return errf(err, "layers '%s': at most %d sizes", s, MNIST_MAX_LAYERS + 1);
        sizes[k++] = (int)v;
        if (*end == '\0') break;
        if (*end == ' ' || *end == '\t') /* a blank after a size: not a number, whatever follows */
            return errf(err, "layers '%s': each size must be a whole number from 1 to %d", s, MAX_WIDTH);
        if (*end != ',') return errf(err, "layers '%s': sizes are separated by commas", s);
        p = end + 1;
    }
    if (k < 2) return errf(err, "layers '%s': need at least an input and an output size", s);
    *n = k;
    return 0;
}

int mnist_layers_check(const int *sizes, int n, mnist_err *err) {
    if (n < 2 || n > MNIST_MAX_LAYERS + 1)
        return errf(err, "a model needs 2 to %d layer sizes, not %d", MNIST_MAX_LAYERS + 1, n);
    for (int i = 0; i < n; i++)
        if (sizes[i] < 1 || sizes[i] > MAX_WIDTH)
            return errf(err, "layer size %d is out of range 1..%d", sizes[i], MAX_WIDTH);
    size_t total = 0; /* a few layers of at most 2^20 x 2^20: far from overflowing */
    for (int l = 0; l + 1 < n; l++) total += (size_t)sizes[l] * (size_t)sizes[l + 1] + (size_t)sizes[l + 1];
    if (total > MAX_PARAMS) return errf(err, "a model of %zu parameters is over the limit of %zu", total, MAX_PARAMS);
    return 0;
}

int mnist_model_create(mnist_model *m, const int *sizes, int n, mnist_err *err) {
    memset(m, 0, sizeof *m);
    if (mnist_layers_check(sizes, n, err)) return -1;
    size_t total = 0;
    m->nlayers = n - 1;
    memcpy(m->sizes, sizes, (size_t)n * sizeof *sizes);
    for (int l = 0; l < m->nlayers; l++) {
        mnist_tensor *w = &m->tensors[2 * l], *b = &m->tensors[2 * l + 1];
        *w = (mnist_tensor){.ndim = 2, .shape = {sizes[l], sizes[l + 1]}, .offset = total,
                            .count = (size_t)sizes[l] * (size_t)sizes[l + 1]};
        snprintf(w->name, sizeof w->name, "layers.%d.kernel", l);
        total += w->count;
        *b = (mnist_tensor){.ndim = 1, .shape = {sizes[l + 1], 0}, .offset = total, .count = (size_t)sizes[l + 1]};
        snprintf(b->name, sizeof b->name, "layers.%d.bias", l);
        total += b->count;
    }
    m->ntensors = 2 * m->nlayers;
    m->nparams = total;
    if (!(m->params = calloc(total, sizeof(float)))) {
        memset(m, 0, sizeof *m);
        return errf(err, "out of memory for a model of %zu parameters", total);
    }
    strcpy(m->activation, "tanh");
    strcpy(m->dataset, "mnist");
    return 0;
}

void mnist_model_free(mnist_model *m) {
    free(m->params);
    memset(m, 0, sizeof *m);
}

float *mnist_model_tensor(const mnist_model *m, int i) { return m->params + m->tensors[i].offset; }

void mnist_model_init_lab(mnist_model *m, double scale, uint32_t seed) {
    mnist_model_init(m, MNIST_INIT_LAB, scale, seed);
}

void mnist_model_init(mnist_model *m, mnist_init kind, double scale, uint32_t seed) {
    mnist_rng r;
    mnist_rng_seed(&r, seed);
    /* Tensors are laid out W0, b0, W1, b1, ...: the order in which the lab draws them. */
    for (int l = 0; l < m->nlayers; l++) {
        const mnist_tensor *w = &m->tensors[2 * l], *b = &m->tensors[2 * l + 1];
        float *pw = m->params + w->offset, *pb = m->params + b->offset;
        double in = m->sizes[l], out = m->sizes[l + 1];
        if (kind == MNIST_INIT_LAB) {
            for (size_t i = 0; i < w->count; i++) pw[i] = (float)(scale * mnist_rng_gauss(&r));
            for (size_t i = 0; i < b->count; i++) pb[i] = (float)(scale * mnist_rng_gauss(&r));
        } else if (kind == MNIST_INIT_GLOROT) { /* numpy: uniform(-a, a) = -a + 2a * random_sample() */
            double a = sqrt(6.0 / (in + out));
            for (size_t i = 0; i < w->count; i++) pw[i] = (float)(-a + 2.0 * a * mnist_rng_double(&r));
            memset(pb, 0, b->count * sizeof *pb);
        } else {
            double sd = sqrt(2.0 / in);
            for (size_t i = 0; i < w->count; i++) pw[i] = (float)(sd * mnist_rng_gauss(&r));
            memset(pb, 0, b->count * sizeof *pb);
        }
    }
}

mnist_activation mnist_model_activation(const mnist_model *m) {
    return strcmp(m->activation, "relu") == 0 ? MNIST_RELU : MNIST_TANH;
}
