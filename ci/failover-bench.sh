#!/usr/bin/env bash
# Failover benchmark (issue "Failover without split brain"): node crash to
# target mounted on the peer, examples/ha.yaml with failover.leaseSeconds 10,
# RUNS runs (default 10) on the local cluster (ci/cluster, started and
# stopped unless one is up). Prints each run, then a RESULT line with the
# median and max. A measurement, not a test: it fails only if a failover
# does not happen or is unsafe.
#
#   ci/failover-bench.sh            # or RUNS=20 ci/failover-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_BIN=$(ci/helm.sh)
export HELM_BIN RUNS=${RUNS:-10}
exec go test -tags e2echart,failoverbench -count=1 -v -timeout 90m -run '^TestFailoverBench$' ./test/e2e
