#!/bin/sh
# profile.sh [ARCH...|all]: for each arch (default: all), build what is
# missing, boot once running "kvm-prefault profile" in the guest and keep
# its tables (time per kernel function of a guest fault and of pre-faults,
# from the function profiler) in build/bench/profile-ARCH.txt.
# Exits 1 when a run failed.
set -eu
. "$(dirname "$0")/lib.sh"

arches=${*:-$ALL_ARCHES}
[ "$arches" = all ] && arches=$ALL_ARCHES
bench=$top/build/bench
mkdir -p "$bench"
rc=0

for a in $arches; do
	arch_load "$a"
	if ! "$top/scripts/build.sh" "$a" >&2 || ! "$top/scripts/boot.sh" "$a" profile >&2; then
		rc=1
		continue
	fi
	log=$logs/$name-profile.log
	# The tables only, without the kernel's console lines.
	sed -n 's/\r$//; /^kvm-prefault profile/,/^kvmpf: done/p' "$log" |
		grep -v -e '^\[' -e '^kvmpf:' > "$bench/profile-$a.txt" || true
	echo
	echo "== $a =="
	cat "$bench/profile-$a.txt"
	if ! grep -q "^kvmpf: done: kvm-prefault profile exited with 0" "$log"; then
		echo "($a: kvm-prefault profile failed; see build/logs/$name-profile.log)"
		rc=1
	fi
done
exit $rc
