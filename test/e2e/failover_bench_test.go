//go:build e2echart && failoverbench

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		// A crash comes in the steady state: the pair connected and in
		// sync, so the holder renews quietly (failover.quietLeaseSeconds).
		// Right after the previous run's rejoin it may still renew every
		// Lease/5 for a moment, and its peer then has no quiet Lease to cut.
		poll(t, time.Minute, h+" renewing the Lease of "+target+" quietly", func() bool { return r.quiet(t, target, h) })
		start := time.Now()
		r.crashNode(t, h)
		poll(t, 3*time.Minute, target+" mounted on "+p, func() bool { return mounted(t, r.w, p, tp.MountPoint) })
		took := time.Since(start)
		runs = append(runs, took)
		t.Logf("run %d: crash of %s to %s mounted on %s: %.1f s", len(runs), h, target, p, took.Seconds())
		r.timeline(t, start, target, p)
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

// quiet: holder holds target's Lease with the quiet duration.
func (r *release) quiet(t testing.TB, target, holder string) bool {
	t.Helper()
	l, err := r.e.cs.CoordinationV1().Leases(r.ns).Get(context.Background(), r.leaseName(target), metav1.GetOptions{})
	if err != nil {
		t.Logf("lease: %v", err)
		return false
	}
	d := l.Spec.LeaseDurationSeconds
	return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == holder && d != nil && int(*d) == r.v.Failover.QuietLeaseSeconds
}

// timeline logs what made up a run, in seconds after the crash: the
// failover controller's lines about target (any node) and, on the
// survivor, its DRBD agent's lines about the target's resource and the
// target pod's, as their logs timestamp them.
func (r *release) timeline(t testing.TB, crash time.Time, target, survivor string) {
	t.Helper()
	since := crash.Add(-time.Second).UTC().Format(time.RFC3339)
	type line struct {
		at   time.Duration
		text string
	}
	var lines []line
	for _, src := range []struct {
		sel, about string
		anyNode    bool
	}{
		{"app.kubernetes.io/component=failover", target, true},
		{"app.kubernetes.io/component=drbd", r.res(target), false},
		{"kube-lustre.io/target=" + target, "", false},
	} {
		for _, p := range r.e.pods(t, r.ns, r.selector(src.sel)) {
			if !src.anyNode && p.Spec.NodeName != survivor {
				continue
			}
			out, err := r.e.kubectlOut("logs", "-n", r.ns, p.Name, "--all-containers", "--timestamps", "--since-time="+since)
			if err != nil {
				t.Logf("timeline: %v", err)
				continue
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				ts, msg, ok := strings.Cut(l, " ")
				at, err := time.Parse(time.RFC3339Nano, ts)
				if ok && err == nil && strings.Contains(msg, src.about) {
					lines = append(lines, line{at.Sub(crash), p.Name + ": " + msg})
				}
			}
		}
	}
	slices.SortFunc(lines, func(a, b line) int { return cmp.Compare(a.at, b.at) })
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "\n  %s %s", l.at.Round(10*time.Millisecond), l.text)
	}
	t.Logf("timeline after the crash:%s", b.String())
}
