/* team.c: the CPU backend's threads (team.h says why they are ours, not OpenMP's).
 *
 * One job at a time: the caller writes it, then moves `gen` on; each worker, seeing gen move,
 * runs its share and counts itself in `done`; the caller runs share 0, then waits until all
 * workers are counted. Waiting, a thread spins for about TEAM_SPIN_US, then sleeps on a condition
 * variable; the side that moves gen or done on wakes the sleepers. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
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
    atomic_uint gen;  /* moved on for each job */
    atomic_int done;  /* workers finished with the current job */
    int nw;           /* workers started */
    team_fn fn;       /* the job */
    void *ctx;
    int nt;
    unsigned first_gen[MNIST_MAX_THREADS]; /* gen when worker i was started */
} team = {.turn = PTHREAD_MUTEX_INITIALIZER,
          .m = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .finished = PTHREAD_COND_INITIALIZER};

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins while *v == old for about TEAM_SPIN_US; whether it moved. */
static int spin_until_moved(atomic_uint *v, unsigned old) {
    double end = 0;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return 1;
        if ((i & 63) == 63) { /* the clock read now and then */
            double t = now_us();
            if (end == 0) end = t + TEAM_SPIN_US;
            else if (t > end) return 0;
        }
        relax();
    }
}

static void *worker(void *arg) {
    int me = (int)(uintptr_t)arg; /* 1-based: share me of each job */
    unsigned seen = team.first_gen[me]; /* not gen now: the first job may have begun before this ran */
    for (;;) {
        if (!spin_until_moved(&team.gen, seen)) {
            pthread_mutex_lock(&team.m);
            while (atomic_load_explicit(&team.gen, memory_order_acquire) == seen) pthread_cond_wait(&team.wake, &team.m);
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

/* In a child of fork, which has the calling thread alone: no workers (started again if needed). */
static void forked(void) {
    team.nw = 0;
    pthread_mutex_init(&team.turn, NULL);
    pthread_mutex_init(&team.m, NULL);
    pthread_cond_init(&team.wake, NULL);
    pthread_cond_init(&team.finished, NULL);
}

/* Starts workers until there are want (or one cannot be started); with team.turn held. */
static void start_workers(int want) {
    static int once;
    if (!once) once = pthread_atfork(NULL, NULL, forked) == 0;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr)) return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (team.nw < want) {
        pthread_t th;
        team.first_gen[team.nw + 1] = atomic_load(&team.gen);
        if (pthread_create(&th, &attr, worker, (void *)(uintptr_t)(team.nw + 1))) break;
        team.nw++;
    }
    pthread_attr_destroy(&attr);
}

/* Waits, spinning then asleep, until every worker has finished the job. */
static void wait_done(void) {
    double end = 0;
    for (int i = 0; atomic_load_explicit(&team.done, memory_order_acquire) < team.nw; i++) {
        if ((i & 63) == 63) {
            double t = now_us();
            if (end == 0) end = t + TEAM_SPIN_US;
            else if (t > end) break;
        }
        relax();
    }
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
    if (team.nw < nt - 1) start_workers(nt - 1 < MNIST_MAX_THREADS - 1 ? nt - 1 : MNIST_MAX_THREADS - 1);
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
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
