#!/usr/bin/env bash
# The VM suite's summary, from its `go test -v` output (ci/vm/e2e.sh keeps
# it): a line for each top-level test, passed or FAILED with its time, or
# why it did not run. A skipped test did not run and never counts as a
# pass: its reason (the test's last log line before its SKIP) is printed
# as one line, as is when it already says "did not run" (the Lustre cases
# without KUBE_LUSTRE_VM_LUSTRE). When make test is writing its stage
# table ($KUBE_LUSTRE_STAGES), each test that did not run gets a row
# there too, so the table shows it.
#
#   ci/vm/summary.sh GO_TEST_OUTPUT
set -euo pipefail
[ $# = 1 ] || {
	echo "usage: $0 GO_TEST_OUTPUT" >&2
	exit 2
}
echo "== make e2e-vm: each test"
# Rows: STATUS<TAB>TEST<TAB>SECONDS<TAB>REASON.
rows=$(awk '
	/^    [^ ]+\.go:[0-9]+: / { sub(/^    [^ ]+\.go:[0-9]+: /, ""); last = $0; next }
	/^=== RUN   Test[^\/]*$/ { last = ""; next }
	/^--- (PASS|FAIL|SKIP): Test[^\/ ]* \([0-9.]+s\)$/ {
		secs = $4; gsub(/[()s]/, "", secs)
		printf "%s\t%s\t%s\t%s\n", substr($2, 1, 4), $3, secs, ($2 == "SKIP:" ? last : "")
	}' "$1")
if [ -z "$rows" ]; then
	echo "no test result: go test stopped before any test ended (its output is above)"
	exit 0
fi
while IFS=$'\t' read -r status name secs reason; do
	case $status in
	PASS) echo "$name: passed ($secs s)" ;;
	FAIL) echo "$name: FAILED ($secs s)" ;;
	SKIP)
		[ -n "$reason" ] || reason="skipped without a reason"
		case $reason in
		*"did not run"*) echo "$reason" ;;
		*) echo "$name did not run: $reason" ;;
		esac
		if [ -n "${KUBE_LUSTRE_STAGES:-}" ]; then
			printf '%s\t%s\t%s\n' "$name" 0 "did not run: ${reason#*did not run: }" >>"$KUBE_LUSTRE_STAGES"
		fi
		;;
	esac
done <<<"$rows"
