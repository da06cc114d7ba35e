#!/bin/sh
# bench.sh [--profile] [ARCH...|all]: for each arch (default: all), build
# what is missing and boot once running "kvm-prefault bench" in the guest;
# collect under build/bench/: ARCH.txt (the tables as printed),
# first-touch.csv, per-page.csv and thp-slot.csv (every arch, one row per
# case), scenario.csv (the restore and post-copy scenarios: one row per
# arch, scenario, source, access and mode), bench.png and scenario.png
# (the plots).  x86_64 runs KVM's upstream TDP backend:
# it is the reference.  Exits 1 when a run failed or a bench check failed.
# With --profile the guest runs "kvm-prefault profile" instead, and its
# tables (time per kernel function of a guest fault and of pre-faults)
# go to build/bench/profile-ARCH.txt.
set -eu
. "$(dirname "$0")/lib.sh"

cmd=bench
if [ "${1:-}" = --profile ]; then
	cmd=profile
	shift
fi
arches=${*:-$ALL_ARCHES}
[ "$arches" = all ] && arches=$ALL_ARCHES
bench=$top/build/bench
mkdir -p "$bench"
[ $cmd = profile ] || rm -f "$bench"/*.csv "$bench"/[!p]*.txt "$bench"/bench.png \
	"$bench"/scenario.png
rc=0

# csv_block NAME LOG: the CSV that kvm-prefault printed between its markers.
csv_block() {
	sed -n "s/\r$//; /^-- csv $1 --$/,/^-- end --$/p" "$2" | sed '1d;$d'
}

for a in $arches; do
	arch_load "$a"
	if ! "$top/scripts/build.sh" "$a" >&2 || ! "$top/scripts/boot.sh" "$a" $cmd >&2; then
		rc=1
		continue
	fi
	log=$logs/$name-$cmd.log
	txt=$bench/$a.txt
	[ $cmd = bench ] || txt=$bench/profile-$a.txt
	# The tables only, without the kernel's console lines or the CSV
	# blocks (the scenarios' table follows the others' CSV).
	sed -n "s/\r$//; /^kvm-prefault $cmd/,/^kvmpf: done/p" "$log" |
		sed '/^-- csv .* --$/,/^-- end --$/d' |
		grep -v -e '^\[' -e '^kvmpf:' > "$txt" || true
	echo
	label=$a
	[ "$a" != x86_64 ] || label="$a (KVM's upstream TDP backend: the reference)"
	echo "== $label =="
	cat "$txt"
	if ! grep -q "^kvmpf: done: kvm-prefault $cmd exited with 0" "$log"; then
		echo "($a: kvm-prefault $cmd failed; see build/logs/$name-$cmd.log)"
		rc=1
	fi
	[ $cmd = bench ] || continue
	for block in first-touch per-page thp-slot scenario; do
		out=$bench/$block.csv
		csv_block "$block" "$log" > "$bench/.$block"
		[ -s "$bench/.$block" ] || continue
		# One header for all arches.
		[ -s "$out" ] || head -1 "$bench/.$block" > "$out"
		tail -n +2 "$bench/.$block" >> "$out"
		rm -f "$bench/.$block"
	done
done

if { [ -s "$bench/first-touch.csv" ] || [ -s "$bench/scenario.csv" ]; } &&
	[ $cmd = bench ]; then
	"$top/scripts/bench_plot.py" "$bench" || rc=1
fi
echo
say "results in build/bench/: $(cd "$bench" && ls | tr '\n' ' ')"
exit $rc
