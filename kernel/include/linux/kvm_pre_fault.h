/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * KVM_PRE_FAULT_MEMORY: the contract between the generic loop in
 * virt/kvm/pre_fault.c and an architecture's second-stage MMU.
 *
 * See Documentation/virt/kvm/pre-fault-porting.rst for how to port it.
 */
#ifndef __LINUX_KVM_PRE_FAULT_H
#define __LINUX_KVM_PRE_FAULT_H

#include <linux/bitmap.h>
#include <linux/kvm.h>
#include <linux/kvm_types.h>
#include <linux/types.h>

struct kvm;
struct kvm_memory_slot;
struct kvm_vcpu;
struct kvm_pre_fault_memory;

/**
 * kvm_arch_vcpu_pre_fault_memory() - map the start of a pre-fault range
 * @vcpu: the vCPU the ioctl was issued on; loaded, with kvm->srcu held
 * @range: @range->gpa is page aligned and inside @slot; @range->size
 *	(non-zero) bounds the answer
 * @slot: the memslot that contains @range->gpa, looked up once by the
 *	generic loop and not being deleted or moved when it was looked up;
 *	use it rather than looking the GPA up again
 *
 * Map @range->gpa in the VM's second stage as the guest's own first read of
 * it would, through the arch's normal fault path, and leave an existing
 * mapping as the guest's access would (young, where the arch ages entries).
 * Do not modify @range.  May sleep; a wait for the host page (userfaultfd)
 * must end with -EINTR on a signal.  A loop that retries the fault (after a
 * raced mmu_notifier invalidation, say) calls kvm_pre_fault_may_continue()
 * before each retry and returns what it returns when not 0: it must not
 * wait for a memslot update while holding kvm->srcu, which the update
 * waits for.
 *
 * Return: the number of bytes now mapped from @range->gpa, between
 * PAGE_SIZE and @range->size, never beyond the end of @slot: with a block
 * mapping, up to the end of the block that contains @range->gpa.  Or a
 * negative errno: -EAGAIN as above, -EINTR on a pending signal, -ENOENT
 * when the fault path would exit to userspace (no memory behind the GPA),
 * -EFAULT or -EHWPOISON when the host memory cannot be faulted in,
 * -EOPNOTSUPP when this VM cannot be served, -ENOMEM.  The arch never
 * returns 0.
 */
long kvm_arch_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
				    struct kvm_pre_fault_memory *range,
				    struct kvm_memory_slot *slot);

/**
 * kvm_arch_pre_fault_prepare() - get a vCPU ready to map a range
 * @vcpu: the vCPU the ioctl was issued on; loaded, vcpu->mutex held,
 *	kvm->srcu not held
 *
 * Called once per KVM_PRE_FAULT_MEMORY, before the range is walked: set
 * up what the vCPU's next KVM_RUN would set up first and the mapping
 * needs (powerpc: the VM's MMU after a mode switch), outside kvm->srcu
 * as KVM_RUN does it.  Nothing to do on most architectures.
 *
 * Return: 0, or a negative errno for userspace (the range unchanged).
 */
int kvm_arch_pre_fault_prepare(struct kvm_vcpu *vcpu);

/**
 * kvm_arch_pre_fault_allowed() - whether pre-fault works for a VM
 * @kvm: the VM, or NULL for what /dev/kvm reports (the default VM type)
 *
 * Answers KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm and on each VM fd, and gates
 * the ioctl (-EOPNOTSUPP).  The answer for a VM may change: from false to
 * true when a confidential VM's launch is finalised (x86 SEV-SNP), and
 * either way when the VM's MMU mode is switched (powerpc radix and HPT).
 * It is only a gate: a backend whose VM can change under it checks again
 * in kvm_arch_vcpu_pre_fault_memory(), under the arch's own rules.
 *
 * Return: true when KVM_PRE_FAULT_MEMORY can serve @kvm.
 */
bool kvm_arch_pre_fault_allowed(struct kvm *kvm);

/**
 * kvm_arch_pre_fault_gpa_limit() - end of the vCPU's guest-physical space
 * @vcpu: the vCPU the ioctl was issued on
 *
 * Return: the first guest-physical address the vCPU cannot address; a range
 * that reaches beyond it is refused with -EINVAL.
 */
gpa_t kvm_arch_pre_fault_gpa_limit(struct kvm_vcpu *vcpu);

/**
 * struct kvm_pre_fault_mapping - how one GPA is mapped in the second stage
 * @mapped: a valid leaf entry translates the GPA
 * @writable: the leaf entry allows guest writes
 * @accessed: the leaf entry is marked accessed (young), as a guest access
 *	marks it: aging would take the page for one in use
 * @size: bytes the leaf maps (PAGE_SIZE, or a block size such as 2 MiB)
 * @pfn: the host page frame the GPA's own page translates to (inside a
 *	block, the block's first frame plus the GPA's offset in it)
 * @attrs: the leaf entry without its output address: every permission,
 *	memory-type and software bit, to compare two mappings exactly
 */
struct kvm_pre_fault_mapping {
	bool mapped;
	bool writable;
	bool accessed;
	u64 size;
	u64 pfn;
	u64 attrs;
};

/**
 * kvm_arch_pre_fault_test_mapping() - test hook: look up a GPA's mapping
 * @vcpu: a vCPU of the VM; the lookup uses the stage 2 it pre-faults into
 * @gpa: the guest-physical address to look up
 * @map: filled in on success
 *
 * Only built for CONFIG_KVM_PRE_FAULT_KUNIT_TEST: the conformance suite
 * uses it to see what a pre-fault installed.  Takes whatever lock the
 * arch's page-table walk needs.
 *
 * Return: 0, or -EOPNOTSUPP when the arch cannot look (the case then skips).
 */
int kvm_arch_pre_fault_test_mapping(struct kvm_vcpu *vcpu, gpa_t gpa,
				    struct kvm_pre_fault_mapping *map);

/**
 * kvm_arch_pre_fault_test_guest_fault() - test hook: a guest's read fault
 * @vcpu: a vCPU of the VM, loaded, kvm->srcu held
 * @gpa: the guest-physical address the guest reads
 *
 * Only built for CONFIG_KVM_PRE_FAULT_KUNIT_TEST, and optional: handles a
 * second-stage read fault on @gpa as the arch's fault path does when the
 * guest reads it, for an arch whose pre-fault maps differently from a
 * guest access (x86 pre-faults as a prefetch), so that the conformance
 * suite can compare the two in one case.
 *
 * Return: 0 once @gpa is mapped; a negative errno; -EOPNOTSUPP when the
 * arch's pre-fault is its guest fault path.
 */
int kvm_arch_pre_fault_test_guest_fault(struct kvm_vcpu *vcpu, gpa_t gpa);

/**
 * kvm_arch_pre_fault_test_enter_nested() - test hook: stand for a nested guest
 * @vcpu: a vCPU of the VM, not running, its vcpu->mutex held
 *
 * Only built for CONFIG_KVM_PRE_FAULT_KUNIT_TEST, and optional: gives
 * @vcpu a current second stage of its own, empty, as after the vCPU ran
 * a nested guest (arm64: a shadow stage 2 as vcpu->arch.hw_mmu), so that
 * the conformance suite can check that a pre-fault still maps the VM's
 * own second stage.  kvm_arch_pre_fault_test_leave_nested() undoes it.
 *
 * Return: 0; a negative errno; -EOPNOTSUPP when the arch has no such
 * state to stand for.
 */
int kvm_arch_pre_fault_test_enter_nested(struct kvm_vcpu *vcpu);

/**
 * kvm_arch_pre_fault_test_nested_leaves() - test hook: leaves mapped there
 * @vcpu: a vCPU that kvm_arch_pre_fault_test_enter_nested() set up
 *
 * Return: the valid leaf entries in @vcpu's nested second stage.
 */
int kvm_arch_pre_fault_test_nested_leaves(struct kvm_vcpu *vcpu);

/**
 * kvm_arch_pre_fault_test_leave_nested() - test hook: back to the VM's own
 * @vcpu: a vCPU that kvm_arch_pre_fault_test_enter_nested() set up
 *
 * Makes the VM's second stage @vcpu's current one again and frees the
 * nested one.
 */
void kvm_arch_pre_fault_test_leave_nested(struct kvm_vcpu *vcpu);

/**
 * kvm_arch_pre_fault_test_init_vcpu() - test hook: a vCPU's set-up ioctl
 * @vcpu_file: the vCPU's file
 * @scratch: user memory of at least a page the hook may use for the ioctl's
 *	argument
 *
 * Only built for CONFIG_KVM_PRE_FAULT_KUNIT_TEST: the conformance suite
 * creates vCPUs with KVM_CREATE_VCPU only, then calls this to do what a
 * VMM does next before it can run the vCPU (arm64: KVM_ARM_VCPU_INIT with
 * the host's preferred target).
 *
 * Return: 0; a negative errno when the set-up failed; -EOPNOTSUPP when a
 * created vCPU needs no set-up on this arch.
 */
int kvm_arch_pre_fault_test_init_vcpu(struct file *vcpu_file,
				      void __user *scratch);

/**
 * kvm_arch_pre_fault_test_hold_table() - test hook: stand for a racing walker
 * @vcpu: a vCPU of the VM; the hook acts on the stage 2 it pre-faults into
 * @gpa: a guest-physical address whose last-level table does not exist yet
 *	(the tables above it do)
 * @hold: true to hold the entry that will point to that table, as another
 *	vCPU installing the table holds it; false to let it go again
 *
 * Only built for CONFIG_KVM_PRE_FAULT_KUNIT_TEST: the conformance suite
 * uses it to make a batched step lose the race for a table
 * deterministically.  An arch whose batch walks under the write lock has
 * nothing to race with and need not define it.
 *
 * Return: 0; -EBUSY when the entry is not as @hold expects (a table or an
 * upper level missing); -EOPNOTSUPP when the arch has no such race.
 */
int kvm_arch_pre_fault_test_hold_table(struct kvm_vcpu *vcpu, gpa_t gpa,
				       bool hold);

/**
 * kvm_arch_pre_fault_test_cached_tables() - test hook: the vCPU's table cache
 * @vcpu: a vCPU of the VM
 *
 * Only built for CONFIG_KVM_PRE_FAULT_KUNIT_TEST, and optional: the
 * conformance suite checks with it that a batched step fills the memory
 * cache its page tables come from before it pins the run's host pages.
 *
 * Return: the page-table pages in @vcpu's memory cache, or -EOPNOTSUPP.
 */
int kvm_arch_pre_fault_test_cached_tables(struct kvm_vcpu *vcpu);

/* Most pages in one batched step: a last-level table of 4 KiB entries. */
#define KVM_PRE_FAULT_RUN_PAGES	512

/**
 * struct kvm_pre_fault_run - consecutive pages mapped by one batched step
 * @gpa: the guest-physical address of the first page
 * @slot: the memslot of every page of the run, as the generic loop looked
 *	it up for this step (not to be looked up again: a memslot update may
 *	have published an invalid copy since)
 * @nr_pages: pages in the run, between 1 and %KVM_PRE_FAULT_RUN_PAGES
 * @writable: bit i set when the fault path maps page i writable (the host
 *	maps it writable), clear when it maps it read-only
 * @mmu_seq: kvm->mmu_invalidate_seq, read before the host pages were
 *	looked up; kvm_pre_fault_run_stale() compares it under mmu_lock
 * @pfns: the host page frame of each page, pinned until the step ends
 * @pages: the pinned host pages, released by the generic code
 *
 * Filled in by the generic code (virt/kvm/pre_fault.c), which owns the
 * run's boundaries, the host page lookup and the release of the pages;
 * the arch only writes the leaf entries.
 */
struct kvm_pre_fault_run {
	gpa_t gpa;
	struct kvm_memory_slot *slot;
	unsigned int nr_pages;
	DECLARE_BITMAP(writable, KVM_PRE_FAULT_RUN_PAGES);
	unsigned long mmu_seq;
	kvm_pfn_t pfns[KVM_PRE_FAULT_RUN_PAGES];
	struct page *pages[KVM_PRE_FAULT_RUN_PAGES];
};

/**
 * kvm_arch_pre_fault_run_pages() - how many pages one batched step may map
 * @vcpu: the pre-faulting vCPU, kvm->srcu held
 * @slot: the memslot that holds @gpa, as for kvm_arch_vcpu_pre_fault_memory()
 * @gpa: page aligned, inside @slot
 * @max_pages: at least 1; the pages from @gpa to the end of the range and
 *	of @slot, capped at %KVM_PRE_FAULT_RUN_PAGES
 *
 * Only for architectures that select KVM_GENERIC_PRE_FAULT_BATCH.  A batch
 * writes one %PAGE_SIZE leaf per page, so it may only be offered where the
 * arch's fault path would do exactly that for a read fault on a small page
 * of normal memory, not where the fault path has more to do (e.g. MTE tags
 * to sanitise).  The generic code itself leaves memslots that log dirty
 * pages or are read-only, hugetlb, PFNMAP and VM_IO mappings, large folios
 * (THP block candidates), device pages and poisoned pages to the per-page
 * path.
 *
 * Where the arch keeps a per-vCPU cache of page-table pages, fill it here,
 * before the generic code pins the run: reclaim during an allocation after
 * the pin could zap the pinned pages and waste the run (the run is then
 * found stale and goes page by page; nothing is mapped wrongly).  powerpc,
 * which keeps no such cache, allocates per descent.
 *
 * Return: the number of consecutive pages from @gpa, at most @max_pages,
 * that are not mapped in the second stage and share the last-level table
 * that maps @gpa; 0 sends @gpa down kvm_arch_vcpu_pre_fault_memory(), as
 * does a failed allocation (that path reports it).
 */
unsigned int kvm_arch_pre_fault_run_pages(struct kvm_vcpu *vcpu,
					  struct kvm_memory_slot *slot,
					  gpa_t gpa, unsigned int max_pages);

/**
 * kvm_arch_pre_fault_batch_pfn() - whether a host frame may join a batch
 * @kvm: the VM
 * @pfn: a pinned host page frame, of a small page that is not ZONE_DEVICE
 *
 * Only for architectures that select KVM_GENERIC_PRE_FAULT_BATCH.  The
 * generic code ends a run before the first frame for which this is false,
 * and the per-page path maps that frame: say false wherever the arch's
 * fault path would map the frame otherwise than a page of normal memory
 * (arm64 maps a frame outside the linear map, e.g. no-map memory in a
 * VM_MIXEDMAP mapping, as Device memory without cache maintenance).
 *
 * Return: true when the fault path maps @pfn as the batch would.
 */
bool kvm_arch_pre_fault_batch_pfn(struct kvm *kvm, kvm_pfn_t pfn);

/**
 * kvm_arch_pre_fault_map_run() - map a run of pages in the second stage
 * @vcpu: the pre-faulting vCPU, kvm->srcu held
 * @run: the run, its pages pinned
 *
 * Only for architectures that select KVM_GENERIC_PRE_FAULT_BATCH.  Under
 * mmu_lock, taken once, and after kvm_pre_fault_run_stale() said the run
 * is current: install a %PAGE_SIZE leaf for each page of @run with the
 * attributes the arch's fault path gives a read fault on that page
 * (writable where @run->writable says), walking to the last-level table
 * once, or once per stretch of pages of the same permissions,
 * and leave any entry that is valid by then as it is.  Invalidate what the
 * arch's TLBs may hold for the run once, not per page.
 *
 * Return: 0 when every page of @run is mapped; -EAGAIN when the run is
 * stale, or the walk met an entry another walker is still installing, or
 * a mapping the arch's batch does not replace (riscv: a block), -ENOMEM.  After an error
 * a prefix of @run may be mapped, each page as a success would have
 * mapped it (the generic code releases every page as mapped, dirty when
 * writable), and no page the walk did not reach: a stretch the walk
 * skipped must not be reported as mapped.  The generic code then maps
 * @run->gpa through kvm_arch_vcpu_pre_fault_memory(), which reports or
 * retries as usual.
 */
int kvm_arch_pre_fault_map_run(struct kvm_vcpu *vcpu,
			       const struct kvm_pre_fault_run *run);

bool kvm_pre_fault_run_stale(struct kvm *kvm,
			     const struct kvm_pre_fault_run *run);

#if IS_ENABLED(CONFIG_KUNIT) && IS_ENABLED(CONFIG_KVM_PRE_FAULT_MEMORY)
/*
 * Steps of the generic loop that the conformance suite can stand in for
 * (KUnit static stubs; static without KUnit): the arch's per-page step,
 * and whether a host page may join a batched run.
 */
long kvm_pre_fault_map_leaf(struct kvm_vcpu *vcpu,
			    struct kvm_pre_fault_memory *range,
			    struct kvm_memory_slot *slot);
struct page;
bool kvm_pre_fault_batch_page(struct kvm *kvm, struct page *page);
#endif

#ifdef CONFIG_KVM_PRE_FAULT_MEMORY
u64 kvm_pre_fault_progress(struct kvm_vcpu *vcpu,
			   const struct kvm_pre_fault_memory *range,
			   u64 leaf_size);
int kvm_pre_fault_may_continue(struct kvm_vcpu *vcpu, gpa_t gpa);
long kvm_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range);
int kvm_vcpu_ioctl_pre_fault_memory(struct kvm_vcpu *vcpu, void __user *argp);
int kvm_pre_fault_capability(struct kvm *kvm);
#else
/* Without the feature nothing calls the arch's mapping function. */
static inline u64 kvm_pre_fault_progress(struct kvm_vcpu *vcpu,
					 const struct kvm_pre_fault_memory *range,
					 u64 leaf_size)
{
	return 0;
}

static inline int kvm_pre_fault_may_continue(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	return 0;
}

static inline int kvm_vcpu_ioctl_pre_fault_memory(struct kvm_vcpu *vcpu,
						  void __user *argp)
{
	return -EOPNOTSUPP;
}

static inline int kvm_pre_fault_capability(struct kvm *kvm)
{
	return 0;
}
#endif

#endif /* __LINUX_KVM_PRE_FAULT_H */
