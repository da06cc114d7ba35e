// SPDX-License-Identifier: GPL-2.0-only
/*
 * A minimal VMM: see vm.h.  Only the guest program and the vCPU register
 * set-up differ per arch; they sit together at the top of this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmprefault.h"
#include "vm.h"
#include "watchdog.h"

static watchdog_describe_fn vm_vcpu_describe;

extern const unsigned char vm_guest_code[], vm_guest_code_end[];

/* KVM_RUN under the watchdog; @kickable: a hang is interrupted. */
static int vm_kvm_run_ioctl(int vcpu_fd, bool kickable)
{
	return kickable ? watchdog_ioctl_kickable(vcpu_fd, KVM_RUN, NULL, "KVM_RUN") :
			  watchdog_ioctl(vcpu_fd, KVM_RUN, NULL, "KVM_RUN");
}

#if defined(__x86_64__)
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

/* This guest reports exceptions; the others' do not install vectors yet. */
#define VM_ARCH_HAS_VECTORS	1
/*
 * A RIP in the kernel half: L1's own address.  This 32-bit guest cannot
 * get there, and KVM never writes a host address into a guest's state.
 */
#define VM_ARCH_PC_IS_HOST(pc)	((pc) >= 0xffff800000000000ULL)
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
static void vm_arch_code_setup(void *code)
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
static uint64_t vm_arch_exception_pc(const struct vm *vm)
{
	uint32_t eip;

	memcpy(&eip, (char *)vm->code + VM_CODE_SIZE - 12, sizeof(eip));
	return eip;
}

static int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
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

/* The PC is read with the whole register set (see vm_arch_get_pc()). */
#define VM_REGS_PC	rip

static int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	struct kvm_regs regs = {
		.rsi = arg[0], .rdi = arg[1], .rcx = arg[2], .rdx = arg[3],
		.rbx = arg[4], .rip = VM_CODE_GPA, .rflags = 2,
		.rsp = VM_CODE_GPA + VM_CODE_SIZE,
	};

	return ioctl(vcpu_fd, KVM_SET_REGS, &regs) ? -errno : 0;
}

#elif defined(__aarch64__) || defined(__riscv)
/* arm64 and riscv set and read their registers one by one. */
static int vm_set_reg(int vcpu_fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)&val };

	return ioctl(vcpu_fd, KVM_SET_ONE_REG, &reg) ? -errno : 0;
}

static int vm_get_reg(int vcpu_fd, uint64_t id, uint64_t *val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)val };

	return ioctl(vcpu_fd, KVM_GET_ONE_REG, &reg) ? -errno : 0;
}
#endif

#if defined(__aarch64__)
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

static int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	struct kvm_vcpu_init init;

	/* Every vCPU starts powered on: no KVM_ARM_VCPU_POWER_OFF. */
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init))
		return -errno;
	if (ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init))
		return -errno;
	return 0;
}

static int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	int i, r;

	for (i = 0; i < 5; i++) {
		r = vm_set_reg(vcpu_fd, VM_CORE_REG(regs.regs[i]), arg[i]);
		if (r)
			return r;
	}
	return vm_set_reg(vcpu_fd, VM_CORE_REG(regs.pc), VM_CODE_GPA);
}

#elif defined(__riscv) && __riscv_xlen == 64
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

static int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	/* KVM creates every vCPU but the first powered off. */
	struct kvm_mp_state state = { .mp_state = KVM_MP_STATE_RUNNABLE };

	(void)vm;
	return ioctl(vcpu_fd, KVM_SET_MP_STATE, &state) ? -errno : 0;
}

static int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
{
	static const uint64_t ids[5] = {
		VM_CORE_REG(regs.a0), VM_CORE_REG(regs.a1), VM_CORE_REG(regs.a2),
		VM_CORE_REG(regs.a3), VM_CORE_REG(regs.a4),
	};
	int i, r;

	for (i = 0; i < 5; i++) {
		r = vm_set_reg(vcpu_fd, ids[i], arg[i]);
		if (r)
			return r;
	}
	return vm_set_reg(vcpu_fd, VM_CORE_REG(regs.pc), VM_CODE_GPA);
}
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
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

static int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd)
{
	/* KVM-HV runs only vCPUs that speak PAPR (kvmppc_sanity_check()). */
	struct kvm_enable_cap papr = { .cap = KVM_CAP_PPC_PAPR };

	(void)vm;
	return ioctl(vcpu_fd, KVM_ENABLE_CAP, &papr) ? -errno : 0;
}

/* powerpc has no ONE_REG ids for the GPRs and PC: the whole set at once. */
#define VM_REGS_PC	pc

static int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5])
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
 * back; vm_fp_clobbers counts how often KVM_RUN lost them.
 */
#define VM_ARCH_KVM_RUN_KEEPS_FP
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

atomic_uint vm_fp_clobbers;

static int vm_kvm_run(int vcpu_fd, bool kickable)
{
	uint64_t before[18], after[18];
	int r, err;

	VM_FPR_SAVE("stfd", before);
	r = vm_kvm_run_ioctl(vcpu_fd, kickable);
	err = errno;
	VM_FPR_SAVE("stfd", after);
	if (memcmp(before, after, sizeof(before))) {
		atomic_fetch_add(&vm_fp_clobbers, 1);
		VM_FPR_SAVE("lfd", before);
	}
	errno = err;
	return r;
}
#elif !defined(__x86_64__)
#error "unsupported architecture"
#endif

#ifndef VM_ARCH_KVM_RUN_KEEPS_FP
#define vm_kvm_run	vm_kvm_run_ioctl
#endif

#ifdef VM_REGS_PC
/* x86 and powerpc: the PC from the whole register set. */
static int vm_arch_get_pc(int vcpu_fd, uint64_t *pc)
{
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs))
		return -errno;
	*pc = regs.VM_REGS_PC;
	return 0;
}
#else
static int vm_arch_get_pc(int vcpu_fd, uint64_t *pc)
{
	return vm_get_reg(vcpu_fd, VM_CORE_REG(regs.pc), pc);
}
#endif

#ifndef __x86_64__
/* No emulator fault of that kind is known here: a lost state fails. */
#define VM_ARCH_PC_IS_HOST(pc)	((void)(pc), 0)
#endif

int vm_fail(struct vm *vm, int r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(vm->err))
		snprintf(vm->err + n, sizeof(vm->err) - n, ": %s", strerror(-r));
	return r;
}

static int vm_set_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size,
		       void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)hva,
	};

	if (watchdog_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region,
			   "KVM_SET_USER_MEMORY_REGION"))
		return vm_fail(vm, -errno, "KVM_SET_USER_MEMORY_REGION slot %d", slot);
	return 0;
}

int vm_create(struct vm *vm)
{
	void *code;
	int r, i;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	for (i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpu[i].fd = vm->vcpu[i].stats_fd = -1;

	/* Every program with a VM gets the hang watchdog. */
	r = watchdog_start(WATCHDOG_LIMIT_S);
	if (r)
		return vm_fail(vm, r, "starting the watchdog");
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return vm_fail(vm, -errno, "open /dev/kvm");
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vm_fail(vm, -errno, "KVM_CREATE_VM");
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < 0)
		return vm_fail(vm, -errno, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = r;

	code = mmap(NULL, VM_CODE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return vm_fail(vm, -errno, "mmap code");
	memcpy(code, vm_guest_code, vm_guest_code_end - vm_guest_code);
	vm->code = code;
#ifdef VM_ARCH_HAS_VECTORS
	vm_arch_code_setup(code);
#endif
	r = vm_set_slot(vm, VM_CODE_SLOT, VM_CODE_GPA, VM_CODE_SIZE, code);
	if (r)
		return r;
	r = vm_add_vcpu(vm);
	return r < 0 ? r : 0;
}

int vm_add_vcpu(struct vm *vm)
{
	struct vm_vcpu *vcpu;
	int r;

	if (vm->nr_vcpus == VM_MAX_VCPUS)
		return vm_fail(vm, -ENOSPC, "more than %d vCPUs", VM_MAX_VCPUS);
	vcpu = &vm->vcpu[vm->nr_vcpus];
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, vm->nr_vcpus);
	if (vcpu->fd < 0)
		return vm_fail(vm, -errno, "KVM_CREATE_VCPU %d", vm->nr_vcpus);
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return vm_fail(vm, -errno, "mmap kvm_run");
	}
	r = vm_arch_vcpu_setup(vm, vcpu->fd);
	if (r)
		return vm_fail(vm, r, "vCPU %d set-up", vm->nr_vcpus);
	vcpu->stats_fd = ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
	vcpu->index = vm->nr_vcpus;
	if (vcpu->stats_fd >= 0)
		watchdog_describe_fd(vcpu->fd, vm_vcpu_describe, vcpu);
	return vm->nr_vcpus++;
}

#define VM_BLOCK_SIZE	(2ULL << 20)

int vm_add_data_slot(struct vm *vm, uint64_t size, int mmap_flags)
{
	uint64_t map_size = size + VM_BLOCK_SIZE;
	char *map;

	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | mmap_flags, -1, 0);
	if (map == MAP_FAILED)
		return vm_fail(vm, -errno, "mmap %llu bytes of data",
			       (unsigned long long)size);
	vm->data_map = map;
	vm->data_map_size = map_size;
	vm->data = (void *)(((uintptr_t)map + VM_BLOCK_SIZE - 1) & ~(VM_BLOCK_SIZE - 1));
	vm->data_size = size;
	return vm_set_slot(vm, VM_DATA_SLOT, VM_DATA_GPA, size, vm->data);
}

int vm_pre_fault_capability(int *vm_cap, int *dev_cap, char *err, size_t len)
{
	struct vm vm;
	int r;

	r = vm_create(&vm);
	if (r) {
		snprintf(err, len, "%s", vm.err);
	} else {
		*vm_cap = kvmpf_probe(vm.vm_fd, NULL);
		if (dev_cap)
			*dev_cap = ioctl(vm.kvm_fd, KVM_CHECK_EXTENSION,
					 KVM_CAP_PRE_FAULT_MEMORY);
	}
	vm_destroy(&vm);
	return r;
}

void vm_destroy(struct vm *vm)
{
	struct vm_vcpu *vcpu;
	int i;

	for (i = 0; i < VM_MAX_VCPUS; i++) {
		vcpu = &vm->vcpu[i];
		if (vcpu->run)
			munmap(vcpu->run, vm->run_size);
		if (vcpu->fd >= 0)
			watchdog_describe_fd(vcpu->fd, NULL, NULL);
		if (vcpu->stats_fd >= 0)
			close(vcpu->stats_fd);
		if (vcpu->fd >= 0)
			close(vcpu->fd);
		vcpu->run = NULL;
		vcpu->fd = vcpu->stats_fd = -1;
	}
	vm->nr_vcpus = 0;
	if (vm->data_map)
		munmap(vm->data_map, vm->data_map_size);
	if (vm->code)
		munmap(vm->code, VM_CODE_SIZE);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->data = vm->data_map = vm->code = NULL;
	vm->vm_fd = vm->kvm_fd = -1;
}

/*
 * KVM_RUN on @cpu did not return for the watchdog's limit and was
 * interrupted.  A guest still inside its program is a hang.  One whose PC
 * left the program cannot have got there by itself (no jumps out, no
 * paging): KVM lost its state, a failure, unless the PC is the host's own.
 * Under TCG, QEMU's nested SVM has been seen to store L1's state (the RIP
 * after its VMRUN, a 64-bit CS) as the L2 guest's; that alone is reported
 * as the emulator's fault (ENOTRECOVERABLE), see README.
 */
static int vm_run_stuck(struct vm *vm, int cpu)
{
	uint64_t pc = 0;
	int r;

	r = vm_arch_get_pc(vm->vcpu[cpu].fd, &pc);
	if (r)
		return vm_fail(vm, r, "KVM_RUN stuck for %u s; reading the PC",
			       WATCHDOG_LIMIT_S);
	if (pc >= VM_CODE_GPA && pc < VM_CODE_GPA + VM_CODE_SIZE)
		return vm_fail(vm, -ETIMEDOUT, "KVM_RUN stuck for %u s, guest at 0x%llx",
			       WATCHDOG_LIMIT_S, (unsigned long long)pc);
	if (VM_ARCH_PC_IS_HOST(pc))
		return vm_fail(vm, -ENOTRECOVERABLE,
			       "vCPU %d holds the host's state: PC 0x%llx (the emulator's fault, see README)",
			       cpu, (unsigned long long)pc);
	return vm_fail(vm, -EPROTO,
		       "vCPU %d lost its state: stuck for %u s at PC 0x%llx, outside the guest program",
		       cpu, WATCHDOG_LIMIT_S, (unsigned long long)pc);
}

int vm_run_guest(struct vm *vm, int cpu, uint64_t gpa, uint64_t len,
		 uint64_t stride, enum vm_guest_op op, uint32_t *sum)
{
	const uint64_t arg[5] = { gpa, gpa + len, stride, VM_MMIO_GPA, op };
	struct vm_vcpu *vcpu = &vm->vcpu[cpu];
	struct kvm_run *run = vcpu->run;
	bool exception;
	int r;

	r = vm_arch_set_args(vcpu->fd, arg);
	if (r)
		return vm_fail(vm, r, "setting guest registers");
	for (;;) {
		if (vm_kvm_run(vcpu->fd, true)) {
			if (errno == EINTR && watchdog_kicked())
				return vm_run_stuck(vm, cpu);
			if (errno == EINTR)
				continue;
			return vm_fail(vm, -errno, "KVM_RUN");
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		break;
	}
	if (run->exit_reason != KVM_EXIT_MMIO)
		return vm_fail(vm, -EPROTO, "guest exit reason %u, not MMIO",
			       run->exit_reason);
	if ((run->mmio.phys_addr != VM_MMIO_GPA &&
	     run->mmio.phys_addr != VM_EXCEPTION_GPA) ||
	    !run->mmio.is_write || run->mmio.len != 4)
		return vm_fail(vm, -EPROTO,
			       "MMIO at 0x%llx len %u write %u, not the report",
			       (unsigned long long)run->mmio.phys_addr,
			       run->mmio.len, run->mmio.is_write);
	memcpy(sum, run->mmio.data, sizeof(*sum));
	exception = run->mmio.phys_addr == VM_EXCEPTION_GPA;
	/*
	 * KVM completes an MMIO access on the next KVM_RUN: arm64 and riscv
	 * step the PC past the store then, which would skip the first
	 * instruction of the next run after its registers were set.  A
	 * KVM_RUN with immediate_exit completes it without entering the
	 * guest (api.rst, KVM_EXIT_MMIO).
	 */
	run->immediate_exit = 1;
	r = vm_kvm_run(vcpu->fd, false);
	run->immediate_exit = 0;
	if (r == 0 || errno != EINTR)
		return vm_fail(vm, r ? -errno : -EPROTO,
			       "completing the MMIO report with immediate_exit");
#ifdef VM_ARCH_HAS_VECTORS
	if (exception)
		return vm_fail(vm, -EFAULT, "guest exception %u at 0x%llx",
			       *sum, (unsigned long long)vm_arch_exception_pc(vm));
#else
	(void)exception;	/* no vectors: never reported */
#endif
	return 0;
}

/* A vCPU's binary statistics at one moment: descriptors and values. */
struct vm_stats {
	uint32_t num_desc;
	size_t desc_size;
	char *descs;
	uint64_t *data;		/* the data block, indexed by desc->offset / 8 */
};

static void vm_stats_free(struct vm_stats *st)
{
	free(st->descs);
	free(st->data);
	st->descs = NULL;
	st->data = NULL;
}

static struct kvm_stats_desc *vm_stats_desc(const struct vm_stats *st, uint32_t i)
{
	return (struct kvm_stats_desc *)(st->descs + i * st->desc_size);
}

/* Read every statistic of @stats_fd into @st: 0, -EIO or -ENOMEM. */
static int vm_stats_read(int stats_fd, struct vm_stats *st)
{
	struct kvm_stats_header hdr;
	struct kvm_stats_desc *desc;
	size_t data_size = 0, end;
	uint32_t i;

	*st = (struct vm_stats){};
	if (stats_fd < 0 ||
	    pread(stats_fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
		return -EIO;
	st->num_desc = hdr.num_desc;
	st->desc_size = sizeof(*desc) + hdr.name_size;
	st->descs = calloc(hdr.num_desc, st->desc_size);
	if (!st->descs)
		return -ENOMEM;
	if (pread(stats_fd, st->descs, hdr.num_desc * st->desc_size,
		  hdr.desc_offset) != (ssize_t)(hdr.num_desc * st->desc_size))
		goto eio;
	for (i = 0; i < hdr.num_desc; i++) {
		desc = vm_stats_desc(st, i);
		end = desc->offset + desc->size * sizeof(uint64_t);
		if (end > data_size)
			data_size = end;
	}
	st->data = calloc(1, data_size + sizeof(uint64_t));
	if (!st->data) {
		vm_stats_free(st);
		return -ENOMEM;
	}
	if (pread(stats_fd, st->data, data_size, hdr.data_offset) != (ssize_t)data_size)
		goto eio;
	return 0;
eio:
	vm_stats_free(st);
	return -EIO;
}

int vm_vcpu_stat_array(struct vm *vm, int cpu, const char *name,
		       uint64_t *data, uint32_t n)
{
	struct kvm_stats_desc *desc;
	struct vm_stats st;
	uint32_t i;
	int found;

	found = vm_stats_read(vm->vcpu[cpu].stats_fd, &st);
	if (found)
		return found;
	found = -ENOENT;
	for (i = 0; i < st.num_desc; i++) {
		desc = vm_stats_desc(&st, i);
		if (strcmp(desc->name, name))
			continue;
		found = desc->size < n ? desc->size : n;
		memset(data, 0, n * sizeof(*data));
		memcpy(data, st.data + desc->offset / sizeof(uint64_t),
		       found * sizeof(*data));
		break;
	}
	vm_stats_free(&st);
	return found;
}

/*
 * For the watchdog, while an ioctl on this vCPU is stuck: the counters
 * that moved in one second.  Exits climbing is a guest (or KVM) looping
 * through faults or exits; nothing moving is a task blocked in the kernel.
 */
static void vm_vcpu_describe(void *ctx, FILE *out)
{
	const struct vm_vcpu *vcpu = ctx;
	struct kvm_stats_desc *desc;
	struct vm_stats a, b;
	bool moved = false;
	uint32_t i;

	if (vm_stats_read(vcpu->stats_fd, &a)) {
		fprintf(out, "# watchdog: vCPU %d: statistics unreadable\n", vcpu->index);
		return;
	}
	sleep(1);
	if (vm_stats_read(vcpu->stats_fd, &b)) {
		vm_stats_free(&a);
		fprintf(out, "# watchdog: vCPU %d: statistics unreadable\n", vcpu->index);
		return;
	}
	fprintf(out, "# watchdog: vCPU %d in 1 s:", vcpu->index);
	for (i = 0; i < a.num_desc && i < b.num_desc; i++) {
		uint64_t at = a.data[vm_stats_desc(&a, i)->offset / sizeof(uint64_t)];

		desc = vm_stats_desc(&b, i);
		if (desc->size != 1 ||
		    (desc->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE ||
		    b.data[desc->offset / sizeof(uint64_t)] == at)
			continue;
		fprintf(out, " %s +%llu", desc->name,
			(unsigned long long)(b.data[desc->offset / sizeof(uint64_t)] - at));
		moved = true;
	}
	fprintf(out, "%s\n", moved ? "" : " no statistic moved");
	vm_stats_free(&a);
	vm_stats_free(&b);
}

int64_t vm_vcpu_stat(struct vm *vm, int cpu, const char *name)
{
	uint64_t v;

	return vm_vcpu_stat_array(vm, cpu, name, &v, 1) == 1 ? (int64_t)v : -1;
}

int64_t vm_vcpu_interrupt_exits(struct vm *vm, int cpu)
{
#if defined(__powerpc64__)
	static const char *const names[] = { "dec_exits", "ext_intr_exits", NULL };
#elif defined(__x86_64__)
	static const char *const names[] = { "irq_exits", NULL };
#else
	static const char *const names[] = { NULL };
#endif
	int64_t sum = 0, v;
	size_t i;

	for (i = 0; names[i]; i++) {
		v = vm_vcpu_stat(vm, cpu, names[i]);
		if (v < 0)
			return -1;
		sum += v;
	}
	return sum;
}

int64_t vm_vcpu_guest_exits(struct vm *vm, int cpu)
{
	int64_t all = vm_vcpu_stat(vm, cpu, VM_EXITS_STAT);
	int64_t interrupts = vm_vcpu_interrupt_exits(vm, cpu);

	return all < 0 || interrupts < 0 ? -1 : all - interrupts;
}

uint32_t vm_fill_data(struct vm *vm, uint64_t page_size)
{
	uint32_t sum = 0;
	uint64_t i;

	for (i = 0; i < vm->data_size / page_size; i++) {
		uint32_t v = vm_page_pattern(i);

		memcpy((char *)vm->data + i * page_size, &v, sizeof(v));
		sum += v;
	}
	return sum;
}
