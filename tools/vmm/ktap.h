/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * KTAP output for the guest-side test programs: a flat document of cases.
 * The guest's /init nests each program's document under a subtest named
 * after the program, as kselftest's runner does.
 */
#ifndef KVMPF_KTAP_H
#define KVMPF_KTAP_H

#include <stdarg.h>
#include <stdio.h>

struct ktap {
	int planned, n, failed;
};

static inline void ktap_plan(struct ktap *t, int cases)
{
	t->planned = cases;
	t->n = t->failed = 0;
	printf("KTAP version 1\n1..%d\n", cases);
	fflush(stdout);
}

static inline void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

/* One case: ok when @pass, with @name printed after the number. */
static inline int ktap_result(struct ktap *t, int pass, const char *name)
{
	t->n++;
	if (!pass)
		t->failed++;
	printf("%sok %d %s\n", pass ? "" : "not ", t->n, name);
	fflush(stdout);
	return pass;
}

/* One case that could not run: ok, "# SKIP" and @why after @name. */
static inline void ktap_skip(struct ktap *t, const char *name, const char *why)
{
	t->n++;
	printf("ok %d %s # SKIP %s\n", t->n, name, why);
	fflush(stdout);
}

/*
 * A document of one failed case, for a program that cannot even start its
 * cases: @name, with @why as diagnostic.  Returns the exit code.
 */
static inline int ktap_fail_only(struct ktap *t, const char *name, const char *why)
{
	ktap_plan(t, 1);
	ktap_result(t, 0, name);
	ktap_diag("%s", why);
	return t->failed;
}

/* 0 when every planned case ran and passed, 1 otherwise (kselftest codes). */
static inline int ktap_exit_code(const struct ktap *t)
{
	if (t->n != t->planned)
		ktap_diag("planned %d cases, ran %d", t->planned, t->n);
	return t->failed || t->n != t->planned;
}

#endif
