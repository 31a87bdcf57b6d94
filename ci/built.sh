# Sourced by the build scripts of ci/: how a build tells ci/stage.sh what it
# did, and the guard that keeps builds out of tests.
# shellcheck shell=bash

# stage_did built|cached: a build that had to build marks the stage
# "built"; one that found everything built marks it "cached" unless another
# build of the same stage built.
stage_did() {
	[ -n "${KUBE_LUSTRE_BUILT:-}" ] || return 0
	if [ "$1" = built ] || [ "$(cat "$KUBE_LUSTRE_BUILT" 2>/dev/null)" != built ]; then
		echo "$1" >"$KUBE_LUSTRE_BUILT"
	fi
}

# must_be_prebuilt WHAT: make test builds everything before any test with a
# timeout starts (ci/test.sh sets KUBE_LUSTRE_PREBUILT=1 once the build
# stages passed). A test that still finds WHAT to build would spend its
# timeout on a build: fail at once and say so.
must_be_prebuilt() {
	if [ "${KUBE_LUSTRE_PREBUILT:-}" = 1 ]; then
		echo "$1 is not built although the build stages passed: a build would run under a test's timeout (make prebuild builds it)" >&2
		exit 1
	fi
}
