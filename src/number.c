/* number.c: a written number read digit by digit: each digit's input as photo.c makes one digit's, then the
 * network's reading of it. */
#include <stdlib.h>

#include "image.h"
#include "util.h"

/* digit_reader for photo_number: the model's reading, as mnist_read_number's below */
static int read_one(void *ctx, const float *x, float *logp, mnist_err *err) {
    return mnist_predict_log_on(ctx, x, 1, MNIST_CPU, logp, err);
}

int mnist_read_number(const mnist_model *m, const uint8_t *bytes, size_t len, const char *name, mnist_number *num,
                      mnist_err *err) {
    if (!name) name = "image";
    num->n = 0, num->text[0] = '\0';
    if (m && m->params && (m->sizes[0] != MNIST_PIXELS || m->sizes[m->nlayers] != MNIST_CLASSES))
        return errf(err, "the model maps %d inputs to %d outputs; digits need %d to %d", m->sizes[0],
                    m->sizes[m->nlayers], MNIST_PIXELS, MNIST_CLASSES);
    int n, rc = number_prepare(bytes, len, name, num->x[0], MNIST_MAX_DIGITS, &n, read_one, (void *)m, err);
    if (rc) return rc;
    for (int i = 0; i < n; i++) { /* one at a time: the bits of a single image's prediction (mnist_predict) */
        if (mnist_predict_log_on(m, num->x[i], 1, MNIST_CPU, num->logp[i], err)) return -1;
        num->digit[i] = mnist_argmax(num->logp[i], MNIST_CLASSES);
        num->text[i] = (char)('0' + num->digit[i]);
    }
    num->n = n, num->text[n] = '\0';
    return 0;
}

int mnist_read_number_stream(const mnist_model *m, FILE *f, const char *name, mnist_number *num, mnist_err *err) {
    if (!name) name = "image";
    uint8_t *buf;
    size_t len;
    num->n = 0, num->text[0] = '\0';
    int rc = image_read_stream(f, name, &buf, &len, err);
    if (rc == 0) rc = mnist_read_number(m, buf, len, name, num, err);
    free(buf);
    return rc;
}

int mnist_read_number_file(const mnist_model *m, const char *path, mnist_number *num, mnist_err *err) {
    num->n = 0, num->text[0] = '\0';
    FILE *f = open_input(path, err);
    if (!f) return -1;
    int rc = mnist_read_number_stream(m, f, path, num, err);
    fclose(f);
    return rc;
}
