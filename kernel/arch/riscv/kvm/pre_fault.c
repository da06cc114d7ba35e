// SPDX-License-Identifier: GPL-2.0-only
/*
 * RISC-V g-stage backend of KVM_PRE_FAULT_MEMORY (linux/kvm_pre_fault.h).
 *
 * A pre-fault is the guest's first read of a page, minus the exit: it goes
 * through kvm_riscv_gstage_map(), the function that serves the guest's own
 * g-stage page faults, so that hugetlb and THP blocks, dirty logging,
 * read-only memslots, PFNMAP memory and poisoned pages are handled exactly
 * as they are for the guest.  A run of small pages it would map one 4 KiB
 * leaf at a time is mapped under one mmu_lock section, with one walk and
 * one fence (kvm_arch_pre_fault_map_run()).
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

	return kvm_pre_fault_progress(vcpu, range, size);
}

unsigned int kvm_arch_pre_fault_run_pages(struct kvm_vcpu *vcpu,
					  struct kvm_memory_slot *slot,
					  gpa_t gpa, unsigned int max_pages)
{
	struct kvm *kvm = vcpu->kvm;
	unsigned int nr;

	/*
	 * The tables a run may need, allocated before the generic code pins
	 * the run: reclaim during the allocation could otherwise zap the
	 * pinned pages and waste the run.
	 */
	if (kvm_riscv_gstage_topup(vcpu))
		return 0;

	spin_lock(&kvm->mmu_lock);
	nr = kvm_riscv_gstage_unmapped_pages(kvm, gpa, max_pages);
	spin_unlock(&kvm->mmu_lock);
	return nr;
}

/* The g-stage fault path maps every frame with the same attributes. */
bool kvm_arch_pre_fault_batch_pfn(struct kvm *kvm, kvm_pfn_t pfn)
{
	return true;
}

int kvm_arch_pre_fault_map_run(struct kvm_vcpu *vcpu,
			       const struct kvm_pre_fault_run *run)
{
	struct kvm *kvm = vcpu->kvm;
	int r;

	/* From the memory cache kvm_arch_pre_fault_run_pages() filled. */
	spin_lock(&kvm->mmu_lock);
	if (kvm_pre_fault_run_stale(kvm, run))
		r = -EAGAIN;
	else
		r = kvm_riscv_gstage_map_pages(kvm, &vcpu->arch.mmu_page_cache,
					       run->gpa, run->pfns, run->nr_pages,
					       run->writable);
	spin_unlock(&kvm->mmu_lock);
	return r;
}

/* Nothing a vCPU's first entry sets up is needed to map its stage 2. */
int kvm_arch_pre_fault_prepare(struct kvm_vcpu *vcpu)
{
	return 0;
}

bool kvm_arch_pre_fault_allowed(struct kvm *kvm)
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
	map->accessed = pte_val(pte) & _PAGE_ACCESSED;
	map->pfn = pte_pfn(pte) + ((gpa & (size - 1)) >> PAGE_SHIFT);
	map->attrs = pte_val(pte) & ~_PAGE_PFN_MASK;
	return 0;
}

int kvm_arch_pre_fault_test_cached_tables(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.mmu_page_cache.nobjs;
}
#endif
