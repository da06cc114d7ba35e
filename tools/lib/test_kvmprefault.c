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

int main(void)
{
	struct kvmpf_options opts = fake;
	struct kvmpf_result res;
	struct ktap t;
	int r;

	ktap_plan(&t, 15);

	{
		static const struct step s[] = { { 16 * PAGE, 0 } };

		play(s, 1);
		r = kvmpf_prefault(3, 0x100000, 16 * PAGE, &fake, &res);
		ktap_result(&t, expect_result(&res, r, 0, 0x100000 + 16 * PAGE, 0, 1),
			    "one_call_does_all");
	}
	{
		static const struct step s[] = { { PAGE, 0 }, { 2 * PAGE, 0 }, { PAGE, 0 } };

		play(s, 3);
		r = kvmpf_prefault(3, 0, 4 * PAGE, &fake, &res);
		ktap_result(&t, expect_result(&res, r, 0, 4 * PAGE, 0, 3),
			    "partial_progress_loops");
	}
	{
		static const struct step s[] = { { 0, EINTR }, { PAGE, EAGAIN }, { 3 * PAGE, 0 } };

		play(s, 3);
		r = kvmpf_prefault(3, 0, 4 * PAGE, &fake, &res);
		ktap_result(&t, expect_result(&res, r, 0, 4 * PAGE, 0, 3),
			    "eintr_and_eagain_are_retried");
	}
	{
		static const struct step s[] = { { 0, EAGAIN }, { 0, EAGAIN }, { 0, EAGAIN } };

		play(s, 3);
		opts.max_retries = 2;
		r = kvmpf_prefault(3, PAGE, 2 * PAGE, &opts, &res);
		opts.max_retries = 0;
		ktap_result(&t, expect_result(&res, r, EAGAIN, PAGE, 2 * PAGE, 3),
			    "retries_are_bounded");
	}
	{
		static const struct step s[] = { { 2 * PAGE, 0 }, { 0, ENOENT } };

		play(s, 2);
		r = kvmpf_prefault(3, 0x2000000, 8 * PAGE, &fake, &res);
		ktap_result(&t, expect_result(&res, r, ENOENT, 0x2000000 + 2 * PAGE,
					      6 * PAGE, 2) && strstr(res.msg, "0x2002000"),
			    "error_after_progress_reports_exact_rest");
	}
	{
		static const struct step s[] = { { 0, EFAULT } };

		play(s, 1);
		r = kvmpf_prefault(3, 0x1000, PAGE, &fake, &res);
		ktap_result(&t, expect_result(&res, r, EFAULT, 0x1000, PAGE, 1),
			    "error_without_progress_keeps_range");
	}
	{
		static const struct step s[] = { { PAGE, 0 }, { 0, EINTR }, { 3 * PAGE, 0 } };

		play(s, 3);
		progress_calls = 0;
		opts.progress = record_progress;
		r = kvmpf_prefault(3, 0, 4 * PAGE, &opts, &res);
		opts.progress = NULL;
		ktap_result(&t, r == 0 && progress_calls == 2 &&
			    progress_done[0] == PAGE && progress_done[1] == 4 * PAGE,
			    "progress_reported_after_each_advance");
	}
	{
		play(NULL, 0);
		r = kvmpf_prefault(3, -PAGE, 2 * PAGE, &fake, &res);
		ktap_result(&t, expect_result(&res, r, EINVAL, -PAGE, 2 * PAGE, 0),
			    "wrapping_range_refused_without_ioctl");
	}
	{
		static const struct step s[] = { { PAGE, 0 } };

		play(s, 1);
		corrupt_range = 1;
		r = kvmpf_prefault(3, 0, 4 * PAGE, &fake, &res);
		ktap_result(&t, r == -EPROTO && res.err == EPROTO,
			    "inconsistent_kernel_range_detected");
	}
	{
		int fds[3] = { 0, 1, 2 };

		opts.ioctl = fake_parallel_ioctl;
		r = kvmpf_prefault_parallel(fds, 3, 0x40000000, 10 * PAGE, &opts, &res);
		ktap_result(&t, r == 0 && res.size == 0 && res.calls == 3 &&
			    part_gpa[0] == 0x40000000 && part_size[0] == 3 * PAGE &&
			    part_gpa[1] == 0x40000000 + 3 * PAGE && part_size[1] == 3 * PAGE &&
			    part_gpa[2] == 0x40000000 + 6 * PAGE && part_size[2] == 4 * PAGE,
			    "parallel_split_covers_range_once");
	}
	{
		int fds[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

		memset(part_size, 0, sizeof(part_size));
		r = kvmpf_prefault_parallel(fds, 8, 0, 2 * PAGE, &opts, &res);
		opts.ioctl = fake_ioctl;
		ktap_result(&t, r == 0 && res.calls == 2 && part_size[0] == PAGE &&
			    part_size[1] == PAGE && part_size[2] == 0,
			    "parallel_never_more_parts_than_pages");
	}
	{
		int fds[2] = { 0, 1 };

		r = kvmpf_prefault_parallel(fds, 2, 1, PAGE, &fake, &res);
		ktap_result(&t, r == -EINVAL && res.err == EINVAL,
			    "parallel_refuses_unaligned_range");
	}
	{
		struct kvmpf_options chunked = {
			.ioctl = fake_whole_ioctl, .chunk = 2 * PAGE,
			.progress = record_progress,
		};

		chunk_calls = progress_calls = 0;
		r = kvmpf_prefault(3, 0x10000, 5 * PAGE, &chunked, &res);
		ktap_result(&t, expect_result(&res, r, 0, 0x10000 + 5 * PAGE, 0, 3) &&
			    chunk_calls == 3 && chunk_sizes[0] == 2 * PAGE &&
			    chunk_sizes[1] == 2 * PAGE && chunk_sizes[2] == PAGE &&
			    progress_calls == 3 && progress_done[0] == 2 * PAGE &&
			    progress_done[1] == 4 * PAGE && progress_done[2] == 5 * PAGE,
			    "chunks_bound_each_call_and_report_progress");
	}
	{
		struct kvmpf_options bad = { .ioctl = fake_whole_ioctl, .chunk = PAGE + 1 };

		chunk_calls = 0;
		r = kvmpf_prefault(3, 0, 4 * PAGE, &bad, &res);
		ktap_result(&t, expect_result(&res, r, EINVAL, 0, 4 * PAGE, 0) &&
			    chunk_calls == 0, "unaligned_chunk_refused_without_ioctl");
	}
	{
		int yes, no, err;

		cap_answer = 1;
		yes = kvmpf_probe(5, &fake);
		cap_answer = 0;
		no = kvmpf_probe(5, &fake);
		cap_answer = -EBADF;
		err = kvmpf_probe(5, &fake);
		ktap_result(&t, yes == 1 && no == 0 && err == -EBADF, "probe_asks_the_vm");
	}
	return ktap_exit_code(&t);
}
