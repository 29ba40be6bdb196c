/* fail_mhd_pool.c: an LD_PRELOAD shim for test_serve.py's test_pool_failure. malloc fails for the memory pool of
 * the first FAIL_POOLS connections libmicrohttpd takes (32 KB by default, MHD_pool_create's malloc where the pool is
 * 32 KB or less), as it would out of memory: libmicrohttpd 0.9.75 then closes the connection before its start
 * notice, and sends none. Only libmicrohttpd's own calls of that size count (dladdr of the caller). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define POOL (32 * 1024) /* MHD_POOL_SIZE_DEFAULT */

void *malloc(size_t n) {
    static void *(*real)(size_t);
    static atomic_int failed;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "malloc");
    if (n == POOL) {
        Dl_info info;
        const char *env = getenv("FAIL_POOLS");
        if (env && dladdr(__builtin_return_address(0), &info) && info.dli_fname &&
            strstr(info.dli_fname, "libmicrohttpd") && atomic_fetch_add(&failed, 1) < atoi(env)) {
            errno = ENOMEM;
            return NULL;
        }
    }
    return real(n);
}
