// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite for KVM_CAP_PRE_FAULT_MEMORY and KVM_PRE_FAULT_MEMORY.
 *
 * Every case runs against a real VM created inside the kernel: the test
 * kthread gets an mm from kunit_vm_mmap(), the mapping backs a memslot, and
 * a vCPU is created as KVM_CREATE_VCPU would create it.  The cases are
 * arch-neutral; what differs per arch is only what the arch reports.
 */
#include <kunit/test.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/kvm_host.h>
#include <linux/mman.h>
#include <linux/sizes.h>

#include "kvm_kunit.h"

/* A slot away from anything an arch reserves low in the guest address space. */
#define PF_TEST_SLOT_GPA	SZ_1G
#define PF_TEST_SLOT_SIZE	SZ_4M

/**
 * struct pf_test_vm - the fixture every case starts from
 * @kvm: a VM of the default type, owned by the test kthread's mm
 * @vcpu: vCPU 0 of @kvm
 * @vcpu_fd: @vcpu's file descriptor, closed when the case ends
 * @hva: host address of the memory behind slot 0
 */
struct pf_test_vm {
	struct kvm *kvm;
	struct kvm_vcpu *vcpu;
	int vcpu_fd;
	unsigned long hva;
};

KUNIT_DEFINE_ACTION_WRAPPER(pf_test_put_kvm, kvm_put_kvm, struct kvm *);

static void pf_test_close_fd(void *fd)
{
	close_fd((unsigned long)fd);
}

/*
 * KVM_CAP_PRE_FAULT_MEMORY as the contract says it must read here: an arch
 * that selects KVM_GENERIC_PRE_FAULT_MEMORY reports 1, others 0.  x86 only
 * pre-faults through a two-dimensional MMU, which this suite requires.
 */
static int pf_test_expected_cap(struct kunit *test)
{
	if (!IS_ENABLED(CONFIG_KVM_GENERIC_PRE_FAULT_MEMORY))
		return 0;
#ifdef CONFIG_X86
	KUNIT_ASSERT_TRUE_MSG(test, tdp_enabled,
			      "x86 needs nested paging (NPT/EPT) for this suite");
#endif
	return 1;
}

static int pf_test_suite_init(struct kunit_suite *suite)
{
	if (!kvm_is_initialized()) {
		pr_err("%s: KVM did not initialise\n", suite->name);
		return -ENODEV;
	}
	return 0;
}

static int pf_test_init(struct kunit *test)
{
	struct kvm_userspace_memory_region2 region = {
		.slot = 0,
		.guest_phys_addr = PF_TEST_SLOT_GPA,
		.memory_size = PF_TEST_SLOT_SIZE,
	};
	struct pf_test_vm *vm;
	int r;

	vm = kunit_kzalloc(test, sizeof(*vm), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, vm);
	test->priv = vm;

	/* Gives this kthread the mm that the VM and its memslot belong to. */
	vm->hva = kunit_vm_mmap(test, NULL, 0, PF_TEST_SLOT_SIZE,
				PROT_READ | PROT_WRITE,
				MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, vm->hva, 0, "no user memory for the slot");

	vm->kvm = kvm_create_vm(0, "kunit");
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(vm->kvm), "KVM_CREATE_VM: %ld",
			       PTR_ERR(vm->kvm));
	r = kunit_add_action_or_reset(test, pf_test_put_kvm, vm->kvm);
	KUNIT_ASSERT_EQ(test, r, 0);

	region.userspace_addr = vm->hva;
	r = kvm_set_memory_region(vm->kvm, &region);
	KUNIT_ASSERT_EQ_MSG(test, r, 0, "KVM_SET_USER_MEMORY_REGION2");

	vm->vcpu_fd = kvm_vm_ioctl_create_vcpu(vm->kvm, 0);
	KUNIT_ASSERT_GE_MSG(test, vm->vcpu_fd, 0, "KVM_CREATE_VCPU");
	r = kunit_add_action_or_reset(test, pf_test_close_fd,
				      (void *)(unsigned long)vm->vcpu_fd);
	KUNIT_ASSERT_EQ(test, r, 0);
	vm->vcpu = kvm_get_vcpu_by_id(vm->kvm, 0);
	KUNIT_ASSERT_NOT_NULL(test, vm->vcpu);
	return 0;
}

/* The fixture is what KVM_CREATE_VM, a memslot and KVM_CREATE_VCPU give. */
static void pf_test_fixture_vm(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_memory_slot *slot;
	int idx;

	KUNIT_EXPECT_EQ(test, vm->kvm->created_vcpus, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&vm->kvm->online_vcpus), 1);
	KUNIT_EXPECT_PTR_EQ(test, vm->vcpu->kvm, vm->kvm);

	idx = srcu_read_lock(&vm->kvm->srcu);
	slot = gfn_to_memslot(vm->kvm, gpa_to_gfn(PF_TEST_SLOT_GPA));
	KUNIT_EXPECT_NOT_NULL(test, slot);
	if (slot) {
		KUNIT_EXPECT_EQ(test, slot->npages, PF_TEST_SLOT_SIZE >> PAGE_SHIFT);
		KUNIT_EXPECT_EQ(test, slot->userspace_addr, vm->hva);
	}
	KUNIT_EXPECT_NULL(test, gfn_to_memslot(vm->kvm,
		gpa_to_gfn(PF_TEST_SLOT_GPA + PF_TEST_SLOT_SIZE)));
	srcu_read_unlock(&vm->kvm->srcu, idx);
}

static void pf_test_cap_on_vm(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;

	KUNIT_EXPECT_EQ(test,
			kvm_vm_ioctl_check_extension_generic(vm->kvm,
							     KVM_CAP_PRE_FAULT_MEMORY),
			pf_test_expected_cap(test));
}

static void pf_test_cap_on_dev(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test,
			kvm_vm_ioctl_check_extension_generic(NULL,
							     KVM_CAP_PRE_FAULT_MEMORY),
			pf_test_expected_cap(test));
}

static struct kunit_case pf_test_cases[] = {
	KUNIT_CASE(pf_test_fixture_vm),
	KUNIT_CASE(pf_test_cap_on_vm),
	KUNIT_CASE(pf_test_cap_on_dev),
	{}
};

static struct kunit_suite pf_test_suite = {
	.name = "kvm_pre_fault",
	.suite_init = pf_test_suite_init,
	.init = pf_test_init,
	.test_cases = pf_test_cases,
};
kunit_test_suite(pf_test_suite);
