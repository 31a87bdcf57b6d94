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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	}, func(context.Context) bool { return linkUp })
	if !errors.Is(err, ErrLost) || slept < 6*time.Minute {
		t.Fatalf("Hold = %v after %s, want ErrLost once the link went too", err, slept)
	}
}

// writes counts the Lease writes (creates and updates) a client makes.
type writes struct {
	LeaseClient
	n int
}

func (w *writes) Create(ctx context.Context, l *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	w.n++
	return w.LeaseClient.Create(ctx, l, o)
}

func (w *writes) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	w.n++
	return w.LeaseClient.Update(ctx, l, o)
}

func duration(t *testing.T, api LeaseClient, name string) time.Duration {
	t.Helper()
	cur, err := api.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
}

// While DRBD keeps the peer Secondary, the holder writes a Quiet Lease
// every Quiet/5: 10 writes in 10 minutes instead of 300. Once the link
// goes, it renews at once with the normal duration, every Duration/5.
func TestQuietHolderWritesAFifthOfAQuietLeaseApart(t *testing.T) {
	t.Parallel()
	_, c, a, _ := pair(t)
	w := &writes{LeaseClient: a.Client}
	a.Client, a.Quiet = w, 5*time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	linkUp, slept := true, time.Duration(0)
	var quietWrites int
	err := a.Hold(ctx, func(_ context.Context, d time.Duration) bool {
		c.advance(d)
		slept += d
		switch slept {
		case 10 * time.Minute:
			if got := duration(t, w, a.Name); got != a.Quiet {
				t.Errorf("Lease duration %s while the link is up, want %s", got, a.Quiet)
			}
			quietWrites, linkUp = w.n, false
		case 10*time.Minute + 2*time.Second:
			// The tick that saw the link gone renewed with Duration.
			if got := duration(t, w, a.Name); got != a.Duration || w.n != quietWrites+1 {
				t.Errorf("after the link went: duration %s after %d writes, want %s after %d", got, w.n, a.Duration, quietWrites+1)
			}
		case 11 * time.Minute:
			cancel()
		}
		return ctx.Err() == nil
	}, func(context.Context) bool { return linkUp })
	if err != nil {
		t.Fatal(err)
	}
	if quietWrites > 12 {
		t.Fatalf("%d writes in 10 minutes with the link up, want about 10 (one per Quiet/5)", quietWrites)
	}
	// 58 s of Duration/5 renewals after the link went.
	if fast := w.n - quietWrites; fast < 25 {
		t.Fatalf("%d writes in the minute after the link went, want one per Duration/5", fast)
	}
}

// A quiet holder that loses the API server and then its DRBD link must be
// stopping half a Duration after the link went, not half a Quiet Lease
// after its last renewal: its peer cuts the Lease to one Duration then.
func TestQuietHolderStopsHalfALeaseAfterTheLinkGoesWithoutTheAPI(t *testing.T) {
	t.Parallel()
	store, c, a, _ := pair(t)
	a.Quiet = 5 * time.Minute
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	linkUp, slept, linkWent := true, time.Duration(0), time.Duration(0)
	err := a.Hold(ctx, func(_ context.Context, d time.Duration) bool {
		c.advance(d)
		slept += d
		switch {
		case slept == 3*time.Minute+30*time.Second:
			// The last quiet renewal was at most a minute ago: half a
			// Quiet Lease would let it serve on for two more minutes.
			store.SetDown(true)
		case slept == 3*time.Minute+40*time.Second:
			linkUp, linkWent = false, slept
		case slept > 5*time.Minute:
			t.Fatal("still holding a minute after the link went")
		}
		return true
	}, func(context.Context) bool { return linkUp })
	if !errors.Is(err, ErrLost) {
		t.Fatalf("Hold = %v, want ErrLost", err)
	}
	if after := slept - linkWent; after > a.RenewDeadline()+a.RenewInterval() {
		t.Fatalf("gave up %s after the link went, want within %s", after, a.RenewDeadline())
	}
}

// The peer that lost the link cuts a quiet Lease to one Duration, so it
// takes a crashed holder over one Duration after its cut, not a Quiet
// Lease after the holder's last renewal. It cuts nothing that is not its
// peer's quiet Lease, and never when the Lease marks its own copy stale.
func TestPeerLostCutsAQuietLeaseToOneDuration(t *testing.T) {
	t.Parallel()
	store, c, a, b := pair(t)
	api := store.Client(nil)
	ctx := context.Background()
	if err := a.tryAcquire(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.advance(time.Minute)
	if cut, err := PeerLost(ctx, api, a.Name, "s2", "s3", b.Duration); cut || err != nil {
		t.Fatalf("cut a Lease held by another node than its peer: %v %v", cut, err)
	}
	cut, err := PeerLost(ctx, api, a.Name, "s2", "s1", b.Duration)
	if !cut || err != nil {
		t.Fatalf("PeerLost = %v, %v", cut, err)
	}
	if cut, _ := PeerLost(ctx, api, a.Name, "s2", "s1", b.Duration); cut {
		t.Fatal("cut an already short Lease again (each cut restarts the observers' clock)")
	}
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.advance(b.Duration - time.Millisecond)
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.advance(2 * time.Millisecond)
	if err := b.TryAcquire(ctx); err != nil || b.TookOverFrom() != "s1" {
		t.Fatalf("takeover one Duration after the cut: %v (from %q)", err, b.TookOverFrom())
	}
	cur, _ := api.Get(ctx, a.Name, metav1.GetOptions{})
	if _, ok := cur.Annotations[PeerLostAnnotation]; ok {
		t.Fatal("the new holder's renewal kept the peer-lost mark")
	}

	// b holds it quietly now; a's copy is marked outdated: a cuts nothing.
	if err := b.tryAcquire(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if code, why := FencePeer(ctx, api, b.Name, "s2", "s1"); code != FencedOutdated {
		t.Fatal(why)
	}
	if cut, _ := PeerLost(ctx, api, a.Name, "s1", "s2", a.Duration); cut {
		t.Fatal("a node the Lease marks outdated cut the holder's Lease")
	}
}

// A guard that is slow to answer (a drbdadm on a loaded host, as the VM
// suite saw: up to its 5 s timeout) must not make the holder miss its
// renew deadline while the API answers: it is cut short and counts as
// not holding, and the holder renews with Duration.
func TestSlowGuardDoesNotCostTheLease(t *testing.T) {
	t.Parallel()
	_, c, a, _ := pair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	slept, asked := time.Duration(0), 0
	err := a.Hold(ctx, func(_ context.Context, d time.Duration) bool {
		c.advance(d)
		if slept += d; slept >= 2*time.Minute {
			cancel()
		}
		return ctx.Err() == nil
	}, func(gctx context.Context) bool {
		// The observation takes 5 s unless its context ends first.
		asked++
		dl, ok := gctx.Deadline()
		if !ok {
			t.Fatal("the guard was asked without a deadline")
		}
		if budget := time.Until(dl); budget < 5*time.Second {
			c.advance(budget)
			return false
		}
		c.advance(5 * time.Second)
		return true
	})
	if err != nil || asked == 0 {
		t.Fatalf("Hold with a slow guard and the API up = %v (guard asked %d times), want it held until cancelled", err, asked)
	}
}
