/* slow_mkstemp.c: an LD_PRELOAD shim for test_signals.py's test_fetch. mkstemp makes its file, then waits
 * 0.5 s before it returns: the window in which atomic_open keeps SIGINT, SIGTERM, SIGHUP and SIGPIPE blocked on its
 * thread, before the file is in the list of those a signal's handler removes. A signal sent to the process then
 * comes on another thread (OpenBLAS's), where the handler ran at once and left the file, unlisted yet. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

int mkstemp(char *template) {
    static int (*real)(char *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "mkstemp");
    int fd = real(template);
    nanosleep(&(struct timespec){.tv_nsec = 500 * 1000 * 1000}, NULL);
    return fd;
}
