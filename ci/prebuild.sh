#!/usr/bin/env bash
# The Go builds make test needs besides the cached tools, done before any
# test with a timeout starts (ci/test.sh):
#
#   ci/prebuild.sh images         # our images as ci/cluster lays them out (ci/cluster/images.sh)
#   ci/prebuild.sh test-binaries  # the e2e test binaries (both tags) and the kind module's
#
# Go's build cache keeps what is built; the stage is "built" when any of the
# packages was stale (go list), "cached" when none was.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/built.sh
stale() { # GO-LIST-ARGS...: did go list find a stale package?
	if go list -e -f '{{.Stale}}' "$@" | grep -q true; then stage_did built; else stage_did cached; fi
}
start=$(date +%s)
case ${1:-} in
images)
	stale -tags grpcnotrace,hostsim -deps ./images/... ./ci/cluster/csi-standins/...
	ci/cluster/images.sh
	what="images (ci/cluster/images.sh)"
	;;
test-binaries)
	for tags in e2e e2echart; do
		stale -test -tags "$tags" ./test/e2e
		go test -c -tags "$tags" -o /dev/null ./test/e2e
	done
	(cd ci/kind && stale -test . && go test -c -o /dev/null .)
	what="e2e test binaries (tags e2e, e2echart) and ci/kind's"
	;;
*)
	echo "usage: ci/prebuild.sh images|test-binaries" >&2
	exit 2
	;;
esac
echo "built $what in $(($(date +%s) - start)) s" >&2
