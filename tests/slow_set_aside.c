/* slow_set_aside.c: an LD_PRELOAD shim for test_cli.py's test_fetch_set_aside_race. A rename to NAME.unverified (a
 * fetch setting aside a file that fails verification) waits 0.5 s first: a second fetch into the folder, started
 * meanwhile, finds the same file, hashes it, and comes to set it aside too, after the first has done so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "rename");
    size_t n = strlen(to);
    if (n > 11 && !strcmp(to + n - 11, ".unverified")) nanosleep(&(struct timespec){.tv_nsec = 500 * 1000 * 1000}, NULL);
    return real(from, to);
}
