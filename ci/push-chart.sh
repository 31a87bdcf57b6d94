#!/usr/bin/env bash
# make push-chart REGISTRY=host[:port][/path]: pushes the chart archive
# `make package` wrote to oci://REGISTRY/charts with the pinned helm CLI,
# which prints its digest; install it with
#   helm install lustre oci://REGISTRY/charts/kube-lustre --version VERSION
# PLAIN_HTTP=1 talks HTTP (a test registry). Credentials: helm registry login.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${DIST:-dist}
: "${REGISTRY:?set REGISTRY, e.g. make push-chart REGISTRY=registry.example.com/hpc}"
version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/kube-lustre/Chart.yaml)
archive=$dist/kube-lustre-$version.tgz
[ -f "$archive" ] || { echo "no $archive: run make package first" >&2; exit 1; }
plain=()
[ "${PLAIN_HTTP:-}" != 1 ] || plain=(--plain-http)
"${HELM_BIN:-$(ci/helm.sh)}" push "$archive" "oci://${REGISTRY%/}/charts" "${plain[@]}"
