/* cpu.h: the CPU arithmetic shared by the CPU backend and prediction. */
#ifndef MNIST_CPU_H
#define MNIST_CPU_H

#include "mnist.h"

/* act[0] holds n inputs (n, sizes[0]); act[l+1] gets layer l's output (n, sizes[l+1]): tanh on
 * hidden layers, log-softmax on the last. Returns nothing: shapes are the caller's promise. */
void cpu_forward(float *const *act, const float *params, const mnist_tensor *t, const int *sizes, int nl, int n);

#endif
