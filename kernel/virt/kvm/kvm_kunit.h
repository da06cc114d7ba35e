/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvm_main.c internals that KUnit suites call to build a VM and its vCPUs
 * from inside the kernel, exactly as the KVM_CREATE_VM and KVM_CREATE_VCPU
 * ioctls would.  Only visible when CONFIG_KUNIT is enabled.
 */
#ifndef __KVM_KUNIT_H__
#define __KVM_KUNIT_H__

#if IS_ENABLED(CONFIG_KUNIT)
struct kvm;

/*
 * Create a VM of @type owned by current->mm.  The caller holds the only
 * reference and drops it with kvm_put_kvm().
 */
struct kvm *kvm_create_vm(unsigned long type, const char *fdname);

/*
 * Create vCPU @id as KVM_CREATE_VCPU does; returns the new vCPU's file
 * descriptor in current->files, or a negative errno.
 */
int kvm_vm_ioctl_create_vcpu(struct kvm *kvm, unsigned long id);

/*
 * KVM_CHECK_EXTENSION as asked on a VM fd (@kvm) or on /dev/kvm (NULL).
 */
int kvm_vm_ioctl_check_extension_generic(struct kvm *kvm, long arg);

/*
 * Whether kvm_init() completed, i.e. /dev/kvm exists.  Built-in suites run
 * even when KVM failed to initialise, and must not touch it then.
 */
bool kvm_is_initialized(void);
#endif

#endif /* __KVM_KUNIT_H__ */
