#!/usr/bin/env bash
# Lease benchmarks (issue "Failover that works on real hosts") on the local
# cluster (ci/cluster, started and stopped unless one is up):
#  - TestLeaseWritesBench: Lease writes per second of the 2,000 targets of
#    examples/large, one simulated holder per target running the production
#    Hold loop against the local API server (QUIET=0 for the renewals
#    quiet Leases replace; WINDOW, default 180s);
#  - TestAPIOutageBench: the API server stopped for OUTAGE (default 5m)
#    under a running examples/ha.yaml: no target may stop.
# Each prints a RESULT line. Measurements, not tests: never part of make test.
#
#   ci/lease-bench.sh                 # both
#   ci/lease-bench.sh LeaseWrites     # one: LeaseWrites or APIOutage
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_BIN=$(ci/helm.sh)
export HELM_BIN
exec go test -tags e2echart,leasebench -count=1 -v -timeout 60m -run "^Test(${1:-LeaseWrites|APIOutage})Bench\$" ./test/e2e
