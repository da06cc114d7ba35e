# Shared by the workbench scripts: paths, per-arch data and the kernel make
# invocation.  Source it; it defines functions and variables only.

top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux
ALL_ARCHES="x86_64 arm64 riscv64"
# Built and tested only when named (make test ARCH=ppc64le): its cold
# build and nested-HV boot do not fit CI's budget beside the others.
MORE_ARCHES="ppc64le"

say() { echo "$(basename "$0" .sh): $*"; }
die() { echo "$(basename "$0" .sh): error: $*" >&2; exit 1; }

# checkpatch's SPDX check runs the tree's scripts/spdxcheck.py with the
# python3 in PATH and needs ply (python3-ply, installed by make setup for
# Debian's python3); where another python3 without it comes first (pyenv),
# checkpatch prints a traceback and skips the check: put Debian's first.
if [ -x /usr/bin/python3 ] && ! python3 -c 'import ply' 2> /dev/null &&
	/usr/bin/python3 -c 'import ply' 2> /dev/null; then
	PATH=/usr/bin:$PATH
fi

# arch_load ARCH [VARIANT]: read kunit/arch/ARCH.conf and set the build paths.
# A variant (kunit/configs/variant-NAME.config) is a second kernel of the same
# arch with a few options changed; it gets its own build directory.
arch_load() {
	arch=$1
	variant=${2:-}
	[ -f "$top/kunit/arch/$arch.conf" ] ||
		die "unknown arch '$arch' (one of: $ALL_ARCHES $MORE_ARCHES)"
	# The environment may override the machine for one run, e.g.
	# QEMU_CPU=qemu64 to boot x86_64 without nested paging, with
	# KVM_READY naming the line that proves KVM works in that machine.
	cpu_override=${QEMU_CPU:-}
	machine_override=${QEMU_MACHINE:-}
	ready_override=${KVM_READY:-}
	# shellcheck disable=SC1090
	. "$top/kunit/arch/$arch.conf"
	case $CMDLINE in *HOST_TSC_KHZ*)
		CMDLINE=$(echo "$CMDLINE" | sed "s/HOST_TSC_KHZ/$(host_tsc_khz)/") ;;
	esac
	QEMU_CPU=${cpu_override:-$QEMU_CPU}
	QEMU_MACHINE=${machine_override:-$QEMU_MACHINE}
	KVM_READY=${ready_override:-$KVM_READY}
	name=$arch${variant:+-$variant}
	out=$top/build/$name
	logs=$top/build/logs
	mkdir -p "$logs"
}

# kmake ARGS...: make in the prepared tree for the loaded arch, with ccache
# when it is installed.  Config and build must agree on CC, so every kernel
# make goes through here.
kmake() {
	cc=${CROSS_COMPILE}gcc
	command -v ccache >/dev/null 2>&1 && cc="ccache $cc"
	make -C "$tree" O="$out" ARCH="$LINUX_ARCH" CROSS_COMPILE="$CROSS_COMPILE" \
		CC="$cc" HOSTCC="${HOSTCC:-gcc}" "$@"
}

# host_tsc_khz: the build host's TSC frequency in kHz (kunit/archconf.py
# has the same for kunit.py).
host_tsc_khz() {
	awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000; found = 1; exit }
		END { if (!found) print 2000000 }' /proc/cpuinfo
}

# elapsed START: seconds since START (from date +%s).
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
