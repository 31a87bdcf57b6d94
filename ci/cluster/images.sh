#!/usr/bin/env bash
# Builds the test images of kube-lustre without a Docker engine: the static
# entrypoint binaries of images/ (ci/binaries.sh) and a static pause, each
# packed by ci/ociimage into a single-layer image tarball laid out as the
# release images are (ci/imagespec.sh), tagged
# kube-lustre/<name>:<chart appVersion>, and the
# standard CSI sidecars of ci/cluster/sidecars/sidecars.txt, tagged as
# upstream's images (registry.k8s.io/sig-storage/NAME:VERSION). Output:
# $STATE/images/*.tar, which node.sh imports into each node's containerd.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
root=$(cd "$CLUSTER_DIR/../.." && pwd)
. "$root/ci/imagespec.sh"
out=$STATE/images
mkdir -p "$out/bin"
tag=$(app_version "$root")
# -tags hostsim: the test cluster's pods run their host steps on simulated
# hosts (testing.hostsimDir); production builds leave hostsim out.
TAGS=hostsim OUT=$out/bin "$root/ci/binaries.sh" >/dev/null
(cd "$root/ci/ociimage" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$out/bin/" . ./pause)
oci=$out/bin/ociimage
"$oci" -tag kube-lustre.local/pause:3.10 -o "$out/pause.tar" -file "$out/bin/pause=/pause" -entrypoint /pause
for d in "$root"/images/*/; do
	n=$(basename "$d")
	mapfile -t args < <(image_args "$n" "$out/bin/$n" /bin/busybox)
	"$oci" -tag "docker.io/kube-lustre/$n:$tag" -o "$out/$n.tar" "${args[@]}"
done
# The CSI sidecars: binaries from ci/cluster/sidecars/build.sh (built once
# into $KUBE_LUSTRE_CACHE, a cold build takes minutes), each packed as
# upstream's Dockerfile lays it out (FROM distroless/static: /NAME, ENTRYPOINT
# ["/NAME"], no USER, so root). A tarball is repacked only when its binary's
# recipe, its reference or ociimage changes (.NAME.tar.stamp).
sidecars=$("$CLUSTER_DIR/sidecars/build.sh")
ociv=$(cat "$root/ci/ociimage/main.go" "$root/ci/ociimage/go.sum" | sha256sum | cut -c1-16)
while read -r n ref bin key; do
	stamp="$key $ref $ociv"
	if [ ! -s "$out/$n.tar" ] || [ "$(cat "$out/.$n.tar.stamp" 2>/dev/null)" != "$stamp" ]; then
		rm -f "$out/.$n.tar.stamp"
		"$oci" -tag "$ref" -o "$out/$n.tar" -file "$bin=/$n" -entrypoint "/$n"
		echo "$stamp" >"$out/.$n.tar.stamp"
	fi
done <<<"$sidecars"
# a sidecar no longer in sidecars.txt: its tarball goes too
for s in "$out"/.*.tar.stamp; do
	[ -e "$s" ] || continue
	n=${s##*/.}
	n=${n%.tar.stamp}
	grep -q "^$n " <<<"$sidecars" || rm -f "$out/$n.tar" "$s"
done
# Stand-ins for the two sidecars the Go module proxy does not serve
# (ci/cluster/csi-standins: same protocol and flags), tagged as our own
# images: the test cluster installs the chart with them, the chart's
# defaults stay upstream's.
(cd "$root" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$out/bin/" \
	./ci/cluster/csi-standins/node-driver-registrar ./ci/cluster/csi-standins/livenessprobe)
for n in node-driver-registrar livenessprobe; do
	"$oci" -tag "kube-lustre.local/csi-standin-$n:$tag" -o "$out/standin-$n.tar" -file "$out/bin/$n=/$n" -entrypoint "/$n"
done
echo "$tag" >"$out/tag"
log "images: $(cd "$out" && echo *.tar) (tag $tag)"
