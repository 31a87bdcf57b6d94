#!/usr/bin/env bash
# Failover benchmark on real kernels: kill -9 of the Primary's guest to
# the pool imported on the survivor, by the target pod's own loop and
# bounds (test/vm case 4-failover, after 1-bring-up), RUNS times (default
# 5), each on freshly booted guests under TCG. Prints each run, the times
# that made it up, then a RESULT line with the median and max. A
# measurement, not a test: it fails only if a failover fails.
#
#   ci/vm/failover-bench.sh         # or RUNS=9 ci/vm/failover-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go
RUNS=${RUNS:-5}
ci/vm/deps.sh
ci/vm/image.sh >/dev/null
out=$(mktemp "${TMPDIR:-/tmp}/kl-vm-bench.XXXXXX")
trap 'rm -f "$out"' EXIT
runs=()
for i in $(seq "$RUNS"); do
	"$GO" test -tags e2evm -count=1 -v -timeout 30m -run '^TestVM$/^(1-bring-up|4-failover)$' ./test/vm >"$out" 2>&1 || {
		cat "$out"
		echo "run $i: the failover case failed (its output is above)" >&2
		exit 1
	}
	took=$(sed -n 's/.*MEASURED failover: vm1 killed to pool imported on vm2: \([0-9.]*\) s.*/\1/p' "$out" | head -n1)
	[ -n "$took" ] || {
		cat "$out"
		echo "run $i: no takeover time in the output" >&2
		exit 1
	}
	runs+=("$took")
	echo "run $i: vm1 killed to pool imported on vm2: $took s"
	sed -n 's/.*MEASURED \(failover: .*\)/    \1/p' "$out"
done
printf '%s\n' "${runs[@]}" | sort -n | awk -v n="$RUNS" '
	{ v[NR] = $1 }
	END {
		med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "RESULT kill -9 of the Primary guest to the pool imported on the peer over %d runs: median %.1f s, max %.1f s, min %.1f s\n", n, med, v[n], v[1]
	}'
