// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault bench: guest first touch (read and write) with no
 * pre-fault, with pre-fault, and with populate-write + pre-fault; and the
 * pre-fault of a host-populated THP-backed slot; per-page costs and 1 vs 2
 * vCPUs pre-faulting in parallel; then the end-to-end scenarios
 * (scenario.h), or with --scenario that scenario alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "kvm-prefault.h"
#include "kvmprefault.h"
#include "scenario.h"
#include "vm.h"

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

/* One bench run: the medians it measured and what follows from them. */
struct bench {
	const struct options *o;
	uint64_t page, pages;
	struct row rows[NR_CASES];
	double par_s[2][2];	/* [populated][vCPUs - 1] */
	double fault_ns, prefault_ns, prefault_pop_ns, populate_ns;
	struct sample thp;
};

/* Every case and the parallel pre-faults, o->reps times each: medians. */
static int bench_measure(struct bench *b)
{
	static struct sample runs[NR_CASES][64];
	struct touch_case c = {
		.size = b->o->size, .advice = MADV_NOHUGEPAGE,
	};
	double par[2][2][64];
	unsigned int i, rep, pop;
	char err[160];

	/* Interleaved repetitions: a slow phase of the machine hits every case. */
	for (rep = 0; rep < b->o->reps; rep++) {
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
				if (parallel_once(b->o->size, pop, i + 1, &par[pop][i][rep],
						  err, sizeof(err))) {
					fprintf(stderr, "kvm-prefault bench: parallel: %s\n", err);
					return EXIT_FAILED;
				}
	}
	for (pop = 0; pop < 2; pop++)
		for (i = 0; i < 2; i++)
			b->par_s[pop][i] = median(par[pop][i], b->o->reps);
	for (i = 0; i < NR_CASES; i++) {
		b->rows[i].touch = cases[i].touch;
		b->rows[i].prep = cases[i].prep;
		fold(&b->rows[i], runs[i], b->o->reps);
	}
	return 0;
}

static void bench_derive(struct bench *b)
{
	struct row *rows = b->rows;
	const struct row *base;
	unsigned int i;

	for (i = 0; i < NR_CASES; i++) {
		const struct sample *s = &rows[i].s;

		base = base_of(rows, NR_CASES, &rows[i]);
		rows[i].ns_per_page = total_s(s) * 1e9 / b->pages;
		rows[i].exits_ratio = base->s.exits ? (double)s->exits / base->s.exits : 0;
		rows[i].total_ratio = total_s(&base->s) > 0 ?
				      total_s(s) / total_s(&base->s) : 0;
	}
	/*
	 * Per 4 KiB page, all from this run.  The guest's own stage-2 fault
	 * is its read-first touch less the same touch after a pre-fault (the
	 * guest's loop without faults); host populate is MADV_POPULATE_WRITE.
	 */
	b->fault_ns = (rows[1].s.touch_s - rows[2].s.touch_s) * 1e9 / b->pages;
	b->prefault_ns = rows[2].s.prefault_s * 1e9 / b->pages;
	b->prefault_pop_ns = rows[3].s.prefault_s * 1e9 / b->pages;
	b->populate_ns = rows[3].s.populate_s * 1e9 / b->pages;
}

static void print_first_touch(const struct bench *b)
{
	unsigned int i;

	printf("\n| %-5s | %-17s | %7s | %9s | %9s | %9s | %9s | %8s | %8s | %8s |\n",
	       "touch", "preparation", "exits", "populate", "pre-fault", "touch",
	       "total", "ns/page", "exits x", "total x");
	printf("|-------|-------------------|---------|-----------|-----------|-----------|-----------|----------|----------|----------|\n");
	for (i = 0; i < NR_CASES; i++) {
		const struct row *row = &b->rows[i];
		const struct sample *s = &row->s;

		printf("| %-5s | %-17s | %7lld | %7.2fms | %7.2fms | %7.2fms | %7.2fms | %8.0f | %8.4f | %8.3f |\n",
		       touch_name[row->touch], prep_name[row->prep],
		       (long long)s->exits, s->populate_s * 1e3, s->prefault_s * 1e3,
		       s->touch_s * 1e3, total_s(s) * 1e3, row->ns_per_page,
		       row->exits_ratio, row->total_ratio);
	}
}

static void print_per_page(const struct bench *b)
{
	unsigned int pop;

	printf("\nPer 4 KiB page, from this run:\n"
	       "| %-40s | %9s | %-28s | %-30s |\n"
	       "|------------------------------------------|-----------|------------------------------|--------------------------------|\n",
	       "", "ns", "ratio", "target");
	per_page_row("guest stage-2 fault (read-first touch)", b->fault_ns, 0, NULL, 0);
	per_page_row("pre-fault, memory the host never touched", b->prefault_ns,
		     b->fault_ns, "a guest fault", 0.1);
	per_page_row("host populate (MADV_POPULATE_WRITE)", b->populate_ns, 0, NULL, 0);
	per_page_row("pre-fault, host-populated memory", b->prefault_pop_ns,
		     b->populate_ns, "host populate", 0.25);
	printf("\nParallel pre-fault of %llu MiB, 1 vCPU on the whole vs 2 vCPUs on halves:\n",
	       (unsigned long long)(b->o->size / MIB));
	for (pop = 0; pop < 2; pop++)
		printf("  %-34s 1 vCPU %8.2f ms, 2 vCPUs %8.2f ms: %.2fx\n",
		       pop ? "memory the host populated:" : "memory the host never touched:",
		       b->par_s[pop][0] * 1e3, b->par_s[pop][1] * 1e3,
		       b->par_s[pop][0] / b->par_s[pop][1]);
}

/* Host-populated THP backing, pre-faulted, untouched by the guest. */
static int bench_thp(struct bench *b)
{
	const struct touch_case thp_case = {
		.size = b->o->thp_size, .advice = MADV_HUGEPAGE,
		.prep = PREP_POPULATE_PREFAULT, .touch = TOUCH_NONE,
	};
	const struct sample *thp = &b->thp;
	char err[160], leaves[160];

	if (touch_once(&thp_case, &b->thp, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault bench: THP slot: %s\n", err);
		return EXIT_FAILED;
	}
	format_leaves(&thp->steps, leaves, sizeof(leaves));
	printf("\nTHP-backed %llu MiB slot, populated by the host (%llu MiB in huge pages):\n"
	       "  pre-fault %.2f ms in %llu backend steps; leaves: %s\n",
	       (unsigned long long)(b->o->thp_size / MIB),
	       (unsigned long long)(thp->host_thp / MIB), thp->prefault_s * 1e3,
	       (unsigned long long)thp->steps.steps, leaves);
	return 0;
}

/*
 * What a pre-fault promises: a guest touching pre-faulted pages first
 * (reading, or writing after populate-write) takes no more exits than
 * a guest touching nothing, within 1% of the pages.
 */
static int bench_checks(const struct bench *b)
{
	const struct row *rows = b->rows, *untouched = &rows[0];
	const struct sample *thp = &b->thp;
	unsigned int i;
	int ok = 1;

	for (i = 0; i < NR_CASES; i++) {
		const struct sample *w = &rows[i].s;
		int64_t limit = untouched->s.exits + (int64_t)(b->pages / 100);
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
	if (b->o->thp_size && thp->host_thp == b->o->thp_size) {
		uint64_t blocks = b->o->thp_size >> 21;
		int pass = thp->steps.hist[HIST_2M] == blocks &&
			   thp->steps.hist[HIST_4K] == 0;

		ok &= pass;
		printf("check: THP slot: %llu x 2M leaves, %llu x 4K, want %llu x 2M: %s\n",
		       (unsigned long long)thp->steps.hist[HIST_2M],
		       (unsigned long long)thp->steps.hist[HIST_4K],
		       (unsigned long long)blocks, pass ? "ok" : "FAILED");
	}
	return ok;
}

/* Machine-readable copies for scripts/bench.sh. */
static void print_csv(const struct bench *b)
{
	const struct row *rows = b->rows;
	const double (*par_s)[2] = b->par_s;
	const struct sample *thp = &b->thp;
	unsigned int i;

	printf("\n-- csv first-touch --\n"
	       "arch,touch,preparation,pages,exits,populate_ms,prefault_ms,touch_ms,total_ms,ns_per_page,exits_ratio,total_ratio,prefault_steps\n");
	for (i = 0; i < NR_CASES; i++) {
		const struct sample *s = &rows[i].s;

		printf("%s,%s,%s,%llu,%lld,%.3f,%.3f,%.3f,%.3f,%.1f,%.4f,%.4f,%llu\n",
		       host()->machine, touch_name[rows[i].touch], prep_name[rows[i].prep],
		       (unsigned long long)b->pages, (long long)s->exits,
		       s->populate_s * 1e3, s->prefault_s * 1e3, s->touch_s * 1e3,
		       total_s(s) * 1e3, rows[i].ns_per_page, rows[i].exits_ratio,
		       rows[i].total_ratio, (unsigned long long)s->steps.steps);
	}
	printf("-- end --\n");
	printf("-- csv per-page --\n"
	       "arch,pages,guest_fault_ns,prefault_ns,populate_ns,prefault_populated_ns,prefault_vs_fault,prefault_populated_vs_populate,prefault_steps,prefault_leaves_4k,parallel_1_ms,parallel_2_ms,parallel_speedup,parallel_populated_1_ms,parallel_populated_2_ms,parallel_populated_speedup\n");
	printf("%s,%llu,%.1f,%.1f,%.1f,%.1f,%.4f,%.4f,%llu,%llu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n",
	       host()->machine, (unsigned long long)b->pages, b->fault_ns, b->prefault_ns,
	       b->populate_ns, b->prefault_pop_ns, b->prefault_ns / b->fault_ns,
	       b->prefault_pop_ns / b->populate_ns, (unsigned long long)rows[2].s.steps.steps,
	       (unsigned long long)rows[2].s.steps.hist[HIST_4K], par_s[0][0] * 1e3,
	       par_s[0][1] * 1e3, par_s[0][0] / par_s[0][1], par_s[1][0] * 1e3,
	       par_s[1][1] * 1e3, par_s[1][0] / par_s[1][1]);
	printf("-- end --\n");
	if (!b->o->thp_size)
		return;
	printf("-- csv thp-slot --\n"
	       "arch,slot_mib,host_thp_mib,populate_ms,prefault_ms,steps,leaves_4k,leaves_2m,leaves_1g,leaves_other\n");
	printf("%s,%llu,%llu,%.3f,%.3f,%llu,%llu,%llu,%llu,%llu\n", host()->machine,
	       (unsigned long long)(b->o->thp_size / MIB),
	       (unsigned long long)(thp->host_thp / MIB), thp->populate_s * 1e3,
	       thp->prefault_s * 1e3, (unsigned long long)thp->steps.steps,
	       (unsigned long long)thp->steps.hist[HIST_4K],
	       (unsigned long long)thp->steps.hist[HIST_2M],
	       (unsigned long long)thp->steps.hist[HIST_1G],
	       (unsigned long long)(thp->steps.steps - thp->steps.hist[HIST_4K] -
				    thp->steps.hist[HIST_2M] -
				    thp->steps.hist[HIST_1G]));
	printf("-- end --\n");
}

int cmd_bench(const struct options *o)
{
	struct bench b = { .o = o, .page = sysconf(_SC_PAGESIZE) };
	unsigned int fp_lost;
	int ok, r;

	if (o->scenario)
		return scenario_run(o, o->scenario);
	b.pages = o->size / b.page;
	printf("kvm-prefault bench: %s, Linux %s; %llu MiB slot, %llu pages of %llu bytes, median of %u runs\n",
	       host()->machine, host()->release, (unsigned long long)(o->size / MIB),
	       (unsigned long long)b.pages, (unsigned long long)b.page, o->reps);
	if (!can_prefault() || bench_measure(&b))
		return EXIT_FAILED;
	bench_derive(&b);
	print_first_touch(&b);
	print_per_page(&b);
	if (o->thp_size && bench_thp(&b))
		return EXIT_FAILED;
	ok = bench_checks(&b);
	if (vm_arch_fp_clobbers(&fp_lost))
		printf("note: KVM_RUN returned with the caller's floating-point registers lost %u times (put back; see README)\n",
		       fp_lost);
	print_csv(&b);
	r = o->scenario_size ? scenario_run(o, NULL) : 0;
	return ok && !r ? 0 : EXIT_FAILED;
}
