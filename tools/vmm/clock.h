/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Timestamps for the guest programs, as integer nanoseconds.  A time
 * taken before KVM_RUN is kept in an integer: on ppc64le, under QEMU 7.2's
 * nested KVM-HV, the VMM thread's floating-point registers have been seen
 * to come back from KVM_RUN zeroed after the guest took many exits (see
 * README), and a double held in one across the call is then lost.
 */
#ifndef KVMPF_CLOCK_H
#define KVMPF_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Seconds from @t0 (a now_ns() value) to now. */
static inline double seconds_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e9;
}

#endif
