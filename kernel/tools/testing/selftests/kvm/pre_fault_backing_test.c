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
 *   concurrent_delete  a thread deletes and re-creates the slot while the
 *               vCPU thread pre-faults it: every call ends with progress,
 *               ENOENT, EAGAIN or EINTR, none hangs, and the data survives.
 * Each case runs in a child process, so one failed assertion fails one case.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm_util.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT		10
#define TEST_GPA		0x40000000ULL	/* 1 GiB: below every arch's limit */
#define TEST_GVA		TEST_GPA
#define TEST_SIZE		(16ULL << 20)
#define TEST_PATTERN		0x5eed0000feed0000ULL
#define TEST_WRITE_PATTERN	0x0d15ea5e00000000ULL
#define HIST_4K			13	/* bucket of fls64(4096) */
#define HIST_2M			22	/* bucket of fls64(2 MiB) */
#define DELETE_CYCLES		200
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
	    (uint64_t)free_pages * page_kb * 1024 < TEST_SIZE)
		skip_case("%ld free hugetlb pages of %ld KiB, %llu MiB needed",
			  free_pages, page_kb, TEST_SIZE >> 20);
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
 * caused.
 */
static void pre_fault_slot0(struct test_vm *t)
{
	struct userspace_mem_region *slot0 = memslot2region(t->vm, 0);

	pre_fault_all(t->vcpu, slot0->region.guest_phys_addr,
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
	pre_fault_slot0(t);
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

	/* Every step mapped one 4 KiB page or one 2 MiB block. */
	small_steps = after[HIST_4K] - before[HIST_4K];
	huge_steps = after[HIST_2M] - before[HIST_2M];
	pr_info("%s: %llu steps, %llu of 4 KiB, %llu of 2 MiB; host PMD-maps %llu MiB\n",
		vm_mem_backing_src_alias(src)->name, (unsigned long long)steps,
		(unsigned long long)small_steps, (unsigned long long)huge_steps,
		(unsigned long long)(huge_bytes >> 20));
	TEST_ASSERT_EQ(small_steps + huge_steps, steps);
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

struct slot_flipper {
	struct test_vm *t;
	atomic_bool stop;
	atomic_uint cycles;
};

static void *flip_slot(void *arg)
{
	struct slot_flipper *f = arg;

	while (atomic_load(&f->cycles) < DELETE_CYCLES && !atomic_load(&f->stop)) {
		vm_set_user_memory_region(f->t->vm, TEST_SLOT, 0, TEST_GPA, 0, NULL);
		vm_set_user_memory_region(f->t->vm, TEST_SLOT, 0, TEST_GPA,
					  TEST_SIZE, f->t->hva);
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
	flipper.t = &t;
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

	/*
	 * The slot is back: all of it pre-faults and its data is intact.  A
	 * deletion may have zapped every mapping (x86 does), so slot 0 too.
	 */
	pre_fault_slot0(&t);
	pre_fault_all(t.vcpu, TEST_GPA, TEST_SIZE);
	guest_read_write(&t, true);
	kvm_vm_free(t.vm);
}

struct test_case {
	const char *name;
	void (*run)(enum vm_mem_backing_src_type src);
};

static const struct test_case cases[] = {
	{ "map_sizes", case_map_sizes },
	{ "ranges", case_ranges },
	{ "guest_read", case_guest_read },
	{ "concurrent_delete", case_concurrent_delete },
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
		require_backing(b->src);
		c->run(b->src);
		exit(KSFT_PASS);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : KSFT_FAIL;
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
	ksft_set_plan(1 + ARRAY_SIZE(cases) * ARRAY_SIZE(backings));
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
