#!/usr/bin/env bash
# Runs one stage of make test and accounts for it:
#
#   ci/stage.sh [--test] NAME CMD...
#
# prints "stage NAME: S s, STATUS" when CMD ends and, when
# $KUBE_LUSTRE_STAGES names a file, appends "NAME<TAB>S<TAB>STATUS" to it
# (ci/test.sh prints that file as the run's summary). STATUS is "built"
# when a build script of ours had to build (it says so through
# ci/built.sh), "cached" when a build stage found everything built, "ran"
# for a stage that tests (--test: whatever builds it triggers are cached
# ones, its prerequisites having been built by an earlier stage), and "FAILED (exit N)" when CMD failed; the
# stage's exit status is CMD's.
set -uo pipefail
testing=false
if [ "${1:-}" = --test ]; then
	testing=true
	shift
fi
name=$1
shift
marker=$(mktemp "${TMPDIR:-/tmp}/kl-stage.XXXXXX")
trap 'rm -f "$marker"' EXIT
export KUBE_LUSTRE_BUILT=$marker
start=$(date +%s)
"$@"
rc=$?
secs=$(($(date +%s) - start))
did=$(cat "$marker")
! $testing || did=
case $rc:$did in
0:built) status=built ;;
0:cached) status=cached ;;
0:*) status=ran ;;
*) status="FAILED (exit $rc)" ;;
esac
echo "stage $name: $secs s, $status" >&2
[ -z "${KUBE_LUSTRE_STAGES:-}" ] || printf '%s\t%s\t%s\n' "$name" "$secs" "$status" >>"$KUBE_LUSTRE_STAGES"
exit $rc
