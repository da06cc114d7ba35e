// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stands in for a test suite that cannot be built for this arch, so that
 * the suite still reports: one case, skipped, with the reason the build
 * gave (UNSUPPORTED_WHY).  The suite is the name it is installed under.
 */
#include <string.h>

#include "ktap.h"

int main(int argc, char **argv)
{
	const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;
	struct ktap t;

	name = name ? name + 1 : "unsupported_suite";
	ktap_plan(&t, 1);
	ktap_skip(&t, name, UNSUPPORTED_WHY);
	return ktap_exit_code(&t);
}
