#!/usr/bin/env bash
# ci/busybox.sh ARCH...: Debian 12's busybox-static (ci/imagespec.sh's
# BUSYBOX_VERSION) for each Linux ARCH, unpacked once into the cache from
# Debian's packages (apt-get download; nothing else is fetched). Prints the
# binary's path with {arch} for the architecture, as ociimage -file takes it.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/imagespec.sh
base=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}/busybox/${BUSYBOX_VERSION//:/_}
for arch in "$@"; do
	bin=$base/$arch/busybox
	[ -x "$bin" ] && continue
	tmp=$(mktemp -d)
	chmod 755 "$tmp" # apt-get download drops to its _apt user
	trap 'rm -rf "$tmp"' EXIT
	if ! (cd "$tmp" && apt-get download -q "busybox-static:$arch=$BUSYBOX_VERSION" >&2); then
		echo "ci/busybox.sh: apt-get could not download busybox-static:$arch=$BUSYBOX_VERSION." >&2
		echo "  For a foreign architecture apt needs its package lists: dpkg --add-architecture $arch && apt-get update" >&2
		exit 1
	fi
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/root"
	if ! file "$tmp/root/bin/busybox" | grep -q "statically linked"; then
		echo "ci/busybox.sh: busybox-static:$arch is not statically linked" >&2
		exit 1
	fi
	mkdir -p "$base/$arch"
	mv "$tmp/root/bin/busybox" "$bin.tmp" && mv "$bin.tmp" "$bin"
	rm -rf "$tmp"
	trap - EXIT
done
echo "$base/{arch}/busybox"
