/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vCPU registers for the arch files: one by one by ONE_REG id (arm64 and
 * riscv), or out of the whole set (x86, and powerpc, which has no ONE_REG
 * ids for its GPRs and PC).
 */
#ifndef KVMPF_VM_REGS_H
#define KVMPF_VM_REGS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vm.h"

static inline int vm_set_reg(int vcpu_fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)&val };

	return ioctl(vcpu_fd, KVM_SET_ONE_REG, &reg) ? -errno : 0;
}

static inline int vm_get_reg(int vcpu_fd, uint64_t id, uint64_t *val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)val };

	return ioctl(vcpu_fd, KVM_GET_ONE_REG, &reg) ? -errno : 0;
}

/*
 * The guest program's arguments into the registers @ids, one by one, then
 * the PC (@pc_id) to its start: 0 or -errno.
 */
static inline int vm_set_args_by_id(int vcpu_fd, const uint64_t ids[5],
				    uint64_t pc_id, const uint64_t arg[5])
{
	int i, r;

	for (i = 0; i < 5; i++) {
		r = vm_set_reg(vcpu_fd, ids[i], arg[i]);
		if (r)
			return r;
	}
	return vm_set_reg(vcpu_fd, pc_id, VM_CODE_GPA);
}

/* The 64-bit register at @offset in struct kvm_regs: 0 or -errno. */
static inline int vm_get_regs_u64(int vcpu_fd, size_t offset, uint64_t *val)
{
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	memcpy(val, (char *)&regs + offset, sizeof(*val));
	return 0;
}

#endif
