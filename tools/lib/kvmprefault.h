/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmprefault: KVM_PRE_FAULT_MEMORY for VMMs.
 *
 * Every function returns 0 or a negative errno and fills a struct
 * kvmpf_result with what is left of the range and a message; nothing
 * aborts or exits the caller.  libc and pthreads only.
 */
#ifndef KVMPREFAULT_H
#define KVMPREFAULT_H

#include <stdint.h>

/* What one call achieved, and why it stopped. */
struct kvmpf_result {
	uint64_t gpa;		/* first byte not pre-faulted */
	uint64_t size;		/* bytes left from @gpa: 0 when all is done */
	uint64_t calls;		/* KVM_PRE_FAULT_MEMORY ioctls issued */
	int err;		/* 0, or the errno that stopped it */
	char msg[160];		/* human-readable reason when @err != 0 */
};

/* Called after each ioctl that made progress: bytes done out of @total. */
typedef void (*kvmpf_progress_fn)(uint64_t done, uint64_t total, void *opaque);

/* The ioctl to use; tests pass a fake, VMMs NULL for ioctl(2). */
typedef int (*kvmpf_ioctl_fn)(int fd, unsigned long request, void *arg);

struct kvmpf_options {
	kvmpf_progress_fn progress;	/* optional */
	void *opaque;			/* passed to @progress */
	kvmpf_ioctl_fn ioctl;		/* NULL: ioctl(2) */
	unsigned int max_retries;	/* EINTR/EAGAIN in a row; 0: unlimited */
	/*
	 * Bytes per ioctl, a multiple of the page size; 0: the whole range
	 * in one.  KVM returns only when done or interrupted, so a chunk is
	 * what gives @progress something to report on a large range.
	 */
	uint64_t chunk;
};

/*
 * Is KVM_PRE_FAULT_MEMORY usable for this VM?  Asks the VM fd, whose answer
 * may differ from /dev/kvm's.  1 yes, 0 no, or -errno.
 */
int kvmpf_probe(int vm_fd, const struct kvmpf_options *opts);

/*
 * Pre-fault [gpa, gpa + size) through @vcpu_fd: calls again after partial
 * progress, EINTR and EAGAIN; stops on any other error.
 */
int kvmpf_prefault(int vcpu_fd, uint64_t gpa, uint64_t size,
		   const struct kvmpf_options *opts, struct kvmpf_result *res);

/*
 * The same, split into @n page-aligned parts, one thread and vCPU each.
 * @res gets the first part that failed (or a summary when all succeed).
 */
int kvmpf_prefault_parallel(const int *vcpu_fds, unsigned int n, uint64_t gpa,
			    uint64_t size, const struct kvmpf_options *opts,
			    struct kvmpf_result *res);

/*
 * Populate-write mode: make the host back [hva, hva + size) with writable
 * pages first (MADV_POPULATE_WRITE), so that a following pre-fault maps
 * them writable and a write-first guest takes no stage-2 fault.
 */
int kvmpf_populate_write(void *hva, uint64_t size, struct kvmpf_result *res);

#endif
