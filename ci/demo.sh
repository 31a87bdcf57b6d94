#!/usr/bin/env bash
# make demo: installs the helm plugin into a private helm home and shows what
# kube-lustre would do with examples/ha.yaml: validation, placement plan.
set -euo pipefail
cd "$(dirname "$0")/.."
helm=$(ci/helm.sh)
home=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}/demo-helm
export HELM_PLUGINS=$home/plugins HELM_CONFIG_HOME=$home/config HELM_CACHE_HOME=$home/cache HELM_DATA_HOME=$home/data
rm -rf "$home" && mkdir -p "$home"
"$helm" plugin install ./plugin >/dev/null
values=${1:-examples/ha.yaml}
echo "== helm lustre validate $values"
"$helm" lustre validate "$values"
echo
echo "== helm lustre plan $values"
"$helm" lustre plan "$values"
echo
echo "== bring-up of $values on simulated hosts (the images' agent loops against internal/hostsim)"
go run ./ci/simdemo "$values"
echo
echo "Nothing is left running. The local Kubernetes cluster demo (make demo-down to stop it) is the next milestone."
