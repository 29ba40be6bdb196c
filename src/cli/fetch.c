/* fetch.c: mnist fetch. */
#include <string.h>

#include "cli.h"

int cmd_fetch(int argc, char **argv) {
    const char *dir = NULL, *dataset = "mnist";
    str_list mirrors = {0};
    const flag flags[] = {
        {"--dataset", F_STR, &dataset, "mnist|fashion", "MNIST (default) or Fashion-MNIST"},
        {"--data", F_STR, &dir, "DIR", "data folder (default $MNIST_DATA, else $XDG_CACHE_HOME/mnist or ~/.cache/mnist; fashion in its 'fashion')"},
        {"--mirror", F_LIST, &mirrors, "URL", "a base URL to try before the built-in ones (repeatable)"},
        {0}};
    int p = cli_parse("fetch", "[--dataset mnist|fashion] [--data DIR] [--mirror URL]...",
                      "Download the dataset's four files unless present, verify each by SHA-256, keep them in DIR.",
                      flags, argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    if (cli_set_dataset("fetch", dataset)) return 2;
    const mnist_dataset *ds = mnist_dataset_get(dataset);
    char path[4096];
    mnist_err err;
    if (mnist_dataset_dir(path, sizeof path, ds, dir, &err)) {
        fprintf(stderr, "mnist fetch: %s\n", err.msg);
        return 1;
    }
    int rc = cli_fetch(ds, path, &mirrors);
    if (rc) return rc;
    printf("%s is ready in %s\n", strcmp(dataset, "mnist") ? "Fashion-MNIST" : "MNIST", path);
    return 0;
}
