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
base=$(env -u ARCH -u CROSS_COMPILE make -s -C "$tree" kernelversion 2>/dev/null)
echo "$base" > "$top/build/base-version"
refreshed=$(cat "$patches/base-version" 2>/dev/null || echo unknown)
if [ "$base" != "$refreshed" ]; then
	say "warning: base is $base but kernel/patches was refreshed against $refreshed"
fi

# quilt: keep the applied patches that are unchanged and still first in the
# series, pop the rest and push what follows, so that an edit to one patch
# only touches (and rebuilds) what that patch and the later ones touch.
export QUILT_PATCHES="$patches" QUILT_PC=.pc
cd "$tree"
sed -e 's/#.*//' "$patches/series" | while read -r p _; do
	[ -z "$p" ] || echo "$p $(sha256sum < "$patches/$p" | cut -c1-64)"
done > "$stamp.want"
touch "$stamp"
# Patches applied under names the series no longer has (it was renumbered):
# quilt refuses to pop them, so restore their files from quilt's backups in
# reverse order, as 'quilt pop -f' would (an empty backup is a file the
# patch created), and push the whole series again.
if [ -s .pc/applied-patches ] &&
   sed -e 's/#.*//' "$patches/series" | grep -v '^ *$' | sed 's/ .*//' |
	grep -vxF -f - .pc/applied-patches > /dev/null; then
	tac .pc/applied-patches | while read -r p; do
		(cd ".pc/$p" && find . -type f ! -name .timestamp) | while read -r f; do
			if [ -s ".pc/$p/$f" ]; then cp ".pc/$p/$f" "$f"; else rm -f "$f"; fi
		done
		rm -rf ".pc/$p"
	done
	rm -f .pc/applied-patches
	say "restored the tree from a series that was renamed"
fi
quilt applied 2>/dev/null | sed 's|.*/||' > "$stamp.applied" || true
# The applied patches with the hashes they had when applied.
awk 'FILENAME == ARGV[1] { sum[$1] = $2; next } { print $1, sum[$1] }' \
	"$stamp" "$stamp.applied" > "$stamp.have"
keep=$(awk 'FILENAME == ARGV[1] { want[FNR] = $0; next }
	    !done && want[FNR] == $0 { n = FNR; next } { done = 1 }
	    END { print n + 0 }' "$stamp.want" "$stamp.have")
applied=$(wc -l < "$stamp.have")
if [ "$keep" -lt "$applied" ]; then
	# Edits made in the tree since the top patch was last refreshed are
	# lost by a pop.  Only when that patch file is as it was applied: a
	# patch file changed under the tree (a pull, a refresh elsewhere) makes
	# the tree differ from it without any edit here.
	top_applied=$(tail -n 1 "$stamp.have")
	top_now="${top_applied%% *} $(sha256sum < "$patches/${top_applied%% *}" 2>/dev/null | cut -c1-64)"
	if [ "$top_now" = "$top_applied" ] && [ -n "$(quilt diff -z 2>/dev/null)" ]; then
		die "the top patch has unrefreshed changes; run 'quilt refresh' in build/linux first"
	fi
	# -f: restore from quilt's backups even where the patch file changed.
	if [ "$keep" -eq 0 ]; then
		quilt pop -a -f -q > /dev/null
	else
		quilt pop -f -q "$(sed -n "${keep}p" "$stamp.have" | cut -d' ' -f1)" > /dev/null
	fi
	say "popped $((applied - keep)) changed patches"
fi
if [ "$(wc -l < "$stamp.want")" -gt "$keep" ]; then
	quilt push -a -q > /dev/null || [ $? -eq 2 ] || die "quilt push failed"
	say "applied $(($(wc -l < "$stamp.want") - keep)) patches from kernel/patches"
fi
mv "$stamp.want" "$stamp"
rm -f "$stamp.applied" "$stamp.have"

# Symlink our own files: kernel/ and Documentation/ mirror kernel paths.  A
# path that exists in the base as a real file is an edit to upstream code and
# belongs in the quilt series instead.
links=$tree/.kvmpf-links
touch "$links"
cd "$top"
find kernel Documentation -path kernel/patches -prune -o -type f -print 2>/dev/null |
	sort > "$links.src"
sed 's|^kernel/||' "$links.src" > "$links.new"
paste -d' ' "$links.src" "$links.new" | while read -r src f; do
	dst=$tree/$f
	if [ -e "$dst" ] && [ ! -L "$dst" ]; then
		die "$src shadows an upstream file; edit it through quilt"
	fi
	if [ "$(readlink "$dst" 2>/dev/null)" != "$top/$src" ]; then
		mkdir -p "$(dirname "$dst")"
		ln -sfn "$top/$src" "$dst"
	fi
done
rm -f "$links.src"
# Drop links to files that were removed from kernel/.
comm -23 "$links" "$links.new" | while read -r f; do
	[ -L "$tree/$f" ] && rm -f "$tree/$f"
done
mv "$links.new" "$links"
say "build/linux is Linux $base with $(grep -c '^[^#]' "$patches/series" || true) patches and $(wc -l < "$links") files from kernel/ and Documentation/"
