// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMM on ppc64le (vm_arch.h): the guest program runs in real mode on
 * KVM-HV, and KVM_RUN keeps the caller's floating-point registers.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "regs.h"
#include "vm_arch.h"

#if !defined(__powerpc64__) || !defined(__LITTLE_ENDIAN__)
#error "vmm/arch/ppc64le.c is for little-endian powerpc64 (see VMM_ARCH in tools/Makefile)"
#endif

/*
 * Real mode (MSR IR and DR off, 64-bit, little-endian): a radix guest's
 * real addresses go straight through the partition-scoped table.
 * r3=cur r4=end r5=stride r6=mmio r7=op.
 */
asm(".pushsection .rodata\n"
    ".global vm_guest_code, vm_guest_code_end\n"
    ".balign 4\n"
    "vm_guest_code:\n"
    "	li 8, 0\n"
    "1:	cmpld 3, 4\n"
    "	bge 3f\n"
    "	cmpdi 7, 0\n"
    "	beq 2f\n"
    "	stw 3, 0(3)\n"
    "2:	lwz 9, 0(3)\n"
    "	add 8, 8, 9\n"
    "	add 3, 3, 5\n"
    "	b 1b\n"
    "3:	stw 8, 0(6)\n"
    "4:	b 4b\n"
    "vm_guest_code_end:\n"
    ".popsection\n");

/* MSR_SF | MSR_ME | MSR_LE: 64-bit, machine checks on, little-endian. */
#define VM_GUEST_MSR	0x8000000000001001ULL

int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	/* KVM-HV runs only vCPUs that speak PAPR (kvmppc_sanity_check()). */
	struct kvm_enable_cap papr = { .cap = KVM_CAP_PPC_PAPR };

	(void)vm;
	return ioctl(vcpu_fd, KVM_ENABLE_CAP, &papr) ? -errno : 0;
}

/* powerpc has no ONE_REG ids for the GPRs and PC: the whole set at once. */
int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	struct kvm_regs regs;
	int i;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	for (i = 0; i < 5; i++)
		regs.gpr[3 + i] = arg[i];
	regs.pc = VM_CODE_GPA;
	regs.msr = VM_GUEST_MSR;
	return ioctl(vcpu_fd, KVM_SET_REGS, &regs) ? -errno : 0;
}

/*
 * Under QEMU 7.2's nested KVM-HV (TCG as the L0 hypervisor), KVM_RUN has
 * been seen to return to the VMM thread with its floating-point registers
 * zeroed after the guest took many exits: a double the caller held in a
 * callee-saved register across the call (a start time, a hoisted constant)
 * came back as 0.  Not known to happen on hardware.  The registers the ABI
 * says a call preserves (f14-f31) are kept here around the ioctl and put
 * back; fp_clobbers counts how often KVM_RUN lost them.
 */
#define VM_FPR_SAVE(op, buf) \
	asm volatile(op " 14,0(%0)\n" op " 15,8(%0)\n" op " 16,16(%0)\n" \
		     op " 17,24(%0)\n" op " 18,32(%0)\n" op " 19,40(%0)\n" \
		     op " 20,48(%0)\n" op " 21,56(%0)\n" op " 22,64(%0)\n" \
		     op " 23,72(%0)\n" op " 24,80(%0)\n" op " 25,88(%0)\n" \
		     op " 26,96(%0)\n" op " 27,104(%0)\n" op " 28,112(%0)\n" \
		     op " 29,120(%0)\n" op " 30,128(%0)\n" op " 31,136(%0)\n" \
		     : : "b"(buf) : "memory", "fr14", "fr15", "fr16", "fr17", \
		       "fr18", "fr19", "fr20", "fr21", "fr22", "fr23", "fr24", \
		       "fr25", "fr26", "fr27", "fr28", "fr29", "fr30", "fr31")

static atomic_uint fp_clobbers;

int vm_arch_kvm_run(int vcpu_fd, bool kickable)
{
	uint64_t before[18], after[18];
	int r, err;

	VM_FPR_SAVE("stfd", before);
	r = vm_kvm_run_ioctl(vcpu_fd, kickable);
	err = errno;
	VM_FPR_SAVE("stfd", after);
	if (memcmp(before, after, sizeof(before))) {
		atomic_fetch_add(&fp_clobbers, 1);
		VM_FPR_SAVE("lfd", before);
	}
	errno = err;
	return r;
}

bool vm_arch_fp_clobbers(unsigned int *n)
{
	*n = atomic_load(&fp_clobbers);
	return true;
}

int vm_arch_get_pc(int vcpu_fd, uint64_t *pc)
{
	return vm_get_regs_u64(vcpu_fd, offsetof(struct kvm_regs, pc), pc);
}

const char vm_arch_exits_stat[] = "sum_exits";
/* KVM-HV's decrementer and external interrupts. */
const char *const vm_arch_interrupt_exit_stats[] = {
	"dec_exits", "ext_intr_exits", NULL
};

/* Default (KVM-HV when it is loaded), HV and PR asked for by name. */
const struct vm_type vm_arch_types[] = {
	{ "default", 0 },
	{ "hv", KVM_VM_PPC_HV },
	{ "pr", KVM_VM_PPC_PR },
	{ }
};
