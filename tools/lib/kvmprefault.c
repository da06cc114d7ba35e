// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkvmprefault: see kvmprefault.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvmprefault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static kvmpf_ioctl_fn ioctl_of(const struct kvmpf_options *opts)
{
	return opts && opts->ioctl ? opts->ioctl : sys_ioctl;
}

static int fail(struct kvmpf_result *res, int err, const char *fmt, ...)
{
	va_list ap;

	res->err = err;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	return -err;
}

int kvmpf_probe(int vm_fd, const struct kvmpf_options *opts)
{
	int r = ioctl_of(opts)(vm_fd, KVM_CHECK_EXTENSION,
			       (void *)(unsigned long)KVM_CAP_PRE_FAULT_MEMORY);

	if (r < 0)
		return -errno;
	return r > 0;
}

int kvmpf_prefault(int vcpu_fd, uint64_t gpa, uint64_t size,
		   const struct kvmpf_options *opts, struct kvmpf_result *res)
{
	uint64_t chunk = opts ? opts->chunk : 0, page = sysconf(_SC_PAGESIZE);
	kvmpf_ioctl_fn do_ioctl = ioctl_of(opts);
	uint64_t left = size, at = gpa;
	unsigned int retries = 0;

	memset(res, 0, sizeof(*res));
	res->gpa = gpa;
	res->size = size;
	if (gpa + size < gpa)
		return fail(res, EINVAL, "range 0x%llx + 0x%llx wraps",
			    (unsigned long long)gpa, (unsigned long long)size);
	if (chunk % page)
		return fail(res, EINVAL, "chunk of %llu bytes is not a multiple of the page size",
			    (unsigned long long)chunk);
	while (left) {
		uint64_t asked = chunk && chunk < left ? chunk : left, done;
		struct kvm_pre_fault_memory range = { .gpa = at, .size = asked };
		int r, err;

		res->calls++;
		r = do_ioctl(vcpu_fd, KVM_PRE_FAULT_MEMORY, &range);
		err = r < 0 ? errno : 0;
		/* The kernel reports progress in the range even with an error. */
		if (range.size > asked || range.gpa + range.size != at + asked)
			return fail(res, EPROTO, "KVM returned an inconsistent range");
		done = asked - range.size;
		at += done;
		left -= done;
		res->gpa = at;
		res->size = left;
		if (done) {
			retries = 0;
			if (opts && opts->progress)
				opts->progress(size - left, size, opts->opaque);
		}
		if (!err)
			continue;
		if (err != EINTR && err != EAGAIN)
			return fail(res, err, "KVM_PRE_FAULT_MEMORY at 0x%llx: %s",
				    (unsigned long long)at, strerror(err));
		if (opts && opts->max_retries && ++retries > opts->max_retries)
			return fail(res, err, "KVM_PRE_FAULT_MEMORY at 0x%llx: %s %u times",
				    (unsigned long long)at, strerror(err),
				    retries - 1);
	}
	return 0;
}

struct part {
	int vcpu_fd;
	uint64_t gpa, size;
	const struct kvmpf_options *opts;
	struct kvmpf_result res;
	int r;
};

static void *part_thread(void *arg)
{
	struct part *p = arg;

	p->r = kvmpf_prefault(p->vcpu_fd, p->gpa, p->size, p->opts, &p->res);
	return NULL;
}

int kvmpf_prefault_parallel(const int *vcpu_fds, unsigned int n, uint64_t gpa,
			    uint64_t size, const struct kvmpf_options *opts,
			    struct kvmpf_result *res)
{
	uint64_t page = sysconf(_SC_PAGESIZE), pages, per, calls = 0;
	pthread_t *threads;
	struct part *parts;
	unsigned int i, started = 0;
	int r = 0;

	memset(res, 0, sizeof(*res));
	res->gpa = gpa;
	res->size = size;
	if (!n)
		return fail(res, EINVAL, "no vCPU to pre-fault with");
	if (gpa % page || size % page)
		return fail(res, EINVAL, "range is not page aligned");
	if (gpa + size < gpa)
		return fail(res, EINVAL, "range wraps");
	pages = size / page;
	if (n > pages)
		n = pages ? pages : 1;
	per = pages / n;

	parts = calloc(n, sizeof(*parts));
	threads = calloc(n, sizeof(*threads));
	if (!parts || !threads) {
		free(parts);
		free(threads);
		return fail(res, ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		parts[i].vcpu_fd = vcpu_fds[i];
		parts[i].gpa = gpa + i * per * page;
		/* The last part takes the remainder. */
		parts[i].size = (i == n - 1 ? pages - i * per : per) * page;
		parts[i].opts = opts;
		if (pthread_create(&threads[i], NULL, part_thread, &parts[i])) {
			r = fail(res, EAGAIN, "cannot start thread %u", i);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(threads[i], NULL);
		calls += parts[i].res.calls;
	}
	if (!r) {
		for (i = 0; i < n; i++) {
			if (parts[i].r) {
				*res = parts[i].res;
				r = parts[i].r;
				break;
			}
		}
		if (!r)
			res->gpa = gpa + size, res->size = 0;
	}
	res->calls = calls;
	free(parts);
	free(threads);
	return r;
}

int kvmpf_populate_write(void *hva, uint64_t size, struct kvmpf_result *res)
{
	memset(res, 0, sizeof(*res));
	if (madvise(hva, size, MADV_POPULATE_WRITE))
		return fail(res, errno, "MADV_POPULATE_WRITE on %p + 0x%llx: %s",
			    hva, (unsigned long long)size, strerror(errno));
	return 0;
}
