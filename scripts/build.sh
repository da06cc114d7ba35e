#!/bin/sh
# build.sh ARCH [VARIANT]: configure and build the kernel for ARCH in
# build/ARCH[-VARIANT], install its UAPI headers, build the static guest
# programs and pack them into an initramfs.  Only what changed is rebuilt.
set -eu
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: build.sh ARCH [VARIANT]"
arch_load "$1" "${2:-}"
"$top/scripts/prepare.sh" >/dev/null || die "prepare failed"
mkdir -p "$out"
# The noprefault variant turns one option off: nearly every object is the
# arch kernel's.  Its first build starts from a copy of that build, so
# kbuild recompiles only the files the option reaches (fixdep records
# which options each object read) instead of compiling the kernel again.
if [ "$variant" = noprefault ] && [ ! -f "$out/.config" ] &&
	[ -f "$top/build/$arch/.config" ]; then
	say "$name: starting from a copy of build/$arch"
	cp -a "$top/build/$arch/." "$out/"
	# Host tools (objtool) record their targets by absolute path: moved
	# to this directory, or make rebuilds objtool, and with it every
	# object of the kernel.
	grep -rlF --include='*.cmd' --include='*.d' "$top/build/$arch/" "$out/tools" |
		xargs -r sed -i "s|$top/build/$arch/|$out/|g"
fi

# Config: the base fragment, the arch's and the variant's, merged onto
# allnoconfig: what no fragment names is off, so a test kernel builds only
# what the tests use.  Regenerated only when a fragment changed.
frags="$top/kunit/configs/base.config $top/kunit/configs/$arch.config"
[ -z "$variant" ] || frags="$frags $top/kunit/configs/variant-$variant.config"
# What a variant adds on one arch only, when the arch has such a fragment.
[ -z "$variant" ] || [ ! -f "$top/kunit/configs/$arch-$variant.config" ] ||
	frags="$frags $top/kunit/configs/$arch-$variant.config"
for f in $frags; do [ -f "$f" ] || die "missing config fragment $f"; done
sum=$(cat $frags | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.kvmpf-config" 2>/dev/null)" != "$sum" ]; then
	say "$name: configuring from $(echo "$frags" | sed "s|$top/||g")"
	(cd "$tree" && ARCH=$LINUX_ARCH CROSS_COMPILE=$CROSS_COMPILE \
		./scripts/kconfig/merge_config.sh -m -O "$out" $frags) \
		> "$logs/$name-config.log" 2>&1 || die "merge_config failed, see build/logs/$name-config.log"
	kmake KCONFIG_ALLCONFIG="$out/.config" allnoconfig \
		>> "$logs/$name-config.log" 2>&1 || die "allnoconfig failed, see build/logs/$name-config.log"
	# Every option a fragment asks for must have survived Kconfig; where
	# fragments disagree (a variant building KVM as a module), the last
	# one merged wins, as in merge_config.sh.
	bad=$(cat $frags | sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=n$/# \1 is not set/p' \
		-e '/^CONFIG_[A-Za-z0-9_]*=[^n]/p' -e '/^# CONFIG_.* is not set$/p' |
		awk '{ opt = $1 == "#" ? $2 : $1; sub(/=.*/, "", opt)
		       if (!(opt in line)) order[n++] = opt; line[opt] = $0 }
		     END { for (i = 0; i < n; i++) print line[order[i]] }' |
		while read -r want; do
			case $want in
			"# "*) opt=${want#\# }; opt=${opt%% *}
			       grep -q "^$opt=" "$out/.config" && echo "$want" ;;
			*) grep -qxF "$want" "$out/.config" || echo "$want" ;;
			esac
		done || true)
	[ -z "$bad" ] || die "$name: Kconfig did not take: $(echo $bad)"
	echo "$sum" > "$out/.kvmpf-config"
fi

image_target=$(basename "$KERNEL_IMAGE")
start=$(date +%s)
say "$name: building $image_target with -j$(nproc) (log: build/logs/$name-build.log)"
if ! kmake -j"$(nproc)" "$image_target" > "$logs/$name-build.log" 2>&1; then
	grep -E 'error|Error' "$logs/$name-build.log" | head -20 >&2
	die "$name: kernel build failed, see build/logs/$name-build.log"
fi
say "$name: kernel ready in $(elapsed "$start")"
# A variant with modules (KVM built as a module, as distributions build
# it) links them too: modpost fails on a symbol a module needs unexported.
if grep -q '^CONFIG_MODULES=y' "$out/.config"; then
	kmake -j"$(nproc)" modules >> "$logs/$name-build.log" 2>&1 ||
		{ grep -E 'ERROR|error' "$logs/$name-build.log" | head -20 >&2
		  die "$name: modules failed to build or link, see build/logs/$name-build.log"; }
	say "$name: modules built: $(find "$out" -name '*.ko' | sed 's|.*/||' | sort | tr '\n' ' ')"
fi

# UAPI headers of this very tree: the guest programs need 6.12's kvm.h.
kmake -s headers_install INSTALL_HDR_PATH="$out/usr" > /dev/null

# The KVM selftests of the series, built static with the selftest library
# against this tree's headers; /init runs them with the other guest tests.
# Upstream's kvm_page_table_test goes to /bin: a guest test runs it with
# the arguments that exercise block mappings and dirty logging.
# An arch whose selftest library cannot build them lists the suites in
# UNSUPPORTED_SUITES (its .conf), with the reason; they report a skip.
# pre_fault_memory_test is upstream's own test of the ioctl (x86 in the
# base; patch 25 of the series builds it for arm64 and riscv too).
unsupported=${UNSUPPORTED_SUITES:-}
kselftests=
for t in pre_fault_backing_test pre_fault_memory_test; do
	case " $unsupported " in *" $t "*) ;; *) kselftests="$kselftests $t" ;; esac
done
kselftests=${kselftests# }
kselftest_tools="kvm_page_table_test"
case " $unsupported " in *" kvm_page_table_upstream "*) kselftest_tools= ;; esac
ksdir=$out/kselftest
if [ -n "$kselftests$kselftest_tools" ]; then
	make -s -C "$tree/tools/testing/selftests/kvm" ARCH="$LINUX_ARCH" \
		CROSS_COMPILE="$CROSS_COMPILE" OUTPUT="$ksdir" \
		KHDR_INCLUDES="-isystem $out/usr/include" LDFLAGS="-static -pthread" \
		$(for t in $kselftests $kselftest_tools; do echo "$ksdir/$t"; done) \
		> "$logs/$name-kselftest.log" 2>&1 ||
		{ cat "$logs/$name-kselftest.log" >&2; die "$name: KVM selftests failed to build"; }
fi

# Static guest programs and the initramfs that runs them.
make -s -C "$top/tools" O="$out/tools" CC="$USER_CC" \
	KHDR="$out/usr/include" KSELFTEST_DIR="$ksdir" KSELFTESTS="$kselftests" \
	KSELFTEST_TOOLS="$kselftest_tools" \
	UNSUPPORTED_SUITES="$unsupported" UNSUPPORTED_WHY="${UNSUPPORTED_WHY:-}" \
	initramfs > "$logs/$name-tools.log" 2>&1 ||
	{ cat "$logs/$name-tools.log" >&2; die "$name: guest programs failed to build"; }
say "$name: initramfs ready ($(du -h "$out/tools/initramfs.cpio" | cut -f1))"
