//go:build e2echart && failoverbench

package e2e

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestFailoverBench measures node crash to target mounted on the peer for
// ost0 of examples/ha.yaml (failover.leaseSeconds 10), alternating between
// the two nodes of the pair: each run crashes the node serving ost0, waits
// until the peer has it mounted, then boots the node back and waits until
// it is an in-sync Secondary again (not timed). RUNS runs (default 10). Its
// own build tag: only ci/failover-bench.sh builds it, never make test.
func TestFailoverBench(t *testing.T) {
	const target = "ost0"
	n, err := strconv.Atoi(nodesEnvOr("RUNS", "10"))
	if err != nil || n < 1 {
		t.Fatalf("RUNS=%q: want a positive number", os.Getenv("RUNS"))
	}
	e := chartSetup(t)
	r := e.newRelease(t, "kl-bench", "bench", e.example("ha.yaml"))
	r.installAndServe(t, 4*time.Minute)
	var runs []time.Duration
	for i := 0; i < n; i++ {
		h := r.servingNode(t, target)
		p := r.peerOf(target, h)
		tp, _ := r.plan.Target(target)
		start := time.Now()
		r.crashNode(t, h)
		poll(t, 3*time.Minute, target+" mounted on "+p, func() bool { return mounted(t, r.w, p, tp.MountPoint) })
		took := time.Since(start)
		runs = append(runs, took)
		t.Logf("run %d: crash of %s to %s mounted on %s: %.1f s", len(runs), h, target, p, took.Seconds())
		r.bootNode(t, h)
		poll(t, 3*time.Minute, h+" back as an in-sync Secondary, unmarked", func() bool {
			return r.inSync(t, target, h) && r.mark(t, target) == "" && r.serving(t, target, p)
		})
		r.noSplitBrain(t)
	}
	slices.Sort(runs)
	median := runs[len(runs)/2]
	if len(runs)%2 == 0 {
		median = (runs[len(runs)/2-1] + runs[len(runs)/2]) / 2
	}
	t.Logf("RESULT crash to %s mounted on the peer over %d runs: median %.1f s, max %.1f s, min %.1f s (failover.leaseSeconds %d)",
		target, len(runs), median.Seconds(), runs[len(runs)-1].Seconds(), runs[0].Seconds(), r.v.Failover.LeaseSeconds)
}
