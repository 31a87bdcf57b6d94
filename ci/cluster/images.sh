#!/usr/bin/env bash
# Builds the test images of kube-lustre without a Docker engine: the static
# entrypoint binaries of images/ (ci/binaries.sh) and a static pause, each
# packed by ci/cluster/ociimage into a single-layer image tarball laid out as
# images/Dockerfile lays it out (binary in /usr/local/bin, busybox-static as
# /usr/bin/nsenter), tagged kube-lustre/<name>:<chart appVersion>. Output:
# $STATE/images/*.tar, which node.sh imports into each node's containerd.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
root=$(cd "$CLUSTER_DIR/../.." && pwd)
out=$STATE/images
mkdir -p "$out/bin"
tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/kube-lustre/Chart.yaml")
[ -n "$tag" ] || die "no appVersion in charts/kube-lustre/Chart.yaml"
OUT=$out/bin "$root/ci/binaries.sh" >/dev/null
(cd "$CLUSTER_DIR/ociimage" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$out/bin/" . ./pause)
oci=$out/bin/ociimage
"$oci" -tag kube-lustre.local/pause:3.10 -o "$out/pause.tar" -file "$out/bin/pause=/pause" -entrypoint /pause
for d in "$root"/images/*/; do
	n=$(basename "$d")
	args=(-tag "docker.io/kube-lustre/$n:$tag" -o "$out/$n.tar"
		-file "$out/bin/$n=/usr/local/bin/$n" -entrypoint "/usr/local/bin/$n")
	case $n in
	labeler) args+=(-cmd apply -user 65532:65532) ;;
	installer) args+=(-file /bin/busybox=/usr/bin/nsenter -cmd verify) ;;
	*) args+=(-file /bin/busybox=/usr/bin/nsenter -cmd run) ;;
	esac
	"$oci" "${args[@]}"
done
echo "$tag" >"$out/tag"
log "images: $(cd "$out" && echo *.tar) (tag $tag)"
