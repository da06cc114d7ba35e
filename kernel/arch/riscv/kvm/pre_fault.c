// SPDX-License-Identifier: GPL-2.0-only
/*
 * RISC-V g-stage backend of KVM_PRE_FAULT_MEMORY (linux/kvm_pre_fault.h).
 *
 * A pre-fault is the guest's first read of a page, minus the exit: it goes
 * through kvm_riscv_gstage_map(), the function that serves the guest's own
 * g-stage page faults, so that hugetlb and THP blocks, dirty logging,
 * read-only memslots, PFNMAP memory and poisoned pages are handled exactly
 * as they are for the guest.
 */
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>

long kvm_arch_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
				    struct kvm_pre_fault_memory *range,
				    struct kvm_memory_slot *slot)
{
	/* A signal ends the wait for the host page (userfaultfd). */
	struct kvm_riscv_gstage_fault fault = { .interruptible = true };
	unsigned long hva = gfn_to_hva_memslot_prot(slot, gpa_to_gfn(range->gpa),
						    NULL);
	struct kvm *kvm = vcpu->kvm;
	unsigned long size;
	int r;

	/*
	 * A mapping already there counts as done, made young again if aging
	 * cleared its A bit, as the guest's access would.  An mmu_notifier
	 * invalidation racing the fault path leaves nothing mapped and
	 * returns -EAGAIN: retry then, unless the retry could only succeed
	 * once this caller drops kvm->srcu.
	 */
	size = kvm_riscv_gstage_mkyoung(kvm, range->gpa);
	while (!size) {
		r = kvm_riscv_gstage_map(vcpu, slot, range->gpa, hva, false,
					 &fault);
		if (!r) {
			size = fault.map_size;
			break;
		}
		if (r == -EAGAIN)
			r = kvm_pre_fault_may_continue(vcpu, range->gpa);
		if (r)
			return r;
		size = kvm_riscv_gstage_mkyoung(kvm, range->gpa);
	}

	return kvm_pre_fault_progress(range, size);
}

bool kvm_arch_pre_fault_supported(struct kvm *kvm)
{
	return true;
}

gpa_t kvm_arch_pre_fault_gpa_limit(struct kvm_vcpu *vcpu)
{
	return BIT_ULL(kvm_riscv_gstage_gpa_bits());
}

#if IS_ENABLED(CONFIG_KVM_PRE_FAULT_KUNIT_TEST)
int kvm_arch_pre_fault_test_mapping(struct kvm_vcpu *vcpu, gpa_t gpa,
				    struct kvm_pre_fault_mapping *map)
{
	unsigned long size;
	pte_t pte = kvm_riscv_gstage_lookup(vcpu->kvm, gpa, &size);

	*map = (struct kvm_pre_fault_mapping){};
	map->mapped = size != 0;
	if (!map->mapped)
		return 0;
	map->size = size;
	map->writable = pte_val(pte) & _PAGE_WRITE;
	map->pfn = pte_pfn(pte) + ((gpa & (size - 1)) >> PAGE_SHIFT);
	return 0;
}
#endif
