/* fail_alloc.c: an LD_PRELOAD shim for test_faults.py's allocation sweep. The FAIL_ALLOC'th call of
 * malloc, calloc or realloc (counted from 1) made by the mnist binary itself once main has begun
 * (dladdr of the caller: stb's, inside it, count; libc's and OpenBLAS's do not, nor the static CUDA
 * runtime's before main, which does not check them) returns NULL, as it would out of memory; with
 * COUNT_ALLOC naming a file, the number of such calls is written there at exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long calls;
static long fail_at = -1; /* read once, before main */
static atomic_int started; /* main has begun */
static int (*real_main)(int, char **, char **);

static int counted_main(int argc, char **argv, char **env) {
    const char *at = getenv("FAIL_ALLOC");
    if (at) fail_at = atol(at);
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

/* whether the call from caller is the program's (dladdr names the program as it was run: argv[0]),
 * and the one to fail */
static int fails(void *caller) {
    Dl_info info;
    if (!atomic_load(&started) || !dladdr(caller, &info) || !info.dli_fname ||
        strcmp(info.dli_fname, program_invocation_name) != 0)
        return 0;
    return atomic_fetch_add(&calls, 1) + 1 == fail_at;
}

__attribute__((destructor)) static void finish(void) {
    const char *path = getenv("COUNT_ALLOC");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) fprintf(f, "%ld\n", (long)calls), fclose(f);
}

#define REAL(type, name, ...)                                                                                          \
    static type(*real)(__VA_ARGS__);                                                                                   \
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, name)

void *malloc(size_t n) {
    REAL(void *, "malloc", size_t);
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real(n);
}

void *calloc(size_t k, size_t n) {
    REAL(void *, "calloc", size_t, size_t);
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real(k, n);
}

void *realloc(void *p, size_t n) {
    REAL(void *, "realloc", void *, size_t);
    if (fails(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real(p, n);
}
