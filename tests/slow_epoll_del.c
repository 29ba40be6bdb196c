/* slow_epoll_del.c: an LD_PRELOAD shim for test_serve.py's test_stop_busy. Each epoll_ctl(EPOLL_CTL_DEL)
 * waits 2 ms first, which widens a race a stop can meet in libmicrohttpd 0.9.75's epoll mode: its
 * MHD_quiesce_daemon and each thread's loop both take the listening socket out of that thread's epoll
 * set, and the one that comes second and gets ENOENT (or EBADF, once the socket is closed) aborts the
 * process. Without it the race is rare (one stop in hundreds under load); with it, most stops with
 * traffic abort where epoll is used. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/epoll.h>
#include <time.h>

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
    static int (*real)(int, int, int, struct epoll_event *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "epoll_ctl");
    if (op == EPOLL_CTL_DEL) nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
    return real(epfd, op, fd, event);
}
