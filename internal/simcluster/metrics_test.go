package simcluster

import (
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

// metric reads one series from a running pod's registry (what its
// /metrics serves): metrics.Families.Value.
func metric(t *testing.T, r *Running, pod, name string, want map[string]string) (float64, bool) {
	t.Helper()
	reg, ok := r.Metrics(pod)
	if !ok {
		t.Fatalf("no pod %s; running: %v", pod, r.Names())
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("%s: gather: %v", pod, err)
	}
	v, found, err := metrics.Families(fams).Value(name, want)
	if err != nil {
		t.Fatalf("%s: %v", pod, err)
	}
	return v, found
}

// waitMetric waits until the series has value v: the agents record at
// their next pass.
func waitMetric(t *testing.T, r *Running, pod, name string, labels map[string]string, v float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, found := metric(t, r, pod, name, labels)
		if found && got == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s%v = %v (found %v), want %v within %s", pod, name, labels, got, found, v, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
