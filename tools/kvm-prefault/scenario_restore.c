// SPDX-License-Identifier: GPL-2.0-only
/*
 * The restore scenario (scenario.h): guest memory filled from the
 * snapshot file, by read() into anonymous memory or by a MAP_PRIVATE
 * mapping of the file, then the guest touches every page; the VMM does
 * nothing about stage-2 faults (lazy), pre-faults on vCPU 0 or on every
 * vCPU in parallel before the guest starts, or pre-faults from a thread
 * while the guest already runs (overlap).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "scenario.h"

/* Part of guest memory one thread prepares through one vCPU. */
struct prefault_part {
	int vcpu_fd;
	uint64_t gpa, size;
	void *hva;
	int populate;		/* populate-write first (the mmap source, writes) */
	uint64_t ns;		/* how long it took */
	int r;
	char err[160];
};

/*
 * Chunk by chunk, so that a guest running meanwhile finds the start
 * ready early: populate-write when asked, then KVM_PRE_FAULT_MEMORY.
 */
static int prep_range(struct prefault_part *p)
{
	struct kvmpf_result res;
	uint64_t t0 = now_ns(), off, n;
	int r = 0;

	for (off = 0; !r && off < p->size; off += n) {
		n = p->size - off < SCEN_CHUNK ? p->size - off : SCEN_CHUNK;
		if (p->populate)
			r = kvmpf_populate_write((char *)p->hva + off, n, &res);
		if (!r)
			r = kvmpf_prefault(p->vcpu_fd, p->gpa + off, n, NULL, &res);
	}
	p->ns = now_ns() - t0;
	if (r)
		snprintf(p->err, sizeof(p->err), "%s", res.msg);
	p->r = r;
	return r;
}

static void *prep_thread(void *arg)
{
	prep_range(arg);
	return NULL;
}

/* @p's range in page-aligned parts, one thread and vCPU each. */
static int prep_parallel(const struct scen *sc, struct vm *vm, struct prefault_part *p)
{
	uint64_t per = p->size / sc->nr_vcpus / sc->snap.page * sc->snap.page;
	pthread_t threads[VM_MAX_VCPUS];
	struct prefault_part parts[VM_MAX_VCPUS];
	uint64_t t0 = now_ns();
	unsigned int i, started;
	int r = 0;

	for (started = 0; started < sc->nr_vcpus; started++) {
		i = started;
		parts[i] = *p;
		parts[i].vcpu_fd = vm->vcpu[i].fd;
		parts[i].gpa = p->gpa + i * per;
		parts[i].hva = (char *)p->hva + i * per;
		/* The last part takes the remainder. */
		parts[i].size = i == sc->nr_vcpus - 1 ? p->size - i * per : per;
		if (pthread_create(&threads[i], NULL, prep_thread, &parts[i])) {
			r = vm_fail(vm, -EAGAIN, "starting pre-fault thread %u", i);
			break;
		}
	}
	for (i = 0; i < started; i++) {
		pthread_join(threads[i], NULL);
		if (!r && parts[i].r)
			r = scen_err(vm, parts[i].r, "parallel pre-fault", parts[i].err);
	}
	p->ns = now_ns() - t0;
	return r;
}

/* The snapshot into guest memory, the way @row's source says. */
static int restore_fill(const struct scen *sc, struct vm *vm, struct scen_row *row)
{
	const struct snapshot *snap = &sc->snap;
	uint64_t t0 = now_ns(), off;
	ssize_t n = 0;
	int r;

	if (!strcmp(row->source, "mmap")) {
		r = vm_add_data_slot_file(vm, snap->size, snap->fd);
		row->fill_ns = now_ns() - t0;
		return r;
	}
	r = vm_add_data_slot(vm, snap->size, 0);
	if (!r && madvise(vm->data, snap->size, MADV_NOHUGEPAGE))
		r = vm_fail(vm, -errno, "madvise");
	t0 = now_ns();
	for (off = 0; !r && off < snap->size; off += n) {
		n = pread(snap->fd, (char *)vm->data + off, snap->size - off, off);
		if (n <= 0)
			r = vm_fail(vm, n ? -errno : -EIO, "reading the snapshot at %llu",
				    (unsigned long long)off);
	}
	row->fill_ns = now_ns() - t0;
	return r;
}

/* From memory ready at @t0: @row's mode, and the guest. */
static int restore_mode(const struct scen *sc, struct vm *vm, struct scen_row *row,
			uint64_t t0)
{
	struct prefault_part p = {
		.vcpu_fd = vm->vcpu[0].fd, .gpa = VM_DATA_GPA, .size = sc->snap.size,
		.hva = vm->data,
		.populate = row->access == TOUCH_WRITE && !strcmp(row->source, "mmap"),
	};
	pthread_t thread;
	int r = 0;

	if (row->mode == MODE_PREFAULT_1 && prep_range(&p))
		r = scen_err(vm, p.r, "pre-fault", p.err);
	if (row->mode == MODE_PREFAULT_ALL)
		r = prep_parallel(sc, vm, &p);
	if (row->mode == MODE_OVERLAP) {
		p.vcpu_fd = vm->vcpu[1].fd;	/* vCPU 0 is in KVM_RUN */
		if (pthread_create(&thread, NULL, prep_thread, &p))
			return vm_fail(vm, -EAGAIN, "starting the pre-fault thread");
	}
	r = r ? r : scen_guest(sc, vm, row, t0);
	if (row->mode == MODE_OVERLAP) {
		pthread_join(thread, NULL);
		if (!r && p.r)
			r = scen_err(vm, p.r, "overlapped pre-fault", p.err);
	}
	row->prefault_ns = p.ns;
	return r;
}

static int restore_once(const struct scen *sc, struct scen_row *row)
{
	struct vm vm;
	int r = scen_vm_create(sc, &vm);

	r = r ? r : restore_fill(sc, &vm, row);
	r = r ? r : restore_mode(sc, &vm, row, now_ns());
	if (r)
		scen_fail(row, vm.err);
	vm_destroy(&vm);
	return r ? EXIT_FAILED : 0;
}

int scenario_restore(struct scen *sc)
{
	static const char *const sources[] = { "read", "mmap" };
	static const enum scen_mode modes[] = {
		MODE_LAZY, MODE_PREFAULT_1, MODE_PREFAULT_ALL, MODE_OVERLAP,
	};
	unsigned int s, m;
	enum touch access;

	for (s = 0; s < 2; s++)
		for (access = TOUCH_READ; access <= TOUCH_WRITE; access++)
			for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
				struct scen_row *row = &sc->rows[sc->nr_rows++];

				*row = (struct scen_row){
					.scenario = "restore", .source = sources[s],
					.access = access, .mode = modes[m],
				};
				if (restore_once(sc, row))
					return EXIT_FAILED;
			}
	return 0;
}
