/* test_public_cxx.cpp: build/libmnist.a as a C++ program links it, through mnist.h alone. The
 * header's declarations are extern "C" there: without it each call was a mangled name the archive
 * does not have, and this program did not link. */
#include <cmath>
#include <cstring>

#include "check.h"
#include "mnist.h"

int main() {
    const int sizes[] = {MNIST_PIXELS, 16, MNIST_CLASSES};
    mnist_model m;
    mnist_err err;
    int ok = mnist_model_create(&m, sizes, 3, &err) == 0;
    check(ok, "a model is made from C++");
    if (!ok) return check_status();
    mnist_model_init_lab(&m, 0.1, 0);
    float x[MNIST_PIXELS], p[MNIST_CLASSES];
    for (int i = 0; i < MNIST_PIXELS; i++) x[i] = (float)(i % 7) / 6.0f;
    double sum = 0;
    ok = mnist_predict(&m, x, 1, p, &err) == 0;
    for (int j = 0; j < MNIST_CLASSES; j++) sum += p[j];
    check(ok && std::fabs(sum - 1) < 1e-5, "it predicts from C++: the probabilities sum to %.7f", sum);
    mnist_model_free(&m);
    mnist_model none;
    check(mnist_model_load(&none, "/nonexistent/model.safetensors", &err) == -1 && std::strstr(err.msg, "/nonexistent"),
          "its errors come back through mnist_err: \"%s\"", err.msg);
    return check_status();
}
