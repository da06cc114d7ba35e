#!/bin/sh
# series.sh: write the upstream series under build/series/: one commit per
# patch of kernel/patches/series on top of the base release, with the files
# under kernel/ and Documentation/ that kernel/patches/new-files assigns to
# it, as git format-patch files and a cover letter
# (kernel/patches/cover-letter).  Signed-off-by: git config user.name and
# user.email of this checkout, or SIGNOFF="Name <mail>".  The commits stay
# in build/series-git (branch "series", tag "base") for git log or b4.
set -eu
. "$(dirname "$0")/lib.sh"

patches=$top/kernel/patches
tarball=${KVMPF_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
work=$top/build/series-git
outdir=$top/build/series
base=$(cat "$patches/base-version")

if [ -z "${SIGNOFF:-}" ]; then
	n=$(git -C "$top" config user.name || true)
	m=$(git -C "$top" config user.email || true)
	[ -n "$n" ] && [ -n "$m" ] || die "set git config user.name/user.email or SIGNOFF"
	SIGNOFF="$n <$m>"
fi

# Every new file is added by exactly one patch of the series.
mapped=$(sed -e 's/#.*//' "$patches/new-files" | awk 'NF > 1 { for (i = 2; i <= NF; i++) print $i }' | sort)
have=$(cd "$top" && { find kernel -path kernel/patches -prune -o -type f -print | sed 's|^kernel/||'
	find Documentation -type f; } | sort)
[ "$mapped" = "$(echo "$mapped" | uniq)" ] || die "kernel/patches/new-files names a file twice"
missing=$(echo "$have" | grep -vxF "$mapped" || true)
[ -z "$missing" ] || die "not in kernel/patches/new-files: $(echo $missing)"
extra=$(echo "$mapped" | grep -vxF "$have" || true)
[ -z "$extra" ] || die "kernel/patches/new-files names missing files: $(echo $extra)"

# The base release as one commit, extracted once per base version.
if [ "$(cat "$work/.git/kvmpf-base" 2>/dev/null)" != "$base" ]; then
	say "extracting the base ($base) into build/series-git"
	rm -rf "$work"
	mkdir -p "$work"
	tar -C "$work" --strip-components=1 -xf "$tarball"
	git -C "$work" init -q
	git -C "$work" add -A -f .
	git -C "$work" -c user.name=base -c user.email=base@invalid \
		commit -q -m "Linux $base (Debian linux-source-6.12)"
	git -C "$work" tag -f base > /dev/null
	echo "$base" > "$work/.git/kvmpf-base"
fi
cd "$work"
git checkout -q -f -B series base
git clean -q -f -d -x

# header PATCH FIELD: the From: or Subject: line of a quilt patch's header.
header() { sed -n "/^--- a\\//q; s/^$2: //p" "$1" | head -1; }
# body PATCH: the commit message below Subject, without Signed-off-by lines.
body() {
	sed -n '/^--- a\//q; p' "$1" | sed '1,/^Subject: /d' |
		grep -v '^Signed-off-by: ' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

n=0
for p in $(sed -e 's/#.*//' "$patches/series"); do
	n=$((n + 1))
	git apply --index "$patches/$p" || die "$p does not apply to the series so far"
	for f in $(awk -v p="$p" '$1 == p { for (i = 2; i <= NF; i++) print $i }' "$patches/new-files"); do
		src=$top/kernel/$f
		case $f in Documentation/*) src=$top/$f ;; esac
		mkdir -p "$(dirname "$f")"
		cp "$src" "$f"
		git add -f "$f"
	done
	subject=$(header "$patches/$p" Subject)
	[ -n "$subject" ] || die "$p has no Subject: header"
	# The one who sends the series is its author and signs it off: the
	# quilt headers' From: is the team's placeholder.
	{ echo "$subject"; echo; body "$patches/$p"; echo; echo "Signed-off-by: $SIGNOFF"; } |
		git -c user.name="${SIGNOFF% <*}" -c user.email="$(echo "$SIGNOFF" | sed 's/.*<\(.*\)>.*/\1/')" \
		commit -q --author="$SIGNOFF" -F -
done

rm -rf "$outdir"
git format-patch -q --cover-letter --base=base -o "$outdir" base..series
# The cover letter's subject and text from kernel/patches/cover-letter:
# its first line is the subject, the rest the text.
cover=$(ls "$outdir"/0000-*.patch)
subject=$(head -1 "$patches/cover-letter")
sed -n '2,$p' "$patches/cover-letter" > "$outdir/.blurb"
awk -v subj="$subject" -v blurb="$outdir/.blurb" '
	/\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subj) }
	/^\*\*\* BLURB HERE \*\*\*$/ { while ((getline l < blurb) > 0) print l; next }
	{ print }' "$cover" > "$cover.new"
mv "$cover.new" "$cover"
rm -f "$outdir/.blurb"
say "$n patches and a cover letter in build/series/ (commits in build/series-git, base..series)"
