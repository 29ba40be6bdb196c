/* mnist.h: the one public header of libmnist.
 *
 * The lab "A Simple Neural Network on MNIST with JAX" as a C library:
 * fetch and verify the data, parse IDX files, the numpy-compatible RNG,
 * the MLP and its model files, training and evaluation, prediction.
 *
 * Conventions: functions that can fail return 0 on success and -1 on
 * failure, after filling *err with one line that names the file (or value)
 * and the problem (err may be NULL). The library never prints and never exits.
 * It reads JSON with cJSON, whose allocator is set once for the process at
 * the first use (cJSON_InitHooks: malloc and free, watched for failure): a
 * program that sets cJSON's hooks itself must not use other ones.
 */
#ifndef MNIST_H
#define MNIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" { /* the library is C: its names unmangled in a C++ program too */
#endif

#define MNIST_VERSION "1.0.0"                 /* the library's and the command's (mnist --version) */
#define MNIST_SIDE 28                         /* images are 28x28 */
#define MNIST_PIXELS (MNIST_SIDE * MNIST_SIDE) /* 784 inputs */
#define MNIST_CLASSES 10                      /* digits 0..9 */
#define MNIST_MAX_LAYERS 8                    /* weight layers in a model */
#define MNIST_MAX_THREADS 256                 /* --threads */
#define MNIST_MAX_SHIFT 8                     /* --shift: pixels a training image may move */
#define MNIST_MAX_EPOCHS (1 << 30)            /* --epochs, and a checkpoint's epoch */
#define MNIST_ERR_LEN 1024                    /* bytes of an error message, its NUL included */
#define MNIST_MAX_DIGITS 16                   /* digits of a number read (mnist_read_number) */
#define MNIST_NO_MEMORY (-2)                  /* returned where a function that says so ran out of memory */

/* Where a failing function says why: one line, NUL-terminated. */
typedef struct {
    char msg[MNIST_ERR_LEN];
} mnist_err;

/* Every file the library writes (models, checkpoints, downloads, pictures, charts) is written
 * under a temporary name beside it and renamed over it when whole. This removes the temporary
 * files of the writes in progress, and the data folder that the command's fetch in progress made
 * where it is left empty: for a handler of a signal that ends the program (it calls only unlink and
 * rmdir, which are async-signal-safe). */
void mnist_remove_partial_files(void);

/* ---- datasets (src/dataset.c) ---------------------------------------- */

/* The index of each file in mnist_dataset.files. */
enum { MNIST_TRAIN_IMAGES, MNIST_TRAIN_LABELS, MNIST_TEST_IMAGES, MNIST_TEST_LABELS, MNIST_NFILES };
/* A split's two files as a set of those indexes (bit 1u << index), for the fetch and the loader. */
#define MNIST_TRAIN_FILES (1u << MNIST_TRAIN_IMAGES | 1u << MNIST_TRAIN_LABELS)
#define MNIST_TEST_FILES (1u << MNIST_TEST_IMAGES | 1u << MNIST_TEST_LABELS)

/* One of a dataset's four files. */
typedef struct {
    const char *name;   /* raw file name, "train-images-idx3-ubyte"; + ".gz" when compressed */
    const char *sha256; /* hex SHA-256 of the decompressed content */
    uint64_t bytes;     /* and its size, which its header must promise before it is read */
} mnist_file_info;

/* A dataset we know: where to fetch it, its files, its class names. */
typedef struct {
    const char *name;               /* "mnist" */
    const char *const *urls;        /* built-in mirrors, in order, each ending in '/' */
    int nurls;
    mnist_file_info files[MNIST_NFILES];
    const char *const *classes;     /* MNIST_CLASSES display names */
} mnist_dataset;

/* The dataset called name ("mnist" or "fashion"), or NULL when unknown. */
const mnist_dataset *mnist_dataset_get(const char *name);
/* The data folder: dir if given, else $MNIST_DATA, else ${XDG_CACHE_HOME:-$HOME/.cache}/mnist (a relative
 * XDG_CACHE_HOME ignored). */
int mnist_data_dir(char *out, size_t cap, const char *dir, mnist_err *err);
/* The folder of dataset ds: dir if given; for MNIST, mnist_data_dir; for another dataset, a
 * folder named after it inside MNIST's ("~/.cache/mnist/fashion"). */
int mnist_dataset_dir(char *out, size_t cap, const mnist_dataset *ds, const char *dir, mnist_err *err);
/* Path of file f in dir: the raw file if present, else the .gz one; returns 1 if found, 0 if
 * neither exists (out then holds the .gz path), -1 on error (path too long). */
int mnist_data_file(char *out, size_t cap, const char *dir, const mnist_file_info *f, mnist_err *err);

/* ---- fetch (src/fetch.c) --------------------------------------------- */

/* How mnist_fetch reports and where else it looks; each member may be 0 or NULL (the defaults). */
typedef struct {
    const char *const *mirrors;  /* extra base URLs (http://, https://, file:///) tried before the built-in ones */
    int nmirrors;
    void (*log)(void *ud, const char *line);                           /* one line of news */
    void (*progress)(void *ud, const char *file, double now, double total); /* bytes */
    void *ud;
    volatile int *cancel;        /* set non-zero (e.g. from SIGINT) to abort */
    long low_speed_limit;        /* a transfer under this many bytes/s (0: 1000)... */
    long low_speed_time;         /* ...for this many seconds (0: 30) is abandoned as stalled */
    long max_time;               /* a download taking longer in all, in seconds, is abandoned
                                    (0: 60 s plus 1 s per 10 kB of the file's content) */
    unsigned files;              /* which files: MNIST_TRAIN_FILES, MNIST_TEST_FILES or both (0: all four) */
} mnist_fetch_opts;

/* Make sure dir holds the dataset's files (o->files of them), each verified by SHA-256: files present and
 * valid are kept, missing or invalid ones are downloaded to a temporary name, verified, then
 * renamed. Creates dir when needed. */
int mnist_fetch(const mnist_dataset *ds, const char *dir, const mnist_fetch_opts *o, mnist_err *err);
/* Hex SHA-256 of a file's content, gunzipped first when it is gzip; a content over 2 GiB (more than
 * any dataset file: a gzip bomb, read for minutes) is refused. */
int mnist_sha256_file(const char *path, char hex[65], mnist_err *err);

/* ---- IDX files (src/idx.c) ------------------------------------------- */

/* One split of a dataset, as its IDX files hold it. */
typedef struct {
    int n;             /* examples */
    int rows, cols;    /* image size */
    uint8_t *images;   /* (n, rows*cols) bytes, 0 background .. 255 ink */
    uint8_t *labels;   /* (n) */
    char sha256[65];   /* its SHA-256 (mnist_split_sha256) once a caller notes it here, else "": a resumed
                        * run's check and a run's start take it rather than hash the examples again
                        * (what is not 64 hex digits is not taken). Noted, it is the caller's to clear
                        * when the examples change, or in a copy of the split over others */
} mnist_split;

/* A dataset's two splits. */
typedef struct {
    mnist_split train, test;
} mnist_data;

/* Read an images file and a labels file (plain or gzip) into s. When sha is non-NULL its two
 * entries are the expected hex SHA-256s of the decompressed files. */
int mnist_split_load(mnist_split *s, const char *images_path, const char *labels_path,
                     const char *const sha[2], mnist_err *err);
/* Free s's bytes and zero it. */
void mnist_split_free(mnist_split *s);
/* hex = the hex SHA-256 of s's images then its labels, as they lie in memory (its examples in
 * order): a checkpoint's fingerprint of the data its run is on (26 ms for MNIST's 60000). 0, or -1
 * with err (OpenSSL failed). Computed each call: mnist_split_sha256(s, s->sha256, err) notes it. */
int mnist_split_sha256(const mnist_split *s, char hex[65], mnist_err *err);
/* Load the dataset's four files from dir; verify != 0 checks their SHA-256s. */
int mnist_data_load(mnist_data *d, const mnist_dataset *ds, const char *dir, int verify, mnist_err *err);
/* As mnist_data_load, of the splits in files (MNIST_TRAIN_FILES, MNIST_TEST_FILES or both; 0, all four to
 * mnist_fetch, is an error here); the other left empty. */
int mnist_data_load_some(mnist_data *d, const mnist_dataset *ds, const char *dir, unsigned files, int verify,
                         mnist_err *err);
/* Free both splits. */
void mnist_data_free(mnist_data *d);

/* ---- numpy-compatible RNG (src/rng.c) -------------------------------- */

#define MNIST_RNG_WORDS 624 /* MT19937's state: 624 32-bit words */

/* numpy's RandomState: MT19937's state, and the second normal of the last polar draw. */
typedef struct {
    uint32_t key[MNIST_RNG_WORDS];
    int pos;       /* next word of key to temper; MNIST_RNG_WORDS: regenerate first */
    int has_gauss; /* gauss holds a normal not yet returned */
    double gauss;
} mnist_rng;

/* As numpy.random.RandomState(seed). */
void mnist_rng_seed(mnist_rng *r, uint32_t seed);
/* The next 32-bit output of MT19937 (genrand_int32). */
uint32_t mnist_rng_u32(mnist_rng *r);
/* Uniform in [0, 1) with 53 bits, as random_sample(). */
double mnist_rng_double(mnist_rng *r);
/* Standard normal by the legacy polar method, as randn(). */
double mnist_rng_gauss(mnist_rng *r);
/* out = permutation(n), by the legacy Fisher-Yates shuffle. */
void mnist_rng_permutation(mnist_rng *r, int32_t *out, int n);

/* ---- models (src/model.c, src/safetensors.c) ------------------------- */

/* One row of a model's parameter table. */
typedef struct {
    char name[32];    /* "layers.0.kernel", "layers.0.bias" */
    int ndim;         /* 2 for kernels, 1 for biases */
    int shape[2];     /* kernel (in, out), bias (out) */
    size_t offset;    /* in floats, into params */
    size_t count;     /* elements */
} mnist_tensor;

/* An MLP: its shape, the parameter table, and the one buffer of parameters. */
typedef struct {
    int nlayers;                              /* weight layers */
    int sizes[MNIST_MAX_LAYERS + 1];          /* 784, 1024, 1024, 10 */
    char activation[16];                      /* "tanh" */
    char dataset[16];                         /* "mnist" */
    int ntensors;                             /* 2 * nlayers: kernel then bias per layer */
    mnist_tensor tensors[2 * MNIST_MAX_LAYERS];
    size_t nparams;
    float *params;                            /* one buffer, tensors laid out in table order */
} mnist_model;

/* Parse "784,1024,1024,10" into sizes; *n gets the count (2 .. MNIST_MAX_LAYERS+1). A refusal says
 * "layers '784,,10': " and why. */
int mnist_parse_layers(const char *s, int *sizes, int *n, mnist_err *err);
/* Whether mnist_model_create takes these n layer sizes: 2 to MNIST_MAX_LAYERS + 1 of them, each 1
 * to 2^20, at most 2^31 parameters in all (8 GiB of float32). 0, or -1 with a message. */
int mnist_layers_check(const int *sizes, int n, mnist_err *err);
/* Allocate a zeroed model with the given layer sizes (n of them), activation "tanh", dataset "mnist":
 * -1 with a message for sizes that mnist_layers_check refuses, or when out of memory. */
int mnist_model_create(mnist_model *m, const int *sizes, int n, mnist_err *err);
/* Free m's parameters and zero it. */
void mnist_model_free(mnist_model *m);
/* The hidden layers' activation (the last layer is always log-softmax). */
typedef enum { MNIST_TANH, MNIST_RELU } mnist_activation;
/* How mnist_model_init draws the parameters. */
typedef enum {
    MNIST_INIT_LAB,    /* per layer W = scale * randn(in, out), then b = scale * randn(out) */
    MNIST_INIT_GLOROT, /* W = uniform(-a, a), a = sqrt(6 / (in + out)); b = 0 */
    MNIST_INIT_HE      /* W = sqrt(2 / in) * randn(in, out); b = 0 */
} mnist_init;

/* The lab's init: per layer W = scale * randn(in, out) then b = scale * randn(out), computed in
 * double from one RandomState(seed), stored as float32. */
void mnist_model_init_lab(mnist_model *m, double scale, uint32_t seed);
/* Any of the inits, drawn layer by layer from one RandomState(seed) as numpy would. */
void mnist_model_init(mnist_model *m, mnist_init kind, double scale, uint32_t seed);
/* The hidden layers' activation named by m->activation ("tanh" or "relu"). */
mnist_activation mnist_model_activation(const mnist_model *m);
/* Tensor i's floats. */
float *mnist_model_tensor(const mnist_model *m, int i);

/* safetensors: tensors layers.{i}.kernel (F32 [in, out]) and layers.{i}.bias (F32 [out]),
 * __metadata__ with layers, activation, dataset. Written to a temporary name, then renamed; a model
 * holding NaN or an infinity is refused (it names the tensor and the index), nothing written. */
int mnist_model_save(const mnist_model *m, const char *path, mnist_err *err);
/* Load a model file written by mnist_model_save or any safetensors writer using our names;
 * every header field is checked against the format's rules before it is trusted. *m is written
 * whole, success or not (all zero on failure): a model already in it is to be freed first. */
int mnist_model_load(mnist_model *m, const char *path, mnist_err *err);

/* ---- prediction (src/predict.c) -------------------------------------- */

/* Forward n inputs x (n, sizes[0]) in [0, 1] to probabilities probs (n, sizes[last]). Safe to call
 * from many threads on one model. With n = 1 the result is the same bits everywhere; with n > 1 the
 * products are BLAS's matrix products (on the calling thread alone), whose last bits may differ from
 * n = 1's, as a probability's 1e-7 or so. An empty model (not loaded, or freed), n < 1 or a NULL buffer
 * is an error. */
int mnist_predict(const mnist_model *m, const float *x, int n, float *probs, mnist_err *err);
/* The index of the first largest of v[0..n) (n >= 1), or of its first NaN, as numpy's argmax (a NaN
 * counts as the largest): the class every command and mnist_evaluate report for a row of
 * probabilities or log-probabilities. */
int mnist_argmax(const float *v, int n);

/* ---- images (src/image.c, photo.c, page.c) ---------------------------- */

#define MNIST_MAX_IMAGE_PIXELS (64u << 20) /* larger images are refused from their header */

typedef enum {
    MNIST_PREP_MNIST,  /* as MNIST was made: ink found, cropped, 20x20 box, centred by mass */
    MNIST_PREP_LAB,    /* the lab's load_image: luma, resize to 28x28, / 255 */
    MNIST_PREP_FASHION, /* as Fashion-MNIST was made: a product photo trimmed, its longer side 28, centred */
    MNIST_PREP_OUTLINE  /* an item drawn as its outline: as MNIST_PREP_FASHION, then what its strokes close
                           filled with their ink, Fashion-MNIST's items being solid */
} mnist_prep;

/* Decode an image (PNG, JPEG, BMP, GIF, TGA, PNM) from bytes and turn it into the 784 inputs the
 * network sees, x (28*28) in [0, 1], 0 background. name is used in messages. An image that is
 * not decodable, too large, or (MNIST_PREP_MNIST) holds no clear ink, or (MNIST_PREP_FASHION,
 * MNIST_PREP_OUTLINE) is of one colour, is an error saying so (-1);
 * out of memory, MNIST_NO_MEMORY (the three prepare functions alike). */
int mnist_image_prepare(const uint8_t *bytes, size_t len, const char *name, mnist_prep prep, float *x,
                        mnist_err *err);
/* The same for a file. */
int mnist_image_prepare_file(const char *path, mnist_prep prep, float *x, mnist_err *err);
/* The same for what f holds to its end (standard input, a pipe), bounded as files are (1 GiB);
 * name is used in messages. */
int mnist_image_prepare_stream(FILE *f, const char *name, mnist_prep prep, float *x, mnist_err *err);
/* About the most memory mnist_image_prepare takes for bytes, from the image's header (its pixels
 * as decoded, twice, and the lab's resize strips): 0 when the header does not say, or when the
 * image is one that mnist_image_prepare refuses before decoding. To budget memory when many
 * images decode at once (a 500 KB PNG can decode to 1 GB). */
size_t mnist_image_decode_bytes(const uint8_t *bytes, size_t len, mnist_prep prep);

/* A written number's digits (PNG, JPEG, ... as mnist_image_prepare decodes), left to right, each turned into the 784
 * inputs of x (cap, 784) as MNIST_PREP_MNIST turns an image of one digit: the ink found in the whole image, the
 * digits beside the first on its line kept too (a third to 1.4 times the number's height, within 1.5 times it
 * across), its parts grouped by the columns they share, and each digit's ink alone fitted into the box, thickened,
 * checked as one digit's is (digits whose ink touches are not cut apart: that takes the model, mnist_read_number).
 * *n gets the count (1 for one digit). An image with no clear ink, a digit that is no
 * clear digit (the error says which: "digit 2 of 3"), more than cap digits (at most MNIST_MAX_DIGITS are read), an
 * error (-1); out of memory, MNIST_NO_MEMORY. */
int mnist_number_prepare(const uint8_t *bytes, size_t len, const char *name, float *x, int cap, int *n,
                         mnist_err *err);

/* A number as mnist_read_number reads it. */
typedef struct {
    int n;                                         /* its digits, left to right */
    char text[MNIST_MAX_DIGITS + 1];               /* the digits read, "42" */
    int digit[MNIST_MAX_DIGITS];                   /* each digit read: the argmax of its logp */
    float x[MNIST_MAX_DIGITS][MNIST_PIXELS];       /* the input each was read from (mnist_number_prepare) */
    float logp[MNIST_MAX_DIGITS][MNIST_CLASSES];   /* its log-probabilities (mnist_predict_log_on, one input a call) */
} mnist_number;

/* Read the number written in an image with model m (784 inputs, 10 classes): mnist_number_prepare, a digit's ink
 * that is wide for one cut into pieces where m reads them as digits clearly (touching digits), then each digit
 * predicted on the CPU one at a time, as `mnist predict` predicts one digit's image (logp as it gives them, NaN
 * included: the caller checks them). 0, or -1 with err (the image's errors, a model that is empty or does not take
 * 784 inputs to 10 classes), or MNIST_NO_MEMORY. */
int mnist_read_number(const mnist_model *m, const uint8_t *bytes, size_t len, const char *name, mnist_number *num,
                      mnist_err *err);
/* The same for a file. */
int mnist_read_number_file(const mnist_model *m, const char *path, mnist_number *num, mnist_err *err);
/* The same for what f holds to its end, bounded as mnist_image_prepare_stream's; name is used in messages. */
int mnist_read_number_stream(const mnist_model *m, FILE *f, const char *name, mnist_number *num, mnist_err *err);

/* ---- pictures (src/picture.c) ---------------------------------------- */

/* At most this many images in one picture: 10000 are 604x74004 pixels and take 330 MB to
 * encode, the whole training set would take 1.7 GB for a picture no viewer opens. */
#define MNIST_PICTURE_MAX 10000
/* Write n 28x28 images (n, 784) bytes, 0 background .. 255 ink, as a PNG grid of up to 10 a row,
 * each with its label (labels (n), or NULL for none) drawn under it; n at most MNIST_PICTURE_MAX. */
int mnist_picture_png(const char *path, const uint8_t *images, const uint8_t *labels, int n, mnist_err *err);
/* The same grid for misread images: the true label in amber, then the label read in red. */
int mnist_picture_errors_png(const char *path, const uint8_t *images, const uint8_t *truth, const uint8_t *guess, int n,
                             mnist_err *err);
/* One line of text that pictures a 28x28 image x (784) in [0, 1], 0 background, with the shades
 * " .:-=+*#%@": wide != 0, line 0..27, two characters a pixel (56); wide == 0, line 0..13, one
 * character a pixel and two pixel rows a line (28), for grids. out gets them and a NUL. */
void mnist_shade_line(const float *x, int wide, int line, char *out);

/* ---- charts (src/plot.c) ---------------------------------------------- */

struct mnist_epoch_stats_;
/* An SVG of loss and accuracy per epoch (train, validation, test; the batch loss dashed). */
int mnist_plot_curves(const char *path, const struct mnist_epoch_stats_ *s, int n, mnist_err *err);
/* The records that `mnist train --log` keeps in path (JSON lines) into s, at most cap of them:
 * their count, or -1 with err filled. A record of an epoch that the log has already (a run resumed
 * from an older checkpoint, before train --resume cut its log back) replaces the records from that
 * epoch on, so s's epochs rise. A last line cut short as it was written (no newline at its end,
 * and not JSON) is skipped: then err holds a warning that names it, else err->msg is empty; any
 * other line that is not a record is an error. */
int mnist_read_log(const char *path, struct mnist_epoch_stats_ *s, int cap, mnist_err *err);
/* The same for what f holds to its end (standard input, a pipe); name is used in messages. */
int mnist_read_log_stream(FILE *f, const char *name, struct mnist_epoch_stats_ *s, int cap, mnist_err *err);
/* An SVG heat map of a confusion matrix [true][predicted], rows and columns named by classes (NULL: the digits). */
int mnist_plot_confusion(const char *path, const int conf[MNIST_CLASSES][MNIST_CLASSES],
                         const char *const *classes, mnist_err *err);

/* ---- training and evaluation (src/train.c) --------------------------- */

/* Where the arithmetic runs. */
typedef enum { MNIST_CPU, MNIST_CUDA } mnist_device;
/* The update rule of mnist_train_opts.optimizer. */
typedef enum { MNIST_SGD, MNIST_MOMENTUM, MNIST_ADAM } mnist_optimizer;
/* How the learning rate changes over a run. */
typedef enum {
    MNIST_CONSTANT, /* lr throughout */
    MNIST_COSINE,   /* lr * (1 + cos(pi * step / steps)) / 2, over all steps of the run */
    MNIST_STEP      /* lr, then lr / 10 from half the epochs, lr / 100 from three quarters */
} mnist_schedule;

/* The recipe of a run; each comment gives the value mnist_train_defaults sets. */
typedef struct {
    double lr;                 /* step size, 0.001 */
    int batch;                 /* 128; the remainder of each epoch is dropped */
    int epochs;                /* 5 */
    uint32_t seed;             /* RandomState for the batch order, and the dropout masks; 0 */
    int threads;               /* 0: all cores (OMP_NUM_THREADS); the same count, the same bits */
    mnist_optimizer optimizer; /* MNIST_SGD */
    double momentum;           /* 0.9, for MNIST_MOMENTUM (PyTorch's and optax's form) */
    int nesterov;              /* 0 */
    double beta1, beta2, eps;  /* Adam: 0.9, 0.999, 1e-8, as optax and PyTorch */
    double weight_decay;       /* decoupled, as AdamW: p -= lr * weight_decay * p; 0 */
    double dropout;            /* probability of zeroing each hidden output in training; 0 */
    mnist_schedule schedule;   /* MNIST_CONSTANT */
    int validation;            /* examples held out from the end of the training set; 0 */
    int eval_train;            /* evaluate the whole training set after each epoch; 1 */
    int shift;                 /* augment: move each training image by up to this many pixels; 0 */
    int flip;                  /* augment: mirror half the training images left to right; 0 */
    mnist_device device;       /* MNIST_CPU */
    int tf32;                  /* MNIST_CUDA: allow TF32 tensor-core products; 0 */
    int no_graph;              /* MNIST_CUDA: enqueue each step, not one graph per epoch (to compare); 0 */
} mnist_train_opts;

/* The lab's recipe. */
mnist_train_opts mnist_train_defaults(void);
/* Whether o makes sense for n training examples (n < 0: not known yet); 0, or -1 with a message. */
int mnist_train_check(const mnist_train_opts *o, int n, mnist_err *err);
/* Whether m takes s's images (its inputs are their pixels) and has one output per class: the one
 * test of what fits, for training, evaluation and the commands. 0, or -1 with a message that calls
 * the images and the network by the names given (NULL: "the images", "the network"). */
int mnist_model_fits(const mnist_model *m, const mnist_split *s, const char *images, const char *network,
                     mnist_err *err);
/* Floats of optimizer state per parameter: 0 (SGD), 1 (momentum), 2 (Adam). */
int mnist_optimizer_slots(mnist_optimizer o);
/* The learning rate of step `step` (from 0) of a run of `steps` steps, `per_epoch` of them an epoch. */
double mnist_schedule_lr(const mnist_train_opts *o, long step, long steps, long per_epoch);
/* Whether dropout keeps element i (row * width + column) of hidden layer `layer`'s output at
 * optimizer step `step` (from 0): a hash of (seed, step, layer, i), so masks need no state:
 *   mix(z) = splitmix64's finaliser; k = mix(seed << 40 ^ step << 8 ^ layer);
 *   keep if (mix(k + (i + 1) * 0x9e3779b97f4a7c15) >> 40) >= floor(p * 2^24). */
int mnist_dropout_keep(uint32_t seed, uint64_t step, int layer, uint64_t i, float p);
/* How row `row` of the batch at optimizer step `step` is augmented, shifts of up to n pixels and
 * (flip != 0) mirroring:
 *   k = mix(seed << 40 ^ step << 8 ^ 255); v = mix(k + (row + 1) * 0x9e3779b97f4a7c15);
 *   *dx = (v >> 32) % (2n + 1) - n, *dy = (v & 0xffffffff) % (2n + 1) - n, *mirror = flip ? mix(v) >> 63 : 0;
 * the image is mirrored left to right when *mirror, then moves right by dx and down by dy; the pixels
 * it uncovers are 0. */
void mnist_augment(uint32_t seed, uint64_t step, int row, int n, int flip, int *dx, int *dy, int *mirror);

/* What an evaluation of a split found. */
typedef struct {
    double loss;                              /* mean NLL */
    double accuracy;                          /* correct / n */
    int n, correct;
    int confusion[MNIST_CLASSES][MNIST_CLASSES]; /* [true][predicted] */
} mnist_eval_result;

/* What on_epoch gets after each epoch (and mnist_read_log reads back). */
typedef struct mnist_epoch_stats_ {
    int epoch;               /* from 0 */
    int steps;               /* batches done in this epoch */
    int first_step;          /* where this pass began: 0, or the step a resumed run went on from */
    double seconds;          /* the training pass alone (steps first_step .. steps-1) */
    double eval_seconds;     /* the evaluations after it */
    double loss;             /* mean of the batch losses during the pass */
    double lr;               /* the learning rate of the epoch's last step */
    mnist_eval_result train, valid, test; /* train.n == 0 when not evaluated; valid likewise */
    const char *note;        /* NULL, or how the device runs otherwise than planned (a fallback);
                              * valid during the on_epoch call only */
} mnist_epoch_stats;

/* Where a run stands between two steps: with the model, all it takes to resume it bit for bit. */
typedef struct {
    int epoch, step;      /* the next step to take: epoch (from 0) and step within it */
    int examples;         /* the training set's examples (validation included) the run's batch order is of; 0 in a
                           * checkpoint of an earlier version, which does not say */
    char data_sha256[65]; /* of those examples (mnist_split_sha256); "" in a checkpoint of an earlier version */
    uint64_t steps_done;  /* optimizer steps taken in the whole run */
    double loss_sum;      /* sum of this epoch's batch losses so far */
    mnist_rng order;      /* the batch-order RNG as it was before this epoch's permutation */
    size_t nstate;        /* floats of optimizer state: mnist_optimizer_slots * nparams */
    float *state;         /* owned; mnist_run_state_free releases it */
} mnist_run_state;

/* Free st's optimizer state and zero it. */
void mnist_run_state_free(mnist_run_state *st);
/* st = a new run of m with o on the training set train at its start, as mnist_train begins one
 * (the optimizer state zero, the batch order seeded, train's count and SHA-256 noted: train->sha256
 * when set, else computed): saved as a checkpoint, it resumes as that run would go. 0, or -1 with
 * err (out of memory, OpenSSL failed); mnist_run_state_free releases it. */
int mnist_run_state_start(mnist_run_state *st, const mnist_model *m, const mnist_train_opts *o,
                          const mnist_split *train, mnist_err *err);

/* The caller's view of a run in progress: every member may be NULL. */
typedef struct {
    /* After each epoch's evaluations, before its checkpoint; a non-zero return stops training
     * (status 1, the checkpoint written). */
    int (*on_epoch)(void *ud, const mnist_epoch_stats *s);
    /* After each step, with the batch's loss: for progress bars. */
    void (*on_step)(void *ud, int epoch, int step, int steps, double loss);
    /* After each epoch and when stopped early, with the model and the state to resume from;
     * a non-zero return (err filled) ends training with that error. */
    int (*on_checkpoint)(void *ud, const mnist_model *m, const mnist_run_state *st, mnist_err *err);
    void *ud;
    volatile int *cancel; /* set non-zero (e.g. from SIGINT) to stop after the current step (on the GPU, whose
                           * epoch's steps are given at once, after them, before the epoch's evaluations) */
} mnist_train_hooks;

/* Whether a run of o from resume (NULL: from the start) has no epoch left to train: o->epochs is
 * 0, or resume stands at it or past it. */
int mnist_train_finished(const mnist_train_opts *o, const mnist_run_state *resume);
/* What mnist_train checks before it trains: m fits d's training and test sets (mnist_model_fits);
 * then, unless the run is finished, o fits d's training examples (mnist_train_check), they are
 * square where o shifts or flips them, dropout has a hidden layer of m to drop (unless resumed: a
 * checkpoint of an earlier version may hold such a run, whose dropout dropped nothing), and resume
 * (when non-NULL) fits them too: optimizer state of o's size for m, d's count of training examples
 * and their SHA-256 (when it says them; d->train's sha256 when set, else computed), a position
 * within an epoch's steps (its messages begin "the checkpoint"). 0, or -1 with a message.
 * mnist_train hashes d's training examples once: for this check when resumed, and for the run's
 * state. */
int mnist_train_fits(const mnist_model *m, const mnist_data *d, const mnist_train_opts *o,
                     const mnist_run_state *resume, mnist_err *err);
/* Train m in place on d with the lab's batch order: per epoch a permutation from
 * RandomState(seed), floor(n / batch) steps of the optimizer, then evaluations. resume, when
 * non-NULL, continues a run from a checkpoint (m holds its parameters). Returns 0 when all
 * epochs ran or there were none to run (mnist_train_finished: m as it came), 1 when stopped
 * early (cancel, or on_epoch), with m after the last finished step; -1 on error, mnist_train_fits'
 * among them. A loss or a parameter that stops being finite is an error, and NaNs never reach
 * m: it then holds the parameters of the last checkpoint (or those it came with). */
int mnist_train(mnist_model *m, const mnist_data *d, const mnist_train_opts *o, const mnist_train_hooks *h,
                const mnist_run_state *resume, mnist_err *err);
/* A checkpoint (src/checkpoint.c): a safetensors file holding the model (so it also loads as
 * one), the optimizer state and the batch-order RNG as tensors train.optimizer and train.rng,
 * and in its metadata the options, the position, and the count and SHA-256 of the training
 * examples the run is on (metadata format "mnist-checkpoint").
 * Written to a temporary name, then renamed. */
int mnist_checkpoint_save(const char *path, const mnist_model *m, const mnist_train_opts *o,
                          const mnist_run_state *st, mnist_err *err);
/* Read one back: m, o and st are filled (st->state allocated; mnist_run_state_free). */
int mnist_checkpoint_load(const char *path, mnist_model *m, mnist_train_opts *o, mnist_run_state *st,
                          mnist_err *err);
/* Loss, accuracy and confusion matrix of m on s (at least one example), on the CPU. */
int mnist_evaluate(const mnist_model *m, const mnist_split *s, int threads, mnist_eval_result *r, mnist_err *err);
/* The same on a device (MNIST_CUDA needs a build with CUDA and a GPU; else an error saying so). */
int mnist_evaluate_on(const mnist_model *m, const mnist_split *s, mnist_device device, int threads,
                      mnist_eval_result *r, mnist_err *err);
/* Whether this build has the CUDA backend (a GPU may still be missing at run time). */
int mnist_have_cuda(void);
/* What this build of the library holds, for mnist --version: each 1 or 0. */
typedef struct {
    int cuda;   /* the CUDA backend (mnist_have_cuda) */
    int sparse; /* the CPU's first layer as products over the input's nonzeros (builds for AVX-512) */
} mnist_build;
mnist_build mnist_build_info(void);
/* 0 when device can be used here (MNIST_CPU always; MNIST_CUDA needs a build with CUDA and a GPU
 * its code runs on), else -1 with one line saying why: for a command to check before it loads data. */
int mnist_device_check(mnist_device device, mnist_err *err);
/* mnist_predict on a device (MNIST_CPU: mnist_predict itself). */
int mnist_predict_on(const mnist_model *m, const float *x, int n, mnist_device device, float *probs, mnist_err *err);
/* The log-probabilities logp (n, sizes[last]) that mnist_predict_on exponentiates: the numbers
 * mnist_evaluate takes its argmax over (two probabilities can round to one where these differ). */
int mnist_predict_log_on(const mnist_model *m, const float *x, int n, mnist_device device, float *logp,
                         mnist_err *err);

#ifdef __cplusplus
}
#endif

#endif
