// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault: what a VMM sees of KVM_PRE_FAULT_MEMORY on this machine.
 *
 *   probe   the capability on /dev/kvm and on a VM of every type the arch
 *           offers, as a table or JSON
 *   demo    a VM with one slot, pre-faulted through libkvmprefault, and a
 *           guest that reads every page of it, next to one that is not
 *           pre-faulted
 *   bench   guest first touch (read and write) with no pre-fault, with
 *           pre-fault, and with populate-write + pre-fault; and the
 *           pre-fault of a host-populated THP-backed slot; per-page costs
 *           and 1 vs 2 vCPUs pre-faulting in parallel
 *   profile where the time of a guest fault and of a pre-fault goes, from
 *           the kernel's function profiler
 *
 * Exit status: 0 success, 1 a KVM call or a bench check failed, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kvmprefault.h"
#include "vm.h"
#include "watchdog.h"

#define EXIT_FAILED	1
#define EXIT_USAGE	2
#define MIB		(1ULL << 20)
#define HIST_BUCKETS	32	/* of the vCPU statistic pre_fault_step_bytes_hist */
/* Its buckets are fls64(bytes): the leaves of 4 KiB, 2 MiB and 1 GiB. */
#define HIST_4K		13
#define HIST_2M		22
#define HIST_1G		31

/* Which command reads which option. */
#define OPT_JSON	(1 << 0)
#define OPT_SIZE	(1 << 1)
#define OPT_REPS	(1 << 2)
#define OPT_THP_SIZE	(1 << 3)

struct options {
	unsigned int given;	/* OPT_* seen on the command line */
	int json;
	uint64_t size;		/* bytes of the slot (demo, bench) */
	uint64_t thp_size;	/* bytes of the THP slot (bench), 0: none */
	unsigned int reps;	/* bench repetitions; the median is reported */
};

static const struct utsname *host(void)
{
	static struct utsname uts;

	if (!uts.machine[0])
		uname(&uts);
	return &uts;
}

/* ---- probe ---------------------------------------------------------- */

struct vm_type {
	const char *name;
	unsigned long type;
};

#if defined(__x86_64__)
/* The types KVM_CAP_VM_TYPES may list, bit n for type n. */
static const struct vm_type arch_vm_types[] = {
	{ "default", KVM_X86_DEFAULT_VM },
	{ "sw_protected", KVM_X86_SW_PROTECTED_VM },
	{ "sev", KVM_X86_SEV_VM },
	{ "sev_es", KVM_X86_SEV_ES_VM },
	{ "snp", KVM_X86_SNP_VM },
};
#elif defined(__aarch64__)
/* Default (40-bit IPA), the smallest and the largest IPA size. */
static const struct vm_type arch_vm_types[] = {
	{ "default", 0 },
	{ "ipa_32", KVM_VM_TYPE_ARM_IPA_SIZE(32) },
	{ "ipa_max", 0 },	/* filled from KVM_CAP_ARM_VM_IPA_SIZE */
};
#elif defined(__powerpc64__)
/* Default (KVM-HV when it is loaded), HV and PR asked for by name. */
static const struct vm_type arch_vm_types[] = {
	{ "default", 0 },
	{ "hv", KVM_VM_PPC_HV },
	{ "pr", KVM_VM_PPC_PR },
};
#else
static const struct vm_type arch_vm_types[] = {
	{ "default", 0 },
};
#endif

#define NR_VM_TYPES	(sizeof(arch_vm_types) / sizeof(arch_vm_types[0]))

struct type_probe {
	const char *name;
	unsigned long type;
	int created;		/* 1, or 0 with @err why not */
	int err;
	int cap;		/* KVM_CAP_PRE_FAULT_MEMORY on its fd, or -errno */
};

static void probe_type(int kvm_fd, const struct vm_type *t, struct type_probe *p)
{
	int vm_fd;

	p->name = t->name;
	p->type = t->type;
#if defined(__aarch64__)
	if (!strcmp(t->name, "ipa_max")) {
		int ipa = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);

		p->type = ipa > 0 ? KVM_VM_TYPE_ARM_IPA_SIZE(ipa) : 0;
	}
#endif
#if defined(__x86_64__)
	{
		int types = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);

		/* err 0: KVM does not offer the type, nothing was tried. */
		if (types >= 0 && !(types & (1 << t->type))) {
			p->created = 0;
			p->err = 0;
			p->cap = 0;
			return;
		}
	}
#endif
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, p->type);
	p->created = vm_fd >= 0;
	p->err = vm_fd < 0 ? errno : 0;
	p->cap = vm_fd < 0 ? 0 : kvmpf_probe(vm_fd, NULL);
	if (vm_fd >= 0)
		close(vm_fd);
}

static const char *why_not(const struct type_probe *p)
{
	return p->err ? strerrorname_np(p->err) : "not offered";
}

static int cmd_probe(const struct options *o)
{
	struct type_probe probes[NR_VM_TYPES];
	int kvm_fd, dev_cap;
	size_t i;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stderr, "kvm-prefault: /dev/kvm: %s\n", strerror(errno));
		return EXIT_FAILED;
	}
	dev_cap = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY);
	for (i = 0; i < NR_VM_TYPES; i++)
		probe_type(kvm_fd, &arch_vm_types[i], &probes[i]);
	close(kvm_fd);

	if (o->json) {
		printf("{\"arch\": \"%s\", \"kernel\": \"%s\", \"dev_kvm\": %d, \"vm_types\": [",
		       host()->machine, host()->release, dev_cap);
		for (i = 0; i < NR_VM_TYPES; i++) {
			char error[40] = "null";

			if (!probes[i].created)
				snprintf(error, sizeof(error), "\"%s\"", why_not(&probes[i]));
			printf("%s\n  {\"name\": \"%s\", \"type\": %lu, \"created\": %s, "
			       "\"error\": %s, \"pre_fault\": %d}",
			       i ? "," : "", probes[i].name, probes[i].type,
			       probes[i].created ? "true" : "false", error, probes[i].cap);
		}
		printf("\n]}\n");
		return 0;
	}
	printf("kvm-prefault probe: %s, Linux %s\n", host()->machine, host()->release);
	printf("KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm: %d\n\n", dev_cap);
	printf("| %-14s | %-10s | %-22s | %-9s |\n", "VM type", "type", "created", "pre-fault");
	printf("|%s|%s|%s|%s|\n", "----------------", "------------",
	       "------------------------", "-----------");
	for (i = 0; i < NR_VM_TYPES; i++) {
		char created[32] = "yes";

		if (!probes[i].created)
			snprintf(created, sizeof(created), "no (%s)", why_not(&probes[i]));
		printf("| %-14s | 0x%-8lx | %-22s | %-9s |\n", probes[i].name,
		       probes[i].type, created,
		       !probes[i].created ? "-" : probes[i].cap == 1 ? "yes" :
		       probes[i].cap == 0 ? "no" : strerrorname_np(-probes[i].cap));
	}
	return 0;
}

/* ---- shared by demo and bench --------------------------------------- */

/* Host bytes of [addr, addr + size) mapped by transparent huge pages. */
static uint64_t host_thp_bytes(void *addr, uint64_t size)
{
	unsigned long start, end, kb;
	uint64_t total = 0;
	char line[256];
	int in_vma = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in_vma = start < (unsigned long)addr + size &&
				 (unsigned long)addr < end;
		else if (in_vma && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			total += (uint64_t)kb << 10;
	}
	fclose(f);
	return total < size ? total : size;
}

/* Pre-fault steps and the leaves they mapped, from the vCPU statistics. */
struct steps {
	uint64_t steps;
	uint64_t hist[HIST_BUCKETS];	/* bucket fls64(bytes) */
};

static int read_steps(struct vm *vm, struct steps *s)
{
	int64_t n = vm_vcpu_stat(vm, 0, "pre_fault_steps");

	if (n < 0)
		return -ENOENT;
	s->steps = n;
	return vm_vcpu_stat_array(vm, 0, "pre_fault_step_bytes_hist", s->hist,
				  HIST_BUCKETS) < 0 ? -ENOENT : 0;
}

static void steps_delta(struct steps *after, const struct steps *before)
{
	int i;

	after->steps -= before->steps;
	for (i = 0; i < HIST_BUCKETS; i++)
		after->hist[i] -= before->hist[i];
}

/* "4096 x 4K, 8 x 2M": the leaf sizes a pre-fault got. */
static void format_leaves(const struct steps *s, char *buf, size_t len)
{
	static const char *const unit[] = { "", "K", "M", "G" };
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 1; i < HIST_BUCKETS; i++) {
		uint64_t size = 1ULL << (i - 1);	/* bucket i: [2^(i-1), 2^i) */
		int u = 0;

		if (!s->hist[i])
			continue;
		while (size >= 1024 && u < 3) {
			size >>= 10;
			u++;
		}
		used += snprintf(buf + used, len - used, "%s%llu x %llu%s",
				 used ? ", " : "", (unsigned long long)s->hist[i],
				 (unsigned long long)size, unit[u]);
		if (used >= len)
			break;
	}
	if (!used)
		snprintf(buf, len, "none");
}

/* Does a VM of the default type have the capability?  Says why not. */
static int can_prefault(void)
{
	char err[160];
	int cap;

	if (vm_pre_fault_capability(&cap, NULL, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault: %s\n", err);
		return 0;
	}
	if (cap != 1)
		fprintf(stderr, "kvm-prefault: this VM cannot pre-fault (%s)\n",
			cap < 0 ? strerror(-cap) : "KVM_CAP_PRE_FAULT_MEMORY is 0");
	return cap == 1;
}

/* ---- one guest's first touch, shared by demo and bench --------------- */

enum touch { TOUCH_NONE, TOUCH_READ, TOUCH_WRITE };
enum phase { PHASE_NONE, PHASE_PREFAULT, PHASE_TOUCH };
enum prep { PREP_NONE, PREP_PREFAULT, PREP_POPULATE_PREFAULT };

static const char *const touch_name[] = { "none", "read", "write" };
static const char *const prep_name[] = { "none", "prefault", "populate+prefault" };

/* One guest run: the slot, its preparation and the guest's touch. */
struct touch_case {
	uint64_t size;
	int advice;		/* MADV_NOHUGEPAGE or MADV_HUGEPAGE for the host */
	int fill;		/* the host writes a pattern first */
	enum prep prep;
	enum touch touch;
	const struct kvmpf_options *opts;	/* for the pre-fault, or NULL */
	enum phase profile;	/* the phase the kernel's profiler records */
};

struct sample {
	int64_t exits;		/* while the guest touched the slot */
	double populate_s, prefault_s, touch_s;
	uint64_t calls;		/* KVM_PRE_FAULT_MEMORY ioctls */
	struct steps steps;	/* backend steps and their leaves */
	uint64_t host_thp;	/* bytes the host backs with huge pages */
	int data_ok;		/* a read saw what the host wrote */
};

static int profile_enable(int on);

/*
 * A fresh VM with a slot as @c says, prepared, then touched by the guest
 * one word per page.  MADV_NOHUGEPAGE gives 4 KiB host pages: the case
 * pre-faulting exists for.
 */
static int touch_once(const struct touch_case *c, struct sample *s,
		      char *err, size_t len)
{
	const uint64_t size = c->size;
	uint64_t page = sysconf(_SC_PAGESIZE);
	uint32_t expect = 0, got = 0;
	struct kvmpf_result res;
	struct steps before;
	int64_t exits;
	struct vm vm;
	uint64_t t0;
	int r;

	memset(s, 0, sizeof(*s));
	r = vm_create(&vm);
	r = r ? r : vm_add_data_slot(&vm, size, 0);
	if (!r && madvise(vm.data, size, c->advice))
		r = vm_fail(&vm, -errno, "madvise(%d)", c->advice);
	if (!r && c->fill)
		expect = vm_fill_data(&vm, page);
	if (!r && c->prep == PREP_POPULATE_PREFAULT) {
		t0 = now_ns();
		r = kvmpf_populate_write(vm.data, size, &res);
		s->populate_s = seconds_since(t0);
		if (r)
			vm_fail(&vm, r, "%s", res.msg);
	}
	if (!r)
		s->host_thp = host_thp_bytes(vm.data, size);
	if (!r && c->prep != PREP_NONE) {
		if (read_steps(&vm, &before))
			memset(&before, 0, sizeof(before));
		if (c->profile == PHASE_PREFAULT)
			r = profile_enable(1);
		t0 = now_ns();
		r = r ? r : kvmpf_prefault(vm.vcpu[0].fd, VM_DATA_GPA, size, c->opts, &res);
		s->prefault_s = seconds_since(t0);
		if (c->profile == PHASE_PREFAULT)
			profile_enable(0);
		s->calls = res.calls;
		if (r)
			vm_fail(&vm, r, "pre-fault: %s", res.msg);
		else if (!read_steps(&vm, &s->steps))
			steps_delta(&s->steps, &before);
	}
	if (!r) {
		exits = vm_vcpu_guest_exits(&vm, 0);
		if (c->profile == PHASE_TOUCH)
			r = profile_enable(1);
		t0 = now_ns();
		r = r ? r : vm_run_guest(&vm, 0, VM_DATA_GPA, c->touch == TOUCH_NONE ? 0 : size,
					 page, c->touch == TOUCH_WRITE ? VM_GUEST_WRITE : VM_GUEST_READ,
					 &got);
		s->touch_s = seconds_since(t0);
		if (c->profile == PHASE_TOUCH)
			profile_enable(0);
		s->exits = vm_vcpu_guest_exits(&vm, 0) - exits;
		s->data_ok = !c->fill || c->touch != TOUCH_READ || got == expect;
		if (!r && exits < 0)
			r = vm_fail(&vm, -ENOENT, "no vCPU exit statistics");
	}
	if (r)
		snprintf(err, len, "%s", vm.err);
	vm_destroy(&vm);
	return r;
}

/* ---- demo ------------------------------------------------------------ */

static void demo_progress(uint64_t done, uint64_t total, void *opaque)
{
	uint64_t *next = opaque;

	/* A line per quarter: the library calls back after every ioctl. */
	if (done < *next && done != total)
		return;
	printf("  pre-fault: %3llu%% (%llu of %llu MiB)\n",
	       (unsigned long long)(done * 100 / total),
	       (unsigned long long)(done / MIB), (unsigned long long)(total / MIB));
	*next = done + total / 4;
}

static int cmd_demo(const struct options *o)
{
	uint64_t page = sysconf(_SC_PAGESIZE), pages = o->size / page;
	uint64_t next = o->size / 4;
	/* 16 ioctls: enough for a progress line per quarter. */
	struct kvmpf_options opts = {
		.progress = demo_progress, .opaque = &next,
		.chunk = (o->size / 16 + page - 1) / page * page,
	};
	struct touch_case pre_faulted = {
		.size = o->size, .advice = MADV_NOHUGEPAGE, .fill = 1,
		.prep = PREP_PREFAULT, .touch = TOUCH_READ, .opts = &opts,
	}, faulting = pre_faulted;
	struct sample with, without;
	char err[160], leaves[160];

	printf("kvm-prefault demo: %s, Linux %s, a %llu MiB slot of %llu-byte pages\n",
	       host()->machine, host()->release, (unsigned long long)(o->size / MIB),
	       (unsigned long long)page);
	if (!can_prefault())
		return EXIT_FAILED;
	faulting.prep = PREP_NONE;
	if (touch_once(&pre_faulted, &with, err, sizeof(err)) ||
	    touch_once(&faulting, &without, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault: %s\n", err);
		return EXIT_FAILED;
	}
	format_leaves(&with.steps, leaves, sizeof(leaves));
	printf("\n| %-34s | %-24s | %-24s |\n", "", "pre-faulted", "not pre-faulted");
	printf("|%s|%s|%s|\n", "------------------------------------",
	       "--------------------------", "--------------------------");
	printf("| %-34s | %-24llu | %-24s |\n", "KVM_PRE_FAULT_MEMORY ioctls",
	       (unsigned long long)with.calls, "-");
	printf("| %-34s | %-24llu | %-24s |\n", "backend steps",
	       (unsigned long long)with.steps.steps, "-");
	printf("| %-34s | %-24s | %-24s |\n", "stage-2 leaves mapped", leaves, "-");
	printf("| %-34s | %-24.3f | %-24s |\n", "pre-fault time (ms)",
	       with.prefault_s * 1e3, "-");
	printf("| %-34s | %-24lld | %-24lld |\n", "guest-caused exits while reading",
	       (long long)with.exits, (long long)without.exits);
	printf("| %-34s | %-24.3f | %-24.3f |\n", "guest read time (ms)",
	       with.touch_s * 1e3, without.touch_s * 1e3);
	printf("| %-34s | %-24s | %-24s |\n", "guest saw the host's data",
	       with.data_ok ? "yes" : "NO", without.data_ok ? "yes" : "NO");
	printf("\nThe guest read %llu pages; pre-faulted, it exited %lld times.\n",
	       (unsigned long long)pages, (long long)with.exits);
	return with.data_ok && without.data_ok ? 0 : EXIT_FAILED;
}

/* ---- bench ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row {
	enum touch touch;
	enum prep prep;
	struct sample s;	/* medians over the repetitions */
	/* Derived: per page, and relative to the same touch unprepared. */
	double ns_per_page, exits_ratio, total_ratio;
};

/* Medians of @reps runs of one case, the runs interleaved by the caller. */
static void fold(struct row *row, const struct sample *runs, unsigned int reps)
{
	double v[4][64];
	unsigned int i;

	row->s = runs[0];
	for (i = 0; i < reps; i++) {
		v[0][i] = runs[i].exits;
		v[1][i] = runs[i].populate_s;
		v[2][i] = runs[i].prefault_s;
		v[3][i] = runs[i].touch_s;
	}
	row->s.exits = (int64_t)median(v[0], reps);
	row->s.populate_s = median(v[1], reps);
	row->s.prefault_s = median(v[2], reps);
	row->s.touch_s = median(v[3], reps);
}

/* What @row's ratios are to: the same touch without any preparation. */
static const struct row *base_of(const struct row *rows, unsigned int n,
				 const struct row *row)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (rows[i].touch == row->touch && rows[i].prep == PREP_NONE)
			return &rows[i];
	return row;
}

static double total_s(const struct sample *s)
{
	return s->populate_s + s->prefault_s + s->touch_s;
}

/*
 * Seconds to pre-fault a fresh slot of @size on 4 KiB host pages, which
 * the host never touched or, with @populate, populated writable first,
 * with @n vCPUs on equal parts, one thread each; a single vCPU goes
 * through the same threaded path, so only the split differs.
 */
static int parallel_once(uint64_t size, int populate, unsigned int n,
			 double *seconds, char *err, size_t len)
{
	int fds[VM_MAX_VCPUS];
	struct kvmpf_result res;
	struct vm vm;
	unsigned int i;
	uint64_t t0;
	int r;

	r = vm_create(&vm);
	for (i = 1; !r && i < n; i++)
		r = vm_add_vcpu(&vm) < 0 ? vm_fail(&vm, -EINVAL, "no vCPU %u", i) : 0;
	r = r ? r : vm_add_data_slot(&vm, size, 0);
	if (!r && madvise(vm.data, size, MADV_NOHUGEPAGE))
		r = vm_fail(&vm, -errno, "madvise");
	if (!r && populate && kvmpf_populate_write(vm.data, size, &res))
		r = vm_fail(&vm, -EIO, "populate: %s", res.msg);
	for (i = 0; !r && i < n; i++)
		fds[i] = vm.vcpu[i].fd;
	if (!r) {
		t0 = now_ns();
		r = kvmpf_prefault_parallel(fds, n, VM_DATA_GPA, size, NULL, &res);
		*seconds = seconds_since(t0);
		if (r)
			vm_fail(&vm, r, "pre-fault with %u vCPUs: %s", n, res.msg);
	}
	if (r)
		snprintf(err, len, "%s", vm.err);
	vm_destroy(&vm);
	return r;
}

/*
 * A row of the per-page table: @ns, and with @of_what its ratio to @of_ns
 * against the upper @target: "met" or "MISSED (x1.7 the target)".
 */
static void per_page_row(const char *what, double ns, double of_ns,
			 const char *of_what, double target)
{
	char ratio[64] = "", verdict[64] = "";

	if (of_what) {
		snprintf(ratio, sizeof(ratio), "%.3f of %s", ns / of_ns, of_what);
		if (ns / of_ns <= target)
			snprintf(verdict, sizeof(verdict), "<= %.3f: met", target);
		else
			snprintf(verdict, sizeof(verdict), "<= %.3f: MISSED (x%.1f the target)",
				 target, ns / of_ns / target);
	}
	printf("| %-40s | %9.0f | %-28s | %-30s |\n", what, ns, ratio, verdict);
}

static int cmd_bench(const struct options *o)
{
	static const struct { enum touch touch; enum prep prep; } cases[] = {
		{ TOUCH_NONE, PREP_NONE },
		{ TOUCH_READ, PREP_NONE },
		{ TOUCH_READ, PREP_PREFAULT },
		{ TOUCH_READ, PREP_POPULATE_PREFAULT },
		{ TOUCH_WRITE, PREP_NONE },
		{ TOUCH_WRITE, PREP_PREFAULT },
		{ TOUCH_WRITE, PREP_POPULATE_PREFAULT },
	};
	enum { NR_CASES = sizeof(cases) / sizeof(cases[0]) };
	uint64_t page = sysconf(_SC_PAGESIZE), pages = o->size / page;
	static struct sample runs[NR_CASES][64];
	struct row rows[NR_CASES];
	const struct row *base, *untouched = &rows[0];
	/* Host-populated THP backing, pre-faulted, untouched by the guest. */
	const struct touch_case thp_case = {
		.size = o->thp_size, .advice = MADV_HUGEPAGE,
		.prep = PREP_POPULATE_PREFAULT, .touch = TOUCH_NONE,
	};
	struct touch_case c = {
		.size = o->size, .advice = MADV_NOHUGEPAGE,
	};
	struct sample thp;
	char err[160], leaves[160];
	double par[2][2][64], par_s[2][2];	/* [populated][vCPUs - 1] */
	unsigned int pop;
	double fault_ns, prefault_ns, prefault_pop_ns, populate_ns;
	unsigned int i, rep;
	int ok = 1;

	printf("kvm-prefault bench: %s, Linux %s; %llu MiB slot, %llu pages of %llu bytes, median of %u runs\n",
	       host()->machine, host()->release, (unsigned long long)(o->size / MIB),
	       (unsigned long long)pages, (unsigned long long)page, o->reps);
	if (!can_prefault())
		return EXIT_FAILED;
	/* Interleaved repetitions: a slow phase of the machine hits every case. */
	for (rep = 0; rep < o->reps; rep++) {
		for (i = 0; i < NR_CASES; i++) {
			c.touch = cases[i].touch;
			c.prep = cases[i].prep;
			if (touch_once(&c, &runs[i][rep], err, sizeof(err))) {
				fprintf(stderr, "kvm-prefault bench: %s/%s: %s\n",
					touch_name[cases[i].touch],
					prep_name[cases[i].prep], err);
				return EXIT_FAILED;
			}
		}
		for (pop = 0; pop < 2; pop++)
			for (i = 0; i < 2; i++)
				if (parallel_once(o->size, pop, i + 1, &par[pop][i][rep],
						  err, sizeof(err))) {
					fprintf(stderr, "kvm-prefault bench: parallel: %s\n", err);
					return EXIT_FAILED;
				}
	}
	for (pop = 0; pop < 2; pop++)
		for (i = 0; i < 2; i++)
			par_s[pop][i] = median(par[pop][i], o->reps);
	for (i = 0; i < NR_CASES; i++) {
		rows[i].touch = cases[i].touch;
		rows[i].prep = cases[i].prep;
		fold(&rows[i], runs[i], o->reps);
	}
	for (i = 0; i < NR_CASES; i++) {
		const struct sample *s = &rows[i].s;

		base = base_of(rows, NR_CASES, &rows[i]);
		rows[i].ns_per_page = total_s(s) * 1e9 / pages;
		rows[i].exits_ratio = base->s.exits ? (double)s->exits / base->s.exits : 0;
		rows[i].total_ratio = total_s(&base->s) > 0 ?
				      total_s(s) / total_s(&base->s) : 0;
	}

	printf("\n| %-5s | %-17s | %7s | %9s | %9s | %9s | %9s | %8s | %8s | %8s |\n",
	       "touch", "preparation", "exits", "populate", "pre-fault", "touch",
	       "total", "ns/page", "exits x", "total x");
	printf("|-------|-------------------|---------|-----------|-----------|-----------|-----------|----------|----------|----------|\n");
	for (i = 0; i < NR_CASES; i++) {
		const struct sample *s = &rows[i].s;

		printf("| %-5s | %-17s | %7lld | %7.2fms | %7.2fms | %7.2fms | %7.2fms | %8.0f | %8.4f | %8.3f |\n",
		       touch_name[rows[i].touch], prep_name[rows[i].prep],
		       (long long)s->exits, s->populate_s * 1e3, s->prefault_s * 1e3,
		       s->touch_s * 1e3, total_s(s) * 1e3, rows[i].ns_per_page,
		       rows[i].exits_ratio, rows[i].total_ratio);
	}

	/*
	 * Per 4 KiB page, all from this run.  The guest's own stage-2 fault
	 * is its read-first touch less the same touch after a pre-fault (the
	 * guest's loop without faults); host populate is MADV_POPULATE_WRITE.
	 */
	fault_ns = (rows[1].s.touch_s - rows[2].s.touch_s) * 1e9 / pages;
	prefault_ns = rows[2].s.prefault_s * 1e9 / pages;
	prefault_pop_ns = rows[3].s.prefault_s * 1e9 / pages;
	populate_ns = rows[3].s.populate_s * 1e9 / pages;
	printf("\nPer 4 KiB page, from this run:\n"
	       "| %-40s | %9s | %-28s | %-30s |\n"
	       "|------------------------------------------|-----------|------------------------------|--------------------------------|\n",
	       "", "ns", "ratio", "target");
	per_page_row("guest stage-2 fault (read-first touch)", fault_ns, 0, NULL, 0);
	per_page_row("pre-fault, memory the host never touched", prefault_ns,
		     fault_ns, "a guest fault", 0.1);
	per_page_row("host populate (MADV_POPULATE_WRITE)", populate_ns, 0, NULL, 0);
	per_page_row("pre-fault, host-populated memory", prefault_pop_ns,
		     populate_ns, "host populate", 0.25);
	printf("\nParallel pre-fault of %llu MiB, 1 vCPU on the whole vs 2 vCPUs on halves:\n",
	       (unsigned long long)(o->size / MIB));
	for (pop = 0; pop < 2; pop++)
		printf("  %-34s 1 vCPU %8.2f ms, 2 vCPUs %8.2f ms: %.2fx\n",
		       pop ? "memory the host populated:" : "memory the host never touched:",
		       par_s[pop][0] * 1e3, par_s[pop][1] * 1e3,
		       par_s[pop][0] / par_s[pop][1]);

	if (o->thp_size && touch_once(&thp_case, &thp, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault bench: THP slot: %s\n", err);
		return EXIT_FAILED;
	}
	if (o->thp_size) {
		format_leaves(&thp.steps, leaves, sizeof(leaves));
		printf("\nTHP-backed %llu MiB slot, populated by the host (%llu MiB in huge pages):\n"
		       "  pre-fault %.2f ms in %llu backend steps; leaves: %s\n",
		       (unsigned long long)(o->thp_size / MIB),
		       (unsigned long long)(thp.host_thp / MIB), thp.prefault_s * 1e3,
		       (unsigned long long)thp.steps.steps, leaves);
	}

	/*
	 * What a pre-fault promises: a guest touching pre-faulted pages first
	 * (reading, or writing after populate-write) takes no more exits than
	 * a guest touching nothing, within 1% of the pages.
	 */
	for (i = 0; i < NR_CASES; i++) {
		const struct sample *w = &rows[i].s;
		int64_t limit = untouched->s.exits + (int64_t)(pages / 100);
		int pass;

		if (rows[i].prep == PREP_NONE ||
		    (rows[i].touch == TOUCH_WRITE && rows[i].prep == PREP_PREFAULT))
			continue;
		pass = w->exits <= limit;
		ok &= pass;
		printf("%scheck: %s-first after %s: %lld exits, untouched guest %lld, limit %lld: %s\n",
		       i == 2 ? "\n" : "", touch_name[rows[i].touch], prep_name[rows[i].prep],
		       (long long)w->exits, (long long)untouched->s.exits,
		       (long long)limit, pass ? "ok" : "FAILED");
	}
	/* A host-populated THP slot: one 2 MiB leaf per huge page, no more. */
	if (o->thp_size && thp.host_thp == o->thp_size) {
		uint64_t blocks = o->thp_size >> 21;
		int pass = thp.steps.hist[HIST_2M] == blocks &&
			   thp.steps.hist[HIST_4K] == 0;

		ok &= pass;
		printf("check: THP slot: %llu x 2M leaves, %llu x 4K, want %llu x 2M: %s\n",
		       (unsigned long long)thp.steps.hist[HIST_2M],
		       (unsigned long long)thp.steps.hist[HIST_4K],
		       (unsigned long long)blocks, pass ? "ok" : "FAILED");
	}
#if defined(__powerpc64__)
	printf("note: KVM_RUN returned with the caller's floating-point registers lost %u times (put back; see README)\n",
	       atomic_load(&vm_fp_clobbers));
#endif

	/* Machine-readable copies for scripts/bench.sh. */
	printf("\n-- csv first-touch --\n"
	       "arch,touch,preparation,pages,exits,populate_ms,prefault_ms,touch_ms,total_ms,ns_per_page,exits_ratio,total_ratio,prefault_steps\n");
	for (i = 0; i < NR_CASES; i++) {
		const struct sample *s = &rows[i].s;

		printf("%s,%s,%s,%llu,%lld,%.3f,%.3f,%.3f,%.3f,%.1f,%.4f,%.4f,%llu\n",
		       host()->machine, touch_name[rows[i].touch], prep_name[rows[i].prep],
		       (unsigned long long)pages, (long long)s->exits,
		       s->populate_s * 1e3, s->prefault_s * 1e3, s->touch_s * 1e3,
		       total_s(s) * 1e3, rows[i].ns_per_page, rows[i].exits_ratio,
		       rows[i].total_ratio, (unsigned long long)s->steps.steps);
	}
	printf("-- end --\n");
	printf("-- csv per-page --\n"
	       "arch,pages,guest_fault_ns,prefault_ns,populate_ns,prefault_populated_ns,prefault_vs_fault,prefault_populated_vs_populate,prefault_steps,prefault_leaves_4k,parallel_1_ms,parallel_2_ms,parallel_speedup,parallel_populated_1_ms,parallel_populated_2_ms,parallel_populated_speedup\n");
	printf("%s,%llu,%.1f,%.1f,%.1f,%.1f,%.4f,%.4f,%llu,%llu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n",
	       host()->machine, (unsigned long long)pages, fault_ns, prefault_ns,
	       populate_ns, prefault_pop_ns, prefault_ns / fault_ns,
	       prefault_pop_ns / populate_ns, (unsigned long long)rows[2].s.steps.steps,
	       (unsigned long long)rows[2].s.steps.hist[HIST_4K], par_s[0][0] * 1e3,
	       par_s[0][1] * 1e3, par_s[0][0] / par_s[0][1], par_s[1][0] * 1e3,
	       par_s[1][1] * 1e3, par_s[1][0] / par_s[1][1]);
	printf("-- end --\n");
	if (o->thp_size) {
		printf("-- csv thp-slot --\n"
		       "arch,slot_mib,host_thp_mib,populate_ms,prefault_ms,steps,leaves_4k,leaves_2m,leaves_1g,leaves_other\n");
		printf("%s,%llu,%llu,%.3f,%.3f,%llu,%llu,%llu,%llu,%llu\n", host()->machine,
		       (unsigned long long)(o->thp_size / MIB),
		       (unsigned long long)(thp.host_thp / MIB), thp.populate_s * 1e3,
		       thp.prefault_s * 1e3, (unsigned long long)thp.steps.steps,
		       (unsigned long long)thp.steps.hist[HIST_4K],
		       (unsigned long long)thp.steps.hist[HIST_2M],
		       (unsigned long long)thp.steps.hist[HIST_1G],
		       (unsigned long long)(thp.steps.steps - thp.steps.hist[HIST_4K] -
					    thp.steps.hist[HIST_2M] -
					    thp.steps.hist[HIST_1G]));
		printf("-- end --\n");
	}
	return ok ? 0 : EXIT_FAILED;
}

/* ---- profile --------------------------------------------------------- */

#define PROFILE_MAX	64

/*
 * The functions a profile times, children included: the steps of a
 * pre-fault and of the guest's own stage-2 fault on every arch.  Names a
 * kernel lacks (another arch's, or inlined) are left out.
 */
static const char *const profile_functions[] = {
	/* generic */
	"kvm_vcpu_pre_fault_memory", "kvm_arch_vcpu_pre_fault_memory",
	"kvm_arch_pre_fault_run_pages", "kvm_arch_pre_fault_map_run",
	"__gfn_to_pfn_memslot", "get_user_pages_unlocked",
	"get_user_pages_fast_only", "handle_mm_fault", "kvm_release_page_clean",
	"kvm_release_page_dirty", "kvm_release_pfn_clean",
	"kvm_mmu_topup_memory_cache", "mark_page_dirty_in_slot",
	"kvm_pre_fault_may_continue", "kvm_arch_vcpu_ioctl_run",
	/* arm64 */
	"kvm_handle_guest_abort", "user_mem_abort", "kvm_pgtable_stage2_map",
	"kvm_pgtable_stage2_map_pages", "kvm_pgtable_get_leaf", "kvm_pgtable_walk",
	"kvm_s2_handle_access_fault", "handle_exit",
	/* riscv */
	"kvm_riscv_vcpu_exit", "kvm_riscv_gstage_map", "kvm_riscv_gstage_map_pages",
	"kvm_riscv_gstage_mkyoung", "kvm_riscv_gstage_unmapped_pages",
	"kvm_riscv_hfence_gvma_vmid_gpa", "kvm_riscv_gstage_lookup",
	/* x86 */
	"kvm_mmu_page_fault", "kvm_tdp_page_fault", "kvm_tdp_mmu_map",
	"__kvm_faultin_pfn", "kvm_faultin_pfn", "kvm_tdp_mmu_walk_lockless_begin",
	"npf_interception", "svm_handle_exit",
	/* powerpc (KVM-HV radix) */
	"kvmppc_book3s_radix_page_fault", "kvmppc_book3s_instantiate_page",
	"kvmppc_create_pte", "kvmhv_pre_fault_memory", "kvmppc_hv_emulate_mmio",
	"kvmppc_handle_exit_hv", "kvmhv_run_single_vcpu",
};

/* Starting the profiler clears what it recorded before. */
static int profile_enable(int on)
{
	return tracefs_write("function_profile_enabled", on ? "1" : "0", 0);
}

struct profile_entry {
	char name[64];
	uint64_t hits;
	double us;
};

/* The profiler's per-CPU tables, summed per function. */
static unsigned int profile_read(struct profile_entry *e, unsigned int max)
{
	char path[128], line[256], name[64], unit[8];
	unsigned long long hits;
	unsigned int n = 0, i, cpu;
	double t;
	FILE *f;

	for (cpu = 0; cpu < 64; cpu++) {
		snprintf(path, sizeof(path), TRACEFS "/trace_stat/function%u", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, " %63s %llu %lf %7s", name, &hits, &t, unit) != 4)
				continue;
			if (!strcmp(unit, "ms"))
				t *= 1e3;
			else if (!strcmp(unit, "ns"))
				t /= 1e3;
			for (i = 0; i < n && strcmp(e[i].name, name); i++)
				;
			if (i == n) {
				if (n == max)
					continue;
				snprintf(e[n].name, sizeof(e[n].name), "%s", name);
				e[n].hits = 0;
				e[n].us = 0;
				n++;
			}
			e[i].hits += hits;
			e[i].us += t;
		}
		fclose(f);
	}
	return n;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct profile_entry *x = a, *y = b;

	return x->us < y->us ? 1 : x->us > y->us ? -1 : 0;
}

static int cmd_profile(const struct options *o)
{
	static const struct {
		const char *what;
		enum prep prep;
		enum touch touch;
		enum phase phase;
	} cases[] = {
		{ "guest stage-2 read fault", PREP_NONE, TOUCH_READ, PHASE_TOUCH },
		{ "pre-fault, memory the host never touched", PREP_PREFAULT, TOUCH_NONE, PHASE_PREFAULT },
		{ "pre-fault, host-populated memory", PREP_POPULATE_PREFAULT, TOUCH_NONE, PHASE_PREFAULT },
	};
	uint64_t page = sysconf(_SC_PAGESIZE), pages = o->size / page;
	struct profile_entry e[PROFILE_MAX];
	unsigned int i, j, n, accepted = 0;
	char err[160];

	printf("kvm-prefault profile: %s, Linux %s; %llu pages of %llu bytes, untouched by the guest before\n",
	       host()->machine, host()->release, (unsigned long long)pages,
	       (unsigned long long)page);
	if (!can_prefault())
		return EXIT_FAILED;
	if (tracefs_write("set_ftrace_filter", "\n", 0)) {
		fprintf(stderr, "kvm-prefault: no tracefs at " TRACEFS " (or not root)\n");
		return EXIT_FAILED;
	}
	for (i = 0; i < sizeof(profile_functions) / sizeof(profile_functions[0]); i++)
		accepted += !tracefs_write("set_ftrace_filter", profile_functions[i], 1);
	/* An empty filter would profile every function in the kernel. */
	if (!accepted || profile_enable(0)) {
		fprintf(stderr, "kvm-prefault: the kernel has no function profiler (CONFIG_FUNCTION_PROFILER)\n");
		return EXIT_FAILED;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct touch_case c = {
			.size = o->size, .advice = MADV_NOHUGEPAGE,
			.prep = cases[i].prep, .touch = cases[i].touch,
			.profile = cases[i].phase,
		};
		struct sample s;
		double total;

		if (touch_once(&c, &s, err, sizeof(err))) {
			profile_enable(0);
			fprintf(stderr, "kvm-prefault profile: %s: %s\n", cases[i].what, err);
			return EXIT_FAILED;
		}
		total = (cases[i].phase == PHASE_TOUCH ? s.touch_s : s.prefault_s) * 1e6;
		n = profile_read(e, PROFILE_MAX);
		qsort(e, n, sizeof(e[0]), cmp_entry);
		printf("\n%s: %.0f us in all, %.2f us per page (time under the profiler)\n",
		       cases[i].what, total, total / pages);
		printf("| %-34s | %9s | %11s | %11s | %6s |\n", "function (children included)",
		       "calls", "total us", "us per page", "share");
		printf("|------------------------------------|-----------|-------------|-------------|--------|\n");
		for (j = 0; j < n; j++)
			printf("| %-34s | %9llu | %11.0f | %11.3f | %5.1f%% |\n", e[j].name,
			       (unsigned long long)e[j].hits, e[j].us, e[j].us / pages,
			       total > 0 ? e[j].us * 100 / total : 0);
	}
	tracefs_write("set_ftrace_filter", "\n", 0);
	return 0;
}

/* ---- command line ---------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvm-prefault probe [--json]\n"
		"       kvm-prefault demo [--size MIB]\n"
		"       kvm-prefault bench [--size MIB] [--reps N] [--thp-size MIB]\n"
		"       kvm-prefault profile [--size MIB]\n"
		"\n"
		"  probe   KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm and on a VM of each type\n"
		"  demo    pre-fault a slot (default 64 MiB), then a guest reads every\n"
		"          page; the same without pre-fault, side by side\n"
		"  bench   guest first touch, read and write, with no pre-fault, with\n"
		"          pre-fault, with populate-write + pre-fault (median of --reps,\n"
		"          default 3); then pre-fault of a host-populated THP-backed\n"
		"          slot (--thp-size, default 1024 MiB, 0 to skip); per 4 KiB page:\n"
		"          guest fault, pre-fault, host populate; 1 and 2 vCPUs in parallel\n"
		"  profile where a guest fault's and a pre-fault's time goes, per kernel\n"
		"          function (the kernel's function profiler, through tracefs)\n"
		"\n"
		"exit status: 0 success, 1 a KVM call or a bench check failed, 2 usage\n");
}

/* A size in MiB, 1..65536, or 0 when @allow_zero; -1 when malformed. */
static int64_t parse_mib(const char *s, int allow_zero)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > 65536 || (!v && !allow_zero))
		return -1;
	return (int64_t)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "thp-size", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	struct options o = { .size = 64 * MIB, .thp_size = 1024 * MIB, .reps = 3 };
	static const struct {
		const char *name;
		int (*run)(const struct options *o);
		unsigned int opts;
	} cmds[] = {
		{ "probe", cmd_probe, OPT_JSON },
		{ "demo", cmd_demo, OPT_SIZE },
		{ "bench", cmd_bench, OPT_SIZE | OPT_REPS | OPT_THP_SIZE },
		{ "profile", cmd_profile, OPT_SIZE },
	};
	unsigned int i;
	const char *cmd;
	int64_t v;
	int c;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "kvm-prefault: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = 1;
			o.given |= OPT_JSON;
			break;
		case 's':
		case 't':
			v = parse_mib(optarg, c == 't');
			if (v < 0) {
				fprintf(stderr, "kvm-prefault: --%s wants MiB (%s1..65536), not '%s'\n",
					c == 's' ? "size" : "thp-size", c == 't' ? "0, " : "",
					optarg);
				return EXIT_USAGE;
			}
			*(c == 's' ? &o.size : &o.thp_size) = (uint64_t)v * MIB;
			o.given |= c == 's' ? OPT_SIZE : OPT_THP_SIZE;
			break;
		case 'r':
			v = parse_mib(optarg, 0);
			if (v < 1 || v > 64) {
				fprintf(stderr, "kvm-prefault: --reps wants 1..64, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			o.reps = v;
			o.given |= OPT_REPS;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvm-prefault: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (o.given & ~cmds[i].opts) {
		fprintf(stderr, "kvm-prefault: %s takes no such option (see --help)\n", cmd);
		return EXIT_USAGE;
	}
	return cmds[i].run(&o);
}
