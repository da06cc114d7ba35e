// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault: what a VMM sees of KVM_PRE_FAULT_MEMORY on this machine.
 *
 *   kvm-prefault probe   capability on /dev/kvm and on a VM, then a
 *                        pre-fault of a 64 MiB slot and a guest that reads
 *                        every page of it, as a table
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kvmprefault.h"
#include "vm.h"

#define PROBE_SLOT_SIZE		(64ULL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void row(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void row(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("| %-40s | ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int probe(void)
{
	uint64_t page = sysconf(_SC_PAGESIZE);
	struct kvmpf_result res;
	int64_t exits_before, exits_after;
	uint32_t expect, got;
	struct utsname uts;
	double t0, t1;
	struct vm vm;
	int r;

	uname(&uts);
	if (vm_create(&vm) || vm_add_data_slot(&vm, PROBE_SLOT_SIZE, 0)) {
		printf("kvm-prefault: %s\n", vm.err);
		vm_destroy(&vm);
		return 1;
	}
	printf("kvm-prefault probe: %s, Linux %s\n", uts.machine, uts.release);
	printf("| %-40s | %s\n|%s|%s\n", "what", "value",
	       "------------------------------------------", "---------------------------");
	row("KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm", "%d",
	    ioctl(vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY));
	row("KVM_CAP_PRE_FAULT_MEMORY on the VM", "%d", kvmpf_probe(vm.vm_fd, NULL));

	expect = vm_fill_data(&vm, page);
	t0 = now();
	r = kvmpf_prefault(vm.vcpu_fd, VM_DATA_GPA, PROBE_SLOT_SIZE, NULL, &res);
	t1 = now();
	if (r)
		row("KVM_PRE_FAULT_MEMORY, 64 MiB slot", "-1 %s (%s)",
		    strerrorname_np(-r), res.msg);
	else
		row("KVM_PRE_FAULT_MEMORY, 64 MiB slot", "0 after %llu calls",
		    (unsigned long long)res.calls);
	row("bytes mapped", "%llu of %llu",
	    (unsigned long long)(PROBE_SLOT_SIZE - res.size),
	    (unsigned long long)PROBE_SLOT_SIZE);
	row("pre-fault time", "%.6f s", t1 - t0);

	exits_before = vm_vcpu_stat(&vm, "exits");
	r = vm_run_guest(&vm, VM_DATA_GPA, PROBE_SLOT_SIZE, page,
			 VM_GUEST_READ, &got);
	exits_after = vm_vcpu_stat(&vm, "exits");
	if (r)
		row("guest reads every page", "failed: %s", vm.err);
	else
		row("guest reads every page: exits", "%lld for %llu pages (data %s)",
		    (long long)(exits_after - exits_before),
		    (unsigned long long)(PROBE_SLOT_SIZE / page),
		    got == expect ? "correct" : "WRONG");
	vm_destroy(&vm);
	return r || got != expect;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kvm-prefault probe\n"
		"  probe   report KVM_CAP_PRE_FAULT_MEMORY and pre-fault a 64 MiB slot\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "probe"))
		return probe();
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
