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
 * returns 0.  A retry loop must not wait for a memslot update while holding
 * kvm->srcu, which the update waits for: -EAGAIN tells it to leave, and the
 * generic loop then waits for the update outside SRCU, or reports -EAGAIN
 * when the update deletes or moves @gpa's own memslot.
 *
 * Context: kvm->srcu held for read.
 * Return: 0 to go on, -EINTR on a pending signal, -EAGAIN while a memslot
 * update is in progress or @gpa's slot is being deleted or moved.
 */
int kvm_pre_fault_may_continue(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	if (signal_pending(current))
		return -EINTR;
	if (kvm_pre_fault_update_in_progress(vcpu) ||
	    kvm_pre_fault_slot_invalid(vcpu, gpa))
		return -EAGAIN;
	cond_resched();
	return 0;
}

/*
 * One arch call: bytes mapped from range->gpa, or a negative errno.  The
 * memslot is looked up once, here, and handed to the arch, so that the
 * check and the mapping cannot see two different memslots; *@no_slot
 * tells that -ENOENT means no memslot rather than no memory in one.
 */
static long kvm_pre_fault_step(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range,
			       bool *no_slot)
{
	struct kvm_memory_slot *slot;
	gpa_t slot_end;
	long r;

	r = kvm_pre_fault_may_continue(vcpu, range->gpa);
	if (r)
		return r;
	if (vcpu->kvm->vm_dead)
		return -EIO;
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

	r = kvm_arch_vcpu_pre_fault_memory(vcpu, range, slot);
	if (r < 0)
		return r;
	/*
	 * An arch that maps nothing, more than asked, or beyond the memslot
	 * (memory the guest was never given) breaks the contract.
	 */
	if (WARN_ON_ONCE(r == 0 || r > (long)range->size ||
			 range->gpa + r > slot_end))
		return -EIO;
	/*
	 * An aligned step covers exactly the leaf that maps range->gpa, so
	 * the histogram tells a VMM which mapping sizes its pre-fault got.
	 */
	++vcpu->stat.generic.pre_fault_steps;
	KVM_STATS_LOG_HIST_UPDATE(vcpu->stat.generic.pre_fault_step_bytes_hist, r);
	return r;
}

/*
 * A step met a memslot update (@err -EAGAIN) or found no memslot (-ENOENT).
 * Leave SRCU, wait for any update in progress to complete (it holds
 * kvm->slots_lock until its final memslots are published; vcpu->mutex
 * nests outside slots_lock), and look again.
 *
 * Return: 1 to try the step again; otherwise the errno for userspace:
 * -EAGAIN when the update deletes or moves @gpa's own memslot (the caller
 * decides whether to retry), -ENOENT when no memslot covers @gpa once no
 * update is in progress, -EINTR when a fatal signal interrupts the wait.
 */
static int kvm_pre_fault_settle(struct kvm_vcpu *vcpu, gpa_t gpa, int err,
				int *srcu_idx)
{
	struct kvm *kvm = vcpu->kvm;
	bool covered;

	if (err == -EAGAIN && kvm_pre_fault_slot_invalid(vcpu, gpa))
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
 * is being deleted or moved: retry), -ENOENT (no memslot at @range->gpa
 * once no memslot update is in progress, or no memory behind it), or what
 * the arch's fault path reports.  A memslot update elsewhere in the VM is
 * waited for, outside kvm->srcu, and the step retried.  An error met after
 * progress is not lost: the next call, starting where this one stopped,
 * reports it.
 */
long kvm_vcpu_pre_fault_memory(struct kvm_vcpu *vcpu,
			       struct kvm_pre_fault_memory *range)
{
	u64 full_size = range->size;
	bool no_slot = false;
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
		r = kvm_pre_fault_step(vcpu, range, &no_slot);
		if (r == -EAGAIN || (r == -ENOENT && no_slot)) {
			r = kvm_pre_fault_settle(vcpu, range->gpa, r, &idx);
			if (r > 0)
				continue;
		}
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
