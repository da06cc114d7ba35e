#!/bin/sh
# Install everything the workbench needs on Debian 12 (run as root).
# Idempotent: apt-get only installs what is missing.
set -eu

PKGS="linux-source-6.12 build-essential gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu
libc6-dev-arm64-cross libc6-dev-riscv64-cross qemu-system-x86 qemu-system-arm
gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross qemu-system-ppc
qemu-system-misc opensbi quilt flex bison bc libelf-dev libssl-dev cpio ccache
python3 python3-docutils python3-ply rsync kmod xz-utils gnuplot-nox file"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "setup: all packages present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "setup: missing packages:$missing; run 'make setup' as root" >&2
	exit 1
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
echo "setup: done"
