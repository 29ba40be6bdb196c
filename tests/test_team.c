/* test_team.c: the CPU backend's threads (src/team.c): every share of a job runs once, and the
 * caller sees all its writes when team_run returns; the shares run at once on different threads;
 * more shares than threads take turns; teams of any size one after another;
 * two callers at once; shares that split a range exactly. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "mnist.h"
#include "team.h"

#define MAX_NT 16                          /* the jobs' threads, at most, but for one */
#define SHARES (MNIST_MAX_THREADS + 40) /* that one's shares: past the team's most threads */
#define N 100000

typedef struct {
    int *out;              /* N: each element written by the share that owns it */
    atomic_int runs[SHARES]; /* how often each share ran */
    pthread_t who[SHARES];   /* the thread that ran it */
    int round;
} job;

static void fill(void *p, int t, int nt) {
    job *j = p;
    atomic_fetch_add(&j->runs[t], 1);
    j->who[t] = pthread_self();
    long a, b;
    team_share(N, t, nt, &a, &b);
    for (long i = a; i < b; i++) j->out[i] = j->round * 7 + t;
}

/* One job of nt shares: 0 when every share ran once and every element holds its share's value. */
static int one_job(job *j, int nt, int round) {
    for (int t = 0; t < SHARES; t++) atomic_store(&j->runs[t], 0);
    j->round = round;
    team_run(nt, fill, j);
    int bad = 0;
    for (int t = 0; t < nt; t++) {
        bad |= atomic_load(&j->runs[t]) != 1;
        long a, b;
        team_share(N, t, nt, &a, &b);
        for (long i = a; i < b; i++) bad |= j->out[i] != round * 7 + t;
    }
    return bad;
}

/* Each share counts itself in, then waits (at most 5 s) until all nt have: they can all be in at
 * once only when each runs on a thread of its own. (team.h promises callers no such thing: this
 * checks that the team has its threads and uses them, and fails where they cannot be started.) */
static atomic_int arrived;
static atomic_int all_in;
static void meet(void *p, int t, int nt) {
    job *j = p;
    j->who[t] = pthread_self();
    atomic_fetch_add(&arrived, 1);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (atomic_load(&arrived) == nt) return;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - t0.tv_sec < 5);
    atomic_store(&all_in, 0);
}

static int slow_round;

/* Share t writes out[t]; the last share first sleeps 5 ms. */
static void slow(void *p, int t, int nt) {
    job *j = p;
    if (t == nt - 1) nanosleep(&(struct timespec){0, 5000000}, NULL);
    j->out[t] = slow_round;
}

static void *caller(void *arg) {
    job *j = arg;
    int bad = 0;
    for (int r = 0; r < 300; r++) bad |= one_job(j, 2 + r % 3, r);
    return (void *)(size_t)bad;
}

/* A file of text, its folders made first. */
static void put(const char *root, const char *rel, const char *text) {
    char path[512], cmd[600];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    if (system(cmd) != 0) return;
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

/* The cgroup CPU quota, on trees made here as the kernel shows them (v2 and v1, a container's view
 * and a service's): the least quota from the cgroup up, rounded up; 0 where none is set. */
static void test_cgroup_cpus(void) {
    char root[] = "/tmp/test_team.XXXXXX", self[64], fs[64];
    if (!mkdtemp(root)) {
        check(0, "a temporary folder");
        return;
    }
    snprintf(self, sizeof self, "%s/cgroup", root);
    snprintf(fs, sizeof fs, "%s/fs", root);
    check(team_cgroup_cpus(self, fs) == 0, "no /proc/self/cgroup: no quota");
    /* v2, a service's cgroup under a slice: the slice's 1.5 CPUs are the least, rounded up */
    put(root, "cgroup", "0::/a.slice/b.service\n");
    put(fs, "a.slice/b.service/cpu.max", "max 100000\n");
    put(fs, "a.slice/cpu.max", "150000 100000\n");
    put(fs, "cpu.max", "800000 100000\n");
    check(team_cgroup_cpus(self, fs) == 2, "v2: the least quota above the cgroup (1.5 CPUs: 2), %d", team_cgroup_cpus(self, fs));
    put(fs, "a.slice/b.service/cpu.max", "50000 100000\n");
    check(team_cgroup_cpus(self, fs) == 1, "v2: the cgroup's own half a CPU: 1");
    put(fs, "a.slice/b.service/cpu.max", "max 100000\n");
    put(fs, "a.slice/cpu.max", "max 100000\n");
    put(fs, "cpu.max", "max 100000\n");
    check(team_cgroup_cpus(self, fs) == 0, "v2: max everywhere, no quota");
    /* a container: its own cgroup is the mount's root, /proc/self/cgroup "0::/" */
    put(root, "cgroup", "0::/\n");
    put(fs, "cpu.max", "300000 100000\n");
    check(team_cgroup_cpus(self, fs) == 3, "v2 in a container: the root's 3 CPUs");
    /* v1 (and a hybrid's v2 line, whose hierarchy has no cpu controller): the cpu controller's quota,
     * its cgroup's path not under the mount (a container's view), so the mount's root holds it */
    put(root, "cgroup", "12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n0::/docker/x\n");
    put(fs, "cpu/cpu.cfs_quota_us", "250000\n");
    put(fs, "cpu/cpu.cfs_period_us", "100000\n");
    check(team_cgroup_cpus(self, fs) == 3, "v1: the cpu controller's 2.5 CPUs: 3, %d", team_cgroup_cpus(self, fs));
    put(fs, "cpu/cpu.cfs_quota_us", "-1\n");
    check(team_cgroup_cpus(self, fs) == 0, "v1: a quota of -1 is none");
    put(root, "cgroup", "garbage\n::\n");
    check(team_cgroup_cpus(self, fs) == 0, "a cgroup file of no lines of the kernel's form: no quota");
    put(root, "cgroup", "0::/\n");
    put(fs, "cpu.max", "lots 100000\n");
    check(team_cgroup_cpus(self, fs) == 0, "a cpu.max that is not numbers: no quota");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) check(0, "removing %s", root);
    /* this process: within 1 and the affinity's count, whatever the machine's cgroups say */
    cpu_set_t set;
    int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    check(allowed > 0 && team_cores() >= 1 && team_cores() <= allowed, "team_cores: %d, of %d cores this process may use",
          team_cores(), allowed);
}

int main(void) {
    test_cgroup_cpus();
    // shares: contiguous, in order, sizes within 1, covering the range exactly
    int ok = 1;
    for (long n = 0; n < 40; n++)
        for (int nt = 1; nt <= 9; nt++) {
            long end = 0, lo = n, hi = 0;
            for (int t = 0; t < nt; t++) {
                long a, b;
                team_share(n, t, nt, &a, &b);
                ok &= a == end && b >= a;
                end = b;
                lo = b - a < lo ? b - a : lo, hi = b - a > hi ? b - a : hi;
            }
            ok &= end == n && hi - lo <= 1;
        }
    check(ok, "team_share splits 0..39 items among 1..9 threads in order, exactly, sizes within 1");

    job *j = calloc(1, sizeof *j);
    j->out = calloc(N, sizeof(int));
    int bad = 0;
    for (int r = 0; r < 400; r++) bad |= one_job(j, 1 + r % MAX_NT, r); /* the team grows and shrinks */
    check(!bad, "400 jobs of 1 to %d threads: each share once, all writes seen", MAX_NT);

    // the shares run at once, each on its own thread
    int met = 1;
    for (int nt = 2; nt <= 6; nt++) {
        atomic_store(&arrived, 0), atomic_store(&all_in, 1);
        team_run(nt, meet, j);
        met &= atomic_load(&all_in);
        for (int t = 0; t < nt; t++)
            for (int u = 0; u < t; u++) met &= !pthread_equal(j->who[t], j->who[u]);
    }
    check(met, "jobs of 2 to 6 shares that each wait for all the others: all run at once, on threads of their own");

    // jobs with pauses between them, long enough for the workers to fall asleep
    bad = 0;
    for (int r = 0; r < 20; r++) {
        nanosleep(&(struct timespec){0, 2000000}, NULL);
        bad |= one_job(j, 4, r);
    }
    check(!bad, "20 jobs, each after the workers went to sleep: all shares run");

    // a share that takes long: the caller goes to sleep waiting for it, and is woken
    bad = 0;
    for (int r = 0; r < 5; r++) {
        slow_round = r;
        team_run(3, slow, j);
        bad |= j->out[0] != r || j->out[1] != r || j->out[2] != r;
    }
    check(!bad, "5 jobs whose last share sleeps 5 ms: the caller waits for it, asleep, and sees its writes");

    // two callers at once take turns
    job *k = calloc(1, sizeof *k);
    k->out = calloc(N, sizeof(int));
    pthread_t th;
    void *r1 = (void *)1;
    int started = pthread_create(&th, NULL, caller, k) == 0;
    void *r0 = caller(j);
    if (started) pthread_join(th, &r1);
    check(started && !r0 && !r1, "two threads calling team_run 300 times each at once: every job whole");

    // a fork while the workers sleep: the child has none, starts its own and runs jobs (it waited
    // forever at its second job: the conditions it inherited still counted the parent's sleepers)
    nanosleep(&(struct timespec){0, 20000000}, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20); /* a child that hangs is killed, and the check below fails */
        int cbad = 0;
        for (int r = 0; r < 50; r++) cbad |= one_job(j, 2 + r % 3, r);
        _exit(cbad);
    }
    int st = -1;
    if (pid > 0) waitpid(pid, &st, 0);
    bad = 0;
    for (int r = 0; r < 20; r++) bad |= one_job(j, 3, r);
    check(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && !bad,
          "a fork while the workers sleep: the child runs 50 jobs of 2 to 4 shares, the parent goes on (child %s %d)",
          pid > 0 && WIFEXITED(st) ? "status" : "signal", pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));

    // more shares than a team may have threads: the threads take turns at them
    bad = one_job(j, SHARES, 77);
    check(!bad, "a job of %d shares (the team has at most %d threads): every share runs once", SHARES,
          MNIST_MAX_THREADS);

    j->round = 5;
    team_run(1, fill, j); /* one thread: the caller's alone */
    check(pthread_equal(j->who[0], pthread_self()) && j->out[N - 1] == 35, "a team of one runs on the caller's thread");
    free(j->out), free(j), free(k->out), free(k);
    return check_status();
}
