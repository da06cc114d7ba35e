// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-prefault probe: KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm and on a VM of
 * every type the arch offers, as a table or JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm-prefault.h"
#include "kvmprefault.h"
#include "vm.h"

struct type_probe {
	const char *name;
	unsigned long type;
	int created;		/* 1, or 0 with @err why not */
	int err;
	int cap;		/* KVM_CAP_PRE_FAULT_MEMORY on its fd, or -errno */
};

static void probe_type(int kvm_fd, const struct vm_type *t, struct type_probe *p)
{
	int vm_fd;

	p->name = t->name;
	p->type = t->type;
	/* err 0: KVM does not offer the type, nothing was tried. */
	if (!vm_arch_type(kvm_fd, t, &p->type)) {
		p->created = 0;
		p->err = 0;
		p->cap = 0;
		return;
	}
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, p->type);
	p->created = vm_fd >= 0;
	p->err = vm_fd < 0 ? errno : 0;
	p->cap = vm_fd < 0 ? 0 : kvmpf_probe(vm_fd, NULL);
	if (vm_fd >= 0)
		close(vm_fd);
}

static const char *why_not(const struct type_probe *p)
{
	return p->err ? strerrorname_np(p->err) : "not offered";
}

int cmd_probe(const struct options *o)
{
	struct type_probe probes[VM_MAX_TYPES];
	int kvm_fd, dev_cap;
	size_t i, n;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stderr, "kvm-prefault: /dev/kvm: %s\n", strerror(errno));
		return EXIT_FAILED;
	}
	dev_cap = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY);
	for (n = 0; n < VM_MAX_TYPES && vm_arch_types[n].name; n++)
		probe_type(kvm_fd, &vm_arch_types[n], &probes[n]);
	close(kvm_fd);

	if (o->json) {
		printf("{\"arch\": \"%s\", \"kernel\": \"%s\", \"dev_kvm\": %d, \"vm_types\": [",
		       host()->machine, host()->release, dev_cap);
		for (i = 0; i < n; i++) {
			char error[40] = "null";

			if (!probes[i].created)
				snprintf(error, sizeof(error), "\"%s\"", why_not(&probes[i]));
			printf("%s\n  {\"name\": \"%s\", \"type\": %lu, \"created\": %s, "
			       "\"error\": %s, \"pre_fault\": %d}",
			       i ? "," : "", probes[i].name, probes[i].type,
			       probes[i].created ? "true" : "false", error, probes[i].cap);
		}
		printf("\n]}\n");
		return 0;
	}
	printf("kvm-prefault probe: %s, Linux %s\n", host()->machine, host()->release);
	printf("KVM_CAP_PRE_FAULT_MEMORY on /dev/kvm: %d\n\n", dev_cap);
	printf("| %-14s | %-10s | %-22s | %-9s |\n", "VM type", "type", "created", "pre-fault");
	printf("|%s|%s|%s|%s|\n", "----------------", "------------",
	       "------------------------", "-----------");
	for (i = 0; i < n; i++) {
		char created[32] = "yes";

		if (!probes[i].created)
			snprintf(created, sizeof(created), "no (%s)", why_not(&probes[i]));
		printf("| %-14s | 0x%-8lx | %-22s | %-9s |\n", probes[i].name,
		       probes[i].type, created,
		       !probes[i].created ? "-" : probes[i].cap == 1 ? "yes" :
		       probes[i].cap == 0 ? "no" : strerrorname_np(-probes[i].cap));
	}
	return 0;
}
