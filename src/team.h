/* team.h: the CPU backend's threads: one team for the process, which runs the n shares of a job
 * at once and returns when all have finished.
 *
 * Why not OpenMP: between two parallel loops, GNU OpenMP's threads spin for 300000 rounds (18 ms
 * on this project's machine) before they sleep. With a core free for each thread that costs
 * nothing; with any other work on the machine, the spinning thread holds the core its partner
 * needs, and a step has a dozen such loops: an epoch of the lab's network took 17-31 s instead of
 * 3, one of a 784-256-10 network 7-35 s instead of 0.25 (bench/notes/threads.md). The environment
 * can tell OpenMP otherwise, but only before the program starts. Our threads spin for about
 * TEAM_SPIN_US, longer than the threads of a quiet machine wait for each other, then sleep; with
 * more threads than cores (--threads 8 on 2) they do not spin at all. */
#ifndef MNIST_TEAM_H
#define MNIST_TEAM_H

#include <stddef.h>

/* Share t of nt of a job. */
typedef void (*team_fn)(void *ctx, int t, int nt);

/* Runs fn(ctx, t, nt) for t = 0..nt-1 and returns when all have returned; nt <= 1 runs fn on the
 * caller's thread alone. The shares run at once on the team's threads and the caller's, each
 * share on whichever thread takes it first: a share's work must depend on t, never on the thread
 * (nor on two shares running at the same time), and then the results do not change. The team's
 * threads are started at the first call that needs them (nt - 1 of them, at most; when one cannot
 * be started, none is tried again, and the others take its shares) and live as long as the
 * process; they take no signals. Calls from two threads at once take turns; fn must not call
 * team_run itself. */
void team_run(int nt, team_fn fn, void *ctx);

/* [*a, *b): share t's part of [0, n), in contiguous pieces that differ in size by at most 1. */
void team_share(long n, int t, int nt, long *a, long *b);

/* The number of cores this process may run on (at least 1): those of its CPU affinity, or fewer
 * where its cgroup's CPU quota allows fewer (team_cgroup_cpus). */
int team_cores(void);

/* The CPUs, rounded up, that the cgroup CPU quotas allow a process whose /proc/PID/cgroup is the
 * file self, with the cgroup file systems mounted at root (/sys/fs/cgroup): the least of its
 * cgroup's and those above it, to the mount's root (v2: cpu.max; v1: the cpu controller's
 * cpu.cfs_quota_us over cpu.cfs_period_us, mounted at root/cpu); 0 where none sets one. A
 * container that sees its own cgroup as the mount's root finds its quota there. */
int team_cgroup_cpus(const char *self, const char *root);

#endif
