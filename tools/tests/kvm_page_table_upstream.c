// SPDX-License-Identifier: GPL-2.0-only
/*
 * Upstream's KVM selftest kvm_page_table_test, run as a suite this project
 * did not write: two vCPUs fault in, write, read and dirty-log 32 MiB of
 * guest memory, with anonymous, THP and hugetlb backing.  Block mappings
 * that do not survive dirty logging (a 4 KiB write fault where a block is
 * installed) fail it.  One KTAP case per backing; the test's own output is
 * kept as diagnostics.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"
#include "spawn.h"

#define KVM_PAGE_TABLE_TEST	"/bin/kvm_page_table_test"

static const char *const backings[] = {
	"anonymous", "anonymous_thp", "anonymous_hugetlb",
};

/* Runs the test on @backing, its output as diagnostics; the wait status. */
static int run_backing(const char *backing)
{
	char *argv[] = { KVM_PAGE_TABLE_TEST, "-v", "2", "-b", "32M", "-s",
			 (char *)backing, NULL };

	return run_prefixed(argv, "# ");
}

int main(void)
{
	struct ktap t;
	char name[64];
	size_t i;
	int status;

	if (access(KVM_PAGE_TABLE_TEST, X_OK))
		return ktap_fail_only(&t, "kvm_page_table_test",
				      KVM_PAGE_TABLE_TEST " is missing");
	ktap_plan(&t, sizeof(backings) / sizeof(backings[0]));
	for (i = 0; i < sizeof(backings) / sizeof(backings[0]); i++) {
		status = run_backing(backings[i]);
		snprintf(name, sizeof(name), "kvm_page_table_test_%s", backings[i]);
		ktap_result(&t, status >= 0 && WIFEXITED(status) &&
			    !WEXITSTATUS(status), name);
	}
	return ktap_exit_code(&t);
}
