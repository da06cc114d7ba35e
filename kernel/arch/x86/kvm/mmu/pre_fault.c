// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86's side of the KVM_PRE_FAULT_MEMORY contract (linux/kvm_pre_fault.h)
 * beyond the mapping itself, which is kvm_arch_vcpu_pre_fault_memory() in
 * mmu.c: per-VM support, the address limit, and the KUnit hooks.
 */
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>

#include "mmu.h"
#include "mmu_internal.h"
#include "spte.h"
#include "tdp_mmu.h"

/* Nothing a vCPU's first entry sets up is needed to map its stage 2. */
int kvm_arch_pre_fault_prepare(struct kvm_vcpu *vcpu)
{
	return 0;
}

bool kvm_arch_pre_fault_allowed(struct kvm *kvm)
{
	/*
	 * Shadow paging indexes its faults by guest virtual address, so only
	 * a two-dimensional MMU can be told to map a GPA.  VM types whose
	 * memory is not ready until launch (SEV-SNP) allow it only then.
	 */
	return tdp_enabled && (!kvm || kvm->arch.pre_fault_allowed);
}

gpa_t kvm_arch_pre_fault_gpa_limit(struct kvm_vcpu *vcpu)
{
	/*
	 * What NPT/EPT can map, as in the base: not the guest's MAXPHYADDR,
	 * which reads 36 bits until KVM_SET_CPUID2, while a VMM restoring a
	 * snapshot may well pre-fault before it sets the CPUID.  Memory above
	 * the guest's MAXPHYADDR is in a memslot the VMM created; the guest
	 * cannot reach it, and mapping it exposes nothing.
	 */
	return gfn_to_gpa(kvm_mmu_max_gfn() + 1);
}

#if IS_ENABLED(CONFIG_KVM_PRE_FAULT_KUNIT_TEST)
int kvm_arch_pre_fault_test_mapping(struct kvm_vcpu *vcpu, gpa_t gpa,
				    struct kvm_pre_fault_mapping *map)
{
	u64 sptes[PT64_ROOT_MAX_LEVEL + 1];
	int leaf, root_level;

	/* Pre-fault maps into the TDP MMU's root; nothing else is looked at. */
	if (!tdp_mmu_enabled || vcpu->arch.mmu->page_fault != kvm_tdp_page_fault)
		return -EOPNOTSUPP;

	*map = (struct kvm_pre_fault_mapping){};
	if (!VALID_PAGE(vcpu->arch.mmu->root.hpa))
		return 0;

	kvm_tdp_mmu_walk_lockless_begin();
	leaf = kvm_tdp_mmu_get_walk(vcpu, gpa, sptes, &root_level);
	kvm_tdp_mmu_walk_lockless_end();

	if (leaf < 0 || !is_shadow_present_pte(sptes[leaf]) ||
	    !is_last_spte(sptes[leaf], leaf))
		return 0;
	map->mapped = true;
	map->writable = is_writable_pte(sptes[leaf]);
	map->accessed = is_accessed_spte(sptes[leaf]);
	map->size = KVM_HPAGE_SIZE(leaf);
	map->pfn = spte_to_pfn(sptes[leaf]) +
		   ((gpa & (map->size - 1)) >> PAGE_SHIFT);
	map->attrs = sptes[leaf] & ~SPTE_BASE_ADDR_MASK;
	return 0;
}

/*
 * The fault a guest read takes: the pre-fault's own (kvm_tdp_map_page(),
 * the same error code), but not a prefetch, so that the suite can compare
 * the two.
 */
int kvm_arch_pre_fault_test_guest_fault(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	int r, tries;

	if (vcpu->arch.mmu->page_fault != kvm_tdp_page_fault)
		return -EOPNOTSUPP;
	/* Nothing invalidates the range in the suite: a retry is rare. */
	for (tries = 0; tries < 16; tries++) {
		if (kvm_check_request(KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, vcpu))
			kvm_mmu_free_obsolete_roots(vcpu);
		r = kvm_mmu_reload(vcpu);
		if (r)
			return r;
		r = kvm_mmu_do_page_fault(vcpu, gpa, PFERR_GUEST_FINAL_MASK,
					  false, NULL, NULL);
		if (r != RET_PF_RETRY)
			break;
	}
	if (r < 0)
		return r;
	return r == RET_PF_FIXED || r == RET_PF_SPURIOUS ? 0 : -EFAULT;
}
#endif
