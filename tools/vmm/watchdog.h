/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A hang is a failure with evidence: ioctls issued through watchdog_ioctl()
 * are timed, and one that has not returned after the limit makes a monitor
 * thread print what a vCPU being run did meanwhile (its statistics), every
 * task's kernel stack (/proc/PID/task/TID/stack), ask the kernel for
 * sysrq-t, sysrq-d and sysrq-l (task states, locks held, what each CPU
 * runs), print "kvmpf: watchdog: ..." (a failure for scripts/report.py)
 * and restart the machine, since a task stuck in the kernel may never let
 * the test end.
 */
#ifndef KVMPF_WATCHDOG_H
#define KVMPF_WATCHDOG_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#define TRACEFS	"/sys/kernel/tracing"

/*
 * Write @text to the tracefs file @file (a path under TRACEFS), replacing
 * what it holds or, with @append, adding to it: 0 or -errno.
 */
int tracefs_write(const char *file, const char *text, int append);

/* Seconds an ioctl may take before the watchdog fires. */
#define WATCHDOG_LIMIT_S	30

/*
 * Start the monitor thread (once per process; later calls do nothing).
 * 0 or -errno.
 */
int watchdog_start(unsigned int limit_s);

/* ioctl(2), timed under the name @what while the monitor runs. */
int watchdog_ioctl(int fd, unsigned long request, void *arg, const char *what);

/*
 * The same for an ioctl a signal can end (KVM_RUN): when stuck past the
 * limit it is reported as above, then interrupted (WATCHDOG_KICK_SIGNAL)
 * instead of the machine being restarted, and returns EINTR with
 * watchdog_kicked() true.  Its caller must then fail or explain the call;
 * one that does not return within 5 s of the kick restarts the machine.
 */
int watchdog_ioctl_kickable(int fd, unsigned long request, void *arg,
			    const char *what);

#define WATCHDOG_KICK_SIGNAL	(SIGRTMIN + 2)

/* Whether this thread's last kickable ioctl was interrupted; clears it. */
bool watchdog_kicked(void);

/* Print every task's kernel stack and trigger sysrq-t, -d and -l. */
void watchdog_dump_tasks(void);

/*
 * What the watchdog can say about a file descriptor beyond the stacks: a
 * vCPU's statistics tell a guest that loops through exits from one that is
 * blocked.  Called from the monitor thread with the ioctl still stuck.
 */
typedef void watchdog_describe_fn(void *ctx, FILE *out);

/*
 * Describe hung ioctls on @fd with @fn(@ctx, ...) from now on; @fn NULL
 * forgets @fd.  0, or -ENOSPC when the table is full.
 */
int watchdog_describe_fd(int fd, watchdog_describe_fn *fn, void *ctx);

#endif
