/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A hang is a failure with evidence: ioctls issued through watchdog_ioctl()
 * are timed, and one that has not returned after the limit makes a monitor
 * thread print every task's kernel stack (/proc/PID/task/TID/stack), ask
 * the kernel for sysrq-t and sysrq-d (task states, locks held), print
 * "kvmpf: watchdog: ..." (a failure for scripts/report.py) and restart
 * the machine, since a task stuck in the kernel may never let the test end.
 */
#ifndef KVMPF_WATCHDOG_H
#define KVMPF_WATCHDOG_H

/* Seconds an ioctl may take before the watchdog fires. */
#define WATCHDOG_LIMIT_S	30

/*
 * Start the monitor thread (once per process; later calls do nothing).
 * 0 or -errno.
 */
int watchdog_start(unsigned int limit_s);

/* ioctl(2), timed under the name @what while the monitor runs. */
int watchdog_ioctl(int fd, unsigned long request, void *arg, const char *what);

/* Print every task's kernel stack and trigger sysrq-t and sysrq-d. */
void watchdog_dump_tasks(void);

#endif
