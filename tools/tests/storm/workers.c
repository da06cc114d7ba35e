// SPDX-License-Identifier: GPL-2.0-only
/*
 * The storm's threads: two vCPUs pre-fault random, edge and invalid
 * ranges, a guest reads the stable slot on a third, while the others
 * delete, re-create, move and dirty-log the slots, zap, protect and remap
 * their memory, and signal the pre-faulters.  Each thread draws from its
 * own seeded stream.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "storm.h"
#include "watchdog.h"

struct rng {
	uint64_t s;
};

static pthread_t prefaulters[NR_PREFAULTERS];

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

/* In or across the slots' windows, from the one at @base. */
static void pick_slot_range(struct rng *r, uint64_t base,
			    struct kvm_pre_fault_memory *range)
{
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
}

/* Between the slots, or the last pages below the GPA width (@limit). */
static void pick_hole_range(struct rng *r, uint64_t base, uint64_t limit,
			    struct kvm_pre_fault_memory *range)
{
	uint64_t n;

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
}

/* What only EINVAL may answer: see RANGE_INVALID. */
static void pick_invalid_range(struct rng *r, uint64_t base, uint64_t limit,
			       struct kvm_pre_fault_memory *range)
{
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
		pick_slot_range(r, base, range);
		break;
	case RANGE_HOLE:
		pick_hole_range(r, base, limit, range);
		break;
	default:
		pick_invalid_range(r, base, limit, range);
		break;
	}
	/* Padding is not part of the contract: whatever it holds, it is kept. */
	if (rng_below(r, 2))
		for (n = 0; n < 5; n++)
			range->padding[n] = rng_next(r);
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

void storm_run(uint64_t seed, unsigned int seconds)
{
	struct prefaulter pf[NR_PREFAULTERS];
	pthread_t slot_t, memory_t, signal_t, zap_t, guest_t;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t thread_seed[4], start;
	double elapsed;
	int i;

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
}
