/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the arch-neutral VMM (vm.c, stats.c) asks of an arch.  Each arch is
 * one file, vmm/arch/<arch>.c, which the Makefile picks for the compiler's
 * target: a new arch adds a file that defines what is declared here and
 * vm.h's vm_arch_types.  What is marked optional here (and vm_arch_type())
 * has a weak default in vm.c or stats.c, for an arch with nothing to do
 * there.
 */
#ifndef KVMPF_VM_ARCH_H
#define KVMPF_VM_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

/*
 * The guest program (see vm.h), copied to VM_CODE_GPA: it walks
 * [arg[0], arg[1]) in steps of arg[2] with operation arg[4] and writes
 * the sum to arg[3].
 */
extern const unsigned char vm_guest_code[], vm_guest_code_end[];

/* Optional: what else the guest needs in its code slot (@code, the host's). */
void vm_arch_code_setup(void *code);

/* A vCPU just created, made ready to run the program: 0 or -errno. */
int vm_arch_vcpu_setup(struct vm *vm, int vcpu_fd);

/* The program's arguments into the vCPU, its PC at VM_CODE_GPA: 0 or -errno. */
int vm_arch_set_args(int vcpu_fd, const uint64_t arg[5]);

int vm_arch_get_pc(int vcpu_fd, uint64_t *pc);

/*
 * Optional: whether a guest PC is the host's own, which only an emulator
 * that stored L1's state as the guest's puts there (vm_run_stuck()).
 */
bool vm_arch_pc_is_host(uint64_t pc);

/*
 * Optional: where the guest took the exception it reported at
 * VM_EXCEPTION_GPA; false when this arch's program installs no vectors
 * and never reports one.
 */
bool vm_arch_exception_pc(const struct vm *vm, uint64_t *pc);

/* KVM_RUN under the watchdog; @kickable: a hang is interrupted (vm.c). */
int vm_kvm_run_ioctl(int vcpu_fd, bool kickable);

/* Optional: vm_kvm_run_ioctl() with what the arch must keep around it. */
int vm_arch_kvm_run(int vcpu_fd, bool kickable);

/* Optional (stats.c): the vCPU statistic that counts every exit. */
extern const char vm_arch_exits_stat[];

/*
 * Optional (stats.c): the vCPU statistics that count exits for the host's
 * own interrupts, where the arch counts them apart; NULL-terminated.
 */
extern const char *const vm_arch_interrupt_exit_stats[];

#endif
