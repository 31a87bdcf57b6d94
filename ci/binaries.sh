#!/usr/bin/env bash
# Builds the static entrypoint binaries into ${OUT:-bin/} and prints their
# sizes (what each image carries besides a static nsenter). TAGS=hostsim
# (ci/cluster/images.sh, test clusters only) links the simulated hosts in;
# without it a binary carries none (ci/check-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bin}
tags=grpcnotrace${TAGS:+,$TAGS}
mkdir -p "$out"
for d in images/*/; do
	name=$(basename "$d")
	# grpcnotrace keeps gRPC's tracing (and html/template) out of images/csi.
	CGO_ENABLED=0 go build -tags "$tags" -trimpath -ldflags "-s -w" -o "$out/$name" "./$d"
	# An image is FROM scratch: a dynamically linked binary would not start.
	if command -v file >/dev/null && ! file "$out/$name" | grep -q "statically linked"; then
		echo "$out/$name is not statically linked" >&2
		exit 1
	fi
	awk -v n="$name" -v s="$(stat -c %s "$out/$name")" 'BEGIN { printf "%-14s %6.1f MB\n", n, s / 1048576 }'
done
