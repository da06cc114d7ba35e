// SPDX-License-Identifier: GPL-2.0-only
/*
 * POWER KVM-HV radix backend of KVM_PRE_FAULT_MEMORY (linux/kvm_pre_fault.h).
 *
 * A pre-fault is the guest's first read of a page, minus the exit: it goes
 * through kvmppc_book3s_instantiate_page(), the function that serves a
 * radix guest's partition-scoped page faults, so that hugetlb and THP
 * blocks, dirty logging and PFNMAP memory are handled exactly as they are
 * for the guest (powerpc KVM has no read-only memslots yet; the flag is
 * passed on all the same).  Only HV guests that translate with
 * radix have a second stage to populate: an HPT guest's hashed page table
 * is filled by the guest itself (H_ENTER), and PR KVM has no hypervisor
 * tables at all; book3s.c reports those VMs as not supported.
 *
 * A run of small pages that are not mapped yet is mapped in one descent
 * instead (kvmppc_create_ptes()), each PTE made from the page's host PTE by
 * the function the fault path uses, kvmppc_radix_partition_pte().  Its
 * page-table pages are allocated per descent, after the run is pinned:
 * powerpc keeps no per-vCPU cache of them to fill beforehand.
 *
 * This file is part of kvm-hv; the kvm_arch_pre_fault_*() entry points
 * in book3s.c reach it through struct kvmppc_ops.
 */
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>

#include <asm/kvm_book3s.h>
#include <asm/kvm_ppc.h>

/*
 * Size of the partition-scoped leaf that maps @gpa, or 0.  A leaf whose
 * reference bit aging cleared is made referenced, as the guest's own
 * access would (through a DSISR_SET_RC fault where the MMU does not set
 * it itself).
 */
static unsigned long kvmhv_pre_fault_mapped(struct kvm *kvm, unsigned long gpa)
{
	unsigned long size = 0;
	unsigned int shift;
	pte_t *ptep;

	spin_lock(&kvm->mmu_lock);
	ptep = find_kvm_secondary_pte(kvm, gpa, &shift);
	if (ptep && pte_present(*ptep)) {
		size = shift ? 1UL << shift : PAGE_SIZE;
		if (!pte_young(*ptep))
			kvmppc_hv_handle_set_rc(kvm, false, false, gpa,
						kvm->arch.lpid);
	}
	spin_unlock(&kvm->mmu_lock);
	return size;
}

/**
 * kvmhv_pre_fault_prepare() - kvm_arch_pre_fault_prepare() for KVM-HV
 * @vcpu: the pre-faulting vCPU, loaded, kvm->srcu not held
 *
 * A radix VM starts with its MMU ready; after a switch of its MMU mode
 * (KVM_PPC_CONFIGURE_V3_MMU) the next KVM_RUN sets it up, and so does a
 * pre-fault, the same way: otherwise it could only fail until that
 * KVM_RUN.  Outside kvm->srcu, as in KVM_RUN: an HPT resize holds
 * mmu_setup_lock across synchronize_srcu().
 *
 * Return: 0, or what setting up the MMU returns.
 */
int kvmhv_pre_fault_prepare(struct kvm_vcpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;

	if (kvm_is_radix(kvm) && !READ_ONCE(kvm->arch.mmu_ready))
		return kvmhv_setup_mmu(vcpu);
	return 0;
}

/*
 * Count a step as a running vCPU, as KVM_RUN does: a switch of the VM's
 * MMU mode (KVM_PPC_CONFIGURE_V3_MMU) clears mmu_ready and then gives up
 * while a vCPU runs, so the radix tree cannot be freed under the step.
 * kvmhv_pre_fault_prepare() set the MMU up; only a mode switch since
 * (userspace racing its own pre-fault) clears mmu_ready, and the next call
 * sets it up again.  Once mmu_ready is seen set with the step counted, the
 * mode cannot change under it.
 *
 * Return: 0, -EAGAIN (MMU not ready) or -EOPNOTSUPP (no longer radix);
 * kvmhv_pre_fault_end() ends the step in every case.
 */
static int kvmhv_pre_fault_begin(struct kvm *kvm)
{
	atomic_inc(&kvm->arch.vcpus_running);
	/* Order vcpus_running vs. mmu_ready, as kvmppc_vcpu_run_hv(). */
	smp_mb();
	if (!READ_ONCE(kvm->arch.mmu_ready))
		return -EAGAIN;
	if (!kvm_is_radix(kvm) || kvm->arch.secure_guest)
		return -EOPNOTSUPP;
	return 0;
}

static void kvmhv_pre_fault_end(struct kvm *kvm)
{
	atomic_dec(&kvm->arch.vcpus_running);
}

/**
 * kvmhv_pre_fault_memory() - kvm_arch_vcpu_pre_fault_memory() for KVM-HV
 * @vcpu: the pre-faulting vCPU
 * @range: the rest of the range, @range->gpa inside @slot
 * @slot: the memslot of @range->gpa
 *
 * Return: as kvm_arch_vcpu_pre_fault_memory(); -EOPNOTSUPP once the VM
 * translates with a hashed page table or became a secure VM.
 */
long kvmhv_pre_fault_memory(struct kvm_vcpu *vcpu,
			    struct kvm_pre_fault_memory *range,
			    struct kvm_memory_slot *slot)
{
	bool kvm_ro = slot->flags & KVM_MEM_READONLY;
	struct kvm *kvm = vcpu->kvm;
	unsigned long size;
	long r;

	r = kvmhv_pre_fault_begin(kvm);
	if (r)
		goto out;

	/*
	 * The fault path returns 0 without mapping anything when the host
	 * PTE is gone for a moment (a THP collapse) and -EAGAIN when an
	 * mmu_notifier invalidation raced it: look again and retry both,
	 * unless the retry could only succeed once this caller drops
	 * kvm->srcu.  A signal ends a wait for the host page with -EINTR.
	 */
	size = kvmhv_pre_fault_mapped(kvm, range->gpa);
	while (!size) {
		r = kvmppc_book3s_instantiate_page(vcpu, range->gpa, slot, false,
						   kvm_ro, true, NULL, NULL);
		if (r && r != -EAGAIN)
			goto out;
		size = kvmhv_pre_fault_mapped(kvm, range->gpa);
		if (size)
			break;
		r = kvm_pre_fault_may_continue(vcpu, range->gpa);
		if (r)
			goto out;
	}
	r = kvm_pre_fault_progress(vcpu, range, size);
out:
	kvmhv_pre_fault_end(kvm);
	return r;
}

/**
 * kvmhv_pre_fault_run_pages() - kvm_arch_pre_fault_run_pages() for KVM-HV
 * @vcpu: the pre-faulting vCPU
 * @slot: the memslot of @gpa
 * @gpa: the first page of the run
 * @max_pages: the most pages the generic code allows
 *
 * A run fills empty PTEs only: it ends before the first page that is
 * mapped, which the per-page step serves (and makes referenced if aging
 * cleared its reference bit).
 *
 * Return: the pages from @gpa to the end of its page-table page or to the
 * first mapped page, at most @max_pages; 0 for a VM that is not radix (the
 * per-page step says why).
 */
unsigned int kvmhv_pre_fault_run_pages(struct kvm_vcpu *vcpu,
				       struct kvm_memory_slot *slot,
				       gpa_t gpa, unsigned int max_pages)
{
	u64 table_end = ALIGN(gpa + 1, PMD_SIZE);
	unsigned int nr = min_t(u64, max_pages, (table_end - gpa) >> PAGE_SHIFT);
	struct kvm *kvm = vcpu->kvm;
	unsigned int i = 0, shift;
	pte_t *ptep;

	/* Counted as a step: a mode switch cannot free the tree under it. */
	if (!kvmhv_pre_fault_begin(kvm)) {
		spin_lock(&kvm->mmu_lock);
		ptep = find_kvm_secondary_pte(kvm, gpa, &shift);
		if (!ptep)
			i = nr;
		else if (!shift)
			while (i < nr && !pte_present(ptep[i]))
				i++;
		spin_unlock(&kvm->mmu_lock);
	}
	kvmhv_pre_fault_end(kvm);
	return i;
}

/**
 * kvmhv_pre_fault_map_run() - kvm_arch_pre_fault_map_run() for KVM-HV
 * @vcpu: the pre-faulting vCPU
 * @run: the run, its pages pinned
 *
 * Each page gets the PTE a read fault through
 * kvmppc_book3s_instantiate_page() gives it (kvmppc_create_ptes()).
 *
 * Return: as kvm_arch_pre_fault_map_run(); -EAGAIN also when the VM's MMU
 * is not ready or no longer radix, which the per-page step then reports.
 */
int kvmhv_pre_fault_map_run(struct kvm_vcpu *vcpu,
			    const struct kvm_pre_fault_run *run)
{
	gfn_t gfn = gpa_to_gfn(run->gpa);
	struct kvm *kvm = vcpu->kvm;
	int r;

	r = kvmhv_pre_fault_begin(kvm);
	if (!r)
		r = kvmppc_create_ptes(kvm, run->gpa, run->nr_pages,
				       gfn_to_hva_memslot(run->slot, gfn),
				       run->writable, run->mmu_seq);
	kvmhv_pre_fault_end(kvm);
	return r == -EOPNOTSUPP ? -EAGAIN : r;
}

/**
 * kvmhv_pre_fault_allowed() - kvm_arch_pre_fault_allowed() for a KVM-HV VM
 * @kvm: the VM (book3s.c answers for /dev/kvm without calling in here)
 *
 * Return: true for a radix VM that is not secure.
 */
bool kvmhv_pre_fault_allowed(struct kvm *kvm)
{
	return kvm_is_radix(kvm) && !kvm->arch.secure_guest;
}

#if IS_ENABLED(CONFIG_KVM_PRE_FAULT_KUNIT_TEST)
/**
 * kvmhv_pre_fault_test_mapping() - kvm_arch_pre_fault_test_mapping() for
 *	KVM-HV
 * @vcpu: a vCPU of the VM
 * @gpa: the guest-physical address to look up
 * @map: filled in on success
 *
 * Return: 0, or -EOPNOTSUPP for a VM without a partition-scoped tree.
 */
int kvmhv_pre_fault_test_mapping(struct kvm_vcpu *vcpu, gpa_t gpa,
				 struct kvm_pre_fault_mapping *map)
{
	struct kvm *kvm = vcpu->kvm;
	pte_t *ptep, pte = __pte(0);
	unsigned int shift = 0;

	*map = (struct kvm_pre_fault_mapping){};
	if (!kvm_is_radix(kvm))
		return -EOPNOTSUPP;
	spin_lock(&kvm->mmu_lock);
	ptep = find_kvm_secondary_pte(kvm, gpa, &shift);
	if (ptep)
		pte = READ_ONCE(*ptep);
	spin_unlock(&kvm->mmu_lock);
	if (!pte_present(pte))
		return 0;
	map->mapped = true;
	map->size = shift ? 1ULL << shift : PAGE_SIZE;
	map->writable = pte_write(pte);
	map->accessed = pte_young(pte);
	map->pfn = pte_pfn(pte) + ((gpa & (map->size - 1)) >> PAGE_SHIFT);
	map->attrs = pte_val(pte) & ~PTE_RPN_MASK;
	return 0;
}
#endif
