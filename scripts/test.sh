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

# The harness must fail when KVM cannot work: x86_64 without SVM/NPT and
# arm64 booted at EL1.  Reuses the kernels built above.
selftest=$logs/harness-selftest.log
: > "$selftest"
n=0
for case in "x86_64 QEMU_CPU=qemu64 no_svm" "arm64 QEMU_MACHINE=virt el1_only"; do
	set -- $case
	case " $arches " in *" $1 "*) n=$((n + 1)) ;; esac
done
if [ "$n" -gt 0 ]; then
	{
		echo "KTAP version 1"
		echo "1..1"
		echo "    # Subtest: harness_selftest"
		echo "    1..$n"
	} >> "$selftest"
	i=0
	for case in "x86_64 QEMU_CPU=qemu64 no_svm" "arm64 QEMU_MACHINE=virt el1_only"; do
		set -- $case
		case " $arches " in *" $1 "*) ;; *) continue ;; esac
		i=$((i + 1))
		env "$2" "$top/scripts/boot.sh" "$1" "" test "$3" > /dev/null || true
		out=$("$top/scripts/report.py" "$logs/$1-test-$3.log" 2>&1) && rc=0 || rc=$?
		if [ $rc -ne 0 ] && echo "$out" | grep -q "KVM did not initialise"; then
			echo "    ok $i $1_$3_is_rejected" >> "$selftest"
		else
			echo "    not ok $i $1_$3_is_rejected" >> "$selftest"
			echo "$out" | sed 's/^/    # /' >> "$selftest"
		fi
	done
	if grep -q "^    not ok" "$selftest"; then
		echo "not ok 1 harness_selftest" >> "$selftest"
	else
		echo "ok 1 harness_selftest" >> "$selftest"
	fi
	results="$results $selftest"
fi

say "all runs done in $(elapsed "$start"); console logs in build/logs/"
# shellcheck disable=SC2086
exec "$top/scripts/report.py" $results
