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
 *
 * Its parts are in storm/: the slots, the threads, the checks, the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cmdline.h"
#include "storm/storm.h"

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
	uint64_t seed = seed_from(argc, argv);
	unsigned int seconds = DEFAULT_SECONDS;
	char buf[4096], *v, err[160];
	struct ktap t;
	int cap;

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
	storm_run(seed, seconds);
	print_counts();
	if (emulator_fault[0])
		return storm_void(&t);
	report_storm(&t);
	if (!check_last_writes(&t))
		return storm_void(&t);
	check_final_prefault(&t);
	if (!check_final_exits(&t))
		return storm_void(&t);
	vm_destroy(&vm);
	return ktap_exit_code(&t);
}
