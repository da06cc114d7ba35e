/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The storm's parts (see kvm_prefault_storm.c): the slots and the host
 * memory behind them (slots.c), the threads that churn them while vCPUs
 * pre-fault (workers.c), the contract and the checks after the storm
 * (checks.c), and the counts, violations and KTAP cases (report.c).
 */
#ifndef KVMPF_STORM_H
#define KVMPF_STORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ktap.h"
#include "vm.h"

#define PAGE		4096ULL
#define NR_SLOTS	4
#define SLOT_SIZE	(4ULL << 20)
#define SLOT_PAGES	(SLOT_SIZE / PAGE)
/*
 * Slot k lives at home(k) = VM_DATA_GPA + k * SLOT_WINDOW, or after a move
 * at home(k) + MOVE_OFFSET.  [home + SLOT_SIZE, home + MOVE_OFFSET) and
 * [home + MOVE_OFFSET + SLOT_SIZE, next home) are never covered: holes.
 */
#define SLOT_WINDOW	(16ULL << 20)
#define MOVE_OFFSET	(8ULL << 20)
#define BLOCK		(2ULL << 20)
/* Slot 0 is never deleted, moved or unmapped: the guest reads it meanwhile. */
#define STABLE_SLOT	0
#define GUEST_CPU	0
#define NR_PREFAULTERS	2
#define NR_CPUS		(1 + NR_PREFAULTERS)
#define DEFAULT_SECONDS	20
#define MAX_VIOLATIONS	10

/* What a range is, hence which results the contract allows for it. */
enum range_class {
	RANGE_SLOT,	/* in or across slot windows: may or may not be mapped */
	RANGE_HOLE,	/* valid, but never covered by a memslot */
	RANGE_INVALID,	/* bad flags, alignment, size or beyond the GPA width */
	NR_CLASSES,
};

enum result {
	RES_OK, RES_ENOENT, RES_EAGAIN, RES_EINTR, RES_EFAULT, RES_EINVAL,
	RES_OTHER, NR_RESULTS,
};

enum event {
	EV_DELETE, EV_RECREATE, EV_MOVE, EV_LOG_TOGGLE, EV_LOG_READ,
	EV_DONTNEED, EV_MPROTECT, EV_REMAP, EV_SIGNAL_SENT, EV_SIGNAL_DELIVERED,
	EV_ZAP, EV_GUEST_PASS, NR_EVENTS,
};

struct storm_slot {
	pthread_mutex_t lock;	/* held by whoever changes layout or memory */
	int index;
	uint32_t id;		/* KVM memslot id */
	uint64_t home;
	uint64_t gpa;		/* home, or home + MOVE_OFFSET */
	bool present;
	bool logging;
	bool thp;
	char *buf;		/* host memory: SLOT_SIZE, 2 MiB aligned */
	void *map;		/* the mapping @buf was carved from */
	uint32_t gen;		/* bumped by every rewrite */
	uint32_t expect[SLOT_PAGES];	/* first word of each page, as written */
};

enum storm_case {
	C_SETUP, C_GPA_WIDTH, C_NO_VIOLATION, C_GUEST_DURING, C_EVERY_EVENT,
	C_LAYOUT, C_HOST_LAST_WRITE, C_GUEST_LAST_WRITE, C_GUEST_WRITES,
	C_FINAL_PREFAULT, C_FINAL_EXITS, NR_CASES,
};

extern const char *const class_names[NR_CLASSES];
extern const char *const result_names[NR_RESULTS];
extern const char *const case_names[NR_CASES];

/* The VM, its slots and what the storm saw (slots.c). */
extern struct vm vm;
extern struct storm_slot slots[NR_SLOTS];
extern unsigned int gpa_bits;
extern atomic_bool stop;
extern _Atomic uint64_t calls[NR_CLASSES][NR_RESULTS];
extern _Atomic uint64_t events[NR_EVENTS];
/*
 * Held while an address range is unmapped to be mapped again in place, and
 * by every new mapping: another thread's mmap() must not land in the gap.
 */
extern pthread_mutex_t vaddr_lock;
extern _Atomic uint64_t nr_violations;
/* Memslot updates and the time they took (a mutator holds the lock). */
extern uint64_t slot_updates;
extern double slot_update_s;
/* Pages the guest read wrong during the storm (-1: it could not run). */
extern int64_t storm_guest_bad;
/*
 * Set when a guest run found its vCPU's state replaced by the emulator
 * (vm_run_guest(): ENOTRECOVERABLE): what it said.  The storm is then void.
 */
extern char emulator_fault[200];
/* The guest thread's passes: how long the first and the longest took. */
extern double guest_pass_first_s, guest_pass_max_s;
extern int64_t guest_pass_max_exits;

/* slots.c */
bool setup(void);
int slot_update(struct storm_slot *s);
void slot_advise(struct storm_slot *s);
void slot_fill(struct storm_slot *s, uint64_t first, uint64_t n);
int slot_recreate(struct storm_slot *s);

/* workers.c: the storm, for at least @seconds. */
void storm_run(uint64_t seed, unsigned int seconds);

/* checks.c */
void check_call(enum range_class cls, const struct kvm_pre_fault_memory *in,
		const struct kvm_pre_fault_memory *out, int r, int err);
bool probe_gpa_bits(void);
int64_t guest_check_slot(int cpu, int k);
bool check_last_writes(struct ktap *t);
void check_final_prefault(struct ktap *t);
bool check_final_exits(struct ktap *t);

/* report.c */
void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note_emulator_fault(void);
int storm_void(struct ktap *t);
bool all_events_seen(void);
void print_counts(void);
bool print_violations(void);
void report_storm(struct ktap *t);

#endif
