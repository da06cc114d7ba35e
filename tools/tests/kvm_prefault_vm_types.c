// SPDX-License-Identifier: GPL-2.0-only
/*
 * The "not served" side of the contract for a VM type the arch leaves
 * out: on powerpc a KVM-PR VM (KVM_VM_PPC_PR), which has no hypervisor page
 * table to pre-fault, beside a KVM-HV radix VM of the same kernel.  The PR
 * VM must read KVM_CAP_PRE_FAULT_MEMORY 0 on its fd, and the ioctl on its
 * vCPU must fail with EOPNOTSUPP and leave the range as it was.  Where no
 * PR VM can be created (KVM-PR does not run on a radix host, the nested
 * set-up here) those cases skip with the reason.  Other arches have no
 * such type here (x86 covers the side with npt=0 and a kernel without the
 * feature): the cases skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "ktap.h"

#define RANGE_GPA	0x40000000ULL
#define RANGE_SIZE	0x200000ULL

int main(void)
{
	struct ktap t;

	ktap_plan(&t, 3);
#if defined(__powerpc64__)
	{
		struct kvm_pre_fault_memory range = { .gpa = RANGE_GPA, .size = RANGE_SIZE };
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		int hv = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, KVM_VM_PPC_HV);
		int pr = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, KVM_VM_PPC_PR);
		int vcpu = pr < 0 ? -1 : ioctl(pr, KVM_CREATE_VCPU, 0);
		/* Why the PR VM or its vCPU is missing, before errno moves on. */
		int pr_err = errno;
		int r, err;

		if (!ktap_result(&t, hv >= 0 && ioctl(hv, KVM_CHECK_EXTENSION,
						      KVM_CAP_PRE_FAULT_MEMORY) == 1,
				 "hv_radix_vm_is_served"))
			ktap_diag("KVM-HV VM fd %d: %s", hv, strerror(errno));
		if (pr < 0 || vcpu < 0) {
			/*
			 * KVM-PR not built, or refusing to start: it cannot run
			 * on a radix host (KVM_CREATE_VM then says EINVAL).
			 */
			char why[96];

			snprintf(why, sizeof(why), "no KVM-PR VM here (%s)", strerror(pr_err));
			ktap_skip(&t, "pr_vm_reads_capability_0", why);
			ktap_skip(&t, "pr_vm_prefault_is_eopnotsupp", why);
			return ktap_exit_code(&t);
		}
		ktap_result(&t, ioctl(pr, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY) == 0,
			    "pr_vm_reads_capability_0");
		r = ioctl(vcpu, KVM_PRE_FAULT_MEMORY, &range);
		err = errno;
		if (!ktap_result(&t, r == -1 && err == EOPNOTSUPP && range.gpa == RANGE_GPA &&
				 range.size == RANGE_SIZE, "pr_vm_prefault_is_eopnotsupp"))
			ktap_diag("returned %d (%s), range 0x%llx+0x%llx", r, strerror(err),
				  (unsigned long long)range.gpa, (unsigned long long)range.size);
	}
#else
	ktap_skip(&t, "hv_radix_vm_is_served", "a powerpc case");
	ktap_skip(&t, "pr_vm_reads_capability_0", "a powerpc case");
	ktap_skip(&t, "pr_vm_prefault_is_eopnotsupp", "a powerpc case");
#endif
	return ktap_exit_code(&t);
}
