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
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

/*
 * Deleting or moving a memslot first publishes the slot marked
 * KVM_MEMSLOT_INVALID, then publishes the final memslots; each time the new
 * memslots carry KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS while the updater waits
 * in synchronize_srcu() for every reader, a pre-fault included.  A fault
 * path that retries until the slot is valid again, or until its page-table
 * root is rebuilt, would wait forever for that reader.
 */
static bool kvm_pre_fault_must_yield(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	struct kvm_memory_slot *slot;

	if (kvm_vcpu_memslots(vcpu)->generation & KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS)
		return true;
	slot = kvm_vcpu_gfn_to_memslot(vcpu, gpa_to_gfn(gpa));
	return slot && (slot->flags & KVM_MEMSLOT_INVALID);
}

/**
 * kvm_pre_fault_may_continue() - whether a pre-fault may try (again)
 * @vcpu: the pre-faulting vCPU
 * @gpa: the address being mapped
 *
 * Called by the generic loop before each piece and by arch retry loops
 * before each retry; reschedules when it returns 0.  A retry loop must not
 * wait for a memslot update while holding kvm->srcu, which the update waits
 * for: -EAGAIN tells it to leave.
 *
 * Context: kvm->srcu held for read.
 * Return: 0 to go on, -EINTR on a pending signal, -EAGAIN while a memslot
 * update is in progress or @gpa's slot is being deleted or moved.
 */
int kvm_pre_fault_may_continue(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	if (signal_pending(current))
		return -EINTR;
	if (kvm_pre_fault_must_yield(vcpu, gpa))
		return -EAGAIN;
	cond_resched();
	return 0;
}

/**
 * kvm_pre_fault_hva() - the host memory behind a GPA a backend maps
 * @vcpu: the pre-faulting vCPU
 * @gpa: the GPA to map
 * @memslot: set to the memslot that contains @gpa
 * @hva: set to the host virtual address behind @gpa
 *
 * Context: kvm->srcu held for read.
 * Return: 0, or -ENOENT where the guest's own access would not be mapped
 * but exit to userspace (emulated MMIO): no usable slot or host address.
 */
int kvm_pre_fault_hva(struct kvm_vcpu *vcpu, gpa_t gpa,
		      struct kvm_memory_slot **memslot, unsigned long *hva)
{
	gfn_t gfn = gpa_to_gfn(gpa);

	*memslot = kvm_vcpu_gfn_to_memslot(vcpu, gfn);
	*hva = gfn_to_hva_memslot_prot(*memslot, gfn, NULL);
	return kvm_is_error_hva(*hva) ? -ENOENT : 0;
}

/* One arch call: bytes mapped from range->gpa, or a negative errno. */
static long kvm_pre_fault_step(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range)
{
	long r;

	r = kvm_pre_fault_may_continue(vcpu, range->gpa);
	if (r)
		return r;
	if (vcpu->kvm->vm_dead)
		return -EIO;
	if (!kvm_vcpu_gfn_to_memslot(vcpu, gpa_to_gfn(range->gpa)))
		return -ENOENT;

	r = kvm_arch_vcpu_pre_fault_memory(vcpu, range);
	/* An arch that maps nothing, or more than asked, breaks the loop. */
	if (WARN_ON_ONCE(r == 0 || r > (long)range->size))
		return -EIO;
	/*
	 * An aligned step covers exactly the leaf that maps range->gpa, so
	 * the histogram tells a VMM which mapping sizes its pre-fault got.
	 */
	++vcpu->stat.generic.pre_fault_steps;
	if (r > 0)
		KVM_STATS_LOG_HIST_UPDATE(vcpu->stat.generic.pre_fault_step_bytes_hist, r);
	return r;
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
 * dead or bugged), -EINTR (signal), -EAGAIN (a memslot update is in
 * progress: retry), -ENOENT (no memslot or no memory at @range->gpa), or
 * what the arch's fault path reports.  An error met after progress is not
 * lost: the next call, starting where this one stopped, reports it.
 */
long kvm_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range)
{
	u64 full_size = range->size;
	long r;
	int idx;

	if (range->flags)
		return -EINVAL;
	if (!PAGE_ALIGNED(range->gpa) || !PAGE_ALIGNED(range->size) ||
	    range->gpa + range->size <= range->gpa)
		return -EINVAL;
	if (!kvm_arch_pre_fault_supported(vcpu->kvm))
		return -EOPNOTSUPP;
	if (range->gpa + range->size > kvm_arch_pre_fault_gpa_limit(vcpu))
		return -EINVAL;

	vcpu_load(vcpu);
	idx = srcu_read_lock(&vcpu->kvm->srcu);
	do {
		r = kvm_pre_fault_step(vcpu, range);
		if (r < 0)
			break;
		range->gpa += r;
		range->size -= r;
	} while (range->size);
	srcu_read_unlock(&vcpu->kvm->srcu, idx);
	vcpu_put(vcpu);

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
	return kvm_arch_pre_fault_supported(kvm);
}
