// SPDX-License-Identifier: GPL-2.0-only
/*
 * The post-copy scenario (scenario.h): guest memory is anonymous memory
 * registered with userfaultfd (MISSING mode) and the guest starts at once;
 * a copier thread fills it chunk by chunk from the snapshot with
 * UFFDIO_COPY, in order, and with prefault-chunk pre-faults each chunk
 * through vCPU 1 right after copying it.  A guest touching a page not yet
 * copied waits in the host fault until the copy of its chunk wakes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "clock.h"
#include "scenario.h"

struct copier {
	const struct snapshot *snap;
	void *data;		/* guest memory, registered */
	int uffd;
	int vcpu_fd;		/* vCPU 1: vCPU 0 is in KVM_RUN */
	int prefault;
	uint64_t t0;		/* the start, as the guest's */
	uint64_t copy_ns, prefault_ns;
	int r;
	char err[160];
};

/* @data registered for missing-page faults with a new userfaultfd. */
static int uffd_open(struct vm *vm, int *uffd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)vm->data, .len = vm->data_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	*uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (*uffd < 0)
		return vm_fail(vm, -errno, "userfaultfd");
	if (ioctl(*uffd, UFFDIO_API, &api))
		return vm_fail(vm, -errno, "UFFDIO_API");
	if (ioctl(*uffd, UFFDIO_REGISTER, &reg))
		return vm_fail(vm, -errno, "UFFDIO_REGISTER");
	return 0;
}

static int copier_fail(struct copier *c, int r, const char *what, uint64_t off)
{
	snprintf(c->err, sizeof(c->err), "%s at %llu: %s", what,
		 (unsigned long long)off, strerror(-r));
	return r;
}

/* Bytes [off, off + n) of the snapshot, read into @buf, copied in. */
static int copy_chunk(struct copier *c, char *buf, uint64_t off, uint64_t n)
{
	struct uffdio_copy copy;
	uint64_t done = 0;

	if (pread(c->snap->fd, buf, n, off) != (ssize_t)n)
		return copier_fail(c, -EIO, "reading the snapshot", off);
	while (done < n) {
		copy = (struct uffdio_copy){
			.dst = (uintptr_t)c->data + off + done,
			.src = (uintptr_t)buf + done, .len = n - done,
		};
		if (!ioctl(c->uffd, UFFDIO_COPY, &copy))
			break;
		/* EAGAIN: part copied, in copy.copy; the rest again. */
		if (errno != EAGAIN)
			return copier_fail(c, -errno, "UFFDIO_COPY", off + done);
		done += copy.copy > 0 ? (uint64_t)copy.copy : 0;
	}
	return 0;
}

static void *copier_thread(void *arg)
{
	struct copier *c = arg;
	struct uffdio_range all = { (uintptr_t)c->data, c->snap->size };
	struct kvmpf_result res;
	uint64_t off, n, t;
	char *buf = malloc(SCEN_CHUNK);

	c->r = buf ? 0 : copier_fail(c, -ENOMEM, "staging buffer", 0);
	for (off = 0; !c->r && off < c->snap->size; off += n) {
		n = c->snap->size - off < SCEN_CHUNK ? c->snap->size - off : SCEN_CHUNK;
		c->r = copy_chunk(c, buf, off, n);
		if (c->r || !c->prefault)
			continue;
		t = now_ns();
		c->r = kvmpf_prefault(c->vcpu_fd, VM_DATA_GPA + off, n, NULL, &res);
		c->prefault_ns += now_ns() - t;
		if (c->r)
			snprintf(c->err, sizeof(c->err), "%s", res.msg);
	}
	c->copy_ns = now_ns() - c->t0;
	/* A copier that stopped early lets a waiting guest go on (and fail). */
	if (c->r)
		ioctl(c->uffd, UFFDIO_UNREGISTER, &all);
	free(buf);
	return NULL;
}

static int postcopy_once(const struct scen *sc, struct scen_row *row)
{
	struct copier c = {
		.snap = &sc->snap, .uffd = -1,
		.prefault = row->mode == MODE_COPY_PREFAULT,
	};
	pthread_t thread;
	int started = 0;
	struct vm vm;
	int r = scen_vm_create(sc, &vm);

	r = r ? r : vm_add_data_slot(&vm, sc->snap.size, 0);
	if (!r && madvise(vm.data, sc->snap.size, MADV_NOHUGEPAGE))
		r = vm_fail(&vm, -errno, "madvise");
	r = r ? r : uffd_open(&vm, &c.uffd);
	if (!r) {
		c.data = vm.data;
		c.vcpu_fd = vm.vcpu[1].fd;
		c.t0 = now_ns();
		started = !pthread_create(&thread, NULL, copier_thread, &c);
		if (!started)
			r = vm_fail(&vm, -EAGAIN, "starting the copier");
	}
	r = r ? r : scen_guest(sc, &vm, row, c.t0);
	if (started)
		pthread_join(thread, NULL);
	if (!r && c.r)
		r = scen_err(&vm, c.r, "copier", c.err);
	row->copy_ns = c.copy_ns;
	row->prefault_ns = c.prefault_ns;
	if (r)
		scen_fail(row, vm.err);
	if (c.uffd >= 0)
		close(c.uffd);
	vm_destroy(&vm);
	return r ? EXIT_FAILED : 0;
}

int scenario_postcopy(struct scen *sc)
{
	static const enum scen_mode modes[] = { MODE_LAZY, MODE_COPY_PREFAULT };
	enum touch access;
	unsigned int m;

	for (access = TOUCH_READ; access <= TOUCH_WRITE; access++)
		for (m = 0; m < 2; m++) {
			struct scen_row *row = &sc->rows[sc->nr_rows++];

			*row = (struct scen_row){
				.scenario = "postcopy", .source = "uffd",
				.access = access, .mode = modes[m],
			};
			if (postcopy_once(sc, row))
				return EXIT_FAILED;
		}
	return 0;
}
