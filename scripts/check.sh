#!/bin/sh
# check.sh: host-side checks of our kernel code and documentation, as KTAP
# on stdout (make test keeps it in build/logs/host-checks.log):
#   checkpatch --strict on every file under kernel/ and every patch,
#   kernel-doc -Wall on every new C file and header,
#   every .rst under Documentation/ through docutils, warnings fatal.
set -eu
. "$(dirname "$0")/lib.sh"

[ -x "$tree/scripts/checkpatch.pl" ] || die "build/linux is not prepared"
cd "$top"
files=$(find kernel -path kernel/patches -prune -o -type f -name '*.[ch]' -print | sort)
patches=$(sed -e 's/#.*//' kernel/patches/series | sed '/^$/d')
docs=$(find Documentation -name '*.rst' | sort)

n=0
for f in $files; do n=$((n + 2)); done
for p in $patches; do n=$((n + 1)); done
for d in $docs; do n=$((n + 1)); done

echo "KTAP version 1"
echo "1..1"
echo "    # Subtest: host_checks"
echo "    1..$n"
i=0
# result NAME OUTPUT: ok when OUTPUT is empty, else not ok with it as diagnostics.
result() {
	i=$((i + 1))
	if [ -z "$2" ]; then
		echo "    ok $i $1"
	else
		echo "    not ok $i $1"
		echo "$2" | sed 's/^/    # /'
		failed=1
	fi
}
failed=0
# checkpatch runs from inside the tree: from a git checkout it would look at
# the checkout's history instead.
for f in $files; do
	out=$(cd "$tree" && ./scripts/checkpatch.pl --strict --terse --show-types \
		--no-summary -f "$top/$f" 2>&1 || true)
	result "checkpatch_$(echo "$f" | tr '/.-' '___')" "$out"
	out=$(cd "$tree" && ./scripts/kernel-doc -none -Wall "$top/$f" 2>&1 || true)
	result "kernel_doc_$(echo "$f" | tr '/.-' '___')" "$out"
done
for p in $patches; do
	out=$(cd "$tree" && ./scripts/checkpatch.pl --strict --terse --show-types \
		--no-summary "$top/kernel/patches/$p" 2>&1 || true)
	result "checkpatch_$(echo "$p" | tr '/.-' '___')" "$out"
done
for d in $docs; do
	out=$(python3 -c 'import sys
from docutils.core import publish_doctree
publish_doctree(open(sys.argv[1]).read(), source_path=sys.argv[1],
		settings_overrides={"halt_level": 2, "report_level": 2})' "$d" 2>&1 || true)
	result "rst_$(echo "$d" | tr '/.-' '___')" "$out"
done
if [ $failed -eq 0 ]; then echo "ok 1 host_checks"; else echo "not ok 1 host_checks"; fi
