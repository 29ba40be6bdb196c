/* team.c: the CPU backend's threads (team.h says why they are ours, not OpenMP's).
 *
 * One job at a time: the caller writes it, then opens `claim`, one word holding the job's share
 * count and the next share not yet taken. Every thread, the caller too, takes shares from it one
 * at a time (compare and swap) and runs them, and counts each finished one in `done`; the caller
 * returns once all are. So a share waits for no particular thread: when a worker is slow to come
 * (its core busy with other work, or asleep), the caller, or another worker, runs its share.
 * The results cannot tell: a share's work depends on its number, not on the thread that runs it.
 * Waiting, a thread spins for about TEAM_SPIN_US, then sleeps on a condition variable; the side
 * that opens a job or finishes its last share wakes the sleepers. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mnist.h"
#include "team.h"
#include "util.h"

#define TEAM_SPIN_US 60 /* how long a waiting thread spins before it sleeps */

static struct {
    pthread_mutex_t turn; /* one job at a time, and the workers' count */
    pthread_mutex_t m;    /* with the two conditions: the sleepers' side */
    pthread_cond_t wake, finished;
    /* the job's share count (high 32 bits) and its next share (low 32): a share is taken by moving
     * the word on by one, while the next is below the count (a cache line of its own: the workers
     * spin on it) */
    _Alignas(64) atomic_uint_least64_t claim;
    _Alignas(64) atomic_int done; /* shares of the current job finished */
    int nw;                       /* workers started */
    int cannot_start;             /* a worker could not be started: none is tried again */
    atomic_int spin;              /* whether waiting threads spin first: not when there are more than cores */
    team_fn fn;                   /* the job, written before claim opens it */
    void *ctx;
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

/* Whether the claim word c has a share left to take. */
static int open_job(uint64_t c) { return (uint32_t)c < (uint32_t)(c >> 32); }

/* Takes the shares of the open job, if any, one at a time, and runs them; returns when none is
 * left to take. A share taken keeps its job from finishing, so the caller is still waiting for it
 * and fn and ctx are that job's (written before the word that opened it, read after taking). The
 * word's value alone names the share: a thread whose word is from an earlier job and whose swap
 * succeeds takes that share of the job open now. `caller`: whether the caller runs this, which
 * need not wake itself when it finishes the last share. */
static void take_shares(int caller) {
    uint64_t c = atomic_load_explicit(&team.claim, memory_order_acquire);
    while (open_job(c)) {
        if (!atomic_compare_exchange_weak_explicit(&team.claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* c is the word now */
        int t = (int)(uint32_t)c, nt = (int)(c >> 32);
        team.fn(team.ctx, t, nt);
        if (atomic_fetch_add_explicit(&team.done, 1, memory_order_acq_rel) + 1 == nt && !caller) {
            pthread_mutex_lock(&team.m); /* the caller may be asleep */
            pthread_cond_signal(&team.finished);
            pthread_mutex_unlock(&team.m);
        }
        c = atomic_load_explicit(&team.claim, memory_order_acquire);
    }
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        take_shares(0);
        spin s = {0};
        while (!open_job(atomic_load_explicit(&team.claim, memory_order_acquire)) && spin_on(&s)) {}
        if (!open_job(atomic_load_explicit(&team.claim, memory_order_acquire))) {
            pthread_mutex_lock(&team.m);
            while (!open_job(atomic_load_explicit(&team.claim, memory_order_acquire)))
                pthread_cond_wait(&team.wake, &team.m);
            pthread_mutex_unlock(&team.m);
        }
    }
    return NULL;
}

/* fork: taken between jobs (prepare holds both locks, which parent and child let go); the child
 * has the forking thread alone, so no workers, which are started again when needed. (A share that
 * forks waits forever: prepare waits for the job to end.) */
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
    /* new conditions: the old ones still count the parent's sleepers, and would wait for them */
    pthread_cond_init(&team.wake, NULL);
    pthread_cond_init(&team.finished, NULL);
    fork_parent();
}

/* Starts workers until there are want; with team.turn held. When one cannot be started, no more
 * are tried: the caller runs their shares. The workers take no signals (the caller's thread
 * does: a handler that runs while a file is being written, util.c's, expects to be there). */
static void start_workers(int want) {
    static int hooked;
    if (!hooked) hooked = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
    while (team.nw < want) {
        if (thread_start_quiet(worker, NULL)) {
            team.cannot_start = 1;
            break;
        }
        team.nw++;
    }
    atomic_store_explicit(&team.spin, team.nw + 1 <= team_cores(), memory_order_relaxed);
}

/* Waits, spinning then asleep, until the job's nt shares have finished. */
static void wait_done(int nt) {
    spin s = {0};
    while (atomic_load_explicit(&team.done, memory_order_acquire) < nt && spin_on(&s)) {}
    if (atomic_load_explicit(&team.done, memory_order_acquire) == nt) return;
    pthread_mutex_lock(&team.m);
    while (atomic_load_explicit(&team.done, memory_order_acquire) < nt) pthread_cond_wait(&team.finished, &team.m);
    pthread_mutex_unlock(&team.m);
}

void team_run(int nt, team_fn fn, void *ctx) {
    if (nt <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&team.turn);
    int want = nt - 1 < MNIST_MAX_THREADS - 1 ? nt - 1 : MNIST_MAX_THREADS - 1;
    if (team.nw < want && !team.cannot_start) start_workers(want);
    team.fn = fn, team.ctx = ctx;
    atomic_store_explicit(&team.done, 0, memory_order_relaxed);
    pthread_mutex_lock(&team.m); /* opened under m: a worker going to sleep sees it or is woken */
    atomic_store_explicit(&team.claim, (uint64_t)nt << 32, memory_order_release);
    if (nt - 1 >= team.nw)
        pthread_cond_broadcast(&team.wake);
    else /* the workers this job has shares for, not all: the spinning ones take shares too */
        for (int i = 0; i < nt - 1; i++) pthread_cond_signal(&team.wake);
    pthread_mutex_unlock(&team.m);
    take_shares(1);
    wait_done(nt);
    pthread_mutex_unlock(&team.turn);
}

void team_share(long n, int t, int nt, long *a, long *b) {
    long q = n / nt, r = n % nt;
    *a = t * q + (t < r ? t : r);
    *b = *a + q + (t < r);
}

/* The quota of the cgroup folder dir in CPUs, rounded up: v2's cpu.max ("QUOTA PERIOD", or "max
 * PERIOD": none), v1's cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us; 0 for none. */
static int quota_cpus(const char *dir, int v1) {
    char name[4200 + 32]; /* dir (4200 at most) and a file name */
    long long quota = 0, period = 0;
    snprintf(name, sizeof name, "%s/%s", dir, v1 ? "cpu.cfs_quota_us" : "cpu.max");
    FILE *f = fopen(name, "r");
    if (!f) return 0;
    int got = fscanf(f, "%lld %lld", &quota, &period);
    fclose(f);
    if (v1) {
        snprintf(name, sizeof name, "%s/cpu.cfs_period_us", dir);
        if (got != 1 || !(f = fopen(name, "r"))) return 0;
        got = 1 + fscanf(f, "%lld", &period);
        fclose(f);
    }
    if (got != 2 || quota <= 0 || period <= 0) return 0; /* "max", -1, or not numbers */
    long long cpus = (quota + period - 1) / period;
    return cpus > 1 << 20 ? 1 << 20 : (int)cpus;
}

int team_cgroup_cpus(const char *self, const char *root) {
    FILE *f = fopen(self, "r");
    if (!f) return 0;
    char line[4096], path[4096] = "";
    int found = 0, v1 = 0;
    while (fgets(line, sizeof line, f)) { /* "ID:CONTROLLERS:PATH" */
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/') continue;
        *c1 = *c2 = '\0';
        int v2 = !strcmp(line, "0") && c1[1] == '\0', cpu = 0; /* v2: "0::PATH" */
        /* v1: the hierarchy whose controllers include cpu ("cpu,cpuacct") */
        for (char *save = NULL, *t = strtok_r(c1 + 1, ",", &save); t; t = strtok_r(NULL, ",", &save))
            cpu |= !strcmp(t, "cpu");
        if (cpu || (!found && v2)) {
            snprintf(path, sizeof path, "%s", c2 + 1);
            found = 1, v1 = cpu;
            if (cpu) break; /* where the cpu controller is v1's, v2's hierarchy has none */
        }
    }
    fclose(f);
    if (!found) return 0;
    char dir[4200];
    int n = snprintf(dir, sizeof dir, "%s%s", root, v1 ? "/cpu" : ""), base = n, least = 0;
    if (n < 0 || (size_t)n + strlen(path) >= sizeof dir) return 0;
    strcat(dir, path);
    for (;;) { /* the cgroup, then each one above it, to the mount's root */
        int q = quota_cpus(dir, v1);
        if (q > 0 && (least == 0 || q < least)) least = q;
        char *slash = strrchr(dir + base, '/');
        if (!slash) break;
        *slash = '\0';
    }
    return least;
}

/* The affinity's count, less where a cgroup's quota allows fewer (a container run with --cpus 2 on
 * a machine of 64 cores: 64 threads, most of them throttled, each step waiting for the slowest),
 * read once. */
static int cores;
static void count_cores(void) {
    int n = 0;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = CPU_COUNT(&set);
#endif
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    int q = team_cgroup_cpus("/proc/self/cgroup", "/sys/fs/cgroup");
    cores = q > 0 && q < n ? q : n;
}

int team_cores(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, count_cores);
    return cores;
}
