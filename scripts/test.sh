#!/bin/sh
# test.sh [ARCH...]: for each arch (default: all), build the kernel and the
# initramfs, boot it once (KUnit at boot, then the guest tests), prove that
# the harness rejects a machine without usable KVM, and report everything.
# test.sh --debug [ARCH...]: the same KUnit suites and guest tests, storm
# included, once per arch on its debug kernel (variant-debug.config:
# KASAN, lockdep, kmemleak, UBSAN...); any report fails the boot.
set -eu
. "$(dirname "$0")/lib.sh"

debug=
if [ "${1:-}" = --debug ]; then
	debug=1
	shift
fi
arches=${*:-$ALL_ARCHES}
[ "$arches" = all ] && arches=$ALL_ARCHES
start=$(date +%s)
logs=$top/build/logs
mkdir -p "$logs"
results=""

# test_boot ARCH VARIANT TAG [VAR=value...]: build (if needed) and boot once
# in test mode, with VAR=value (KERNEL_ARGS, QEMU_CPU, KVM_READY) set for
# the boot.
test_boot() {
	arch_load "$1" "$2"
	log=$logs/$name-test${3:+-$3}.log
	rm -f "$log" "${log%.log}.status"
	results="$results $log"
	if "$top/scripts/build.sh" "$1" $2; then
		b_arch=$1 b_variant=$2 b_tag=$3
		shift 3
		env "$@" "$top/scripts/boot.sh" "$b_arch" "$b_variant" test $b_tag || true
	else
		say "$name: build failed; its results will be missing"
	fi
}

if [ -n "$debug" ]; then
	"$top/scripts/prepare.sh" > /dev/null
	# KASAN and lockdep make a boot a few times slower under TCG.
	for a in $arches; do
		test_boot "$a" debug "" KVMPF_TIMEOUT="${KVMPF_TIMEOUT:-3000}"
	done
	say "debug runs done in $(elapsed "$start"); console logs in build/logs/"
	# shellcheck disable=SC2086
	exec "$top/scripts/report.py" $results
fi

# Style and documentation checks first: they need only the prepared tree.
"$top/scripts/prepare.sh" > /dev/null
"$top/scripts/check.sh" > "$logs/host-checks.log" 2>&1 || true
results="$logs/host-checks.log"

# libkvmprefault's unit tests need no QEMU: the tree's UAPI headers for the
# build host, the library built for it, its KTAP nested under one suite.
host=$top/build/host
hostlog=$logs/libkvmprefault.log
results="$results $hostlog"
{
	echo "KTAP version 1"
	echo "1..1"
	echo "    # Subtest: libkvmprefault"
	if env -u ARCH make -s -C "$tree" O="$host" ARCH=x86_64 headers_install \
		INSTALL_HDR_PATH="$host/usr" > "$host.log" 2>&1 &&
	   make -s -C "$top/tools" O="$host" CC=gcc KHDR="$host/usr/include" \
		host-tests >> "$host.log" 2>&1 &&
	   "$host/test_kvmprefault" > "$host.out" 2>&1; then
		sed 's/^/    /' "$host.out"
		echo "ok 1 libkvmprefault"
	else
		sed 's/^/    # /' "$host.log" "$host.out" 2>/dev/null
		echo "not ok 1 libkvmprefault"
	fi
} > "$hostlog"

wants() { case " $arches " in *" $1 "*) return 0 ;; esac; return 1; }

for a in $arches; do
	test_boot "$a" "" ""
done

if wants arm64; then
	# The same kernel with KVM's hypervisor at EL2 and the host at EL1.
	test_boot arm64 "" nvhe KERNEL_ARGS=kvm-arm.mode=nvhe \
		"KVM_READY=kvm \[1\]: Hyp nVHE mode initialized successfully"
fi

if wants riscv64; then
	# The same kernel on the smallest G-stage layout, Sv39x4.
	test_boot riscv64 "" sv39 KERNEL_ARGS=kvm.gstage_max_levels=3 \
		"KVM_READY=kvm \[1\]: using Sv39x4 G-stage page table format"
fi

if wants x86_64; then
	# Nested paging off: KVM works, but the capability must read 0 and
	# the pre-fault cases must report the feature as not enabled.
	test_boot x86_64 "" npt_off KERNEL_ARGS=kvm_amd.npt=0 \
		"KVM_READY=kvm_amd: Nested Paging disabled"
	# CONFIG_KVM_PRE_FAULT_MEMORY=n: capability 0, -EOPNOTSUPP.
	test_boot x86_64 noprefault ""
fi

# The harness must fail when KVM cannot work: x86_64 on qemu64 (SVM without
# nested paging) and arm64 booted at EL1.  Reuses the kernels built above;
# the results are a KTAP log of their own.
selftest=$logs/harness-selftest.log
cases=""
i=0
for case in "x86_64 QEMU_CPU=qemu64 no_npt" "arm64 QEMU_MACHINE=virt el1_only"; do
	set -- $case
	wants "$1" || continue
	i=$((i + 1))
	env "$2" "$top/scripts/boot.sh" "$1" "" test "$3" > /dev/null || true
	out=$("$top/scripts/report.py" "$logs/$1-test-$3.log" 2>&1) && rc=0 || rc=$?
	if [ $rc -ne 0 ] && echo "$out" | grep -q "KVM did not initialise"; then
		cases="$cases    ok $i $1_$3_is_rejected\n"
	else
		cases="$cases    not ok $i $1_$3_is_rejected\n$(echo "$out" | sed 's/^/    # /')\n"
	fi
done
if [ $i -gt 0 ]; then
	verdict="ok"
	case $cases in *"not ok"*) verdict="not ok" ;; esac
	printf "KTAP version 1\n1..1\n    # Subtest: harness_selftest\n    1..%d\n%b%s 1 harness_selftest\n" \
		"$i" "$cases" "$verdict" > "$selftest"
	results="$results $selftest"
fi

say "all runs done in $(elapsed "$start"); console logs in build/logs/"
# shellcheck disable=SC2086
exec "$top/scripts/report.py" $results
