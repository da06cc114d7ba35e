// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault bench's scenarios (scenario.h): the snapshot file, the
 * guest's run with its data checked, and the table, checks and CSV of
 * every run.  The runs themselves are in scenario_restore.c and
 * scenario_postcopy.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "scenario.h"
#include "watchdog.h"

const char *const mode_name[NR_MODES] = {
	"lazy", "prefault-1", "prefault-all", "overlap", "prefault-chunk",
};

/* The snapshot's 64-bit words: page @i's start from a mix of @i and @seed. */
static void snapshot_page(uint64_t *w, uint64_t words, uint64_t i, uint64_t seed)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed, k;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	for (k = 0; k < words; k++)
		w[k] = x + k;
}

/*
 * What a guest must report: the sum of every page's first word as read
 * back from the file (not as generated), and that of the GPAs a writing
 * guest stores.
 */
static int snapshot_sums(struct snapshot *s, uint64_t *buf, char *err, size_t len)
{
	uint64_t off, i;
	uint32_t w;

	s->read_sum = s->write_sum = 0;
	for (off = 0; off < s->size; off += SCEN_CHUNK) {
		uint64_t n = s->size - off < SCEN_CHUNK ? s->size - off : SCEN_CHUNK;

		if (pread(s->fd, buf, n, off) != (ssize_t)n) {
			snprintf(err, len, "reading the snapshot back at %llu: %s",
				 (unsigned long long)off, strerror(errno));
			return -EIO;
		}
		for (i = 0; i < n; i += s->page) {
			memcpy(&w, (char *)buf + i, sizeof(w));
			s->read_sum += w;
			s->write_sum += (uint32_t)(VM_DATA_GPA + off + i);
		}
	}
	return 0;
}

/* A snapshot of @size bytes in /tmp, unlinked: gone with its fd. */
static int snapshot_create(struct snapshot *s, uint64_t size, char *err, size_t len)
{
	char path[] = "/tmp/kvmpf-snapshot-XXXXXX";
	uint64_t seed = now_ns(), off, i, *buf;
	int r = 0;

	s->page = sysconf(_SC_PAGESIZE);
	s->size = size;
	s->pages = size / s->page;
	s->fd = mkstemp(path);
	if (s->fd < 0) {
		snprintf(err, len, "creating %s: %s", path, strerror(errno));
		return -errno;
	}
	unlink(path);
	buf = malloc(SCEN_CHUNK);
	if (!buf) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	for (off = 0; !r && off < size; off += SCEN_CHUNK) {
		uint64_t n = size - off < SCEN_CHUNK ? size - off : SCEN_CHUNK;

		for (i = 0; i < n; i += s->page)
			snapshot_page(buf + i / 8, s->page / 8, (off + i) / s->page, seed);
		if (pwrite(s->fd, buf, n, off) != (ssize_t)n) {
			snprintf(err, len, "writing the snapshot at %llu: %s",
				 (unsigned long long)off, strerror(errno));
			r = -EIO;
		}
	}
	r = r ? r : snapshot_sums(s, buf, err, len);
	free(buf);
	return r;
}

int scen_vm_create(const struct scen *sc, struct vm *vm)
{
	unsigned int i;
	int r = vm_create(vm);

	for (i = 1; !r && i < sc->nr_vcpus; i++)
		r = vm_add_vcpu(vm) < 0 ? -EINVAL : 0;
	return r;
}

/*
 * The guest program on vCPU 0 over guest memory, in pieces of SCEN_PIECE
 * (each a KVM_RUN): with @touch, every page; without, the same runs over
 * nothing.  The pieces' sums added into *@sum.
 */
static int guest_pieces(const struct scen *sc, struct vm *vm, enum vm_guest_op op,
			int touch, uint32_t *sum)
{
	const struct snapshot *snap = &sc->snap;
	uint64_t off, n;
	uint32_t part = 0;
	int r = 0;

	*sum = 0;
	for (off = 0; !r && off < snap->size; off += n) {
		n = snap->size - off < SCEN_PIECE ? snap->size - off : SCEN_PIECE;
		r = vm_run_guest(vm, 0, VM_DATA_GPA + off, touch ? n : 0, snap->page, op,
				 &part);
		*sum += part;
	}
	return r;
}

int scen_guest(const struct scen *sc, struct vm *vm, struct scen_row *row,
	       uint64_t t0)
{
	const struct snapshot *snap = &sc->snap;
	int write = row->access == TOUCH_WRITE;
	int64_t before = vm_vcpu_guest_exits(vm, 0);
	uint64_t start, done, i;
	uint32_t sum, w;
	int r;

	if (before < 0)
		return vm_fail(vm, -ENOENT, "no vCPU exit statistics");
	start = now_ns();
	r = guest_pieces(sc, vm, write ? VM_GUEST_WRITE : VM_GUEST_READ, 1, &sum);
	done = now_ns();
	row->guest_ns = done - start;
	row->total_ns = done - t0;
	row->exits = vm_vcpu_guest_exits(vm, 0) - before;
	if (r)
		return r;
	/* Exactly the snapshot's data; after writes, host memory holds them. */
	row->data_ok = sum == (write ? snap->write_sum : snap->read_sum);
	for (i = 0; write && row->data_ok && i < snap->pages; i++) {
		memcpy(&w, (char *)vm->data + i * snap->page, sizeof(w));
		row->data_ok = w == (uint32_t)(VM_DATA_GPA + i * snap->page);
	}
	return 0;
}

/*
 * The exits of a guest that touches nothing, in as many runs as the
 * scenarios' guests: its program's page and its reports.
 */
static int scen_floor(struct scen *sc, char *err, size_t len)
{
	int64_t before = -1;
	uint32_t sum;
	struct vm vm;
	int r = scen_vm_create(sc, &vm);

	r = r ? r : vm_add_data_slot(&vm, sc->snap.size, 0);
	if (!r)
		before = vm_vcpu_guest_exits(&vm, 0);
	r = r ? r : before < 0 ? vm_fail(&vm, -ENOENT, "no vCPU exit statistics") :
		    guest_pieces(sc, &vm, VM_GUEST_READ, 0, &sum);
	sc->floor = r ? 0 : vm_vcpu_guest_exits(&vm, 0) - before;
	if (r)
		snprintf(err, len, "the untouched guest: %s", vm.err);
	vm_destroy(&vm);
	return r;
}

int scen_err(struct vm *vm, int r, const char *what, const char *msg)
{
	snprintf(vm->err, sizeof(vm->err), "%s: %s", what, msg);
	return r;
}

int scen_fail(const struct scen_row *row, const char *err)
{
	fprintf(stderr, "kvm-prefault bench: %s/%s/%s/%s: %s\n", row->scenario,
		row->source, touch_name[row->access], mode_name[row->mode], err);
	return EXIT_FAILED;
}

/* Ratios to the lazy run of the same scenario, source and access; limits. */
static void scen_derive(struct scen *sc)
{
	unsigned int i, j;

	for (i = 0; i < sc->nr_rows; i++) {
		struct scen_row *row = &sc->rows[i];

		row->ratio = 0;
		for (j = 0; j < sc->nr_rows; j++) {
			const struct scen_row *lazy = &sc->rows[j];

			if (lazy->mode == MODE_LAZY && lazy->access == row->access &&
			    !strcmp(lazy->scenario, row->scenario) &&
			    !strcmp(lazy->source, row->source) && lazy->total_ns)
				row->ratio = (double)row->total_ns / lazy->total_ns;
		}
		/* Where the pre-fault is done before the guest starts. */
		row->limit = row->mode == MODE_PREFAULT_1 || row->mode == MODE_PREFAULT_ALL ?
			     sc->floor + (int64_t)(sc->snap.pages / 100) : -1;
	}
}

static void print_header(const struct scen *sc)
{
	printf("\nkvm-prefault bench: scenarios on %s, Linux %s: %llu MiB of guest memory (%llu pages of %llu bytes, 4 KiB host pages), %u vCPUs, one run per mode\n",
	       host()->machine, host()->release,
	       (unsigned long long)(sc->snap.size / MIB),
	       (unsigned long long)sc->snap.pages, (unsigned long long)sc->snap.page,
	       sc->nr_vcpus);
	printf("  size: %llu MiB (--scenario-size, default 256 as asked): what a run costs is per page, and 256 MiB keeps\n"
	       "  the slowest run, a lazy guest (a stage-2 fault per page, 0.1-0.3 ms under TCG), near 20 s and all of\n"
	       "  them within a few minutes per arch (their time is printed below the table); the guest walks its memory\n"
	       "  in KVM_RUNs of at most %llu MiB, far below the VMM's watchdog limit of %d s per KVM_RUN.\n",
	       (unsigned long long)(sc->snap.size / MIB), (unsigned long long)(SCEN_PIECE / MIB),
	       WATCHDOG_LIMIT_S);
	printf("  restore: a snapshot file (tmpfs) into guest memory by read() into anonymous memory (source read) or a\n"
	       "  MAP_PRIVATE mapping of the file (source mmap); then the guest reads (or writes) one word per 4 KiB page.\n"
	       "  Modes: lazy (the guest faults), prefault-1 (vCPU 0, then the guest), prefault-all (%u vCPUs, a thread and\n"
	       "  a part each, then the guest), overlap (a thread pre-faults through vCPU 1 while the guest runs on vCPU 0:\n"
	       "  KVM_PRE_FAULT_MEMORY needs a vCPU that is not in KVM_RUN). A writing guest on the mmap source is\n"
	       "  prepared with populate-write + pre-fault (a pre-fault is a read fault: it would map the page cache\n"
	       "  read-only and the guest would fault twice per page).\n",
	       sc->nr_vcpus);
	printf("  postcopy: anonymous memory registered with userfaultfd (MISSING); a copier thread UFFDIO_COPYs the\n"
	       "  snapshot in %llu MiB chunks while the guest runs (a guest touching a page not yet copied waits in the\n"
	       "  host fault); lazy, or prefault-chunk: each chunk pre-faulted through vCPU 1 right after its copy.\n",
	       (unsigned long long)(SCEN_CHUNK / MIB));
	printf("  Times: fill = read() or mmap; pre-fault = populate-write + KVM_PRE_FAULT_MEMORY (overlap: the thread's\n"
	       "  time; postcopy: the copier's time in it); copy = start to the last chunk copied; total = memory ready\n"
	       "  (postcopy: the copier's start) to guest done; ratio = total / the lazy total of the same source and\n"
	       "  access, i.e. (pre-fault + guest) / lazy guest where they run one after the other.\n"
	       "  Exits cost far more under QEMU's TCG (tens to hundreds of us of emulated hypervisor each) than on\n"
	       "  hardware (about a microsecond or a few): the times overstate what exits cost, and the exit counts\n"
	       "  stand beside them so that a reader can rescale (the cost of one here is printed below the table).\n");
}

static void print_row(const struct scen_row *row)
{
	char check[32] = "-";

	if (row->limit >= 0)
		snprintf(check, sizeof(check), "%s <= %lld",
			 row->exits <= row->limit ? "ok" : "FAILED", (long long)row->limit);
	printf("| %-8s | %-6s | %-5s | %-14s | %8.1f | %9.1f | %8.1f | %8.1f | %8.1f | %6lld | %6.3f | %-4s | %-14s |\n",
	       row->scenario, row->source, touch_name[row->access], mode_name[row->mode],
	       row->fill_ns / 1e6, row->prefault_ns / 1e6, row->copy_ns / 1e6,
	       row->guest_ns / 1e6, row->total_ns / 1e6, (long long)row->exits,
	       row->ratio, row->data_ok ? "ok" : "BAD", check);
}

static void print_table(const struct scen *sc)
{
	unsigned int i;

	printf("\n| %-8s | %-6s | %-5s | %-14s | %8s | %9s | %8s | %8s | %8s | %6s | %6s | %-4s | %-14s |\n",
	       "scenario", "source", "guest", "mode", "fill ms", "prefault", "copy ms",
	       "guest ms", "total ms", "exits", "ratio", "data", "exit check");
	printf("|----------|--------|-------|----------------|----------|-----------|----------|----------|----------|--------|--------|------|----------------|\n");
	for (i = 0; i < sc->nr_rows; i++)
		print_row(&sc->rows[i]);
}

/* The restore row from the read() source with @access and @mode, or NULL. */
static const struct scen_row *find_restore_row(const struct scen *sc,
					       enum touch access, enum scen_mode mode)
{
	unsigned int i;

	for (i = 0; i < sc->nr_rows; i++)
		if (!strcmp(sc->rows[i].scenario, "restore") &&
		    !strcmp(sc->rows[i].source, "read") &&
		    sc->rows[i].access == access && sc->rows[i].mode == mode)
			return &sc->rows[i];
	return NULL;
}

/* How long the scenarios took, and their longest run. */
static void print_times(const struct scen *sc)
{
	const struct scen_row *longest = &sc->rows[0];
	unsigned int i;

	for (i = 1; i < sc->nr_rows; i++)
		if (sc->rows[i].fill_ns + sc->rows[i].total_ns >
		    longest->fill_ns + longest->total_ns)
			longest = &sc->rows[i];
	printf("the scenarios took %.0f s; the longest run, %s/%s/%s/%s, %.1f s from fill to guest done\n",
	       (now_ns() - sc->start_ns) / 1e9, longest->scenario, longest->source,
	       touch_name[longest->access], mode_name[longest->mode],
	       (longest->fill_ns + longest->total_ns) / 1e9);
}

/* The data and exit checks; the cost of an exit here, for rescaling. */
static int scen_checks(const struct scen *sc)
{
	const struct scen_row *lazy = find_restore_row(sc, TOUCH_READ, MODE_LAZY);
	const struct scen_row *pre = find_restore_row(sc, TOUCH_READ, MODE_PREFAULT_1);
	unsigned int i, data_ok = 0, checked = 0, exits_ok = 0;

	for (i = 0; i < sc->nr_rows; i++) {
		const struct scen_row *row = &sc->rows[i];

		data_ok += row->data_ok;
		checked += row->limit >= 0;
		exits_ok += row->limit >= 0 && row->exits <= row->limit;
	}
	printf("\ncheck: every guest saw the snapshot's data (writes: host memory holds the GPAs written): %u of %u runs: %s\n",
	       data_ok, sc->nr_rows, data_ok == sc->nr_rows ? "ok" : "FAILED");
	if (checked)
		printf("check: exits after a completed pre-fault <= untouched guest %lld + 1%% of %llu pages: %u of %u runs: %s\n",
		       (long long)sc->floor, (unsigned long long)sc->snap.pages, exits_ok,
		       checked, exits_ok == checked ? "ok" : "FAILED");
	if (lazy && pre && lazy->exits > pre->exits)
		printf("one guest stage-2 read fault cost %.1f us here (restore, read: lazy less prefault-1 guest time, per exit)\n",
		       (double)(lazy->guest_ns - pre->guest_ns) / (lazy->exits - pre->exits) / 1e3);
	return data_ok == sc->nr_rows && exits_ok == checked;
}

static void print_csv(const struct scen *sc)
{
	unsigned int i;

	printf("\n-- csv scenario --\n"
	       "arch,scenario,source,access,mode,mib,pages,vcpus,fill_ms,prefault_ms,copy_ms,guest_ms,total_ms,exits,floor_exits,exit_limit,ratio,data_ok\n");
	for (i = 0; i < sc->nr_rows; i++) {
		const struct scen_row *row = &sc->rows[i];
		char limit[24] = "";

		if (row->limit >= 0)
			snprintf(limit, sizeof(limit), "%lld", (long long)row->limit);
		printf("%s,%s,%s,%s,%s,%llu,%llu,%u,%.3f,%.3f,%.3f,%.3f,%.3f,%lld,%lld,%s,%.4f,%d\n",
		       host()->machine, row->scenario, row->source, touch_name[row->access],
		       mode_name[row->mode], (unsigned long long)(sc->snap.size / MIB),
		       (unsigned long long)sc->snap.pages, sc->nr_vcpus, row->fill_ns / 1e6,
		       row->prefault_ns / 1e6, row->copy_ns / 1e6, row->guest_ns / 1e6,
		       row->total_ns / 1e6, (long long)row->exits, (long long)sc->floor,
		       limit, row->ratio, row->data_ok);
	}
	printf("-- end --\n");
}

int scenario_run(const struct options *o, const char *which)
{
	static struct scen sc;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char err[256];
	unsigned int fp_lost;
	int r;

	memset(&sc, 0, sizeof(sc));
	sc.o = o;
	sc.start_ns = now_ns();
	sc.nr_vcpus = cpus < 2 ? 2 : cpus > VM_MAX_VCPUS ? VM_MAX_VCPUS : cpus;
	if (!can_prefault())
		return EXIT_FAILED;
	if (snapshot_create(&sc.snap, o->scenario_size, err, sizeof(err)) ||
	    scen_floor(&sc, err, sizeof(err))) {
		fprintf(stderr, "kvm-prefault bench: scenarios: %s\n", err);
		return EXIT_FAILED;
	}
	print_header(&sc);
	r = which && strcmp(which, "restore") ? 0 : scenario_restore(&sc);
	if (!r && (!which || !strcmp(which, "postcopy")))
		r = scenario_postcopy(&sc);
	close(sc.snap.fd);
	if (r)
		return r;
	scen_derive(&sc);
	print_table(&sc);
	r = scen_checks(&sc) ? 0 : EXIT_FAILED;
	print_times(&sc);
	if (vm_arch_fp_clobbers(&fp_lost))
		printf("note: KVM_RUN returned with the caller's floating-point registers lost %u times (put back; see README)\n",
		       fp_lost);
	print_csv(&sc);
	return r;
}
