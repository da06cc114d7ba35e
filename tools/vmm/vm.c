// SPDX-License-Identifier: GPL-2.0-only
/*
 * A minimal VMM: see vm.h.  Only the guest program and the vCPU register
 * set-up differ per arch: vmm/arch/<arch>.c, behind vm_arch.h.  The vCPU
 * statistics are in stats.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmprefault.h"
#include "vm.h"
#include "vm_arch.h"
#include "watchdog.h"

/* KVM_RUN under the watchdog; @kickable: a hang is interrupted. */
int vm_kvm_run_ioctl(int vcpu_fd, bool kickable)
{
	return kickable ? watchdog_ioctl_kickable(vcpu_fd, KVM_RUN, NULL, "KVM_RUN") :
			  watchdog_ioctl(vcpu_fd, KVM_RUN, NULL, "KVM_RUN");
}

/* The defaults of the optional arch hooks (vm_arch.h). */
__attribute__((weak)) void vm_arch_code_setup(void *code)
{
	(void)code;
}

/* No emulator fault of that kind is known: a lost state fails. */
__attribute__((weak)) bool vm_arch_pc_is_host(uint64_t pc)
{
	(void)pc;
	return false;
}

__attribute__((weak)) bool vm_arch_exception_pc(const struct vm *vm, uint64_t *pc)
{
	(void)vm;
	(void)pc;
	return false;
}

__attribute__((weak)) int vm_arch_kvm_run(int vcpu_fd, bool kickable)
{
	return vm_kvm_run_ioctl(vcpu_fd, kickable);
}

__attribute__((weak)) bool vm_arch_fp_clobbers(unsigned int *n)
{
	(void)n;
	return false;
}

__attribute__((weak)) bool vm_arch_type(int kvm_fd, const struct vm_type *t,
					unsigned long *type)
{
	(void)kvm_fd;
	*type = t->type;
	return true;
}

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
	vm_arch_code_setup(code);
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

/*
 * The data slot on @size bytes, 2 MiB aligned: anonymous memory or, with
 * @fd >= 0, a MAP_PRIVATE mapping of @fd put over the aligned part of the
 * reservation.
 */
static int vm_add_data(struct vm *vm, uint64_t size, int mmap_flags, int fd)
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
	if (fd >= 0 && mmap(vm->data, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED)
		return vm_fail(vm, -errno, "mmap %llu bytes of fd %d",
			       (unsigned long long)size, fd);
	return vm_set_slot(vm, VM_DATA_SLOT, VM_DATA_GPA, size, vm->data);
}

int vm_add_data_slot(struct vm *vm, uint64_t size, int mmap_flags)
{
	return vm_add_data(vm, size, mmap_flags, -1);
}

int vm_add_data_slot_file(struct vm *vm, uint64_t size, int fd)
{
	return vm_add_data(vm, size, 0, fd);
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
	if (vm_arch_pc_is_host(pc))
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
	uint64_t pc;
	int r;

	r = vm_arch_set_args(vcpu->fd, arg);
	if (r)
		return vm_fail(vm, r, "setting guest registers");
	for (;;) {
		if (vm_arch_kvm_run(vcpu->fd, true)) {
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
	r = vm_arch_kvm_run(vcpu->fd, false);
	run->immediate_exit = 0;
	if (r == 0 || errno != EINTR)
		return vm_fail(vm, r ? -errno : -EPROTO,
			       "completing the MMIO report with immediate_exit");
	if (exception && vm_arch_exception_pc(vm, &pc))
		return vm_fail(vm, -EFAULT, "guest exception %u at 0x%llx",
			       *sum, (unsigned long long)pc);
	return 0;
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
