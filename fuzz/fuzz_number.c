/* fuzz_number.c: reading a number (mnist_read_number) on arbitrary image bytes, so that the search for
 * the digits of a line and the cut of touching digits (photo.c, split_digit) run under the sanitizers.
 *
 * The model is a 784-32-10 tanh network drawn once with the lab's init at 1.0, not 0.1: its hidden units
 * saturate, so it reads most pieces with confidence and the cuts are kept as often as they are weighed.
 * An input must either give 1 to MNIST_MAX_DIGITS digits, each the argmax of finite log-probabilities
 * and "text" those digits, or be refused with one line that names the image. */
#include "fuzz.h" /* first: it asks for _GNU_SOURCE */

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mnist_model model;

static void model_once(void) {
    if (model.params) return;
    int sizes[] = {MNIST_PIXELS, 32, MNIST_CLASSES};
    mnist_err err = {{0}};
    if (mnist_model_create(&model, sizes, 3, &err)) {
        fprintf(stderr, "fuzz_number: %s\n", err.msg);
        abort();
    }
    mnist_model_init_lab(&model, 1.0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    model_once();
    mnist_number num;
    mnist_err err = {{0}};
    if (mnist_read_number(&model, data, size, "fuzz-input.png", &num, &err)) {
        check_refusal(&err, "fuzz-input.png");
        return 0;
    }
    if (num.n < 1 || num.n > MNIST_MAX_DIGITS || strnlen(num.text, sizeof num.text) != (size_t)num.n) {
        fprintf(stderr, "%d digits, text \"%.*s\"\n", num.n, MNIST_MAX_DIGITS + 1, num.text);
        abort();
    }
    for (int i = 0; i < num.n; i++) {
        int best = 0;
        for (int k = 0; k < MNIST_CLASSES; k++) {
            if (!isfinite(num.logp[i][k])) {
                fprintf(stderr, "digit %d: log-probability %d is %g\n", i, k, (double)num.logp[i][k]);
                abort();
            }
            best = num.logp[i][k] > num.logp[i][best] ? k : best;
        }
        if (num.digit[i] != best || num.text[i] != '0' + best) {
            fprintf(stderr, "digit %d: %d ('%c') read, %d the argmax\n", i, num.digit[i], num.text[i], best);
            abort();
        }
        for (int p = 0; p < MNIST_PIXELS; p++)
            if (!(num.x[i][p] >= 0.0f && num.x[i][p] <= 1.0f)) {
                fprintf(stderr, "digit %d: input %d is %g, outside [0, 1]\n", i, p, (double)num.x[i][p]);
                abort();
            }
    }
    return 0;
}
