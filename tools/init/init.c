// SPDX-License-Identifier: GPL-2.0-only
/*
 * /init of the test initramfs.  Mounts what the programs need, then either
 * runs every test program in /tests (or those kvmpf.tests= names), nesting each one's KTAP under a subtest
 * named after it (kselftest's runner does the same), or, with
 * kvmpf.cmd=SUBCOMMAND[,SUBCOMMAND...] on the kernel command line, runs
 * "/bin/kvm-prefault SUBCOMMAND" for each in turn.  Ends with a "kvmpf:
 * done" line the host harness waits for, then restarts the machine: QEMU
 * runs with -no-reboot, so a restart ends it on every arch, ACPI or not.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmdline.h"
#include "spawn.h"

#define TEST_DIR	"/tests"
#define MAX_TESTS	64

static void setup_fs(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	/* The guest programs' watchdog traces KVM's events on a hang. */
	mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) && errno != EBUSY)
		mknod("/dev/kvm", S_IFCHR | 0600, makedev(10, 232));
	mkdir("/dev/hugepages", 0755);
	mount("hugetlbfs", "/dev/hugepages", "hugetlbfs", 0, NULL);
	mkdir("/tmp", 01777);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
}

/*
 * On a kernel with kmemleak (the debug kernels), scan once after every
 * test, print what it reports and a count scripts/report.py checks.
 * kmemleak ignores objects younger than 5 s; the wait lets the last
 * test's short-lived allocations age into the scan or be freed.
 */
#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

static void kmemleak_scan(void)
{
	char line[512];
	int fd, leaks = 0;
	FILE *f;

	fd = open(KMEMLEAK, O_WRONLY);
	if (fd < 0)
		return;
	sleep(6);
	if (write(fd, "scan", 4) != 4) {
		printf("kvmpf: kmemleak: scan failed: %s\n", strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	f = fopen(KMEMLEAK, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "unreferenced object", 19))
			leaks++;
		/* The first reports in full, for the log. */
		if (leaks && leaks <= 5)
			printf("kmemleak| %s", line);
	}
	if (f)
		fclose(f);
	printf("kvmpf: kmemleak: %d unreferenced objects\n", leaks);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether @name is in the comma-separated @list (NULL: every test). */
static int selected(const char *name, const char *list)
{
	size_t len = strlen(name);
	const char *p;

	if (!list)
		return 1;
	for (p = list; (p = strstr(p, name)); p += len)
		if ((p == list || p[-1] == ',') && (p[len] == ',' || !p[len]))
			return 1;
	return 0;
}

/*
 * Every program in /tests, or those kvmpf.tests=NAME[,NAME...] names (to
 * repeat one, e.g. the storm with its seed).
 */
static int run_tests(const char *only)
{
	char *names[MAX_TESTS], path[512];
	int n = 0, i, failed = 0;
	struct dirent *de;
	DIR *d = opendir(TEST_DIR);

	while (d && (de = readdir(d)) && n < MAX_TESTS)
		if (de->d_name[0] != '.' && selected(de->d_name, only))
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);

	printf("KTAP version 1\n1..%d\n", n);
	for (i = 0; i < n; i++) {
		char *argv[] = { path, NULL };
		struct timespec t0, t1;
		int status, code;

		snprintf(path, sizeof(path), "%s/%s", TEST_DIR, names[i]);
		printf("    # Subtest: %s\n", names[i]);
		fflush(stdout);
		/* Its output indented one KTAP level. */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		status = run_prefixed(argv, "    ");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		/* Where a boot's time goes, and where a hang began. */
		printf("# %s ran %ld s\n", names[i], (long)(t1.tv_sec - t0.tv_sec));
		/* kselftest: 0 pass, 4 skip, anything else fails. */
		if (code == 4) {
			printf("ok %d %s # SKIP\n", i + 1, names[i]);
		} else {
			printf("%sok %d %s\n", code ? "not " : "", i + 1, names[i]);
			if (code) {
				printf("# %s exited with %d\n", names[i], code);
				failed++;
			}
		}
		fflush(stdout);
	}
	kmemleak_scan();
	printf("kvmpf: done: %d programs, %d failed\n", n, failed);
	return failed;
}

/*
 * Run "kvm-prefault C" for each C of the comma-separated @cmds in turn; the
 * last line carries the first non-zero exit status, or 0.
 */
static void run_commands(char *cmds)
{
	char *list = strdup(cmds), *save = NULL, *c;
	int worst = 0;

	for (c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		char *argv[] = { "/bin/kvm-prefault", c, NULL };
		pid_t pid = fork();
		int status = 0, code;

		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		waitpid(pid, &status, 0);
		code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		printf("kvmpf: kvm-prefault %s exited with %d\n\n", c, code);
		if (!worst)
			worst = code;
	}
	printf("kvmpf: done: kvm-prefault %s exited with %d\n", cmds, worst);
	free(list);
}

int main(void)
{
	char buf[4096], only[4096], *cmd;

	setup_fs();
	cmd = cmdline_value("cmd", buf, sizeof(buf));
	if (cmd && *cmd)
		run_commands(cmd);
	else
		run_tests(cmdline_value("tests", only, sizeof(only)));
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
