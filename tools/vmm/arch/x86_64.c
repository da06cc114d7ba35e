// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMM on x86_64 (vm_arch.h): the guest program runs in 32-bit flat
 * protected mode, with vectors that report an exception.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "regs.h"
#include "vm_arch.h"

#ifndef __x86_64__
#error "vmm/arch/x86_64.c is for x86_64 (see VMM_ARCH in tools/Makefile)"
#endif

/* 32-bit flat protected mode: esi=cur edi=end ecx=stride edx=mmio ebx=op. */
asm(".pushsection .rodata\n"
    ".global vm_guest_code, vm_guest_code_end\n"
    ".code32\n"
    "vm_guest_code:\n"
    "	xorl %eax, %eax\n"
    "1:	cmpl %edi, %esi\n"
    "	jae 3f\n"
    "	testl %ebx, %ebx\n"
    "	jz 2f\n"
    "	movl %esi, (%esi)\n"
    "2:	addl (%esi), %eax\n"
    "	addl %ecx, %esi\n"
    "	jmp 1b\n"
    "3:	movl %eax, (%edx)\n"
    "4:	hlt\n"
    "	jmp 4b\n"
    /*
     * Exception vectors 0-31, 16 bytes apart: the vector to
     * VM_EXCEPTION_GPA (hard-coded, see the assertion below).
     */
    "	.balign 16\n"
    "vm_guest_vectors:\n"
    "	.irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "	.balign 16\n"
    "	movl $\\v, %eax\n"
    "	jmp 5f\n"
    "	.endr\n"
    "5:	movl %eax, 0x20000004\n"
    "6:	hlt\n"
    "	jmp 6b\n"
    "vm_guest_code_end:\n"
    ".code64\n"
    ".popsection\n");

extern const unsigned char vm_guest_vectors[];
_Static_assert(VM_EXCEPTION_GPA == 0x20000004ULL,
	       "the exception vectors hard-code VM_EXCEPTION_GPA");

#define VM_IDT_OFFSET	0x8000ULL	/* in the code slot */
#define VM_IDT_VECTORS	32
#define VM_GDT_OFFSET	0x9000ULL	/* null, code (8), data (16) */

/*
 * Without an IDT, an exception in the guest makes the CPU read gate 0-31
 * from GPA 0, where no memslot is: KVM re-injects it on every exit and
 * KVM_RUN never returns.  With one, the vector comes out as an MMIO write
 * and the faulting EIP is on the stack at the top of the code slot.
 */
void vm_arch_code_setup(void *code)
{
	static const uint64_t gdt[3] = {
		0, 0x00cf9b000000ffffULL, 0x00cf93000000ffffULL,
	};
	uint32_t *idt = (uint32_t *)((char *)code + VM_IDT_OFFSET);
	uint32_t stub;
	int v;

	/* Delivering an exception loads CS from the GDT. */
	memcpy((char *)code + VM_GDT_OFFSET, gdt, sizeof(gdt));
	for (v = 0; v < VM_IDT_VECTORS; v++) {
		stub = VM_CODE_GPA + (vm_guest_vectors - vm_guest_code) + 16 * v;
		/* 32-bit interrupt gate: selector 8, present, DPL 0. */
		idt[2 * v] = (8 << 16) | (stub & 0xffff);
		idt[2 * v + 1] = (stub & 0xffff0000) | 0x8e00;
	}
}

/* Where the guest was: exceptions push EFLAGS, CS, EIP below the top. */
bool vm_arch_exception_pc(const struct vm *vm, uint64_t *pc)
{
	uint32_t eip;

	memcpy(&eip, (char *)vm->code + VM_CODE_SIZE - 12, sizeof(eip));
	*pc = eip;
	return true;
}

/*
 * A RIP in the kernel half: L1's own address.  This 32-bit guest cannot
 * get there, and KVM never writes a host address into a guest's state.
 */
bool vm_arch_pc_is_host(uint64_t pc)
{
	return pc >= 0xffff800000000000ULL;
}

int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	struct kvm_segment seg = {
		.base = 0, .limit = 0xffffffff, .present = 1, .dpl = 0,
		.db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_sregs sregs;

	(void)vm;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs))
		return -errno;
	seg.selector = 8;
	seg.type = 11;		/* code: execute/read, accessed */
	sregs.cs = seg;
	seg.selector = 16;
	seg.type = 3;		/* data: read/write, accessed */
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg;
	sregs.gdt.base = VM_CODE_GPA + VM_GDT_OFFSET;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.idt.base = VM_CODE_GPA + VM_IDT_OFFSET;
	sregs.idt.limit = VM_IDT_VECTORS * 8 - 1;
	sregs.cr0 |= 1;		/* PE, no paging */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs))
		return -errno;
	return 0;
}

int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	struct kvm_regs regs = {
		.rsi = arg[0], .rdi = arg[1], .rcx = arg[2], .rdx = arg[3],
		.rbx = arg[4], .rip = VM_CODE_GPA, .rflags = 2,
		.rsp = VM_CODE_GPA + VM_CODE_SIZE,
	};

	return ioctl(vcpu_fd, KVM_SET_REGS, &regs) ? -errno : 0;
}

int vm_arch_get_pc(int vcpu_fd, uint64_t *pc)
{
	return vm_get_regs_u64(vcpu_fd, offsetof(struct kvm_regs, rip), pc);
}

const char *const vm_arch_interrupt_exit_stats[] = { "irq_exits", NULL };

/* The types KVM_CAP_VM_TYPES may list, bit n for type n. */
const struct vm_type vm_arch_types[] = {
	{ "default", KVM_X86_DEFAULT_VM },
	{ "sw_protected", KVM_X86_SW_PROTECTED_VM },
	{ "sev", KVM_X86_SEV_VM },
	{ "sev_es", KVM_X86_SEV_ES_VM },
	{ "snp", KVM_X86_SNP_VM },
	{ }
};

bool vm_arch_type(int kvm_fd, const struct vm_type *t, unsigned long *type)
{
	int types = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);

	*type = t->type;
	return types < 0 || (types & (1 << t->type));
}
