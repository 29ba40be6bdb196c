/* train.c: mnist train and mnist eval. */
#include <stdlib.h>

#include "cli.h"

typedef struct {
    int json;
} train_ui;

static void print_eval_json(const char *key, const mnist_eval_result *r) {
    printf(",\"%s_loss\":%.8g,\"%s_accuracy\":%.8g", key, r->loss, key, r->accuracy);
}

static int on_epoch(void *ud, const mnist_epoch_stats *s) {
    const train_ui *ui = ud;
    if (ui->json) {
        printf("{\"epoch\":%d,\"seconds\":%.3f,\"loss\":%.8g", s->epoch, s->seconds, s->loss);
        print_eval_json("train", &s->train);
        print_eval_json("test", &s->test);
        printf("}\n");
    } else {
        printf("Epoch %d in %0.2f sec\n", s->epoch, s->seconds);
        printf("Training accuracy: %.4f\n", s->train.accuracy);
        printf("Test accuracy:     %.4f\n", s->test.accuracy);
    }
    fflush(stdout);
    return 0;
}

static void layers_str(const mnist_model *m, char *out, size_t cap, const char *sep) {
    size_t k = 0;
    for (int i = 0; i <= m->nlayers && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%d", i ? sep : "", m->sizes[i]);
}

static int save_model(const mnist_model *m, const char *path) {
    mnist_err err;
    if (mnist_model_save(m, path, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    mnist_train_opts o = mnist_train_defaults();
    const char *dir = NULL, *layers = "784,1024,1024,10", *save = NULL;
    double scale = 0.1;
    int json = 0, no_verify = 0;
    const flag flags[] = {
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else ~/.cache/mnist); fetched if missing"},
        {"--layers", F_STR, &layers, "L", "layer sizes (default 784,1024,1024,10)"},
        {"--init-scale", F_DOUBLE, &scale, "S", "init: W, b = S * randn (default 0.1)"},
        {"--seed", F_UINT, &o.seed, "N", "RandomState seed of the init and of the batch order (default 0)"},
        {"--lr", F_DOUBLE, &o.lr, "X", "SGD step size (default 0.001)"},
        {"--batch", F_INT, &o.batch, "N", "examples per step (default 128)"},
        {"--epochs", F_INT, &o.epochs, "N", "passes over the training set (default 5)"},
        {"--threads", F_INT, &o.threads, "N", "threads (default: all cores)"},
        {"--save", F_STR, &save, "FILE", "write the trained model (safetensors)"},
        {"--json", F_BOOL, &json, NULL, "one JSON object per epoch instead of text"},
        {"--no-verify", F_BOOL, &no_verify, NULL, "use the IDX files in DIR as they are (not MNIST's hashes)"},
        {0}};
    int p = cli_parse("train",
                  "[--data DIR] [--layers L] [--init-scale S] [--seed N] [--lr X] [--batch N] [--epochs N] "
                  "[--threads N] [--save FILE] [--json]",
                  "Train the lab's MLP by SGD on MNIST; after each epoch print its time and the training and test "
                  "accuracy.",
                  flags, argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    int sizes[MNIST_MAX_LAYERS + 1], n;
    mnist_err err;
    if (mnist_parse_layers(layers, sizes, &n, &err)) {
        fprintf(stderr, "mnist train: %s\n", err.msg);
        return 2;
    }
    mnist_data d;
    if (cli_load_data(dir, !no_verify, &d)) return 1;
    mnist_model m;
    if (mnist_model_create(&m, sizes, n, &err)) {
        fprintf(stderr, "mnist train: %s\n", err.msg);
        mnist_data_free(&d);
        return 1;
    }
    mnist_model_init_lab(&m, scale, o.seed);
    if (!json && o.epochs > 0) {
        char ls[128];
        layers_str(&m, ls, sizeof ls, "-");
        printf("Training %s (tanh) on %d images: SGD lr %g, batch %d, %d batches per epoch, %d epochs\n", ls,
               d.train.n, o.lr, o.batch, o.batch > 0 ? d.train.n / o.batch : 0, o.epochs);
    }
    cli_catch_sigint(1);
    train_ui ui = {.json = json};
    int rc = mnist_train(&m, &d, &o, on_epoch, &ui, &interrupted, &err);
    cli_catch_sigint(0);
    int status = 0;
    if (rc < 0) {
        fprintf(stderr, "mnist train: %s\n", err.msg);
        status = 1;
    } else {
        if (rc == 1) fprintf(stderr, "mnist train: interrupted%s\n", save ? "; saving the model as it is now" : "");
        if (save && save_model(&m, save) == 0 && !json) printf("Saved the model to %s\n", save);
        if (rc == 1) status = 130;
    }
    mnist_model_free(&m);
    mnist_data_free(&d);
    return status;
}

int cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *model = NULL;
    int json = 0, threads = 0, no_verify = 0;
    const flag flags[] = {
        {"--model", F_STR, &model, "FILE", "the model (safetensors), required"},
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else ~/.cache/mnist); fetched if missing"},
        {"--threads", F_INT, &threads, "N", "threads (default: all cores)"},
        {"--json", F_BOOL, &json, NULL, "print {\"accuracy\", \"loss\", \"confusion\"} as JSON"},
        {"--no-verify", F_BOOL, &no_verify, NULL, "use the IDX files in DIR as they are (not MNIST's hashes)"},
        {0}};
    int p = cli_parse("eval", "--model FILE [--data DIR] [--json]",
                  "Test accuracy, mean loss and the confusion matrix of a model on MNIST's test set.", flags, argc,
                  argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    if (!model) {
        fprintf(stderr, "mnist eval: --model FILE is required (see 'mnist eval --help')\n");
        return 2;
    }
    mnist_err err;
    mnist_model m;
    if (mnist_model_load(&m, model, &err)) {
        fprintf(stderr, "mnist eval: %s\n", err.msg);
        return 1;
    }
    mnist_data d;
    if (cli_load_data(dir, !no_verify, &d)) {
        mnist_model_free(&m);
        return 1;
    }
    mnist_eval_result r;
    int status = 0;
    if (mnist_evaluate(&m, &d.test, threads, &r, &err)) {
        fprintf(stderr, "mnist eval: %s\n", err.msg);
        status = 1;
    } else if (json) {
        printf("{\"accuracy\":%.8g,\"loss\":%.8g,\"n\":%d,\"confusion\":[", r.accuracy, r.loss, r.n);
        for (int i = 0; i < MNIST_CLASSES; i++) {
            printf("%s[", i ? "," : "");
            for (int j = 0; j < MNIST_CLASSES; j++) printf("%s%d", j ? "," : "", r.confusion[i][j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("Test accuracy: %.4f (%d of %d)\n", r.accuracy, r.correct, r.n);
        printf("Test loss:     %.4f\n", r.loss);
        printf("Confusion matrix (rows: true digit, columns: predicted digit)\n      ");
        for (int j = 0; j < MNIST_CLASSES; j++) printf("%6d", j);
        printf("\n");
        for (int i = 0; i < MNIST_CLASSES; i++) {
            printf("%6d", i);
            for (int j = 0; j < MNIST_CLASSES; j++) printf("%6d", r.confusion[i][j]);
            printf("\n");
        }
    }
    mnist_data_free(&d);
    mnist_model_free(&m);
    return status;
}
