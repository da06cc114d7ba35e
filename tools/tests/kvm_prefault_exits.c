// SPDX-License-Identifier: GPL-2.0-only
/*
 * What pre-faulting saves the guest: the stage-2 exits of a guest reading
 * every page of a 64 MiB slot on 4 KiB host pages (THP off), once without
 * and once after KVM_PRE_FAULT_MEMORY.  The exits the guest caused (every
 * exit but those for the host's interrupts, vm_vcpu_guest_exits()) are the
 * measure; after a pre-fault they may be at most 1% of the page count.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ktap.h"
#include "kvmprefault.h"
#include "vm.h"

#define SLOT_SIZE	(64ULL << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

enum backing {
	SMALL_PAGES,	/* THP off: one stage-2 fault per 4 KiB page */
	THP,		/* THP on, populated writable: 2 MiB host pages */
};

/*
 * Exits taken by a fresh VM's guest reading every page of the slot, after
 * pre-faulting it when @prefault; -1 on a failure, which is reported.
 */
static int64_t guest_read_exits(struct ktap *t, int prefault, enum backing backing,
				uint64_t page)
{
	struct kvmpf_result res = {};
	int64_t before = -1, after = -1, irq_before, irq_after;
	uint32_t expect, got = 0;
	struct vm vm;
	int r;

	r = vm_create(&vm);
	r = r ? r : vm_add_data_slot(&vm, SLOT_SIZE, 0);
	/* 4 KiB host pages make each guest page one stage-2 fault. */
	if (!r && madvise(vm.data, SLOT_SIZE,
			  backing == THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		r = -errno;
	if (!r && backing == THP && madvise(vm.data, SLOT_SIZE, MADV_POPULATE_WRITE))
		r = -errno;
	if (!ktap_result(t, r == 0, backing == THP ? "vm_thp_without_prefault" :
			 prefault ? "vm_with_prefault" : "vm_without_prefault"))
		ktap_diag("%s", r ? strerror(-r) : vm.err);
	if (r)
		goto out;
	/* Host-written pages: the pre-fault maps them as a guest read would. */
	expect = vm_fill_data(&vm, page);
	if (prefault) {
		r = kvmpf_prefault(vm.vcpu[0].fd, VM_DATA_GPA, SLOT_SIZE, NULL, &res);
		if (!ktap_result(t, r == 0 && res.size == 0, "prefault_maps_whole_slot"))
			ktap_diag("%s, %llu bytes left", res.msg,
				  (unsigned long long)res.size);
		ktap_diag("pre-fault of %llu MiB took %llu calls",
			  (unsigned long long)(SLOT_SIZE >> 20),
			  (unsigned long long)res.calls);
	}
	before = vm_vcpu_guest_exits(&vm, 0);
	irq_before = vm_vcpu_interrupt_exits(&vm, 0);
	r = vm_run_guest(&vm, 0, VM_DATA_GPA, SLOT_SIZE, page, VM_GUEST_READ, &got);
	after = vm_vcpu_guest_exits(&vm, 0);
	irq_after = vm_vcpu_interrupt_exits(&vm, 0);
	ktap_diag("%s: %lld exits for the guest, %lld for host interrupts",
		  backing == THP ? "THP" : prefault ? "with pre-fault" : "without pre-fault",
		  (long long)(after - before), (long long)(irq_after - irq_before));
	if (!ktap_result(t, r == 0 && got == expect && before >= 0,
			 backing == THP ? "guest_data_thp" :
			 prefault ? "guest_data_after_prefault" : "guest_data_without_prefault"))
		ktap_diag("%s; sum 0x%08x, expected 0x%08x", r ? vm.err : "data", got, expect);
out:
	vm_destroy(&vm);
	return r || before < 0 ? -1 : after - before;
}

int main(void)
{
	uint64_t page = sysconf(_SC_PAGESIZE), pages = SLOT_SIZE / page;
	int64_t without, with, thp;
	char err[160];
	struct ktap t;
	int cap;

	if (vm_pre_fault_capability(&cap, NULL, err, sizeof(err)))
		return ktap_fail_only(&t, "vm_create", err);
	if (cap <= 0) {
		printf("KTAP version 1\n1..0 # SKIP KVM_PRE_FAULT_MEMORY is not enabled for this VM\n");
		return 4;
	}

	ktap_plan(&t, 10);
	without = guest_read_exits(&t, 0, SMALL_PAGES, page);
	with = guest_read_exits(&t, 1, SMALL_PAGES, page);
	thp = guest_read_exits(&t, 0, THP, page);
	ktap_diag("guest reads %llu pages: %lld exits without pre-fault, %lld after",
		  (unsigned long long)pages, (long long)without, (long long)with);
	/*
	 * Without pre-fault: about one exit per page; x86 also maps up to 8
	 * neighbouring pages per fault, hence the looser bound.
	 */
	if (!ktap_result(&t, without >= (int64_t)(pages / 16), "exits_without_prefault"))
		ktap_diag("expected at least %llu", (unsigned long long)(pages / 16));
	if (!ktap_result(&t, with >= 0 && with <= (int64_t)(pages / 100),
			 "exits_after_prefault_at_most_1pct_of_pages"))
		ktap_diag("expected at most %llu", (unsigned long long)(pages / 100));
	/*
	 * The guest's own faults on THP-backed memory map 2 MiB blocks: one
	 * exit per block, well under 1% of the pages.
	 */
	ktap_diag("guest faults on THP-backed memory: %lld exits", (long long)thp);
	if (!ktap_result(&t, thp >= 0 && thp <= (int64_t)(pages / 100),
			 "guest_faults_on_thp_map_blocks"))
		ktap_diag("expected at most %llu", (unsigned long long)(pages / 100));
	return ktap_exit_code(&t);
}
