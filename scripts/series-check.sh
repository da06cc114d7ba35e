#!/bin/sh
# series-check.sh [ARCH...]: what a maintainer would do with build/series/
# (make series): extract the base release afresh, apply the series with
# git am, check that the result is byte for byte the tree make test builds
# (build/linux), and for every patch run checkpatch.pl --strict and build
# the KVM objects (arch/ARCH/kvm/, which compiles virt/kvm/ too) with the
# project's configs for each arch (default x86_64 arm64 riscv64), with
# ccache: every step of a bisection must build.  Then the whole series with
# KVM built as modules (modpost) per arch.  One line per patch, then
# "N passed, N failed".  Logs in build/series-check/.
set -eu
. "$(dirname "$0")/lib.sh"

tarball=${KVMPF_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
arches=${*:-$ALL_ARCHES}
series=$top/build/series
check=$top/build/series-check
src=$check/tree
start=$(date +%s)
[ -f "$series/0000-cover-letter.patch" ] || die "no series; run make series first"
"$top/scripts/prepare.sh" > /dev/null

rm -rf "$src" "$check"/*.log
mkdir -p "$src"
tar -C "$src" --strip-components=1 -xf "$tarball"
cd "$src"
git init -q
git add -A -f .
git -c user.name=base -c user.email=base@invalid commit -q -m base
git tag base

passed=0
failed=0
result() {	# result OK TEXT
	if [ "$1" = 1 ]; then passed=$((passed + 1)); echo "ok   $2"
	else failed=$((failed + 1)); echo "FAIL $2"; fi
}

# git am, the way a maintainer applies a series from the list.
patches=$(ls "$series"/[0-9]*.patch | grep -v '/0000-')
total=$(echo "$patches" | wc -l)
if git -c user.name=check -c user.email=check@invalid am -q $patches > "$check/am.log" 2>&1; then
	result 1 "git am: $total patches apply to the freshly extracted base"
else
	result 0 "git am: the series does not apply (see build/series-check/am.log)"
	echo "$passed passed, $failed failed"
	exit 1
fi

# The applied tree is the tested one: build/linux, its links followed,
# without quilt's and prepare's own files and the headers the KVM
# selftests' build generates in the tree (tools/arch/*/include/generated).
diff -r -q -x .git -x .pc -x '.kvmpf-*' "$src" "$tree" 2>&1 |
	grep -v "^Only in $tree/tools/arch/[a-z0-9]*/include: generated\$" > "$check/identity.log" || true
if [ ! -s "$check/identity.log" ]; then
	result 1 "tree after git am is identical to build/linux (what make test builds)"
else
	result 0 "tree after git am differs from build/linux: $(wc -l < "$check/identity.log") entries (see build/series-check/identity.log)"
fi

# kmake_at ARCH ARGS: make for ARCH in the applied tree, out of tree.
kmake_at() {
	a=$1
	shift
	arch_load "$a"
	cc=${CROSS_COMPILE}gcc
	command -v ccache > /dev/null 2>&1 && cc="ccache $cc"
	make -C "$src" O="$check/$a" ARCH="$LINUX_ARCH" CROSS_COMPILE="$CROSS_COMPILE" \
		CC="$cc" HOSTCC="${HOSTCC:-gcc}" "$@"
}

# Configure once at the base per arch; olddefconfig follows each patch.
for a in $arches; do
	arch_load "$a"
	mkdir -p "$check/$a"
	(cd "$src" && ARCH=$LINUX_ARCH CROSS_COMPILE=$CROSS_COMPILE \
		./scripts/kconfig/merge_config.sh -m -O "$check/$a" \
		"$top/kunit/configs/base.config" "$top/kunit/configs/$a.config") > "$check/$a-config.log" 2>&1
	kmake_at "$a" KCONFIG_ALLCONFIG="$check/$a/.config" alldefconfig >> "$check/$a-config.log" 2>&1
done

i=0
for c in $(git rev-list --reverse base..HEAD); do
	i=$((i + 1))
	git checkout -q "$c"
	p=$(echo "$patches" | sed -n "${i}p")
	subject=$(git log -1 --format=%s "$c")
	bad=""
	# checkpatch's FILE_PATH_CHANGES only asks whether a patch that adds
	# a file also changes MAINTAINERS; what matters is that an entry
	# covers the file, which get_maintainer.pl answers.
	./scripts/checkpatch.pl --strict -q --ignore FILE_PATH_CHANGES "$p" \
		> "$check/$i-checkpatch.log" 2>&1 || bad="$bad checkpatch"
	for f in $(git diff --name-only --diff-filter=A "$c~1" "$c"); do
		./scripts/get_maintainer.pl --no-git --no-git-fallback -f "$f" 2>/dev/null |
			grep -v 'THE REST' | grep -q '(maintainer:\|(supporter:\|open list:' ||
			bad="$bad no-maintainer:$f"
	done
	for a in $arches; do
		arch_load "$a"
		# The source directory of ARCH=x86_64 is arch/x86.
		kvm=arch/$(echo "$LINUX_ARCH" | sed 's/^x86_64$/x86/')/kvm
		# A directory make does not know builds "nothing" and succeeds:
		# the KVM archive must be there, and as new as the tree.
		rm -f "$check/$a/$kvm/built-in.a"
		if ! { kmake_at "$a" olddefconfig && kmake_at "$a" -j"$(nproc)" "$kvm/"; } \
			> "$check/$i-$a.log" 2>&1 || [ ! -f "$check/$a/$kvm/built-in.a" ]; then
			bad="$bad $a"
		fi
	done
	if [ -z "$bad" ]; then
		result 1 "$(printf '%02d' $i) $subject: checkpatch clean, builds on $arches"
	else
		result 0 "$(printf '%02d' $i) $subject: fails:$bad (build/series-check/$i-*.log)"
	fi
done

# The whole series with KVM built as modules, as distributions build it:
# vmlinux and the KVM modules, linked by modpost, so that a symbol a KVM
# module needs but nobody exports fails here.  The object builds above
# cannot see that.  It builds the tested tree (identical, checked above)
# with kunit/configs/variant-modules.config and ARCH-modules.config.
for a in $arches; do
	[ -f "$top/kunit/configs/$a-modules.config" ] || continue
	m_start=$(date +%s)
	if "$top/scripts/build.sh" "$a" modules > "$check/modules-$a.log" 2>&1; then
		result 1 "KVM as modules on $a: $(sed -n 's/.*modules built: //p' "$check/modules-$a.log") link ($(elapsed "$m_start"))"
	else
		result 0 "KVM as modules on $a: build or modpost failed (build/series-check/modules-$a.log)"
	fi
done
say "done in $(elapsed "$start")"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
