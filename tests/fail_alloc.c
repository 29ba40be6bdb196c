/* fail_alloc.c: an LD_PRELOAD shim for the allocation sweeps of test_faults.py and test_serve.py. The
 * FAIL_ALLOC'th call of malloc, calloc, realloc or strdup (counted from 1) made by the program's own code
 * once main has begun returns NULL, as it would out of memory; with COUNT_ALLOC naming a file, the number
 * of such calls is written there at exit. The program's own code is what dladdr places in the program's
 * file (stb_image and stb_image_write, compiled in, count), or in a library that only the program
 * calls: libstb (its resizer) and zlib. libc's, OpenBLAS's, OpenSSL's and libmicrohttpd's calls do
 * not count, nor the static CUDA runtime's before main, which does not check them. glibc 2.34 and
 * later: its dlsym allocates nothing, so finding the real functions here does not recurse. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*real_malloc)(size_t), *(*real_calloc)(size_t, size_t), *(*real_realloc)(void *, size_t);
static char *(*real_strdup)(const char *);
static atomic_long calls;
static long fail_at = -1;  /* read once, before main */
static void *program;      /* where the program's file is mapped; set before main */
static void *only_ours[2]; /* where libstb and zlib are mapped (NULL: not loaded); set before main */
static atomic_int started; /* main has begun */
static int (*real_main)(int, char **, char **);

/* the real functions, before the program's own constructors run (and at a first call before that) */
__attribute__((constructor)) static void find_real(void) {
    if (!real_malloc) *(void **)&real_malloc = dlsym(RTLD_NEXT, "malloc");
    if (!real_calloc) *(void **)&real_calloc = dlsym(RTLD_NEXT, "calloc");
    if (!real_realloc) *(void **)&real_realloc = dlsym(RTLD_NEXT, "realloc");
    if (!real_strdup) *(void **)&real_strdup = dlsym(RTLD_NEXT, "strdup");
}

static int counted_main(int argc, char **argv, char **env) {
    const char *at = getenv("FAIL_ALLOC");
    Dl_info info;
    if (at) fail_at = atol(at);
    if (dladdr((void *)real_main, &info)) program = info.dli_fbase;
    const char *lib[2] = {"stbir_resize", "inflateInit2_"};
    for (int i = 0; i < 2; i++) {
        void *f = dlsym(RTLD_DEFAULT, lib[i]);
        if (f && dladdr(f, &info) && info.dli_fbase != program) only_ours[i] = info.dli_fbase;
    }
    atomic_store(&started, 1);
    return real_main(argc, argv, env);
}

/* main, wrapped: the program's constructors ran before it */
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end) {
    int (*real)(int (*)(int, char **, char **), int, char **, void (*)(void), void (*)(void), void (*)(void),
                void *);
    *(void **)&real = dlsym(RTLD_NEXT, "__libc_start_main");
    real_main = main;
    return real(counted_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* whether the call from caller is the program's own, and the one to fail */
static int fails(void *caller) {
    Dl_info info;
    if (!atomic_load(&started) || !program || !dladdr(caller, &info)) return 0;
    if (info.dli_fbase != program && info.dli_fbase != only_ours[0] && info.dli_fbase != only_ours[1]) return 0;
    return atomic_fetch_add(&calls, 1) + 1 == fail_at;
}

__attribute__((destructor)) static void finish(void) {
    const char *path = getenv("COUNT_ALLOC");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) fprintf(f, "%ld\n", (long)calls), fclose(f);
}

void *malloc(size_t n) {
    if (!real_malloc) find_real();
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_malloc(n);
}

void *calloc(size_t k, size_t n) {
    if (!real_calloc) find_real();
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_calloc(k, n);
}

void *realloc(void *p, size_t n) {
    if (!real_realloc) find_real();
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_realloc(p, n);
}

char *strdup(const char *s) {
    if (!real_strdup) find_real();
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_strdup(s);
}
