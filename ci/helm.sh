#!/usr/bin/env bash
# Prints the path of the pinned helm CLI, building it from the Go module proxy
# into the cache the first time (about 2.5 minutes on 2 cores). The ldflags
# are the ones helm's own Makefile sets, so `helm version` and the Kubernetes
# version helm template assumes match a release build.
set -euo pipefail
. "$(dirname "$0")/gotool.sh"
HELM_VERSION=v3.22.0
K8S_MINOR=37 # helm v3.22.0 is built against k8s.io/client-go v0.37
ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.metadata="
ld="$ld -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	ld="$ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$K8S_MINOR"
done
gotool helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$ld"
