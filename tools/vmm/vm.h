/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A minimal VMM for the guest-side tests and tools: one VM, memslots backed
 * by anonymous memory, up to VM_MAX_VCPUS vCPUs running a tiny built-in
 * guest program.
 *
 * The guest program walks [start, end) in steps of `stride`, adds up the
 * first 32-bit word of each step (or writes a word there), then reports the
 * sum with a 32-bit MMIO write to VM_MMIO_GPA, which no memslot covers.
 * The same layout and program exist for every arch, one file each in
 * vmm/arch/ (x86_64 in 32-bit flat protected mode, ppc64le in real mode),
 * so every caller is arch-neutral.
 */
#ifndef KVMPF_VM_H
#define KVMPF_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

/* Guest-physical layout shared by every arch (below 4 GiB for x86). */
#define VM_CODE_GPA	0x10000000ULL	/* slot VM_CODE_SLOT: the program */
#define VM_CODE_SIZE	0x10000ULL
#define VM_MMIO_GPA	0x20000000ULL	/* no slot: the exit port */
#define VM_EXCEPTION_GPA (VM_MMIO_GPA + 4) /* where a guest exception is reported */
#define VM_DATA_GPA	0x40000000ULL	/* slot VM_DATA_SLOT: what tests use */
#define VM_CODE_SLOT	0
#define VM_DATA_SLOT	1

enum vm_guest_op {
	VM_GUEST_READ = 0,	/* sum the first word of each step */
	VM_GUEST_WRITE = 1,	/* write the step's address there, sum it too */
};

#define VM_MAX_VCPUS	4

struct vm_vcpu {
	int index;		/* in struct vm's vcpu[] */
	int fd;
	int stats_fd;		/* binary statistics, or -1 */
	struct kvm_run *run;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	int nr_vcpus;
	struct vm_vcpu vcpu[VM_MAX_VCPUS];	/* vcpu[0] made by vm_create() */
	void *code;		/* host memory of the code slot */
	void *data;		/* host memory of the data slot, 2 MiB aligned */
	uint64_t data_size;
	void *data_map;		/* the mapping @data was carved from */
	uint64_t data_map_size;
	char err[160];		/* why the last call failed */
};

/* Open /dev/kvm, create a VM, its code slot and vCPU 0; 0 or -errno. */
int vm_create(struct vm *vm);
/*
 * Create the next vCPU, set up to run the guest program like vCPU 0:
 * its index in vm->vcpu, or -errno.
 */
int vm_add_vcpu(struct vm *vm);
/*
 * Back VM_DATA_SLOT with @size bytes of anonymous memory, 2 MiB aligned so
 * that the host can use transparent huge pages; 0 or -errno.
 */
int vm_add_data_slot(struct vm *vm, uint64_t size, int mmap_flags);
/*
 * The same on the first @size bytes of the file @fd, mapped MAP_PRIVATE
 * (a snapshot restored by mapping it: the guest reads the page cache, its
 * writes go to private copies); 0 or -errno.
 */
int vm_add_data_slot_file(struct vm *vm, uint64_t size, int fd);
void vm_destroy(struct vm *vm);
/*
 * KVM_CAP_PRE_FAULT_MEMORY of a fresh VM of the default type into *@vm_cap
 * (1, 0 or -errno) and, unless NULL, of /dev/kvm into *@dev_cap.  0, or
 * -errno when no VM could be created, with the reason in @err.
 */
int vm_pre_fault_capability(int *vm_cap, int *dev_cap, char *err, size_t len);
/* Record "fmt: strerror(-r)" in vm->err and return @r (a negative errno). */
int vm_fail(struct vm *vm, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Run the guest program on vCPU @cpu over [gpa, gpa + len) with @stride
 * and @op until its MMIO report; stores the reported sum.  0 or -errno
 * (vm->err says why; vCPUs running at once must not share a struct vm's
 * err, so concurrent callers read only the errno); -EFAULT when the guest
 * took an exception (x86: the vector and EIP in vm->err).
 */
int vm_run_guest(struct vm *vm, int cpu, uint64_t gpa, uint64_t len,
		 uint64_t stride, enum vm_guest_op op, uint32_t *sum);

/* Value of vCPU @cpu's statistic @name (e.g. "exits"), or -1 when absent. */
int64_t vm_vcpu_stat(struct vm *vm, int cpu, const char *name);

/*
 * Into *@n, the KVM_RUN calls that lost the caller's floating-point
 * registers, which were put back (ppc64le: vmm/arch/ppc64le.c); false on
 * an arch that has no need to keep them.
 */
bool vm_arch_fp_clobbers(unsigned int *n);

/*
 * Exits of vCPU @cpu so far for the host's own interrupts (timer and
 * devices), where the arch counts them apart: powerpc's KVM-HV in
 * dec_exits and ext_intr_exits, x86 in irq_exits; 0 on arm64 and riscv,
 * which count them only in the total.  -1 when a statistic is absent.
 */
int64_t vm_vcpu_interrupt_exits(struct vm *vm, int cpu);

/*
 * Exits of vCPU @cpu so far that the guest caused: every exit (the arch's
 * statistic for all of them) but those for the host's interrupts, which no
 * pre-fault can save and whose rate under emulation follows the host's
 * load (nested KVM-HV under QEMU takes bursts of hypervisor-decrementer
 * exits).  -1 when a statistic is absent.
 */
int64_t vm_vcpu_guest_exits(struct vm *vm, int cpu);
/*
 * Up to @n elements of vCPU @cpu's statistic @name (a histogram, say) into
 * @data, zero-filled beyond the statistic's size: how many were read, or
 * -ENOENT when the kernel has no such statistic, -EIO or -ENOMEM.
 */
int vm_vcpu_stat_array(struct vm *vm, int cpu, const char *name,
		       uint64_t *data, uint32_t n);

/*
 * For the watchdog, while an ioctl on vCPU @ctx (a struct vm_vcpu) is
 * stuck: the counters that moved in one second, to @out.
 */
void vm_vcpu_describe(void *ctx, FILE *out);

/* A VM type KVM_CREATE_VM takes on this arch, by a name for people. */
struct vm_type {
	const char *name;
	unsigned long type;
};

#define VM_MAX_TYPES	8

/*
 * The VM types of this arch worth probing (vmm/arch/), at most
 * VM_MAX_TYPES, the default first; a NULL name ends them.
 */
extern const struct vm_type vm_arch_types[];

/*
 * The KVM_CREATE_VM type of @t on the host behind @kvm_fd into *@type:
 * false when KVM does not offer it, so that nothing is to be tried.
 */
bool vm_arch_type(int kvm_fd, const struct vm_type *t, unsigned long *type);

/* Word the host stores at the start of data page @i for the guest to sum. */
static inline uint32_t vm_page_pattern(uint64_t i)
{
	return (uint32_t)(i * 2654435761u + 1);
}

/* Fill each page's first word with vm_page_pattern(); returns their sum. */
uint32_t vm_fill_data(struct vm *vm, uint64_t page_size);

#endif
