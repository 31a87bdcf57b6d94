#!/usr/bin/env bash
# Builds the Debian 12 guest image the VM suite boots (make e2e-vm), once:
# debootstrap minbase bookworm, the stock kernel, drbd-utils (the kernel's
# DRBD 8.4), zfs-dkms built for the guest kernel in the chroot, xfsprogs for
# the blank-disk case. The result lives outside the repo under
#   ${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}/vm/<key>/{root.img,vmlinuz,initrd.img,manifest}
# where <key> hashes this recipe (this file and ci/vm/guest/): a changed
# recipe builds a new image, an unchanged one is reused. Packages come from
# the bookworm suite only (no -updates or -security), so the versions a
# recipe installs change only at a Debian point release; manifest records
# them, and KUBE_LUSTRE_VM_REBUILD=1 rebuilds to pick up a new point release.
# Prints the image directory on stdout. Needs root (chroot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}/vm
mirror=${KUBE_LUSTRE_VM_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"

# Comment and blank lines do not count: rewording a comment must not cost
# a rebuild.
key=$(cd "$here" && cat image.sh guest/* | grep -vE '^[[:space:]]*(#|$)' | sha256sum | cut -c1-16)
out=$cache/$key
log() { echo "ci/vm/image.sh: $*" >&2; }

# One builder at a time: a second make e2e-vm waits, then finds the image.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/manifest" ] && [ -z "${KUBE_LUSTRE_VM_REBUILD:-}" ]; then
	echo "$out"
	exit 0
fi
[ "$(id -u)" = 0 ] || { log "building the guest image needs root (debootstrap, chroot)"; exit 1; }
PATH=$PATH:/usr/sbin:/sbin

work=$cache/build.$key
root=$work/rootfs
cleanup() {
	for m in dev/pts dev proc sys; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
	done
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)

log "debootstrap bookworm (minbase) into $root"
debootstrap --variant=minbase --components=main,contrib \
	--include=systemd-sysv,udev,kmod,iproute2,e2fsprogs,util-linux,procps \
	bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -30 "$work/debootstrap.log" >&2; exit 1; }

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts"
# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
echo "deb $mirror bookworm main contrib" >"$root/etc/apt/sources.list"

in_root() { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
apt_install() { in_root apt-get install -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1 || { tail -40 "$work/apt.log" >&2; exit 1; }; }

log "kernel"
in_root apt-get update -q >>"$work/apt.log" 2>&1
apt_install linux-image-amd64 linux-headers-amd64 initramfs-tools
kver=$(ls "$root/lib/modules" | sort -V | tail -1)
log "guest kernel $kver; drbd-utils, zfs-dkms (compiles zfs for $kver: the long part), xfsprogs"
apt_install drbd-utils zfs-dkms zfsutils-linux xfsprogs
# zfs-dkms builds for the running kernel, which is the host's, not the
# guest's: build for the guest kernel explicitly when it did not.
if ! ls "$root/lib/modules/$kver/updates/dkms/zfs.ko"* >/dev/null 2>&1; then
	in_root dkms autoinstall -k "$kver" >>"$work/apt.log" 2>&1 || { tail -40 "$work/apt.log" >&2; exit 1; }
fi
ls "$root/lib/modules/$kver/updates/dkms/zfs.ko"* >/dev/null || { log "zfs.ko was not built for $kver"; exit 1; }
in_root depmod "$kver"

log "configuring the guest"
# The suite, not systemd, decides when pools import and DRBD comes up, as
# kube-lustre does on a real node.
for u in zfs-import-cache.service zfs-import-scan.service zfs-import.target zfs-mount.service \
	zfs-share.service zfs-zed.service zfs-volume-wait.service zfs-load-key.service drbd.service \
	apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
	getty@tty1.service serial-getty@ttyS0.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# Each guest gets its own hostid from the suite (zgenhostid, as the installer
# does on a real node); an image-wide one would make MMP meaningless.
rm -f "$root/etc/hostid" "$root/etc/zfs/zpool.cache"
echo 'LABEL=klvmroot / ext4 defaults 0 1' >"$root/etc/fstab"
install -m 0755 "$here/guest/kl-vmagent-start" "$root/usr/local/sbin/kl-vmagent-start"
install -m 0644 "$here/guest/kl-vmagent.service" "$root/etc/systemd/system/kl-vmagent.service"
ln -sf /etc/systemd/system/kl-vmagent.service "$root/etc/systemd/system/multi-user.target.wants/kl-vmagent.service"
: >"$root/etc/machine-id"

versions=$(in_root dpkg-query -W -f '${Package}=${Version}\n' linux-image-amd64 "linux-image-$kver" drbd-utils zfs-dkms zfsutils-linux xfsprogs e2fsprogs util-linux)
in_root apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"
cp -L "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp -L "$root/boot/initrd.img-$kver" "$work/initrd.img"
cleanup

log "root disk"
mb=$(($(du -sm "$root" | cut -f1) + 768))
mkfs.ext4 -q -F -L klvmroot -d "$root" "$work/root.img" "${mb}M" >&2
rm -rf "$root"
{
	echo "key=$key"
	echo "kernel=$kver"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "build_seconds=$(($(date +%s) - start))"
	echo "$versions"
} >"$work/manifest.tmp"
mv "$work/manifest.tmp" "$work/manifest"
rm -rf "$out"
mv "$work" "$out"
log "built $out in $(($(date +%s) - start)) s"
echo "$out"
