#!/usr/bin/env bash
# ci/helm.sh [3|4]: prints the path of the pinned helm CLI, Helm 3 unless 4
# is asked for, building it from the Go module proxy into the cache the first
# time (about 2.5 minutes on 2 cores each). The ldflags are the ones helm's
# own Makefile sets, so `helm version` and the Kubernetes version helm
# template assumes match a release build. The tests run the chart and the
# plugin on Helm 3 (HELM_BIN) and install the plugin on both.
set -euo pipefail
. "$(dirname "$0")/gotool.sh"
case ${1:-3} in
3)
	# v3.21.4 is the newest approved Helm 3 (v3.22.0 is served, not approved);
	# it is built against k8s.io/client-go v0.36.
	v=v3.21.4 k8s_minor=36 mod=helm.sh/helm/v3
	ld="-X $mod/pkg/lint/rules.k8sVersionMajor=1 -X $mod/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
	ld="$ld -X $mod/pkg/chartutil.k8sVersionMajor=1 -X $mod/pkg/chartutil.k8sVersionMinor=$k8s_minor"
	;;
4)
	v=v4.3.2 mod=helm.sh/helm/v4 ld=""
	;;
*)
	echo "usage: ci/helm.sh [3|4]" >&2
	exit 2
	;;
esac
ld="-s -w -X $mod/internal/version.version=$v -X $mod/internal/version.metadata= -X $mod/internal/version.gitTreeState=clean $ld"
gotool helm "$v" "$mod/cmd/helm@$v" "$ld"
