// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conformance suite for KVM_CAP_PRE_FAULT_MEMORY and KVM_PRE_FAULT_MEMORY.
 *
 * Every case runs against a real VM created inside the kernel: the test
 * kthread gets an mm from kunit_vm_mmap(), mappings of it back memslots,
 * and a vCPU is created as KVM_CREATE_VCPU creates it.  Pre-faults go
 * through the vCPU's ioctl handler with a userspace argument, so what is
 * asserted is what a VMM gets.  What a pre-fault installed is read back
 * with the arch's kvm_arch_pre_fault_test_mapping().
 *
 * The cases are arch-neutral.  Where the arches differ on purpose (how a
 * read fault is mapped while dirty logging is on), the expectation is data.
 * Where the feature is not enabled for the VM, the cases that need it are
 * reported as skipped with that reason, never as passed.
 */
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/hugetlb.h>
#include <linux/kthread.h>
#include <linux/kvm_host.h>
#include <linux/kvm_pre_fault.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/sysctl.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>

#include "kvm_kunit.h"
#include "kvm_mm.h"

/*
 * The batched step exists where the arch batches and the feature is built
 * (x86 selects the batch even when KVM_PRE_FAULT_MEMORY is off).
 */
#if IS_ENABLED(CONFIG_KVM_GENERIC_PRE_FAULT_BATCH) && IS_ENABLED(CONFIG_KVM_PRE_FAULT_MEMORY)
#define PF_TEST_BATCH	1
#else
#define PF_TEST_BATCH	0
#endif

/* Slots, away from anything an arch reserves low in the address space. */
#define PF_TEST_SLOT_GPA	SZ_1G		/* slot 0: shmem, 4 KiB pages */
#define PF_TEST_SLOT_SIZE	SZ_4M
#define PF_TEST_HUGE_SLOT	1
#define PF_TEST_HUGE_GPA	(2ULL * SZ_1G)	/* hugetlb, 2 MiB pages */
#define PF_TEST_HUGE_SIZE	SZ_4M
#define PF_TEST_RO_SLOT		2
#define PF_TEST_RO_GPA		(3ULL * SZ_1G)
#define PF_TEST_RO_SIZE		SZ_64K
#define PF_TEST_POISON_PAGES	16		/* in slot 2, the page in the middle poisoned */
#define PF_TEST_RACE_SLOT	3
#define PF_TEST_RACE_GPA	(4ULL * SZ_1G)
#define PF_TEST_RACE_SIZE	SZ_2M
#define PF_TEST_RACE_CYCLES	100
#define PF_TEST_THP_SLOT	4		/* THP-backed anonymous memory */
#define PF_TEST_THP_GPA		(8ULL * SZ_1G)
#define PF_TEST_THP_LOG_SLOT	5		/* the same, logging dirty pages */
#define PF_TEST_THP_LOG_GPA	(9ULL * SZ_1G)
#define PF_TEST_THP_SIZE	SZ_4M
#define PF_TEST_OTHER_SLOT	6		/* created and deleted elsewhere */
#define PF_TEST_HIGH_SLOT	7
#define PF_TEST_HIGH_GPA	(128ULL * SZ_1G)	/* above a 36-bit MAXPHYADDR */
#define PF_TEST_OTHER_GPA	(16ULL * SZ_1G)
#define PF_TEST_ELSEWHERE_CALLS	6
#define PF_TEST_BATCH_SLOT	8		/* anonymous, pre-faulted */
#define PF_TEST_BATCH_GPA	(20ULL * SZ_1G)
#define PF_TEST_FAULT_SLOT	9		/* the same, through the fault path */
#define PF_TEST_FAULT_GPA	(21ULL * SZ_1G)
#define PF_TEST_BATCH_SIZE	SZ_256K
#define PF_TEST_UNALIGNED_SLOT	10		/* THP, 1 MiB into a 2 MiB region */
#define PF_TEST_UNALIGNED_SIZE	SZ_8M
#define PF_TEST_PAR_SLOT	11		/* two vCPUs, small pages */
#define PF_TEST_PAR_GPA		(24ULL * SZ_1G)
#define PF_TEST_PAR_REGIONS	64
#define PF_TEST_PAR_SIZE	(PF_TEST_PAR_REGIONS * SZ_2M)
#define PF_TEST_LONG_SLOT	12		/* a long pre-fault */
#define PF_TEST_LONG_GPA	(32ULL * SZ_1G)
#define PF_TEST_LONG_SIZE	SZ_128M

/*
 * How each arch's fault path maps a read fault while the slot logs dirty
 * pages: x86's make_spte() maps it writable when the host page is writable
 * and marks the page dirty in the memslot's bitmap; powerpc's radix fault
 * path maps it writable with the PTE's change bit set, which
 * KVM_GET_DIRTY_LOG harvests later (the bitmap is untouched until then);
 * arm64 and riscv map it read-only, not dirty.
 */
#if defined(CONFIG_X86) || defined(CONFIG_PPC)
#define PF_TEST_DIRTY_LOG_READ_FAULT_WRITABLE	true
#else
#define PF_TEST_DIRTY_LOG_READ_FAULT_WRITABLE	false
#endif
#define PF_TEST_DIRTY_LOG_READ_FAULT_IN_BITMAP	IS_ENABLED(CONFIG_X86)

/**
 * struct pf_test_vm - the fixture every case starts from
 * @kvm: a VM of the default type, owned by the test kthread's mm
 * @vcpu: vCPU 0 of @kvm
 * @vcpu_file: @vcpu's file, whose ioctl handler the cases call
 * @vcpu_fd: @vcpu's file descriptor, closed when the case ends
 * @hva: host address of the shmem mapping behind slot 0
 * @uarg: a user page holding the ioctl's struct kvm_pre_fault_memory
 */
struct pf_test_vm {
	struct kvm *kvm;
	struct kvm_vcpu *vcpu;
	struct file *vcpu_file;
	int vcpu_fd;
	unsigned long hva;
	unsigned long uarg;
};

KUNIT_DEFINE_ACTION_WRAPPER(pf_test_put_kvm, kvm_put_kvm, struct kvm *);
KUNIT_DEFINE_ACTION_WRAPPER(pf_test_fput, fput, struct file *);

static void pf_test_close_fd(void *fd)
{
	close_fd((unsigned long)fd);
}

/*
 * KVM_CAP_PRE_FAULT_MEMORY as the contract says it must read here: 1 where
 * the feature is built and the arch serves the default VM type; x86 serves
 * it only with a two-dimensional MMU (NPT/EPT).
 */
static int pf_test_expected_cap(void)
{
	if (!IS_ENABLED(CONFIG_KVM_PRE_FAULT_MEMORY))
		return 0;
#ifdef CONFIG_X86
	return tdp_enabled;
#else
	return 1;
#endif
}

static void pf_test_require_feature(struct kunit *test)
{
	if (!pf_test_expected_cap())
		kunit_skip(test, "KVM_PRE_FAULT_MEMORY is not enabled for this VM");
}

/* User memory for a slot or an argument; the test fails if there is none. */
static unsigned long pf_test_mmap(struct kunit *test, struct file *file,
				  unsigned long size, unsigned long flags)
{
	unsigned long hva;

	hva = kunit_vm_mmap(test, file, 0, size, PROT_READ | PROT_WRITE,
			    flags, 0);
	KUNIT_ASSERT_FALSE_MSG(test, !hva || IS_ERR_VALUE(hva),
			       "mmap of %lu bytes (flags 0x%lx): %ld",
			       size, flags, (long)hva);
	return hva;
}

static int pf_test_set_slot(struct pf_test_vm *vm, u32 slot, u32 flags,
			    u64 gpa, u64 size, unsigned long hva)
{
	struct kvm_userspace_memory_region2 region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = hva,
	};

	return kvm_set_memory_region(vm->kvm, &region);
}

static int pf_test_suite_init(struct kunit_suite *suite)
{
	if (!kvm_is_initialized()) {
		pr_err("%s: KVM did not initialise\n", suite->name);
		return -ENODEV;
	}
	return 0;
}

/* Arches whose vCPUs run as created: no set-up ioctl to issue. */
int __weak kvm_arch_pre_fault_test_init_vcpu(struct file *vcpu_file,
					     void __user *scratch)
{
	return -EOPNOTSUPP;
}

/* What a VMM does to a vCPU after KVM_CREATE_VCPU, before running it. */
static void pf_test_init_vcpu(struct kunit *test, struct file *vcpu_file,
			      unsigned long scratch)
{
	int r = kvm_arch_pre_fault_test_init_vcpu(vcpu_file,
						  (void __user *)scratch);

	KUNIT_ASSERT_TRUE_MSG(test, r == 0 || r == -EOPNOTSUPP,
			      "vCPU set-up: %d", r);
}

static int pf_test_init(struct kunit *test)
{
	struct pf_test_vm *vm;
	struct file *shmem;
	int r;

	vm = kunit_kzalloc(test, sizeof(*vm), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, vm);
	test->priv = vm;

	/*
	 * The first mapping gives this kthread the mm that the VM belongs to.
	 * shmem keeps slot 0 on 4 KiB pages, so that the pages around a
	 * pre-faulted range can be seen to stay unmapped.
	 */
	vm->uarg = pf_test_mmap(test, NULL, PAGE_SIZE,
				MAP_ANONYMOUS | MAP_PRIVATE);
	/* Faulted in now: a case may count the host faults its pre-faults take. */
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)vm->uarg, PAGE_SIZE), 0);
	shmem = shmem_file_setup("kvm_pre_fault_test", PF_TEST_SLOT_SIZE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(shmem));
	r = kunit_add_action_or_reset(test, pf_test_fput, shmem);
	KUNIT_ASSERT_EQ(test, r, 0);
	vm->hva = pf_test_mmap(test, shmem, PF_TEST_SLOT_SIZE, MAP_SHARED);

	vm->kvm = kvm_create_vm(0, "kunit");
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(vm->kvm), "KVM_CREATE_VM: %ld",
			       PTR_ERR(vm->kvm));
	r = kunit_add_action_or_reset(test, pf_test_put_kvm, vm->kvm);
	KUNIT_ASSERT_EQ(test, r, 0);

	r = pf_test_set_slot(vm, 0, 0, PF_TEST_SLOT_GPA, PF_TEST_SLOT_SIZE,
			     vm->hva);
	KUNIT_ASSERT_EQ_MSG(test, r, 0, "KVM_SET_USER_MEMORY_REGION2");

	vm->vcpu_fd = kvm_vm_ioctl_create_vcpu(vm->kvm, 0);
	KUNIT_ASSERT_GE_MSG(test, vm->vcpu_fd, 0, "KVM_CREATE_VCPU");
	r = kunit_add_action_or_reset(test, pf_test_close_fd,
				      (void *)(unsigned long)vm->vcpu_fd);
	KUNIT_ASSERT_EQ(test, r, 0);
	vm->vcpu = kvm_get_vcpu_by_id(vm->kvm, 0);
	KUNIT_ASSERT_NOT_NULL(test, vm->vcpu);
	vm->vcpu_file = fget(vm->vcpu_fd);
	KUNIT_ASSERT_NOT_NULL(test, vm->vcpu_file);
	r = kunit_add_action_or_reset(test, pf_test_fput, vm->vcpu_file);
	KUNIT_ASSERT_EQ(test, r, 0);
	pf_test_init_vcpu(test, vm->vcpu_file, vm->uarg);
	return 0;
}

/* KVM_PRE_FAULT_MEMORY through the vCPU's ioctl handler; @out: the range after. */
static long pf_test_prefault(struct kunit *test, u64 gpa, u64 size, u64 flags,
			     struct kvm_pre_fault_memory *out)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory range = {
		.gpa = gpa, .size = size, .flags = flags,
	};
	void __user *uarg = (void __user *)vm->uarg;
	long r;

	KUNIT_ASSERT_EQ(test, copy_to_user(uarg, &range, sizeof(range)), 0);
	r = vm->vcpu_file->f_op->unlocked_ioctl(vm->vcpu_file,
						KVM_PRE_FAULT_MEMORY,
						(unsigned long)uarg);
	KUNIT_ASSERT_EQ(test, copy_from_user(out, uarg, sizeof(*out)), 0);
	return r;
}

static void pf_test_expect_range(struct kunit *test,
				 const struct kvm_pre_fault_memory *range,
				 u64 gpa, u64 size)
{
	KUNIT_EXPECT_EQ(test, range->gpa, gpa);
	KUNIT_EXPECT_EQ(test, range->size, size);
	KUNIT_EXPECT_EQ(test, range->flags, 0);
}

/* A pre-fault of [@gpa, @gpa + @size) that must complete in one call. */
static void pf_test_prefault_all(struct kunit *test, u64 gpa, u64 size)
{
	struct kvm_pre_fault_memory out;

	KUNIT_ASSERT_EQ(test, pf_test_prefault(test, gpa, size, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + size, 0);
}

static struct kvm_pre_fault_mapping pf_test_lookup(struct kunit *test, gpa_t gpa)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_mapping map = {};
	int r;

	/* Without the feature the arch need not provide the hook. */
	if (!IS_ENABLED(CONFIG_KVM_PRE_FAULT_MEMORY))
		kunit_skip(test, "KVM_PRE_FAULT_MEMORY is not built");
	r = kvm_arch_pre_fault_test_mapping(vm->vcpu, gpa, &map);
	if (r == -EOPNOTSUPP)
		kunit_skip(test, "this arch cannot look at its second stage");
	KUNIT_ASSERT_EQ(test, r, 0);
	return map;
}

/* The host page frame behind user address @hva, faulting it in for reading. */
static u64 pf_test_host_pfn(struct kunit *test, unsigned long hva)
{
	struct page *page;
	u64 pfn;

	KUNIT_ASSERT_EQ(test, get_user_pages_fast(hva, 1, 0, &page), 1);
	pfn = page_to_pfn(page);
	put_page(page);
	return pfn;
}

/*
 * @gpa is mapped by a leaf of @leaf bytes to the host page behind @hva:
 * the pre-fault mapped this page's own memory, not a neighbour's.
 */
static void pf_test_expect_maps(struct kunit *test, gpa_t gpa, unsigned long hva,
				u64 leaf)
{
	struct kvm_pre_fault_mapping map = pf_test_lookup(test, gpa);

	KUNIT_EXPECT_TRUE_MSG(test, map.mapped, "gpa 0x%llx", gpa);
	KUNIT_EXPECT_EQ_MSG(test, map.size, leaf, "gpa 0x%llx", gpa);
	KUNIT_EXPECT_EQ_MSG(test, map.pfn, pf_test_host_pfn(test, hva),
			    "gpa 0x%llx, hva 0x%lx", gpa, hva);
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
	slot = gfn_to_memslot(vm->kvm,
			      gpa_to_gfn(PF_TEST_SLOT_GPA + PF_TEST_SLOT_SIZE));
	KUNIT_EXPECT_NULL(test, slot);
	srcu_read_unlock(&vm->kvm->srcu, idx);
}

static void pf_test_cap_on_vm(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;

	KUNIT_EXPECT_EQ(test,
			kvm_vm_ioctl_check_extension_generic(vm->kvm,
							     KVM_CAP_PRE_FAULT_MEMORY),
			pf_test_expected_cap());
}

static void pf_test_cap_on_dev(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test,
			kvm_vm_ioctl_check_extension_generic(NULL,
							     KVM_CAP_PRE_FAULT_MEMORY),
			pf_test_expected_cap());
}

/* The ioctl agrees with the capability, in supported and unsupported VMs. */
static void pf_test_cap_matches_ioctl(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;
	long r;

	r = pf_test_prefault(test, PF_TEST_SLOT_GPA, PAGE_SIZE, 0, &out);
	if (kvm_vm_ioctl_check_extension_generic(vm->kvm, KVM_CAP_PRE_FAULT_MEMORY)) {
		KUNIT_EXPECT_EQ(test, r, 0);
		pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA + PAGE_SIZE, 0);
	} else {
		KUNIT_EXPECT_EQ(test, r, -EOPNOTSUPP);
		pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA, PAGE_SIZE);
	}
}

struct pf_test_bad_range {
	const char *name;
	u64 gpa, size, flags;
};

static const struct pf_test_bad_range pf_test_bad_ranges[] = {
	{ "flags", PF_TEST_SLOT_GPA, PAGE_SIZE, 1 },
	{ "unaligned_gpa", PF_TEST_SLOT_GPA + 1, PAGE_SIZE, 0 },
	{ "unaligned_size", PF_TEST_SLOT_GPA, PAGE_SIZE + 1, 0 },
	{ "size_zero", PF_TEST_SLOT_GPA, 0, 0 },
	{ "overflow", -(u64)PAGE_SIZE, 2 * PAGE_SIZE, 0 },
};

static void pf_test_bad_range_desc(const struct pf_test_bad_range *p, char *desc)
{
	strscpy(desc, p->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(pf_test_bad_range, pf_test_bad_ranges, pf_test_bad_range_desc);

static void pf_test_invalid_range(struct kunit *test)
{
	const struct pf_test_bad_range *p = test->param_value;
	struct kvm_pre_fault_memory out;

	pf_test_require_feature(test);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, p->gpa, p->size, p->flags, &out),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, out.gpa, p->gpa);
	KUNIT_EXPECT_EQ(test, out.size, p->size);
	KUNIT_EXPECT_EQ(test, out.flags, p->flags);
}

static void pf_test_outside_slots(struct kunit *test)
{
	struct kvm_pre_fault_memory out;
	u64 gpa = PF_TEST_SLOT_GPA + PF_TEST_SLOT_SIZE + SZ_1M;

	pf_test_require_feature(test);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, SZ_64K, 0, &out), -ENOENT);
	pf_test_expect_range(test, &out, gpa, SZ_64K);
}

static void pf_test_beyond_gpa_width(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;
	gpa_t limit;

	pf_test_require_feature(test);
	if (!IS_ENABLED(CONFIG_KVM_PRE_FAULT_MEMORY))
		return;
	limit = kvm_arch_pre_fault_gpa_limit(vm->vcpu);
	KUNIT_ASSERT_TRUE(test, is_power_of_2(limit));
	/* Every slot the suite uses lies below it. */
	KUNIT_ASSERT_GT(test, limit, PF_TEST_THP_LOG_GPA + PF_TEST_THP_SIZE);

	/* The last page is addressable, though not backed. */
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, limit - PAGE_SIZE, PAGE_SIZE, 0, &out),
			-ENOENT);
	pf_test_expect_range(test, &out, limit - PAGE_SIZE, PAGE_SIZE);
	/* Reaching past it, or starting there, is refused as a whole. */
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, limit - PAGE_SIZE, 2 * PAGE_SIZE, 0, &out),
			-EINVAL);
	pf_test_expect_range(test, &out, limit - PAGE_SIZE, 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, limit, PAGE_SIZE, 0, &out), -EINVAL);
	pf_test_expect_range(test, &out, limit, PAGE_SIZE);
}

/*
 * A vCPU whose guest CPU model is not set yet (x86 reads MAXPHYADDR 36 until
 * KVM_SET_CPUID2) pre-faults memory above 64 GiB: the limit is the MMU's,
 * and a VMM restoring a snapshot may pre-fault before it sets the CPUID.
 */
static void pf_test_high_gpa_before_cpu_setup(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;
	unsigned long hva;

	pf_test_require_feature(test);
	KUNIT_ASSERT_GE(test, kvm_arch_pre_fault_gpa_limit(vm->vcpu),
			PF_TEST_HIGH_GPA + SZ_64K);
	hva = pf_test_mmap(test, NULL, SZ_64K, MAP_ANONYMOUS | MAP_PRIVATE);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, SZ_64K), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_HIGH_SLOT, 0, PF_TEST_HIGH_GPA,
					       SZ_64K, hva), 0);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_HIGH_GPA, SZ_64K, 0, &out), 0);
	pf_test_expect_range(test, &out, PF_TEST_HIGH_GPA + SZ_64K, 0);
	pf_test_expect_maps(test, PF_TEST_HIGH_GPA + SZ_32K, hva + SZ_32K, PAGE_SIZE);
}

static void pf_test_straddles_slot_end(struct kunit *test)
{
	u64 end = PF_TEST_SLOT_GPA + PF_TEST_SLOT_SIZE;
	struct kvm_pre_fault_memory out;

	pf_test_require_feature(test);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, end - SZ_16K, SZ_64K, 0, &out), 0);
	pf_test_expect_range(test, &out, end, SZ_64K - SZ_16K);

	/* The error met at the slot end is reported by the next call. */
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, out.gpa, out.size, 0, &out), -ENOENT);
	pf_test_expect_range(test, &out, end, SZ_64K - SZ_16K);
}

static void pf_test_inside_slot(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	u64 gpa = PF_TEST_SLOT_GPA + SZ_64K, size = SZ_64K, a;
	struct kvm_pre_fault_mapping first, last, map;
	struct kvm_pre_fault_memory out;

	pf_test_require_feature(test);
	KUNIT_ASSERT_FALSE(test, pf_test_lookup(test, gpa).mapped);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, size, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + size, 0);

	for (a = gpa; a < gpa + size; a += PAGE_SIZE) {
		map = pf_test_lookup(test, a);
		KUNIT_EXPECT_TRUE_MSG(test, map.mapped, "gpa 0x%llx", a);
		KUNIT_EXPECT_EQ_MSG(test, map.pfn,
				    pf_test_host_pfn(test, vm->hva + a - PF_TEST_SLOT_GPA),
				    "gpa 0x%llx", a);
	}
	/* Neighbours stay unmapped unless a block around the range covers them. */
	first = pf_test_lookup(test, gpa);
	last = pf_test_lookup(test, gpa + size - PAGE_SIZE);
	KUNIT_ASSERT_GE(test, first.size, PAGE_SIZE);
	KUNIT_ASSERT_GE(test, last.size, PAGE_SIZE);
	if (gpa - PAGE_SIZE < ALIGN_DOWN(gpa, first.size))
		KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, gpa - PAGE_SIZE).mapped);
	if (gpa + size >= ALIGN_DOWN(gpa + size - PAGE_SIZE, last.size) + last.size)
		KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, gpa + size).mapped);
}

static void pf_test_second_call_changes_nothing(struct kunit *test)
{
	u64 gpa = PF_TEST_SLOT_GPA, size = SZ_32K, a;
	struct kvm_pre_fault_mapping before[SZ_32K / PAGE_SIZE], after;
	struct kvm_pre_fault_memory out;
	int i;

	pf_test_require_feature(test);
	KUNIT_ASSERT_EQ(test, pf_test_prefault(test, gpa, size, 0, &out), 0);
	for (i = 0, a = gpa; a < gpa + size; a += PAGE_SIZE, i++)
		before[i] = pf_test_lookup(test, a);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, size, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + size, 0);
	for (i = 0, a = gpa; a < gpa + size; a += PAGE_SIZE, i++) {
		after = pf_test_lookup(test, a);
		KUNIT_EXPECT_TRUE(test, after.mapped);
		KUNIT_EXPECT_EQ(test, after.mapped, before[i].mapped);
		KUNIT_EXPECT_EQ(test, after.writable, before[i].writable);
		KUNIT_EXPECT_EQ(test, after.size, before[i].size);
	}
}

/*
 * Whether a pre-fault's new leaf is marked accessed, as upstream decided per
 * arch: x86 maps a pre-fault as a prefetch, which leaves the SPTE old until
 * the guest uses the page; arm64, riscv and powerpc map it through the
 * guest's own fault path, which marks every leaf it installs.
 */
#define PF_TEST_NEW_LEAF_ACCESSED	(!IS_ENABLED(CONFIG_X86))

/* Arches whose pre-fault is the guest's read fault have nothing to add. */
int __weak kvm_arch_pre_fault_test_guest_fault(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	return -EOPNOTSUPP;
}

/* A guest read fault on @gpa, as the vCPU would take it running the guest. */
static int pf_test_guest_fault(struct kunit *test, gpa_t gpa)
{
	struct pf_test_vm *vm = test->priv;
	int idx, r;

	mutex_lock(&vm->vcpu->mutex);
	vcpu_load(vm->vcpu);
	idx = srcu_read_lock(&vm->kvm->srcu);
	r = kvm_arch_pre_fault_test_guest_fault(vm->vcpu, gpa);
	srcu_read_unlock(&vm->kvm->srcu, idx);
	vcpu_put(vm->vcpu);
	mutex_unlock(&vm->vcpu->mutex);
	return r;
}

/* Aging as page_idle does it, a page at a time, through the MMU notifier. */
static void pf_test_age(unsigned long hva, u64 size)
{
	u64 off;

	for (off = 0; off < size; off += PAGE_SIZE)
		mmu_notifier_clear_young(current->mm, hva + off, hva + off + PAGE_SIZE);
}

/* Each page of [@gpa, @gpa + @size) mapped, accessed where bit i of @want is set. */
static void pf_test_expect_accessed(struct kunit *test, u64 gpa, u64 size,
				    unsigned long want, const char *when)
{
	struct kvm_pre_fault_mapping map;
	u64 off;

	for (off = 0; off < size; off += PAGE_SIZE) {
		map = pf_test_lookup(test, gpa + off);
		KUNIT_EXPECT_TRUE_MSG(test, map.mapped, "%s, offset 0x%llx", when, off);
		KUNIT_EXPECT_EQ_MSG(test, map.accessed, !!(want & BIT(off >> PAGE_SHIFT)),
				    "%s, offset 0x%llx", when, off);
	}
}

/*
 * The Accessed bit of pre-faulted leaves, as aging (reclaim, page_idle)
 * sees it through the MMU notifier: a new leaf is marked as
 * PF_TEST_NEW_LEAF_ACCESSED says; aging clears the bit and leaves the page
 * mapped; a second pre-fault never takes the bit from a page the guest
 * used (x86 leaves a present leaf alone) and, where the fault path marks
 * its leaves, gives it back to the pages aging cleared.  Where pre-fault
 * is not the guest's fault path (x86), a guest read fault on page 0 marks
 * its leaf before aging (so aging has a bit to clear) and again before the
 * second pre-fault; elsewhere page 0 is pre-faulted like the others.
 */
static void pf_test_accessed_bit(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	const u64 gpa = PF_TEST_SLOT_GPA, size = 4 * PAGE_SIZE;
	/* Bit i: page i; page 0 is the one the guest reads. */
	const unsigned long all = 0xf, guest_page = 0x1;
	const unsigned long new_leaves = PF_TEST_NEW_LEAF_ACCESSED ? all : 0;
	int r;

	pf_test_require_feature(test);
	pf_test_prefault_all(test, gpa, size);
	pf_test_expect_accessed(test, gpa, size, new_leaves, "new");

	r = pf_test_guest_fault(test, gpa);
	KUNIT_ASSERT_TRUE_MSG(test, r == 0 || r == -EOPNOTSUPP, "guest fault: %d", r);
	if (r == 0)
		KUNIT_EXPECT_TRUE(test, pf_test_lookup(test, gpa).accessed);

	pf_test_age(vm->hva, size);
	pf_test_expect_accessed(test, gpa, size, 0, "aged");

	if (r == 0) {
		KUNIT_ASSERT_EQ(test, pf_test_guest_fault(test, gpa), 0);
		pf_test_expect_accessed(test, gpa, size, guest_page, "guest read");
	}
	pf_test_prefault_all(test, gpa, size);
	pf_test_expect_accessed(test, gpa, size, new_leaves | guest_page,
				"pre-faulted again");
}

/* Arches without a nested second stage to stand for. */
int __weak kvm_arch_pre_fault_test_enter_nested(struct kvm_vcpu *vcpu)
{
	return -EOPNOTSUPP;
}

int __weak kvm_arch_pre_fault_test_nested_leaves(struct kvm_vcpu *vcpu)
{
	return -EOPNOTSUPP;
}

void __weak kvm_arch_pre_fault_test_leave_nested(struct kvm_vcpu *vcpu)
{
}

static void pf_test_leave_nested(void *vcpu)
{
	mutex_lock(&((struct kvm_vcpu *)vcpu)->mutex);
	kvm_arch_pre_fault_test_leave_nested(vcpu);
	mutex_unlock(&((struct kvm_vcpu *)vcpu)->mutex);
}

/*
 * The GPA of a pre-fault is the VM's own also while the vCPU's current
 * second stage is a nested guest's (arm64: a shadow stage 2 as
 * vcpu->arch.hw_mmu, as after the vCPU ran a guest hypervisor's guest),
 * as upstream's arm64 pre-fault decided: the VM's second stage gets every
 * page, the nested one stays empty.  Both paths are covered: small pages
 * of anonymous memory go through the batch where the arch has one, and a
 * slot logging dirty pages takes the per-page path.  (x86's nested MMU is
 * the kselftest's nested case: it needs a guest running.)
 */
static void pf_test_nested_second_stage(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	const u64 size = SZ_64K;
	struct kvm_pre_fault_memory out;
	unsigned long hva;
	int r, leaves;
	long batch, per_page;
	u64 off;

	pf_test_require_feature(test);
	hva = pf_test_mmap(test, NULL, size, MAP_ANONYMOUS | MAP_PRIVATE);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, size), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_BATCH_SLOT, 0, PF_TEST_BATCH_GPA,
					       size, hva), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, 0, KVM_MEM_LOG_DIRTY_PAGES,
					       PF_TEST_SLOT_GPA, PF_TEST_SLOT_SIZE, vm->hva), 0);

	mutex_lock(&vm->vcpu->mutex);
	r = kvm_arch_pre_fault_test_enter_nested(vm->vcpu);
	mutex_unlock(&vm->vcpu->mutex);
	if (r == -EOPNOTSUPP)
		kunit_skip(test, "no nested second stage in this arch or mode (arm64: VHE only)");
	KUNIT_ASSERT_EQ(test, r, 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, pf_test_leave_nested,
							vm->vcpu), 0);

	batch = pf_test_prefault(test, PF_TEST_BATCH_GPA, size, 0, &out);
	KUNIT_EXPECT_EQ(test, batch, 0);
	pf_test_expect_range(test, &out, PF_TEST_BATCH_GPA + size, 0);
	per_page = pf_test_prefault(test, PF_TEST_SLOT_GPA, size, 0, &out);
	KUNIT_EXPECT_EQ(test, per_page, 0);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA + size, 0);
	mutex_lock(&vm->vcpu->mutex);
	leaves = kvm_arch_pre_fault_test_nested_leaves(vm->vcpu);
	mutex_unlock(&vm->vcpu->mutex);

	KUNIT_EXPECT_EQ_MSG(test, leaves, 0, "leaves in the nested second stage");
	for (off = 0; off < size; off += PAGE_SIZE) {
		KUNIT_EXPECT_TRUE_MSG(test, pf_test_lookup(test, PF_TEST_BATCH_GPA + off).mapped,
				      "batch, offset 0x%llx", off);
		KUNIT_EXPECT_TRUE_MSG(test, pf_test_lookup(test, PF_TEST_SLOT_GPA + off).mapped,
				      "per page, offset 0x%llx", off);
	}
}

static void pf_test_readonly_slot(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;
	struct kvm_pre_fault_mapping map;
	unsigned long hva;
	u64 a;

	pf_test_require_feature(test);
	if (!kvm_arch_has_readonly_mem(vm->kvm))
		kunit_skip(test, "KVM has no read-only memslots here (KVM_CAP_READONLY_MEM 0)");
	hva = pf_test_mmap(test, NULL, PF_TEST_RO_SIZE, MAP_ANONYMOUS | MAP_PRIVATE);
	/* Writable host pages: only the slot's flag may make the mapping read-only. */
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, PF_TEST_RO_SIZE), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_RO_SLOT, KVM_MEM_READONLY,
					       PF_TEST_RO_GPA, PF_TEST_RO_SIZE, hva), 0);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_RO_GPA, PF_TEST_RO_SIZE, 0, &out), 0);
	pf_test_expect_range(test, &out, PF_TEST_RO_GPA + PF_TEST_RO_SIZE, 0);
	for (a = PF_TEST_RO_GPA; a < PF_TEST_RO_GPA + PF_TEST_RO_SIZE; a += PAGE_SIZE) {
		map = pf_test_lookup(test, a);
		KUNIT_EXPECT_TRUE_MSG(test, map.mapped, "gpa 0x%llx", a);
		KUNIT_EXPECT_FALSE_MSG(test, map.writable, "gpa 0x%llx", a);
	}
}

#ifdef CONFIG_MEMORY_FAILURE
/* Give the page back: the test kernel would lose one per boot otherwise. */
static void pf_test_unpoison(void *pfn)
{
	unpoison_memory((unsigned long)pfn);
}
#endif

/*
 * A poisoned host page: a pre-fault maps every page before it, then stops
 * there with -EHWPOISON (upstream's arm64 errno), the range at the page,
 * and sends no SIGBUS: the caller is told, and no guest access happened
 * that a machine check could be delivered for.  SIGBUS is let through to
 * this kthread, so that a SIGBUS sent by the pre-fault stays pending (and
 * a retry loop that waits for a signal ends with -EINTR instead of
 * spinning).
 */
static void pf_test_hwpoison(struct kunit *test)
{
#ifdef CONFIG_MEMORY_FAILURE
	const u64 size = PF_TEST_POISON_PAGES * PAGE_SIZE;
	const u64 bad = PF_TEST_RO_GPA + PF_TEST_POISON_PAGES / 2 * PAGE_SIZE;
	struct kvm_pre_fault_memory out;
	unsigned long hva, pfn;
	u64 a;

	pf_test_require_feature(test);
	hva = pf_test_mmap(test, NULL, size, MAP_ANONYMOUS | MAP_PRIVATE);
	/* Small pages whatever the host's THP settings: one page is poisoned. */
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, hva, size, MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, size), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(test->priv, PF_TEST_RO_SLOT, 0,
					       PF_TEST_RO_GPA, size, hva), 0);

	/* This kthread's own: it ends with the case. */
	allow_signal(SIGBUS);
	pfn = pf_test_host_pfn(test, hva + (bad - PF_TEST_RO_GPA));
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, hva + (bad - PF_TEST_RO_GPA),
					 PAGE_SIZE, MADV_HWPOISON), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, pf_test_unpoison,
							(void *)pfn), 0);
	/* The injection signals the task mapping the page: this one. */
	flush_signals(current);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_RO_GPA, size, 0, &out), 0);
	pf_test_expect_range(test, &out, bad, PF_TEST_RO_GPA + size - bad);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, out.gpa, out.size, 0, &out), -EHWPOISON);
	pf_test_expect_range(test, &out, bad, PF_TEST_RO_GPA + size - bad);
	KUNIT_EXPECT_FALSE(test, signal_pending(current));
	for (a = PF_TEST_RO_GPA; a <= bad; a += PAGE_SIZE)
		KUNIT_EXPECT_EQ_MSG(test, pf_test_lookup(test, a).mapped, a < bad,
				    "gpa 0x%llx", a);
	flush_signals(current);
	disallow_signal(SIGBUS);
#else
	kunit_skip(test, "no CONFIG_MEMORY_FAILURE (not on riscv in 6.12): cannot poison a page");
#endif
}

/*
 * A one-page pre-fault at @gpa is done in one call, and the leaf now
 * mapping @gpa is @leaf bytes large.
 */
static void pf_test_expect_page_prefault(struct kunit *test, u64 gpa, u64 leaf)
{
	struct kvm_pre_fault_memory out;
	struct kvm_pre_fault_mapping map;

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, PAGE_SIZE, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + PAGE_SIZE, 0);
	map = pf_test_lookup(test, gpa);
	KUNIT_EXPECT_TRUE_MSG(test, map.mapped, "gpa 0x%llx", gpa);
	KUNIT_EXPECT_EQ_MSG(test, map.size, leaf, "gpa 0x%llx", gpa);
}

/*
 * 2 MiB hugetlb pages for @size bytes, 2 MiB aligned, written by the host.
 * vm_mmap() ignores MAP_HUGETLB (only the mmap() syscall turns it into a
 * hugetlbfs file, and anonymous memory would quietly get THP instead), so
 * the file is set up here as the syscall would, and the VMA checked.
 */
static unsigned long pf_test_hugetlb_mmap(struct kunit *test, unsigned long size)
{
	struct vm_area_struct *vma;
	struct file *file;
	unsigned long hva;
	bool hugetlb;
	int r;

	/* Needs 2 MiB pages reserved with hugepages= on the command line. */
	file = hugetlb_file_setup(HUGETLB_ANON_FILE, size, VM_NORESERVE,
				  HUGETLB_ANONHUGE_INODE, ilog2(SZ_2M));
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(file), "hugetlb file: %ld", PTR_ERR(file));
	r = kunit_add_action_or_reset(test, pf_test_fput, file);
	KUNIT_ASSERT_EQ(test, r, 0);
	hva = pf_test_mmap(test, file, size, MAP_PRIVATE);
	KUNIT_ASSERT_TRUE(test, IS_ALIGNED(hva, SZ_2M));
	mmap_read_lock(current->mm);
	vma = vma_lookup(current->mm, hva);
	hugetlb = vma && is_vm_hugetlb_page(vma) &&
		  huge_page_size(hstate_vma(vma)) == SZ_2M;
	mmap_read_unlock(current->mm);
	KUNIT_ASSERT_TRUE_MSG(test, hugetlb, "0x%lx is not backed by 2 MiB hugetlb pages", hva);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, size), 0);
	return hva;
}

static void pf_test_hugetlb_block(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;
	struct kvm_pre_fault_mapping map;
	u64 gpa = PF_TEST_HUGE_GPA;
	unsigned long hva;

	pf_test_require_feature(test);
	hva = pf_test_hugetlb_mmap(test, PF_TEST_HUGE_SIZE);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_HUGE_SLOT, 0, gpa,
					       PF_TEST_HUGE_SIZE, hva), 0);

	/*
	 * 4 KiB inside the first block: the whole request is done by one
	 * 2 MiB block, which also covers what lies below gpa.
	 */
	pf_test_expect_page_prefault(test, gpa + SZ_1M, SZ_2M);
	KUNIT_EXPECT_TRUE(test, pf_test_lookup(test, gpa).mapped);

	/*
	 * From just inside the second block: progress runs to the block's end,
	 * which is the slot's end, and the page beyond has no memslot.
	 */
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa + SZ_2M + PAGE_SIZE, SZ_2M, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + SZ_4M, PAGE_SIZE);
	map = pf_test_lookup(test, gpa + SZ_2M);
	KUNIT_EXPECT_TRUE(test, map.mapped);
	KUNIT_EXPECT_EQ(test, map.size, SZ_2M);
}

/*
 * A hugetlb slot whose GPA is 4 KiB past a 2 MiB boundary while its host
 * memory is 2 MiB aligned: no block can map guest and host alike, so each
 * page is mapped on its own, to its own host page.
 */
static void pf_test_hugetlb_misaligned(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	u64 gpa = PF_TEST_HUGE_GPA + PAGE_SIZE, a;
	struct kvm_pre_fault_memory out;
	unsigned long hva;

	pf_test_require_feature(test);
	hva = pf_test_hugetlb_mmap(test, PF_TEST_HUGE_SIZE);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_HUGE_SLOT, 0, gpa,
					       PF_TEST_HUGE_SIZE - SZ_2M, hva), 0);

	/* Across the first block boundary of the guest and of the host. */
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, SZ_2M, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + SZ_2M, 0);
	for (a = gpa; a < gpa + SZ_2M; a += PAGE_SIZE)
		pf_test_expect_maps(test, a, hva + (a - gpa), PAGE_SIZE);
	/* The page below the slot was never given to the guest. */
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, gpa - PAGE_SIZE).mapped);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa - PAGE_SIZE, PAGE_SIZE, 0, &out),
			-ENOENT);
}

/*
 * A hugetlb slot that ends 1 MiB into its second huge page: the first
 * block is mapped whole, the second only page by page, and the range stops
 * exactly at the slot's end.
 */
static void pf_test_hugetlb_slot_end(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	u64 gpa = PF_TEST_HUGE_GPA, size = SZ_2M + SZ_1M, end = gpa + size;
	struct kvm_pre_fault_memory out;
	unsigned long hva;

	pf_test_require_feature(test);
	hva = pf_test_hugetlb_mmap(test, PF_TEST_HUGE_SIZE);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_HUGE_SLOT, 0, gpa, size, hva), 0);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, end - PAGE_SIZE, 2 * PAGE_SIZE, 0, &out), 0);
	pf_test_expect_range(test, &out, end, PAGE_SIZE);
	pf_test_expect_maps(test, end - PAGE_SIZE, hva + size - PAGE_SIZE, PAGE_SIZE);
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, end).mapped);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, size, 0, &out), 0);
	pf_test_expect_range(test, &out, end, 0);
	pf_test_expect_maps(test, gpa + SZ_1M, hva + SZ_1M, SZ_2M);
	pf_test_expect_maps(test, gpa + SZ_2M, hva + SZ_2M, PAGE_SIZE);
}

/*
 * 2 MiB-aligned anonymous memory that the host backs with transparent huge
 * pages: written once, as MADV_POPULATE_WRITE would, with THP "always".
 */
static unsigned long pf_test_thp_mmap(struct kunit *test)
{
	unsigned long hva;

	hva = pf_test_mmap(test, NULL, PF_TEST_THP_SIZE + SZ_2M,
			   MAP_ANONYMOUS | MAP_PRIVATE);
	hva = ALIGN(hva, SZ_2M);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, PF_TEST_THP_SIZE), 0);
	return hva;
}

static void pf_test_thp_block(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;

	pf_test_require_feature(test);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_THP_SLOT, 0, PF_TEST_THP_GPA,
					       PF_TEST_THP_SIZE, pf_test_thp_mmap(test)), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_THP_LOG_SLOT,
					       KVM_MEM_LOG_DIRTY_PAGES, PF_TEST_THP_LOG_GPA,
					       PF_TEST_THP_SIZE, pf_test_thp_mmap(test)), 0);

	/* One page in the middle of a THP: the whole 2 MiB block is mapped. */
	pf_test_expect_page_prefault(test, PF_TEST_THP_GPA + SZ_1M, SZ_2M);
	KUNIT_EXPECT_TRUE(test, pf_test_lookup(test, PF_TEST_THP_GPA).mapped);

	/* Dirty logging keeps the same kind of memory on 4 KiB pages. */
	pf_test_expect_page_prefault(test, PF_TEST_THP_LOG_GPA + SZ_1M, PAGE_SIZE);
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, PF_TEST_THP_LOG_GPA).mapped);
}

/*
 * The statistics count a leaf at its size, wherever the range started in
 * it, and count the steps that mapped: [block + 4 KiB, block + 2 MiB) over
 * a THP is one step and one 2 MiB leaf, and a failed call counts nothing.
 */
static void pf_test_step_statistics(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	u64 *hist = vm->vcpu->stat.generic.pre_fault_step_bytes_hist;
	u64 before[ARRAY_SIZE(vm->vcpu->stat.generic.pre_fault_step_bytes_hist)];
	struct kvm_pre_fault_memory out;
	u64 steps;
	int i;

	pf_test_require_feature(test);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_THP_SLOT, 0, PF_TEST_THP_GPA,
					       PF_TEST_THP_SIZE, pf_test_thp_mmap(test)), 0);
	memcpy(before, hist, sizeof(before));
	steps = vm->vcpu->stat.generic.pre_fault_steps;

	pf_test_prefault_all(test, PF_TEST_THP_GPA + PAGE_SIZE, SZ_2M - PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, pf_test_lookup(test, PF_TEST_THP_GPA).size, SZ_2M);
	KUNIT_EXPECT_EQ(test, vm->vcpu->stat.generic.pre_fault_steps - steps, 1);
	for (i = 0; i < ARRAY_SIZE(before); i++)
		KUNIT_EXPECT_EQ_MSG(test, hist[i] - before[i], i == fls64(SZ_2M) ? 1 : 0,
				    "bucket %d", i);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_THP_GPA + PF_TEST_THP_SIZE,
					       PAGE_SIZE, 0, &out), -ENOENT);
	KUNIT_EXPECT_EQ(test, vm->vcpu->stat.generic.pre_fault_steps - steps, 1);
}

static void pf_test_dirty_logging(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	u64 gpa = PF_TEST_SLOT_GPA + SZ_1M, size = SZ_16K, a;
	struct kvm_pre_fault_memory out;
	struct kvm_pre_fault_mapping map;
	struct kvm_memory_slot *slot;
	int idx;

	pf_test_require_feature(test);
	/* Writable host pages, so that only dirty logging decides. */
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)vm->hva, PF_TEST_SLOT_SIZE), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, 0, KVM_MEM_LOG_DIRTY_PAGES,
					       PF_TEST_SLOT_GPA, PF_TEST_SLOT_SIZE,
					       vm->hva), 0);

	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, gpa, size, 0, &out), 0);
	pf_test_expect_range(test, &out, gpa + size, 0);

	idx = srcu_read_lock(&vm->kvm->srcu);
	slot = gfn_to_memslot(vm->kvm, gpa_to_gfn(gpa));
	KUNIT_ASSERT_NOT_NULL(test, slot);
	for (a = gpa; a < gpa + size; a += PAGE_SIZE) {
		map = pf_test_lookup(test, a);
		KUNIT_EXPECT_TRUE_MSG(test, map.mapped, "gpa 0x%llx", a);
		KUNIT_EXPECT_EQ_MSG(test, map.size, PAGE_SIZE, "gpa 0x%llx", a);
		KUNIT_EXPECT_EQ_MSG(test, map.writable,
				    PF_TEST_DIRTY_LOG_READ_FAULT_WRITABLE, "gpa 0x%llx", a);
		KUNIT_EXPECT_EQ_MSG(test,
				    test_bit(gpa_to_gfn(a) - slot->base_gfn, slot->dirty_bitmap),
				    PF_TEST_DIRTY_LOG_READ_FAULT_IN_BITMAP, "gpa 0x%llx", a);
	}
	srcu_read_unlock(&vm->kvm->srcu, idx);
}

/*
 * Pages of [@gpa, @gpa + @size) whose mapping is not what @want expects:
 * expected to be none, with the first one and the count in the message
 * (one line per range, not per page).
 */
static void pf_test_expect_pages(struct kunit *test, u64 gpa, u64 size,
				 bool (*want)(const struct kvm_pre_fault_mapping *map),
				 const char *what)
{
	u64 a, first = 0, bad = 0;

	for (a = gpa; a < gpa + size; a += PAGE_SIZE) {
		struct kvm_pre_fault_mapping map = pf_test_lookup(test, a);

		if (!want(&map) && !bad++)
			first = a;
	}
	KUNIT_EXPECT_EQ_MSG(test, bad, 0, "pages of [0x%llx, 0x%llx) not %s, the first at 0x%llx",
			    gpa, gpa + size, what, first);
}

static bool pf_test_is_unmapped(const struct kvm_pre_fault_mapping *map)
{
	return !map->mapped;
}

static bool pf_test_is_mapped(const struct kvm_pre_fault_mapping *map)
{
	return map->mapped;
}

static bool pf_test_is_read_only(const struct kvm_pre_fault_mapping *map)
{
	return !map->writable;
}

static bool pf_test_is_writable(const struct kvm_pre_fault_mapping *map)
{
	return map->mapped && map->writable;
}

/* No page of [@gpa, @gpa + @size) is mapped in the second stage. */
static void pf_test_expect_unmapped(struct kunit *test, u64 gpa, u64 size)
{
	pf_test_expect_pages(test, gpa, size, pf_test_is_unmapped, "unmapped");
}

/*
 * Every page of [@gpa, @gpa + @size) is mapped, each to the host page now
 * behind it: no GPA reads memory the host freed or gave to another GPA.
 */
static void pf_test_expect_own_pages(struct kunit *test, u64 gpa, u64 size,
				     unsigned long hva)
{
	struct kvm_pre_fault_mapping map;
	u64 off, first = 0, bad = 0;

	for (off = 0; off < size; off += PAGE_SIZE) {
		map = pf_test_lookup(test, gpa + off);
		if ((!map.mapped || map.pfn != pf_test_host_pfn(test, hva + off)) && !bad++)
			first = gpa + off;
	}
	KUNIT_EXPECT_EQ_MSG(test, bad, 0,
			    "pages of [0x%llx, 0x%llx) not mapped to their own host page, the first at 0x%llx",
			    gpa, gpa + size, first);
}

/*
 * Slots that start 1 MiB into a 2 MiB region: low, where QEMU puts x86 RAM
 * above the legacy hole, and high.  Range walks that step from wherever
 * they are, instead of from the start of the entry they met, skip entries
 * of such slots.
 */
static const u64 pf_test_unaligned_gpas[] = { SZ_1M, 5ULL * SZ_1G + SZ_1M };

static void pf_test_unaligned_gpa_desc(const u64 *gpa, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "slot at 0x%llx", *gpa);
}

KUNIT_ARRAY_PARAM(pf_test_unaligned, pf_test_unaligned_gpas, pf_test_unaligned_gpa_desc);

/*
 * @size bytes of anonymous memory the host backs with transparent huge
 * pages, from 1 MiB into a huge page: the returned address has the same
 * offset in a 2 MiB region as the unaligned slots' GPAs.
 */
static unsigned long pf_test_unaligned_thp_mmap(struct kunit *test)
{
	unsigned long hva;

	hva = pf_test_mmap(test, NULL, PF_TEST_UNALIGNED_SIZE + SZ_4M,
			   MAP_ANONYMOUS | MAP_PRIVATE);
	hva = ALIGN(hva, SZ_2M);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva,
					 PF_TEST_UNALIGNED_SIZE + SZ_2M), 0);
	return hva + SZ_1M;
}

/*
 * The unaligned slot at @gpa on THP-backed memory, pre-faulted from 1 MiB
 * into the slot to its end: blocks at +1, +3 and +5 MiB (writable, the host
 * wrote them), small pages in the last MiB, whose huge page extends past
 * the slot, and nothing in the first MiB.
 */
static unsigned long pf_test_unaligned_slot(struct kunit *test, u64 gpa)
{
	struct pf_test_vm *vm = test->priv;
	u64 end = gpa + PF_TEST_UNALIGNED_SIZE, off;
	struct kvm_pre_fault_memory out;
	unsigned long hva;

	pf_test_require_feature(test);
	hva = pf_test_unaligned_thp_mmap(test);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_UNALIGNED_SLOT, 0, gpa,
					       PF_TEST_UNALIGNED_SIZE, hva), 0);
	KUNIT_ASSERT_EQ(test, pf_test_prefault(test, gpa + SZ_1M, end - gpa - SZ_1M, 0, &out), 0);
	pf_test_expect_range(test, &out, end, 0);
	for (off = SZ_1M; off < SZ_8M - SZ_1M; off += SZ_2M) {
		pf_test_expect_maps(test, gpa + off, hva + off, SZ_2M);
		KUNIT_EXPECT_TRUE(test, pf_test_lookup(test, gpa + off).writable);
	}
	for (off = SZ_8M - SZ_1M; off < SZ_8M; off += PAGE_SIZE)
		pf_test_expect_maps(test, gpa + off, hva + off, PAGE_SIZE);
	pf_test_expect_unmapped(test, gpa, SZ_1M);
	return hva;
}

/*
 * The host drops the slot's memory (a balloon, a post-copy restart): the
 * MMU notifier must unmap every block and page of the slot, and the guest
 * must then see the host's new contents at every GPA.
 */
static void pf_test_unaligned_slot_zap(struct kunit *test)
{
	u64 gpa = *(const u64 *)test->param_value;
	unsigned long hva = pf_test_unaligned_slot(test, gpa);

	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, hva, PF_TEST_UNALIGNED_SIZE,
					 MADV_DONTNEED), 0);
	pf_test_expect_unmapped(test, gpa - SZ_1M, PF_TEST_UNALIGNED_SIZE + SZ_2M);

	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, PF_TEST_UNALIGNED_SIZE), 0);
	pf_test_prefault_all(test, gpa, PF_TEST_UNALIGNED_SIZE);
	pf_test_expect_own_pages(test, gpa, PF_TEST_UNALIGNED_SIZE, hva);
}

/*
 * x86 with PML logs guest writes through the dirty bit of 4 KiB leaves:
 * enabling dirty logging and KVM_CLEAR_DIRTY_LOG then write-protect only
 * leaves larger than a page and clear the dirty bit of the others.
 */
static bool pf_test_logs_by_dirty_bit(void)
{
#ifdef CONFIG_X86
	return kvm_x86_ops.cpu_dirty_log_size;
#else
	return false;
#endif
}

static bool pf_test_block_read_only(const struct kvm_pre_fault_mapping *map)
{
	return !map->writable || map->size == PAGE_SIZE;
}

/*
 * Turning dirty logging on write-protects every leaf of the slot, blocks
 * reached at any address included: a guest write that did not fault would
 * be missing from the log, and lost by a live migration.
 */
static void pf_test_unaligned_slot_dirty_log(struct kunit *test)
{
	u64 gpa = *(const u64 *)test->param_value;
	unsigned long hva = pf_test_unaligned_slot(test, gpa);

	KUNIT_ASSERT_EQ(test, pf_test_set_slot(test->priv, PF_TEST_UNALIGNED_SLOT,
					       KVM_MEM_LOG_DIRTY_PAGES, gpa,
					       PF_TEST_UNALIGNED_SIZE, hva), 0);
	if (pf_test_logs_by_dirty_bit())
		pf_test_expect_pages(test, gpa, PF_TEST_UNALIGNED_SIZE, pf_test_block_read_only,
				     "write-protected if a block");
	else
		pf_test_expect_pages(test, gpa, PF_TEST_UNALIGNED_SIZE, pf_test_is_read_only,
				     "write-protected");
}

/*
 * A slot deleted and re-created at the same GPA on other memory: nothing
 * of the old slot may stay mapped, and every GPA then maps the new memory.
 */
static void pf_test_unaligned_slot_recreate(struct kunit *test)
{
	u64 gpa = *(const u64 *)test->param_value;
	unsigned long hva;

	pf_test_unaligned_slot(test, gpa);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(test->priv, PF_TEST_UNALIGNED_SLOT, 0, gpa,
					       0, 0), 0);
	pf_test_expect_unmapped(test, gpa - SZ_1M, PF_TEST_UNALIGNED_SIZE + SZ_2M);

	hva = pf_test_unaligned_thp_mmap(test);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(test->priv, PF_TEST_UNALIGNED_SLOT, 0, gpa,
					       PF_TEST_UNALIGNED_SIZE, hva), 0);
	pf_test_prefault_all(test, gpa, PF_TEST_UNALIGNED_SIZE);
	pf_test_expect_own_pages(test, gpa, PF_TEST_UNALIGNED_SIZE, hva);
}

/*
 * Slot 0 (4 KiB pages) pre-faulted from 2 MiB to its end, written by the
 * host: the 2 MiB region below has no last-level table at all.
 */
static void pf_test_upper_half_mapped(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	u64 gpa = PF_TEST_SLOT_GPA + SZ_2M;

	pf_test_require_feature(test);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)vm->hva, PF_TEST_SLOT_SIZE), 0);
	pf_test_prefault_all(test, gpa, SZ_2M);
	pf_test_expect_pages(test, gpa, SZ_2M, pf_test_is_writable, "writable");
	pf_test_expect_unmapped(test, PF_TEST_SLOT_GPA, SZ_2M);
}

/*
 * An MMU-notifier range that starts 1 MiB into a region without a
 * last-level table, over small pages: [1 MiB, 3 MiB) of slot 0 unmaps the
 * pages of [2 MiB, 3 MiB) and leaves those above.
 */
static void pf_test_notifier_range_unaligned(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;

	pf_test_upper_half_mapped(test);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, vm->hva + SZ_1M, SZ_2M,
					 MADV_DONTNEED), 0);
	pf_test_expect_unmapped(test, PF_TEST_SLOT_GPA + SZ_2M, SZ_1M);
	pf_test_expect_pages(test, PF_TEST_SLOT_GPA + SZ_2M + SZ_1M, SZ_1M,
			     pf_test_is_mapped, "mapped");
}

/*
 * KVM_CLEAR_DIRTY_LOG re-protects a window of BITS_PER_LONG pages; one
 * that straddles a 2 MiB boundary, below which nothing is mapped, must
 * write-protect the pages above the boundary, and only the window.
 */
static void pf_test_clear_dirty_window(struct kunit *test)
{
#ifdef CONFIG_KVM_GENERIC_DIRTYLOG_READ_PROTECT
	struct pf_test_vm *vm = test->priv;
	const u64 first = (SZ_2M >> PAGE_SHIFT) - BITS_PER_LONG / 2;
	u64 end = PF_TEST_SLOT_GPA + gfn_to_gpa(first + BITS_PER_LONG);
	struct kvm_memory_slot *slot;
	int idx;

	if (pf_test_logs_by_dirty_bit())
		kunit_skip(test, "x86 with PML clears dirty bits, which the lookup does not show");
	pf_test_upper_half_mapped(test);
	idx = srcu_read_lock(&vm->kvm->srcu);
	slot = gfn_to_memslot(vm->kvm, gpa_to_gfn(PF_TEST_SLOT_GPA));
	KVM_MMU_LOCK(vm->kvm);
	kvm_arch_mmu_enable_log_dirty_pt_masked(vm->kvm, slot, first, ~0UL);
	KVM_MMU_UNLOCK(vm->kvm);
	srcu_read_unlock(&vm->kvm->srcu, idx);

	pf_test_expect_pages(test, PF_TEST_SLOT_GPA + SZ_2M, end - PF_TEST_SLOT_GPA - SZ_2M,
			     pf_test_is_read_only, "write-protected");
	pf_test_expect_pages(test, end, PF_TEST_SLOT_GPA + SZ_4M - end, pf_test_is_writable,
			     "writable");
#else
	kunit_skip(test, "no KVM_CLEAR_DIRTY_LOG on this arch");
#endif
}

/*
 * Map [@gpa, @gpa + @size) through the arch's fault path alone, a page at
 * a time, as the guest's own read faults would: the reference a batched
 * pre-fault is compared with.
 */
static void pf_test_fault_pages(struct kunit *test, u64 gpa, u64 size)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory range;
	struct kvm_memory_slot *slot;
	long r = -ENOENT;
	u64 a;
	int idx;

	mutex_lock(&vm->vcpu->mutex);
	vcpu_load(vm->vcpu);
	idx = srcu_read_lock(&vm->kvm->srcu);
	slot = gfn_to_memslot(vm->kvm, gpa_to_gfn(gpa));
	for (a = gpa; slot && a < gpa + size; a += PAGE_SIZE) {
		range = (struct kvm_pre_fault_memory){ .gpa = a, .size = PAGE_SIZE };
		r = kvm_arch_vcpu_pre_fault_memory(vm->vcpu, &range, slot);
		if (r != PAGE_SIZE)
			break;
	}
	srcu_read_unlock(&vm->kvm->srcu, idx);
	vcpu_put(vm->vcpu);
	mutex_unlock(&vm->vcpu->mutex);
	KUNIT_ASSERT_EQ_MSG(test, r, PAGE_SIZE, "fault path at gpa 0x%llx", a);
}

/*
 * Small pages pre-faulted in runs get, page for page, the leaf the fault
 * path gives the same kind of memory: size, permissions, every attribute
 * bit, and the page's own host frame.  Every third page was written by
 * the host (a writable page), the others never touched (the shared zero
 * page, read-only).  The statistics count every 4 KiB leaf, and an arch
 * that batches maps the whole range, a last-level table's worth, in one
 * step.
 */
static void pf_test_batch_matches_fault_path(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	const u64 pages = PF_TEST_BATCH_SIZE >> PAGE_SHIFT;
	u64 *hist = vm->vcpu->stat.generic.pre_fault_step_bytes_hist;
	struct kvm_pre_fault_mapping batched, faulted;
	unsigned long batch_hva, fault_hva;
	struct kvm_pre_fault_memory out;
	u64 steps, leaves, off;
	unsigned long host_faults;

	pf_test_require_feature(test);
	batch_hva = pf_test_mmap(test, NULL, PF_TEST_BATCH_SIZE, MAP_ANONYMOUS | MAP_PRIVATE);
	fault_hva = pf_test_mmap(test, NULL, PF_TEST_BATCH_SIZE, MAP_ANONYMOUS | MAP_PRIVATE);
	/* Small folios whatever the host's (m)THP settings. */
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, batch_hva, PF_TEST_BATCH_SIZE,
					 MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, fault_hva, PF_TEST_BATCH_SIZE,
					 MADV_NOHUGEPAGE), 0);
	for (off = 0; off < PF_TEST_BATCH_SIZE; off += 3 * PAGE_SIZE) {
		KUNIT_ASSERT_EQ(test, clear_user((void __user *)batch_hva + off, 8), 0);
		KUNIT_ASSERT_EQ(test, clear_user((void __user *)fault_hva + off, 8), 0);
	}
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_BATCH_SLOT, 0, PF_TEST_BATCH_GPA,
					       PF_TEST_BATCH_SIZE, batch_hva), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_FAULT_SLOT, 0, PF_TEST_FAULT_GPA,
					       PF_TEST_BATCH_SIZE, fault_hva), 0);

	steps = vm->vcpu->stat.generic.pre_fault_steps;
	leaves = hist[fls64(PAGE_SIZE)];
	host_faults = current->min_flt + current->maj_flt;
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_BATCH_GPA, PF_TEST_BATCH_SIZE,
					       0, &out), 0);
	host_faults = current->min_flt + current->maj_flt - host_faults;
	pf_test_expect_range(test, &out, PF_TEST_BATCH_GPA + PF_TEST_BATCH_SIZE, 0);
	KUNIT_EXPECT_EQ(test, hist[fls64(PAGE_SIZE)] - leaves, pages);
	KUNIT_EXPECT_EQ(test, vm->vcpu->stat.generic.pre_fault_steps - steps,
			PF_TEST_BATCH ? 1 : pages);
	/*
	 * A batched step maps the zero page at the untouched pages in one
	 * pass (map_zero_page_range()) instead of taking a host read fault at
	 * each; the first page is a written one, so no fault at all.
	 */
	if (vm->vcpu->stat.generic.pre_fault_steps - steps == 1)
		KUNIT_EXPECT_EQ(test, host_faults, 0);

	pf_test_fault_pages(test, PF_TEST_FAULT_GPA, PF_TEST_BATCH_SIZE);
	for (off = 0; off < PF_TEST_BATCH_SIZE; off += PAGE_SIZE) {
		batched = pf_test_lookup(test, PF_TEST_BATCH_GPA + off);
		faulted = pf_test_lookup(test, PF_TEST_FAULT_GPA + off);
		KUNIT_EXPECT_TRUE_MSG(test, batched.mapped, "offset 0x%llx", off);
		KUNIT_EXPECT_TRUE_MSG(test, faulted.mapped, "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, batched.size, PAGE_SIZE, "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, faulted.size, PAGE_SIZE, "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, batched.writable, off % (3 * PAGE_SIZE) == 0,
				    "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, faulted.writable, off % (3 * PAGE_SIZE) == 0,
				    "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, batched.attrs, faulted.attrs, "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, batched.pfn, pf_test_host_pfn(test, batch_hva + off),
				    "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, faulted.pfn, pf_test_host_pfn(test, fault_hva + off),
				    "offset 0x%llx", off);
		/* Untouched memory is the shared zero page, as after a read fault. */
		KUNIT_EXPECT_EQ_MSG(test, is_zero_pfn(batched.pfn), off % (3 * PAGE_SIZE) != 0,
				    "offset 0x%llx", off);
	}

	/*
	 * The host writing a page that a pre-fault mapped to the zero page
	 * (its copy-on-write) takes it out of the stage 2, as for a page the
	 * guest's read mapped: the guest cannot keep reading stale zeroes.
	 */
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)batch_hva + PAGE_SIZE, 8), 0);
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, PF_TEST_BATCH_GPA + PAGE_SIZE).mapped);
	KUNIT_EXPECT_TRUE(test, pf_test_lookup(test, PF_TEST_BATCH_GPA + 2 * PAGE_SIZE).mapped);
}

#ifdef CONFIG_NUMA_BALANCING
/*
 * Make the host PTEs of [@hva, @hva + @size) PROT_NONE as NUMA balancing's
 * scan does, so that the next access takes a hinting fault.  The scan
 * leaves alone the pages of a single-threaded process that are on its own
 * node, and a single-node machine never turns the normal mode on: the mm
 * gets a second user and the mode is on while the PTEs change.
 *
 * Return: the pages made PROT_NONE (those already so are not counted).
 */
static unsigned long pf_test_numa_protect(unsigned long hva, unsigned long size)
{
	int mode = sysctl_numa_balancing_mode;
	struct vm_area_struct *vma;
	unsigned long nr = 0;

	mmget(current->mm);
	WRITE_ONCE(sysctl_numa_balancing_mode, NUMA_BALANCING_NORMAL);
	mmap_read_lock(current->mm);
	vma = vma_lookup(current->mm, hva);
	if (vma)
		nr = change_prot_numa(vma, hva, hva + size);
	mmap_read_unlock(current->mm);
	WRITE_ONCE(sysctl_numa_balancing_mode, mode);
	mmput(current->mm);
	return nr;
}
#endif

/*
 * Pages whose host PTEs NUMA balancing made PROT_NONE are pre-faulted as
 * the fault path maps them: the hinting fault is taken (the PTEs are
 * accessible again, so NUMA balancing can find them used), and each page
 * gets the leaf a guest read fault gives it, writable for memory the host
 * wrote.  A host page lookup that skips the hinting fault gets the page
 * with its PTE still PROT_NONE, and would map it read-only.
 */
static void pf_test_numa_hinting(struct kunit *test)
{
#ifdef CONFIG_NUMA_BALANCING
	struct pf_test_vm *vm = test->priv;
	const u64 size = PF_TEST_BATCH_SIZE, pages = size >> PAGE_SHIFT;
	struct kvm_pre_fault_mapping pre_faulted, faulted;
	unsigned long pre_fault_hva, fault_hva;
	u64 off;

	pf_test_require_feature(test);
	pre_fault_hva = pf_test_mmap(test, NULL, size, MAP_ANONYMOUS | MAP_PRIVATE);
	fault_hva = pf_test_mmap(test, NULL, size, MAP_ANONYMOUS | MAP_PRIVATE);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, pre_fault_hva, size, MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, fault_hva, size, MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)pre_fault_hva, size), 0);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)fault_hva, size), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_BATCH_SLOT, 0, PF_TEST_BATCH_GPA,
					       size, pre_fault_hva), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_FAULT_SLOT, 0, PF_TEST_FAULT_GPA,
					       size, fault_hva), 0);
	KUNIT_ASSERT_EQ(test, pf_test_numa_protect(pre_fault_hva, size), pages);
	KUNIT_ASSERT_EQ(test, pf_test_numa_protect(fault_hva, size), pages);

	pf_test_prefault_all(test, PF_TEST_BATCH_GPA, size);
	pf_test_fault_pages(test, PF_TEST_FAULT_GPA, size);

	for (off = 0; off < size; off += PAGE_SIZE) {
		pre_faulted = pf_test_lookup(test, PF_TEST_BATCH_GPA + off);
		faulted = pf_test_lookup(test, PF_TEST_FAULT_GPA + off);
		KUNIT_EXPECT_TRUE_MSG(test, faulted.writable, "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, pre_faulted.writable, faulted.writable,
				    "offset 0x%llx", off);
		KUNIT_EXPECT_EQ_MSG(test, pre_faulted.attrs, faulted.attrs, "offset 0x%llx", off);
	}
	pf_test_expect_own_pages(test, PF_TEST_BATCH_GPA, size, pre_fault_hva);
	/* Taken hinting faults: every PTE can be made PROT_NONE again. */
	KUNIT_EXPECT_EQ(test, pf_test_numa_protect(pre_fault_hva, size), pages);
#else
	kunit_skip(test, "CONFIG_NUMA_BALANCING is not set");
#endif
}

static void pf_test_signal_pending(struct kunit *test)
{
	struct kvm_pre_fault_memory out;
	long r;

	pf_test_require_feature(test);
	/* Kthreads ignore signals unless they allow them. */
	allow_signal(SIGUSR1);
	send_sig(SIGUSR1, current, 0);
	r = pf_test_prefault(test, PF_TEST_SLOT_GPA, SZ_64K, 0, &out);
	flush_signals(current);
	disallow_signal(SIGUSR1);

	KUNIT_EXPECT_EQ(test, r, -EINTR);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA, SZ_64K);
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, PF_TEST_SLOT_GPA).mapped);
}

static void pf_test_dead_vm(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;

	pf_test_require_feature(test);
	kvm_vm_dead(vm->kvm);
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_SLOT_GPA, SZ_64K, 0, &out), -EIO);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA, SZ_64K);
}

/**
 * struct pf_test_helper - a kthread a case runs beside itself
 * @task: the kthread, a reference held
 * @mm: the case's mm, which the kthread borrows; a user reference held
 */
struct pf_test_helper {
	struct task_struct *task;
	struct mm_struct *mm;
};

static void pf_test_stop_helper(void *data)
{
	struct pf_test_helper *helper = data;

	kthread_stop(helper->task);
	put_task_struct(helper->task);
	mmput(helper->mm);
}

/*
 * Run @fn(@data) on a kthread that may borrow the case's mm (with
 * kthread_use_mm()), stopped and waited for when the case ends, an
 * assertion that ends it early included: the kthread and what it uses
 * (@data allocated with kunit_kzalloc() before this call, the VM, the mm)
 * never outlive each other.  @fn must return once kthread_should_stop().
 */
static void pf_test_start_helper(struct kunit *test, int (*fn)(void *),
				 void *data, const char *name)
{
	struct pf_test_helper *helper;
	int r;

	helper = kunit_kzalloc(test, sizeof(*helper), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, helper);
	helper->task = kthread_create(fn, data, "%s", name);
	KUNIT_ASSERT_FALSE(test, IS_ERR(helper->task));
	get_task_struct(helper->task);
	mmget(current->mm);
	helper->mm = current->mm;
	r = kunit_add_action_or_reset(test, pf_test_stop_helper, helper);
	KUNIT_ASSERT_EQ(test, r, 0);
	wake_up_process(helper->task);
}

/* Wait for @done, giving up when the helper is told to stop. */
static bool pf_test_helper_wait(struct completion *done)
{
	while (!wait_for_completion_timeout(done, HZ / 10))
		if (kthread_should_stop())
			return false;
	return true;
}

/**
 * struct pf_test_par - a second vCPU pre-faulting beside the test's own
 * @mm: the test's mm, which the second vCPU's thread borrows
 * @file: the second vCPU's file
 * @uarg: its user page for the ioctl's argument
 * @go: completed once per round: pre-fault the upper half of the round's region
 * @done: completed once per round when that pre-fault returned
 * @r: the return of each round's pre-fault
 * @start: when each round's pre-fault started (ktime, ns)
 * @end: when it returned
 * @out: the range each round's pre-fault left
 */
struct pf_test_par {
	struct mm_struct *mm;
	struct file *file;
	unsigned long uarg;
	struct completion go, done;
	long r[PF_TEST_PAR_REGIONS];
	u64 start[PF_TEST_PAR_REGIONS], end[PF_TEST_PAR_REGIONS];
	struct kvm_pre_fault_memory out[PF_TEST_PAR_REGIONS];
};

static long pf_test_prefault_file(struct file *file, unsigned long uarg,
				  u64 gpa, u64 size, struct kvm_pre_fault_memory *out)
{
	struct kvm_pre_fault_memory range = { .gpa = gpa, .size = size };
	long r;

	if (copy_to_user((void __user *)uarg, &range, sizeof(range)))
		return -EFAULT;
	r = file->f_op->unlocked_ioctl(file, KVM_PRE_FAULT_MEMORY, uarg);
	if (copy_from_user(out, (void __user *)uarg, sizeof(*out)))
		return -EFAULT;
	return r;
}

/*
 * A vCPU the VMM created but has not set up yet: -ENOEXEC on arm64 (as
 * KVM_RUN answers; upstream's arm64 pre-fault does the same) with nothing
 * mapped and the range unchanged, then a normal pre-fault once it is set
 * up.  Where vCPUs need no set-up, it pre-faults as created.
 */
static void pf_test_uninitialised_vcpu(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct kvm_pre_fault_memory out;
	struct file *file;
	int fd, r;
	long ret;

	pf_test_require_feature(test);
	fd = kvm_vm_ioctl_create_vcpu(vm->kvm, 1);
	KUNIT_ASSERT_GE_MSG(test, fd, 0, "KVM_CREATE_VCPU 1");
	r = kunit_add_action_or_reset(test, pf_test_close_fd, (void *)(unsigned long)fd);
	KUNIT_ASSERT_EQ(test, r, 0);
	file = fget(fd);
	KUNIT_ASSERT_NOT_NULL(test, file);
	r = kunit_add_action_or_reset(test, pf_test_fput, file);
	KUNIT_ASSERT_EQ(test, r, 0);

	ret = pf_test_prefault_file(file, vm->uarg, PF_TEST_SLOT_GPA, SZ_64K, &out);
	r = kvm_arch_pre_fault_test_init_vcpu(file, (void __user *)vm->uarg);
	if (r == -EOPNOTSUPP) {
		KUNIT_EXPECT_EQ(test, ret, 0);
		pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA + SZ_64K, 0);
		return;
	}
	KUNIT_ASSERT_EQ_MSG(test, r, 0, "vCPU set-up");
	KUNIT_EXPECT_EQ(test, ret, -ENOEXEC);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA, SZ_64K);
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, PF_TEST_SLOT_GPA).mapped);

	ret = pf_test_prefault_file(file, vm->uarg, PF_TEST_SLOT_GPA, SZ_64K, &out);
	KUNIT_EXPECT_EQ(test, ret, 0);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA + SZ_64K, 0);
	KUNIT_EXPECT_TRUE(test, pf_test_lookup(test, PF_TEST_SLOT_GPA).mapped);
}

/* The second vCPU: the upper half of each region, when told. */
static int pf_test_par_upper(void *data)
{
	struct pf_test_par *par = data;
	u64 gpa;
	int i;

	kthread_use_mm(par->mm);
	for (i = 0; i < PF_TEST_PAR_REGIONS; i++) {
		if (!pf_test_helper_wait(&par->go))
			break;
		gpa = PF_TEST_PAR_GPA + i * SZ_2M + SZ_1M;
		par->start[i] = ktime_get_ns();
		par->r[i] = pf_test_prefault_file(par->file, par->uarg, gpa, SZ_1M,
						  &par->out[i]);
		par->end[i] = ktime_get_ns();
		complete(&par->done);
	}
	kthread_unuse_mm(par->mm);
	return 0;
}

/*
 * Two vCPUs pre-fault the two halves of each of many fresh 2 MiB regions
 * of small, host-populated pages at once, both needing the region's one
 * last-level table: whichever loses the race to install it must still map
 * every page it reports done.  The rounds in which both calls overlapped
 * in time are counted and required.
 */
static void pf_test_parallel_halves(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct pf_test_par *par;
	struct kvm_pre_fault_memory out;
	unsigned int overlapped = 0;
	unsigned long hva;
	u64 gpa, start, end;
	int fd, i, r;

	pf_test_require_feature(test);
	par = kunit_kzalloc(test, sizeof(*par), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, par);
	par->mm = current->mm;
	init_completion(&par->go);
	init_completion(&par->done);

	hva = pf_test_mmap(test, NULL, PF_TEST_PAR_SIZE, MAP_ANONYMOUS | MAP_PRIVATE);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, hva, PF_TEST_PAR_SIZE, MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, PF_TEST_PAR_SIZE), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_PAR_SLOT, 0, PF_TEST_PAR_GPA,
					       PF_TEST_PAR_SIZE, hva), 0);
	par->uarg = pf_test_mmap(test, NULL, PAGE_SIZE, MAP_ANONYMOUS | MAP_PRIVATE);

	fd = kvm_vm_ioctl_create_vcpu(vm->kvm, 1);
	KUNIT_ASSERT_GE_MSG(test, fd, 0, "KVM_CREATE_VCPU 1");
	r = kunit_add_action_or_reset(test, pf_test_close_fd, (void *)(unsigned long)fd);
	KUNIT_ASSERT_EQ(test, r, 0);
	par->file = fget(fd);
	KUNIT_ASSERT_NOT_NULL(test, par->file);
	r = kunit_add_action_or_reset(test, pf_test_fput, par->file);
	KUNIT_ASSERT_EQ(test, r, 0);
	pf_test_init_vcpu(test, par->file, par->uarg);

	pf_test_start_helper(test, pf_test_par_upper, par, "kvm_pf_upper");
	for (i = 0; i < PF_TEST_PAR_REGIONS; i++) {
		gpa = PF_TEST_PAR_GPA + i * SZ_2M;
		complete(&par->go);
		start = ktime_get_ns();
		r = pf_test_prefault(test, gpa, SZ_1M, 0, &out);
		end = ktime_get_ns();
		wait_for_completion(&par->done);

		KUNIT_EXPECT_EQ_MSG(test, r, 0, "lower half of region %d", i);
		pf_test_expect_range(test, &out, gpa + SZ_1M, 0);
		KUNIT_EXPECT_EQ_MSG(test, par->r[i], 0, "upper half of region %d", i);
		pf_test_expect_range(test, &par->out[i], gpa + SZ_2M, 0);
		/* Both calls said done: every page of the region is mapped. */
		pf_test_expect_pages(test, gpa, SZ_2M, pf_test_is_writable, "mapped writable");
		overlapped += start < par->end[i] && par->start[i] < end;
	}
	kunit_info(test, "%u of %u rounds had both vCPUs pre-faulting at once",
		   overlapped, PF_TEST_PAR_REGIONS);
	KUNIT_EXPECT_GT(test, overlapped, 0);
}

/**
 * struct pf_test_srcu_waiter - an io-bus update beside a long pre-fault
 * @kvm: the VM
 * @steps: the pre-faulting vCPU's pre_fault_steps, to see it under way
 * @steps_before: its value before the pre-fault started
 * @steps_at_wait: its value when the wait for SRCU readers began
 * @end: when synchronize_srcu_expedited() returned (ktime, ns)
 * @finished: completed when the wait is over
 */
struct pf_test_srcu_waiter {
	struct kvm *kvm;
	const u64 *steps;
	u64 steps_before;
	u64 steps_at_wait;
	u64 end;
	struct completion finished;
};

/*
 * Once the pre-fault has done a step, wait for kvm->srcu readers as an
 * io-bus registration (KVM_IOEVENTFD) does.
 */
static int pf_test_srcu_wait(void *data)
{
	struct pf_test_srcu_waiter *w = data;

	while (READ_ONCE(*w->steps) == w->steps_before) {
		if (kthread_should_stop())
			return 0;
		usleep_range(50, 100);
	}
	w->steps_at_wait = READ_ONCE(*w->steps);
	synchronize_srcu_expedited(&w->kvm->srcu);
	w->end = ktime_get_ns();
	complete(&w->finished);
	return 0;
}

/*
 * A long pre-fault does not hold up kvm->srcu's grace periods until it
 * ends: an io-bus update that starts while it runs completes before it
 * returns.  The wait must really have started while the pre-fault ran.
 */
static void pf_test_srcu_between_steps(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct pf_test_srcu_waiter *w;
	unsigned long hva;
	u64 end, steps;

	pf_test_require_feature(test);
	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	w->kvm = vm->kvm;
	w->steps = &vm->vcpu->stat.generic.pre_fault_steps;
	w->steps_before = vm->vcpu->stat.generic.pre_fault_steps;
	init_completion(&w->finished);
	/* Untouched memory on small pages: many steps, each a host fault. */
	hva = pf_test_mmap(test, NULL, PF_TEST_LONG_SIZE, MAP_ANONYMOUS | MAP_PRIVATE);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, hva, PF_TEST_LONG_SIZE, MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_LONG_SLOT, 0, PF_TEST_LONG_GPA,
					       PF_TEST_LONG_SIZE, hva), 0);
	pf_test_start_helper(test, pf_test_srcu_wait, w, "kvm_pf_srcu");

	pf_test_prefault_all(test, PF_TEST_LONG_GPA, PF_TEST_LONG_SIZE);
	end = ktime_get_ns();
	steps = vm->vcpu->stat.generic.pre_fault_steps;
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&w->finished, 60 * HZ));
	KUNIT_EXPECT_LT_MSG(test, w->steps_at_wait, steps,
			    "the wait began after the pre-fault's last step");
	KUNIT_EXPECT_LT_MSG(test, w->end, end,
			    "the SRCU grace period ended %llu us after the pre-fault",
			    (w->end - end) / NSEC_PER_USEC);
}

#if PF_TEST_BATCH
/*
 * The batch slot at PF_TEST_BATCH_GPA: @size bytes of anonymous memory on
 * small pages, each written by the host.  Return: its host address.
 */
static unsigned long pf_test_populated_batch_slot(struct kunit *test, u64 size)
{
	struct pf_test_vm *vm = test->priv;
	unsigned long hva;

	hva = pf_test_mmap(test, NULL, size, MAP_ANONYMOUS | MAP_PRIVATE);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, hva, size, MADV_NOHUGEPAGE), 0);
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)hva, size), 0);
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_BATCH_SLOT, 0, PF_TEST_BATCH_GPA,
					       size, hva), 0);
	return hva;
}

/* The host frame the stand-in below calls device memory. */
static kvm_pfn_t pf_test_device_pfn;

/* What kvm_pre_fault_batch_page() answers, for the stand-ins below. */
static bool pf_test_batch_page_as_arch(struct kvm *kvm, struct page *page)
{
	return !folio_test_large(page_folio(page)) && !is_zone_device_page(page) &&
	       kvm_arch_pre_fault_batch_pfn(kvm, page_to_pfn(page));
}

/* The arch's answer, except for one frame that stands for device memory. */
static bool pf_test_batch_page_but_one(struct kvm *kvm, struct page *page)
{
	return page_to_pfn(page) != pf_test_device_pfn &&
	       pf_test_batch_page_as_arch(kvm, page);
}

/* The fewest page-table pages the vCPU's cache held while a run was pinned. */
static int pf_test_fewest_cached_tables;
static struct kvm_vcpu *pf_test_pinning_vcpu;

static bool pf_test_batch_page_count_tables(struct kvm *kvm, struct page *page)
{
	pf_test_fewest_cached_tables =
		min(pf_test_fewest_cached_tables,
		    kvm_arch_pre_fault_test_cached_tables(pf_test_pinning_vcpu));
	return pf_test_batch_page_as_arch(kvm, page);
}
#endif

/* Arches without the hook: the case that needs it is skipped. */
int __weak kvm_arch_pre_fault_test_cached_tables(struct kvm_vcpu *vcpu)
{
	return -EOPNOTSUPP;
}

/*
 * The page-table pages a run may need are in the vCPU's memory cache
 * before the run's host pages are pinned (the cache of a new vCPU is
 * empty): allocated after the pin, reclaim during the allocation could
 * zap the pinned pages and waste the run.
 */
static void pf_test_batch_tables_before_pin(struct kunit *test)
{
#if PF_TEST_BATCH
	struct pf_test_vm *vm = test->priv;
	const u64 size = 16 * PAGE_SIZE;
	unsigned long hva;

	pf_test_require_feature(test);
	if (kvm_arch_pre_fault_test_cached_tables(vm->vcpu) < 0)
		kunit_skip(test, "this arch does not show its vCPU's memory cache");
	hva = pf_test_populated_batch_slot(test, size);

	pf_test_fewest_cached_tables = INT_MAX;
	pf_test_pinning_vcpu = vm->vcpu;
	kunit_activate_static_stub(test, kvm_pre_fault_batch_page, pf_test_batch_page_count_tables);
	pf_test_prefault_all(test, PF_TEST_BATCH_GPA, size);
	kunit_deactivate_static_stub(test, kvm_pre_fault_batch_page);

	KUNIT_EXPECT_NE_MSG(test, pf_test_fewest_cached_tables, INT_MAX, "no run was pinned");
	KUNIT_EXPECT_GT(test, pf_test_fewest_cached_tables, 0);
	pf_test_expect_own_pages(test, PF_TEST_BATCH_GPA, size, hva);
#else
	pf_test_require_feature(test);
	kunit_skip(test, "this arch has no batched pre-fault");
#endif
}

/*
 * A frame the arch maps otherwise than normal memory (arm64: outside the
 * linear map, a VM_MIXEDMAP mapping of no-map memory) ends a batched run:
 * the run before it is one step, the frame one step of the fault path,
 * the rest another run, and every page maps its own host frame.
 */
static void pf_test_batch_ends_at_device_pfn(struct kunit *test)
{
#if PF_TEST_BATCH
	struct pf_test_vm *vm = test->priv;
	const u64 size = 16 * PAGE_SIZE;
	unsigned long hva;
	u64 steps;

	pf_test_require_feature(test);
	hva = pf_test_populated_batch_slot(test, size);
	pf_test_device_pfn = pf_test_host_pfn(test, hva + 2 * PAGE_SIZE);

	steps = vm->vcpu->stat.generic.pre_fault_steps;
	kunit_activate_static_stub(test, kvm_pre_fault_batch_page, pf_test_batch_page_but_one);
	pf_test_prefault_all(test, PF_TEST_BATCH_GPA, size);
	kunit_deactivate_static_stub(test, kvm_pre_fault_batch_page);
	KUNIT_EXPECT_EQ(test, vm->vcpu->stat.generic.pre_fault_steps - steps, 3);
	pf_test_expect_own_pages(test, PF_TEST_BATCH_GPA, size, hva);
#else
	pf_test_require_feature(test);
	kunit_skip(test, "this arch has no batched pre-fault");
#endif
}

/* Arches whose batch takes the write lock have no table race to lose. */
int __weak kvm_arch_pre_fault_test_hold_table(struct kvm_vcpu *vcpu, gpa_t gpa,
					      bool hold)
{
	return -EOPNOTSUPP;
}

#if PF_TEST_BATCH
/* Where the per-page path took over from the batch, and how often. */
static gpa_t pf_test_race_lost_at;
static unsigned int pf_test_race_lost_calls;

/*
 * The per-page path after the batch lost the race: the other walker
 * finishes its table (the hold ends), and the fault path maps the page.
 */
static long pf_test_map_leaf_after_race(struct kvm_vcpu *vcpu,
					struct kvm_pre_fault_memory *range,
					struct kvm_memory_slot *slot)
{
	if (!pf_test_race_lost_calls++) {
		pf_test_race_lost_at = range->gpa;
		if (kvm_arch_pre_fault_test_hold_table(vcpu, range->gpa, false))
			return -EIO;
	}
	return kvm_arch_vcpu_pre_fault_memory(vcpu, range, slot);
}
#endif

/*
 * A batched run whose last-level table another walker is installing (a
 * guest fault or a second pre-faulter on another vCPU) maps nothing past
 * that table and says so: the page goes to the per-page path, which waits
 * for the other walker, and only then do the rest go as a run.  A batch
 * that skipped the held entry would report 512 pages it never mapped.
 */
static void pf_test_batch_loses_table_race(struct kunit *test)
{
#if PF_TEST_BATCH
	struct pf_test_vm *vm = test->priv;
	const u64 size = 2 * SZ_2M, held = PF_TEST_BATCH_GPA + SZ_2M;
	unsigned long hva;
	u64 steps;
	int r;

	pf_test_require_feature(test);
	hva = pf_test_populated_batch_slot(test, size);
	/* The tables above the held entry exist, as in a running guest. */
	pf_test_prefault_all(test, PF_TEST_BATCH_GPA, PAGE_SIZE);
	r = kvm_arch_pre_fault_test_hold_table(vm->vcpu, held, true);
	if (r == -EOPNOTSUPP)
		kunit_skip(test, "this arch's batch holds the MMU lock for write: no table race");
	KUNIT_ASSERT_EQ(test, r, 0);

	pf_test_race_lost_calls = 0;
	steps = vm->vcpu->stat.generic.pre_fault_steps;
	kunit_activate_static_stub(test, kvm_pre_fault_map_leaf, pf_test_map_leaf_after_race);
	pf_test_prefault_all(test, held, SZ_2M);
	kunit_deactivate_static_stub(test, kvm_pre_fault_map_leaf);
	if (!pf_test_race_lost_calls)
		KUNIT_ASSERT_EQ(test, kvm_arch_pre_fault_test_hold_table(vm->vcpu, held, false), 0);

	KUNIT_EXPECT_EQ(test, pf_test_race_lost_calls, 1);
	KUNIT_EXPECT_EQ(test, pf_test_race_lost_at, held);
	KUNIT_EXPECT_EQ(test, vm->vcpu->stat.generic.pre_fault_steps - steps, 2);
	pf_test_expect_own_pages(test, held, SZ_2M, hva + SZ_2M);
#else
	pf_test_require_feature(test);
	kunit_skip(test, "this arch has no batched pre-fault");
#endif
}

#ifdef CONFIG_KVM_PRE_FAULT_MEMORY
/* Calls of the stand-in below, and after how many it maps as the arch would. */
#define PF_TEST_ARCH_EAGAIN_CALLS	1000
static unsigned int pf_test_arch_eagain_calls;

/*
 * An arch that cannot map now, with no memslot update anywhere (powerpc
 * before KVM_RUN set up its MMU): -EAGAIN, for long enough that a loop
 * retrying it shows, and then the real mapping, so that such a loop ends.
 */
static long pf_test_map_leaf_eagain(struct kvm_vcpu *vcpu,
				    struct kvm_pre_fault_memory *range,
				    struct kvm_memory_slot *slot)
{
	if (++pf_test_arch_eagain_calls <= PF_TEST_ARCH_EAGAIN_CALLS)
		return -EAGAIN;
	return kvm_arch_vcpu_pre_fault_memory(vcpu, range, slot);
}

/*
 * An -EAGAIN of the arch's own goes back to userspace after one call, the
 * range unchanged: retried in the kernel, with vcpu->mutex held, it would
 * spin until a signal while the KVM_RUN that could end it waits for the
 * mutex.
 */
#endif

static void pf_test_arch_eagain(struct kunit *test)
{
#ifdef CONFIG_KVM_PRE_FAULT_MEMORY
	struct kvm_pre_fault_memory out;
	long r;

	pf_test_require_feature(test);
	pf_test_arch_eagain_calls = 0;
	kunit_activate_static_stub(test, kvm_pre_fault_map_leaf, pf_test_map_leaf_eagain);
	r = pf_test_prefault(test, PF_TEST_SLOT_GPA, PAGE_SIZE, 0, &out);
	kunit_deactivate_static_stub(test, kvm_pre_fault_map_leaf);

	KUNIT_EXPECT_EQ(test, r, -EAGAIN);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pf_test_arch_eagain_calls, 1);
	KUNIT_EXPECT_FALSE(test, pf_test_lookup(test, PF_TEST_SLOT_GPA).mapped);
#else
	kunit_skip(test, "KVM_PRE_FAULT_MEMORY is not built");
#endif
}

#ifdef CONFIG_KVM_PRE_FAULT_MEMORY
/* Retries of the stand-in below before the VM dies under it. */
#define PF_TEST_DEAD_AFTER	10
static unsigned int pf_test_retries;

/*
 * An arch fault path that keeps asking for a retry (x86's RET_PF_RETRY
 * loop), calling kvm_pre_fault_may_continue() before each, while the VM
 * is killed under it: it must be told to leave.
 */
static long pf_test_map_leaf_retrying(struct kvm_vcpu *vcpu,
				      struct kvm_pre_fault_memory *range,
				      struct kvm_memory_slot *slot)
{
	long r;

	for (pf_test_retries = 0; pf_test_retries < 100 * PF_TEST_DEAD_AFTER;
	     pf_test_retries++) {
		if (pf_test_retries == PF_TEST_DEAD_AFTER)
			kvm_vm_dead(vcpu->kvm);
		r = kvm_pre_fault_may_continue(vcpu, range->gpa);
		if (r)
			return r;
	}
	return -ETIMEDOUT;
}

#endif

/* A retry loop leaves with -EIO once the VM is dead, the range unchanged. */
static void pf_test_dead_vm_ends_retries(struct kunit *test)
{
#ifdef CONFIG_KVM_PRE_FAULT_MEMORY
	struct kvm_pre_fault_memory out;
	long r;

	pf_test_require_feature(test);
	kunit_activate_static_stub(test, kvm_pre_fault_map_leaf, pf_test_map_leaf_retrying);
	r = pf_test_prefault(test, PF_TEST_SLOT_GPA, PAGE_SIZE, 0, &out);
	kunit_deactivate_static_stub(test, kvm_pre_fault_map_leaf);

	KUNIT_EXPECT_EQ(test, r, -EIO);
	pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pf_test_retries, PF_TEST_DEAD_AFTER);
#else
	kunit_skip(test, "KVM_PRE_FAULT_MEMORY is not built");
#endif
}

struct pf_test_race {
	struct kvm *kvm;
	struct mm_struct *mm;
	unsigned long hva[2];
	int error;
	bool done;
	struct completion finished;
};

/*
 * Deletes the race slot and re-creates it on the other of two buffers, as
 * a VMM thread would: a mapping left over from one buffer would show.
 */
static int pf_test_race_deleter(void *data)
{
	struct pf_test_race *race = data;
	struct kvm_userspace_memory_region2 region = {
		.slot = PF_TEST_RACE_SLOT,
		.guest_phys_addr = PF_TEST_RACE_GPA,
	};
	int i, r = 0;

	kthread_use_mm(race->mm);
	for (i = 0; i < PF_TEST_RACE_CYCLES && !r && !kthread_should_stop(); i++) {
		region.memory_size = 0;
		r = kvm_set_memory_region(race->kvm, &region);
		if (!r) {
			region.memory_size = PF_TEST_RACE_SIZE;
			region.userspace_addr = race->hva[(i + 1) % 2];
			r = kvm_set_memory_region(race->kvm, &region);
		}
	}
	kthread_unuse_mm(race->mm);
	race->error = r;
	WRITE_ONCE(race->done, true);
	complete(&race->finished);
	return 0;
}

static void pf_test_concurrent_delete(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct pf_test_race *race;
	unsigned int ok = 0, enoent = 0, eagain = 0, other = 0;
	struct kvm_pre_fault_memory out;
	long r, bad = 0;
	unsigned long final;
	u64 a;
	int i;

	pf_test_require_feature(test);
	race = kunit_kzalloc(test, sizeof(*race), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, race);
	race->kvm = vm->kvm;
	race->mm = current->mm;
	for (i = 0; i < 2; i++) {
		race->hva[i] = pf_test_mmap(test, NULL, PF_TEST_RACE_SIZE,
					    MAP_ANONYMOUS | MAP_PRIVATE);
		/* Written: each page its own, not both the zero page. */
		KUNIT_ASSERT_EQ(test, clear_user((void __user *)race->hva[i],
						 PF_TEST_RACE_SIZE), 0);
	}
	KUNIT_ASSERT_EQ(test, pf_test_set_slot(vm, PF_TEST_RACE_SLOT, 0, PF_TEST_RACE_GPA,
					       PF_TEST_RACE_SIZE, race->hva[0]), 0);
	init_completion(&race->finished);

	pf_test_start_helper(test, pf_test_race_deleter, race, "kvm_pf_deleter");
	while (!READ_ONCE(race->done)) {
		r = pf_test_prefault(test, PF_TEST_RACE_GPA, PF_TEST_RACE_SIZE, 0, &out);
		if (r == 0) {
			ok++;
		} else if (r == -ENOENT) {
			enoent++;
		} else if (r == -EAGAIN) {
			eagain++;
		} else {
			other++;
			bad = r;
		}
		/* Whatever happened, the range moved by exactly what was done. */
		KUNIT_EXPECT_EQ(test, out.gpa + out.size, PF_TEST_RACE_GPA + PF_TEST_RACE_SIZE);
		if (r)
			pf_test_expect_range(test, &out, PF_TEST_RACE_GPA, PF_TEST_RACE_SIZE);
		/* Let the update's SRCU grace period run, as a return to user would. */
		cond_resched();
	}
	wait_for_completion(&race->finished);

	kunit_info(test, "%u calls: %u ok, %u -ENOENT, %u -EAGAIN, %u other",
		   ok + enoent + eagain + other, ok, enoent, eagain, other);
	KUNIT_EXPECT_EQ(test, race->error, 0);
	KUNIT_EXPECT_EQ_MSG(test, other, 0, "undocumented result %ld", bad);
	/* The deletion in progress must really have been met. */
	KUNIT_EXPECT_GT(test, eagain, 0);

	/*
	 * Once the slot is back for good, a pre-fault maps all of it, to the
	 * buffer it was re-created on last.
	 */
	KUNIT_EXPECT_EQ(test, pf_test_prefault(test, PF_TEST_RACE_GPA, PF_TEST_RACE_SIZE,
					       0, &out), 0);
	pf_test_expect_range(test, &out, PF_TEST_RACE_GPA + PF_TEST_RACE_SIZE, 0);
	final = race->hva[PF_TEST_RACE_CYCLES % 2];
	for (a = 0; a < PF_TEST_RACE_SIZE; a += 64 * PAGE_SIZE)
		KUNIT_EXPECT_EQ_MSG(test, pf_test_lookup(test, PF_TEST_RACE_GPA + a).pfn,
				    pf_test_host_pfn(test, final + a), "offset 0x%llx", a);
}

struct pf_test_churn {
	struct kvm *kvm;
	struct mm_struct *mm;
	unsigned long hva;
	atomic_t updates;
	bool stop;
	int error;
	struct completion finished;
};

/* Creates and deletes a memslot far from every other one until told. */
static int pf_test_churn_other_slot(void *data)
{
	struct pf_test_churn *churn = data;
	struct kvm_userspace_memory_region2 region = {
		.slot = PF_TEST_OTHER_SLOT,
		.guest_phys_addr = PF_TEST_OTHER_GPA,
		.userspace_addr = churn->hva,
	};
	int i, r = 0;

	kthread_use_mm(churn->mm);
	for (i = 0; !READ_ONCE(churn->stop) && !kthread_should_stop() && !r; i++) {
		region.memory_size = i % 2 ? 0 : SZ_64K;
		r = kvm_set_memory_region(churn->kvm, &region);
		atomic_inc(&churn->updates);
	}
	region.memory_size = 0;
	kvm_set_memory_region(churn->kvm, &region);
	kthread_unuse_mm(churn->mm);
	churn->error = r;
	complete(&churn->finished);
	return 0;
}

/*
 * Memslot updates elsewhere in the VM do not fail a pre-fault: each call
 * maps all of slot 0 (unmapped by the host before each call), and the
 * calls that ran while another slot was created or deleted are counted and
 * required.
 */
static void pf_test_update_elsewhere(struct kunit *test)
{
	struct pf_test_vm *vm = test->priv;
	struct pf_test_churn *churn;
	unsigned int calls, overlapped = 0, before;
	struct kvm_pre_fault_memory out;
	long r;

	pf_test_require_feature(test);
	churn = kunit_kzalloc(test, sizeof(*churn), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, churn);
	churn->kvm = vm->kvm;
	churn->mm = current->mm;
	churn->hva = pf_test_mmap(test, NULL, SZ_64K, MAP_ANONYMOUS | MAP_PRIVATE);
	init_completion(&churn->finished);
	pf_test_start_helper(test, pf_test_churn_other_slot, churn, "kvm_pf_churn");
	for (calls = 0; calls < PF_TEST_ELSEWHERE_CALLS; calls++) {
		/* The host unmaps slot 0 (shmem keeps it) so every call has work. */
		KUNIT_EXPECT_EQ(test, do_madvise(current->mm, vm->hva, PF_TEST_SLOT_SIZE,
						 MADV_DONTNEED), 0);
		before = atomic_read(&churn->updates);
		r = pf_test_prefault(test, PF_TEST_SLOT_GPA, PF_TEST_SLOT_SIZE, 0, &out);
		overlapped += atomic_read(&churn->updates) != before;
		KUNIT_EXPECT_EQ_MSG(test, r, 0, "call %u", calls);
		pf_test_expect_range(test, &out, PF_TEST_SLOT_GPA + PF_TEST_SLOT_SIZE, 0);
	}
	WRITE_ONCE(churn->stop, true);
	wait_for_completion(&churn->finished);
	kunit_info(test, "%u calls, %u overlapped some of %u updates of another slot",
		   calls, overlapped, atomic_read(&churn->updates));
	KUNIT_EXPECT_EQ(test, churn->error, 0);
	KUNIT_EXPECT_GE(test, overlapped, PF_TEST_ELSEWHERE_CALLS / 2);
}

static struct kunit_case pf_test_cases[] = {
	KUNIT_CASE(pf_test_fixture_vm),
	KUNIT_CASE(pf_test_cap_on_vm),
	KUNIT_CASE(pf_test_cap_on_dev),
	KUNIT_CASE(pf_test_cap_matches_ioctl),
	KUNIT_CASE_PARAM(pf_test_invalid_range, pf_test_bad_range_gen_params),
	KUNIT_CASE(pf_test_outside_slots),
	KUNIT_CASE(pf_test_beyond_gpa_width),
	KUNIT_CASE(pf_test_high_gpa_before_cpu_setup),
	KUNIT_CASE(pf_test_uninitialised_vcpu),
	KUNIT_CASE(pf_test_straddles_slot_end),
	KUNIT_CASE(pf_test_inside_slot),
	KUNIT_CASE(pf_test_second_call_changes_nothing),
	KUNIT_CASE(pf_test_accessed_bit),
	KUNIT_CASE(pf_test_nested_second_stage),
	KUNIT_CASE(pf_test_readonly_slot),
	KUNIT_CASE(pf_test_hwpoison),
	KUNIT_CASE(pf_test_hugetlb_block),
	KUNIT_CASE(pf_test_hugetlb_misaligned),
	KUNIT_CASE(pf_test_hugetlb_slot_end),
	KUNIT_CASE(pf_test_thp_block),
	KUNIT_CASE(pf_test_step_statistics),
	KUNIT_CASE(pf_test_dirty_logging),
	KUNIT_CASE(pf_test_batch_matches_fault_path),
	KUNIT_CASE(pf_test_batch_ends_at_device_pfn),
	KUNIT_CASE(pf_test_batch_loses_table_race),
	KUNIT_CASE(pf_test_batch_tables_before_pin),
	KUNIT_CASE(pf_test_numa_hinting),
	KUNIT_CASE_PARAM(pf_test_unaligned_slot_zap, pf_test_unaligned_gen_params),
	KUNIT_CASE_PARAM(pf_test_unaligned_slot_dirty_log, pf_test_unaligned_gen_params),
	KUNIT_CASE_PARAM(pf_test_unaligned_slot_recreate, pf_test_unaligned_gen_params),
	KUNIT_CASE(pf_test_notifier_range_unaligned),
	KUNIT_CASE(pf_test_clear_dirty_window),
	KUNIT_CASE(pf_test_signal_pending),
	KUNIT_CASE(pf_test_dead_vm),
	KUNIT_CASE(pf_test_arch_eagain),
	KUNIT_CASE(pf_test_dead_vm_ends_retries),
	KUNIT_CASE_SLOW(pf_test_parallel_halves),
	KUNIT_CASE_SLOW(pf_test_srcu_between_steps),
	KUNIT_CASE_SLOW(pf_test_concurrent_delete),
	KUNIT_CASE_SLOW(pf_test_update_elsewhere),
	{}
};

static struct kunit_suite pf_test_suite = {
	.name = "kvm_pre_fault",
	.suite_init = pf_test_suite_init,
	.init = pf_test_init,
	.test_cases = pf_test_cases,
};

kunit_test_suite(pf_test_suite);
