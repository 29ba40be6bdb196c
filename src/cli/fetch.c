/* fetch.c: mnist fetch. */
#include "cli.h"

int cmd_fetch(int argc, char **argv) {
    const char *dir = NULL;
    str_list mirrors = {0};
    const flag flags[] = {
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else ~/.cache/mnist)"},
        {"--mirror", F_LIST, &mirrors, "URL", "a base URL to try before the built-in ones (repeatable)"},
        {0}};
    int p = cli_parse("fetch", "[--data DIR] [--mirror URL]...",
                  "Download MNIST's four files unless present, verify each by SHA-256, keep them in DIR.", flags,
                  argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    char path[4096];
    mnist_err err;
    if (mnist_data_dir(path, sizeof path, dir, &err)) {
        fprintf(stderr, "mnist: %s\n", err.msg);
        return 1;
    }
    if (cli_fetch(mnist_dataset_get("mnist"), path, &mirrors)) return 1;
    printf("MNIST is ready in %s\n", path);
    return 0;
}
