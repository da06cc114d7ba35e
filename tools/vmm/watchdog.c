// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ioctl watchdog of the guest programs: see watchdog.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "watchdog.h"

#define WATCHDOG_THREADS	64
#define WATCHDOG_DESCRIBED	16

/* One per thread that issued a timed ioctl: when it started, or 0. */
struct watchdog_call {
	_Atomic uint64_t since_ns;
	const char *_Atomic what;
	_Atomic int fd;
	_Atomic int kickable;	/* may be interrupted, see watchdog_kicked() */
	_Atomic int kicked;
	pthread_t thread;
	pid_t tid;
};

/* File descriptors with a describer; fd -1 marks a free entry. */
struct watchdog_described {
	int fd;
	watchdog_describe_fn *fn;
	void *ctx;
};

static struct watchdog_call watchdog_calls[WATCHDOG_THREADS];
static struct watchdog_described watchdog_described[WATCHDOG_DESCRIBED] = {
	[0 ... WATCHDOG_DESCRIBED - 1] = { .fd = -1 },
};
static pthread_mutex_t watchdog_described_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int watchdog_nr_calls;
static __thread struct watchdog_call *watchdog_mine;
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;
static unsigned int watchdog_limit_s;
static int watchdog_err;
/*
 * The report goes straight to the console: the program's own output may
 * sit in a pipe to /init when the machine restarts.
 */
static FILE *watchdog_out;

static uint64_t watchdog_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int watchdog_timed_ioctl(int fd, unsigned long request, void *arg,
				const char *what, bool kickable)
{
	struct watchdog_call *call = watchdog_mine;
	int r, err;

	if (!call) {
		int i = atomic_fetch_add(&watchdog_nr_calls, 1);

		/* Threads beyond the table run their ioctls untimed. */
		if (i >= WATCHDOG_THREADS)
			return ioctl(fd, request, arg);
		call = &watchdog_calls[i];
		call->tid = syscall(SYS_gettid);
		call->thread = pthread_self();
		watchdog_mine = call;
	}
	atomic_store(&call->what, what);
	atomic_store(&call->fd, fd);
	atomic_store(&call->kickable, kickable);
	/* A kick that raced with the previous call's return is not this one's. */
	atomic_store(&call->kicked, 0);
	atomic_store(&call->since_ns, watchdog_now_ns());
	r = ioctl(fd, request, arg);
	err = errno;
	atomic_store(&call->since_ns, 0);
	errno = err;
	return r;
}

int watchdog_ioctl(int fd, unsigned long request, void *arg, const char *what)
{
	return watchdog_timed_ioctl(fd, request, arg, what, false);
}

int watchdog_ioctl_kickable(int fd, unsigned long request, void *arg,
			    const char *what)
{
	return watchdog_timed_ioctl(fd, request, arg, what, true);
}

bool watchdog_kicked(void)
{
	return watchdog_mine && atomic_exchange(&watchdog_mine->kicked, 0);
}

static void watchdog_on_kick(int sig)
{
	(void)sig;
}

int watchdog_describe_fd(int fd, watchdog_describe_fn *fn, void *ctx)
{
	struct watchdog_described *d, *free_entry = NULL;
	int i, r = 0;

	pthread_mutex_lock(&watchdog_described_lock);
	for (i = 0; i < WATCHDOG_DESCRIBED; i++) {
		d = &watchdog_described[i];
		if (d->fd == fd) {
			d->fd = -1;
			free_entry = d;
		} else if (d->fd < 0 && !free_entry) {
			free_entry = d;
		}
	}
	if (fn && free_entry)
		*free_entry = (struct watchdog_described){ fd, fn, ctx };
	else if (fn)
		r = -ENOSPC;
	pthread_mutex_unlock(&watchdog_described_lock);
	return r;
}

/* The describer of @fd, if any, on the report. */
static void watchdog_describe(int fd)
{
	struct watchdog_described d = { .fd = -1 };
	int i;

	pthread_mutex_lock(&watchdog_described_lock);
	for (i = 0; i < WATCHDOG_DESCRIBED; i++)
		if (watchdog_described[i].fd == fd)
			d = watchdog_described[i];
	pthread_mutex_unlock(&watchdog_described_lock);
	if (d.fd >= 0)
		d.fn(d.ctx, watchdog_out);
}

static void watchdog_print_file(const char *path, const char *prefix)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(watchdog_out, "%s%s: %s\n", prefix, path, strerror(errno));
		return;
	}
	errno = 0;
	while (fgets(line, sizeof(line), f))
		fprintf(watchdog_out, "%s%s%s", prefix, line,
			strchr(line, '\n') ? "" : "\n");
	if (ferror(f))
		fprintf(watchdog_out, "%s%s: %s\n", prefix, path, strerror(errno));
	fclose(f);
}

#define WATCHDOG_TRACE_LINES	40

int tracefs_write(const char *file, const char *text, int append)
{
	char path[128];
	int fd, r;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -errno;
	close(fd);
	return r;
}

/*
 * KVM's trace events for a tenth of a second: which exits, faults,
 * emulations and injected exceptions a stuck vCPU goes through, and at
 * which addresses: each different event once with its count (kvm_entry
 * only counted), or why there is no trace.
 */
static void watchdog_trace_kvm(void)
{
	static char ring[WATCHDOG_TRACE_LINES][256];	/* each different event */
	unsigned int repeats[WATCHDOG_TRACE_LINES];
	unsigned int n = 0, entries = 0, events = 0, i;
	char line[256];
	FILE *f;
	int r;

	r = tracefs_write("trace", "", 0);
	if (!r)
		r = tracefs_write("events/kvm/enable", "1", 0);
	if (r) {
		fprintf(watchdog_out, "# watchdog: no KVM trace: %s\n", strerror(-r));
		return;
	}
	usleep(100000);
	tracefs_write("events/kvm/enable", "0", 0);
	f = fopen(TRACEFS "/trace", "r");
	if (!f) {
		fprintf(watchdog_out, "# watchdog: no KVM trace: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		/* "comm-tid [cpu] flags time: event: ...", comm maybe kvm_... */
		char *event = strstr(line, ": kvm_");

		if (line[0] == '#' || !event)
			continue;
		event += 2;
		if (!strncmp(event, "kvm_entry: ", 11)) {
			entries++;
			continue;
		}
		event[strcspn(event, "\n")] = '\0';
		/* A loop repeats the same events: keep each different one once. */
		for (i = 0; i < n && strcmp(ring[i], event); i++)
			;
		if (i < n) {
			repeats[i]++;
		} else if (n < WATCHDOG_TRACE_LINES) {
			snprintf(ring[n], sizeof(ring[0]), "%s", event);
			repeats[n++] = 1;
		}
		events++;
	}
	fclose(f);
	fprintf(watchdog_out, "# watchdog: KVM trace for 0.1 s: %u guest entries, %u other events, %u different ones:\n",
		entries, events, n);
	for (i = 0; i < n; i++)
		fprintf(watchdog_out, "# watchdog: trace: %ux %s\n", repeats[i], ring[i]);
}

static void watchdog_sysrq(char key)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd < 0) {
		fprintf(watchdog_out, "# watchdog: /proc/sysrq-trigger: %s\n",
			strerror(errno));
		return;
	}
	if (write(fd, &key, 1) != 1)
		fprintf(watchdog_out, "# watchdog: sysrq-%c: %s\n", key,
			strerror(errno));
	close(fd);
}

void watchdog_dump_tasks(void)
{
	if (!watchdog_out)
		watchdog_out = stdout;
	DIR *procs = opendir("/proc"), *tasks;
	struct dirent *p, *t;
	char path[600], comm[64];

	while (procs && (p = readdir(procs))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		tasks = opendir(path);
		while (tasks && (t = readdir(tasks))) {
			FILE *f;

			if (t->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/comm",
				 p->d_name, t->d_name);
			f = fopen(path, "r");
			comm[0] = '\0';
			if (f && !fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			if (f)
				fclose(f);
			comm[strcspn(comm, "\n")] = '\0';
			fprintf(watchdog_out, "# watchdog: task %s/%s (%s):\n",
				p->d_name, t->d_name, comm);
			snprintf(path, sizeof(path), "/proc/%s/task/%s/stack",
				 p->d_name, t->d_name);
			watchdog_print_file(path, "#   ");
		}
		if (tasks)
			closedir(tasks);
	}
	if (procs)
		closedir(procs);
	fflush(watchdog_out);
	watchdog_sysrq('t');
	watchdog_sysrq('d');
	/* A task spinning in the kernel has no /proc stack: CPU backtraces. */
	watchdog_sysrq('l');
}

/*
 * Interrupt a kickable call (KVM_RUN) with a signal and give it 5 s to
 * return: its caller learns from watchdog_kicked() that it was stuck and
 * decides what that was.  True when it returned.
 */
static bool watchdog_kick(struct watchdog_call *call)
{
	int i;

	atomic_store(&call->kicked, 1);
	fprintf(watchdog_out, "# watchdog: interrupting %s on thread %d; its caller reports why it was stuck\n",
		atomic_load(&call->what), call->tid);
	fflush(watchdog_out);
	for (i = 0; i < 50; i++) {
		pthread_kill(call->thread, WATCHDOG_KICK_SIGNAL);
		usleep(100000);
		if (!atomic_load(&call->since_ns))
			return true;
	}
	atomic_store(&call->kicked, 0);
	return false;
}

static void *watchdog_main(void *unused)
{
	uint64_t limit_ns = watchdog_limit_s * 1000000000ULL;
	int i, n;

	(void)unused;
	for (;;) {
		sleep(1);
		n = atomic_load(&watchdog_nr_calls);
		for (i = 0; i < n && i < WATCHDOG_THREADS; i++) {
			struct watchdog_call *call = &watchdog_calls[i];
			uint64_t since = atomic_load(&call->since_ns);

			if (!since || watchdog_now_ns() - since < limit_ns)
				continue;
			fprintf(watchdog_out, "# watchdog: %s on thread %d has not returned for %u s\n",
				atomic_load(&call->what), call->tid, watchdog_limit_s);
			watchdog_describe(atomic_load(&call->fd));
			watchdog_trace_kvm();
			if (atomic_load(&call->kickable) && watchdog_kick(call))
				continue;
			/*
			 * The failure line before the sysrq output, which the
			 * kernel prints to the same console as it comes.
			 */
			fprintf(watchdog_out, "kvmpf: watchdog: %s hung for %u s on thread %d\n",
				atomic_load(&call->what), watchdog_limit_s, call->tid);
			fprintf(watchdog_out, "# watchdog: every task's kernel stack follows\n");
			fflush(watchdog_out);
			watchdog_dump_tasks();
			fflush(stdout);
			sync();
			/* Let the console drain the sysrq output first. */
			sleep(2);
			/* The stuck task may never let this program exit. */
			reboot(RB_AUTOBOOT);
			_exit(1);
		}
	}
	return NULL;
}

static void watchdog_spawn(void)
{
	/* No SA_RESTART: the kick must end the stuck ioctl with EINTR. */
	struct sigaction kick = { .sa_handler = watchdog_on_kick };
	pthread_t thread;

	sigaction(WATCHDOG_KICK_SIGNAL, &kick, NULL);
	watchdog_out = fopen("/dev/console", "w");
	if (!watchdog_out)
		watchdog_out = stdout;
	watchdog_err = -pthread_create(&thread, NULL, watchdog_main, NULL);
	if (!watchdog_err)
		pthread_detach(thread);
}

int watchdog_start(unsigned int limit_s)
{
	if (!watchdog_limit_s)
		watchdog_limit_s = limit_s;
	pthread_once(&watchdog_once, watchdog_spawn);
	return watchdog_err;
}
