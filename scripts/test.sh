#!/bin/sh
# test.sh [ARCH...]: for each arch (default: all), build the kernel and the
# initramfs, boot it once (KUnit at boot, then the guest tests), prove that
# the harness rejects a machine without usable KVM, and report everything.
set -eu
. "$(dirname "$0")/lib.sh"

arches=${*:-$ALL_ARCHES}
[ "$arches" = all ] && arches=$ALL_ARCHES
start=$(date +%s)
logs=$top/build/logs
mkdir -p "$logs"
results=""

for a in $arches; do
	arch_load "$a"
	log=$logs/$name-test.log
	rm -f "$log" "${log%.log}.status"
	results="$results $log"
	if "$top/scripts/build.sh" "$a"; then
		"$top/scripts/boot.sh" "$a" test || true
	else
		say "$a: build failed; its results will be missing"
	fi
done

# The harness must fail when KVM cannot work: x86_64 on qemu64 (SVM without
# nested paging) and arm64 booted at EL1.  Reuses the kernels built above;
# the results are a KTAP log of their own.
selftest=$logs/harness-selftest.log
cases=""
i=0
for case in "x86_64 QEMU_CPU=qemu64 no_npt" "arm64 QEMU_MACHINE=virt el1_only"; do
	set -- $case
	case " $arches " in *" $1 "*) ;; *) continue ;; esac
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
