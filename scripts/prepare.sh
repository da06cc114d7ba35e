#!/bin/sh
# Prepare build/linux: the Debian 6.12 source, our quilt series applied, and
# every file under kernel/ symlinked into place.  Incremental: an existing tree
# is reused, new patches are pushed, a changed series is re-applied, and
# nothing under kernel/ is ever written.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${KVMPF_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
tree=$top/build/linux
patches=$top/kernel/patches
stamp=$tree/.kvmpf-prepared

say() { echo "prepare: $*"; }
die() { echo "prepare: error: $*" >&2; exit 1; }

if [ ! -f "$tree/Makefile" ]; then
	[ -f "$tarball" ] || die "$tarball missing; run 'make setup' first"
	say "extracting $(basename "$tarball") into build/linux"
	rm -rf "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -C "$tree.tmp" --strip-components=1 -xf "$tarball"
	rm -rf "$tree"
	mv "$tree.tmp" "$tree"
fi

# The base version, as 6.12.SUBLEVEL, against the one the series was last
# refreshed on.
base=$(make -s -C "$tree" kernelversion 2>/dev/null)
echo "$base" > "$top/build/base-version"
refreshed=$(cat "$patches/base-version" 2>/dev/null || echo unknown)
if [ "$base" != "$refreshed" ]; then
	say "warning: base is $base but kernel/patches was refreshed against $refreshed"
fi

# quilt: re-apply from scratch only when the series or a patch changed.
export QUILT_PATCHES="$patches" QUILT_PC=.pc
series_sum=$({
	cat "$patches/series"
	sed -e 's/#.*//' "$patches/series" | while read -r p _; do
		[ -z "$p" ] || cat "$patches/$p"
	done
} | sha256sum | cut -d' ' -f1)
applied_sum=$(cat "$stamp" 2>/dev/null || true)
cd "$tree"
if [ "$series_sum" != "$applied_sum" ]; then
	if [ -d .pc ] && [ -s .pc/applied-patches ]; then
		if [ -n "$(quilt diff -z 2>/dev/null)" ]; then
			die "the top patch has unrefreshed changes; run 'quilt refresh' in build/linux first"
		fi
		say "series changed: popping applied patches"
		quilt pop -a -q >/dev/null
	fi
	if [ -s "$patches/series" ]; then
		say "applying kernel/patches"
		quilt push -a -q || [ $? -eq 2 ] || die "quilt push failed"
	fi
	echo "$series_sum" > "$stamp"
fi

# Symlink our own files.  A path that exists in the base as a real file is an
# edit to upstream code and belongs in the quilt series instead.
links=$tree/.kvmpf-links
touch "$links"
cd "$top/kernel"
find . -path ./patches -prune -o -type f -print | sed 's|^\./||' | sort > "$links.new"
while read -r f; do
	dst=$tree/$f
	if [ -e "$dst" ] && [ ! -L "$dst" ]; then
		die "kernel/$f shadows an upstream file; edit it through quilt"
	fi
	if [ "$(readlink "$dst" 2>/dev/null)" != "$top/kernel/$f" ]; then
		mkdir -p "$(dirname "$dst")"
		ln -sfn "$top/kernel/$f" "$dst"
	fi
done < "$links.new"
# Drop links to files that were removed from kernel/.
comm -23 "$links" "$links.new" | while read -r f; do
	[ -L "$tree/$f" ] && rm -f "$tree/$f"
done
mv "$links.new" "$links"
say "build/linux is Linux $base with $(grep -c '^[^#]' "$patches/series" || true) patches and $(wc -l < "$links") files from kernel/"
