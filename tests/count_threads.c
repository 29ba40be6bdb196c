/* count_threads.c: an LD_PRELOAD shim that counts the threads the program starts (pthread_create, its own and its
 * libraries') and writes the count to the file $COUNT_THREADS as the program exits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int started;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*run)(void *), void *arg) {
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    int rc = real(t, attr, run, arg);
    if (rc == 0) atomic_fetch_add(&started, 1);
    return rc;
}

__attribute__((destructor)) static void count_threads_report(void) {
    const char *path = getenv("COUNT_THREADS");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%d\n", atomic_load(&started));
        fclose(f);
    }
}
