// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86's batched step of KVM_PRE_FAULT_MEMORY (KVM_GENERIC_PRE_FAULT_BATCH):
 * a run of small pages mapped into the TDP MMU's root with one walk,
 * kvm_tdp_mmu_map_pages(), each page as kvm_tdp_page_fault() maps it for a
 * read.  What a run cannot do exactly as the fault path does goes page by
 * page: VMs with private memory (SEV-SNP, guest_memfd), KVM's own memslots
 * (the APIC access page), and a vCPU whose MMU is not the TDP MMU.  The
 * generic code leaves out dirty logging, read-only memslots, huge host
 * pages and MMIO.
 */
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>

#include "mmu.h"
#include "mmu_internal.h"
#include "spte.h"
#include "tdp_iter.h"
#include "tdp_mmu.h"

/*
 * The pages from @gfn, at most @nr, before the first one the root maps.  A
 * run fills empty SPTEs only: a mapped page is for the per-page path, and
 * a run must not pin pages it will not map.
 */
static unsigned int pre_fault_unmapped_pages(struct kvm_vcpu *vcpu, gfn_t gfn,
					     unsigned int nr)
{
	gfn_t end = gfn + nr;
	struct tdp_iter iter;

	kvm_tdp_mmu_walk_lockless_begin();
	for_each_tdp_pte_min_level(iter, root_to_sp(vcpu->arch.mmu->root.hpa),
				   PG_LEVEL_4K, gfn, end) {
		if (is_shadow_present_pte(iter.old_spte) &&
		    is_last_spte(iter.old_spte, iter.level)) {
			end = max(iter.gfn, gfn);
			break;
		}
	}
	kvm_tdp_mmu_walk_lockless_end();
	return end - gfn;
}

unsigned int kvm_arch_pre_fault_run_pages(struct kvm_vcpu *vcpu,
					  struct kvm_memory_slot *slot,
					  gpa_t gpa, unsigned int max_pages)
{
	u64 table_end = ALIGN(gpa + 1, KVM_HPAGE_SIZE(PG_LEVEL_2M));

	if (!tdp_mmu_enabled || vcpu->arch.mmu->page_fault != kvm_tdp_page_fault ||
	    kvm_arch_has_private_mem(vcpu->kvm) || slot->id >= KVM_USER_MEM_SLOTS)
		return 0;
	/*
	 * The root and the page-table pages a run may need, before the
	 * generic code pins the run, as the fault path gets them before it
	 * looks the host page up: reclaim during the allocation could
	 * otherwise zap the pinned pages and waste the run.
	 */
	if (kvm_check_request(KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, vcpu))
		kvm_mmu_free_obsolete_roots(vcpu);
	if (kvm_mmu_reload(vcpu) || mmu_topup_memory_caches(vcpu, false))
		return 0;
	return pre_fault_unmapped_pages(vcpu, gpa_to_gfn(gpa),
					min_t(u64, max_pages, (table_end - gpa) >> PAGE_SHIFT));
}

/*
 * Any frame may join a run: make_spte() gives each its own memory type,
 * MMIO or not, as the fault path does.
 */
bool kvm_arch_pre_fault_batch_pfn(struct kvm *kvm, kvm_pfn_t pfn)
{
	return true;
}

int kvm_arch_pre_fault_map_run(struct kvm_vcpu *vcpu,
			       const struct kvm_pre_fault_run *run)
{
	gfn_t gfn = gpa_to_gfn(run->gpa);
	struct kvm *kvm = vcpu->kvm;
	int r = -EAGAIN;

	read_lock(&kvm->mmu_lock);
	/* A root made obsolete since run_pages() loaded it: the fault path reloads. */
	if (!kvm_pre_fault_run_stale(kvm, run) && !kvm_mmu_root_is_stale(vcpu))
		r = kvm_tdp_mmu_map_pages(vcpu, run->slot, gfn, run->nr_pages,
					  run->pfns, run->writable);
	read_unlock(&kvm->mmu_lock);
	return r;
}

#if IS_ENABLED(CONFIG_KVM_PRE_FAULT_KUNIT_TEST)
int kvm_arch_pre_fault_test_cached_tables(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.mmu_shadow_page_cache.nobjs;
}

/*
 * Hold the non-present SPTE that will point to @gpa's last-level table as
 * a task changing it holds it (FROZEN_SPTE), or let it go again.
 */
int kvm_arch_pre_fault_test_hold_table(struct kvm_vcpu *vcpu, gpa_t gpa,
				       bool hold)
{
	u64 from = hold ? SHADOW_NONPRESENT_VALUE : FROZEN_SPTE;
	u64 to = hold ? FROZEN_SPTE : SHADOW_NONPRESENT_VALUE;
	gfn_t gfn = gpa_to_gfn(gpa);
	struct kvm *kvm = vcpu->kvm;
	struct tdp_iter iter;
	int r = -EBUSY;

	if (!tdp_mmu_enabled || !VALID_PAGE(vcpu->arch.mmu->root.hpa))
		return -EOPNOTSUPP;

	/* Exclusive: no walker is between reading and setting the SPTE. */
	write_lock(&kvm->mmu_lock);
	rcu_read_lock();
	for_each_tdp_pte_min_level(iter, root_to_sp(vcpu->arch.mmu->root.hpa),
				   PG_LEVEL_2M, gfn, gfn + 1) {
		if (iter.level != PG_LEVEL_2M)
			continue;
		if (iter.old_spte == from) {
			kvm_tdp_mmu_write_spte(iter.sptep, from, to, iter.level);
			r = 0;
		}
		break;
	}
	rcu_read_unlock();
	write_unlock(&kvm->mmu_lock);
	return r;
}
#endif
