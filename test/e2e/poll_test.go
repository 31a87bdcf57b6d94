//go:build e2e || e2echart

package e2e

import (
	"testing"
	"time"
)

// poll calls f every 100 ms until it is true, and fails the test after
// timeout; it returns how long it waited.
func poll(t testing.TB, timeout time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	return pollEvery(t, timeout, 100*time.Millisecond, what, f)
}

// pollEvery is poll at another interval, for checks that are expensive
// (listing a thousand objects).
func pollEvery(t testing.TB, timeout, interval time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
	return time.Since(start)
}
