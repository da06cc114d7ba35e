// SPDX-License-Identifier: GPL-2.0-only
/*
 * arm64 stage-2 backend of KVM_PRE_FAULT_MEMORY (linux/kvm_pre_fault.h).
 *
 * A pre-fault is the guest's first read of a page, minus the exit: it is
 * handed to the normal stage-2 fault path, user_mem_abort(), as a read
 * translation fault, so that hugetlb and THP blocks, MTE tag sanitising,
 * dirty logging, read-only memslots, device memory and poisoned pages are
 * treated exactly as the guest's own fault would be.  A run of small pages
 * of normal memory that the fault path would map one 4 KiB leaf at a time
 * is mapped in one walk instead (kvm_arch_pre_fault_map_run()), with the
 * same attributes.
 */
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>

#include <asm/kvm_mmu.h>
#include <asm/kvm_pgtable.h>

/*
 * The leaf mapping @ipa in @mmu: its size in bytes (0 when @ipa is not
 * mapped) and, through @pte, the entry itself.
 */
static u64 pre_fault_lookup(struct kvm *kvm, struct kvm_s2_mmu *mmu,
			    phys_addr_t ipa, kvm_pte_t *pte)
{
	s8 level;
	int r;

	read_lock(&kvm->mmu_lock);
	r = kvm_pgtable_get_leaf(mmu->pgt, ipa, pte, &level);
	read_unlock(&kvm->mmu_lock);
	if (r || !kvm_pte_valid(*pte))
		return 0;
	return kvm_granule_size(level);
}

long kvm_arch_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
				    struct kvm_pre_fault_memory *range,
				    struct kvm_memory_slot *slot)
{
	struct kvm *kvm = vcpu->kvm;
	/*
	 * A read translation fault on the VM's canonical stage 2: gpa is a
	 * memslot IPA even when the vCPU runs a nested guest, whose shadow
	 * stage 2 (vcpu->arch.hw_mmu) pre-faulting must not populate.  The
	 * wait for the host page ends on a signal, as a VMM blocked on
	 * userfaultfd (post-copy) needs.
	 */
	struct kvm_s2_fault_desc fault = {
		.ipa = range->gpa,
		.mmu = &kvm->arch.mmu,
		.interruptible = true,
	};
	unsigned long hva = gfn_to_hva_memslot_prot(slot, gpa_to_gfn(range->gpa),
						    NULL);
	kvm_pte_t pte;
	u64 size;
	int r;

	/*
	 * A valid leaf is counted as done without replaying the fault; one
	 * whose access flag aging cleared is made young, as the guest's
	 * access-flag fault would.  An mmu_notifier invalidation racing the
	 * mapping makes the fault path return -EAGAIN with nothing mapped:
	 * retry then, unless the retry could only succeed once this caller
	 * drops kvm->srcu.
	 */
	while (!(size = pre_fault_lookup(kvm, fault.mmu, range->gpa, &pte))) {
		r = user_mem_abort(vcpu, &fault, NULL, slot, hva);
		if (!r || r == -EAGAIN)
			r = kvm_pre_fault_may_continue(vcpu, range->gpa);
		if (r)
			return r;
	}
	if (!(pte & KVM_PTE_LEAF_ATTR_LO_S2_AF))
		kvm_s2_handle_access_fault(kvm, fault.mmu, range->gpa);

	return kvm_pre_fault_progress(vcpu, range, size);
}

/* Stops a walk at the first valid leaf, which *arg then gives. */
static int pre_fault_first_mapped(const struct kvm_pgtable_visit_ctx *ctx,
				  enum kvm_pgtable_walk_flags visit)
{
	u64 *end = ctx->arg;

	if (!kvm_pte_valid(ctx->old))
		return 0;
	*end = ctx->addr;
	return -EEXIST;
}

unsigned int kvm_arch_pre_fault_run_pages(struct kvm_vcpu *vcpu,
					  struct kvm_memory_slot *slot,
					  gpa_t gpa, unsigned int max_pages)
{
	struct kvm *kvm = vcpu->kvm;
	u64 table_end = ALIGN(gpa + 1, kvm_granule_size(KVM_PGTABLE_LAST_LEVEL - 1));
	u64 end = min(table_end, gpa + ((u64)max_pages << PAGE_SHIFT));
	struct kvm_pgtable_walker walker = {
		.cb	= pre_fault_first_mapped,
		.arg	= &end,
		.flags	= KVM_PGTABLE_WALK_LEAF | KVM_PGTABLE_WALK_SHARED,
	};

	/* user_mem_abort() also sanitises the MTE tags of a new page. */
	if (kvm_has_mte(kvm))
		return 0;
	/*
	 * The one last-level table a run may need, allocated before the
	 * generic code pins the run: reclaim during the allocation could
	 * otherwise zap the pinned pages and waste the run.
	 */
	if (kvm_mmu_topup_memory_cache(&vcpu->arch.mmu_page_cache,
				       kvm_mmu_cache_min_pages(&kvm->arch.mmu)))
		return 0;

	read_lock(&kvm->mmu_lock);
	kvm_pgtable_walk(kvm->arch.mmu.pgt, gpa, end - gpa, &walker);
	read_unlock(&kvm->mmu_lock);
	return (end - gpa) >> PAGE_SHIFT;
}

/*
 * user_mem_abort() maps a frame outside the linear map (kvm_is_device_pfn())
 * as Device memory and skips the cache maintenance it cannot do there.
 */
bool kvm_arch_pre_fault_batch_pfn(struct kvm *kvm, kvm_pfn_t pfn)
{
	return pfn_is_map_memory(pfn);
}

int kvm_arch_pre_fault_map_run(struct kvm_vcpu *vcpu,
			       const struct kvm_pre_fault_run *run)
{
	struct kvm_mmu_memory_cache *memcache = &vcpu->arch.mmu_page_cache;
	struct kvm *kvm = vcpu->kvm;
	struct kvm_s2_mmu *mmu = &kvm->arch.mmu;
	/*
	 * What user_mem_abort() gives a read fault on normal memory of the
	 * canonical stage 2: readable, writable where the host page is,
	 * executable when the CPU needs no I-cache maintenance for it.
	 */
	enum kvm_pgtable_prot prot = KVM_PGTABLE_PROT_R;
	unsigned int i, end;
	bool writable;
	int r;

	if (cpus_have_final_cap(ARM64_HAS_CACHE_DIC))
		prot |= KVM_PGTABLE_PROT_X;

	read_lock(&kvm->mmu_lock);
	r = kvm_pre_fault_run_stale(kvm, run) ? -EAGAIN : 0;
	/*
	 * A walk per stretch of pages with the same permissions, from the
	 * memory cache kvm_arch_pre_fault_run_pages() filled.  A walk that
	 * loses a race for an entry to another vCPU (a guest fault, another
	 * pre-fault) stops with -EAGAIN, the stretches before it mapped.
	 */
	for (i = 0; !r && i < run->nr_pages; i = end) {
		writable = test_bit(i, run->writable);
		end = writable ? find_next_zero_bit(run->writable, run->nr_pages, i) :
				 find_next_bit(run->writable, run->nr_pages, i);
		r = kvm_pgtable_stage2_map_pages(mmu->pgt, run->gpa + i * PAGE_SIZE,
						 end - i, run->pfns + i,
						 writable ? prot | KVM_PGTABLE_PROT_W : prot,
						 memcache, KVM_PGTABLE_WALK_SHARED);
	}
	read_unlock(&kvm->mmu_lock);
	return r;
}

/*
 * A vCPU that KVM_ARM_VCPU_INIT never set up gets -ENOEXEC, as from
 * KVM_RUN and the register ioctls.  Nothing else a vCPU's first entry sets
 * up is needed to map its stage 2.
 */
int kvm_arch_pre_fault_prepare(struct kvm_vcpu *vcpu)
{
	return kvm_vcpu_initialized(vcpu) ? 0 : -ENOEXEC;
}

bool kvm_arch_pre_fault_allowed(struct kvm *kvm)
{
	/* The host cannot map into a protected VM's stage 2 (pKVM). */
	return !kvm || !kvm_vm_is_protected(kvm);
}

gpa_t kvm_arch_pre_fault_gpa_limit(struct kvm_vcpu *vcpu)
{
	return kvm_phys_size(&vcpu->kvm->arch.mmu);
}

#if IS_ENABLED(CONFIG_KVM_PRE_FAULT_KUNIT_TEST)
int kvm_arch_pre_fault_test_init_vcpu(struct file *vcpu_file,
				      void __user *scratch)
{
	struct kvm_vcpu_init init = { .target = kvm_target_cpu() };

	if (copy_to_user(scratch, &init, sizeof(init)))
		return -EFAULT;
	/* Through the vCPU's ioctl handler: it takes vcpu->mutex. */
	return vcpu_file->f_op->unlocked_ioctl(vcpu_file, KVM_ARM_VCPU_INIT,
					       (unsigned long)scratch);
}

int kvm_arch_pre_fault_test_mapping(struct kvm_vcpu *vcpu, gpa_t gpa,
				    struct kvm_pre_fault_mapping *map)
{
	kvm_pte_t pte;

	*map = (struct kvm_pre_fault_mapping){};
	map->size = pre_fault_lookup(vcpu->kvm, &vcpu->kvm->arch.mmu, gpa, &pte);
	map->mapped = map->size != 0;
	if (!map->mapped)
		return 0;
	map->writable = kvm_pgtable_stage2_pte_prot(pte) & KVM_PGTABLE_PROT_W;
	map->accessed = pte & KVM_PTE_LEAF_ATTR_LO_S2_AF;
	map->pfn = kvm_pte_to_pfn(pte) + ((gpa & (map->size - 1)) >> PAGE_SHIFT);
	map->attrs = pte & ~kvm_phys_to_pte(kvm_pte_to_phys(pte));
	return 0;
}

/*
 * A shadow stage 2 as a nested guest's would be: a stage 2 of its own with
 * the VM's IPA size, current for the vCPU as vcpu->arch.hw_mmu is after
 * the vCPU ran the nested guest.  Not on kvm->arch.nested_mmus: nothing
 * but the case that made it uses it.  Nested guests run only with VHE;
 * in nVHE mode loading the vCPU would hand EL2 a structure never shared
 * with it.
 */
int kvm_arch_pre_fault_test_enter_nested(struct kvm_vcpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_s2_mmu *mmu;
	int r;

	if (!has_vhe())
		return -EOPNOTSUPP;
	if (vcpu->arch.hw_mmu != &kvm->arch.mmu)
		return -EBUSY;
	mmu = kzalloc(sizeof(*mmu), GFP_KERNEL_ACCOUNT);
	if (!mmu)
		return -ENOMEM;
	r = kvm_init_stage2_mmu(kvm, mmu, kvm_phys_shift(&kvm->arch.mmu));
	if (r) {
		kfree(mmu);
		return r;
	}
	vcpu->arch.hw_mmu = mmu;
	return 0;
}

static int pre_fault_test_count_leaf(const struct kvm_pgtable_visit_ctx *ctx,
				     enum kvm_pgtable_walk_flags visit)
{
	if (kvm_pte_valid(ctx->old))
		++*(int *)ctx->arg;
	return 0;
}

int kvm_arch_pre_fault_test_nested_leaves(struct kvm_vcpu *vcpu)
{
	struct kvm_s2_mmu *mmu = vcpu->arch.hw_mmu;
	int leaves = 0;
	struct kvm_pgtable_walker walker = {
		.cb	= pre_fault_test_count_leaf,
		.arg	= &leaves,
		.flags	= KVM_PGTABLE_WALK_LEAF | KVM_PGTABLE_WALK_SHARED,
	};

	if (mmu == &vcpu->kvm->arch.mmu)
		return -EINVAL;
	read_lock(&vcpu->kvm->mmu_lock);
	kvm_pgtable_walk(mmu->pgt, 0, kvm_phys_size(mmu), &walker);
	read_unlock(&vcpu->kvm->mmu_lock);
	return leaves;
}

void kvm_arch_pre_fault_test_leave_nested(struct kvm_vcpu *vcpu)
{
	struct kvm_s2_mmu *mmu = vcpu->arch.hw_mmu;

	if (mmu == &vcpu->kvm->arch.mmu)
		return;
	vcpu->arch.hw_mmu = &vcpu->kvm->arch.mmu;
	kvm_free_stage2_pgd(mmu);
	kfree(mmu);
}

int kvm_arch_pre_fault_test_cached_tables(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.mmu_page_cache.nobjs;
}

/*
 * Holds (*arg true) or lets go the entry above a last-level table as a
 * shared walker installing the table holds it: KVM_INVALID_PTE_LOCKED in an
 * entry that was empty.
 */
static int pre_fault_test_hold(const struct kvm_pgtable_visit_ctx *ctx,
			       enum kvm_pgtable_walk_flags visit)
{
	bool hold = *(bool *)ctx->arg;

	if (ctx->level != KVM_PGTABLE_LAST_LEVEL - 1 ||
	    ctx->old != (hold ? 0 : KVM_INVALID_PTE_LOCKED))
		return -EBUSY;
	WRITE_ONCE(*ctx->ptep, hold ? KVM_INVALID_PTE_LOCKED : 0);
	return 0;
}

int kvm_arch_pre_fault_test_hold_table(struct kvm_vcpu *vcpu, gpa_t gpa,
				       bool hold)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_pgtable_walker walker = {
		.cb	= pre_fault_test_hold,
		.arg	= &hold,
		.flags	= KVM_PGTABLE_WALK_LEAF,
	};
	int r;

	/* Exclusive: no walker is between reading and setting the entry. */
	write_lock(&kvm->mmu_lock);
	r = kvm_pgtable_walk(kvm->arch.mmu.pgt, gpa, PAGE_SIZE, &walker);
	write_unlock(&kvm->mmu_lock);
	return r;
}
#endif
