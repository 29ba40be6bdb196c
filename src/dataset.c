/* dataset.c: the datasets we know (file names, mirrors, SHA-256s, class names) and where the
 * data folder is. Adding a dataset is one more table entry below. */
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const mnist_urls[] = {
    "https://storage.googleapis.com/cvdf-datasets/mnist/", /* the lab's */
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
};

static const char *const digit_classes[MNIST_CLASSES] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* Fashion-MNIST from its authors (Zalando Research); last, the files of Debian's package
 * dataset-fashion-mnist where it is installed. The same SHA-256 checks apply to every source. */
static const char *const fashion_urls[] = {
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "file:///usr/share/datasets/fashion-mnist/",
};

static const char *const fashion_classes[MNIST_CLASSES] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static const mnist_dataset datasets[] = {
    {
        .name = "mnist",
        .urls = mnist_urls,
        .nurls = (int)(sizeof mnist_urls / sizeof mnist_urls[0]),
        .files = {
            [MNIST_TRAIN_IMAGES] = {"train-images-idx3-ubyte",
                                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016},
            [MNIST_TRAIN_LABELS] = {"train-labels-idx1-ubyte",
                                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008},
            [MNIST_TEST_IMAGES] = {"t10k-images-idx3-ubyte",
                                   "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016},
            [MNIST_TEST_LABELS] = {"t10k-labels-idx1-ubyte",
                                   "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008},
        },
        .classes = digit_classes,
    },
    {
        .name = "fashion",
        .urls = fashion_urls,
        .nurls = (int)(sizeof fashion_urls / sizeof fashion_urls[0]),
        .files = {
            [MNIST_TRAIN_IMAGES] = {"train-images-idx3-ubyte",
                                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016},
            [MNIST_TRAIN_LABELS] = {"train-labels-idx1-ubyte",
                                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008},
            [MNIST_TEST_IMAGES] = {"t10k-images-idx3-ubyte",
                                   "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016},
            [MNIST_TEST_LABELS] = {"t10k-labels-idx1-ubyte",
                                   "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008},
        },
        .classes = fashion_classes,
    },
};

const mnist_dataset *mnist_dataset_get(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof datasets / sizeof datasets[0]; i++)
        if (strcmp(datasets[i].name, name) == 0) return &datasets[i];
    return NULL;
}

const mnist_dataset *dataset_of_sha256(const char *hex, int *file) {
    for (size_t i = 0; i < sizeof datasets / sizeof datasets[0]; i++)
        for (int f = 0; f < MNIST_NFILES; f++)
            if (!strcmp(datasets[i].files[f].sha256, hex)) return *file = f, &datasets[i];
    return NULL;
}

const mnist_dataset *other_dataset(const char *hex, const char *want, char *out, size_t cap) {
    int fk = 0, fw = 0;
    const mnist_dataset *known = dataset_of_sha256(hex, &fk), *wanted = dataset_of_sha256(want, &fw);
    if (!known || !wanted || known == wanted) return NULL;
    snprintf(out, cap, "this is the %s dataset's %s (by its SHA-256), not the %s dataset's", known->name,
             known->files[fk].name, wanted->name);
    return known;
}

static const char *nonempty_env(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* A data folder's name of n bytes did not fit out (cap bytes), which holds its start, cut (nothing where cap is 0). */
static int too_long(const char *out, size_t cap, int n, mnist_err *err) {
    return errf(err, "%.64s...: data folder name too long (%d bytes, %zu at most)", cap ? out : "", n, cap ? cap - 1 : 0);
}

int mnist_data_dir(char *out, size_t cap, const char *dir, mnist_err *err) {
    const char *v;
    int n;
    if (dir && dir[0]) {
        n = snprintf(out, cap, "%s", dir);
    } else if ((v = nonempty_env("MNIST_DATA"))) {
        n = snprintf(out, cap, "%s", v);
    } else if ((v = nonempty_env("XDG_CACHE_HOME")) && v[0] == '/') { /* relative: ignored, as the XDG spec says */
        n = path_join(out, cap, v, "mnist", "");
    } else if ((v = nonempty_env("HOME"))) {
        n = path_join(out, cap, v, ".cache/mnist", "");
    } else {
        return errf(err, "no data folder: HOME is not set or empty; set MNIST_DATA to the folder for the dataset");
    }
    if (n < 0 || (size_t)n >= cap) return too_long(out, cap, n, err);
    return 0;
}

int mnist_dataset_dir(char *out, size_t cap, const mnist_dataset *ds, const char *dir, mnist_err *err) {
    if ((dir && dir[0]) || !strcmp(ds->name, "mnist")) return mnist_data_dir(out, cap, dir, err);
    char base[4096];
    if (mnist_data_dir(base, sizeof base, NULL, err)) return -1;
    int n = path_join(out, cap, base, ds->name, "");
    if (n < 0 || (size_t)n >= cap) return too_long(out, cap, n, err);
    return 0;
}

int mnist_data_file(char *out, size_t cap, const char *dir, const mnist_file_info *f, mnist_err *err) {
    struct stat st;
    int n = path_join(out, cap, dir, f->name, "");
    if (n < 0 || (size_t)n >= cap) return errf(err, "%.*s/%s: path too long", dir_length(dir), dir, f->name);
    if (stat(out, &st) == 0) return 1;
    n = path_join(out, cap, dir, f->name, ".gz");
    if (n < 0 || (size_t)n >= cap) return errf(err, "%.*s/%s.gz: path too long", dir_length(dir), dir, f->name);
    return stat(out, &st) == 0 ? 1 : 0;
}
