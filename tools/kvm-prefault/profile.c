// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault profile: where the time of a guest fault and of a pre-fault
 * goes, from the kernel's function profiler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm-prefault.h"
#include "watchdog.h"

#define PROFILE_MAX	64

/*
 * The functions a profile times, children included: the steps of a
 * pre-fault and of the guest's own stage-2 fault on every arch.  Names a
 * kernel lacks (another arch's, or inlined) are left out.
 */
static const char *const profile_functions[] = {
	/* generic */
	"kvm_vcpu_pre_fault_memory", "kvm_arch_vcpu_pre_fault_memory",
	"kvm_arch_pre_fault_run_pages", "kvm_arch_pre_fault_map_run",
	"__gfn_to_pfn_memslot", "get_user_pages_unlocked",
	"get_user_pages_fast_only", "handle_mm_fault", "kvm_release_page_clean",
	"kvm_release_page_dirty", "kvm_release_pfn_clean",
	"kvm_mmu_topup_memory_cache", "mark_page_dirty_in_slot",
	"kvm_pre_fault_may_continue", "kvm_arch_vcpu_ioctl_run",
	/* arm64 */
	"kvm_handle_guest_abort", "user_mem_abort", "kvm_pgtable_stage2_map",
	"kvm_pgtable_stage2_map_pages", "kvm_pgtable_get_leaf", "kvm_pgtable_walk",
	"kvm_s2_handle_access_fault", "handle_exit",
	/* riscv */
	"kvm_riscv_vcpu_exit", "kvm_riscv_gstage_map", "kvm_riscv_gstage_map_pages",
	"kvm_riscv_gstage_mkyoung", "kvm_riscv_gstage_unmapped_pages",
	"kvm_riscv_hfence_gvma_vmid_gpa", "kvm_riscv_gstage_lookup",
	/* x86 */
	"kvm_mmu_page_fault", "kvm_tdp_page_fault", "kvm_tdp_mmu_map",
	"__kvm_faultin_pfn", "kvm_faultin_pfn", "kvm_tdp_mmu_walk_lockless_begin",
	"npf_interception", "svm_handle_exit",
	/* powerpc (KVM-HV radix) */
	"kvmppc_book3s_radix_page_fault", "kvmppc_book3s_instantiate_page",
	"kvmppc_create_pte", "kvmhv_pre_fault_memory", "kvmppc_hv_emulate_mmio",
	"kvmppc_handle_exit_hv", "kvmhv_run_single_vcpu",
};

int profile_enable(int on)
{
	return tracefs_write("function_profile_enabled", on ? "1" : "0", 0);
}

struct profile_entry {
	char name[64];
	uint64_t hits;
	double us;
};

/* The profiler's per-CPU tables, summed per function. */
static unsigned int profile_read(struct profile_entry *e, unsigned int max)
{
	char path[128], line[256], name[64], unit[8];
	unsigned long long hits;
	unsigned int n = 0, i, cpu;
	double t;
	FILE *f;

	for (cpu = 0; cpu < 64; cpu++) {
		snprintf(path, sizeof(path), TRACEFS "/trace_stat/function%u", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, " %63s %llu %lf %7s", name, &hits, &t, unit) != 4)
				continue;
			if (!strcmp(unit, "ms"))
				t *= 1e3;
			else if (!strcmp(unit, "ns"))
				t /= 1e3;
			for (i = 0; i < n && strcmp(e[i].name, name); i++)
				;
			if (i == n) {
				if (n == max)
					continue;
				snprintf(e[n].name, sizeof(e[n].name), "%s", name);
				e[n].hits = 0;
				e[n].us = 0;
				n++;
			}
			e[i].hits += hits;
			e[i].us += t;
		}
		fclose(f);
	}
	return n;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct profile_entry *x = a, *y = b;

	return x->us < y->us ? 1 : x->us > y->us ? -1 : 0;
}

int cmd_profile(const struct options *o)
{
	static const struct {
		const char *what;
		enum prep prep;
		enum touch touch;
		enum phase phase;
	} cases[] = {
		{ "guest stage-2 read fault", PREP_NONE, TOUCH_READ, PHASE_TOUCH },
		{ "pre-fault, memory the host never touched", PREP_PREFAULT, TOUCH_NONE, PHASE_PREFAULT },
		{ "pre-fault, host-populated memory", PREP_POPULATE_PREFAULT, TOUCH_NONE, PHASE_PREFAULT },
	};
	uint64_t page = sysconf(_SC_PAGESIZE), pages = o->size / page;
	struct profile_entry e[PROFILE_MAX];
	unsigned int i, j, n, accepted = 0;
	char err[160];

	printf("kvm-prefault profile: %s, Linux %s; %llu pages of %llu bytes, untouched by the guest before\n",
	       host()->machine, host()->release, (unsigned long long)pages,
	       (unsigned long long)page);
	if (!can_prefault())
		return EXIT_FAILED;
	if (tracefs_write("set_ftrace_filter", "\n", 0)) {
		fprintf(stderr, "kvm-prefault: no tracefs at " TRACEFS " (or not root)\n");
		return EXIT_FAILED;
	}
	for (i = 0; i < sizeof(profile_functions) / sizeof(profile_functions[0]); i++)
		accepted += !tracefs_write("set_ftrace_filter", profile_functions[i], 1);
	/* An empty filter would profile every function in the kernel. */
	if (!accepted || profile_enable(0)) {
		fprintf(stderr, "kvm-prefault: the kernel has no function profiler (CONFIG_FUNCTION_PROFILER)\n");
		return EXIT_FAILED;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct touch_case c = {
			.size = o->size, .advice = MADV_NOHUGEPAGE,
			.prep = cases[i].prep, .touch = cases[i].touch,
			.profile = cases[i].phase,
		};
		struct sample s;
		double total;

		if (touch_once(&c, &s, err, sizeof(err))) {
			profile_enable(0);
			fprintf(stderr, "kvm-prefault profile: %s: %s\n", cases[i].what, err);
			return EXIT_FAILED;
		}
		total = (cases[i].phase == PHASE_TOUCH ? s.touch_s : s.prefault_s) * 1e6;
		n = profile_read(e, PROFILE_MAX);
		qsort(e, n, sizeof(e[0]), cmp_entry);
		printf("\n%s: %.0f us in all, %.2f us per page (time under the profiler)\n",
		       cases[i].what, total, total / pages);
		printf("| %-34s | %9s | %11s | %11s | %6s |\n", "function (children included)",
		       "calls", "total us", "us per page", "share");
		printf("|------------------------------------|-----------|-------------|-------------|--------|\n");
		for (j = 0; j < n; j++)
			printf("| %-34s | %9llu | %11.0f | %11.3f | %5.1f%% |\n", e[j].name,
			       (unsigned long long)e[j].hits, e[j].us, e[j].us / pages,
			       total > 0 ? e[j].us * 100 / total : 0);
	}
	tracefs_write("set_ftrace_filter", "\n", 0);
	return 0;
}
