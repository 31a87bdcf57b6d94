#!/usr/bin/env bash
# The e2e suites of test/e2e (the smoke test, tag e2e, and the chart suite
# with the fault matrix, tag e2echart) on a kind cluster instead of
# ci/cluster: for developers with a Docker engine. Not run in CI: the CI
# machine has no Docker engine (make test uses ci/cluster).
#
#   ci/kind/e2e.sh          up, both suites, down (make e2e-kind); E2E_KEEP=1 keeps the cluster
#   ci/kind/e2e.sh up       create the cluster, load our images, write $STATE/admin.kubeconfig
#   ci/kind/e2e.sh test     run both suites on the cluster that is up (E2E_PROVIDER=kind)
#   ci/kind/e2e.sh down     delete the cluster and the docker network e2e.sh made
#   ci/kind/e2e.sh node crash|up|cut-api|heal-api NODE
#                           what the suites' kind provider runs (test/e2e/nodes_test.go)
#
# Needs a reachable Docker engine, root (the pods write the simulated hosts'
# state as root and the tests write it too, as on ci/cluster), a static
# /bin/busybox (packed into the images as nsenter, as ci/cluster/images.sh
# does) and Go. The rest is built from the Go module proxy at pinned
# versions: kind (ci/kind/go.mod, unless KIND=path), kubectl
# (ci/cluster/build.sh, cached; KUBECTL=path skips that build), helm
# (ci/helm.sh). The one thing fetched from elsewhere is the kind node image,
# pinned by digest (NodeImage in ci/kind/cluster.go): docker pulls it from
# Docker Hub on first use.
#
# Layout like ci/cluster's, under its own STATE (default
# /tmp/kube-lustre-kind) so that the two clusters never share state:
# admin.kubeconfig, images/*.tar and images/tag (ci/cluster/images.sh),
# hostsim/ (mounted at the same path into every node), kind.yaml, bin/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export STATE=${STATE:-/tmp/kube-lustre-kind}
export KIND_CLUSTER=${KIND_CLUSTER:-kube-lustre}
export KIND_NETWORK=${KIND_NETWORK:-kube-lustre-kind}
# The cluster's docker network has a subnet of its own choosing so that a
# crashed node can be given its address back (kind-nodes crash); node
# InternalIPs are in it (test/e2e checks that).
export KIND_SUBNET=${KIND_SUBNET:-172.30.77.0/24}
CACHE=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}
tool=$STATE/bin/kind-nodes

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_docker() {
	command -v docker >/dev/null 2>&1 ||
		die "docker not found: make e2e-kind needs a Docker engine and its CLI (without Docker: make e2e-smoke e2e-chart run the same suites on ci/cluster)"
	docker info >/dev/null 2>&1 ||
		die "docker cannot reach the Docker engine (docker info failed): start it, or check DOCKER_HOST and your access to its socket"
}

need_root() {
	[ "$(id -u)" = 0 ] ||
		die "run as root (sudo make e2e-kind): the pods write the simulated hosts' state under $STATE/hostsim as root and the tests must write it too"
}

# The images carry /bin/busybox as their nsenter and are FROM scratch: a
# dynamically linked one would not start.
need_busybox() {
	local why="the images need a static /bin/busybox as nsenter (Debian: apt-get install busybox-static)"
	[ -x /bin/busybox ] || die "$why"
	if command -v file >/dev/null 2>&1 && ! file -L /bin/busybox | grep -q "statically linked"; then
		die "$why; this one is dynamically linked"
	fi
}

# kind_bin prints the kind binary: KIND, else the version ci/kind/go.mod
# pins, built once into the cache.
kind_bin() {
	local want
	want=$(cd "$here" && go list -m -f '{{.Version}}' sigs.k8s.io/kind)
	if [ -n "${KIND:-}" ]; then
		[ -x "$KIND" ] || die "KIND=$KIND is not an executable kind binary (unset KIND to build the pinned kind $want)"
		"$KIND" version | grep -q " $want " || log "warning: $("$KIND" version); e2e.sh pins kind $want (its node image belongs to that release)"
		echo "$KIND"
		return 0
	fi
	local out=$CACHE/bin/kind-$want
	if [ ! -x "$out" ]; then
		mkdir -p "$CACHE/bin"
		log "building kind $want from the Go module proxy into $out"
		(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" sigs.k8s.io/kind) || die "building kind $want failed"
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

# kubectl_bin prints kubectl: KUBECTL, else ci/cluster's pinned one (build.sh)
# (cached; the first build takes 10-25 minutes: see ci/cluster/build.sh).
kubectl_bin() {
	if [ -n "${KUBECTL:-}" ]; then
		[ -x "$KUBECTL" ] || die "KUBECTL=$KUBECTL is not executable"
		echo "$KUBECTL"
		return 0
	fi
	echo "$("$root/ci/cluster/build.sh")/kubectl"
}

build_tool() {
	mkdir -p "$STATE/bin"
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$tool" .) || die "building ci/kind (kind-nodes) failed"
}

exists() { [ -n "$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$KIND_CLUSTER")" ]; }

up() {
	need_docker
	need_root
	need_busybox
	local kind kubectl t0=$SECONDS
	kind=$(kind_bin)
	kubectl=$(kubectl_bin)
	build_tool
	exists && die "a kind cluster $KIND_CLUSTER exists already: ci/kind/e2e.sh down (or KIND_CLUSTER=another-name)"
	mkdir -p "$STATE/hostsim"
	# Our images as ci/cluster builds them (no Docker build: the same
	# tarballs), tagged kube-lustre/<name>:<appVersion>.
	"$root/ci/cluster/images.sh"
	if ! docker network inspect "$KIND_NETWORK" >/dev/null 2>&1; then
		docker network create -d bridge --subnet "$KIND_SUBNET" \
			-o com.docker.network.bridge.enable_ip_masquerade=true "$KIND_NETWORK" >/dev/null ||
			die "docker network create $KIND_NETWORK ($KIND_SUBNET) failed: pick a free subnet with KIND_SUBNET"
		touch "$STATE/network-created"
	fi
	"$tool" config -hostsim "$STATE/hostsim" >"$STATE/kind.yaml"
	log "creating kind cluster $KIND_CLUSTER ($STATE/kind.yaml)"
	KIND_EXPERIMENTAL_DOCKER_NETWORK=$KIND_NETWORK "$kind" create cluster --name "$KIND_CLUSTER" \
		--config "$STATE/kind.yaml" --kubeconfig "$STATE/admin.kubeconfig" --wait 3m
	local t
	for t in "$STATE"/images/*.tar; do
		# kind nodes bring their own pause image; ours is ci/cluster's sandbox
		[ "$(basename "$t")" = pause.tar ] && continue
		"$kind" load image-archive --name "$KIND_CLUSTER" "$t"
	done
	KUBECTL=$kubectl KUBECONFIG=$STATE/admin.kubeconfig "$tool" check
	"$kubectl" --kubeconfig "$STATE/admin.kubeconfig" wait --for=condition=Ready nodes --all --timeout=3m >/dev/null
	log "kind cluster $KIND_CLUSTER up in $((SECONDS - t0)) s: export KUBECONFIG=$STATE/admin.kubeconfig"
}

down() {
	need_docker
	local kind
	kind=$(kind_bin)
	if exists; then
		"$kind" delete cluster --name "$KIND_CLUSTER" --kubeconfig "$STATE/admin.kubeconfig"
	fi
	# Only a network e2e.sh made: KIND_NETWORK may name one of the user's.
	if [ -f "$STATE/network-created" ]; then
		docker network rm "$KIND_NETWORK" >/dev/null 2>&1 || log "warning: docker network $KIND_NETWORK not removed"
		rm -f "$STATE/network-created"
	fi
	rm -f "$STATE/admin.kubeconfig"
	log "kind cluster $KIND_CLUSTER deleted"
}

suites() {
	local rc=0
	need_root
	export E2E_PROVIDER=kind KUBECONFIG=$STATE/admin.kubeconfig
	KUBECTL=$(kubectl_bin)
	export KUBECTL
	HELM_BIN=${HELM_BIN:-$("$root/ci/helm.sh")}
	export HELM_BIN
	cd "$root"
	go test -tags e2e -count=1 -v -timeout 20m ./test/e2e || rc=1
	go test -tags e2echart -count=1 -v -timeout 30m -run TestChart ./test/e2e || rc=1
	return $rc
}

node() {
	[ $# = 2 ] || die "usage: e2e.sh node crash|up|cut-api|heal-api NODE"
	[ -x "$tool" ] || build_tool
	exec "$tool" "$@"
}

case ${1:-all} in
all)
	# The cluster goes whatever happens, unless E2E_KEEP=1.
	trap 'rc=$?; if [ "${E2E_KEEP:-0}" = 1 ]; then log "E2E_KEEP=1: kind cluster $KIND_CLUSTER left running (ci/kind/e2e.sh down)"; else down; fi; exit $rc' EXIT
	up
	suites
	;;
up) up ;;
down) down ;;
test) suites ;;
node)
	shift
	node "$@"
	;;
*) die "unknown command $1 (all, up, test, down, node)" ;;
esac
