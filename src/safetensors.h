/* safetensors.h: the model-file writer and reader, with room for the extra tensors and
 * metadata of a checkpoint (src/checkpoint.c). Internal. */
#ifndef MNIST_SAFETENSORS_H
#define MNIST_SAFETENSORS_H

#include <stdint.h>

#include "mnist.h"

#define ST_EXTRA_PREFIX "train." /* the names of a checkpoint's tensors beside the model's */
#define ST_MAX_EXTRA 4
#define ST_MAX_HEADER 100000000 /* the reference reader's limit on a header's length */

typedef struct {
    char name[32];    /* "train.optimizer" */
    char dtype[8];    /* "F32", "U32" */
    uint64_t count;   /* elements: extra tensors are one-dimensional */
    uint64_t bytes;
    void *data;       /* writing: the caller's; reading: allocated, the caller frees */
} st_extra;

/* Write m, then the extra tensors, with metadata format (and train, a JSON string, if given). */
int st_save(const mnist_model *m, const char *path, const char *format, const char *train, const st_extra *extra,
            int nextra, mnist_err *err);
/* Read a model file; with extra != NULL, a checkpoint: tensors named train.* are read into extra
 * (at most ST_MAX_EXTRA, *nextra of them) and *train gets the metadata's train string (malloc'd). */
int st_load(mnist_model *m, const char *path, st_extra *extra, int *nextra, char **train, mnist_err *err);

#endif
