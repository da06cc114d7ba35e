// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the storm tells: the contract violations as they happen, the count
 * of every call's result and of every event, and its KTAP cases.
 */
#include <stdarg.h>
#include <stdio.h>

#include "storm.h"

const char *const class_names[NR_CLASSES] = { "slot", "hole", "invalid" };

const char *const result_names[NR_RESULTS] = {
	"progress", "ENOENT", "EAGAIN", "EINTR", "EFAULT", "EINVAL", "other",
};

static const char *const event_names[NR_EVENTS] = {
	"slot deletes", "re-creates at a new host address", "moves",
	"dirty-log toggles", "dirty-log reads", "MADV_DONTNEED+rewrites",
	"mprotect read-only+back", "munmap+mmap", "signals sent",
	"signals delivered", "stable-slot zaps", "checked guest passes",
};

const char *const case_names[NR_CASES] = {
	[C_SETUP] = "setup",
	[C_GPA_WIDTH] = "gpa_width_edges",
	[C_NO_VIOLATION] = "storm_without_violation",
	[C_GUEST_DURING] = "guest_read_what_the_host_wrote_during_storm",
	[C_EVERY_EVENT] = "every_event_happened",
	[C_LAYOUT] = "layout_restored",
	[C_HOST_LAST_WRITE] = "host_sees_last_host_write",
	[C_GUEST_LAST_WRITE] = "guest_sees_last_host_write_on_every_vcpu",
	[C_GUEST_WRITES] = "host_sees_every_guest_write",
	[C_FINAL_PREFAULT] = "final_prefault_complete",
	[C_FINAL_EXITS] = "guest_after_final_prefault_exits_at_most_1pct",
};

static pthread_mutex_t violation_lock = PTHREAD_MUTEX_INITIALIZER;
static char violations[MAX_VIOLATIONS][256];
_Atomic uint64_t nr_violations;
char emulator_fault[200];
static pthread_mutex_t emulator_fault_lock = PTHREAD_MUTEX_INITIALIZER;

void violation(const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&nr_violations, 1);
	va_list ap;

	if (n >= MAX_VIOLATIONS)
		return;
	pthread_mutex_lock(&violation_lock);
	va_start(ap, fmt);
	vsnprintf(violations[n], sizeof(violations[n]), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&violation_lock);
}

/* Records vm.err as the emulator's fault and ends the storm. */
void note_emulator_fault(void)
{
	pthread_mutex_lock(&emulator_fault_lock);
	if (!emulator_fault[0])
		snprintf(emulator_fault, sizeof(emulator_fault), "%s", vm.err);
	pthread_mutex_unlock(&emulator_fault_lock);
	atomic_store(&stop, true);
}

/*
 * The emulator changed a vCPU's state under the guest: nothing this run
 * saw says anything about KVM, so the cases left are skipped with the
 * reason (kselftest's skip code).
 */
int storm_void(struct ktap *t)
{
	ktap_diag("%s", emulator_fault);
	while (t->n < NR_CASES)
		ktap_skip(t, case_names[t->n], "the emulator replaced a vCPU's state (see README)");
	return 4;
}

bool all_events_seen(void)
{
	static const enum result need_results[] = {
		RES_OK, RES_ENOENT, RES_EAGAIN, RES_EINTR, RES_EINVAL,
	};
	uint64_t n;
	unsigned int i, c;

	for (i = 0; i < NR_EVENTS; i++)
		if (!events[i])
			return false;
	for (i = 0; i < sizeof(need_results) / sizeof(need_results[0]); i++) {
		for (n = 0, c = 0; c < NR_CLASSES; c++)
			n += calls[c][need_results[i]];
		if (!n)
			return false;
	}
	return true;
}

void print_counts(void)
{
	unsigned int c, i;
	char line[512];
	int len;

	for (c = 0; c < NR_CLASSES; c++) {
		len = snprintf(line, sizeof(line), "calls on %s ranges:", class_names[c]);
		for (i = 0; i < NR_RESULTS; i++)
			len += snprintf(line + len, sizeof(line) - len, " %s %llu",
					result_names[i], (unsigned long long)calls[c][i]);
		ktap_diag("%s", line);
	}
	len = snprintf(line, sizeof(line), "events:");
	for (i = 0; i < NR_EVENTS; i++)
		len += snprintf(line + len, sizeof(line) - len, "%s %s %llu",
				i ? "," : "", event_names[i],
				(unsigned long long)events[i]);
	ktap_diag("%s", line);
}

/* Prints the violations not printed yet: true when there were none. */
bool print_violations(void)
{
	static uint64_t printed;
	uint64_t i, n = atomic_load(&nr_violations);
	bool none = n == printed;

	for (i = printed; i < n && i < MAX_VIOLATIONS; i++)
		ktap_diag("violation: %s", violations[i]);
	if (n > MAX_VIOLATIONS && printed < n)
		ktap_diag("... %llu violations in all", (unsigned long long)n);
	printed = n;
	return none;
}

/* What the storm itself shows: no violation, a right guest, every event. */
void report_storm(struct ktap *t)
{
	ktap_diag("guest passes over the stable slot: first %.1f s, longest %.1f s with %lld exits",
		  guest_pass_first_s, guest_pass_max_s, (long long)guest_pass_max_exits);
	ktap_result(t, print_violations(), case_names[C_NO_VIOLATION]);
	if (!ktap_result(t, !storm_guest_bad && events[EV_GUEST_PASS],
			 case_names[C_GUEST_DURING]))
		ktap_diag("%lld pages wrong after %llu good passes", (long long)storm_guest_bad,
			  (unsigned long long)events[EV_GUEST_PASS]);
	if (!ktap_result(t, all_events_seen(), case_names[C_EVERY_EVENT]))
		ktap_diag("each result (progress, ENOENT, EAGAIN, EINTR, EINVAL) and each event must occur");
}
