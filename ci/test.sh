#!/usr/bin/env bash
# make test: every check CI runs, as stages (ci/stage.sh), with every build
# done by a build stage before any test with a timeout starts, and a summary
# of the stages' wall times at the end (also when a stage fails).
#
# Order: the Debian packages the cluster needs and the static checks; the
# pinned helm CLI (the unit tests run it); then the long builds (Kubernetes,
# the CSI sidecars, our images, the e2e test binaries) niced in the
# background while the unit tests and fuzzing run in the foreground (the
# unit tests spend much of their time waiting on simulated Leases, so the
# two cores are not both busy), and the release path (make images push
# package push-chart into an in-process registry); then, everything built, the e2e suites on
# the local cluster with KUBE_LUSTRE_PREBUILT=1, which makes any build a
# test would still start fail at once instead of spending its timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
stages=$(mktemp "${TMPDIR:-/tmp}/kl-stages.XXXXXX")
export KUBE_LUSTRE_STAGES=$stages
t0=$(date +%s)
summary() {
	local rc=$?
	echo
	echo "== make test stages (wall seconds; builds ran niced beside unit, kind-unit and fuzz)"
	awk -F'\t' '{ printf "%-16s %6s s  %s\n", $1, $2, $3 }' "$stages"
	echo "total            $(printf '%6s' $(($(date +%s) - t0))) s  $([ $rc = 0 ] && echo passed || echo "FAILED (exit $rc)")"
	rm -f "$stages"
}
trap summary EXIT
stage() { ci/stage.sh "$@"; }

stage cluster-deps ci/cluster/deps.sh
stage golangci-lint ci/golangci-lint.sh >/dev/null
stage --test check "$MAKE" --no-print-directory check
stage helm "$MAKE" --no-print-directory helm

builds=$(mktemp "${TMPDIR:-/tmp}/kl-builds.XXXXXX")
(
	set -e
	stage kubernetes nice -n 10 ci/cluster/build.sh >/dev/null
	stage sidecars nice -n 10 ci/cluster/sidecars/build.sh >/dev/null
	stage images nice -n 10 ci/prebuild.sh images
	stage test-binaries nice -n 10 ci/prebuild.sh test-binaries
) >"$builds" 2>&1 &
bpid=$!
fg=0
stage --test unit "$MAKE" --no-print-directory unit || fg=$?
[ $fg != 0 ] || stage --test kind-unit "$MAKE" --no-print-directory kind-unit || fg=$?
[ $fg != 0 ] || stage --test fuzz "$MAKE" --no-print-directory fuzz || fg=$?
[ $fg != 0 ] || stage --test release "$MAKE" --no-print-directory release-test || fg=$?
bg=0
wait $bpid || bg=$?
sed 's/^/[build] /' "$builds"
rm -f "$builds"
[ $fg = 0 ] || exit $fg
[ $bg = 0 ] || { echo "a build stage failed (above)" >&2; exit $bg; }

export KUBE_LUSTRE_PREBUILT=1
stage --test e2e-smoke "$MAKE" --no-print-directory e2e-smoke PREBUILD=
stage --test e2e-chart "$MAKE" --no-print-directory e2e-chart PREBUILD=
stage --test e2e-vm "$MAKE" --no-print-directory e2e-vm-if-changed
