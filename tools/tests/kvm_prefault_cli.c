// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kvm-prefault CLI as a VMM author or a script meets it: usage errors
 * exit 2 with a message naming the problem, --help exits 0, probe --json
 * reports what KVM_CHECK_EXTENSION says for the same VM type, and demo and
 * a small bench and each of its scenarios (restore, post-copy) run end to
 * end with exact results (or exit 1 with a reason when the VM cannot
 * pre-fault).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"
#include "spawn.h"
#include "vm.h"

#define CLI		"/bin/kvm-prefault"
#define OUT_SIZE	65536

static char out[OUT_SIZE];

/* Run the CLI with @args (NULL-terminated); its output in out[], exit code. */
static int run_cli(const char *const *args)
{
	char *argv[16];
	int fd, status, n = 0, i;
	ssize_t r;
	pid_t pid;

	argv[0] = CLI;
	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	out[0] = '\0';
	pid = spawn_piped(argv, &fd);
	if (pid < 0)
		return -1;
	while ((r = read(fd, out + n, OUT_SIZE - 1 - n)) > 0)
		n += r;
	out[n] = '\0';
	close(fd);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One case: the CLI with @args exits @code and prints @text. */
static void expect(struct ktap *t, const char *name, const char *const *args,
		   int code, const char *text)
{
	int got = run_cli(args);

	if (!ktap_result(t, got == code && strstr(out, text), name)) {
		ktap_diag("exit %d (want %d), output should contain \"%s\":", got,
			  code, text);
		ktap_diag("%.600s", out);
	}
}

/* Line of out[] after the line starting with @marker, or NULL. */
static const char *line_after(const char *marker)
{
	const char *p = strstr(out, marker);

	if (!p)
		return NULL;
	p = strchr(p, '\n');
	return p ? p + 1 : NULL;
}

/* Usage errors exit 2 naming the problem; --help exits 0. */
static void usage_cases(struct ktap *t)
{
	expect(t, "help_exits_0", (const char *[]){ "--help", NULL }, 0,
	       "usage: kvm-prefault probe [--json]");
	expect(t, "no_command_is_a_usage_error", (const char *[]){ NULL }, 2,
	       "usage: kvm-prefault");
	expect(t, "unknown_command", (const char *[]){ "frobnicate", NULL }, 2,
	       "unknown command 'frobnicate'");
	expect(t, "size_zero_rejected", (const char *[]){ "demo", "--size", "0", NULL },
	       2, "--size wants MiB (1..65536), not '0'");
	expect(t, "size_not_a_number", (const char *[]){ "bench", "--size", "4x", NULL },
	       2, "--size wants MiB (1..65536), not '4x'");
	expect(t, "reps_out_of_range", (const char *[]){ "bench", "--reps", "65", NULL },
	       2, "--reps wants 1..64, not '65'");
	expect(t, "scenario_unknown", (const char *[]){ "bench", "--scenario", "frob", NULL },
	       2, "--scenario wants restore or postcopy, not 'frob'");
	expect(t, "scenario_with_table_option",
	       (const char *[]){ "bench", "--scenario", "restore", "--size", "8", NULL },
	       2, "--scenario runs no tables");
	expect(t, "option_of_another_command",
	       (const char *[]){ "probe", "--size", "8", NULL }, 2,
	       "probe takes no such option");
	expect(t, "extra_argument", (const char *[]){ "probe", "extra", NULL }, 2,
	       "unexpected argument 'extra'");
}

/* probe --json says what KVM_CHECK_EXTENSION says. */
static void probe_cases(struct ktap *t, int cap, int dev_cap)
{
	char want[256];

	snprintf(want, sizeof(want), "\"dev_kvm\": %d", dev_cap);
	expect(t, "probe_json_dev_kvm", (const char *[]){ "probe", "--json", NULL }, 0, want);
	snprintf(want, sizeof(want),
		 "{\"name\": \"default\", \"type\": 0, \"created\": true, \"error\": null, \"pre_fault\": %d}",
		 cap);
	expect(t, "probe_json_default_vm", (const char *[]){ "probe", "--json", NULL }, 0, want);
}

/* Both guests saw the host's data; the pre-faulted one took few exits. */
static void demo_case(struct ktap *t)
{
	const char *p, *q;
	long long exits;
	char want[256];
	int r;

	r = run_cli((const char *[]){ "demo", "--size", "8", NULL });
	p = strstr(out, "| guest saw the host's data ");
	q = strstr(out, "pre-faulted, it exited ");
	if (!ktap_result(t, r == 0 && p && q &&
			 sscanf(p, "| guest saw the host's data | %3s | %3s |",
				want, want + 8) == 2 &&
			 !strcmp(want, "yes") && !strcmp(want + 8, "yes") &&
			 sscanf(q, "pre-faulted, it exited %lld times", &exits) == 1 &&
			 exits >= 0 && exits <= 2048 / 100, "demo_8mib")) {
		ktap_diag("exit %d, output:", r);
		ktap_diag("%.1500s", out);
	}
}

/*
 * A small bench: its populate-write check passes, and the THP slot's
 * leaves add up: every 2 MiB the host backs with a huge page is one
 * 2 MiB leaf, the rest 4 KiB leaves, one step each.
 */
static void bench_case(struct ktap *t)
{
	unsigned long long mib, thp_mib, steps, l4k, l2m, l1g, other;
	const char *p;
	int r;

	r = run_cli((const char *[]){ "bench", "--size", "4", "--reps", "1",
				      "--thp-size", "8", "--scenario-size", "0", NULL });
	p = line_after("-- csv thp-slot --");
	p = p ? strchr(p, '\n') : NULL;	/* skip the header */
	if (!p || sscanf(p + 1, "%*[^,],%llu,%llu,%*f,%*f,%llu,%llu,%llu,%llu,%llu",
			 &mib, &thp_mib, &steps, &l4k, &l2m, &l1g, &other) != 7) {
		ktap_result(t, 0, "bench_small");
		ktap_diag("exit %d, no THP row in:", r);
		ktap_diag("%.1500s", out);
		return;
	}
	if (!ktap_result(t, r == 0 && strstr(out, "check: write-first after populate+prefault") &&
			 mib == 8 && l2m * 2 == thp_mib && l4k == (mib - thp_mib) * 256 &&
			 !l1g && !other && steps == l4k + l2m, "bench_small")) {
		ktap_diag("exit %d; THP slot %llu MiB, %llu MiB host huge pages, %llu steps: %llu x 4K, %llu x 2M, %llu x 1G, %llu other",
			  r, mib, thp_mib, steps, l4k, l2m, l1g, other);
		ktap_diag("%.1500s", out);
	}
}

/* Field @i of the CSV line at @line into @buf ("" when there is none). */
static const char *csv_field(const char *line, int i, char *buf, size_t len)
{
	size_t n;

	for (; i > 0; i--) {
		line += strcspn(line, ",\n");
		if (*line != ',')
			break;
		line++;
	}
	n = i ? 0 : strcspn(line, ",\n");
	n = n < len ? n : len - 1;
	memcpy(buf, line, n);
	buf[n] = '\0';
	return buf;
}

/*
 * One scenario on 4 MiB: @rows runs of it, each on 1024 pages, every guest
 * saw the snapshot's data, and every run with an exit limit kept it.
 */
static void scenario_case(struct ktap *t, const char *name, unsigned int rows)
{
	unsigned int n = 0, bad = 0;
	char f[5][32], test[64];
	const char *p;
	int r;

	snprintf(test, sizeof(test), "scenario_%s_4mib", name);
	r = run_cli((const char *[]){ "bench", "--scenario", name, "--scenario-size", "4",
				      NULL });
	p = line_after("-- csv scenario --");
	for (p = p ? strchr(p, '\n') : NULL; p && strncmp(p + 1, "-- end --", 9);
	     p = strchr(p + 1, '\n')) {
		n++;
		bad += strcmp(csv_field(p + 1, 1, f[0], 32), name) ||
		       strcmp(csv_field(p + 1, 5, f[1], 32), "4") ||
		       strcmp(csv_field(p + 1, 6, f[2], 32), "1024") ||
		       strcmp(csv_field(p + 1, 17, f[3], 32), "1") ||
		       (*csv_field(p + 1, 15, f[4], 32) &&
			atoll(csv_field(p + 1, 13, f[0], 32)) > atoll(f[4]));
	}
	if (!ktap_result(t, r == 0 && n == rows && !bad, test)) {
		ktap_diag("exit %d, %u CSV rows (want %u), %u bad:", r, n, rows, bad);
		ktap_diag("%.3000s", out);
	}
}

int main(void)
{
	char err[160];
	struct ktap t;
	int cap, dev_cap;

	if (vm_pre_fault_capability(&cap, &dev_cap, err, sizeof(err)))
		return ktap_fail_only(&t, "vm_create", err);

	ktap_plan(&t, 16);
	usage_cases(&t);
	probe_cases(&t, cap, dev_cap);
	if (cap != 1) {
		/* Without the capability both refuse, saying why. */
		expect(&t, "demo_refuses_without_capability",
		       (const char *[]){ "demo", "--size", "8", NULL }, 1,
		       "this VM cannot pre-fault");
		expect(&t, "bench_refuses_without_capability",
		       (const char *[]){ "bench", "--size", "4", NULL }, 1,
		       "this VM cannot pre-fault");
		expect(&t, "scenario_refuses_without_capability",
		       (const char *[]){ "bench", "--scenario", "restore",
					 "--scenario-size", "4", NULL }, 1,
		       "this VM cannot pre-fault");
		ktap_skip(&t, "scenario_postcopy_4mib", "this VM cannot pre-fault");
		return ktap_exit_code(&t);
	}
	demo_case(&t);
	bench_case(&t);
	scenario_case(&t, "restore", 16);
	scenario_case(&t, "postcopy", 4);
	return ktap_exit_code(&t);
}
