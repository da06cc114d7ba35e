// SPDX-License-Identifier: GPL-2.0-only
/*
 * A seeded, time-bounded storm of everything a VMM and the host can do to a
 * VM while its vCPUs pre-fault: KVM_PRE_FAULT_MEMORY on random, edge and
 * invalid ranges from two vCPUs, a guest reading memory on a third, while
 * other threads delete memslots and re-create them at a new host address,
 * move them, toggle dirty logging and read the log, zap and rewrite the
 * backing memory (MADV_DONTNEED), make it read-only and back, unmap it and
 * map new memory at the same address, and signal the pre-faulting threads
 * (no SA_RESTART, so calls end with EINTR).
 *
 * Every call is checked against the documented contract as it returns.
 * Afterwards the layout is restored and every page is checked through the
 * host and through the guest on every vCPU: it must hold exactly what the
 * host last wrote there (a stale second-stage mapping still shows an older
 * pattern), then the guest writes and the host must see every write.  A
 * final pre-fault must leave the guest at most 1% of its pages in exits.
 *
 * The seed is printed; kvmpf.storm_seed=N on the kernel command line (or
 * the first argument) repeats each thread's choices, kvmpf.storm_seconds=S
 * sets the duration.  The interleaving of the threads is not repeatable.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cmdline.h"
#include "ktap.h"
#include "vm.h"
#include "watchdog.h"

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

static const char *const class_names[NR_CLASSES] = { "slot", "hole", "invalid" };

enum result {
	RES_OK, RES_ENOENT, RES_EAGAIN, RES_EINTR, RES_EFAULT, RES_EINVAL,
	RES_OTHER, NR_RESULTS,
};

static const char *const result_names[NR_RESULTS] = {
	"progress", "ENOENT", "EAGAIN", "EINTR", "EFAULT", "EINVAL", "other",
};

/* Results each class may get: anything else breaks the contract. */
static const unsigned int allowed[NR_CLASSES] = {
	[RANGE_SLOT] = 1 << RES_OK | 1 << RES_ENOENT | 1 << RES_EAGAIN |
		       1 << RES_EINTR | 1 << RES_EFAULT,
	[RANGE_HOLE] = 1 << RES_ENOENT | 1 << RES_EINTR,
	[RANGE_INVALID] = 1 << RES_EINVAL,
};

enum event {
	EV_DELETE, EV_RECREATE, EV_MOVE, EV_LOG_TOGGLE, EV_LOG_READ,
	EV_DONTNEED, EV_MPROTECT, EV_REMAP, EV_SIGNAL_SENT, EV_SIGNAL_DELIVERED,
	EV_ZAP, EV_GUEST_PASS, NR_EVENTS,
};

static const char *const event_names[NR_EVENTS] = {
	"slot deletes", "re-creates at a new host address", "moves",
	"dirty-log toggles", "dirty-log reads", "MADV_DONTNEED+rewrites",
	"mprotect read-only+back", "munmap+mmap", "signals sent",
	"signals delivered", "stable-slot zaps", "checked guest passes",
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

struct rng {
	uint64_t s;
};

static struct vm vm;
static struct storm_slot slots[NR_SLOTS];
static unsigned int gpa_bits;
static atomic_bool stop;
static _Atomic uint64_t calls[NR_CLASSES][NR_RESULTS];
static _Atomic uint64_t events[NR_EVENTS];
static pthread_t prefaulters[NR_PREFAULTERS];
static pthread_mutex_t violation_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Held while an address range is unmapped to be mapped again in place, and
 * by every new mapping: another thread's mmap() must not land in the gap.
 */
static pthread_mutex_t vaddr_lock = PTHREAD_MUTEX_INITIALIZER;
static char violations[MAX_VIOLATIONS][256];
static _Atomic uint64_t nr_violations;
/* Memslot updates and the time they took (a mutator holds the lock). */
static uint64_t slot_updates;
static double slot_update_s;
/* Pages the guest read wrong during the storm (-1: it could not run). */
static int64_t storm_guest_bad;
/*
 * Set when a guest run found its vCPU's state replaced by the emulator
 * (vm_run_guest(): ENOTRECOVERABLE): what it said.  The storm is then void.
 */
static char emulator_fault[200];
static pthread_mutex_t emulator_fault_lock = PTHREAD_MUTEX_INITIALIZER;

/* Records vm.err as the emulator's fault and ends the storm. */
static void note_emulator_fault(void)
{
	pthread_mutex_lock(&emulator_fault_lock);
	if (!emulator_fault[0])
		snprintf(emulator_fault, sizeof(emulator_fault), "%s", vm.err);
	pthread_mutex_unlock(&emulator_fault_lock);
	atomic_store(&stop, true);
}

enum storm_case {
	C_SETUP, C_GPA_WIDTH, C_NO_VIOLATION, C_GUEST_DURING, C_EVERY_EVENT,
	C_LAYOUT, C_HOST_LAST_WRITE, C_GUEST_LAST_WRITE, C_GUEST_WRITES,
	C_FINAL_PREFAULT, C_FINAL_EXITS, NR_CASES,
};

static const char *const case_names[NR_CASES] = {
	[C_SETUP] = "setup",
	[C_GPA_WIDTH] = "gpa_width_edges",
	[C_NO_VIOLATION] = "storm_without_violation",
	[C_GUEST_DURING] = "guest_read_what_the_host_wrote_during_storm",
	[C_EVERY_EVENT] = "every_event_happened",
	[C_LAYOUT] = "layout_restored",
	[C_HOST_LAST_WRITE] = "host_sees_last_host_write",
	[C_GUEST_LAST_WRITE] = "guest_sees_last_host_write_on_every_vcpu",
	[C_GUEST_WRITES] = "host_sees_every_guest_write",
	[C_FINAL_PREFAULT] = "final_prefault_complete",
	[C_FINAL_EXITS] = "guest_after_final_prefault_exits_at_most_1pct",
};

/*
 * The emulator changed a vCPU's state under the guest: nothing this run
 * saw says anything about KVM, so the cases left are skipped with the
 * reason (kselftest's skip code).
 */
static int storm_void(struct ktap *t)
{
	ktap_diag("%s", emulator_fault);
	while (t->n < NR_CASES)
		ktap_skip(t, case_names[t->n], "the emulator replaced a vCPU's state (see README)");
	return 4;
}

/* The guest thread's passes: how long the first and the longest took. */
static double guest_pass_first_s, guest_pass_max_s;
static int64_t guest_pass_max_exits;

static void violation(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&nr_violations, 1);
	va_list ap;

	if (n >= MAX_VIOLATIONS)
		return;
	pthread_mutex_lock(&violation_lock);
	va_start(ap, fmt);
	vsnprintf(violations[n], sizeof(violations[n]), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&violation_lock);
}

static uint64_t rng_next(struct rng *r)
{
	/* splitmix64: any seed, including 0, gives a full-period stream. */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}


/* The word the host writes at the start of @slot's page @i, generation @gen. */
static uint32_t page_word(int slot, uint64_t i, uint32_t gen)
{
	uint32_t w = (uint32_t)((slot + 1) * 0x9e3779b1u) ^
		     (uint32_t)(i * 2654435761u) ^ (gen * 0x85ebca77u);

	return w ? w : 1;
}

/* Host writes a new generation into pages [first, first + n) of @s. */
static void slot_fill(struct storm_slot *s, uint64_t first, uint64_t n)
{
	uint64_t i;

	s->gen++;
	for (i = first; i < first + n; i++) {
		s->expect[i] = page_word(s->index, i, s->gen);
		memcpy(s->buf + i * PAGE, &s->expect[i], sizeof(uint32_t));
	}
}

static int slot_update(struct storm_slot *s)
{
	struct kvm_userspace_memory_region region = {
		.slot = s->id,
		.flags = s->logging ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = s->gpa,
		.memory_size = s->present ? SLOT_SIZE : 0,
		.userspace_addr = (uint64_t)s->buf,
	};

	uint64_t t0 = now_ns();
	int r;

	r = watchdog_ioctl(vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &region,
			   "KVM_SET_USER_MEMORY_REGION");
	slot_update_s += seconds_since(t0);
	slot_updates++;
	if (r) {
		violation("KVM_SET_USER_MEMORY_REGION slot %u gpa 0x%llx size %llu: %s",
			  s->id, (unsigned long long)s->gpa,
			  (unsigned long long)region.memory_size, strerror(errno));
		return -1;
	}
	return 0;
}

static void slot_advise(struct storm_slot *s)
{
	madvise(s->buf, SLOT_SIZE, s->thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

/* New host memory for @s, filled; the old mapping is left to the caller. */
static int slot_alloc(struct storm_slot *s)
{
	char *map;

	pthread_mutex_lock(&vaddr_lock);
	map = mmap(NULL, SLOT_SIZE + BLOCK, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_mutex_unlock(&vaddr_lock);
	if (map == MAP_FAILED) {
		violation("mmap: %s", strerror(errno));
		return -1;
	}
	s->map = map;
	s->buf = (char *)(((uintptr_t)map + BLOCK - 1) & ~(BLOCK - 1));
	slot_advise(s);
	slot_fill(s, 0, SLOT_PAGES);
	return 0;
}

/* Re-create the deleted @s at its home GPA on new host memory. */
static int slot_recreate(struct storm_slot *s)
{
	void *old_map = s->map;
	char *old_buf = s->buf;
	int r;

	if (slot_alloc(s))
		return -1;
	/* The old memory is still mapped, so the new one is elsewhere. */
	if (s->buf == old_buf)
		violation("slot %u re-created at its old host address", s->id);
	s->gpa = s->home;
	s->present = true;
	r = slot_update(s);
	munmap(old_map, SLOT_SIZE + BLOCK);
	return r;
}

static int64_t guest_check_slot(int cpu, int k);

static void usleep_rand(struct rng *r, unsigned int max_us)
{
	usleep(rng_below(r, max_us + 1));
}

static void *slot_thread(void *arg)
{
	struct rng r = { *(uint64_t *)arg };

	while (!atomic_load(&stop)) {
		struct storm_slot *s = &slots[rng_below(&r, NR_SLOTS)];
		unsigned int op = rng_below(&r, 4);

		pthread_mutex_lock(&s->lock);
		if (s->index != STABLE_SLOT && !s->present) {
			if (!slot_recreate(s))
				events[EV_RECREATE]++;
		} else if (op == 0 && s->index != STABLE_SLOT) {
			s->present = false;
			if (!slot_update(s))
				events[EV_DELETE]++;
		} else if (op == 1 && s->index != STABLE_SLOT) {
			s->gpa = s->gpa == s->home ? s->home + MOVE_OFFSET : s->home;
			if (!slot_update(s))
				events[EV_MOVE]++;
		} else if (op == 2 || !s->logging) {
			s->logging = !s->logging;
			if (!slot_update(s))
				events[EV_LOG_TOGGLE]++;
		} else {
			uint64_t bitmap[SLOT_PAGES / 64];
			struct kvm_dirty_log log = { .slot = s->id, .dirty_bitmap = bitmap };

			if (watchdog_ioctl(vm.vm_fd, KVM_GET_DIRTY_LOG, &log,
					   "KVM_GET_DIRTY_LOG"))
				violation("KVM_GET_DIRTY_LOG slot %u: %s", s->id,
					  strerror(errno));
			else
				events[EV_LOG_READ]++;
		}
		pthread_mutex_unlock(&s->lock);
		usleep_rand(&r, 500);
	}
	return NULL;
}

static void *memory_thread(void *arg)
{
	struct rng r = { *(uint64_t *)arg };

	while (!atomic_load(&stop)) {
		struct storm_slot *s = &slots[rng_below(&r, NR_SLOTS)];
		unsigned int op = rng_below(&r, s->index == STABLE_SLOT ? 2 : 3);

		pthread_mutex_lock(&s->lock);
		if (op == 0) {
			/* A few pages, or a whole 2 MiB block of a THP slot. */
			bool block = s->thp && rng_below(&r, 2);
			uint64_t n = block ? BLOCK / PAGE : 1 + rng_below(&r, 64);
			uint64_t first = block ? rng_below(&r, SLOT_SIZE / BLOCK) * n :
					 rng_below(&r, SLOT_PAGES - n + 1);

			if (madvise(s->buf + first * PAGE, n * PAGE, MADV_DONTNEED))
				violation("MADV_DONTNEED: %s", strerror(errno));
			slot_fill(s, first, n);
			events[EV_DONTNEED]++;
		} else if (op == 1) {
			if (mprotect(s->buf, SLOT_SIZE, PROT_READ))
				violation("mprotect read-only: %s", strerror(errno));
			usleep_rand(&r, 1000);
			if (mprotect(s->buf, SLOT_SIZE, PROT_READ | PROT_WRITE))
				violation("mprotect read-write: %s", strerror(errno));
			events[EV_MPROTECT]++;
		} else {
			void *map;

			pthread_mutex_lock(&vaddr_lock);
			if (munmap(s->buf, SLOT_SIZE))
				violation("munmap: %s", strerror(errno));
			usleep_rand(&r, 500);
			map = mmap(s->buf, SLOT_SIZE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			pthread_mutex_unlock(&vaddr_lock);
			if (map != s->buf) {
				violation("mmap at the same address: %s", strerror(errno));
				atomic_store(&stop, true);
			} else {
				slot_advise(s);
				slot_fill(s, 0, SLOT_PAGES);
				events[EV_REMAP]++;
			}
		}
		pthread_mutex_unlock(&s->lock);
		usleep_rand(&r, 500);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	events[EV_SIGNAL_DELIVERED]++;
}

static void *signal_thread(void *arg)
{
	struct rng r = { *(uint64_t *)arg };

	while (!atomic_load(&stop)) {
		usleep_rand(&r, 2000);
		if (!pthread_kill(prefaulters[rng_below(&r, NR_PREFAULTERS)], SIGUSR1))
			events[EV_SIGNAL_SENT]++;
	}
	return NULL;
}

/*
 * The guest reads the stable slot over and over while everything churns,
 * with the slot's lock held: what it reads must be exactly what the host
 * last wrote.  A mapping installed from a page the host had just zapped
 * (a missed mmu_notifier retry) shows the old pattern here, before a
 * later invalidation of the slot could drop it.
 */
static void *guest_thread(void *arg)
{
	struct storm_slot *s = &slots[STABLE_SLOT];
	int64_t bad, exits;
	uint64_t t0;
	double took;

	(void)arg;
	while (!atomic_load(&stop)) {
		pthread_mutex_lock(&s->lock);
		exits = vm_vcpu_guest_exits(&vm, GUEST_CPU);
		t0 = now_ns();
		bad = guest_check_slot(GUEST_CPU, STABLE_SLOT);
		took = seconds_since(t0);
		exits = vm_vcpu_guest_exits(&vm, GUEST_CPU) - exits;
		pthread_mutex_unlock(&s->lock);
		if (bad) {
			storm_guest_bad = bad;
			break;
		}
		if (!events[EV_GUEST_PASS])
			guest_pass_first_s = took;
		if (took > guest_pass_max_s) {
			guest_pass_max_s = took;
			guest_pass_max_exits = exits;
		}
		events[EV_GUEST_PASS]++;
		/* Leave the mutators the CPUs and the lock now and then. */
		usleep(3000);
	}
	return NULL;
}

/*
 * Zaps and rewrites a few pages of the stable slot at a time, while the
 * pre-faulters aim at the same pages: the mmu_notifier race, made common.
 */
static void *zap_thread(void *arg)
{
	struct storm_slot *s = &slots[STABLE_SLOT];
	struct rng r = { *(uint64_t *)arg };
	uint64_t first, n;

	while (!atomic_load(&stop)) {
		n = 1 + rng_below(&r, 16);
		first = rng_below(&r, SLOT_PAGES - n + 1);
		pthread_mutex_lock(&s->lock);
		if (madvise(s->buf + first * PAGE, n * PAGE, MADV_DONTNEED))
			violation("MADV_DONTNEED: %s", strerror(errno));
		slot_fill(s, first, n);
		pthread_mutex_unlock(&s->lock);
		events[EV_ZAP]++;
		usleep_rand(&r, 1000);
	}
	return NULL;
}

static enum result result_of(int r, int err)
{
	if (!r)
		return RES_OK;
	switch (err) {
	case ENOENT: return RES_ENOENT;
	case EAGAIN: return RES_EAGAIN;
	case EINTR: return RES_EINTR;
	case EFAULT: return RES_EFAULT;
	case EINVAL: return RES_EINVAL;
	default: return RES_OTHER;
	}
}

/* A random range of @cls into @range. */
static void pick_range(struct rng *r, enum range_class cls,
		       struct kvm_pre_fault_memory *range)
{
	uint64_t limit = 1ULL << gpa_bits;
	uint64_t base = VM_DATA_GPA + rng_below(r, NR_SLOTS) * SLOT_WINDOW;
	uint64_t n;

	memset(range, 0, sizeof(*range));
	switch (cls) {
	case RANGE_SLOT:
		switch (rng_below(r, 5)) {
		case 0:		/* anywhere in a slot's home or moved place */
			base += rng_below(r, 2) * MOVE_OFFSET;
			range->gpa = base + rng_below(r, SLOT_PAGES) * PAGE;
			range->size = (1 + rng_below(r, SLOT_PAGES)) * PAGE;
			break;
		case 1:		/* the last pages, straddling the slot's end */
			base += rng_below(r, 2) * MOVE_OFFSET;
			range->gpa = base + SLOT_SIZE - (1 + rng_below(r, 8)) * PAGE;
			range->size = (1 + rng_below(r, 16)) * PAGE;
			break;
		case 2:		/* one 2 MiB block, or one page */
			base += rng_below(r, 2) * MOVE_OFFSET;
			range->gpa = base + rng_below(r, SLOT_SIZE / BLOCK) * BLOCK;
			range->size = rng_below(r, 2) ? BLOCK : PAGE;
			break;
		case 3:		/* a few pages of the stable slot, being zapped */
			range->gpa = slots[STABLE_SLOT].home +
				     rng_below(r, SLOT_PAGES) * PAGE;
			range->size = (1 + rng_below(r, 16)) * PAGE;
			break;
		default:	/* across slots and the holes between them */
			range->gpa = base + rng_below(r, SLOT_PAGES) * PAGE;
			range->size = SLOT_WINDOW + rng_below(r, SLOT_PAGES) * PAGE;
			break;
		}
		break;
	case RANGE_HOLE:
		if (rng_below(r, 4)) {
			n = (MOVE_OFFSET - SLOT_SIZE) / PAGE;
			range->gpa = base + SLOT_SIZE + rng_below(r, n) * PAGE;
			range->size = (1 + rng_below(r, (base + MOVE_OFFSET -
							 range->gpa) / PAGE)) * PAGE;
		} else {
			/* The very last pages below the GPA width. */
			n = 1 + rng_below(r, 16);
			range->gpa = limit - n * PAGE;
			range->size = (1 + rng_below(r, n)) * PAGE;
		}
		break;
	default:
		range->gpa = base;
		range->size = PAGE;
		switch (rng_below(r, 9)) {
		case 0: range->size = 0; break;
		case 1: range->size = ~0ULL; break;
		case 2: range->size = ~0ULL & ~(PAGE - 1); break;	/* wraps */
		case 3: range->size += 1 + rng_below(r, PAGE - 1); break;
		case 4: range->gpa += 1 + rng_below(r, PAGE - 1); break;
		case 5: range->flags = 1ULL << rng_below(r, 64); break;
		case 6: range->gpa = limit + rng_below(r, 1 << 20) * PAGE; break;
		case 7:	/* straddles the GPA width */
			range->gpa = limit - (1 + rng_below(r, 16)) * PAGE;
			range->size = limit - range->gpa + (1 + rng_below(r, 16)) * PAGE;
			break;
		default: range->gpa = -PAGE; break;	/* gpa + size == 0 */
		}
		break;
	}
	/* Padding is not part of the contract: whatever it holds, it is kept. */
	if (rng_below(r, 2))
		for (n = 0; n < 5; n++)
			range->padding[n] = rng_next(r);
}

static void check_call(enum range_class cls, const struct kvm_pre_fault_memory *in,
		       const struct kvm_pre_fault_memory *out, int r, int err)
{
	enum result res = result_of(r, err);
	uint64_t done = out->gpa - in->gpa;

	calls[cls][res]++;
	if (!(allowed[cls] & (1u << res)))
		violation("%s range gpa 0x%llx size 0x%llx flags 0x%llx: %s (%s)",
			  class_names[cls], (unsigned long long)in->gpa,
			  (unsigned long long)in->size, (unsigned long long)in->flags,
			  r ? strerror(err) : "success", result_names[res]);
	if (r) {
		if (memcmp(in, out, sizeof(*in)))
			violation("%s range gpa 0x%llx size 0x%llx: %s changed the struct to gpa 0x%llx size 0x%llx",
				  class_names[cls], (unsigned long long)in->gpa,
				  (unsigned long long)in->size, strerror(err),
				  (unsigned long long)out->gpa,
				  (unsigned long long)out->size);
		return;
	}
	if (out->gpa <= in->gpa || done % PAGE || done > in->size ||
	    out->size != in->size - done || out->flags != in->flags ||
	    memcmp(out->padding, in->padding, sizeof(in->padding)))
		violation("range gpa 0x%llx size 0x%llx: success left gpa 0x%llx size 0x%llx flags 0x%llx",
			  (unsigned long long)in->gpa, (unsigned long long)in->size,
			  (unsigned long long)out->gpa, (unsigned long long)out->size,
			  (unsigned long long)out->flags);
}

struct prefaulter {
	uint64_t seed;
	int cpu;
};

static void *prefault_thread(void *arg)
{
	const struct prefaulter *p = arg;
	struct kvm_pre_fault_memory in, out;
	struct rng r = { p->seed };
	enum range_class cls;
	unsigned int dice;
	int ret;

	while (!atomic_load(&stop)) {
		dice = rng_below(&r, 100);
		cls = dice < 70 ? RANGE_SLOT : dice < 85 ? RANGE_HOLE : RANGE_INVALID;
		pick_range(&r, cls, &in);
		out = in;
		ret = watchdog_ioctl(vm.vcpu[p->cpu].fd, KVM_PRE_FAULT_MEMORY, &out,
				     "KVM_PRE_FAULT_MEMORY");
		check_call(cls, &in, &out, ret, errno);
	}
	return NULL;
}

/* One pre-fault of [gpa, gpa + size) on vCPU 0 with no concurrency. */
/*
 * Host events that take pages out of the VM's second stage behind the
 * VMM's back (migration by compaction, THP collapse and split, reclaim):
 * their total in /proc/vmstat, or -1 when it cannot be read.
 */
static int64_t host_invalidations(void)
{
	static const char *const names[] = {
		"pgmigrate_success", "thp_collapse_alloc", "thp_split_pmd",
		"pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged",
	};
	char name[64];
	long long value;
	int64_t total = 0;
	size_t i;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", name, &value) == 2)
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(name, names[i]))
				total += value;
	fclose(f);
	return total;
}

static int prefault_once(uint64_t gpa, uint64_t size, struct kvm_pre_fault_memory *out)
{
	*out = (struct kvm_pre_fault_memory){ .gpa = gpa, .size = size };
	return watchdog_ioctl(vm.vcpu[0].fd, KVM_PRE_FAULT_MEMORY, out,
			      "KVM_PRE_FAULT_MEMORY") ? -errno : 0;
}

/*
 * The guest-physical width: the highest power of two at which a one-page
 * pre-fault is not EINVAL (but ENOENT: no slot there) is the last one
 * inside.  Then the edges must be exact: the last page below is ENOENT,
 * one page more is EINVAL.
 */
static bool probe_gpa_bits(void)
{
	struct kvm_pre_fault_memory out;
	uint64_t limit;
	int k, r1, r2, r3;

	for (k = 63; k >= 32; k--)
		if (prefault_once(1ULL << k, PAGE, &out) == -ENOENT)
			break;
	gpa_bits = k + 1;
	limit = 1ULL << gpa_bits;
	r1 = prefault_once(limit - PAGE, PAGE, &out);
	r2 = prefault_once(limit - PAGE, 2 * PAGE, &out);
	r3 = prefault_once(limit, PAGE, &out);
	ktap_diag("guest-physical width %u bits: last page below %s, one page across %s, first page beyond %s",
		  gpa_bits, strerror(-r1), strerror(-r2), strerror(-r3));
	return k >= 32 && gpa_bits <= 64 && r1 == -ENOENT && r2 == -EINVAL &&
	       r3 == -EINVAL;
}

static bool setup(void)
{
	int i, r;

	r = vm_create(&vm);
	for (i = 1; !r && i < NR_CPUS; i++)
		r = vm_add_vcpu(&vm) < 0;
	if (r) {
		ktap_diag("%s", vm.err);
		return false;
	}
	for (i = 0; i < NR_SLOTS; i++) {
		struct storm_slot *s = &slots[i];

		pthread_mutex_init(&s->lock, NULL);
		s->index = i;
		s->id = VM_DATA_SLOT + i;
		s->home = s->gpa = VM_DATA_GPA + i * SLOT_WINDOW;
		s->thp = i & 1;
		s->present = true;
		if (slot_alloc(s) || slot_update(s))
			return false;
	}
	return true;
}

static bool all_events_seen(void)
{
	static const enum result need_results[] = {
		RES_OK, RES_ENOENT, RES_EAGAIN, RES_EINTR, RES_EINVAL,
	};
	uint64_t n;
	unsigned int i, c;

	for (i = 0; i < NR_EVENTS; i++)
		if (!events[i])
			return false;
	for (i = 0; i < sizeof(need_results) / sizeof(need_results[0]); i++) {
		for (n = 0, c = 0; c < NR_CLASSES; c++)
			n += calls[c][need_results[i]];
		if (!n)
			return false;
	}
	return true;
}

static void print_counts(void)
{
	unsigned int c, i;
	char line[512];
	int len;

	for (c = 0; c < NR_CLASSES; c++) {
		len = snprintf(line, sizeof(line), "calls on %s ranges:", class_names[c]);
		for (i = 0; i < NR_RESULTS; i++)
			len += snprintf(line + len, sizeof(line) - len, " %s %llu",
					result_names[i], (unsigned long long)calls[c][i]);
		ktap_diag("%s", line);
	}
	len = snprintf(line, sizeof(line), "events:");
	for (i = 0; i < NR_EVENTS; i++)
		len += snprintf(line + len, sizeof(line) - len, "%s %s %llu",
				i ? "," : "", event_names[i],
				(unsigned long long)events[i]);
	ktap_diag("%s", line);
}

/* Prints the violations not printed yet: true when there were none. */
static bool print_violations(void)
{
	static uint64_t printed;
	uint64_t i, n = atomic_load(&nr_violations);
	bool none = n == printed;

	for (i = printed; i < n && i < MAX_VIOLATIONS; i++)
		ktap_diag("violation: %s", violations[i]);
	if (n > MAX_VIOLATIONS && printed < n)
		ktap_diag("... %llu violations in all", (unsigned long long)n);
	printed = n;
	return none;
}

/* Every slot back home, present, not logging. */
static bool restore_layout(void)
{
	uint64_t before = atomic_load(&nr_violations);
	int i;

	for (i = 0; i < NR_SLOTS; i++) {
		struct storm_slot *s = &slots[i];

		if (!s->present) {
			slot_recreate(s);
			continue;
		}
		if (s->gpa != s->home || s->logging) {
			s->gpa = s->home;
			s->logging = false;
			slot_update(s);
		}
	}
	return atomic_load(&nr_violations) == before;
}

/* Pages whose first word differs from what the host last wrote. */
static uint64_t host_check(uint64_t *checked)
{
	uint64_t i, bad = 0;
	uint32_t w;
	int k;

	for (k = 0; k < NR_SLOTS; k++)
		for (i = 0; i < SLOT_PAGES; i++, ++*checked) {
			memcpy(&w, slots[k].buf + i * PAGE, sizeof(w));
			if (w != slots[k].expect[i] && ++bad <= 5)
				ktap_diag("host: slot %d page %llu holds 0x%08x, wrote 0x%08x",
					  k, (unsigned long long)i, w, slots[k].expect[i]);
		}
	return bad;
}

/*
 * The guest on @cpu reads every page of slot @k at its home GPA; a wrong
 * sum is followed by a page-by-page read that names the pages.  Pages that
 * differ from what the host last wrote, or -1 when the guest could not run.
 */
static int64_t guest_check_slot(int cpu, int k)
{
	const struct storm_slot *s = &slots[k];
	uint32_t sum, want, got;
	int64_t bad = 0;
	uint64_t i;
	int r;

	for (want = 0, i = 0; i < SLOT_PAGES; i++)
		want += s->expect[i];
	r = vm_run_guest(&vm, cpu, s->home, SLOT_SIZE, PAGE, VM_GUEST_READ, &sum);
	if (r == -ENOTRECOVERABLE) {
		note_emulator_fault();
		return -1;
	}
	if (r) {
		violation("guest on vCPU %d reading slot %d: %s", cpu, k, vm.err);
		return -1;
	}
	if (sum == want)
		return 0;
	for (i = 0; i < SLOT_PAGES; i++) {
		got = 0;
		r = vm_run_guest(&vm, cpu, s->home + i * PAGE, PAGE, PAGE,
				 VM_GUEST_READ, &got);
		if (r && ++bad <= 5)
			violation("guest on vCPU %d: slot %d page %llu: %s", cpu, k,
				  (unsigned long long)i, vm.err);
		else if (!r && got != s->expect[i] && ++bad <= 5)
			violation("guest on vCPU %d: slot %d page %llu reads 0x%08x, host wrote 0x%08x (generation %u)",
				  cpu, k, (unsigned long long)i, got,
				  s->expect[i], s->gen);
	}
	return bad;
}

/* Every slot through vCPU @cpu: pages that differ, or -1. */
static int64_t guest_check(int cpu, uint64_t *checked)
{
	int64_t bad = 0, r;
	int k;

	for (k = 0; k < NR_SLOTS; k++) {
		r = guest_check_slot(cpu, k);
		if (r < 0)
			return r;
		bad += r;
		*checked += SLOT_PAGES;
	}
	return bad;
}

/* vCPU c writes every NR_CPUS-th page, from page c; the host checks all. */
static int64_t guest_write_check(void)
{
	int64_t bad = 0;
	uint32_t sum, w;
	uint64_t i;
	int k, cpu, r;

	for (cpu = 0; cpu < NR_CPUS; cpu++)
		for (k = 0; k < NR_SLOTS; k++) {
			r = vm_run_guest(&vm, cpu, slots[k].home + cpu * PAGE,
					 SLOT_SIZE - cpu * PAGE, NR_CPUS * PAGE,
					 VM_GUEST_WRITE, &sum);
			if (r == -ENOTRECOVERABLE)
				note_emulator_fault();
			else if (r)
				ktap_diag("guest write on vCPU %d: %s", cpu, vm.err);
			if (r)
				return -1;
		}
	for (k = 0; k < NR_SLOTS; k++)
		for (i = 0; i < SLOT_PAGES; i++) {
			uint32_t want = (uint32_t)(slots[k].home + i * PAGE);

			memcpy(&w, slots[k].buf + i * PAGE, sizeof(w));
			if (w != want && ++bad <= 5)
				ktap_diag("host: slot %d page %llu holds 0x%08x after the guest wrote 0x%08x",
					  k, (unsigned long long)i, w, want);
			slots[k].expect[i] = w;
		}
	return bad;
}

static uint64_t seed_from(int argc, char **argv)
{
	char buf[4096], *v = argc > 1 ? argv[1] : cmdline_value("storm_seed", buf, sizeof(buf));
	struct timespec ts;

	if (v && *v)
		return strtoull(v, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000007ULL ^ ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

int main(int argc, char **argv)
{
	struct prefaulter pf[NR_PREFAULTERS];
	uint64_t seed = seed_from(argc, argv), thread_seed[4], checked;
	pthread_t slot_t, memory_t, signal_t, zap_t, guest_t;
	struct sigaction sa = { .sa_handler = on_signal };
	int64_t bad, exits[NR_CPUS];
	unsigned int seconds = DEFAULT_SECONDS;
	char buf[4096], *v, err[160];
	uint64_t start;
	double elapsed;
	bool ok;
	struct ktap t;
	int i, k, cap;

	v = cmdline_value("storm_seconds", buf, sizeof(buf));
	if (v && atoi(v) > 0)
		seconds = atoi(v);
	if (vm_pre_fault_capability(&cap, NULL, err, sizeof(err)))
		return ktap_fail_only(&t, "vm_create", err);
	if (cap <= 0) {
		printf("KTAP version 1\n1..0 # SKIP KVM_PRE_FAULT_MEMORY is not enabled for this VM\n");
		return 4;
	}
	ktap_plan(&t, NR_CASES);
	ktap_diag("storm seed %llu (repeat with kvmpf.storm_seed=%llu), %u s, %d vCPUs",
		  (unsigned long long)seed, (unsigned long long)seed, seconds, NR_CPUS);
	if (!ktap_result(&t, setup(), case_names[C_SETUP]) || !print_violations())
		return ktap_exit_code(&t);
	ktap_result(&t, probe_gpa_bits(), case_names[C_GPA_WIDTH]);

	/* No SA_RESTART: a signal ends a blocked pre-fault with EINTR. */
	sigaction(SIGUSR1, &sa, NULL);
	for (i = 0; i < NR_PREFAULTERS; i++) {
		pf[i].seed = seed + 1 + i;
		pf[i].cpu = 1 + i;
		pthread_create(&prefaulters[i], NULL, prefault_thread, &pf[i]);
	}
	for (i = 0; i < 4; i++)
		thread_seed[i] = seed + 1 + NR_PREFAULTERS + i;
	pthread_create(&slot_t, NULL, slot_thread, &thread_seed[0]);
	pthread_create(&memory_t, NULL, memory_thread, &thread_seed[1]);
	pthread_create(&signal_t, NULL, signal_thread, &thread_seed[2]);
	pthread_create(&zap_t, NULL, zap_thread, &thread_seed[3]);
	pthread_create(&guest_t, NULL, guest_thread, NULL);
	/* At least @seconds; then until every event was seen, at most 3x. */
	start = now_ns();
	do {
		sleep(1);
		elapsed = seconds_since(start);
	} while (!atomic_load(&stop) &&
		 (elapsed < seconds || (!all_events_seen() && elapsed < 3 * seconds)));
	atomic_store(&stop, true);
	pthread_join(signal_t, NULL);
	for (i = 0; i < NR_PREFAULTERS; i++)
		pthread_join(prefaulters[i], NULL);
	pthread_join(slot_t, NULL);
	pthread_join(memory_t, NULL);
	pthread_join(zap_t, NULL);
	pthread_join(guest_t, NULL);
	ktap_diag("storm ran %.1f s; %llu memslot updates took %.1f ms each on average",
		  seconds_since(start), (unsigned long long)slot_updates,
		  slot_updates ? slot_update_s * 1000 / slot_updates : 0.0);
	print_counts();
	if (emulator_fault[0])
		return storm_void(&t);
	ktap_diag("guest passes over the stable slot: first %.1f s, longest %.1f s with %lld exits",
		  guest_pass_first_s, guest_pass_max_s, (long long)guest_pass_max_exits);
	ktap_result(&t, print_violations(), case_names[C_NO_VIOLATION]);
	if (!ktap_result(&t, !storm_guest_bad && events[EV_GUEST_PASS],
			 case_names[C_GUEST_DURING]))
		ktap_diag("%lld pages wrong after %llu good passes", (long long)storm_guest_bad,
			  (unsigned long long)events[EV_GUEST_PASS]);
	if (!ktap_result(&t, all_events_seen(), case_names[C_EVERY_EVENT]))
		ktap_diag("each result (progress, ENOENT, EAGAIN, EINTR, EINVAL) and each event must occur");

	ktap_result(&t, restore_layout() && print_violations(), case_names[C_LAYOUT]);
	checked = 0;
	bad = host_check(&checked);
	ktap_diag("host checked %llu pages: %lld differ", (unsigned long long)checked,
		  (long long)bad);
	ktap_result(&t, bad == 0, case_names[C_HOST_LAST_WRITE]);
	checked = 0;
	for (ok = true, i = 0; i < NR_CPUS; i++) {
		bad = guest_check(i, &checked);
		ok = ok && bad == 0;
	}
	if (emulator_fault[0])
		return storm_void(&t);
	ktap_diag("guest checked %llu pages on %d vCPUs", (unsigned long long)checked,
		  NR_CPUS);
	ktap_result(&t, print_violations() && ok, case_names[C_GUEST_LAST_WRITE]);
	bad = guest_write_check();
	if (emulator_fault[0])
		return storm_void(&t);
	ktap_result(&t, bad == 0, case_names[C_GUEST_WRITES]);

	/*
	 * Fresh memory everywhere (the deletions drop every mapping), one
	 * pre-fault per slot, and the guest must not fault on any vCPU.
	 */
	for (k = 0; k < NR_SLOTS; k++) {
		slots[k].present = false;
		slot_update(&slots[k]);
		slot_recreate(&slots[k]);
	}
	for (ok = print_violations(), k = 0; k < NR_SLOTS; k++) {
		struct kvm_pre_fault_memory out;
		int r = prefault_once(slots[k].home, SLOT_SIZE, &out);

		if (r || out.size) {
			ktap_diag("final pre-fault of slot %d: %s, 0x%llx bytes left", k,
				  strerror(-r), (unsigned long long)out.size);
			ok = false;
		}
	}
	ktap_result(&t, ok, case_names[C_FINAL_PREFAULT]);
	for (ok = true, i = 0; i < NR_CPUS; i++) {
		int64_t max_exits = NR_SLOTS * SLOT_PAGES / 100, host, before;
		int tries;

		/*
		 * The host may move or drop pages during the read (compaction
		 * after the storm's allocations, say): the guest then faults
		 * on them as it should.  Such a read is reported and done
		 * again after another pre-fault, once; a read with too many
		 * exits and no such host event fails.
		 */
		for (tries = 0; tries < 2; tries++) {
			host = host_invalidations();
			before = vm_vcpu_guest_exits(&vm, i);
			checked = 0;
			bad = guest_check(i, &checked);
			exits[i] = vm_vcpu_guest_exits(&vm, i) - before;
			host = host < 0 ? -1 : host_invalidations() - host;
			if (emulator_fault[0])
				return storm_void(&t);
			ktap_diag("after the final pre-fault, vCPU %d read %llu pages with %lld exits (at most %lld), %lld host page moves or drops meanwhile",
				  i, (unsigned long long)checked, (long long)exits[i],
				  (long long)max_exits, (long long)host);
			if (exits[i] <= max_exits || host <= 0 || bad)
				break;
			for (k = 0; k < NR_SLOTS; k++) {
				struct kvm_pre_fault_memory out;

				prefault_once(slots[k].home, SLOT_SIZE, &out);
			}
		}
		ok = ok && bad == 0 && before >= 0 && exits[i] <= max_exits;
	}
	ktap_result(&t, print_violations() && ok,
		    case_names[C_FINAL_EXITS]);
	vm_destroy(&vm);
	return ktap_exit_code(&t);
}
