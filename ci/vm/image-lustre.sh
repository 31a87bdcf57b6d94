#!/usr/bin/env bash
# Installs a Lustre that the user provides into a copy of the VM suite's
# guest image, for the Lustre cases of make e2e-vm (KUBE_LUSTRE_VM_LUSTRE,
# docs/vm-lustre.md). The project does not build Lustre: this installs
# what the directory holds and nothing else, and refuses DKMS packages,
# which would compile it.
#
#   ci/vm/image-lustre.sh BASE_IMAGE_DIR LUSTRE_DIR  # prints the image's directory
#   ci/vm/image-lustre.sh --key LUSTRE_DIR           # prints "MODE HASH" of the directory
#
# LUSTRE_DIR holds either
#   - .deb packages, directly in it (MODE debs): Lustre's server and client
#     utilities and its kernel modules built for the guest kernel (kernel=
#     in the base image's manifest), installed with apt in the image's
#     chroot, which takes their dependencies from the image's Debian suite;
#   - or an installed tree (MODE tree), copied over the guest's root, files
#     owned by root, the image's /bin, /sbin and /lib links kept (e.g.
#     usr/sbin/mkfs.lustre, lib/modules/KERNEL/extra/..., as `make install
#     DESTDIR=DIR` leaves them); the libraries its tools need must be in
#     it or in the image.
# Then depmod and ldconfig, and the guest must have the modules lnet,
# ksocklnd, lustre and osd_zfs for its kernel and the tools mkfs.lustre,
# mount.lustre, lctl and lnetctl with all their libraries, or the build
# fails naming what is missing (the guests have no network to fetch more).
#
# The result lives beside the base image, which it never changes (nor its
# cache key):
#   <base's directory>/../<base key>-lustre-<hash>/{root.img,vmlinuz,initrd.img,manifest}
# where <hash> covers this recipe, the base image's manifest (a rebuilt
# base makes a new one) and the directory's content (names, modes, file
# contents and link targets, not times). KUBE_LUSTRE_VM_REBUILD=1 rebuilds
# it. Needs root (loop mount, chroot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "ci/vm/image-lustre.sh: $*" >&2; }
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
die() {
	log "$*"
	exit 1
}

# content DIR prints the directory's mode (debs or tree) and content hash.
content() {
	local dir=$1 mode=tree
	[ -d "$dir" ] || die "$dir is not a directory (KUBE_LUSTRE_VM_LUSTRE: docs/vm-lustre.md)"
	[ -n "$(find "$dir" -mindepth 1 -print -quit)" ] ||
		die "$dir is empty: it must hold Lustre's .deb packages or an installed tree (docs/vm-lustre.md)"
	if compgen -G "$dir/*.deb" >/dev/null; then
		mode=debs
	fi
	local hash
	hash=$(cd "$dir" && {
		find . -mindepth 1 -printf '%y %m %p %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	} | sha256sum | cut -c1-16)
	echo "$mode $hash"
}

if [ "${1:-}" = --key ]; then
	[ $# = 2 ] || die "usage: $0 --key LUSTRE_DIR"
	content "$2"
	exit 0
fi
[ $# = 2 ] || die "usage: $0 BASE_IMAGE_DIR LUSTRE_DIR"
[ -f "$1/manifest" ] || die "$1 is not a guest image (no manifest): give the directory ci/vm/image.sh printed"
base=$(cd "$1" && pwd)
c=$(content "$2")
dir=$(cd "$2" && pwd)
mode=${c% *}
dirhash=${c#* }
kver=$(sed -n 's/^kernel=//p' "$base/manifest")
basekey=$(sed -n 's/^key=//p' "$base/manifest")
if [ -z "$kver" ] || [ -z "$basekey" ]; then
	die "$base/manifest names no kernel= or key="
fi

debs=()
pkgs=()
if [ "$mode" = debs ]; then
	for deb in "$dir"/*.deb; do
		pkg=$(dpkg-deb -f "$deb" Package) || die "$deb is not a Debian package"
		case $pkg in
		*-dkms) die "$deb ($pkg) is a DKMS package: it would compile Lustre in the image, and the project does not build Lustre; give its modules built for $kver" ;;
		esac
		debs+=("/tmp/kl-lustre/$(basename "$deb")")
		pkgs+=("$pkg")
	done
fi

# Comment and blank lines of this recipe do not count, as in image.sh.
recipe=$(grep -vE '^[[:space:]]*(#|$)' "$here/image-lustre.sh" | sha256sum | cut -c1-16)
key=$basekey-lustre-$(printf '%s\n%s\n%s %s\n' "$recipe" "$(cat "$base/manifest")" "$mode" "$dirhash" | sha256sum | cut -c1-16)
cache=$(dirname "$base")
out=$cache/$key

# One builder at a time, with image.sh too.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/manifest" ] && [ -z "${KUBE_LUSTRE_VM_REBUILD:-}" ]; then
	echo "$out"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "installing Lustre into the guest image needs root (loop mount, chroot)"
PATH=$PATH:/usr/sbin:/sbin

work=$cache/build.$key
mnt=$work/mnt
built=false
cleanup() {
	for m in dev/pts dev proc sys; do
		if mountpoint -q "$mnt/$m" 2>/dev/null; then umount -l "$mnt/$m" || true; fi
	done
	if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" || true; fi
	# A failed build keeps its logs, not its disk.
	$built || rm -f "$work/root.img"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$mnt"
start=$(date +%s)

log "copying the guest image $base (kernel $kver), with 1.5 GiB more room"
cp --sparse=always "$base/root.img" "$work/root.img"
truncate -s +1536M "$work/root.img"
e2fsck -fp "$work/root.img" >&2 || [ $? -le 1 ] || die "e2fsck of the copy failed"
resize2fs "$work/root.img" >&2 || die "resize2fs of the copy failed"
mount -o loop "$work/root.img" "$mnt"
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
mount --bind /dev "$mnt/dev"
mount -t devpts devpts "$mnt/dev/pts"
# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
chmod +x "$mnt/usr/sbin/policy-rc.d"
in_root() { chroot "$mnt" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

case $mode in
debs)
	log "installing ${pkgs[*]} with apt (their dependencies from the image's Debian suite)"
	mkdir -p "$mnt/tmp/kl-lustre"
	cp "$dir"/*.deb "$mnt/tmp/kl-lustre/"
	# apt resolves names with the host's resolver; the image keeps its own.
	mv "$mnt/etc/resolv.conf" "$mnt/etc/resolv.conf.kl-image" 2>/dev/null || : >"$mnt/etc/resolv.conf.kl-image"
	cp -L /etc/resolv.conf "$mnt/etc/resolv.conf"
	{ in_root apt-get update -q && in_root apt-get install -y -q --no-install-recommends "${debs[@]}"; } >>"$work/apt.log" 2>&1 ||
		{ tail -40 "$work/apt.log" >&2; die "apt could not install the packages of $dir"; }
	in_root apt-get clean
	mv -f "$mnt/etc/resolv.conf.kl-image" "$mnt/etc/resolv.conf"
	rm -rf "$mnt/tmp/kl-lustre"
	;;
tree)
	log "copying the installed tree $dir over the guest's root"
	tar -C "$dir" --owner=0 --group=0 -cf - . | tar -C "$mnt" -xf - --keep-directory-symlink --no-overwrite-dir
	;;
esac
in_root depmod "$kver"
in_root ldconfig

missing=()
for m in lnet ksocklnd lustre osd_zfs; do
	in_root modinfo -k "$kver" -F filename "$m" >/dev/null 2>&1 || missing+=("module $m")
done
for tool in mkfs.lustre mount.lustre lctl lnetctl; do
	path=$(in_root sh -c "command -v $tool") || {
		missing+=("tool $tool")
		continue
	}
	# ldd fails on a script or a static binary: nothing missing then.
	libs=$({ in_root ldd "$path" 2>/dev/null || true; } | awk '/not found/ { printf "%s ", $1 }')
	[ -z "$libs" ] || missing+=("libraries of $tool: $libs")
done
[ ${#missing[@]} = 0 ] || die "with the Lustre of $dir the guest (kernel $kver) still lacks: $(printf '%s; ' "${missing[@]}")the modules must be built for $kver"
version=$(in_root modinfo -k "$kver" -F version lustre | head -1)
versions=
if [ "$mode" = debs ]; then
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	versions=$(in_root dpkg-query -W -f '${Package}=${Version}\n' "${pkgs[@]}")
fi
rm -f "$mnt/usr/sbin/policy-rc.d"
cp -L "$mnt/boot/vmlinuz-$kver" "$work/vmlinuz"
cp -L "$mnt/boot/initrd.img-$kver" "$work/initrd.img"
built=true
cleanup
rmdir "$mnt"
{
	echo "key=$key"
	echo "kernel=$kver"
	echo "base=$base"
	echo "lustre_dir=$dir"
	echo "lustre_mode=$mode"
	echo "lustre_content=$dirhash"
	echo "lustre_version=$version"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "build_seconds=$(($(date +%s) - start))"
	[ -z "$versions" ] || echo "$versions"
} >"$work/manifest.tmp"
mv "$work/manifest.tmp" "$work/manifest"
rm -rf "$out"
mv "$work" "$out"
log "built $out in $(($(date +%s) - start)) s (Lustre $version)"
echo "$out"
