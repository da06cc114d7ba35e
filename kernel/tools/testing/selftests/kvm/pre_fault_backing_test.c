// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_PRE_FAULT_MEMORY on every arch that has it, over every kind of
 * backing memory: anonymous, THP, hugetlb and shmem.
 *
 * For each backing a slot of TEST_SIZE bytes is pre-faulted and checked:
 *   map_sizes   the stage-2 leaf sizes the backend reports (vCPU statistic
 *               pre_fault_step_bytes_hist) match what the host maps with
 *               PMDs in that range (smaps);
 *   ranges      inside, straddling either end of, and outside the slot:
 *               exact return value, errno and leftover gpa/size;
 *   guest_read  the guest reads every page, sees what the host wrote
 *               (or zeroes where it wrote nothing) and takes at most 1% of
 *               the slot's pages as exits; then it writes every page and
 *               the host sees each write;
 *   concurrent_delete  a thread deletes the slot and re-creates it on
 *               other host memory, alternating two buffers, while the vCPU
 *               thread pre-faults it: every call ends with progress,
 *               ENOENT, EAGAIN or EINTR, the race is seen (EAGAIN counted),
 *               none hangs, and the guest sees the buffer last installed.
 * What happens to the VM after a pre-fault (pre_fault_life cases below):
 *   dirty_log   logging on over a pre-faulted slot: guest writes land and
 *               KVM_GET_DIRTY_LOG reports exactly them; logging off: new
 *               writes land, a pre-fault maps blocks where the host has
 *               them, and the second stage's page tables (SecPageTables)
 *               are back to what they were: nothing leaked;
 *   recreate    the slot deleted and re-created on new host memory with new
 *               contents, then moved to another GPA: the guest sees the new
 *               contents at the new place and MMIO at the old one;
 *   host_change MADV_DONTNEED (or a hole punched) and new host contents,
 *               then munmap and new memory mapped at the same address:
 *               each time the guest sees what the host wrote last;
 *   misaligned  (THP, hugetlb) a slot whose GPA is 4 KiB off the 2 MiB
 *               alignment of its host memory: 4 KiB leaves only, every page
 *               reads its own data, the page below the slot is MMIO; and a
 *               slot ending 1 MiB into a huge page: progress stops exactly
 *               at the slot end, the page beyond is MMIO;
 *   collapse    (anonymous) the host collapses pre-faulted 4 KiB pages
 *               into huge pages: a new pre-fault maps 2 MiB blocks and the
 *               tables of 4 KiB leaves they replace are freed (counted);
 *   concurrent_move  the slot moves back and forth by half its size while
 *               the half covered in both places is pre-faulted: no ENOENT,
 *               EAGAIN counted and required, data intact;
 *   update_elsewhere  another slot is created and deleted over and over:
 *               no pre-fault of this slot fails, and overlaps are counted
 *               and required;
 *   uffd_signal (anonymous) a pre-fault blocked on a userfaultfd page
 *               returns EINTR when a signal arrives, then completes once
 *               the page is supplied, and the guest sees that page;
 *   aging       (anonymous) pages the host aged through page_idle: a
 *               pre-fault leaves them young where the arch's access would.
 * Once, not per backing:
 *   nested      (x86) the vCPU stopped in a nested guest: without nested
 *               paging a pre-fault maps the current state's tables, whose
 *               GPAs are L1's; with nested paging it is refused
 *               (EOPNOTSUPP, range unchanged); back in L1 it maps again.
 * Each case runs in a child process, so one failed assertion fails one case.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "test_util.h"
#include "ucall_common.h"
#ifdef __x86_64__
#include "svm_util.h"
#endif

#define TEST_SLOT		10
#define TEST_GPA		0x40000000ULL	/* 1 GiB: below every arch's limit */
#define TEST_GVA		TEST_GPA
#define TEST_SIZE		(16ULL << 20)
#define TEST_PATTERN		0x5eed0000feed0000ULL
#define TEST_WRITE_PATTERN	0x0d15ea5e00000000ULL
/* The C libraries here predate it (Linux 6.1, asm-generic/mman-common.h). */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif
/* Host and guest pages: the cases that need it check the guest's. */
#define PAGE_4K			4096ULL
#define HIST_4K			13	/* bucket of fls64(4096) */
#define HIST_2M			22	/* bucket of fls64(2 MiB) */
#define DELETE_CYCLES		200
#define CASE_SECONDS		120	/* no case takes a tenth of it */
#define STR_(x)			#x
#define STR(x)			STR_(x)
/* Buckets of the log2 histogram pre_fault_step_bytes_hist. */
#define HIST_BUCKETS		32

/* What the host stores in even pages; odd pages stay untouched (zero). */
static uint64_t page_pattern(uint64_t gpa, uint64_t page)
{
	return (gpa / page) % 2 ? 0 : TEST_PATTERN ^ gpa;
}

static void guest_code(uint64_t gva, uint64_t gpa, uint64_t npages,
		       uint64_t page)
{
	uint64_t i;

	for (i = 0; i < npages; i++)
		GUEST_ASSERT_EQ(READ_ONCE(*(uint64_t *)(gva + i * page)),
				page_pattern(gpa + i * page, page));
	GUEST_SYNC(1);
	for (i = 0; i < npages; i++)
		WRITE_ONCE(*(uint64_t *)(gva + i * page),
			   TEST_WRITE_PATTERN ^ (gpa + i * page));
	GUEST_DONE();
}

struct backing {
	const char *name;
	enum vm_mem_backing_src_type src;
};

static const struct backing backings[] = {
	{ "anonymous", VM_MEM_SRC_ANONYMOUS },
	{ "thp", VM_MEM_SRC_ANONYMOUS_THP },
	{ "hugetlb", VM_MEM_SRC_ANONYMOUS_HUGETLB },
	{ "shmem", VM_MEM_SRC_SHMEM },
};

struct test_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint64_t page;		/* guest page size */
	uint64_t npages;	/* guest pages in the test slot */
	uint8_t *hva;		/* host address of TEST_GPA */
};

/* Message of a child's skip, seen by the parent: shared memory. */
static char *skip_reason;

static __printf(1, 2) __noreturn
void skip_case(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, 200, fmt, ap);
	va_end(ap);
	exit(KSFT_SKIP);
}

static long meminfo_value(const char *key)
{
	char line[128];
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	TEST_ASSERT(f, "open /proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			value = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return value;
}

static void require_backing(enum vm_mem_backing_src_type src)
{
	long free_pages, page_kb;

	if (src == VM_MEM_SRC_ANONYMOUS_THP && !thp_configured())
		skip_case("the host kernel has no transparent huge pages");
	if (src != VM_MEM_SRC_ANONYMOUS_HUGETLB)
		return;
	free_pages = meminfo_value("HugePages_Free");
	page_kb = meminfo_value("Hugepagesize");
	if (free_pages < 0 || page_kb <= 0 ||
	    (uint64_t)free_pages * page_kb * 1024 < 2 * TEST_SIZE)
		skip_case("%ld free hugetlb pages of %ld KiB, %llu MiB needed",
			  free_pages, page_kb, 2 * TEST_SIZE >> 20);
}

/* KVM_PRE_FAULT_MEMORY once: the ioctl's return value, errno in @err. */
static int pre_fault(struct kvm_vcpu *vcpu, struct kvm_pre_fault_memory *range,
		     int *err)
{
	int r;

	errno = 0;
	r = __vcpu_ioctl(vcpu, KVM_PRE_FAULT_MEMORY, range);
	*err = r ? errno : 0;
	return r;
}

/* Pre-fault all of [gpa, gpa + size); nothing may be left. */
static void pre_fault_all(struct kvm_vcpu *vcpu, uint64_t gpa, uint64_t size)
{
	struct kvm_pre_fault_memory range = { .gpa = gpa, .size = size };
	int r, err;

	while (range.size) {
		r = pre_fault(vcpu, &range, &err);
		TEST_ASSERT(!r || err == EINTR || err == EAGAIN,
			    "pre-fault of 0x%llx+0x%llx: %d, %s at 0x%llx",
			    (unsigned long long)gpa, (unsigned long long)size,
			    r, strerror(err), (unsigned long long)range.gpa);
	}
	TEST_ASSERT_EQ(range.gpa, gpa + size);
}

/* vCPU statistic @name, @n elements of it, into @data. */
static void vcpu_stat(struct kvm_vcpu *vcpu, const char *name, uint64_t *data,
		      size_t n)
{
	struct kvm_stats_header header;
	struct kvm_stats_desc *descs, *desc;
	int fd = vcpu_get_stats_fd(vcpu);
	uint32_t i;

	read_stats_header(fd, &header);
	descs = read_stats_descriptors(fd, &header);
	for (i = 0; i < header.num_desc; i++) {
		desc = get_stats_descriptor(descs, i, &header);
		if (strcmp(desc->name, name))
			continue;
		TEST_ASSERT(desc->size >= n, "stat %s has %u elements, %zu wanted",
			    name, desc->size, n);
		read_stat_data(fd, &header, desc, data, n);
		break;
	}
	TEST_ASSERT(i < header.num_desc, "no vCPU statistic %s", name);
	free(descs);
	close(fd);
}

static uint64_t vcpu_stat1(struct kvm_vcpu *vcpu, const char *name)
{
	uint64_t v;

	vcpu_stat(vcpu, name, &v, 1);
	return v;
}

/*
 * The guest's code, stack and page tables live in slot 0: pre-fault it too,
 * as a VMM would, so that every exit counted later is one the test slot
 * caused.  A memslot deletion may have zapped its mappings (x86 zaps every
 * root), so the cases do it again after one.
 */
static void pre_fault_slot0(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	struct userspace_mem_region *slot0 = memslot2region(vm, 0);

	pre_fault_all(vcpu, slot0->region.guest_phys_addr,
		      slot0->region.memory_size);
}

/* A VM whose guest_code() walks the test slot, filled by the host. */
static void test_vm_create(struct test_vm *t, enum vm_mem_backing_src_type src)
{
	uint64_t i;

	t->vm = vm_create_with_one_vcpu(&t->vcpu, guest_code);
	t->page = t->vm->page_size;
	t->npages = TEST_SIZE / t->page;
	vm_userspace_mem_region_add(t->vm, src, TEST_GPA, TEST_SLOT, t->npages, 0);
	virt_map(t->vm, TEST_GVA, TEST_GPA, t->npages);
	t->hva = addr_gpa2hva(t->vm, TEST_GPA);
	for (i = 0; i < t->npages; i += 2)
		*(uint64_t *)(t->hva + i * t->page) =
			page_pattern(TEST_GPA + i * t->page, t->page);
	vcpu_args_set(t->vcpu, 4, TEST_GVA, TEST_GPA, t->npages, t->page);
	pre_fault_slot0(t->vm, t->vcpu);
}

/* Bytes of [hva, hva + size) the host maps with PMD-sized leaves. */
static uint64_t host_pmd_mapped(void *hva, uint64_t size)
{
	static const char *const keys[] = {
		"AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:",
		"Private_Hugetlb:", "Shared_Hugetlb:",
	};
	unsigned long start, end, kb;
	uint64_t total = 0;
	bool in_vma = false;
	char line[256];
	FILE *f = fopen("/proc/self/smaps", "r");
	size_t i;

	TEST_ASSERT(f, "open /proc/self/smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in_vma = start <= (unsigned long)hva &&
				 (unsigned long)hva + size <= end;
			continue;
		}
		for (i = 0; in_vma && i < ARRAY_SIZE(keys); i++)
			if (!strncmp(line, keys[i], strlen(keys[i])) &&
			    sscanf(line + strlen(keys[i]), "%lu", &kb) == 1)
				total += kb << 10;
	}
	fclose(f);
	return total;
}

/*
 * Every arch maps a run of 4 KiB pages, up to a last-level table of them,
 * in one step.  The leaves are counted one by one.
 */
#define SMALL_PAGES_PER_STEP	512

/*
 * A pre-fault that mapped @small 4 KiB and @huge 2 MiB leaves took @steps:
 * one per block, and at least one per run of small pages.  With @exact,
 * the range is 2 MiB aligned and its pages alike (all written, or all
 * untouched), so small pages take exactly one step per run.
 */
static void check_steps(uint64_t steps, uint64_t small, uint64_t huge, bool exact)
{
	uint64_t fewest = huge + (small + SMALL_PAGES_PER_STEP - 1) / SMALL_PAGES_PER_STEP;

	if (exact)
		TEST_ASSERT_EQ(steps, fewest);
	TEST_ASSERT(steps >= fewest && steps <= small + huge,
		    "%llu steps for %llu small and %llu huge leaves",
		    (unsigned long long)steps, (unsigned long long)small,
		    (unsigned long long)huge);
}

static void case_map_sizes(enum vm_mem_backing_src_type src)
{
	uint64_t before[HIST_BUCKETS], after[HIST_BUCKETS];
	uint64_t steps, huge_bytes, small_steps, huge_steps;
	struct test_vm t;

	test_vm_create(&t, src);
	if (t.page != 4096)
		skip_case("guest pages of %llu bytes", (unsigned long long)t.page);
	huge_bytes = host_pmd_mapped(t.hva, TEST_SIZE);
	vcpu_stat(t.vcpu, "pre_fault_step_bytes_hist", before, HIST_BUCKETS);
	steps = vcpu_stat1(t.vcpu, "pre_fault_steps");
	pre_fault_all(t.vcpu, TEST_GPA, TEST_SIZE);
	steps = vcpu_stat1(t.vcpu, "pre_fault_steps") - steps;
	vcpu_stat(t.vcpu, "pre_fault_step_bytes_hist", after, HIST_BUCKETS);

	/* Every leaf is a 4 KiB page or a 2 MiB block. */
	small_steps = after[HIST_4K] - before[HIST_4K];
	huge_steps = after[HIST_2M] - before[HIST_2M];
	pr_info("%s: %llu steps, %llu leaves of 4 KiB, %llu of 2 MiB; host PMD-maps %llu MiB\n",
		vm_mem_backing_src_alias(src)->name, (unsigned long long)steps,
		(unsigned long long)small_steps, (unsigned long long)huge_steps,
		(unsigned long long)(huge_bytes >> 20));
	check_steps(steps, small_steps, huge_steps, true);
	TEST_ASSERT_EQ(huge_steps, huge_bytes >> 21);
	TEST_ASSERT_EQ(small_steps, (TEST_SIZE - huge_bytes) >> 12);
	if (src == VM_MEM_SRC_ANONYMOUS_HUGETLB)
		TEST_ASSERT_EQ(huge_steps, TEST_SIZE >> 21);
	if (src == VM_MEM_SRC_ANONYMOUS)
		TEST_ASSERT_EQ(huge_steps, 0);
	kvm_vm_free(t.vm);
}

/* One call; the return value, errno and leftover range must be exact. */
static void expect_pre_fault(struct kvm_vcpu *vcpu, uint64_t gpa, uint64_t size,
			     int want_r, int want_err, uint64_t want_gpa,
			     uint64_t want_size)
{
	struct kvm_pre_fault_memory range = { .gpa = gpa, .size = size };
	int r, err;

	do {
		r = pre_fault(vcpu, &range, &err);
	} while (r && (err == EINTR || err == EAGAIN));
	TEST_ASSERT(r == want_r && err == want_err && range.gpa == want_gpa &&
		    range.size == want_size,
		    "pre-fault 0x%llx+0x%llx: got %d/%s, left 0x%llx+0x%llx; want %d/%s, 0x%llx+0x%llx",
		    (unsigned long long)gpa, (unsigned long long)size, r,
		    strerror(err), (unsigned long long)range.gpa,
		    (unsigned long long)range.size, want_r, strerror(want_err),
		    (unsigned long long)want_gpa, (unsigned long long)want_size);
}

static void case_ranges(enum vm_mem_backing_src_type src)
{
	const uint64_t end = TEST_GPA + TEST_SIZE, chunk = 64 << 10;
	struct test_vm t;

	test_vm_create(&t, src);
	/* Inside: all of it, and nothing left. */
	expect_pre_fault(t.vcpu, TEST_GPA + chunk, 3 * chunk, 0, 0,
			 TEST_GPA + 4 * chunk, 0);
	/* Straddling the end: the part inside, then ENOENT with no change. */
	expect_pre_fault(t.vcpu, end - chunk, 2 * chunk, 0, 0, end, chunk);
	expect_pre_fault(t.vcpu, end, chunk, -1, ENOENT, end, chunk);
	/* Straddling the start: its first page has no slot. */
	expect_pre_fault(t.vcpu, TEST_GPA - chunk, 2 * chunk, -1, ENOENT,
			 TEST_GPA - chunk, 2 * chunk);
	/* Outside, beyond the slot. */
	expect_pre_fault(t.vcpu, end + TEST_SIZE, chunk, -1, ENOENT,
			 end + TEST_SIZE, chunk);
	/* Bad input changes nothing either. */
	expect_pre_fault(t.vcpu, TEST_GPA + 1, chunk, -1, EINVAL, TEST_GPA + 1, chunk);
	expect_pre_fault(t.vcpu, TEST_GPA, 0, -1, EINVAL, TEST_GPA, 0);
	expect_pre_fault(t.vcpu, -chunk, 2 * chunk, -1, EINVAL, -chunk, 2 * chunk);
	kvm_vm_free(t.vm);
}

/* Run the guest to its next ucall; returns the exits it took. */
static uint64_t run_to_ucall(struct test_vm *t, uint64_t want)
{
	uint64_t exits = vcpu_stat1(t->vcpu, "exits");
	struct ucall uc;

	vcpu_run(t->vcpu);
	exits = vcpu_stat1(t->vcpu, "exits") - exits;
	switch (get_ucall(t->vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
	case UCALL_DONE:
		TEST_ASSERT_EQ(uc.cmd, want);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return exits;
}

/* The guest reads and writes every page; no data may be lost either way. */
static void guest_read_write(struct test_vm *t, bool pre_faulted)
{
	uint64_t exits, i, gpa, got;

	exits = run_to_ucall(t, UCALL_SYNC);
	pr_info("guest read %llu pages %s pre-fault: %llu exits\n",
		(unsigned long long)t->npages, pre_faulted ? "after" : "without",
		(unsigned long long)exits);
	if (pre_faulted)
		TEST_ASSERT(exits <= t->npages / 100,
			    "%llu exits reading %llu pre-faulted pages",
			    (unsigned long long)exits, (unsigned long long)t->npages);
	run_to_ucall(t, UCALL_DONE);
	for (i = 0; i < t->npages; i++) {
		gpa = TEST_GPA + i * t->page;
		got = *(uint64_t *)(t->hva + i * t->page);
		TEST_ASSERT(got == (TEST_WRITE_PATTERN ^ gpa),
			    "guest write to 0x%llx lost: host sees 0x%llx",
			    (unsigned long long)gpa, (unsigned long long)got);
	}
}

static void case_guest_read(enum vm_mem_backing_src_type src)
{
	struct test_vm t;

	test_vm_create(&t, src);
	pre_fault_all(t.vcpu, TEST_GPA, TEST_SIZE);
	guest_read_write(&t, true);
	kvm_vm_free(t.vm);
}

/* Contents of page @i for @seed: one word at the start of each page. */
static uint64_t contents(uint64_t seed, uint64_t i)
{
	return seed ^ (i * 0x9e3779b97f4a7c15ULL);
}

static void fill(uint8_t *hva, uint64_t npages, uint64_t page, uint64_t seed)
{
	uint64_t i;

	for (i = 0; i < npages; i++)
		*(uint64_t *)(hva + i * page) = contents(seed, i);
}

/*
 * Host memory of @src for @size bytes, 2 MiB aligned, at @fixed when not
 * NULL (replacing what is mapped there), filled by nobody yet.
 */
static uint8_t *map_backing(enum vm_mem_backing_src_type src, uint64_t size,
			    void *fixed)
{
	const uint64_t align = 2ULL << 20;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS, fd = -1;
	uint64_t len = size + (fixed ? 0 : align);
	uint8_t *p;

	if (fixed)
		flags |= MAP_FIXED;
	if (src == VM_MEM_SRC_ANONYMOUS_HUGETLB) {
		flags |= MAP_HUGETLB;
		len = (size + align - 1) & ~(align - 1);
	} else if (src == VM_MEM_SRC_SHMEM) {
		fd = memfd_create("pre_fault_backing", 0);
		TEST_ASSERT(fd >= 0, "memfd_create: %s", strerror(errno));
		TEST_ASSERT(!ftruncate(fd, len), "ftruncate: %s", strerror(errno));
		flags = MAP_SHARED | (fixed ? MAP_FIXED : 0);
	}
	p = mmap(fixed, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap of %llu bytes: %s",
		    (unsigned long long)len, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (src != VM_MEM_SRC_ANONYMOUS_HUGETLB && !fixed)
		p = (uint8_t *)(((uintptr_t)p + align - 1) & ~(align - 1));
	if (src == VM_MEM_SRC_ANONYMOUS_THP)
		TEST_ASSERT(!madvise(p, size, MADV_HUGEPAGE), "MADV_HUGEPAGE: %s",
			    strerror(errno));
	if (src == VM_MEM_SRC_ANONYMOUS)
		TEST_ASSERT(!madvise(p, size, MADV_NOHUGEPAGE), "MADV_NOHUGEPAGE: %s",
			    strerror(errno));
	return p;
}

struct slot_flipper {
	struct test_vm *t;
	uint8_t *buf[2];	/* host memory the slot alternates between */
	atomic_bool stop;
	atomic_uint cycles;
};

/* The slot is deleted, then re-created on the other buffer. */
static void *flip_slot(void *arg)
{
	struct slot_flipper *f = arg;
	unsigned int n;

	while ((n = atomic_load(&f->cycles)) < DELETE_CYCLES && !atomic_load(&f->stop)) {
		vm_set_user_memory_region(f->t->vm, TEST_SLOT, 0, TEST_GPA, 0, NULL);
		vm_set_user_memory_region(f->t->vm, TEST_SLOT, 0, TEST_GPA,
					  TEST_SIZE, f->buf[(n + 1) % 2]);
		atomic_fetch_add(&f->cycles, 1);
	}
	return NULL;
}

static void case_concurrent_delete(enum vm_mem_backing_src_type src)
{
	struct slot_flipper flipper = { 0 };
	struct kvm_pre_fault_memory range;
	unsigned long ok = 0, enoent = 0, eagain = 0, eintr = 0;
	pthread_t thread;
	struct test_vm t;
	int r, err;

	test_vm_create(&t, src);
	/*
	 * Two buffers at different host addresses, with different contents
	 * in every page: a mapping left over from the other buffer shows.
	 */
	flipper.t = &t;
	flipper.buf[0] = t.hva;
	flipper.buf[1] = map_backing(src, TEST_SIZE, NULL);
	fill(flipper.buf[1], t.npages, t.page, TEST_PATTERN);
	pthread_create(&thread, NULL, flip_slot, &flipper);
	while (atomic_load(&flipper.cycles) < DELETE_CYCLES) {
		range = (struct kvm_pre_fault_memory){ .gpa = TEST_GPA, .size = TEST_SIZE };
		r = pre_fault(t.vcpu, &range, &err);
		if (!r) {
			/* Progress: an exact, page-aligned tail of the range is left. */
			TEST_ASSERT(range.gpa > TEST_GPA &&
				    range.gpa + range.size == TEST_GPA + TEST_SIZE &&
				    !(range.gpa % t.page),
				    "after progress 0x%llx+0x%llx is left",
				    (unsigned long long)range.gpa,
				    (unsigned long long)range.size);
			ok++;
			continue;
		}
		TEST_ASSERT(range.gpa == TEST_GPA && range.size == TEST_SIZE,
			    "failed call (%s) changed the range", strerror(err));
		if (err == ENOENT)
			enoent++;
		else if (err == EAGAIN)
			eagain++;
		else if (err == EINTR)
			eintr++;
		else
			TEST_FAIL("pre-fault during slot updates: %s", strerror(err));
	}
	atomic_store(&flipper.stop, true);
	pthread_join(thread, NULL);
	pr_info("%u delete/re-create cycles; calls: %lu progress, %lu ENOENT, %lu EAGAIN, %lu EINTR\n",
		atomic_load(&flipper.cycles), ok, enoent, eagain, eintr);
	TEST_ASSERT_EQ(atomic_load(&flipper.cycles), DELETE_CYCLES);
	TEST_ASSERT(eagain > 0, "no pre-fault met a deletion in progress: the race was not tested");

	/*
	 * The slot is back on buf[DELETE_CYCLES % 2]: all of it pre-faults and
	 * the guest reads that buffer's data.  A deletion may have zapped
	 * every mapping (x86 does), so slot 0 too.
	 */
	t.hva = flipper.buf[DELETE_CYCLES % 2];
	TEST_ASSERT(t.hva == flipper.buf[0], "DELETE_CYCLES must be even");
	pre_fault_slot0(t.vm, t.vcpu);
	pre_fault_all(t.vcpu, TEST_GPA, TEST_SIZE);
	guest_read_write(&t, true);
	kvm_vm_free(t.vm);
}

/*
 * The life cases drive a guest that obeys life_cmd: the host writes it
 * with sync_global_to_guest() before each run, the guest acts on it and
 * reports with GUEST_SYNC(op).
 */
enum life_op { LIFE_CHECK = 1, LIFE_WRITE, LIFE_READ_ONE };

/* Pages first + k * stride (k >= 0) hold contents(seed, i). */
struct page_set {
	uint64_t first, stride, seed;
};

static struct {
	uint64_t op;
	uint64_t gva, npages, page;
	uint64_t seed;		/* pages in neither set */
	struct page_set set[2];	/* set[1] overrides set[0] */
} life_cmd;

static bool in_set(const struct page_set *ps, uint64_t i)
{
	return ps->stride && i >= ps->first && !((i - ps->first) % ps->stride);
}

/* What page @i holds according to life_cmd. */
static uint64_t life_expected(uint64_t i)
{
	if (in_set(&life_cmd.set[1], i))
		return contents(life_cmd.set[1].seed, i);
	if (in_set(&life_cmd.set[0], i))
		return contents(life_cmd.set[0].seed, i);
	return contents(life_cmd.seed, i);
}

static void life_guest_code(void)
{
	uint64_t i, *word;

	for (;;) {
		for (i = 0; i < life_cmd.npages; i++) {
			word = (uint64_t *)(life_cmd.gva + i * life_cmd.page);
			if (life_cmd.op == LIFE_CHECK)
				GUEST_ASSERT_EQ(READ_ONCE(*word), life_expected(i));
			else if (life_cmd.op == LIFE_WRITE &&
				 in_set(&life_cmd.set[0], i))
				WRITE_ONCE(*word, contents(life_cmd.set[0].seed, i));
		}
		if (life_cmd.op == LIFE_READ_ONE)
			READ_ONCE(*(uint64_t *)life_cmd.gva);
		GUEST_SYNC(life_cmd.op);
	}
}

struct life_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint64_t page, npages;
	uint64_t gpa, size;	/* the test slot */
	uint8_t *hva;		/* its host memory */
};

#define LIFE_GVA2		(TEST_GVA + (1ULL << 30))	/* a second window */
#define LIFE_GPA2		(TEST_GPA + (1ULL << 30))

/*
 * A VM running life_guest_code() with the test slot at @gpa on @hva (host
 * memory of @size bytes).  The guest can address TEST_SIZE bytes, and one
 * more page below, from TEST_GVA and LIFE_GVA2, mapped to TEST_GPA - page
 * and LIFE_GPA2 - page onwards, whether a slot is there or not.
 */
static void life_vm_create(struct life_vm *l, uint64_t gpa, uint64_t size,
			   uint8_t *hva)
{
	l->vm = vm_create_with_one_vcpu(&l->vcpu, life_guest_code);
	l->page = l->vm->page_size;
	if (l->page != 4096)
		skip_case("guest pages of %llu bytes", (unsigned long long)l->page);
	l->gpa = gpa;
	l->size = size;
	l->hva = hva;
	l->npages = size / l->page;
	vm_set_user_memory_region(l->vm, TEST_SLOT, 0, gpa, size, hva);
	virt_map(l->vm, TEST_GVA - l->page, TEST_GPA - l->page, TEST_SIZE / l->page + 2);
	virt_map(l->vm, LIFE_GVA2 - l->page, LIFE_GPA2 - l->page, TEST_SIZE / l->page + 2);
	pre_fault_slot0(l->vm, l->vcpu);
}

/* The slot's new place and memory, as KVM_SET_USER_MEMORY_REGION sets them. */
static void life_set_slot(struct life_vm *l, uint32_t flags, uint64_t gpa,
			  uint8_t *hva)
{
	vm_set_user_memory_region(l->vm, TEST_SLOT, flags, gpa, l->size, hva);
	l->gpa = gpa;
	l->hva = hva;
}

/* The guest's view of the slot at @gva; returns the exits of the run. */
static uint64_t life_run(struct life_vm *l, uint64_t op, uint64_t gva,
			 uint64_t seed, const struct page_set *s0,
			 const struct page_set *s1)
{
	uint64_t exits = vcpu_stat1(l->vcpu, "exits");
	struct ucall uc;

	memset(&life_cmd, 0, sizeof(life_cmd));
	life_cmd.op = op;
	life_cmd.gva = gva;
	life_cmd.npages = l->npages;
	life_cmd.page = l->page;
	life_cmd.seed = seed;
	if (s0)
		life_cmd.set[0] = *s0;
	if (s1)
		life_cmd.set[1] = *s1;
	sync_global_to_guest(l->vm, life_cmd);
	vcpu_run(l->vcpu);
	exits = vcpu_stat1(l->vcpu, "exits") - exits;
	switch (get_ucall(l->vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
		TEST_ASSERT_EQ(uc.args[1], op);
		break;
	default:
		TEST_FAIL("unexpected exit %s, ucall %lu",
			  exit_reason_str(l->vcpu->run->exit_reason), uc.cmd);
	}
	return exits;
}

/*
 * The guest checks every page of the slot at @gva after a pre-fault: the
 * contents are right and at most 1% of the pages took an exit.
 */
static void life_check(struct life_vm *l, uint64_t gva, uint64_t seed,
		       const struct page_set *s0, const struct page_set *s1)
{
	uint64_t exits = life_run(l, LIFE_CHECK, gva, seed, s0, s1);

	TEST_ASSERT(exits <= l->npages / 100,
		    "%llu exits reading %llu pre-faulted pages",
		    (unsigned long long)exits, (unsigned long long)l->npages);
}

/* The guest's read of @gva must exit to userspace as MMIO at @gpa. */
static void life_expect_mmio(struct life_vm *l, uint64_t gva, uint64_t gpa)
{
	struct kvm_run *run = l->vcpu->run;
	struct ucall uc;

	memset(&life_cmd, 0, sizeof(life_cmd));
	life_cmd.op = LIFE_READ_ONE;
	life_cmd.gva = gva;
	sync_global_to_guest(l->vm, life_cmd);
	vcpu_run(l->vcpu);
	TEST_ASSERT(run->exit_reason == KVM_EXIT_MMIO && run->mmio.phys_addr == gpa &&
		    !run->mmio.is_write,
		    "read of gpa 0x%llx: exit %s at 0x%llx, want an MMIO read there",
		    (unsigned long long)gpa, exit_reason_str(run->exit_reason),
		    (unsigned long long)run->mmio.phys_addr);
	/* Complete the read (its value does not matter) and reach the sync. */
	vcpu_run(l->vcpu);
	TEST_ASSERT_EQ(get_ucall(l->vcpu, &uc), UCALL_SYNC);
}

/* The host's view: page i holds what the sets say. */
static void host_check(uint8_t *hva, uint64_t npages, uint64_t page, uint64_t seed,
		       const struct page_set *s0, const struct page_set *s1)
{
	uint64_t i, want, got;

	for (i = 0; i < npages; i++) {
		want = contents(seed, i);
		if (s0 && in_set(s0, i))
			want = contents(s0->seed, i);
		if (s1 && in_set(s1, i))
			want = contents(s1->seed, i);
		got = *(uint64_t *)(hva + i * page);
		TEST_ASSERT(got == want, "host page %llu: 0x%llx, want 0x%llx",
			    (unsigned long long)i, (unsigned long long)got,
			    (unsigned long long)want);
	}
}

/* Leaves of 4 KiB and of 2 MiB one pre-fault of [gpa, gpa + size) mapped. */
static void pre_fault_count(struct kvm_vcpu *vcpu, uint64_t gpa, uint64_t size,
			    uint64_t *small, uint64_t *huge)
{
	uint64_t before[HIST_BUCKETS], after[HIST_BUCKETS], steps;

	vcpu_stat(vcpu, "pre_fault_step_bytes_hist", before, HIST_BUCKETS);
	steps = vcpu_stat1(vcpu, "pre_fault_steps");
	pre_fault_all(vcpu, gpa, size);
	steps = vcpu_stat1(vcpu, "pre_fault_steps") - steps;
	vcpu_stat(vcpu, "pre_fault_step_bytes_hist", after, HIST_BUCKETS);
	*small = after[HIST_4K] - before[HIST_4K];
	*huge = after[HIST_2M] - before[HIST_2M];
	check_steps(steps, *small, *huge, false);
}

/*
 * Second-stage page-table pages in the system, in KiB.  Freed tables may
 * reach the counter after an RCU grace period (arm64), so wait a little for
 * @want before reporting what is there.
 */
static long sec_page_tables(long want)
{
	long kb = meminfo_value("SecPageTables");
	int i;

	for (i = 0; i < 50 && kb != want; i++) {
		usleep(100 * 1000);
		kb = meminfo_value("SecPageTables");
	}
	return kb;
}

static void case_dirty_log(enum vm_mem_backing_src_type src)
{
	/* Page 1 of every 2 MiB block and more; page 0 of every block. */
	const struct page_set logged = { 1, 64, 0x1111 }, after = { 0, 512, 0x2222 };
	uint64_t seed = 0x5eed, small, huge, huge_bytes, i, npages;
	unsigned long *bitmap;
	struct life_vm l;
	long tables;

	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	npages = l.npages;
	fill(l.hva, npages, l.page, seed);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, seed, NULL, NULL);
	huge_bytes = host_pmd_mapped(l.hva, l.size);
	tables = sec_page_tables(-1);

	/* Logging on over the pre-faulted slot: every write lands and is logged. */
	life_set_slot(&l, KVM_MEM_LOG_DIRTY_PAGES, l.gpa, l.hva);
	life_run(&l, LIFE_WRITE, TEST_GVA, 0, &logged, NULL);
	host_check(l.hva, npages, l.page, seed, &logged, NULL);
	bitmap = calloc(npages / 64 + 1, sizeof(*bitmap));
	TEST_ASSERT(bitmap, "calloc");
	kvm_vm_get_dirty_log(l.vm, TEST_SLOT, bitmap);
	for (i = 0; i < npages; i++)
		TEST_ASSERT(!!(bitmap[i / 64] & (1UL << (i % 64))) == in_set(&logged, i),
			    "dirty log: page %llu is %s, and was %s",
			    (unsigned long long)i,
			    bitmap[i / 64] & (1UL << (i % 64)) ? "dirty" : "clean",
			    in_set(&logged, i) ? "written" : "not written");

	/* Logging off: new writes land, blocks come back where the host has them. */
	life_set_slot(&l, 0, l.gpa, l.hva);
	life_run(&l, LIFE_WRITE, TEST_GVA, 0, &after, NULL);
	host_check(l.hva, npages, l.page, seed, &logged, &after);
	TEST_ASSERT_EQ(host_pmd_mapped(l.hva, l.size), huge_bytes);
	pre_fault_count(l.vcpu, l.gpa, l.size, &small, &huge);
	pr_info("after logging on and off: %llu leaves of 4 KiB, %llu of 2 MiB; host PMD-maps %llu MiB\n",
		(unsigned long long)small, (unsigned long long)huge,
		(unsigned long long)(huge_bytes >> 20));
	TEST_ASSERT_EQ(huge, huge_bytes >> 21);
	TEST_ASSERT_EQ(small, (l.size - huge_bytes) >> 12);
	life_check(&l, TEST_GVA, seed, &logged, &after);
	/* A leak only shows where the second stage's tables are counted. */
	TEST_ASSERT(tables > 0, "SecPageTables is %ld KiB with a VM mapped: not counted",
		    tables);
	TEST_ASSERT(sec_page_tables(tables) == tables,
		    "second-stage page tables: %ld KiB before logging, %ld KiB after",
		    tables, sec_page_tables(tables));
	free(bitmap);
	kvm_vm_free(l.vm);
}

static void case_recreate(enum vm_mem_backing_src_type src)
{
	uint8_t *first = map_backing(src, TEST_SIZE, NULL);
	uint8_t *second = map_backing(src, TEST_SIZE, NULL);
	struct kvm_pre_fault_memory range = { .gpa = TEST_GPA, .size = PAGE_4K };
	struct life_vm l;
	int err = 0;

	/* Both stay mapped: the second slot cannot reuse the first's address. */
	TEST_ASSERT(first != second, "two mappings at one address");
	life_vm_create(&l, TEST_GPA, TEST_SIZE, first);
	fill(first, l.npages, l.page, 0xaaaa);
	fill(second, l.npages, l.page, 0xbbbb);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0xaaaa, NULL, NULL);

	/* Deleted and re-created on other memory: the guest sees the new one. */
	vm_set_user_memory_region(l.vm, TEST_SLOT, 0, TEST_GPA, 0, NULL);
	TEST_ASSERT(pre_fault(l.vcpu, &range, &err) == -1 && err == ENOENT,
		    "pre-fault of a deleted slot: %s", strerror(err));
	life_set_slot(&l, 0, TEST_GPA, second);
	pre_fault_slot0(l.vm, l.vcpu);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0xbbbb, NULL, NULL);

	/* Moved to another GPA: the contents there, nothing at the old place. */
	life_set_slot(&l, 0, LIFE_GPA2, second);
	fill(second, l.npages, l.page, 0xcccc);
	pre_fault_slot0(l.vm, l.vcpu);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, LIFE_GVA2, 0xcccc, NULL, NULL);
	range = (struct kvm_pre_fault_memory){ .gpa = TEST_GPA, .size = TEST_SIZE };
	TEST_ASSERT(pre_fault(l.vcpu, &range, &err) == -1 && err == ENOENT &&
		    range.gpa == TEST_GPA && range.size == TEST_SIZE,
		    "pre-fault of the old place: %s", strerror(err));
	life_expect_mmio(&l, TEST_GVA, TEST_GPA);
	life_expect_mmio(&l, TEST_GVA + TEST_SIZE - l.page, TEST_GPA + TEST_SIZE - l.page);
	kvm_vm_free(l.vm);
}

/*
 * Drop the host's pages of [hva, hva + size): their contents are gone and
 * nothing is mapped there until the next access.
 */
static void drop_pages(enum vm_mem_backing_src_type src, uint8_t *hva, uint64_t size)
{
	int advice = src == VM_MEM_SRC_SHMEM ? MADV_REMOVE : MADV_DONTNEED;

	TEST_ASSERT(!madvise(hva, size, advice), "madvise: %s", strerror(errno));
}

static void case_host_change(enum vm_mem_backing_src_type src)
{
	struct life_vm l;
	uint8_t *hva;

	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	hva = l.hva;
	fill(hva, l.npages, l.page, 0x1010);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0x1010, NULL, NULL);

	/* The host drops its pages (they read as zero) and writes new contents. */
	drop_pages(src, hva, l.size);
	TEST_ASSERT_EQ(*(uint64_t *)(hva + l.size / 2), 0);
	fill(hva, l.npages, l.page, 0x2020);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0x2020, NULL, NULL);

	/* The host unmaps the memory and maps new memory at the same address. */
	TEST_ASSERT_EQ(map_backing(src, l.size, hva), hva);
	fill(hva, l.npages, l.page, 0x3030);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0x3030, NULL, NULL);
	kvm_vm_free(l.vm);
}

static void case_misaligned(enum vm_mem_backing_src_type src)
{
	const uint64_t block = 2ULL << 20;
	uint64_t small, huge, end;
	struct life_vm l;
	uint8_t *hva;

	if (src != VM_MEM_SRC_ANONYMOUS_THP && src != VM_MEM_SRC_ANONYMOUS_HUGETLB)
		skip_case("only huge-page backings have blocks to misalign");
	hva = map_backing(src, TEST_SIZE, NULL);

	/* GPA 4 KiB past a 2 MiB boundary, host memory 2 MiB aligned. */
	life_vm_create(&l, TEST_GPA + PAGE_4K, TEST_SIZE - block, hva);
	fill(hva, l.npages, l.page, 0x4040);
	TEST_ASSERT_EQ(host_pmd_mapped(hva, TEST_SIZE), l.size);
	pre_fault_count(l.vcpu, l.gpa, l.size, &small, &huge);
	pr_info("GPA 4 KiB off the host's 2 MiB alignment: %llu leaves of 4 KiB, %llu of 2 MiB\n",
		(unsigned long long)small, (unsigned long long)huge);
	TEST_ASSERT_EQ(huge, 0);
	TEST_ASSERT_EQ(small, l.npages);
	life_check(&l, TEST_GVA + PAGE_4K, 0x4040, NULL, NULL);
	life_expect_mmio(&l, TEST_GVA, TEST_GPA);

	/* GPA and host aligned; the slot ends 1 MiB into its second huge page. */
	vm_set_user_memory_region(l.vm, TEST_SLOT, 0, l.gpa, 0, NULL);
	l.size = block + block / 2;
	l.npages = l.size / l.page;
	life_set_slot(&l, 0, TEST_GPA, hva);
	end = TEST_GPA + l.size;
	fill(hva, TEST_SIZE / l.page, l.page, 0x5050);
	pre_fault_slot0(l.vm, l.vcpu);
	expect_pre_fault(l.vcpu, end - PAGE_4K, 2 * PAGE_4K, 0, 0, end, PAGE_4K);
	expect_pre_fault(l.vcpu, end, PAGE_4K, -1, ENOENT, end, PAGE_4K);
	pre_fault_count(l.vcpu, l.gpa, l.size, &small, &huge);
	pr_info("slot ending 1 MiB into a huge page: %llu leaves of 4 KiB, %llu of 2 MiB\n",
		(unsigned long long)small, (unsigned long long)huge);
	TEST_ASSERT_EQ(huge, 1);
	TEST_ASSERT_EQ(small, (block / 2) / PAGE_4K);
	life_check(&l, TEST_GVA, 0x5050, NULL, NULL);
	life_expect_mmio(&l, TEST_GVA + l.size, end);
	kvm_vm_free(l.vm);
}

/*
 * The host collapses pre-faulted 4 KiB pages into huge pages (as khugepaged
 * does, here with MADV_COLLAPSE): the MMU notifier unmaps the 4 KiB leaves,
 * a new pre-fault maps one 2 MiB block per huge page in place of each table
 * of 4 KiB leaves, and exactly those tables are freed.
 */
static void case_collapse(enum vm_mem_backing_src_type src)
{
	const long table_kb = PAGE_4K / 1024;
	uint64_t small, huge, blocks = TEST_SIZE >> 21;
	long tables_4k, tables_2m;
	struct life_vm l;

	if (src != VM_MEM_SRC_ANONYMOUS)
		skip_case("the host collapses anonymous 4 KiB pages");
	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	fill(l.hva, l.npages, l.page, 0xc0c0);
	pre_fault_count(l.vcpu, l.gpa, l.size, &small, &huge);
	TEST_ASSERT_EQ(small, l.npages);
	tables_4k = sec_page_tables(-1);

	TEST_ASSERT(!madvise(l.hva, l.size, MADV_HUGEPAGE), "MADV_HUGEPAGE: %s",
		    strerror(errno));
	if (madvise(l.hva, l.size, MADV_COLLAPSE))
		skip_case("MADV_COLLAPSE: %s", strerror(errno));
	TEST_ASSERT_EQ(host_pmd_mapped(l.hva, l.size), l.size);
	pre_fault_count(l.vcpu, l.gpa, l.size, &small, &huge);
	tables_2m = sec_page_tables(tables_4k - (long)blocks * table_kb);
	pr_info("collapsed: %llu leaves of 2 MiB, %llu of 4 KiB; SecPageTables %ld KiB -> %ld KiB\n",
		(unsigned long long)huge, (unsigned long long)small, tables_4k, tables_2m);
	TEST_ASSERT_EQ(huge, blocks);
	TEST_ASSERT_EQ(small, 0);
	life_check(&l, TEST_GVA, 0xc0c0, NULL, NULL);
	TEST_ASSERT(tables_4k > 0, "SecPageTables is %ld KiB with a VM mapped: not counted",
		    tables_4k);
	TEST_ASSERT(tables_2m == tables_4k - (long)blocks * table_kb,
		    "%llu blocks replaced their tables: SecPageTables %ld KiB -> %ld KiB",
		    (unsigned long long)blocks, tables_4k, tables_2m);
	kvm_vm_free(l.vm);
}

struct mover {
	struct life_vm *l;
	atomic_bool stop;
	atomic_uint moves;
	unsigned int want;
};

/* Moves the slot between TEST_GPA and TEST_GPA + half its size. */
static void *move_slot(void *arg)
{
	struct mover *m = arg;
	uint64_t half = m->l->size / 2;
	unsigned int n;

	while ((n = atomic_load(&m->moves)) < m->want && !atomic_load(&m->stop)) {
		vm_set_user_memory_region(m->l->vm, TEST_SLOT, 0,
					  TEST_GPA + (n % 2 ? 0 : half), m->l->size,
					  m->l->hva);
		atomic_fetch_add(&m->moves, 1);
	}
	return NULL;
}

#define MOVE_CYCLES	100

static void case_concurrent_move(enum vm_mem_backing_src_type src)
{
	struct mover mover = { .want = MOVE_CYCLES };
	unsigned long ok = 0, eagain = 0, eintr = 0;
	struct kvm_pre_fault_memory range;
	uint64_t half = TEST_SIZE / 2;
	pthread_t thread;
	struct life_vm l;
	int r, err;

	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	fill(l.hva, l.npages, l.page, 0x6060);
	mover.l = &l;
	pthread_create(&thread, NULL, move_slot, &mover);
	/* [TEST_GPA + half, TEST_GPA + size) is covered in both places. */
	while (atomic_load(&mover.moves) < MOVE_CYCLES) {
		range = (struct kvm_pre_fault_memory){ .gpa = TEST_GPA + half, .size = half };
		r = pre_fault(l.vcpu, &range, &err);
		if (!r) {
			TEST_ASSERT(range.gpa + range.size == TEST_GPA + TEST_SIZE &&
				    range.gpa > TEST_GPA + half, "bad progress");
			ok++;
		} else if (err == EAGAIN || err == EINTR) {
			TEST_ASSERT(range.gpa == TEST_GPA + half && range.size == half,
				    "failed call (%s) changed the range", strerror(err));
			err == EAGAIN ? eagain++ : eintr++;
		} else {
			TEST_FAIL("pre-fault of a GPA covered before and after every move: %s",
				  strerror(err));
		}
	}
	atomic_store(&mover.stop, true);
	pthread_join(thread, NULL);
	pr_info("%u moves; calls: %lu progress, %lu EAGAIN, %lu EINTR, 0 ENOENT\n",
		atomic_load(&mover.moves), ok, eagain, eintr);
	TEST_ASSERT(eagain > 0, "no pre-fault met a move in progress: the race was not tested");

	/* MOVE_CYCLES is even: the slot is back at TEST_GPA, data intact. */
	TEST_ASSERT(MOVE_CYCLES % 2 == 0, "MOVE_CYCLES must be even");
	pre_fault_slot0(l.vm, l.vcpu);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0x6060, NULL, NULL);
	kvm_vm_free(l.vm);
}

struct churner {
	struct kvm_vm *vm;
	uint8_t *mem;
	atomic_bool stop;
	atomic_ulong updates;	/* completed memslot updates */
};

#define OTHER_SLOT	11
#define OTHER_GPA	(TEST_GPA + (4ULL << 30))

/* Creates and deletes a slot that has nothing to do with the test slot. */
static void *churn_other_slot(void *arg)
{
	struct churner *c = arg;

	while (!atomic_load(&c->stop)) {
		vm_set_user_memory_region(c->vm, OTHER_SLOT, 0, OTHER_GPA, 1 << 20, c->mem);
		atomic_fetch_add(&c->updates, 1);
		vm_set_user_memory_region(c->vm, OTHER_SLOT, 0, OTHER_GPA, 0, NULL);
		atomic_fetch_add(&c->updates, 1);
	}
	return NULL;
}

#define ELSEWHERE_OVERLAPS	4

static void case_update_elsewhere(enum vm_mem_backing_src_type src)
{
	struct churner churner = { 0 };
	struct kvm_pre_fault_memory range;
	unsigned long calls = 0, overlapped = 0, before;
	pthread_t thread;
	struct life_vm l;
	int r, err;

	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	fill(l.hva, l.npages, l.page, 0x7070);
	churner.vm = l.vm;
	churner.mem = map_backing(VM_MEM_SRC_ANONYMOUS, 1 << 20, NULL);
	pthread_create(&thread, NULL, churn_other_slot, &churner);
	/*
	 * Each call maps the whole slot again after the host dropped the
	 * mappings; a call overlapped an update when the count moved.
	 */
	while (overlapped < ELSEWHERE_OVERLAPS && calls < 20 * ELSEWHERE_OVERLAPS) {
		drop_pages(src, l.hva, l.size);
		fill(l.hva, l.npages, l.page, 0x7070);
		range = (struct kvm_pre_fault_memory){ .gpa = l.gpa, .size = l.size };
		before = atomic_load(&churner.updates);
		r = pre_fault(l.vcpu, &range, &err);
		overlapped += atomic_load(&churner.updates) != before;
		calls++;
		TEST_ASSERT(r == 0 && range.size == 0 && range.gpa == l.gpa + l.size,
			    "pre-fault during updates of another slot: %d (%s), 0x%llx left",
			    r, r ? strerror(err) : "-", (unsigned long long)range.size);
	}
	atomic_store(&churner.stop, true);
	pthread_join(thread, NULL);
	pr_info("%lu calls, %lu overlapped %lu updates of another slot; all completed\n",
		calls, overlapped, atomic_load(&churner.updates));
	TEST_ASSERT(overlapped >= ELSEWHERE_OVERLAPS,
		    "only %lu of %lu calls overlapped an update", overlapped, calls);
	pre_fault_slot0(l.vm, l.vcpu);
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0x7070, NULL, NULL);
	kvm_vm_free(l.vm);
}

static void on_sigusr1(int sig)
{
}

struct uffd_server {
	int uffd;
	uint8_t *page_data;
	pthread_t prefaulter;
	atomic_int state;	/* 1: fault seen, 2: signal sent, 3: resolved */
};

/*
 * Waits for the pre-fault's userfault, signals the pre-faulting thread,
 * and supplies the page only after 5 s or when told: a pre-fault that
 * ignores the signal still ends, and the test reports it.
 */
static void *uffd_serve(void *arg)
{
	struct uffd_server *u = arg;
	struct uffd_msg msg;
	struct uffdio_copy copy;
	struct pollfd pfd = { .fd = u->uffd, .events = POLLIN };
	int i;

	TEST_ASSERT(poll(&pfd, 1, 10000) == 1, "no userfault within 10 s");
	TEST_ASSERT(read(u->uffd, &msg, sizeof(msg)) == sizeof(msg), "read uffd");
	TEST_ASSERT_EQ(msg.event, UFFD_EVENT_PAGEFAULT);
	atomic_store(&u->state, 1);
	usleep(100 * 1000);
	pthread_kill(u->prefaulter, SIGUSR1);
	atomic_store(&u->state, 2);
	for (i = 0; i < 500 && atomic_load(&u->state) == 2; i++)
		usleep(10 * 1000);
	copy = (struct uffdio_copy){
		.dst = msg.arg.pagefault.address & ~(PAGE_4K - 1),
		.src = (uintptr_t)u->page_data, .len = PAGE_4K,
	};
	TEST_ASSERT(!ioctl(u->uffd, UFFDIO_COPY, &copy), "UFFDIO_COPY: %s", strerror(errno));
	atomic_store(&u->state, 3);
	return NULL;
}

static void case_uffd_signal(enum vm_mem_backing_src_type src)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct sigaction sa = { .sa_handler = on_sigusr1 };	/* no SA_RESTART */
	struct kvm_pre_fault_memory range;
	struct uffd_server u = { 0 };
	struct timespec t0, t1;
	pthread_t thread;
	struct life_vm l;
	double seconds;
	int r, err;

	if (src != VM_MEM_SRC_ANONYMOUS)
		skip_case("post-copy is shown on anonymous memory");
	u.uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (u.uffd < 0)
		skip_case("userfaultfd: %s", strerror(errno));
	TEST_ASSERT(!ioctl(u.uffd, UFFDIO_API, &api), "UFFDIO_API: %s", strerror(errno));
	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	fill(l.hva, l.npages, l.page, 0x8080);
	/* The first page is missing: post-copy has not fetched it yet. */
	drop_pages(src, l.hva, l.page);
	reg = (struct uffdio_register){
		.range = { .start = (uintptr_t)l.hva, .len = l.page },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	TEST_ASSERT(!ioctl(u.uffd, UFFDIO_REGISTER, &reg), "UFFDIO_REGISTER: %s",
		    strerror(errno));
	u.page_data = calloc(1, PAGE_4K);
	*(uint64_t *)u.page_data = contents(0x8080, 0);
	TEST_ASSERT(!sigaction(SIGUSR1, &sa, NULL), "sigaction");
	u.prefaulter = pthread_self();
	pthread_create(&thread, NULL, uffd_serve, &u);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	range = (struct kvm_pre_fault_memory){ .gpa = l.gpa, .size = l.size };
	r = pre_fault(l.vcpu, &range, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (atomic_load(&u.state) == 2)
		atomic_store(&u.state, 4);	/* let the server supply the page */
	pthread_join(thread, NULL);
	pr_info("pre-fault blocked on userfaultfd, signalled: %d (%s) after %.2f s\n",
		r, r ? strerror(err) : "-", seconds);
	TEST_ASSERT(r == -1 && err == EINTR && range.gpa == l.gpa && range.size == l.size,
		    "pre-fault blocked on userfaultfd and signalled: %d (%s), %.2f s",
		    r, strerror(err), seconds);

	/* The page is there now: the pre-fault completes, the guest sees it. */
	pre_fault_all(l.vcpu, l.gpa, l.size);
	life_check(&l, TEST_GVA, 0x8080, NULL, NULL);
	kvm_vm_free(l.vm);
}

/* Host pfn of @hva, from /proc/self/pagemap (root only). */
static uint64_t host_pfn(void *hva)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	TEST_ASSERT(fd >= 0, "open pagemap: %s", strerror(errno));
	TEST_ASSERT(pread(fd, &entry, 8, ((uintptr_t)hva / PAGE_4K) * 8) == 8, "pagemap");
	close(fd);
	TEST_ASSERT(entry & (1ULL << 63), "page %p not present", hva);
	return entry & ((1ULL << 55) - 1);
}

static bool pfn_idle(int fd, uint64_t pfn)
{
	uint64_t word;

	TEST_ASSERT(pread(fd, &word, 8, pfn / 64 * 8) == 8, "read the idle bitmap");
	return word & (1ULL << (pfn % 64));
}

static void case_aging(enum vm_mem_backing_src_type src)
{
	const uint64_t pages = 64;
	uint64_t i, pfn, idle = 0, word;
	struct life_vm l;
	int fd;

	if (src != VM_MEM_SRC_ANONYMOUS)
		skip_case("page_idle ages 4 KiB anonymous pages here");
	fd = open("/sys/kernel/mm/page_idle/bitmap", O_RDWR);
	if (fd < 0)
		skip_case("no page_idle: %s", strerror(errno));
	life_vm_create(&l, TEST_GPA, TEST_SIZE, map_backing(src, TEST_SIZE, NULL));
	fill(l.hva, l.npages, l.page, 0x9090);
	pre_fault_all(l.vcpu, l.gpa, pages * l.page);
	for (i = 0; i < pages; i++) {
		/* Aging: clears the young bits of the host and of KVM. */
		pfn = host_pfn(l.hva + i * l.page);
		word = 1ULL << (pfn % 64);
		TEST_ASSERT(pwrite(fd, &word, 8, pfn / 64 * 8) == 8, "write page_idle");
		TEST_ASSERT(pfn_idle(fd, pfn), "page %llu not idle right after aging",
			    (unsigned long long)i);
	}
	pre_fault_all(l.vcpu, l.gpa, pages * l.page);
	for (i = 0; i < pages; i++)
		idle += pfn_idle(fd, host_pfn(l.hva + i * l.page));
	/*
	 * A pre-fault is the guest's access minus the exit: afterwards no page
	 * may look unused to reclaim.  arm64 and riscv make the aged entry
	 * young (and the host page accessed), as their access-flag and A-bit
	 * handling would; x86's fault path marks the host page accessed.
	 */
	pr_info("aged %llu pre-faulted pages, pre-faulted again: %llu still idle\n",
		(unsigned long long)pages, (unsigned long long)idle);
	TEST_ASSERT_EQ(idle, 0);
	close(fd);
	kvm_vm_free(l.vm);
}

#ifdef __x86_64__
#define NESTED_L2_STACK_WORDS	64
#define NESTED_CHUNK		(64ULL << 10)

/* The nested guest reports to the host, then exits to L1. */
static void nested_l2_code(void)
{
	GUEST_SYNC(2);
	vmmcall();
}

/* L1 runs L2 without nested paging, then with it, then reports itself. */
static void nested_l1_code(struct svm_test_data *svm, uint64_t npt_root)
{
	unsigned long l2_stack[NESTED_L2_STACK_WORDS];
	struct vmcb *vmcb = svm->vmcb;

	generic_svm_setup(svm, nested_l2_code, &l2_stack[NESTED_L2_STACK_WORDS]);
	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_ASSERT_EQ(vmcb->control.exit_code, SVM_EXIT_VMMCALL);

	generic_svm_setup(svm, nested_l2_code, &l2_stack[NESTED_L2_STACK_WORDS]);
	vmcb->control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
	vmcb->control.nested_cr3 = npt_root;
	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_ASSERT_EQ(vmcb->control.exit_code, SVM_EXIT_VMMCALL);

	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * Nested page tables for L2 in L1's memory: L2's first GiB maps to L1's
 * first GiB (2 MiB leaves), where the VM's code, stacks and page tables
 * are.  Returns the root's GPA.
 */
static uint64_t nested_npt_identity(struct kvm_vm *vm)
{
	/* Present, writable, user (NPT walks are user accesses), 2 MiB leaf. */
	const uint64_t table = 0x7, leaf = 0x87;
	vm_vaddr_t gva = vm_vaddr_alloc_pages(vm, 3);
	uint64_t *pml4 = addr_gva2hva(vm, gva);
	uint64_t *pdpt = addr_gva2hva(vm, gva + PAGE_4K);
	uint64_t *pd = addr_gva2hva(vm, gva + 2 * PAGE_4K);
	int i;

	memset(pml4, 0, PAGE_4K);
	memset(pdpt, 0, PAGE_4K);
	pml4[0] = addr_gva2gpa(vm, gva + PAGE_4K) | table;
	pdpt[0] = addr_gva2gpa(vm, gva + 2 * PAGE_4K) | table;
	for (i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | leaf;
	return addr_gva2gpa(vm, gva);
}

static bool nested_guest_mode(struct kvm_vcpu *vcpu)
{
	union {
		struct kvm_nested_state state;
		char buf[sizeof(struct kvm_nested_state) + KVM_STATE_NESTED_SVM_VMCB_SIZE];
	} nested = { .state.size = sizeof(nested) };

	vcpu_nested_state_get(vcpu, &nested.state);
	return nested.state.flags & KVM_STATE_NESTED_GUEST_MODE;
}

/* Runs the vCPU to its next GUEST_SYNC(@stage), in or out of guest mode. */
static void nested_run_to(struct kvm_vcpu *vcpu, uint64_t stage, bool guest_mode)
{
	struct ucall uc;

	vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	case UCALL_SYNC:
		TEST_ASSERT_EQ(uc.args[1], stage);
		TEST_ASSERT_EQ(nested_guest_mode(vcpu), guest_mode);
		break;
	default:
		TEST_FAIL("unexpected exit %s, ucall %lu",
			  exit_reason_str(vcpu->run->exit_reason), uc.cmd);
	}
}

/*
 * One NESTED_CHUNK at @gpa: the result and the range afterwards, exactly,
 * and the 4 KiB leaves it added to the VM's second-stage tables (the slot
 * is anonymous memory without THP): one per page on success, none on
 * failure.  The vCPU is stopped: nothing else maps meanwhile.
 */
static void nested_expect(struct kvm_vcpu *vcpu, uint64_t gpa, int want_err)
{
	struct kvm_pre_fault_memory range = { .gpa = gpa, .size = NESTED_CHUNK };
	uint64_t leaves = vm_get_stat(vcpu->vm, "pages_4k");
	int r, err;

	r = pre_fault(vcpu, &range, &err);
	TEST_ASSERT(r == (want_err ? -1 : 0) && err == want_err,
		    "pre-fault of 0x%llx: %d (%s), %s wanted",
		    (unsigned long long)gpa, r, strerror(err),
		    want_err ? strerror(want_err) : "success");
	TEST_ASSERT_EQ(range.gpa, want_err ? gpa : gpa + NESTED_CHUNK);
	TEST_ASSERT_EQ(range.size, want_err ? NESTED_CHUNK : 0);
	TEST_ASSERT_EQ(vm_get_stat(vcpu->vm, "pages_4k") - leaves,
		       want_err ? 0 : NESTED_CHUNK / PAGE_4K);
}

/*
 * A pre-fault maps the tables of the vCPU's current state, as upstream's
 * x86 pre-fault does.  With the vCPU stopped in L2 (KVM_GET_NESTED_STATE
 * says guest mode, checked each time): without nested paging L2 runs on
 * L1's physical space (in a root of its own), which the pre-fault maps;
 * with nested paging the vCPU's MMU is the nested one, which pre-fault
 * does not serve (EOPNOTSUPP, as upstream).  Back in L1 a pre-fault maps
 * L1's tables.
 */
static void case_nested(enum vm_mem_backing_src_type src)
{
	struct kvm_vcpu *vcpu;
	vm_vaddr_t svm_gva;
	struct kvm_vm *vm;
	struct ucall uc;

	if (!kvm_cpu_has(X86_FEATURE_SVM) || !kvm_cpu_has(X86_FEATURE_NPT))
		skip_case("KVM offers no nested SVM with nested paging (kvm_amd.nested, npt)");
	vm = vm_create_with_one_vcpu(&vcpu, nested_l1_code);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 2, svm_gva, nested_npt_identity(vm));
	vm_userspace_mem_region_add(vm, src, TEST_GPA, TEST_SLOT,
				    TEST_SIZE / PAGE_4K, 0);

	nested_run_to(vcpu, 2, true);
	nested_expect(vcpu, TEST_GPA, 0);
	nested_run_to(vcpu, 2, true);
	nested_expect(vcpu, TEST_GPA + NESTED_CHUNK, EOPNOTSUPP);
	nested_run_to(vcpu, 1, false);
	nested_expect(vcpu, TEST_GPA + 2 * NESTED_CHUNK, 0);

	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);
	kvm_vm_free(vm);
}
#endif

struct test_case {
	const char *name;
	void (*run)(enum vm_mem_backing_src_type src);
};

static const struct test_case cases[] = {
	{ "map_sizes", case_map_sizes },
	{ "ranges", case_ranges },
	{ "guest_read", case_guest_read },
	{ "concurrent_delete", case_concurrent_delete },
	{ "dirty_log", case_dirty_log },
	{ "recreate", case_recreate },
	{ "host_change", case_host_change },
	{ "misaligned", case_misaligned },
	{ "collapse", case_collapse },
	{ "concurrent_move", case_concurrent_move },
	{ "update_elsewhere", case_update_elsewhere },
	{ "uffd_signal", case_uffd_signal },
	{ "aging", case_aging },
};

/* One case for one backing in a child: its exit status is the result. */
static int run_case(const struct test_case *c, const struct backing *b)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* A case that hangs is killed, and fails, instead of the run. */
		alarm(CASE_SECONDS);
		require_backing(b->src);
		c->run(b->src);
		exit(KSFT_PASS);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		ksft_print_msg("%s_%s: killed by signal %d%s\n", b->name, c->name,
			       WTERMSIG(status),
			       WTERMSIG(status) == SIGALRM ? " after " STR(CASE_SECONDS) " s" : "");
	return WIFEXITED(status) ? WEXITSTATUS(status) : KSFT_FAIL;
}

/* The nested case: once, in a child, on anonymous memory. */
static void report_nested(int cap)
{
#ifdef __x86_64__
	static const struct test_case nested = { "nested", case_nested };
	int r;

	if (!cap) {
		ksft_test_result_code(KSFT_SKIP, "nested",
				      "KVM_PRE_FAULT_MEMORY is not enabled for this VM");
		return;
	}
	skip_reason[0] = '\0';
	r = run_case(&nested, &backings[0]);
	if (r == KSFT_SKIP)
		ksft_test_result_code(r, "nested", "%s", skip_reason);
	else
		ksft_test_result(r == KSFT_PASS, "nested\n");
#elif defined(__aarch64__)
	ksft_test_result_code(KSFT_SKIP, "nested",
			      "arm64 runs nested guests only with FEAT_NV2 (kvm-arm.mode=nested), which QEMU 7.2's CPUs lack");
#else
	ksft_test_result_code(KSFT_SKIP, "nested", "this arch's KVM has no nested guests");
#endif
}

int main(void)
{
	struct kvm_pre_fault_memory range = { .gpa = TEST_GPA, .size = TEST_SIZE };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	char name[64];
	size_t i, j;
	int cap, r, err;

	ksft_print_header();
	ksft_set_plan(2 + ARRAY_SIZE(cases) * ARRAY_SIZE(backings));
	skip_reason = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(skip_reason != MAP_FAILED, "mmap: %s", strerror(errno));

	/*
	 * The VM's answer decides: with it, a range without a slot is
	 * ENOENT; without it, the ioctl must refuse with EOPNOTSUPP.
	 */
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	cap = vm_check_cap(vm, KVM_CAP_PRE_FAULT_MEMORY);
	r = pre_fault(vcpu, &range, &err);
	kvm_vm_free(vm);
	ksft_print_msg("KVM_CAP_PRE_FAULT_MEMORY on the VM: %d; pre-fault: %d (%s)\n",
		       cap, r, strerror(err));
	if (cap)
		ksft_test_result(cap == 1 && r == -1 && err == ENOENT, "capability\n");
	else
		ksft_test_result(r == -1 && err == EOPNOTSUPP, "capability\n");

	report_nested(cap);
	for (i = 0; i < ARRAY_SIZE(backings); i++) {
		for (j = 0; j < ARRAY_SIZE(cases); j++) {
			snprintf(name, sizeof(name), "%s_%s", backings[i].name,
				 cases[j].name);
			if (!cap) {
				ksft_test_result_code(KSFT_SKIP, name,
						      "KVM_PRE_FAULT_MEMORY is not enabled for this VM");
				continue;
			}
			skip_reason[0] = '\0';
			r = run_case(&cases[j], &backings[i]);
			if (r == KSFT_SKIP)
				ksft_test_result_code(r, name, "%s", skip_reason);
			else
				ksft_test_result(r == KSFT_PASS, "%s\n", name);
		}
	}
	ksft_finished();
}
