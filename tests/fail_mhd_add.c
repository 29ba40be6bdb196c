/* fail_mhd_add.c: an LD_PRELOAD shim for test_serve.py's test_add_failure. calloc fails for the first FAIL_ADDS
 * connections that MHD_add_connection is given (libmicrohttpd's calloc of a connection's record, on a thread other
 * than the first: the accept thread), as it would out of memory: MHD_add_connection then closes the socket and
 * returns MHD_NO. That close is followed by a pause of 0.3 s, long enough for the server's check every 0.1 s for
 * connections gone unannounced to see the socket closed before MHD_add_connection returns. Only libmicrohttpd's
 * own calls count (dladdr of the caller). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Thread_local int failed_here; /* this thread's calloc failed: its next close pauses */

static int from_mhd(void *caller) {
    Dl_info info;
    return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libmicrohttpd");
}

void *calloc(size_t n, size_t size) {
    static void *(*real)(size_t, size_t);
    static atomic_int failed;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "calloc");
    const char *env = getenv("FAIL_ADDS");
    if (env && n == 1 && size >= 256 && syscall(SYS_gettid) != getpid() && from_mhd(__builtin_return_address(0)) &&
        atomic_fetch_add(&failed, 1) < atoi(env)) {
        failed_here = 1;
        errno = ENOMEM;
        return NULL;
    }
    return real(n, size);
}

int close(int fd) {
    int r = (int)syscall(SYS_close, fd);
    if (failed_here && from_mhd(__builtin_return_address(0))) {
        failed_here = 0;
        nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
    }
    return r;
}
