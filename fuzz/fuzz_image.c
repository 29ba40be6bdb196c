/* fuzz_image.c: image decoding and preprocessing (mnist_image_prepare) on arbitrary bytes.
 *
 * An input is one byte that picks the recipe (its remainder by 4: MNIST's, the lab's, Fashion-MNIST's, an outline's), then the image
 * file. It must either give 784 inputs, each in [0, 1], or be refused with one line that names
 * the image. (The decoders are stb_image's, compiled in src/stb_image.c with the rest, so the
 * sanitizers watch them too.) */
#include "fuzz.h" /* first: it asks for _GNU_SOURCE */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    mnist_prep prep = (mnist_prep)(data[0] % 4); /* in mnist_prep's order */
    float x[MNIST_PIXELS];
    mnist_err err = {{0}};
    if (mnist_image_prepare(data + 1, size - 1, "fuzz-input.png", prep, x, &err) == 0) {
        for (int i = 0; i < MNIST_PIXELS; i++)
            if (!(x[i] >= 0.0f && x[i] <= 1.0f)) {
                fprintf(stderr, "input %d is %g, outside [0, 1]\n", i, (double)x[i]);
                abort();
            }
    } else {
        check_refusal(&err, "fuzz-input.png");
    }
    return 0;
}
