#!/usr/bin/env bash
# Installs what the VM suite (make e2e-vm) needs on the host, through apt and
# only when missing: qemu to run the guests, debootstrap to build their image,
# e2fsprogs for mkfs.ext4 -d (root and agent disks without a loop mount).
set -euo pipefail
need=()
for tool in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils debootstrap:debootstrap \
	mkfs.ext4:e2fsprogs flock:util-linux; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "ci/vm/deps.sh: installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
