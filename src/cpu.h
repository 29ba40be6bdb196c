/* cpu.h: the CPU arithmetic shared by the CPU backend and prediction. Shapes are the caller's
 * promise; each function says them in its comment. */
#ifndef MNIST_CPU_H
#define MNIST_CPU_H

#include <stddef.h>

#include "mnist.h"

typedef enum { CPU_TANH = MNIST_TANH, CPU_RELU = MNIST_RELU, CPU_LOG_SOFTMAX } cpu_act;

/* y (n, out) = act(x (n, in) w (in, out) + b (out)). */
void cpu_dense(float *y, const float *x, const float *w, const float *b, int n, int in, int out, cpu_act act);
/* act[0] holds n inputs (n, sizes[0]); act[l+1] gets layer l's output (n, sizes[l+1]): `hidden`
 * on hidden layers, log-softmax on the last. */
void cpu_forward(float *const *act, const float *params, const mnist_tensor *t, const int *sizes, int nl, int n,
                 mnist_activation hidden);
/* y (n) = tanh(x), the approximation the forward pass uses; y may be x. */
void cpu_tanh(float *y, const float *x, size_t n);
/* dh (n) *= act'(z), given the activation's output h (n): 1 - h^2 for tanh, h > 0 for relu. */
void cpu_act_grad(float *dh, const float *h, size_t n, mnist_activation act);
/* s (k) = column sums of x (n, k). */
void cpu_col_sums(float *s, const float *x, int n, int k);

#endif
