#!/usr/bin/env bash
# Installs the Debian packages the build and tests use, only when missing.
set -euo pipefail
need=()
for tool in make:make flock:util-linux git:git gcc:gcc; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "Go is missing: this project needs Go 1.26 at /usr/local/go or on PATH" >&2
	exit 1
fi
# make images packs Debian's busybox-static for arm64 too (ci/busybox.sh):
# apt-get download needs that architecture's package lists.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	apt-get update -qq
fi
