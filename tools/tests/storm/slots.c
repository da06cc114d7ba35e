// SPDX-License-Identifier: GPL-2.0-only
/*
 * The storm's VM and slots: the host memory behind each slot, the pattern
 * the host writes there, and the memslot calls that place it.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "clock.h"
#include "storm.h"
#include "watchdog.h"

struct vm vm;
struct storm_slot slots[NR_SLOTS];
unsigned int gpa_bits;
atomic_bool stop;
_Atomic uint64_t calls[NR_CLASSES][NR_RESULTS];
_Atomic uint64_t events[NR_EVENTS];
pthread_mutex_t vaddr_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t slot_updates;
double slot_update_s;
int64_t storm_guest_bad;
double guest_pass_first_s, guest_pass_max_s;
int64_t guest_pass_max_exits;

/* The word the host writes at the start of @slot's page @i, generation @gen. */
static uint32_t page_word(int slot, uint64_t i, uint32_t gen)
{
	uint32_t w = (uint32_t)((slot + 1) * 0x9e3779b1u) ^
		     (uint32_t)(i * 2654435761u) ^ (gen * 0x85ebca77u);

	return w ? w : 1;
}

/* Host writes a new generation into pages [first, first + n) of @s. */
void slot_fill(struct storm_slot *s, uint64_t first, uint64_t n)
{
	uint64_t i;

	s->gen++;
	for (i = first; i < first + n; i++) {
		s->expect[i] = page_word(s->index, i, s->gen);
		memcpy(s->buf + i * PAGE, &s->expect[i], sizeof(uint32_t));
	}
}

int slot_update(struct storm_slot *s)
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

void slot_advise(struct storm_slot *s)
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
int slot_recreate(struct storm_slot *s)
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

bool setup(void)
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
