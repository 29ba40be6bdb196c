/* fetch.c: mnist fetch. */
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "util.h"

int cmd_fetch(int argc, char **argv) {
    const char *dir = NULL, *dataset = "mnist";
    str_list mirrors = {0};
    const flag flags[] = {
        {"--dataset", F_STR, &dataset, "mnist|fashion", "MNIST (default) or Fashion-MNIST"},
        {"--data", F_STR, &dir, "DIR", CLI_DATA_HELP},
        {"--mirror", F_LIST, &mirrors, "URL", "a base URL to try before the built-in ones (repeatable); a folder's, file:///PATH/, may hold the files raw"},
        {0}};
    int p = cli_parse("fetch", "[--dataset mnist|fashion] [--data DIR] [--mirror URL]...",
                      "Download the dataset's four files unless present, verify each by SHA-256, keep them in DIR.",
                      flags, argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    if (cli_set_dataset("fetch", dataset)) return 2;
    /* a folder's path is no URL: curl said "bad/illegal format" per file; of ftp:// "Protocol not supported" */
    for (int i = 0; i < mirrors.n; i++) {
        char u[4096]; /* its password, if any, as "***": said in no error */
        const char *sep = strstr(url_shown(u, sizeof u, mirrors.items[i]), "://");
        size_t scheme = strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
        if (!sep || scheme == 0 || u + scheme != sep) {
            cli_say(stderr, "mnist fetch: --mirror '%s' is not a URL: give http://HOST/PATH/, https://... or, for a "
                    "folder, file:///PATH/\n", u);
            return 2;
        }
        if (strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8) && strncasecmp(u, "file://", 7)) {
            cli_say(stderr, "mnist fetch: --mirror '%s': --mirror takes http://HOST/PATH/, https://... or, for a "
                    "folder, file:///PATH/, not %.*s://\n", u, (int)scheme, u);
            return 2;
        }
        /* no host (http://, http:///x/), or a folder's path without its first '/' (file://tmp/m/: "tmp" read as
         * a host): curl said "Could not resolve host: train-images-idx3-ubyte.gz" or "URL using bad/illegal
         * format" per file, and the next mirrors were tried */
        const char *rest = sep + 3;
        int file = !strncasecmp(u, "file://", 7);
        if (file ? rest[0] != '/' && strncasecmp(rest, "localhost/", 10) : strchr("/?#", rest[0]) != NULL) {
            cli_say(stderr, "mnist fetch: --mirror '%s': %s\n", u,
                    file ? "a folder's URL is file:// then its absolute path, file:///PATH/ (three slashes)"
                         : "no host: give http://HOST/PATH/ or https://HOST/PATH/");
            return 2;
        }
        /* the file names are appended to the URL: curl sent http://h/p/?token=1train-images-idx3-ubyte.gz, and
         * file:///m/?x read the folder /m/ (a query and a fragment dropped) */
        if (url_has_query(rest)) {
            cli_say(stderr, "mnist fetch: --mirror '%s': has a query or a fragment ('?' or '#'), which the file "
                    "names cannot follow: give the folder's URL without it (in a name, '?' is %%3F, '#' %%23)\n", u);
            return 2;
        }
        if (url_has_blank(u)) {
            cli_say(stderr, "mnist fetch: --mirror '%s': holds a space or a control character, which a URL cannot: "
                    "write a space as %%20\n", u);
            return 2;
        }
        if (url_has_two_at(mirrors.items[i])) { /* curl said "URL using bad/illegal format" per file */
            cli_say(stderr, "mnist fetch: --mirror '%s': its user or password holds an '@', which a URL writes as "
                    "%%40\n", u);
            return 2;
        }
    }
    const mnist_dataset *ds = mnist_dataset_get(dataset);
    char path[4096];
    mnist_err err;
    if (mnist_dataset_dir(path, sizeof path, ds, dir, &err)) {
        cli_say(stderr, "mnist fetch: %s\n", err.msg);
        return 1;
    }
    int rc = cli_fetch(ds, path, 0, &mirrors);
    if (rc) return rc;
    cli_say(stdout, "%s is ready in %s\n", strcmp(dataset, "mnist") ? "Fashion-MNIST" : "MNIST", path);
    return 0;
}
