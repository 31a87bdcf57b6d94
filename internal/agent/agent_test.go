package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/failover"
)

// A pod waiting on a takeover must see the peer's cut, the controller's
// handover and the expiry within a quarter of a renew interval, not a
// whole one: it times the Lease from when it saw its last change.
func TestRetryAfter(t *testing.T) {
	const renew = 2 * time.Second
	for _, c := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"held, far from expiry", &failover.HeldError{Holder: "s1", ExpiresIn: 9 * time.Second}, 500 * time.Millisecond},
		{"held, expiring sooner", &failover.HeldError{Holder: "s1", ExpiresIn: 120 * time.Millisecond}, 120 * time.Millisecond},
		{"held, wrapped", errors.Join(errors.New("acquire"), &failover.HeldError{Holder: "s1", ExpiresIn: time.Minute}), 500 * time.Millisecond},
		{"held, expired meanwhile", &failover.HeldError{Holder: "s1"}, time.Millisecond},
		{"outdated copy", &failover.OutdatedError{Node: "s2"}, renew},
		{"API error", errors.New("connection refused"), renew},
	} {
		if got := retryAfter(c.err, renew); got != c.want {
			t.Errorf("%s: retryAfter = %s, want %s", c.name, got, c.want)
		}
	}
}
