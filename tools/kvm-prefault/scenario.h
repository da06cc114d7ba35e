/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The bench's end-to-end scenarios (kvm-prefault bench --scenario): what a
 * VMM gains from KVM_PRE_FAULT_MEMORY when it restores a guest from a
 * snapshot file (scenario_restore.c) and when it copies the guest's
 * memory in after the guest started, through userfaultfd
 * (scenario_postcopy.c).  scenario.c holds what both share: the snapshot
 * file, the guest's run over its whole memory with its data checked, the
 * table, the checks and the CSV.
 */
#ifndef KVMPF_SCENARIO_H
#define KVMPF_SCENARIO_H

#include <stdint.h>

#include "kvm-prefault.h"
#include "vm.h"

/* What the VMM does about the guest's stage-2 faults. */
enum scen_mode {
	MODE_LAZY,		/* nothing: the guest faults */
	MODE_PREFAULT_1,	/* pre-fault on vCPU 0, then the guest */
	MODE_PREFAULT_ALL,	/* every vCPU a part, in parallel, then the guest */
	MODE_OVERLAP,		/* vCPU 1 pre-faults while the guest runs */
	MODE_COPY_PREFAULT,	/* post-copy: each chunk pre-faulted once copied */
	NR_MODES
};

extern const char *const mode_name[NR_MODES];

/* Guest memory is filled and pre-faulted in chunks of this many bytes. */
#define SCEN_CHUNK	(2 * MIB)
/*
 * The guest walks its memory in pieces of at most this many bytes, one
 * KVM_RUN each: a lazy guest faulting on every page under TCG stays far
 * below the watchdog's limit per ioctl (WATCHDOG_LIMIT_S).
 */
#define SCEN_PIECE	(64 * MIB)

/* The snapshot every run restores: a file in /tmp (tmpfs). */
struct snapshot {
	int fd;
	uint64_t size, page, pages;
	uint32_t read_sum;	/* the guest reading: each page's first word */
	uint32_t write_sum;	/* the guest writing: each page's GPA, 32 bits */
};

/* One scenario run: one VM from the snapshot to the guest's report. */
struct scen_row {
	const char *scenario;	/* "restore", "postcopy" */
	const char *source;	/* "read", "mmap", "uffd" */
	enum touch access;	/* TOUCH_READ or TOUCH_WRITE */
	enum scen_mode mode;
	uint64_t fill_ns;	/* the snapshot into memory (restore) */
	uint64_t prefault_ns;	/* populate-write and pre-fault */
	uint64_t copy_ns;	/* post-copy: start to the last chunk copied */
	uint64_t guest_ns;	/* the guest's run */
	uint64_t total_ns;	/* memory ready (post-copy: start) to guest done */
	int64_t exits;		/* the guest caused, while it ran */
	int data_ok;		/* the guest's sum, and host memory after writes */
	double ratio;		/* total / the same run's lazy total */
	int64_t limit;		/* exits allowed after a pre-fault, or -1 */
};

#define SCEN_MAX_ROWS	32

struct scen {
	const struct options *o;
	struct snapshot snap;
	unsigned int nr_vcpus;	/* of every VM: the host's CPUs, 2..VM_MAX_VCPUS */
	int64_t floor;		/* exits of a guest that touches nothing */
	uint64_t start_ns;	/* when the scenarios started */
	struct scen_row rows[SCEN_MAX_ROWS];
	unsigned int nr_rows;
};

/* A VM with sc->nr_vcpus vCPUs and no data slot yet; 0 or -errno. */
int scen_vm_create(const struct scen *sc, struct vm *vm);

/*
 * The guest on vCPU 0 touches every page of the data slot with @row's
 * access: its time, its exits and whether what it reported (and, after
 * writes, what host memory holds) is exactly what the snapshot says.
 * @t0 (now_ns()) is when memory was ready: row->total_ns is from then to
 * the guest's report.  0, or -errno with the reason in vm->err.
 */
int scen_guest(const struct scen *sc, struct vm *vm, struct scen_row *row,
	       uint64_t t0);

/* @msg, already with its reason, as vm->err after "@what: "; returns @r. */
int scen_err(struct vm *vm, int r, const char *what, const char *msg);

/* Error message of a failed run, and EXIT_FAILED. */
int scen_fail(const struct scen_row *row, const char *err);

/* Every restore row (sources x accesses x modes) into sc->rows. */
int scenario_restore(struct scen *sc);
/* Every post-copy row (accesses x with and without pre-fault). */
int scenario_postcopy(struct scen *sc);

/*
 * kvm-prefault bench's scenarios: @which "restore", "postcopy" or NULL
 * for both.  0, EXIT_FAILED when a run or a check failed.
 */
int scenario_run(const struct options *o, const char *which);

#endif
