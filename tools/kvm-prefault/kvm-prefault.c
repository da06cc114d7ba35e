// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault: what a VMM sees of KVM_PRE_FAULT_MEMORY on this machine.
 *
 *   probe   the capability on /dev/kvm and on a VM of every type the arch
 *           offers, as a table or JSON
 *   demo    a VM with one slot, pre-faulted through libkvmprefault, and a
 *           guest that reads every page of it, next to one that is not
 *           pre-faulted
 *   bench   guest first touch (read and write) with no pre-fault, with
 *           pre-fault, and with populate-write + pre-fault; and the
 *           pre-fault of a host-populated THP-backed slot; per-page costs
 *           and 1 vs 2 vCPUs pre-faulting in parallel
 *           (bench.c); then the end-to-end scenarios, restore from a
 *           snapshot and post-copy through userfaultfd (scenario.h)
 *   profile where the time of a guest fault and of a pre-fault goes, from
 *           the kernel's function profiler
 *
 * This file reads the command line; each command is a file of its own
 * (kvm-prefault.h).
 *
 * Exit status: 0 success, 1 a KVM call or a bench check failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "kvm-prefault.h"

const struct utsname *host(void)
{
	static struct utsname uts;

	if (!uts.machine[0])
		uname(&uts);
	return &uts;
}

/* ---- command line ---------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvm-prefault probe [--json]\n"
		"       kvm-prefault demo [--size MIB]\n"
		"       kvm-prefault bench [--size MIB] [--reps N] [--thp-size MIB]\n"
		"                          [--scenario-size MIB]\n"
		"       kvm-prefault bench --scenario restore|postcopy [--scenario-size MIB]\n"
		"       kvm-prefault profile [--size MIB]\n"
		"\n"
		"  probe   KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm and on a VM of each type\n"
		"  demo    pre-fault a slot (default 64 MiB), then a guest reads every\n"
		"          page; the same without pre-fault, side by side\n"
		"  bench   guest first touch, read and write, with no pre-fault, with\n"
		"          pre-fault, with populate-write + pre-fault (median of --reps,\n"
		"          default 3); then pre-fault of a host-populated THP-backed\n"
		"          slot (--thp-size, default 1024 MiB, 0 to skip); per 4 KiB page:\n"
		"          guest fault, pre-fault, host populate; 1 and 2 vCPUs in parallel;\n"
		"          then the scenarios on --scenario-size MiB of guest memory (default\n"
		"          256, 0 to skip): restore from a snapshot file (read() or mmap) and\n"
		"          post-copy (userfaultfd), lazy vs pre-faulted; --scenario runs one\n"
		"          of them alone\n"
		"  profile where a guest fault's and a pre-fault's time goes, per kernel\n"
		"          function (the kernel's function profiler, through tracefs)\n"
		"\n"
		"exit status: 0 success, 1 a KVM call or a bench check failed, 2 usage\n");
}

/* A size in MiB, 1..65536, or 0 when @allow_zero; -1 when malformed. */
static int64_t parse_mib(const char *s, int allow_zero)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > 65536 || (!v && !allow_zero))
		return -1;
	return (int64_t)v;
}

static const struct {
	const char *name;
	int (*run)(const struct options *o);
	unsigned int opts;
} cmds[] = {
	{ "probe", cmd_probe, OPT_JSON },
	{ "demo", cmd_demo, OPT_SIZE },
	{ "bench", cmd_bench,
	  OPT_SIZE | OPT_REPS | OPT_THP_SIZE | OPT_SCENARIO | OPT_SCENARIO_SIZE },
	{ "profile", cmd_profile, OPT_SIZE },
};

#define NR_CMDS	(sizeof(cmds) / sizeof(cmds[0]))

/* The MiB of option --@name into *@bytes: 0, or EXIT_USAGE. */
static int size_option(const char *name, const char *arg, int allow_zero,
		       uint64_t *bytes)
{
	int64_t v = parse_mib(arg, allow_zero);

	if (v < 0) {
		fprintf(stderr, "kvm-prefault: --%s wants MiB (%s1..65536), not '%s'\n",
			name, allow_zero ? "0, " : "", arg);
		return EXIT_USAGE;
	}
	*bytes = (uint64_t)v * MIB;
	return 0;
}

/* One option @c with @arg into @o: 0, or the exit code. */
static int one_option(int c, const char *arg, struct options *o)
{
	int64_t v;

	switch (c) {
	case 'j':
		o->json = 1;
		o->given |= OPT_JSON;
		return 0;
	case 's':
		o->given |= OPT_SIZE;
		return size_option("size", arg, 0, &o->size);
	case 't':
		o->given |= OPT_THP_SIZE;
		return size_option("thp-size", arg, 1, &o->thp_size);
	case 'z':
		o->given |= OPT_SCENARIO_SIZE;
		return size_option("scenario-size", arg, 1, &o->scenario_size);
	case 'r':
		v = parse_mib(arg, 0);
		if (v < 1 || v > 64) {
			fprintf(stderr, "kvm-prefault: --reps wants 1..64, not '%s'\n", arg);
			return EXIT_USAGE;
		}
		o->reps = v;
		o->given |= OPT_REPS;
		return 0;
	case 'c':
		if (strcmp(arg, "restore") && strcmp(arg, "postcopy")) {
			fprintf(stderr, "kvm-prefault: --scenario wants restore or postcopy, not '%s'\n",
				arg);
			return EXIT_USAGE;
		}
		o->scenario = arg;
		o->given |= OPT_SCENARIO;
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return EXIT_USAGE;
	}
}

/* The options after the command into @o: -1 to run it, or the exit code. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "thp-size", required_argument, NULL, 't' },
		{ "scenario", required_argument, NULL, 'c' },
		{ "scenario-size", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int c, r;

	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		r = one_option(c, optarg, o);
		if (r || c == 'h')
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "kvm-prefault: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	/* A scenario alone runs no tables, and needs guest memory. */
	if ((o->given & OPT_SCENARIO) && (o->given & (OPT_SIZE | OPT_REPS | OPT_THP_SIZE))) {
		fprintf(stderr, "kvm-prefault: --scenario runs no tables: --size, --reps and --thp-size do not apply\n");
		return EXIT_USAGE;
	}
	if ((o->given & OPT_SCENARIO) && !o->scenario_size) {
		fprintf(stderr, "kvm-prefault: --scenario wants --scenario-size of 1..65536 MiB\n");
		return EXIT_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = {
		.size = 64 * MIB, .thp_size = 1024 * MIB, .reps = 3,
		.scenario_size = 256 * MIB,
	};
	unsigned int i;
	const char *cmd;
	int r;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < NR_CMDS; i++)
		if (!strcmp(cmd, cmds[i].name))
			break;
	if (i == NR_CMDS) {
		fprintf(stderr, "kvm-prefault: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	r = parse_options(argc, argv, &o);
	if (r >= 0)
		return r;
	if (o.given & ~cmds[i].opts) {
		fprintf(stderr, "kvm-prefault: %s takes no such option (see --help)\n", cmd);
		return EXIT_USAGE;
	}
	return cmds[i].run(&o);
}
