// SPDX-License-Identifier: GPL-2.0-only
/* The VMM on riscv64 (vm_arch.h): the guest program runs with satp off. */
#include <errno.h>
#include <sys/ioctl.h>

#include "regs.h"
#include "vm_arch.h"

#if !defined(__riscv) || __riscv_xlen != 64
#error "vmm/arch/riscv64.c is for riscv64 (see VMM_ARCH in tools/Makefile)"
#endif

/* satp off: a0=cur a1=end a2=stride a3=mmio a4=op. */
asm(".pushsection .rodata\n"
    ".global vm_guest_code, vm_guest_code_end\n"
    ".option push\n"
    ".option norvc\n"
    ".balign 4\n"
    "vm_guest_code:\n"
    "	li t0, 0\n"
    "1:	bgeu a0, a1, 3f\n"
    "	beqz a4, 2f\n"
    "	sw a0, 0(a0)\n"
    "2:	lw t1, 0(a0)\n"
    "	addw t0, t0, t1\n"
    "	add a0, a0, a2\n"
    "	j 1b\n"
    "3:	sw t0, 0(a3)\n"
    "4:	j 4b\n"
    "vm_guest_code_end:\n"
    ".option pop\n"
    ".popsection\n");

#define VM_CORE_REG(name) \
	(KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CORE | \
	 KVM_REG_RISCV_CORE_REG(name))

int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	/* KVM creates every vCPU but the first powered off. */
	struct kvm_mp_state state = { .mp_state = KVM_MP_STATE_RUNNABLE };

	(void)vm;
	return ioctl(vcpu_fd, KVM_SET_MP_STATE, &state) ? -errno : 0;
}

int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	static const uint64_t ids[5] = {
		VM_CORE_REG(regs.a0), VM_CORE_REG(regs.a1), VM_CORE_REG(regs.a2),
		VM_CORE_REG(regs.a3), VM_CORE_REG(regs.a4),
	};

	return vm_set_args_by_id(vcpu_fd, ids, VM_CORE_REG(regs.pc), arg);
}

int vm_arch_get_pc(int vcpu_fd, uint64_t *pc)
{
	return vm_get_reg(vcpu_fd, VM_CORE_REG(regs.pc), pc);
}

const struct vm_type vm_arch_types[] = {
	{ "default", 0 },
	{ }
};
