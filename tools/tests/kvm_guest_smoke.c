// SPDX-License-Identifier: GPL-2.0-only
/*
 * The first guest-side test: a VM with a memslot and a vCPU runs a program
 * that reads memory and reports through MMIO.  Asserts the exit and the data,
 * so that the pipeline is proven on something that can fail.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ktap.h"
#include "vm.h"

#define DATA_SIZE	(4u << 20)

int main(void)
{
	uint64_t page = sysconf(_SC_PAGESIZE);
	uint32_t expect, got = 0, word = 0;
	struct ktap t;
	struct vm vm;
	int r;

	ktap_plan(&t, 5);

	r = vm_create(&vm);
	if (!ktap_result(&t, r == 0, "vm_create"))
		ktap_diag("%s", vm.err);
	r = r ? r : vm_add_data_slot(&vm, DATA_SIZE, 0);
	if (!ktap_result(&t, r == 0, "data_slot"))
		ktap_diag("%s", vm.err);

	/* Reading: the sum of every page's first word, as the host wrote them. */
	expect = r ? 0 : vm_fill_data(&vm, page);
	r = r ? r : vm_run_guest(&vm, 0, VM_DATA_GPA, DATA_SIZE, page,
				 VM_GUEST_READ, &got);
	if (!ktap_result(&t, r == 0, "guest_read_exits_through_mmio"))
		ktap_diag("%s", vm.err);
	if (!ktap_result(&t, r == 0 && got == expect, "guest_read_sum"))
		ktap_diag("guest reported 0x%08x, host expects 0x%08x", got, expect);

	/* Writing: the guest stores each page's address; the host must see it. */
	r = r ? r : vm_run_guest(&vm, 0, VM_DATA_GPA, DATA_SIZE, page,
				 VM_GUEST_WRITE, &got);
	if (r == 0)
		memcpy(&word, (char *)vm.data + 5 * page, sizeof(word));
	if (!ktap_result(&t, r == 0 && word == (uint32_t)(VM_DATA_GPA + 5 * page),
			 "guest_write_visible_to_host"))
		ktap_diag("%s", r ? vm.err : "page 5 does not hold its address");

	vm_destroy(&vm);
	return ktap_exit_code(&t);
}
