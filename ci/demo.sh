#!/usr/bin/env bash
# make demo: a real local Kubernetes cluster (ci/cluster: control plane and
# one kubelet per node of the values file, each node in its own network
# namespace), kube-lustre installed on it by helm with every host step
# running against simulated hosts (testing.hostsimDir), then the plan and
# the live status. It builds what is missing first (a cold build of the
# Kubernetes binaries takes 10 to 25 minutes; then they are cached).
# make demo-down stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
values=${1:-examples/ha.yaml}
export STATE=${STATE:-/tmp/kube-lustre-cluster}
helm=$(ci/helm.sh)
home=$STATE/demo-helm
export HELM_PLUGINS=$home/plugins HELM_CONFIG_HOME=$home/config HELM_CACHE_HOME=$home/cache HELM_DATA_HOME=$home/data
rm -rf "$home" && mkdir -p "$home"
"$helm" plugin install ./plugin >/dev/null

echo "== helm lustre validate $values"
"$helm" lustre validate "$values"

nodes=$(go run ./ci/simprovision -print-nodes "$values")
echo "== starting the local cluster with nodes: $nodes"
NODES="$nodes" ci/cluster/up.sh
export KUBECONFIG=$STATE/admin.kubeconfig
kubectl=$(ci/cluster/build.sh)/kubectl

echo "== simulated hosts for those nodes, with their InternalIPs"
sim=$STATE/hostsim/demo
rm -rf "$sim"
args=()
while read -r pair; do
	[ -n "$pair" ] && args+=(-address "$pair")
done < <("$kubectl" get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
go run ./ci/simprovision -dir "$sim" "${args[@]}" "$values"

echo "== helm install lfs1 ./charts/kube-lustre -f $values -n lustre"
begin=$(date +%s)
"$helm" install lfs1 ./charts/kube-lustre -f "$values" -n lustre --create-namespace \
	--set testing.hostsimDir="$sim" --set images.pullPolicy=Never --wait --timeout 5m
echo "installed and every pod ready in $(( $(date +%s) - begin )) s"

echo
echo "== helm lustre plan $values"
"$helm" lustre plan "$values"
echo
echo "== kubectl get pods -n lustre -o wide"
"$kubectl" get pods -n lustre -o wide
echo
echo "== helm lustre status lfs1 -n lustre"
"$helm" lustre status lfs1 -n lustre || true
cat <<MSG

The cluster keeps running. Try:
  export KUBECONFIG=$KUBECONFIG HELM_PLUGINS=$HELM_PLUGINS
  $helm lustre status lfs1 -n lustre
  $kubectl get pods -n lustre -o wide
(A node crash with failover is shown by the e2e suite: make e2e-chart.)
Stop everything with: make demo-down
MSG
