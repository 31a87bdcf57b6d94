package failover

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
)

// racing runs before() between the caller's Get and its Update, the window
// in which a peer's takeover can land.
type racing struct {
	LeaseClient
	before func()
}

func (r racing) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	r.before()
	return r.LeaseClient.Update(ctx, l, o)
}

func TestFencePeer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, c, a, b := pair(t)
	api := store.Client(nil)

	// No Lease: nobody holds it, so s1 may not declare anything.
	if got, _ := FencePeer(ctx, api, "lfs1-mdt0", "s1", "s2"); got != FenceRefused {
		t.Fatalf("no lease: exit %d, want %d", got, FenceRefused)
	}
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	// The peer cannot fence the holder.
	if got, _ := FencePeer(ctx, api, "lfs1-mdt0", "s2", "s1"); got != FenceRefused {
		t.Fatalf("non-holder: exit %d, want %d", got, FenceRefused)
	}
	// The API unreachable from the holder: the fence fails, I/O stays frozen.
	cut := store.Client(func() bool { return true })
	if got, _ := FencePeer(ctx, cut, "lfs1-mdt0", "s1", "s2"); got != FenceFailed {
		t.Fatalf("api cut: exit %d, want %d", got, FenceFailed)
	}
	// The holder marks its peer; a second call finds the mark and does not write.
	if got, _ := FencePeer(ctx, api, "lfs1-mdt0", "s1", "s2"); got != FencedOutdated {
		t.Fatalf("holder: exit %d, want %d", got, FencedOutdated)
	}
	if m, _ := Outdated(ctx, api, "lfs1-mdt0"); m != "s2" {
		t.Fatalf("mark %q, want s2", m)
	}
	if got, _ := FencePeer(ctx, racing{api, func() { t.Fatal("wrote an existing mark again") }}, "lfs1-mdt0", "s1", "s2"); got != FencedOutdated {
		t.Fatalf("repeat: exit %d", got)
	}
	// The marked node may not serve, even after it took the Lease.
	if err := b.CheckNotOutdated(ctx); !IsOutdated(err) || !strings.Contains(err.Error(), "Outdated") {
		t.Fatalf("s2 check: %v", err)
	}
	if err := a.CheckNotOutdated(ctx); err != nil {
		t.Fatalf("s1 check: %v", err)
	}
	// s1 crashes; s2 takes the Lease a whole Lease after it saw it last change.
	heldBy(t, b.TryAcquire(ctx), "s1")
	c.advance(11 * time.Second)
	if err := b.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	if !IsOutdated(b.CheckNotOutdated(ctx)) {
		t.Fatal("taking the Lease cleared the mark")
	}
	// The outdated holder never fences the node with the newer data.
	if got, _ := FencePeer(ctx, api, "lfs1-mdt0", "s2", "s1"); got != FenceRefused {
		t.Fatalf("outdated holder: exit %d, want %d", got, FenceRefused)
	}
	// s1's unfence does not touch a mark naming s2; s2's resync clears it.
	if err := Unfence(ctx, api, "lfs1-mdt0", "s1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := Outdated(ctx, api, "lfs1-mdt0"); m != "s2" {
		t.Fatalf("s1's unfence changed the mark to %q", m)
	}
	if err := Unfence(ctx, api, "lfs1-mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	if m, _ := Outdated(ctx, api, "lfs1-mdt0"); m != "" {
		t.Fatalf("mark %q after s2's resync", m)
	}
	if err := b.CheckNotOutdated(ctx); err != nil {
		t.Fatal(err)
	}
}

// A takeover between the holder's read and its write makes the mark fail
// with Conflict: the old holder never records anything once it lost the
// Lease.
func TestFencePeerLosesARaceWithATakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, c, a, b := pair(t)
	api := store.Client(nil)
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.TryAcquire(ctx); err == nil {
		t.Fatal("s2 took a live Lease")
	}
	c.advance(11 * time.Second)
	takeover := racing{api, func() {
		if err := b.TryAcquire(ctx); err != nil {
			t.Fatal(err)
		}
	}}
	if got, _ := FencePeer(ctx, takeover, "lfs1-mdt0", "s1", "s2"); got != FenceFailed {
		t.Fatalf("exit %d, want %d", got, FenceFailed)
	}
	if m, _ := Outdated(ctx, api, "lfs1-mdt0"); m != "" {
		t.Fatalf("mark %q recorded by a holder that lost the Lease", m)
	}
}

// The DRBD agent clears the mark on its own copy from its observation of
// an in-sync pair, only when that observation came after the Lease read:
// a fence that marks the copy again in between wins.
func TestUnfenceInSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, a, _ := pair(t)
	api := store.Client(nil)
	if err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := FencePeer(ctx, api, "lfs1-mdt0", "s1", "s2"); got != FencedOutdated {
		t.Fatalf("fence: exit %d", got)
	}
	if cleared, err := UnfenceInSync(ctx, api, "lfs1-mdt0", "s1", func() bool { t.Fatal("observed for a mark on the peer"); return true }); cleared || err != nil {
		t.Fatalf("s1 cleared s2's mark: %v %v", cleared, err)
	}
	if cleared, err := UnfenceInSync(ctx, api, "lfs1-mdt0", "s2", func() bool { return false }); cleared || err != nil {
		t.Fatalf("cleared while out of sync: %v %v", cleared, err)
	}
	// The observation says in sync, but a new fence (the holder lost the
	// peer again) lands before the write: the write conflicts.
	refence := func() bool {
		cur, err := api.Get(ctx, "lfs1-mdt0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Annotations["kube-lustre.io/fenced-again"] = "x"
		if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return true
	}
	if cleared, err := UnfenceInSync(ctx, api, "lfs1-mdt0", "s2", refence); cleared || err == nil {
		t.Fatalf("cleared over a newer fence: %v %v", cleared, err)
	}
	if m, _ := Outdated(ctx, api, "lfs1-mdt0"); m != "s2" {
		t.Fatalf("mark %q after the race, want s2", m)
	}
	if cleared, err := UnfenceInSync(ctx, api, "lfs1-mdt0", "s2", func() bool { return true }); !cleared || err != nil {
		t.Fatalf("in sync: %v %v", cleared, err)
	}
	if m, _ := Outdated(ctx, api, "lfs1-mdt0"); m != "" {
		t.Fatalf("mark %q after the clear", m)
	}
}

// A holder whose fence marks its peer outdated has just lost its link, so
// its quiet Lease loses DRBD's backing at once: the fence cuts it to one
// Duration. Its peer, now marked outdated, would not cut it, and a crash
// right after the fence would otherwise leave the Lease live for a whole
// quiet Lease.
func TestFenceCutsTheHoldersQuietLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, a, _ := pair(t)
	api := store.Client(nil)
	if err := a.tryAcquire(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	f := &Fencer{Leases: api, Node: "s1", Resources: map[string]Fenced{"r0": {Lease: a.Name, Peer: "s2"}}, Duration: a.Duration}
	if code := f.FencePeer(ctx, "r0"); code != FencedOutdated {
		t.Fatalf("fence-peer exit %d", code)
	}
	if got := duration(t, api, a.Name); got != a.Duration {
		t.Fatalf("Lease duration %s after the holder's fence, want %s", got, a.Duration)
	}
	if cut, _ := PeerLost(ctx, api, a.Name, "s2", "s1", a.Duration); cut {
		t.Fatal("the peer the fence marked outdated cut the Lease")
	}
}

// A DRBD target's new Lease has no history of which copy is stale: it
// says so (Unverified) until an in-sync observation clears it, or until a
// holder whose guard vouches for its copy (Primary, peer connected) renews
// it; a Lease such a holder has to create again gets no mark.
func TestNewLeaseIsUnverifiedUntilTheCopiesAreSeenInSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, c, a, b := pair(t)
	api := store.Client(nil)
	a.NewUnverified, b.NewUnverified = true, true
	if err := b.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	err := b.CheckNotOutdated(ctx)
	var o *OutdatedError
	if !errors.As(err, &o) || !o.Unverified() || !strings.Contains(err.Error(), "no record of which copy is current") {
		t.Fatalf("check of a new Lease: %v", err)
	}
	if ok, err := b.Verify(ctx, func() bool { return false }); ok || err != nil {
		t.Fatalf("verified without the copies in sync: %v %v", ok, err)
	}
	if ok, err := b.Verify(ctx, func() bool { return true }); !ok || err != nil {
		t.Fatalf("verify in sync: %v %v", ok, err)
	}
	if m, _ := Outdated(ctx, api, b.Name); m != "" || b.CheckNotOutdated(ctx) != nil {
		t.Fatalf("mark %q left after the in-sync observation", m)
	}

	// Deleted under a serving holder whose guard holds: recreated
	// without a mark; with an old mark present, its renewal removes it.
	store.Delete(b.Name)
	ctx2, cancel := context.WithCancel(ctx)
	ticks := 0
	err = b.Hold(ctx2, func(_ context.Context, d time.Duration) bool {
		c.advance(d)
		if ticks++; ticks == 3 {
			cancel()
		}
		return ctx2.Err() == nil
	}, func(context.Context) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if m, err := Outdated(ctx, api, b.Name); m != "" || err != nil {
		t.Fatalf("a vouched holder recreated its Lease with mark %q (%v)", m, err)
	}
}

// The peer that cut a crashed holder's quiet Lease hands it over a whole
// Lease after its cut, by its own clock read when the cut returned, and
// not sooner; the node that then takes it takes the pool over (-f) as from
// an expired Lease. A holder that wrote meanwhile keeps its Lease.
func TestPeerLostHandsTheCutLeaseOverAfterAWholeLease(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := leasetest.New()
	api := store.Client(nil)
	mk := func(name, id string) *Lease {
		return &Lease{Client: api, Name: name, Identity: id, Duration: time.Second}
	}
	crashed, alive := mk("lfs1-mdt0", "s1"), mk("lfs1-ost0", "s1")
	for _, l := range []*Lease{crashed, alive} {
		if err := l.tryAcquire(ctx, 5*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	f := &Fencer{Leases: api, Node: "s2", Duration: time.Second, Resources: map[string]Fenced{
		"r0": {Lease: crashed.Name, Peer: "s1"}, "r1": {Lease: alive.Name, Peer: "s1"}}}
	start := time.Now()
	for _, r := range []string{"r0", "r1"} {
		if cut, err := f.PeerLost(ctx, r); !cut || err != nil {
			t.Fatalf("PeerLost(%s) = %v, %v", r, cut, err)
		}
	}
	if err := alive.tryAcquire(ctx, time.Second); err != nil { // s1 is alive: it renews
		t.Fatal(err)
	}
	holder := func(name string) (string, string) {
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *cur.Spec.HolderIdentity, cur.Annotations[ExpiredHolderAnnotation]
	}
	for h, _ := holder(crashed.Name); h != ""; h, _ = holder(crashed.Name) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the cut Lease was never handed over")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("handed over %s after the cut, before a whole Lease (1s)", took)
	}
	if _, from := holder(crashed.Name); from != "s1" {
		t.Fatalf("handed over from %q, want s1", from)
	}
	time.Sleep(500 * time.Millisecond) // the renewed Lease's own handover time has passed
	if h, _ := holder(alive.Name); h != "s1" {
		t.Fatalf("the Lease s1 renewed after the cut was handed over (holder %q)", h)
	}
	s2 := mk(crashed.Name, "s2")
	if err := s2.TryAcquire(ctx); err != nil || s2.TookOverFrom() != "s1" {
		t.Fatalf("acquire after the handover: %v, took over from %q; want from s1 (its peer lost it: import -f)", err, s2.TookOverFrom())
	}
}
