#!/bin/sh
# boot.sh ARCH [VARIANT] MODE [TAG]: boot the built kernel of ARCH under QEMU
# (software emulation, virtualization on) with the test initramfs.
#   MODE test: KUnit suites run at boot, then /init runs the guest tests.
#   MODE CMD:  KUnit off, /init runs "kvm-prefault CMD" (probe, bench, ...).
# The console goes to build/logs/NAME-MODE[-TAG].log and QEMU's exit status
# and run time to the .status file beside it.  Extra kernel arguments come
# from KERNEL_ARGS, a different CPU or machine from QEMU_CPU / QEMU_MACHINE
# (and then the line proving KVM works there from KVM_READY).
set -eu
. "$(dirname "$0")/lib.sh"

case $# in
2) arch_load "$1"; mode=$2; tag= ;;
3) arch_load "$1" "$2"; mode=$3; tag= ;;
4) arch_load "$1" "$2"; mode=$3; tag=$4 ;;
*) die "usage: boot.sh ARCH [VARIANT] MODE [TAG]" ;;
esac

image=$out/$KERNEL_IMAGE
initrd=$out/tools/initramfs.cpio
[ -f "$image" ] && [ -f "$initrd" ] || die "$name is not built; run scripts/build.sh $arch $variant"

# Reserve 2 MiB hugetlb pages for the hugetlb-backed cases; panic=-1 with
# -no-reboot turns a panic into the end of the run instead of a hang.
cmdline="console=$CONSOLE panic=-1 hugepages=64 $CMDLINE ${KERNEL_ARGS:-}"
if [ "$mode" = test ]; then
	timeout=${KVMPF_TIMEOUT:-900}
else
	cmdline="$cmdline kunit.enable=0 kvmpf.cmd=$mode"
	timeout=${KVMPF_TIMEOUT:-1800}
fi

log=$logs/$name-$mode${tag:+-$tag}.log
say "$name: booting ($QEMU -M $QEMU_MACHINE -cpu $QEMU_CPU), console in build/logs/$(basename "$log")"
start=$(date +%s)
set +e
# shellcheck disable=SC2086
timeout --foreground -k 10 "$timeout" "$QEMU" -M "$QEMU_MACHINE" -cpu "$QEMU_CPU" \
	$QEMU_FIRMWARE -smp 2 -m 2048 -nographic -no-reboot \
	-kernel "$image" -initrd "$initrd" -append "$cmdline" \
	< /dev/null > "$log" 2>&1
rc=$?
set -e
# One KEY=value per line, read by scripts/report.py.
printf 'arch=%s\nvariant=%s\nmode=%s\nrc=%s\ntimeout=%s\nseconds=%s\nkvm_ready=%s\n' \
	"$arch" "$variant" "$mode" "$rc" "$timeout" "$(( $(date +%s) - start ))" \
	"$KVM_READY" > "${log%.log}.status"
say "$name: QEMU exited with $rc after $(elapsed "$start")"
