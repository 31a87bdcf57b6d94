#!/usr/bin/env bash
# make images: the seven kube-lustre images of a release, without a Docker
# engine. For each architecture of ARCHES (default amd64 arm64) the static
# production binaries (ci/binaries.sh, GOARCH) and Debian's busybox-static
# (ci/busybox.sh); then each image, as ci/imagespec.sh lays it out, as one
# OCI image layout per image, an index over the architectures, in
# $DIST/images/NAME (default dist/). Same inputs, same digests: the layers
# carry no timestamps. `make push` sends them to a registry.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/imagespec.sh
dist=${DIST:-dist}
read -r -a arches <<<"${ARCHES:-amd64 arm64}"
version=$(app_version .)
mkdir -p "$dist/bin"
dist=$(cd "$dist" && pwd)
for arch in "${arches[@]}"; do
	echo "binaries for linux/$arch:" >&2
	GOARCH=$arch OUT=$dist/bin/linux-$arch ci/binaries.sh >&2
done
nsenter=$(ci/busybox.sh "${arches[@]}")
(cd ci/ociimage && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$dist/bin/" .)
list=$(IFS=,; echo "${arches[*]}")
for d in images/*/; do
	n=$(basename "$d")
	mapfile -t args < <(image_args "$n" "$dist/bin/linux-{arch}/$n" "$nsenter")
	"$dist/bin/ociimage" -tag "kube-lustre/$n:$version" -layout "$dist/images/$n" -arch "$list" "${args[@]}"
done
