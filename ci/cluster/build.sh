#!/usr/bin/env bash
# Builds the pinned Kubernetes control plane, kubelet, kubectl and etcd from
# the Go module proxy into $KUBE_LUSTRE_CACHE/k8s-$K8S_VERSION/bin (outside the
# repo) and prints that directory. Already built binaries are reused: the
# directory carries a stamp keyed by the version and a hash of the recipe
# (version, ldflags, k8s/go.mod, go.sum, the sources, the Go version), so a changed
# recipe rebuilds and an unchanged one returns at once. Concurrent callers
# wait on a lock. A cold build takes 15-25 minutes on 2 cores (1.2 GB of
# modules, about 4.5 GB of build cache); run with nice so other work goes on.
set -euo pipefail
K8S_VERSION=v1.37.2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../built.sh"
cache=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}
dir=$cache/k8s-$K8S_VERSION
out=$dir/bin
cmds=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

# The recipe: what goes into the binaries. The stamp is its hash.
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
v=k8s.io/component-base/version
ld="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
ld="$ld -X $v.buildDate=1970-01-01T00:00:00Z"
goflags="-mod=mod -buildvcs=false"
pkgs=(./etcd)
for c in "${cmds[@]}"; do [ "$c" = etcd ] || pkgs+=("k8s.io/kubernetes/cmd/$c"); done
key=$( {
	echo "$K8S_VERSION ${cmds[*]} $ld $goflags"
	go version
	cat "$here/k8s/go.mod" "$here/k8s/go.sum" "$here/k8s/tools.go" "$here/k8s/etcd/main.go"
} | sha256sum | cut -c1-16)

built() {
	[ "$(cat "$out/.stamp" 2>/dev/null)" = "$key" ] || return 1
	for c in "${cmds[@]}"; do [ -x "$out/$c" ] || return 1; done
}

mkdir -p "$dir"
exec 9>"$dir/.lock"
if ! built; then
	flock 9 # another build may be running: wait for it, then look again
fi
if ! built; then
	must_be_prebuilt "Kubernetes $K8S_VERSION"
	start=$(date +%s)
	echo "building Kubernetes $K8S_VERSION (${cmds[*]}) into $out; cold: 15-25 min on 2 cores" >&2
	tmp=$(mktemp -d "$dir/.build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$here/k8s" && CGO_ENABLED=0 GOFLAGS=$goflags nice -n 10 \
		go build -trimpath -ldflags "$ld" -o "$tmp/" "${pkgs[@]}")
	rm -rf "$out"
	echo "$key" >"$tmp/.stamp"
	mv "$tmp" "$out"
	trap - EXIT
	echo "built Kubernetes $K8S_VERSION in $(($(date +%s) - start)) s: $(du -sh "$out" | cut -f1)" >&2
	stage_did built
else
	stage_did cached
fi
echo "$out"
