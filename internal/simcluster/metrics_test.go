package simcluster

import (
	"fmt"
	"sync"
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
// their next pass, which a loaded machine may delay.
func waitMetric(t *testing.T, r *Running, pod, name string, labels map[string]string, v float64) {
	t.Helper()
	waitFor(t, r, pod, name, labels, fmt.Sprint(v), func(got float64) bool { return got == v })
}

// waitCounter waits until the counter reached at least min (a watch that
// reports an event again after a failed read counts it again).
func waitCounter(t *testing.T, r *Running, pod, name string, labels map[string]string, min float64) {
	t.Helper()
	waitFor(t, r, pod, name, labels, fmt.Sprintf("at least %v", min), func(got float64) bool { return got >= min })
}

func waitFor(t *testing.T, r *Running, pod, name string, labels map[string]string, want string, ok func(float64) bool) {
	t.Helper()
	const within = 10 * time.Second
	deadline := time.Now().Add(within)
	for {
		got, found := metric(t, r, pod, name, labels)
		if found && ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s%v = %v (found %v), want %s within %s", pod, name, labels, got, found, want, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchMetric reads the series every few milliseconds from aside until the
// test ends and returns what it has seen so far, each value once in order.
func watchMetric(t *testing.T, r *Running, pod, name string, labels map[string]string) func() []float64 {
	t.Helper()
	reg, ok := r.Metrics(pod)
	if !ok {
		t.Fatalf("no pod %s; running: %v", pod, r.Names())
	}
	var mu sync.Mutex
	var seen []float64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if fams, err := reg.Gather(); err == nil {
				if v, found, err := metrics.Families(fams).Value(name, labels); err == nil && found {
					mu.Lock()
					if len(seen) == 0 || seen[len(seen)-1] != v {
						seen = append(seen, v)
					}
					mu.Unlock()
				}
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return func() []float64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]float64(nil), seen...)
	}
}
