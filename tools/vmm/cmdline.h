/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Settings for the guest programs from the kernel command line, as
 * kvmpf.KEY=VALUE: /init's subcommands, the storm's seed and duration.
 */
#ifndef KVMPF_CMDLINE_H
#define KVMPF_CMDLINE_H

#include <stdio.h>
#include <string.h>

/*
 * The value of kvmpf.@key= on the kernel command line, copied into @buf
 * (@len bytes), or NULL when it is not there.
 */
static inline char *cmdline_value(const char *key, char *buf, size_t len)
{
	char pat[64], *p, *end;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return NULL;
	p = fgets(buf, len, f);
	fclose(f);
	if (!p)
		return NULL;
	snprintf(pat, sizeof(pat), "kvmpf.%s=", key);
	/* At the start or after a space: "xkvmpf.seed=" is another key. */
	for (p = strstr(buf, pat); p && p != buf && p[-1] != ' ';
	     p = strstr(p + 1, pat))
		;
	if (!p)
		return NULL;
	p += strlen(pat);
	end = p + strcspn(p, " \n");
	*end = '\0';
	return p;
}

#endif
