// SPDX-License-Identifier: GPL-2.0-only
/* The VMM on arm64 (vm_arch.h): the guest program runs with the MMU off. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "regs.h"
#include "vm_arch.h"

#ifndef __aarch64__
#error "vmm/arch/arm64.c is for arm64 (see VMM_ARCH in tools/Makefile)"
#endif

/* MMU off: x0=cur x1=end x2=stride x3=mmio x4=op. */
asm(".pushsection .rodata\n"
    ".global vm_guest_code, vm_guest_code_end\n"
    ".balign 4\n"
    "vm_guest_code:\n"
    "	mov w5, #0\n"
    "1:	cmp x0, x1\n"
    "	b.hs 3f\n"
    "	cbz x4, 2f\n"
    "	str w0, [x0]\n"
    "2:	ldr w6, [x0]\n"
    "	add w5, w5, w6\n"
    "	add x0, x0, x2\n"
    "	b 1b\n"
    "3:	str w5, [x3]\n"
    "4:	b 4b\n"
    "vm_guest_code_end:\n"
    ".popsection\n");

#define VM_CORE_REG(name) \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
	 KVM_REG_ARM_CORE_REG(name))

int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	struct kvm_vcpu_init init;

	/* Every vCPU starts powered on: no KVM_ARM_VCPU_POWER_OFF. */
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init))
		return -errno;
	if (ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init))
		return -errno;
	return 0;
}

int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	static const uint64_t ids[5] = {
		VM_CORE_REG(regs.regs[0]), VM_CORE_REG(regs.regs[1]),
		VM_CORE_REG(regs.regs[2]), VM_CORE_REG(regs.regs[3]),
		VM_CORE_REG(regs.regs[4]),
	};

	return vm_set_args_by_id(vcpu_fd, ids, VM_CORE_REG(regs.pc), arg);
}

int vm_arch_get_pc(int vcpu_fd, uint64_t *pc)
{
	return vm_get_reg(vcpu_fd, VM_CORE_REG(regs.pc), pc);
}

/* Default (40-bit IPA), the smallest and the largest IPA size. */
const struct vm_type vm_arch_types[] = {
	{ "default", 0 },
	{ "ipa_32", KVM_VM_TYPE_ARM_IPA_SIZE(32) },
	{ "ipa_max", 0 },	/* filled from KVM_CAP_ARM_VM_IPA_SIZE */
	{ }
};

bool vm_arch_type(int kvm_fd, const struct vm_type *t, unsigned long *type)
{
	*type = t->type;
	if (!strcmp(t->name, "ipa_max")) {
		int ipa = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);

		*type = ipa > 0 ? KVM_VM_TYPE_ARM_IPA_SIZE(ipa) : 0;
	}
	return true;
}
