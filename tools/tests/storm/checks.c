// SPDX-License-Identifier: GPL-2.0-only
/*
 * The storm's checks: every pre-fault call against the documented contract
 * as it returns, the guest-physical width, and after the storm what the
 * host and the guest on every vCPU see of the memory, and what a final
 * pre-fault saves the guest.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "storm.h"
#include "watchdog.h"

/* Results each class may get: anything else breaks the contract. */
static const unsigned int allowed[NR_CLASSES] = {
	[RANGE_SLOT] = 1 << RES_OK | 1 << RES_ENOENT | 1 << RES_EAGAIN |
		       1 << RES_EINTR | 1 << RES_EFAULT,
	[RANGE_HOLE] = 1 << RES_ENOENT | 1 << RES_EINTR,
	[RANGE_INVALID] = 1 << RES_EINVAL,
};

static enum result result_of(int r, int err)
{
	if (!r)
		return RES_OK;
	switch (err) {
	case ENOENT: return RES_ENOENT;
	case EAGAIN: return RES_EAGAIN;
	case EINTR: return RES_EINTR;
	case EFAULT: return RES_EFAULT;
	case EINVAL: return RES_EINVAL;
	default: return RES_OTHER;
	}
}

void check_call(enum range_class cls, const struct kvm_pre_fault_memory *in,
		const struct kvm_pre_fault_memory *out, int r, int err)
{
	enum result res = result_of(r, err);
	uint64_t done = out->gpa - in->gpa;

	calls[cls][res]++;
	if (!(allowed[cls] & (1u << res)))
		violation("%s range gpa 0x%llx size 0x%llx flags 0x%llx: %s (%s)",
			  class_names[cls], (unsigned long long)in->gpa,
			  (unsigned long long)in->size, (unsigned long long)in->flags,
			  r ? strerror(err) : "success", result_names[res]);
	if (r) {
		if (memcmp(in, out, sizeof(*in)))
			violation("%s range gpa 0x%llx size 0x%llx: %s changed the struct to gpa 0x%llx size 0x%llx",
				  class_names[cls], (unsigned long long)in->gpa,
				  (unsigned long long)in->size, strerror(err),
				  (unsigned long long)out->gpa,
				  (unsigned long long)out->size);
		return;
	}
	if (out->gpa <= in->gpa || done % PAGE || done > in->size ||
	    out->size != in->size - done || out->flags != in->flags ||
	    memcmp(out->padding, in->padding, sizeof(in->padding)))
		violation("range gpa 0x%llx size 0x%llx: success left gpa 0x%llx size 0x%llx flags 0x%llx",
			  (unsigned long long)in->gpa, (unsigned long long)in->size,
			  (unsigned long long)out->gpa, (unsigned long long)out->size,
			  (unsigned long long)out->flags);
}

/*
 * Host events that take pages out of the VM's second stage behind the
 * VMM's back (migration by compaction, THP collapse and split, reclaim):
 * their total in /proc/vmstat, or -1 when it cannot be read.
 */
static int64_t host_invalidations(void)
{
	static const char *const names[] = {
		"pgmigrate_success", "thp_collapse_alloc", "thp_split_pmd",
		"pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged",
	};
	char name[64];
	long long value;
	int64_t total = 0;
	size_t i;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", name, &value) == 2)
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(name, names[i]))
				total += value;
	fclose(f);
	return total;
}

/* One pre-fault of [gpa, gpa + size) on vCPU 0 with no concurrency. */
static int prefault_once(uint64_t gpa, uint64_t size, struct kvm_pre_fault_memory *out)
{
	*out = (struct kvm_pre_fault_memory){ .gpa = gpa, .size = size };
	return watchdog_ioctl(vm.vcpu[0].fd, KVM_PRE_FAULT_MEMORY, out,
			      "KVM_PRE_FAULT_MEMORY") ? -errno : 0;
}

/*
 * The guest-physical width: the highest power of two at which a one-page
 * pre-fault is not EINVAL (but ENOENT: no slot there) is the last one
 * inside.  Then the edges must be exact: the last page below is ENOENT,
 * one page more is EINVAL.
 */
bool probe_gpa_bits(void)
{
	struct kvm_pre_fault_memory out;
	uint64_t limit;
	int k, r1, r2, r3;

	for (k = 63; k >= 32; k--)
		if (prefault_once(1ULL << k, PAGE, &out) == -ENOENT)
			break;
	gpa_bits = k + 1;
	limit = 1ULL << gpa_bits;
	r1 = prefault_once(limit - PAGE, PAGE, &out);
	r2 = prefault_once(limit - PAGE, 2 * PAGE, &out);
	r3 = prefault_once(limit, PAGE, &out);
	ktap_diag("guest-physical width %u bits: last page below %s, one page across %s, first page beyond %s",
		  gpa_bits, strerror(-r1), strerror(-r2), strerror(-r3));
	return k >= 32 && gpa_bits <= 64 && r1 == -ENOENT && r2 == -EINVAL &&
	       r3 == -EINVAL;
}

/* Every slot back home, present, not logging. */
static bool restore_layout(void)
{
	uint64_t before = atomic_load(&nr_violations);
	int i;

	for (i = 0; i < NR_SLOTS; i++) {
		struct storm_slot *s = &slots[i];

		if (!s->present) {
			slot_recreate(s);
			continue;
		}
		if (s->gpa != s->home || s->logging) {
			s->gpa = s->home;
			s->logging = false;
			slot_update(s);
		}
	}
	return atomic_load(&nr_violations) == before;
}

/* Pages whose first word differs from what the host last wrote. */
static uint64_t host_check(uint64_t *checked)
{
	uint64_t i, bad = 0;
	uint32_t w;
	int k;

	for (k = 0; k < NR_SLOTS; k++)
		for (i = 0; i < SLOT_PAGES; i++, ++*checked) {
			memcpy(&w, slots[k].buf + i * PAGE, sizeof(w));
			if (w != slots[k].expect[i] && ++bad <= 5)
				ktap_diag("host: slot %d page %llu holds 0x%08x, wrote 0x%08x",
					  k, (unsigned long long)i, w, slots[k].expect[i]);
		}
	return bad;
}

/*
 * The guest on @cpu reads every page of slot @k at its home GPA; a wrong
 * sum is followed by a page-by-page read that names the pages.  Pages that
 * differ from what the host last wrote, or -1 when the guest could not run.
 */
int64_t guest_check_slot(int cpu, int k)
{
	const struct storm_slot *s = &slots[k];
	uint32_t sum, want, got;
	int64_t bad = 0;
	uint64_t i;
	int r;

	for (want = 0, i = 0; i < SLOT_PAGES; i++)
		want += s->expect[i];
	r = vm_run_guest(&vm, cpu, s->home, SLOT_SIZE, PAGE, VM_GUEST_READ, &sum);
	if (r == -ENOTRECOVERABLE) {
		note_emulator_fault();
		return -1;
	}
	if (r) {
		violation("guest on vCPU %d reading slot %d: %s", cpu, k, vm.err);
		return -1;
	}
	if (sum == want)
		return 0;
	for (i = 0; i < SLOT_PAGES; i++) {
		got = 0;
		r = vm_run_guest(&vm, cpu, s->home + i * PAGE, PAGE, PAGE,
				 VM_GUEST_READ, &got);
		if (r && ++bad <= 5)
			violation("guest on vCPU %d: slot %d page %llu: %s", cpu, k,
				  (unsigned long long)i, vm.err);
		else if (!r && got != s->expect[i] && ++bad <= 5)
			violation("guest on vCPU %d: slot %d page %llu reads 0x%08x, host wrote 0x%08x (generation %u)",
				  cpu, k, (unsigned long long)i, got,
				  s->expect[i], s->gen);
	}
	return bad;
}

/* Every slot through vCPU @cpu: pages that differ, or -1. */
static int64_t guest_check(int cpu, uint64_t *checked)
{
	int64_t bad = 0, r;
	int k;

	for (k = 0; k < NR_SLOTS; k++) {
		r = guest_check_slot(cpu, k);
		if (r < 0)
			return r;
		bad += r;
		*checked += SLOT_PAGES;
	}
	return bad;
}

/* vCPU c writes every NR_CPUS-th page, from page c; the host checks all. */
static int64_t guest_write_check(void)
{
	int64_t bad = 0;
	uint32_t sum, w;
	uint64_t i;
	int k, cpu, r;

	for (cpu = 0; cpu < NR_CPUS; cpu++)
		for (k = 0; k < NR_SLOTS; k++) {
			r = vm_run_guest(&vm, cpu, slots[k].home + cpu * PAGE,
					 SLOT_SIZE - cpu * PAGE, NR_CPUS * PAGE,
					 VM_GUEST_WRITE, &sum);
			if (r == -ENOTRECOVERABLE)
				note_emulator_fault();
			else if (r)
				ktap_diag("guest write on vCPU %d: %s", cpu, vm.err);
			if (r)
				return -1;
		}
	for (k = 0; k < NR_SLOTS; k++)
		for (i = 0; i < SLOT_PAGES; i++) {
			uint32_t want = (uint32_t)(slots[k].home + i * PAGE);

			memcpy(&w, slots[k].buf + i * PAGE, sizeof(w));
			if (w != want && ++bad <= 5)
				ktap_diag("host: slot %d page %llu holds 0x%08x after the guest wrote 0x%08x",
					  k, (unsigned long long)i, w, want);
			slots[k].expect[i] = w;
		}
	return bad;
}

/*
 * The layout back as it was, then the last writes of the host and of the
 * guest, seen by the other side: false when the emulator voided the run.
 */
bool check_last_writes(struct ktap *t)
{
	uint64_t checked;
	int64_t bad;
	bool ok;
	int i;

	ktap_result(t, restore_layout() && print_violations(), case_names[C_LAYOUT]);
	checked = 0;
	bad = host_check(&checked);
	ktap_diag("host checked %llu pages: %lld differ", (unsigned long long)checked,
		  (long long)bad);
	ktap_result(t, bad == 0, case_names[C_HOST_LAST_WRITE]);
	checked = 0;
	for (ok = true, i = 0; i < NR_CPUS; i++) {
		bad = guest_check(i, &checked);
		ok = ok && bad == 0;
	}
	if (emulator_fault[0])
		return false;
	ktap_diag("guest checked %llu pages on %d vCPUs", (unsigned long long)checked,
		  NR_CPUS);
	ktap_result(t, print_violations() && ok, case_names[C_GUEST_LAST_WRITE]);
	bad = guest_write_check();
	if (emulator_fault[0])
		return false;
	ktap_result(t, bad == 0, case_names[C_GUEST_WRITES]);
	return true;
}

void check_final_prefault(struct ktap *t)
{
	bool ok;
	int k;

	/*
	 * Fresh memory everywhere (the deletions drop every mapping), one
	 * pre-fault per slot, and the guest must not fault on any vCPU.
	 */
	for (k = 0; k < NR_SLOTS; k++) {
		slots[k].present = false;
		slot_update(&slots[k]);
		slot_recreate(&slots[k]);
	}
	for (ok = print_violations(), k = 0; k < NR_SLOTS; k++) {
		struct kvm_pre_fault_memory out;
		int r = prefault_once(slots[k].home, SLOT_SIZE, &out);

		if (r || out.size) {
			ktap_diag("final pre-fault of slot %d: %s, 0x%llx bytes left", k,
				  strerror(-r), (unsigned long long)out.size);
			ok = false;
		}
	}
	ktap_result(t, ok, case_names[C_FINAL_PREFAULT]);
}

/*
 * vCPU @cpu reads every slot after the final pre-fault: 1 when it took
 * at most 1% of the pages in exits, 0 when not, -1 when the emulator
 * voided the run.
 */
static int final_read(int cpu)
{
	int64_t max_exits = NR_SLOTS * SLOT_PAGES / 100, host, before, exits, bad;
	uint64_t checked;
	int tries, k;

	/*
	 * The host may move or drop pages during the read (compaction
	 * after the storm's allocations, say): the guest then faults
	 * on them as it should.  Such a read is reported and done
	 * again after another pre-fault, once; a read with too many
	 * exits and no such host event fails.
	 */
	for (tries = 0; tries < 2; tries++) {
		host = host_invalidations();
		before = vm_vcpu_guest_exits(&vm, cpu);
		checked = 0;
		bad = guest_check(cpu, &checked);
		exits = vm_vcpu_guest_exits(&vm, cpu) - before;
		host = host < 0 ? -1 : host_invalidations() - host;
		if (emulator_fault[0])
			return -1;
		ktap_diag("after the final pre-fault, vCPU %d read %llu pages with %lld exits (at most %lld), %lld host page moves or drops meanwhile",
			  cpu, (unsigned long long)checked, (long long)exits,
			  (long long)max_exits, (long long)host);
		if (exits <= max_exits || host <= 0 || bad)
			break;
		for (k = 0; k < NR_SLOTS; k++) {
			struct kvm_pre_fault_memory out;

			prefault_once(slots[k].home, SLOT_SIZE, &out);
		}
	}
	return bad == 0 && before >= 0 && exits <= max_exits;
}

bool check_final_exits(struct ktap *t)
{
	bool ok;
	int i, r;

	for (ok = true, i = 0; i < NR_CPUS; i++) {
		r = final_read(i);
		if (r < 0)
			return false;
		ok = ok && r;
	}
	ktap_result(t, print_violations() && ok,
		    case_names[C_FINAL_EXITS]);
	return true;
}
