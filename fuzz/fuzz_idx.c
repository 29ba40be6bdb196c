/* fuzz_idx.c: the IDX reader (plain or gzip) on arbitrary bytes.
 *
 * An input is a 2-byte big-endian length L, then L bytes of images file, then the labels file.
 * The pair must either load, holding what its header says, or be refused with one line that
 * names a file. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t l = (size_t)data[0] << 8 | data[1];
    data += 2, size -= 2;
    if (l > size) l = size;
    mem_file im, lb;
    mem_file_open(&im, data, l);
    mem_file_open(&lb, data + l, size - l);
    mnist_split s;
    mnist_err err = {{0}};
    if (mnist_split_load(&s, im.path, lb.path, NULL, &err) == 0) {
        if (s.n < 1 || s.rows < 1 || s.cols < 1 || !s.images || !s.labels) abort();
        touch(s.images, (size_t)s.n * (size_t)s.rows * (size_t)s.cols);
        for (int i = 0; i < s.n; i++)
            if (s.labels[i] >= MNIST_CLASSES) abort();
        mnist_split_free(&s);
    } else {
        if (!strstr(err.msg, im.path)) check_refusal(&err, lb.path);
        check_refusal(&err, "/proc/self/fd/");
    }
    mem_file_close(&im);
    mem_file_close(&lb);
    return 0;
}
