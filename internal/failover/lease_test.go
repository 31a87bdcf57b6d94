package failover

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// versioned bumps resourceVersion on every write and refuses stale
// updates, as the API server does (the fake tracker alone does not).
type versioned struct {
	LeaseClient
	failing bool
}

var errAPIDown = errors.New("connection refused")

func (v *versioned) Get(ctx context.Context, name string, o metav1.GetOptions) (*coordinationv1.Lease, error) {
	if v.failing {
		return nil, errAPIDown
	}
	return v.LeaseClient.Get(ctx, name, o)
}

func (v *versioned) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if v.failing {
		return nil, errAPIDown
	}
	cur, err := v.LeaseClient.Get(ctx, l.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if cur.ResourceVersion != l.ResourceVersion {
		return nil, errors.New("conflict")
	}
	next := l.DeepCopy()
	next.ResourceVersion = bump(cur.ResourceVersion)
	return v.LeaseClient.Update(ctx, next, o)
}

func (v *versioned) Create(ctx context.Context, l *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	if v.failing {
		return nil, errAPIDown
	}
	next := l.DeepCopy()
	next.ResourceVersion = "1"
	return v.LeaseClient.Create(ctx, next, o)
}

func bump(rv string) string {
	n, _ := strconv.Atoi(rv)
	return strconv.Itoa(n + 1)
}

func pair(t *testing.T) (*versioned, *clock, *Lease, *Lease) {
	t.Helper()
	api := &versioned{LeaseClient: fake.NewClientset().CoordinationV1().Leases("lustre")}
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	mk := func(id string) *Lease {
		return &Lease{Client: api, Name: "lfs1-mdt0", Identity: id, Duration: 10 * time.Second, Now: c.now}
	}
	return api, c, mk("s1"), mk("s2")
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
	api, _, a, b := pair(t)
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
	l, _ := api.Get(ctx, "lfs1-mdt0", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "s2" || *l.Spec.LeaseTransitions != 1 || *l.Spec.LeaseDurationSeconds != 10 {
		t.Fatalf("lease after handover: %+v", l.Spec)
	}
}

func TestHoldStopsBeforeThePeerMayTakeOver(t *testing.T) {
	api, c, a, _ := pair(t)
	ctx := context.Background()
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	api.failing = true
	var slept time.Duration
	err := a.Hold(ctx, func(_ context.Context, d time.Duration) bool { c.advance(d); slept += d; return true })
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
	err := a.Hold(ctx, func(context.Context, time.Duration) bool { return true })
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
	if err := a.Hold(ctx, Sleep); err != nil {
		t.Fatalf("Hold after cancel = %v", err)
	}
}
