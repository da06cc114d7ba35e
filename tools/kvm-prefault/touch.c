// SPDX-License-Identifier: GPL-2.0-only
/*
 * One guest's first touch of a slot, with or without a pre-fault first:
 * what demo, bench and profile measure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "kvm-prefault.h"
#include "kvmprefault.h"
#include "vm.h"

/* Host bytes of [addr, addr + size) mapped by transparent huge pages. */
static uint64_t host_thp_bytes(void *addr, uint64_t size)
{
	unsigned long start, end, kb;
	uint64_t total = 0;
	char line[256];
	int in_vma = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in_vma = start < (unsigned long)addr + size &&
				 (unsigned long)addr < end;
		else if (in_vma && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			total += (uint64_t)kb << 10;
	}
	fclose(f);
	return total < size ? total : size;
}

static int read_steps(struct vm *vm, struct steps *s)
{
	int64_t n = vm_vcpu_stat(vm, 0, "pre_fault_steps");

	if (n < 0)
		return -ENOENT;
	s->steps = n;
	return vm_vcpu_stat_array(vm, 0, "pre_fault_step_bytes_hist", s->hist,
				  HIST_BUCKETS) < 0 ? -ENOENT : 0;
}

static void steps_delta(struct steps *after, const struct steps *before)
{
	int i;

	after->steps -= before->steps;
	for (i = 0; i < HIST_BUCKETS; i++)
		after->hist[i] -= before->hist[i];
}

void format_leaves(const struct steps *s, char *buf, size_t len)
{
	static const char *const unit[] = { "", "K", "M", "G" };
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 1; i < HIST_BUCKETS; i++) {
		uint64_t size = 1ULL << (i - 1);	/* bucket i: [2^(i-1), 2^i) */
		int u = 0;

		if (!s->hist[i])
			continue;
		while (size >= 1024 && u < 3) {
			size >>= 10;
			u++;
		}
		used += snprintf(buf + used, len - used, "%s%llu x %llu%s",
				 used ? ", " : "", (unsigned long long)s->hist[i],
				 (unsigned long long)size, unit[u]);
		if (used >= len)
			break;
	}
	if (!used)
		snprintf(buf, len, "none");
}

int can_prefault(void)
{
	char err[160];
	int cap;

	if (vm_pre_fault_capability(&cap, NULL, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault: %s\n", err);
		return 0;
	}
	if (cap != 1)
		fprintf(stderr, "kvm-prefault: this VM cannot pre-fault (%s)\n",
			cap < 0 ? strerror(-cap) : "KVM_CAP_PRE_FAULT_MEMORY is 0");
	return cap == 1;
}

const char *const touch_name[] = { "none", "read", "write" };
const char *const prep_name[] = { "none", "prefault", "populate+prefault" };

int touch_once(const struct touch_case *c, struct sample *s,
	       char *err, size_t len)
{
	const uint64_t size = c->size;
	uint64_t page = sysconf(_SC_PAGESIZE);
	uint32_t expect = 0, got = 0;
	struct kvmpf_result res;
	struct steps before;
	int64_t exits;
	struct vm vm;
	uint64_t t0;
	int r;

	memset(s, 0, sizeof(*s));
	r = vm_create(&vm);
	r = r ? r : vm_add_data_slot(&vm, size, 0);
	if (!r && madvise(vm.data, size, c->advice))
		r = vm_fail(&vm, -errno, "madvise(%d)", c->advice);
	if (!r && c->fill)
		expect = vm_fill_data(&vm, page);
	if (!r && c->prep == PREP_POPULATE_PREFAULT) {
		t0 = now_ns();
		r = kvmpf_populate_write(vm.data, size, &res);
		s->populate_s = seconds_since(t0);
		if (r)
			vm_fail(&vm, r, "%s", res.msg);
	}
	if (!r)
		s->host_thp = host_thp_bytes(vm.data, size);
	if (!r && c->prep != PREP_NONE) {
		if (read_steps(&vm, &before))
			memset(&before, 0, sizeof(before));
		if (c->profile == PHASE_PREFAULT)
			r = profile_enable(1);
		t0 = now_ns();
		r = r ? r : kvmpf_prefault(vm.vcpu[0].fd, VM_DATA_GPA, size, c->opts, &res);
		s->prefault_s = seconds_since(t0);
		if (c->profile == PHASE_PREFAULT)
			profile_enable(0);
		s->calls = res.calls;
		if (r)
			vm_fail(&vm, r, "pre-fault: %s", res.msg);
		else if (!read_steps(&vm, &s->steps))
			steps_delta(&s->steps, &before);
	}
	if (!r) {
		exits = vm_vcpu_guest_exits(&vm, 0);
		if (c->profile == PHASE_TOUCH)
			r = profile_enable(1);
		t0 = now_ns();
		r = r ? r : vm_run_guest(&vm, 0, VM_DATA_GPA, c->touch == TOUCH_NONE ? 0 : size,
					 page, c->touch == TOUCH_WRITE ? VM_GUEST_WRITE : VM_GUEST_READ,
					 &got);
		s->touch_s = seconds_since(t0);
		if (c->profile == PHASE_TOUCH)
			profile_enable(0);
		s->exits = vm_vcpu_guest_exits(&vm, 0) - exits;
		s->data_ok = !c->fill || c->touch != TOUCH_READ || got == expect;
		if (!r && exits < 0)
			r = vm_fail(&vm, -ENOENT, "no vCPU exit statistics");
	}
	if (r)
		snprintf(err, len, "%s", vm.err);
	vm_destroy(&vm);
	return r;
}
