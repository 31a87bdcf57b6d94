#!/usr/bin/env bash
# make push REGISTRY=host[:port][/path]: pushes the images `make images`
# laid out in $DIST/images to REGISTRY/kube-lustre/NAME:VERSION (the
# repositories the chart names, under images.registry=REGISTRY), prints
# each REF@DIGEST, and writes $DIST/images.txt with them and
# $DIST/image-values.yaml, the values that pin those digests in the chart.
# PLAIN_HTTP=1 talks HTTP (a test registry). Credentials: the Docker config
# (~/.docker/config.json), as docker login writes it.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/imagespec.sh
dist=${DIST:-dist}
: "${REGISTRY:?set REGISTRY, e.g. make push REGISTRY=registry.example.com/hpc}"
registry=${REGISTRY%/}
version=$(app_version .)
[ -d "$dist/images" ] || { echo "no $dist/images: run make images first" >&2; exit 1; }
plain=()
[ "${PLAIN_HTTP:-}" != 1 ] || plain=(-plain-http)
: >"$dist/images.txt.tmp"
printf 'images:\n  registry: %s\n' "$registry" >"$dist/image-values.yaml.tmp"
for d in "$dist"/images/*/; do
	n=$(basename "$d")
	pushed=$("$dist/bin/ociimage" push "${plain[@]}" "$d" "$registry/kube-lustre/$n:$version")
	echo "$pushed" | tee -a "$dist/images.txt.tmp"
	printf '  %s:\n    tag: "%s"\n    digest: %s\n' "$(values_key "$n")" "$version" "${pushed##*@}" >>"$dist/image-values.yaml.tmp"
done
mv "$dist/images.txt.tmp" "$dist/images.txt"
mv "$dist/image-values.yaml.tmp" "$dist/image-values.yaml"
echo "pinned: helm install ... -f $dist/image-values.yaml" >&2
