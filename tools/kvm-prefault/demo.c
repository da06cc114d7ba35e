// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault demo: a VM with one slot, pre-faulted through
 * libkvmprefault, and a guest that reads every page of it, next to one
 * that is not pre-faulted.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm-prefault.h"

static void demo_progress(uint64_t done, uint64_t total, void *opaque)
{
	uint64_t *next = opaque;

	/* A line per quarter: the library calls back after every ioctl. */
	if (done < *next && done != total)
		return;
	printf("  pre-fault: %3llu%% (%llu of %llu MiB)\n",
	       (unsigned long long)(done * 100 / total),
	       (unsigned long long)(done / MIB), (unsigned long long)(total / MIB));
	*next = done + total / 4;
}

int cmd_demo(const struct options *o)
{
	uint64_t page = sysconf(_SC_PAGESIZE), pages = o->size / page;
	uint64_t next = o->size / 4;
	/* 16 ioctls: enough for a progress line per quarter. */
	struct kvmpf_options opts = {
		.progress = demo_progress, .opaque = &next,
		.chunk = (o->size / 16 + page - 1) / page * page,
	};
	struct touch_case pre_faulted = {
		.size = o->size, .advice = MADV_NOHUGEPAGE, .fill = 1,
		.prep = PREP_PREFAULT, .touch = TOUCH_READ, .opts = &opts,
	}, faulting = pre_faulted;
	struct sample with, without;
	char err[160], leaves[160];

	printf("kvm-prefault demo: %s, Linux %s, a %llu MiB slot of %llu-byte pages\n",
	       host()->machine, host()->release, (unsigned long long)(o->size / MIB),
	       (unsigned long long)page);
	if (!can_prefault())
		return EXIT_FAILED;
	faulting.prep = PREP_NONE;
	if (touch_once(&pre_faulted, &with, err, sizeof(err)) ||
	    touch_once(&faulting, &without, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault: %s\n", err);
		return EXIT_FAILED;
	}
	format_leaves(&with.steps, leaves, sizeof(leaves));
	printf("\n| %-34s | %-24s | %-24s |\n", "", "pre-faulted", "not pre-faulted");
	printf("|%s|%s|%s|\n", "------------------------------------",
	       "--------------------------", "--------------------------");
	printf("| %-34s | %-24llu | %-24s |\n", "KVM_PRE_FAULT_MEMORY ioctls",
	       (unsigned long long)with.calls, "-");
	printf("| %-34s | %-24llu | %-24s |\n", "backend steps",
	       (unsigned long long)with.steps.steps, "-");
	printf("| %-34s | %-24s | %-24s |\n", "stage-2 leaves mapped", leaves, "-");
	printf("| %-34s | %-24.3f | %-24s |\n", "pre-fault time (ms)",
	       with.prefault_s * 1e3, "-");
	printf("| %-34s | %-24lld | %-24lld |\n", "guest-caused exits while reading",
	       (long long)with.exits, (long long)without.exits);
	printf("| %-34s | %-24.3f | %-24.3f |\n", "guest read time (ms)",
	       with.touch_s * 1e3, without.touch_s * 1e3);
	printf("| %-34s | %-24s | %-24s |\n", "guest saw the host's data",
	       with.data_ok ? "yes" : "NO", without.data_ok ? "yes" : "NO");
	printf("\nThe guest read %llu pages; pre-faulted, it exited %lld times.\n",
	       (unsigned long long)pages, (long long)with.exits);
	return with.data_ok && without.data_ok ? 0 : EXIT_FAILED;
}
