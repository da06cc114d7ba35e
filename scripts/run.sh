#!/bin/sh
# run.sh [ARCH|all] [CMD]: build what is missing and show what a VMM sees of
# KVM_PRE_FAULT_MEMORY on ARCH (default arm64): the output of
# "kvm-prefault CMD" run in the guest (default probe,demo: the capability
# per VM type, then a pre-faulted guest next to one that is not).
set -eu
. "$(dirname "$0")/lib.sh"

arches=${1:-arm64}
cmd=${2:-probe,demo}
[ "$arches" = all ] && arches=$ALL_ARCHES
rc=0
for a in $arches; do
	arch_load "$a"
	"$top/scripts/build.sh" "$a" >&2 || { rc=1; continue; }
	"$top/scripts/boot.sh" "$a" "$cmd" >&2 || rc=1
	log=$logs/$name-$cmd.log
	echo
	echo "== $a =="
	# Only what kvm-prefault printed: the table, not the kernel's boot log.
	sed -n 's/\r$//; /^kvm-prefault/,/^kvmpf: done/p' "$log" | grep -v '^\[' || true
	grep -q "^kvmpf: done: kvm-prefault $cmd exited with 0" "$log" || {
		echo "($a: kvm-prefault $cmd did not complete; see build/logs/$name-$cmd.log)"
		rc=1
	}
done
exit $rc
