// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host-side unit tests of libkvmprefault's loop logic, against a fake
 * ioctl that plays a script of kernel answers.  KTAP on stdout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvmprefault.h"
#include "../vmm/ktap.h"

#define PAGE	4096ULL

/* One scripted answer: advance the range by @advance, then fail with @err. */
struct step {
	uint64_t advance;
	int err;
};

static const struct step *script;
static unsigned int script_len, script_pos;
static int cap_answer;
static int corrupt_range;

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
	struct kvm_pre_fault_memory *range = arg;
	const struct step *s;

	(void)fd;
	if (request == KVM_CHECK_EXTENSION) {
		if (cap_answer < 0) {
			errno = -cap_answer;
			return -1;
		}
		return cap_answer;
	}
	if (script_pos >= script_len) {
		errno = ENOSYS;
		return -1;
	}
	s = &script[script_pos++];
	range->gpa += s->advance;
	range->size -= s->advance;
	if (corrupt_range)
		range->size += 2 * PAGE;
	if (s->err) {
		errno = s->err;
		return -1;
	}
	return 0;
}

static void play(const struct step *steps, unsigned int n)
{
	script = steps;
	script_len = n;
	script_pos = 0;
	corrupt_range = 0;
}

static uint64_t progress_done[16];
static unsigned int progress_calls;

static void record_progress(uint64_t done, uint64_t total, void *opaque)
{
	(void)total;
	(void)opaque;
	if (progress_calls < 16)
		progress_done[progress_calls] = done;
	progress_calls++;
}

static const struct kvmpf_options fake = { .ioctl = fake_ioctl };

static int expect_result(const struct kvmpf_result *res, int r, int err,
			 uint64_t gpa, uint64_t size, uint64_t calls)
{
	if (r == -err && res->err == err && res->gpa == gpa && res->size == size &&
	    res->calls == calls)
		return 1;
	ktap_diag("got r=%d err=%d gpa=0x%llx size=0x%llx calls=%llu (%s)", r,
		  res->err, (unsigned long long)res->gpa,
		  (unsigned long long)res->size, (unsigned long long)res->calls,
		  res->msg);
	ktap_diag("want r=%d err=%d gpa=0x%llx size=0x%llx calls=%llu", -err, err,
		  (unsigned long long)gpa, (unsigned long long)size,
		  (unsigned long long)calls);
	return 0;
}

/* Parallel: each fd's fake call maps its whole part and records it. */
static pthread_mutex_t parts_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t part_gpa[8], part_size[8];

static int fake_parallel_ioctl(int fd, unsigned long request, void *arg)
{
	struct kvm_pre_fault_memory *range = arg;

	(void)request;
	pthread_mutex_lock(&parts_lock);
	part_gpa[fd] = range->gpa;
	part_size[fd] = range->size;
	pthread_mutex_unlock(&parts_lock);
	range->gpa += range->size;
	range->size = 0;
	return 0;
}

/* Chunked: the fake maps all it is asked and records each call's size. */
static uint64_t chunk_sizes[8];
static unsigned int chunk_calls;

static int fake_whole_ioctl(int fd, unsigned long request, void *arg)
{
	struct kvm_pre_fault_memory *range = arg;

	(void)fd;
	(void)request;
	if (chunk_calls < 8)
		chunk_sizes[chunk_calls] = range->size;
	chunk_calls++;
	range->gpa += range->size;
	range->size = 0;
	return 0;
}

/* A scripted pre-fault through vCPU fd 3 with the fake ioctl. */
static int scripted(const struct step *steps, unsigned int n, uint64_t gpa,
		    uint64_t size, const struct kvmpf_options *opts,
		    struct kvmpf_result *res)
{
	play(steps, n);
	return kvmpf_prefault(3, gpa, size, opts, res);
}

static int one_call_does_all(void)
{
	static const struct step s[] = { { 16 * PAGE, 0 } };
	struct kvmpf_result res;
	int r = scripted(s, 1, 0x100000, 16 * PAGE, &fake, &res);

	return expect_result(&res, r, 0, 0x100000 + 16 * PAGE, 0, 1);
}

static int partial_progress_loops(void)
{
	static const struct step s[] = { { PAGE, 0 }, { 2 * PAGE, 0 }, { PAGE, 0 } };
	struct kvmpf_result res;
	int r = scripted(s, 3, 0, 4 * PAGE, &fake, &res);

	return expect_result(&res, r, 0, 4 * PAGE, 0, 3);
}

static int eintr_and_eagain_are_retried(void)
{
	static const struct step s[] = { { 0, EINTR }, { PAGE, EAGAIN }, { 3 * PAGE, 0 } };
	struct kvmpf_result res;
	int r = scripted(s, 3, 0, 4 * PAGE, &fake, &res);

	return expect_result(&res, r, 0, 4 * PAGE, 0, 3);
}

static int retries_are_bounded(void)
{
	static const struct step s[] = { { 0, EAGAIN }, { 0, EAGAIN }, { 0, EAGAIN } };
	struct kvmpf_options opts = fake;
	struct kvmpf_result res;
	int r;

	opts.max_retries = 2;
	r = scripted(s, 3, PAGE, 2 * PAGE, &opts, &res);
	return expect_result(&res, r, EAGAIN, PAGE, 2 * PAGE, 3);
}

static int error_after_progress_reports_exact_rest(void)
{
	static const struct step s[] = { { 2 * PAGE, 0 }, { 0, ENOENT } };
	struct kvmpf_result res;
	int r = scripted(s, 2, 0x2000000, 8 * PAGE, &fake, &res);

	return expect_result(&res, r, ENOENT, 0x2000000 + 2 * PAGE, 6 * PAGE, 2) &&
	       strstr(res.msg, "0x2002000");
}

static int error_without_progress_keeps_range(void)
{
	static const struct step s[] = { { 0, EFAULT } };
	struct kvmpf_result res;
	int r = scripted(s, 1, 0x1000, PAGE, &fake, &res);

	return expect_result(&res, r, EFAULT, 0x1000, PAGE, 1);
}

static int progress_reported_after_each_advance(void)
{
	static const struct step s[] = { { PAGE, 0 }, { 0, EINTR }, { 3 * PAGE, 0 } };
	struct kvmpf_options opts = fake;
	struct kvmpf_result res;
	int r;

	progress_calls = 0;
	opts.progress = record_progress;
	r = scripted(s, 3, 0, 4 * PAGE, &opts, &res);
	return r == 0 && progress_calls == 2 &&
	       progress_done[0] == PAGE && progress_done[1] == 4 * PAGE;
}

static int wrapping_range_refused_without_ioctl(void)
{
	struct kvmpf_result res;
	int r = scripted(NULL, 0, -PAGE, 2 * PAGE, &fake, &res);

	return expect_result(&res, r, EINVAL, -PAGE, 2 * PAGE, 0);
}

static int inconsistent_kernel_range_detected(void)
{
	static const struct step s[] = { { PAGE, 0 } };
	struct kvmpf_result res;
	int r;

	play(s, 1);
	corrupt_range = 1;
	r = kvmpf_prefault(3, 0, 4 * PAGE, &fake, &res);
	return r == -EPROTO && res.err == EPROTO;
}

static int parallel_split_covers_range_once(void)
{
	struct kvmpf_options opts = { .ioctl = fake_parallel_ioctl };
	int fds[3] = { 0, 1, 2 };
	struct kvmpf_result res;
	int r;

	r = kvmpf_prefault_parallel(fds, 3, 0x40000000, 10 * PAGE, &opts, &res);
	return r == 0 && res.size == 0 && res.calls == 3 &&
	       part_gpa[0] == 0x40000000 && part_size[0] == 3 * PAGE &&
	       part_gpa[1] == 0x40000000 + 3 * PAGE && part_size[1] == 3 * PAGE &&
	       part_gpa[2] == 0x40000000 + 6 * PAGE && part_size[2] == 4 * PAGE;
}

static int parallel_never_more_parts_than_pages(void)
{
	struct kvmpf_options opts = { .ioctl = fake_parallel_ioctl };
	int fds[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	struct kvmpf_result res;
	int r;

	memset(part_size, 0, sizeof(part_size));
	r = kvmpf_prefault_parallel(fds, 8, 0, 2 * PAGE, &opts, &res);
	return r == 0 && res.calls == 2 && part_size[0] == PAGE &&
	       part_size[1] == PAGE && part_size[2] == 0;
}

static int parallel_refuses_unaligned_range(void)
{
	int fds[2] = { 0, 1 };
	struct kvmpf_result res;
	int r;

	r = kvmpf_prefault_parallel(fds, 2, 1, PAGE, &fake, &res);
	return r == -EINVAL && res.err == EINVAL;
}

static int chunks_bound_each_call_and_report_progress(void)
{
	struct kvmpf_options chunked = {
		.ioctl = fake_whole_ioctl, .chunk = 2 * PAGE,
		.progress = record_progress,
	};
	struct kvmpf_result res;
	int r;

	chunk_calls = progress_calls = 0;
	r = kvmpf_prefault(3, 0x10000, 5 * PAGE, &chunked, &res);
	return expect_result(&res, r, 0, 0x10000 + 5 * PAGE, 0, 3) &&
	       chunk_calls == 3 && chunk_sizes[0] == 2 * PAGE &&
	       chunk_sizes[1] == 2 * PAGE && chunk_sizes[2] == PAGE &&
	       progress_calls == 3 && progress_done[0] == 2 * PAGE &&
	       progress_done[1] == 4 * PAGE && progress_done[2] == 5 * PAGE;
}

static int unaligned_chunk_refused_without_ioctl(void)
{
	struct kvmpf_options bad = { .ioctl = fake_whole_ioctl, .chunk = PAGE + 1 };
	struct kvmpf_result res;
	int r;

	chunk_calls = 0;
	r = kvmpf_prefault(3, 0, 4 * PAGE, &bad, &res);
	return expect_result(&res, r, EINVAL, 0, 4 * PAGE, 0) && chunk_calls == 0;
}

static int probe_asks_the_vm(void)
{
	int yes, no, err;

	cap_answer = 1;
	yes = kvmpf_probe(5, &fake);
	cap_answer = 0;
	no = kvmpf_probe(5, &fake);
	cap_answer = -EBADF;
	err = kvmpf_probe(5, &fake);
	return yes == 1 && no == 0 && err == -EBADF;
}

#define CASE(fn)	{ fn, #fn }

static const struct {
	int (*run)(void);
	const char *name;
} cases[] = {
	CASE(one_call_does_all),
	CASE(partial_progress_loops),
	CASE(eintr_and_eagain_are_retried),
	CASE(retries_are_bounded),
	CASE(error_after_progress_reports_exact_rest),
	CASE(error_without_progress_keeps_range),
	CASE(progress_reported_after_each_advance),
	CASE(wrapping_range_refused_without_ioctl),
	CASE(inconsistent_kernel_range_detected),
	CASE(parallel_split_covers_range_once),
	CASE(parallel_never_more_parts_than_pages),
	CASE(parallel_refuses_unaligned_range),
	CASE(chunks_bound_each_call_and_report_progress),
	CASE(unaligned_chunk_refused_without_ioctl),
	CASE(probe_asks_the_vm),
};

int main(void)
{
	struct ktap t;
	size_t i;

	ktap_plan(&t, sizeof(cases) / sizeof(cases[0]));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ktap_result(&t, cases[i].run(), cases[i].name);
	return ktap_exit_code(&t);
}
