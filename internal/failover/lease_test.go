package failover

import (
	"context"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func pair(t *testing.T) (*leasetest.Store, *clock, *Lease, *Lease) {
	t.Helper()
	store := leasetest.New()
	api := store.Client(nil)
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	mk := func(id string) *Lease {
		return &Lease{Client: api, Name: "lfs1-mdt0", Identity: id, Duration: 10 * time.Second, Now: c.now}
	}
	return store, c, mk("s1"), mk("s2")
}

func heldBy(t *testing.T, err error, holder string) {
	t.Helper()
	var h *HeldError
	if !errors.As(err, &h) || h.Holder != holder {
		t.Fatalf("want HeldError by %s, got %v", holder, err)
	}
}

func TestPeerWaitsAWholeLeaseAfterTheLastChangeItSaw(t *testing.T) {
	_, c, a, b := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	heldBy(t, b.TryAcquire(ctx), "s1")
	// a renews every 2 s: b never gets it, however long this goes on.
	for i := 0; i < 20; i++ {
		c.advance(2 * time.Second)
		if err := a.TryAcquire(ctx); err != nil {
			t.Fatal(err)
		}
		heldBy(t, b.TryAcquire(ctx), "s1")
	}
	// a stops renewing (crashed): b may take over only 10 s after it saw
	// the last renewal, not before.
	c.advance(9 * time.Second)
	heldBy(t, b.TryAcquire(ctx), "s1")
	if a.Held() {
		t.Fatal("a is past its renew deadline and must consider itself not holding")
	}
	c.advance(1 * time.Second)
	if err := b.TryAcquire(ctx); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	// The old holder coming back finds it taken.
	heldBy(t, a.TryAcquire(ctx), "s2")
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	store, _, a, b := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	heldBy(t, b.TryAcquire(ctx), "s1") // b's release did not touch a's lease
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.TryAcquire(ctx); err != nil {
		t.Fatalf("released lease not taken at once: %v", err)
	}
	l, _ := store.Client(nil).Get(ctx, "lfs1-mdt0", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "s2" || *l.Spec.LeaseTransitions != 1 || *l.Spec.LeaseDurationSeconds != 10 {
		t.Fatalf("lease after handover: %+v", l.Spec)
	}
}

func TestHoldStopsBeforeThePeerMayTakeOver(t *testing.T) {
	store, c, a, _ := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	store.SetDown(true)
	var slept time.Duration
	err := a.Hold(ctx, func(_ context.Context, d time.Duration) bool { c.advance(d); slept += d; return true }, nil)
	if !errors.Is(err, ErrLost) {
		t.Fatalf("Hold = %v, want ErrLost", err)
	}
	// Lost at the renew deadline (5 s), leaving the other half of the
	// lease (5 s) to stop serving before a peer may take over.
	if slept < a.RenewDeadline() || slept >= a.Duration {
		t.Fatalf("gave up after %s; want within [%s, %s)", slept, a.RenewDeadline(), a.Duration)
	}
}

func TestHoldReturnsAtOnceWhenSomeoneElseHoldsIt(t *testing.T) {
	_, c, a, b := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	heldBy(t, b.TryAcquire(ctx), "s1") // b starts watching now
	c.advance(10 * time.Second)
	if err := b.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	err := a.Hold(ctx, func(context.Context, time.Duration) bool { return true }, nil)
	if !errors.Is(err, ErrLost) || a.Held() {
		t.Fatalf("Hold = %v, held=%v", err, a.Held())
	}
}

func TestHoldEndsCleanlyOnCancel(t *testing.T) {
	_, _, a, _ := pair(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := a.Hold(ctx, Sleep, nil); err != nil {
		t.Fatalf("Hold after cancel = %v", err)
	}
}

// hanging is an API server whose packets are dropped: every request
// blocks until its context ends.
type hanging struct{ LeaseClient }

func (hanging) Get(ctx context.Context, _ string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A renewal that hangs does not hold the holder past its renew deadline:
// it gives up while the peer still considers the Lease live (a peer may
// take over only a whole Duration after the last renewal).
func TestHoldGivesUpOnAHangingRenewal(t *testing.T) {
	store := leasetest.New()
	l := &Lease{Client: store.Client(nil), Name: "lfs1-mdt0", Identity: "s1", Duration: 4 * time.Second}
	ctx := context.Background()
	if err := l.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := time.Now()
	l.Client = hanging{l.Client}
	if err := l.Hold(ctx, Sleep, nil); !errors.Is(err, ErrLost) {
		t.Fatalf("Hold = %v, want ErrLost", err)
	}
	if since := time.Since(renewed); since >= l.Duration {
		t.Fatalf("gave up %s after the last renewal: a peer may already have taken over after %s", since, l.Duration)
	}
}

// slowGet is a LeaseClient whose Get takes d of the fake clock, and lets
// the holder renew while the request is in flight.
type slowGet struct {
	LeaseClient
	c       *clock
	d       time.Duration
	inRoute func()
}

func (s *slowGet) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	s.c.advance(s.d / 2)
	if s.inRoute != nil {
		s.inRoute()
	}
	l, err := s.LeaseClient.Get(ctx, name, opts)
	s.c.advance(s.d / 2)
	return l, err
}

// A renewal that lands while an observer's GET is in flight is timed from
// the GET's return, not from before it: the observer may take over only a
// whole Lease after that, never inside the holder's stop window.
func TestObserverTimesARenewalFromItsGETsReturn(t *testing.T) {
	_, c, a, b := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.advance(2 * time.Second)
	// b's GET takes 4 s; a renews 2 s into it.
	b.Client = &slowGet{LeaseClient: b.Client, c: c, d: 4 * time.Second, inRoute: func() {
		if err := a.TryAcquire(ctx); err != nil {
			t.Fatal(err)
		}
	}}
	renewedAt := c.t.Add(2 * time.Second)
	if holder, live, err := b.Observe(ctx); err != nil || holder != "s1" || !live {
		t.Fatalf("observe: %s %v %v", holder, live, err)
	}
	b.Client = b.Client.(*slowGet).LeaseClient
	// a crashed right after that renewal. Its stop window ends at
	// renewedAt + Duration; b must not take over before it.
	c.t = renewedAt.Add(a.Duration - time.Millisecond)
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.t = renewedAt.Add(a.Duration + 2*time.Second + time.Millisecond)
	if err := b.TryAcquire(ctx); err != nil {
		t.Fatalf("takeover a whole Lease after the GET returned: %v", err)
	}
}

// TookOverFrom names the holder whose expired Lease was taken, and nobody
// for a free or released one.
func TestTookOverFrom(t *testing.T) {
	_, c, a, b := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil || a.TookOverFrom() != "" {
		t.Fatalf("first acquire: %v, took over from %q", err, a.TookOverFrom())
	}
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.advance(11 * time.Second)
	if err := b.TryAcquire(ctx); err != nil || b.TookOverFrom() != "s1" {
		t.Fatalf("acquire after expiry: %v, took over from %q", err, b.TookOverFrom())
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.TryAcquire(ctx); err != nil || a.TookOverFrom() != "" {
		t.Fatalf("acquire after a release: %v, took over from %q", err, a.TookOverFrom())
	}
}

// While serveOn says DRBD itself forbids the peer to promote (its link is
// up), an API outage past the renew deadline does not end the hold; once
// the API answers again the renewal goes on. When serveOn turns false
// (the link is gone too), the hold ends: the holder stops.
func TestHoldServesOnThroughAnAPIOutageWhileTheLinkIsUp(t *testing.T) {
	store, c, a, _ := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	store.SetDown(true)
	linkUp, slept := true, time.Duration(0)
	err := a.Hold(ctx, func(_ context.Context, d time.Duration) bool {
		c.advance(d)
		slept += d
		switch {
		case slept == 5*time.Minute:
			store.SetDown(false) // the API is back after 5 minutes
		case slept == 6*time.Minute:
			if !a.Held() {
				t.Errorf("no renewal once the API answered again")
			}
			store.SetDown(true)
			linkUp = false
		case slept > 7*time.Minute:
			t.Fatal("the hold outlived both the API and the DRBD link")
		}
		return true
	}, func() bool { return linkUp })
	if !errors.Is(err, ErrLost) || slept < 6*time.Minute {
		t.Fatalf("Hold = %v after %s, want ErrLost once the link went too", err, slept)
	}
}
