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

struct vm_type {
	const char *name;
	unsigned long type;
};

#if defined(__x86_64__)
/* The types KVM_CAP_VM_TYPES may list, bit n for type n. */
static const struct vm_type arch_vm_types[] = {
	{ "default", KVM_X86_DEFAULT_VM },
	{ "sw_protected", KVM_X86_SW_PROTECTED_VM },
	{ "sev", KVM_X86_SEV_VM },
	{ "sev_es", KVM_X86_SEV_ES_VM },
	{ "snp", KVM_X86_SNP_VM },
};
#elif defined(__aarch64__)
/* Default (40-bit IPA), the smallest and the largest IPA size. */
static const struct vm_type arch_vm_types[] = {
	{ "default", 0 },
	{ "ipa_32", KVM_VM_TYPE_ARM_IPA_SIZE(32) },
	{ "ipa_max", 0 },	/* filled from KVM_CAP_ARM_VM_IPA_SIZE */
};
#elif defined(__powerpc64__)
/* Default (KVM-HV when it is loaded), HV and PR asked for by name. */
static const struct vm_type arch_vm_types[] = {
	{ "default", 0 },
	{ "hv", KVM_VM_PPC_HV },
	{ "pr", KVM_VM_PPC_PR },
};
#else
static const struct vm_type arch_vm_types[] = {
	{ "default", 0 },
};
#endif

#define NR_VM_TYPES	(sizeof(arch_vm_types) / sizeof(arch_vm_types[0]))

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
#if defined(__aarch64__)
	if (!strcmp(t->name, "ipa_max")) {
		int ipa = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);

		p->type = ipa > 0 ? KVM_VM_TYPE_ARM_IPA_SIZE(ipa) : 0;
	}
#endif
#if defined(__x86_64__)
	{
		int types = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);

		/* err 0: KVM does not offer the type, nothing was tried. */
		if (types >= 0 && !(types & (1 << t->type))) {
			p->created = 0;
			p->err = 0;
			p->cap = 0;
			return;
		}
	}
#endif
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
	struct type_probe probes[NR_VM_TYPES];
	int kvm_fd, dev_cap;
	size_t i;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stderr, "kvm-prefault: /dev/kvm: %s\n", strerror(errno));
		return EXIT_FAILED;
	}
	dev_cap = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY);
	for (i = 0; i < NR_VM_TYPES; i++)
		probe_type(kvm_fd, &arch_vm_types[i], &probes[i]);
	close(kvm_fd);

	if (o->json) {
		printf("{\"arch\": \"%s\", \"kernel\": \"%s\", \"dev_kvm\": %d, \"vm_types\": [",
		       host()->machine, host()->release, dev_cap);
		for (i = 0; i < NR_VM_TYPES; i++) {
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
	for (i = 0; i < NR_VM_TYPES; i++) {
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
