// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_PRE_FAULT_MEMORY: the one loop every architecture shares.
 *
 * The loop validates the range, gates it per VM, and calls the arch's
 * kvm_arch_vcpu_pre_fault_memory() once per mapping until the range is
 * done, a signal arrives, or the arch reports an error.  Userspace learns
 * how far it got from the updated range: an errno comes back only when
 * nothing was processed, so every call either makes progress or says why
 * it could not.
 */
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/hugetlb.h>
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/*
 * Deleting or moving a memslot first publishes the slot marked
 * KVM_MEMSLOT_INVALID, then publishes the final memslots; each time the new
 * memslots carry KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS while the updater waits
 * in synchronize_srcu() for every reader, a pre-fault included.  A fault
 * path that retries until the slot is valid again, or until its page-table
 * root is rebuilt, would wait forever for that reader.
 */
static bool kvm_pre_fault_update_in_progress(struct kvm_vcpu *vcpu)
{
	return kvm_vcpu_memslots(vcpu)->generation & KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS;
}

/* Whether @gpa's own memslot is being deleted or moved. */
static bool kvm_pre_fault_slot_invalid(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	struct kvm_memory_slot *slot = kvm_vcpu_gfn_to_memslot(vcpu, gpa_to_gfn(gpa));

	return slot && (slot->flags & KVM_MEMSLOT_INVALID);
}

/**
 * kvm_pre_fault_may_continue() - whether a backend may retry a fault
 * @vcpu: the pre-faulting vCPU
 * @gpa: the address being mapped
 *
 * Called by arch retry loops before each retry; reschedules when it
 * returns 0.  Exported for backends in modules of their own (powerpc's
 * kvm-hv.ko).  A retry loop must not wait for a memslot update while holding
 * kvm->srcu, which the update waits for: -EAGAIN tells it to leave, and the
 * generic loop then waits for the update outside SRCU, or reports -EAGAIN
 * when the update deletes or moves @gpa's own memslot.
 *
 * Context: kvm->srcu held for read.
 * Return: 0 to go on, -EINTR on a pending signal, -EIO once the VM is
 * dead (a fault that keeps asking for a retry would otherwise spin on it),
 * -EAGAIN while a memslot update is in progress or @gpa's slot is being
 * deleted or moved.
 */
int kvm_pre_fault_may_continue(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	if (signal_pending(current))
		return -EINTR;
	if (READ_ONCE(vcpu->kvm->vm_dead))
		return -EIO;
	if (kvm_pre_fault_update_in_progress(vcpu) ||
	    kvm_pre_fault_slot_invalid(vcpu, gpa))
		return -EAGAIN;
	cond_resched();
	return 0;
}
EXPORT_SYMBOL_GPL(kvm_pre_fault_may_continue);

/*
 * @nr leaves of @leaf_size bytes mapped, counted by size: the histogram
 * tells a VMM which mapping sizes its pre-fault got.
 */
static void kvm_pre_fault_count_leaves(struct kvm_vcpu *vcpu, u64 leaf_size,
				       u64 nr)
{
	u64 *hist = vcpu->stat.generic.pre_fault_step_bytes_hist;
	size_t index = min_t(size_t, fls64(leaf_size),
			     ARRAY_SIZE(vcpu->stat.generic.pre_fault_step_bytes_hist) - 1);

	hist[index] += nr;
}

/**
 * kvm_pre_fault_progress() - report the leaf now mapping a pre-fault's start
 * @vcpu: the pre-faulting vCPU
 * @range: the range being pre-faulted, starting at the GPA just mapped
 * @leaf_size: size of the leaf (page or block) now mapping @range->gpa
 *
 * Counts the leaf, by its size, in the vCPU's pre_fault_step_bytes_hist
 * (a 2 MiB block reached 4 KiB into it counts as 2 MiB, not as the bytes
 * left of it) and computes what an arch's kvm_arch_vcpu_pre_fault_memory()
 * returns, which every backend does through this function.
 *
 * Return: the bytes from @range->gpa to the end of the leaf, which may have
 * started below it, capped by @range->size.
 */
u64 kvm_pre_fault_progress(struct kvm_vcpu *vcpu,
			   const struct kvm_pre_fault_memory *range,
			   u64 leaf_size)
{
	u64 end = ALIGN_DOWN(range->gpa, leaf_size) + leaf_size;

	kvm_pre_fault_count_leaves(vcpu, leaf_size, 1);
	return min(range->size, end - range->gpa);
}
EXPORT_SYMBOL_GPL(kvm_pre_fault_progress);

#ifdef CONFIG_KVM_GENERIC_PRE_FAULT_BATCH
/**
 * kvm_pre_fault_run_stale() - whether a run's host pages may be stale
 * @kvm: the VM
 * @run: the run about to be mapped
 *
 * Context: mmu_lock held.
 * Return: true when an mmu_notifier invalidation is in progress or ran
 * since @run->mmu_seq was read: the run must not be mapped.
 */
bool kvm_pre_fault_run_stale(struct kvm *kvm, const struct kvm_pre_fault_run *run)
{
	lockdep_assert_held(&kvm->mmu_lock);
	return mmu_invalidate_retry(kvm, run->mmu_seq);
}

/*
 * A page the fault path would map on its own as one PAGE_SIZE leaf of
 * normal memory: not part of a large folio (a THP the fault path may map
 * as a block) and not device memory.
 */
static bool kvm_pre_fault_small_page(struct page *page)
{
	return !folio_test_large(page_folio(page)) && !is_zone_device_page(page);
}

/*
 * Whether @page may join a batched run of @kvm: a small page, and one the
 * arch's fault path maps as normal memory (arm64 maps a frame outside the
 * linear map as Device memory, without cache maintenance).  A function of
 * its own so that the conformance suite can stand in for the arch's
 * answer (a KUnit static stub, inert otherwise).
 */
VISIBLE_IF_KUNIT bool kvm_pre_fault_batch_page(struct kvm *kvm, struct page *page)
{
	KUNIT_STATIC_STUB_REDIRECT(kvm_pre_fault_batch_page, kvm, page);
	return kvm_pre_fault_small_page(page) &&
	       kvm_arch_pre_fault_batch_pfn(kvm, page_to_pfn(page));
}

/*
 * Whether the host maps @hva with a page that is not for a batch, looked
 * at without pinning it or taking a lock: memory backed by THP or hugetlb,
 * whose blocks the per-page path maps, is then sent there before the run
 * costs anything else.  An absent page tells nothing yet.
 */
static bool kvm_pre_fault_host_page_large(unsigned long hva)
{
	struct page *page;
	bool large;

	if (!get_user_page_fast_only(hva, 0, &page))
		return false;
	large = !kvm_pre_fault_small_page(page);
	put_page(page);
	return large;
}

static void kvm_pre_fault_put_pages(struct page **pages, unsigned int nr)
{
	while (nr)
		put_page(pages[--nr]);
}

/*
 * After faulting *@page in for read at @hva: whether the fault path would
 * map it writable, i.e. whether the host maps it writable now.  The zero
 * page never is, a write replaces it.  The writable page (a copy-on-write
 * in between may have changed it) then replaces *@page.
 */
static bool kvm_pre_fault_now_writable(unsigned long hva, struct page **page)
{
	struct page *wpage;

	if (is_zero_page(*page) || !get_user_page_fast_only(hva, FOLL_WRITE, &wpage))
		return false;
	put_page(*page);
	*page = wpage;
	return true;
}

/*
 * Pin the host pages of @run->nr_pages pages from @hva as the fault path
 * looks up each one for a read fault: a page present and writable is
 * mapped writable; any other page is faulted in for read (the shared zero
 * page for untouched anonymous memory) and is writable only if the host
 * maps it writable once faulted in.  The run ends before the first page
 * that is not for a batch (kvm_pre_fault_batch_page()), or that cannot be
 * faulted in (poison, a signal during a userfaultfd wait): the per-page
 * path deals with it.
 *
 * Return: the pages pinned, 0 when the first page is not for a batch.
 */
static unsigned int kvm_pre_fault_pin_run(struct kvm *kvm,
					  struct kvm_pre_fault_run *run,
					  unsigned long hva)
{
	/* As hva_to_pfn_slow(): a NUMA hinting fault is taken, not skipped. */
	const unsigned int gup_read = FOLL_HWPOISON | FOLL_INTERRUPTIBLE |
				      FOLL_HONOR_NUMA_FAULT;
	unsigned int nr = run->nr_pages, fast, i;
	long r;

	/* The first page alone: a THP would waste a whole run's pins. */
	fast = get_user_page_fast_only(hva, FOLL_WRITE, run->pages);
	if (!fast && get_user_pages_unlocked(hva, 1, run->pages, gup_read) != 1)
		return 0;
	if (!kvm_pre_fault_batch_page(kvm, run->pages[0])) {
		put_page(run->pages[0]);
		return 0;
	}

	/*
	 * Pages present and writable in one lockless pass, then the rest
	 * faulted in for read, in one pass too, and checked one by one.
	 */
	if (fast && nr > 1)
		fast += max(get_user_pages_fast_only(hva + PAGE_SIZE, nr - 1,
						     FOLL_WRITE, run->pages + 1), 0);
	if (fast < nr && nr > 1) {
		i = max(fast, 1U);
		r = get_user_pages_unlocked(hva + i * PAGE_SIZE, nr - i,
					    run->pages + i, gup_read);
		nr = i + max(r, 0L);
	}

	bitmap_zero(run->writable, KVM_PRE_FAULT_RUN_PAGES);
	for (i = 0; i < nr; i++) {
		if (!kvm_pre_fault_batch_page(kvm, run->pages[i]))
			break;
		if (i < fast || kvm_pre_fault_now_writable(hva + i * PAGE_SIZE,
							   &run->pages[i]))
			__set_bit(i, run->writable);
		run->pfns[i] = page_to_pfn(run->pages[i]);
	}
	kvm_pre_fault_put_pages(run->pages + i, nr - i);
	return i;
}

/*
 * The batched step: map a run of pages from range->gpa with one memslot
 * and VMA resolution, one host page lookup pass, one mmu_invalidate_seq
 * check and one mmu_lock section in the arch.  Pages are then released as
 * the fault path releases a page it mapped: dirty when mapped writable,
 * accessed in any case.  A slot that logs dirty pages (read faults differ
 * per arch, and every page mapped writable must be logged) or is
 * read-only (never writable, whatever the host page) is not batched.
 *
 * Return: bytes mapped, or 0 when range->gpa is for the per-page path
 * (including a raced invalidation and a failed allocation, which that path
 * retries or reports).
 */
static long kvm_pre_fault_batch(struct kvm_vcpu *vcpu,
				struct kvm_pre_fault_memory *range,
				struct kvm_memory_slot *slot,
				struct kvm_pre_fault_run *run)
{
	struct kvm *kvm = vcpu->kvm;
	gfn_t gfn = gpa_to_gfn(range->gpa);
	struct vm_area_struct *vma;
	unsigned long hva;
	unsigned int i;
	u64 max;
	int r;

	if (!run || kvm_slot_dirty_track_enabled(slot) ||
	    (slot->flags & KVM_MEM_READONLY))
		return 0;
	hva = gfn_to_hva_memslot(slot, gfn);
	if (kvm_pre_fault_host_page_large(hva))
		return 0;
	max = min3(range->size >> PAGE_SHIFT, slot->base_gfn + slot->npages - gfn,
		   (u64)KVM_PRE_FAULT_RUN_PAGES);
	run->nr_pages = kvm_arch_pre_fault_run_pages(vcpu, slot, range->gpa, max);
	if (!run->nr_pages)
		return 0;

	mmap_read_lock(current->mm);
	vma = vma_lookup(current->mm, hva);
	if (!vma || is_vm_hugetlb_page(vma) || (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
		mmap_read_unlock(current->mm);
		return 0;
	}
	run->nr_pages = min_t(u64, run->nr_pages, (vma->vm_end - hva) >> PAGE_SHIFT);
	/* As in the fault path: read before the pages are looked up. */
	run->mmu_seq = kvm->mmu_invalidate_seq;
	/* Pairs with the smp_wmb() in kvm_mmu_invalidate_end(). */
	smp_rmb();
	/*
	 * Untouched anonymous memory: the zero page over the run under one
	 * page table lock per table, where the pin pass would take a host
	 * read fault per page to map it (present entries are left alone).
	 */
	map_zero_page_range(vma, hva,
			    hva + ((unsigned long)run->nr_pages << PAGE_SHIFT));
	mmap_read_unlock(current->mm);

	run->nr_pages = kvm_pre_fault_pin_run(kvm, run, hva);
	if (!run->nr_pages)
		return 0;
	run->gpa = range->gpa;
	run->slot = slot;
	r = kvm_arch_pre_fault_map_run(vcpu, run);

	/*
	 * After an error part of the run may be mapped (an arch walk that
	 * lost a race stops there): release every page as mapped.  A page
	 * the host maps writable loses nothing by being marked dirty.
	 */
	for (i = 0; i < run->nr_pages; i++) {
		if (test_bit(i, run->writable))
			kvm_release_page_dirty(run->pages[i]);
		else
			kvm_release_page_clean(run->pages[i]);
	}
	return r ? 0 : (long)run->nr_pages << PAGE_SHIFT;
}

static struct kvm_pre_fault_run *kvm_pre_fault_alloc_run(u64 size)
{
	/* Without a run the per-page path does the work, only slower. */
	if (size <= PAGE_SIZE)
		return NULL;
	return kvmalloc(sizeof(struct kvm_pre_fault_run),
			GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}
#else
struct kvm_pre_fault_run;

static long kvm_pre_fault_batch(struct kvm_vcpu *vcpu,
				struct kvm_pre_fault_memory *range,
				struct kvm_memory_slot *slot,
				struct kvm_pre_fault_run *run)
{
	return 0;
}

static struct kvm_pre_fault_run *kvm_pre_fault_alloc_run(u64 size)
{
	return NULL;
}
#endif

/*
 * The arch's per-page step.  A function of its own so that the conformance
 * suite can stand in for an arch (a KUnit static stub, inert otherwise)
 * and make it fail as no arch here fails on demand.
 */
VISIBLE_IF_KUNIT long kvm_pre_fault_map_leaf(struct kvm_vcpu *vcpu,
					     struct kvm_pre_fault_memory *range,
					     struct kvm_memory_slot *slot)
{
	KUNIT_STATIC_STUB_REDIRECT(kvm_pre_fault_map_leaf, vcpu, range, slot);
	return kvm_arch_vcpu_pre_fault_memory(vcpu, range, slot);
}

/*
 * One step: bytes mapped from range->gpa, or a negative errno.  The
 * memslot is looked up once, here, and handed to the arch, so that the
 * check and the mapping cannot see two different memslots; *@no_slot
 * tells that -ENOENT means no memslot rather than no memory in one.  A run
 * of pages goes through the batch where the arch offers one, anything
 * else through kvm_arch_vcpu_pre_fault_memory(), a leaf at a time.
 */
static long kvm_pre_fault_step(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range,
			       struct kvm_pre_fault_run *run, bool *no_slot)
{
	struct kvm_memory_slot *slot;
	gpa_t slot_end;
	bool batched;
	long r;

	r = kvm_pre_fault_may_continue(vcpu, range->gpa);
	if (r)
		return r;
	slot = kvm_vcpu_gfn_to_memslot(vcpu, gpa_to_gfn(range->gpa));
	*no_slot = !slot;
	if (!slot)
		return -ENOENT;
	/*
	 * Being deleted or moved since kvm_pre_fault_may_continue() looked.
	 * A slot seen valid here stays usable to the end of the step: the
	 * update marks a copy invalid and waits for SRCU before freeing it.
	 */
	if (slot->flags & KVM_MEMSLOT_INVALID)
		return -EAGAIN;
	slot_end = gfn_to_gpa(slot->base_gfn + slot->npages);

	/* A per-page step counts its leaf in kvm_pre_fault_progress(). */
	r = kvm_pre_fault_batch(vcpu, range, slot, run);
	batched = r > 0;
	if (!batched)
		r = kvm_pre_fault_map_leaf(vcpu, range, slot);
	if (r < 0)
		return r;
	/*
	 * An arch that maps nothing, more than asked, or beyond the memslot
	 * (memory the guest was never given) breaks the contract.
	 */
	if (WARN_ON_ONCE(r == 0 || r > (long)range->size ||
			 range->gpa + r > slot_end))
		return -EIO;
	++vcpu->stat.generic.pre_fault_steps;
	if (batched)
		kvm_pre_fault_count_leaves(vcpu, PAGE_SIZE, r >> PAGE_SHIFT);
	return r;
}

/*
 * Whether a memslot update was in progress or completed since the
 * memslots of generation @gen were current: what an -EAGAIN from a step
 * that started then may have met.
 */
static bool kvm_pre_fault_memslots_changed(struct kvm_vcpu *vcpu, u64 gen)
{
	u64 now = kvm_vcpu_memslots(vcpu)->generation;

	return now != gen || (now & KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS);
}

/*
 * A step that started with the memslots of generation @gen found no
 * memslot (@err -ENOENT) or returned -EAGAIN.  An -EAGAIN that met no
 * memslot update is the arch's own (its MMU cannot map now) and goes back
 * to userspace: retrying here, with vcpu->mutex held, could only spin.
 * Otherwise leave SRCU, wait for any update in progress to complete (it
 * holds kvm->slots_lock until its final memslots are published;
 * vcpu->mutex nests outside slots_lock), and look again.
 *
 * Return: 1 to try the step again; otherwise the errno for userspace:
 * -EAGAIN when the update deletes or moves @gpa's own memslot (the caller
 * decides whether to retry) or the arch asked for it, -ENOENT when no
 * memslot covers @gpa once no update is in progress, -EINTR when a fatal
 * signal interrupts the wait.
 */
static int kvm_pre_fault_settle(struct kvm_vcpu *vcpu, gpa_t gpa, int err,
				u64 gen, int *srcu_idx)
{
	struct kvm *kvm = vcpu->kvm;
	bool covered;

	if (err == -EAGAIN && (kvm_pre_fault_slot_invalid(vcpu, gpa) ||
			       !kvm_pre_fault_memslots_changed(vcpu, gen)))
		return -EAGAIN;

	srcu_read_unlock(&kvm->srcu, *srcu_idx);
	if (mutex_lock_killable(&kvm->slots_lock)) {
		*srcu_idx = srcu_read_lock(&kvm->srcu);
		return -EINTR;
	}
	covered = kvm_vcpu_gfn_to_memslot(vcpu, gpa_to_gfn(gpa));
	mutex_unlock(&kvm->slots_lock);
	*srcu_idx = srcu_read_lock(&kvm->srcu);

	return covered ? 1 : -ENOENT;
}

/**
 * kvm_vcpu_pre_fault_memory() - pre-fault a guest-physical range
 * @vcpu: the vCPU the ioctl was issued on
 * @range: in: the range; out: what is left of it
 *
 * Return: 0 when at least one page was processed, @range advanced by
 * exactly the bytes processed; otherwise a negative errno with @range
 * unchanged: -EINVAL (flags, alignment, overflow, beyond the vCPU's
 * guest-physical address space), -EOPNOTSUPP (not for this VM), -EIO (VM
 * dead or bugged), -EINTR (signal), -EAGAIN (the memslot of @range->gpa
 * is being deleted or moved, or the arch cannot map it at the moment:
 * retry), -ENOENT (no memslot at @range->gpa
 * once no memslot update is in progress, or no memory behind it), or what
 * the arch's fault path reports.  A memslot update elsewhere in the VM is
 * waited for, outside kvm->srcu, and the step retried.  An error met after
 * progress is not lost: the next call, starting where this one stopped,
 * reports it.
 */
long kvm_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range)
{
	struct kvm_pre_fault_run *run;
	u64 full_size = range->size;
	bool no_slot = false;
	long r;
	u64 gen;
	int idx;

	if (range->flags)
		return -EINVAL;
	if (!PAGE_ALIGNED(range->gpa) || !PAGE_ALIGNED(range->size) ||
	    range->gpa + range->size <= range->gpa)
		return -EINVAL;
	if (!kvm_arch_pre_fault_allowed(vcpu->kvm))
		return -EOPNOTSUPP;
	if (range->gpa + range->size > kvm_arch_pre_fault_gpa_limit(vcpu))
		return -EINVAL;

	vcpu_load(vcpu);
	r = kvm_arch_pre_fault_prepare(vcpu);
	if (r) {
		vcpu_put(vcpu);
		return r;
	}
	run = kvm_pre_fault_alloc_run(range->size);
	idx = srcu_read_lock(&vcpu->kvm->srcu);
	do {
		gen = kvm_vcpu_memslots(vcpu)->generation;
		r = kvm_pre_fault_step(vcpu, range, run, &no_slot);
		if (r == -EAGAIN || (r == -ENOENT && no_slot)) {
			r = kvm_pre_fault_settle(vcpu, range->gpa, r, gen, &idx);
			if (r > 0)
				continue;
		}
		if (r < 0)
			break;
		range->gpa += r;
		range->size -= r;
		/*
		 * Between steps, let a synchronize_srcu() waiting for this
		 * reader (a memslot or io-bus update, KVM_IOEVENTFD) through:
		 * each step looks its memslot up afresh anyway.
		 */
		srcu_read_unlock(&vcpu->kvm->srcu, idx);
		idx = srcu_read_lock(&vcpu->kvm->srcu);
	} while (range->size);
	srcu_read_unlock(&vcpu->kvm->srcu, idx);
	vcpu_put(vcpu);
	kvfree(run);

	return range->size == full_size ? r : 0;
}

/**
 * kvm_vcpu_ioctl_pre_fault_memory() - the KVM_PRE_FAULT_MEMORY vCPU ioctl
 * @vcpu: the vCPU, its mutex held
 * @argp: userspace's struct kvm_pre_fault_memory, updated in place
 *
 * Return: as kvm_vcpu_pre_fault_memory(), or -EFAULT when @argp cannot be
 * read or written back.
 */
int kvm_vcpu_ioctl_pre_fault_memory(struct kvm_vcpu *vcpu, void __user *argp)
{
	struct kvm_pre_fault_memory range;
	long r;

	if (copy_from_user(&range, argp, sizeof(range)))
		return -EFAULT;
	r = kvm_vcpu_pre_fault_memory(vcpu, &range);
	/* Userspace resumes from the leftover range, even after an error. */
	if (copy_to_user(argp, &range, sizeof(range)))
		return -EFAULT;
	return r;
}

/**
 * kvm_pre_fault_capability() - KVM_CAP_PRE_FAULT_MEMORY for a VM
 * @kvm: the VM asked, or NULL when /dev/kvm is asked
 *
 * Return: 1 when KVM_PRE_FAULT_MEMORY works for @kvm, 0 otherwise.
 */
int kvm_pre_fault_capability(struct kvm *kvm)
{
	return kvm_arch_pre_fault_allowed(kvm);
}
