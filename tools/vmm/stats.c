// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMM's vCPU statistics (vm.h): read from each vCPU's binary
 * statistics fd, by name, and described to the watchdog.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"
#include "vm_arch.h"

/*
 * Where the arch counts no exits apart (arm64, riscv): "exits" counts them
 * all, the host's interrupts only among them.
 */
__attribute__((weak)) const char vm_arch_exits_stat[] = "exits";
__attribute__((weak)) const char *const vm_arch_interrupt_exit_stats[] = { NULL };

/* A vCPU's binary statistics at one moment: descriptors and values. */
struct vm_stats {
	uint32_t num_desc;
	size_t desc_size;
	char *descs;
	uint64_t *data;		/* the data block, indexed by desc->offset / 8 */
};

static void vm_stats_free(struct vm_stats *st)
{
	free(st->descs);
	free(st->data);
	st->descs = NULL;
	st->data = NULL;
}

static struct kvm_stats_desc *vm_stats_desc(const struct vm_stats *st, uint32_t i)
{
	return (struct kvm_stats_desc *)(st->descs + i * st->desc_size);
}

/* Read every statistic of @stats_fd into @st: 0, -EIO or -ENOMEM. */
static int vm_stats_read(int stats_fd, struct vm_stats *st)
{
	struct kvm_stats_header hdr;
	struct kvm_stats_desc *desc;
	size_t data_size = 0, end;
	uint32_t i;

	*st = (struct vm_stats){};
	if (stats_fd < 0 ||
	    pread(stats_fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
		return -EIO;
	st->num_desc = hdr.num_desc;
	st->desc_size = sizeof(*desc) + hdr.name_size;
	st->descs = calloc(hdr.num_desc, st->desc_size);
	if (!st->descs)
		return -ENOMEM;
	if (pread(stats_fd, st->descs, hdr.num_desc * st->desc_size,
		  hdr.desc_offset) != (ssize_t)(hdr.num_desc * st->desc_size))
		goto eio;
	for (i = 0; i < hdr.num_desc; i++) {
		desc = vm_stats_desc(st, i);
		end = desc->offset + desc->size * sizeof(uint64_t);
		if (end > data_size)
			data_size = end;
	}
	st->data = calloc(1, data_size + sizeof(uint64_t));
	if (!st->data) {
		vm_stats_free(st);
		return -ENOMEM;
	}
	if (pread(stats_fd, st->data, data_size, hdr.data_offset) != (ssize_t)data_size)
		goto eio;
	return 0;
eio:
	vm_stats_free(st);
	return -EIO;
}

int vm_vcpu_stat_array(struct vm *vm, int cpu, const char *name,
		       uint64_t *data, uint32_t n)
{
	struct kvm_stats_desc *desc;
	struct vm_stats st;
	uint32_t i;
	int found;

	found = vm_stats_read(vm->vcpu[cpu].stats_fd, &st);
	if (found)
		return found;
	found = -ENOENT;
	for (i = 0; i < st.num_desc; i++) {
		desc = vm_stats_desc(&st, i);
		if (strcmp(desc->name, name))
			continue;
		found = desc->size < n ? desc->size : n;
		memset(data, 0, n * sizeof(*data));
		memcpy(data, st.data + desc->offset / sizeof(uint64_t),
		       found * sizeof(*data));
		break;
	}
	vm_stats_free(&st);
	return found;
}

/*
 * Exits climbing is a guest (or KVM) looping through faults or exits;
 * nothing moving is a task blocked in the kernel.
 */
void vm_vcpu_describe(void *ctx, FILE *out)
{
	const struct vm_vcpu *vcpu = ctx;
	struct kvm_stats_desc *desc;
	struct vm_stats a, b;
	bool moved = false;
	uint32_t i;

	if (vm_stats_read(vcpu->stats_fd, &a)) {
		fprintf(out, "# watchdog: vCPU %d: statistics unreadable\n", vcpu->index);
		return;
	}
	sleep(1);
	if (vm_stats_read(vcpu->stats_fd, &b)) {
		vm_stats_free(&a);
		fprintf(out, "# watchdog: vCPU %d: statistics unreadable\n", vcpu->index);
		return;
	}
	fprintf(out, "# watchdog: vCPU %d in 1 s:", vcpu->index);
	for (i = 0; i < a.num_desc && i < b.num_desc; i++) {
		uint64_t at = a.data[vm_stats_desc(&a, i)->offset / sizeof(uint64_t)];

		desc = vm_stats_desc(&b, i);
		if (desc->size != 1 ||
		    (desc->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE ||
		    b.data[desc->offset / sizeof(uint64_t)] == at)
			continue;
		fprintf(out, " %s +%llu", desc->name,
			(unsigned long long)(b.data[desc->offset / sizeof(uint64_t)] - at));
		moved = true;
	}
	fprintf(out, "%s\n", moved ? "" : " no statistic moved");
	vm_stats_free(&a);
	vm_stats_free(&b);
}

int64_t vm_vcpu_stat(struct vm *vm, int cpu, const char *name)
{
	uint64_t v;

	return vm_vcpu_stat_array(vm, cpu, name, &v, 1) == 1 ? (int64_t)v : -1;
}

int64_t vm_vcpu_interrupt_exits(struct vm *vm, int cpu)
{
	const char *const *names = vm_arch_interrupt_exit_stats;
	int64_t sum = 0, v;
	size_t i;

	for (i = 0; names[i]; i++) {
		v = vm_vcpu_stat(vm, cpu, names[i]);
		if (v < 0)
			return -1;
		sum += v;
	}
	return sum;
}

int64_t vm_vcpu_guest_exits(struct vm *vm, int cpu)
{
	int64_t all = vm_vcpu_stat(vm, cpu, vm_arch_exits_stat);
	int64_t interrupts = vm_vcpu_interrupt_exits(vm, cpu);

	return all < 0 || interrupts < 0 ? -1 : all - interrupts;
}
