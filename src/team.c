/* team.c: the CPU backend's threads (team.h says why they are ours, not OpenMP's).
 *
 * One job at a time: the caller writes it, then moves `gen` on; each worker, seeing gen move,
 * runs its share and counts itself in `done`; the caller runs share 0, then waits until all
 * workers are counted. Waiting, a thread spins for about TEAM_SPIN_US, then sleeps on a condition
 * variable; the side that moves gen or done on wakes the sleepers. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mnist.h"
#include "team.h"

#define TEAM_SPIN_US 60 /* how long a waiting thread spins before it sleeps */

static struct {
    pthread_mutex_t turn; /* one job at a time, and the workers' count */
    pthread_mutex_t m;    /* with the two conditions: the sleepers' side */
    pthread_cond_t wake, finished;
    _Alignas(64) atomic_uint gen; /* moved on for each job (a cache line of its own: the workers spin on it) */
    _Alignas(64) atomic_int done; /* workers finished with the current job */
    int nw;                       /* workers started */
    int cannot_start;             /* a worker could not be started: the caller runs the rest */
    atomic_int spin;              /* whether waiting threads spin first: not when there are more than cores */
    team_fn fn;       /* the job */
    void *ctx;
    int nt;
    unsigned first_gen[MNIST_MAX_THREADS]; /* gen when worker i was started */
} team = {.turn = PTHREAD_MUTEX_INITIALIZER,
          .m = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .finished = PTHREAD_COND_INITIALIZER};

/* A thread's spin: its rounds, and when it ends (0: not yet read off the clock). */
typedef struct {
    int rounds;
    double end;
} spin;

/* One round of a spin (the CPU told that this is one): 1, or 0 once about TEAM_SPIN_US have
 * passed since its first rounds (the clock read every 64 rounds), or the clock cannot be read, or
 * the team has more threads than the cores: then a spinning thread would hold a core that the
 * thread it waits for needs, and each goes to sleep at once. */
static int spin_on(spin *s) {
    if (!atomic_load_explicit(&team.spin, memory_order_relaxed)) return 0;
    if ((++s->rounds & 63) == 0) {
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts)) return 0;
        double t = ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
        if (s->end == 0) s->end = t + TEAM_SPIN_US;
        else if (t > s->end) return 0;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
    return 1;
}

static void *worker(void *arg) {
    int me = (int)(uintptr_t)arg; /* 1-based: share me of each job */
    unsigned seen = team.first_gen[me]; /* not gen now: the first job may have begun before this ran */
    for (;;) {
        spin s = {0};
        while (atomic_load_explicit(&team.gen, memory_order_acquire) == seen && spin_on(&s)) {}
        if (atomic_load_explicit(&team.gen, memory_order_acquire) == seen) {
            pthread_mutex_lock(&team.m);
            while (atomic_load_explicit(&team.gen, memory_order_acquire) == seen)
                pthread_cond_wait(&team.wake, &team.m);
            pthread_mutex_unlock(&team.m);
        }
        seen = atomic_load_explicit(&team.gen, memory_order_acquire);
        int nw = team.nw; /* read before counting in: the caller may start more workers after */
        if (me < team.nt) team.fn(team.ctx, me, team.nt);
        if (atomic_fetch_add_explicit(&team.done, 1, memory_order_acq_rel) + 1 == nw) {
            pthread_mutex_lock(&team.m); /* the caller may be asleep */
            pthread_cond_signal(&team.finished);
            pthread_mutex_unlock(&team.m);
        }
    }
    return NULL;
}

/* fork: taken between jobs (prepare holds both locks, which parent and child let go); the child
 * has the forking thread alone, so no workers, which are started again when needed. */
static void fork_prepare(void) {
    pthread_mutex_lock(&team.turn);
    pthread_mutex_lock(&team.m);
}
static void fork_parent(void) {
    pthread_mutex_unlock(&team.m);
    pthread_mutex_unlock(&team.turn);
}
static void fork_child(void) {
    team.nw = 0;
    fork_parent();
}

/* Starts workers until there are want; with team.turn held. When one cannot be started, no more
 * are tried: the caller runs their shares. The workers take no signals (the caller's thread
 * does: a handler that runs while a file is being written, util.c's, expects to be there). */
static void start_workers(int want) {
    static int hooked;
    if (!hooked) hooked = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
    pthread_attr_t attr;
    sigset_t all, old;
    if (pthread_attr_init(&attr)) {
        team.cannot_start = 1;
        return;
    }
    sigfillset(&all);
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) || pthread_sigmask(SIG_SETMASK, &all, &old)) {
        team.cannot_start = 1;
        pthread_attr_destroy(&attr);
        return;
    }
    while (team.nw < want) {
        pthread_t th;
        team.first_gen[team.nw + 1] = atomic_load(&team.gen);
        if (pthread_create(&th, &attr, worker, (void *)(uintptr_t)(team.nw + 1))) {
            team.cannot_start = 1;
            break;
        }
        team.nw++;
    }
    atomic_store_explicit(&team.spin, team.nw + 1 <= team_cores(), memory_order_relaxed);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* Waits, spinning then asleep, until every worker has finished the job. */
static void wait_done(void) {
    spin s = {0};
    while (atomic_load_explicit(&team.done, memory_order_acquire) < team.nw && spin_on(&s)) {}
    pthread_mutex_lock(&team.m);
    while (atomic_load_explicit(&team.done, memory_order_acquire) < team.nw) pthread_cond_wait(&team.finished, &team.m);
    pthread_mutex_unlock(&team.m);
}

void team_run(int nt, team_fn fn, void *ctx) {
    if (nt <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&team.turn);
    int want = nt - 1 < MNIST_MAX_THREADS - 1 ? nt - 1 : MNIST_MAX_THREADS - 1; /* first_gen's size */
    if (team.nw < want && !team.cannot_start) start_workers(want);
    team.fn = fn, team.ctx = ctx, team.nt = nt;
    atomic_store_explicit(&team.done, 0, memory_order_relaxed);
    pthread_mutex_lock(&team.m); /* moved on under m: a worker going to sleep sees it or is woken */
    atomic_fetch_add_explicit(&team.gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&team.wake);
    pthread_mutex_unlock(&team.m);
    fn(ctx, 0, nt);
    for (int t = team.nw + 1; t < nt; t++) fn(ctx, t, nt); /* the shares of workers that could not start */
    if (team.nw) wait_done();
    pthread_mutex_unlock(&team.turn);
}

void team_share(long n, int t, int nt, long *a, long *b) {
    long q = n / nt, r = n % nt;
    *a = t * q + (t < r ? t : r);
    *b = *a + q + (t < r);
}

int team_cores(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
