/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the kvm-prefault commands share: the parsed options, the host's
 * name, the pre-fault statistics of a vCPU, and one guest's first touch of
 * a slot (touch.c), which demo, bench and profile measure.  Each command
 * is one file: probe.c, demo.c, bench.c, profile.c; bench's end-to-end
 * scenarios are scenario*.c behind scenario.h.
 */
#ifndef KVMPF_CLI_H
#define KVMPF_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/utsname.h>

#include "kvmprefault.h"

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
#define OPT_SCENARIO	(1 << 4)
#define OPT_SCENARIO_SIZE (1 << 5)

struct options {
	unsigned int given;	/* OPT_* seen on the command line */
	int json;
	uint64_t size;		/* bytes of the slot (demo, bench) */
	uint64_t thp_size;	/* bytes of the THP slot (bench), 0: none */
	unsigned int reps;	/* bench repetitions; the median is reported */
	const char *scenario;	/* bench: only this scenario (scenario.h), no tables */
	uint64_t scenario_size;	/* bytes of the scenarios' guest memory, 0: none */
};

int cmd_probe(const struct options *o);
int cmd_demo(const struct options *o);
int cmd_bench(const struct options *o);
int cmd_profile(const struct options *o);

const struct utsname *host(void);

/* Pre-fault steps and the leaves they mapped, from the vCPU statistics. */
struct steps {
	uint64_t steps;
	uint64_t hist[HIST_BUCKETS];	/* bucket fls64(bytes) */
};

/* "4096 x 4K, 8 x 2M": the leaf sizes a pre-fault got. */
void format_leaves(const struct steps *s, char *buf, size_t len);

/* Does a VM of the default type have the capability?  Says why not. */
int can_prefault(void);

/* ---- one guest's first touch, shared by demo, bench and profile ------ */

enum touch { TOUCH_NONE, TOUCH_READ, TOUCH_WRITE };
enum phase { PHASE_NONE, PHASE_PREFAULT, PHASE_TOUCH };
enum prep { PREP_NONE, PREP_PREFAULT, PREP_POPULATE_PREFAULT };

extern const char *const touch_name[];
extern const char *const prep_name[];

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

/*
 * A fresh VM with a slot as @c says, prepared, then touched by the guest
 * one word per page.  MADV_NOHUGEPAGE gives 4 KiB host pages: the case
 * pre-faulting exists for.
 */
int touch_once(const struct touch_case *c, struct sample *s,
	       char *err, size_t len);

/* Starting the profiler clears what it recorded before (profile.c). */
int profile_enable(int on);

#endif
