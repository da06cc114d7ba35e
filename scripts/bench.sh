#!/bin/sh
# bench.sh [ARCH...|all]: for each arch (default: all), build what is
# missing, boot once running "kvm-prefault bench" in the guest, and collect
# under build/bench/: ARCH.txt (the tables as printed), first-touch.csv and
# thp-slot.csv (every arch, one row per case) and bench.png (the plot).
# x86_64 runs KVM's upstream TDP backend: it is the reference.
# Exits 1 when a run failed or the populate-write check failed on an arch.
set -eu
. "$(dirname "$0")/lib.sh"

arches=${*:-$ALL_ARCHES}
[ "$arches" = all ] && arches=$ALL_ARCHES
bench=$top/build/bench
mkdir -p "$bench"
rm -f "$bench"/*.csv "$bench"/*.txt "$bench"/bench.png
rc=0

# csv_block NAME LOG: the CSV that kvm-prefault printed between its markers.
csv_block() {
	sed -n "s/\r$//; /^-- csv $1 --$/,/^-- end --$/p" "$2" | sed '1d;$d'
}

for a in $arches; do
	arch_load "$a"
	if ! "$top/scripts/build.sh" "$a" >&2 || ! "$top/scripts/boot.sh" "$a" bench >&2; then
		rc=1
		continue
	fi
	log=$logs/$name-bench.log
	# The tables only, without the kernel's console lines or the CSV.
	sed -n 's/\r$//; /^kvm-prefault bench/,/^-- csv/p' "$log" | grep -v -e '^\[' -e '^-- csv' \
		> "$bench/$a.txt" || true
	echo
	label=$a
	[ "$a" != x86_64 ] || label="$a (KVM's upstream TDP backend: the reference)"
	echo "== $label =="
	cat "$bench/$a.txt"
	if ! grep -q "^kvmpf: done: kvm-prefault bench exited with 0" "$log"; then
		echo "($a: kvm-prefault bench failed; see build/logs/$name-bench.log)"
		rc=1
	fi
	for block in first-touch per-page thp-slot; do
		out=$bench/$block.csv
		csv_block "$block" "$log" > "$bench/.$block"
		[ -s "$bench/.$block" ] || continue
		# One header for all arches.
		[ -s "$out" ] || head -1 "$bench/.$block" > "$out"
		tail -n +2 "$bench/.$block" >> "$out"
		rm -f "$bench/.$block"
	done
done

if [ -s "$bench/first-touch.csv" ]; then
	"$top/scripts/bench_plot.py" "$bench" || rc=1
fi
echo
say "results in build/bench/: $(cd "$bench" && ls | tr '\n' ' ')"
exit $rc
