// Package failover decides who may serve a target. Kubernetes is the
// tiebreaker: each target has a coordination.k8s.io Lease, and only its
// holder may promote, import and mount. A holder that cannot renew stops
// serving before anyone else may consider the Lease expired.
package failover

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LeaseClient is the part of client-go's typed LeaseInterface used here;
// internal/kube.Leases implements it, and so does the fake clientset.
type LeaseClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// HeldError says another holder's Lease is still live.
type HeldError struct {
	Holder    string
	ExpiresIn time.Duration // by this process's clock, from when it last saw the Lease change
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease held by %s; it expires in %s unless renewed", e.Holder, e.ExpiresIn.Round(time.Millisecond))
}

// Lease is one target's Lease as seen by one would-be holder.
//
// Expiry is judged by this process's own clock from the moment it observed
// the Lease's last change (as client-go's leader election does), never by
// comparing the other node's renewTime with local time: clocks of two
// nodes may disagree, a local interval may not.
type Lease struct {
	Client   LeaseClient
	Name     string
	Identity string        // the node name: the peer and the controller read it
	Duration time.Duration // failover.leaseSeconds
	// Quiet (failover.quietLeaseSeconds), when longer than Duration, is
	// the duration a holder writes while Hold's guard says DRBD alone
	// keeps the peer from promoting (this node Primary, the peer
	// connected): it then renews every Quiet/5 instead of every
	// Duration/5, so that Lease writes stay bounded as targets grow.
	// The peer cuts a quiet Lease back to Duration when it loses the
	// link (PeerLost), so a crashed holder is still taken over one
	// Duration after that.
	Quiet time.Duration
	// NewUnverified (DRBD targets) creates a Lease that does not exist
	// with the Unverified mark: it has no history of which copy is stale.
	NewUnverified bool
	Now           func() time.Time

	// vouched: Hold's guard held at this tick (this node Primary with its
	// peer connected), so this copy is the current one: its renewal
	// removes the Unverified mark, and a Lease it has to create again
	// (deleted under it) gets none.
	vouched bool

	observedVersion string
	observedAt      time.Time
	peerLostBy      string        // PeerLostAnnotation as last observed
	outdatedMark    string        // OutdatedAnnotation as last observed
	expiredHolder   string        // ExpiredHolderAnnotation as last observed
	lastRenew       time.Time     // last successful acquire or renew by us
	written         time.Duration // the duration that renewal wrote
	deadline        time.Time     // serve only before this without a renewal
	tookOverFrom    string        // the holder whose expired Lease we acquired
	handedOverFrom  string        // the holder the controller cleared before we acquired
	// renewedAt mirrors lastRenew (unix nanoseconds, 0: not held) for
	// readers outside the holding goroutine: the metrics' Lease age.
	renewedAt atomic.Int64
}

// LastRenewed is when this node last acquired or renewed the Lease, zero
// when it does not hold it; safe to call from any goroutine.
func (l *Lease) LastRenewed() time.Time {
	if n := l.renewedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// setLastRenew records our last successful write, or none (zero).
func (l *Lease) setLastRenew(t time.Time) {
	l.lastRenew = t
	if t.IsZero() {
		l.renewedAt.Store(0)
	} else {
		l.renewedAt.Store(t.UnixNano())
	}
}

// TookOverFrom is the other node whose Lease had expired when this one
// acquired it ("" when it was free, released or already ours): that node
// stopped renewing without releasing, so it may have left the target's
// pool imported (it crashed).
func (l *Lease) TookOverFrom() string { return l.tookOverFrom }

// HandedOverFrom is the holder the failover controller cleared from the
// expired Lease before this node acquired it (ExpiredHolderAnnotation).
// Unlike TookOverFrom it says nothing about the pool: a holder cut off
// only from the API serves on and, once it learns it lost the Lease,
// exports cleanly before its peer may promote (the e2e fault matrix), so
// the import is a plain one first.
func (l *Lease) HandedOverFrom() string { return l.handedOverFrom }

func (l *Lease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// RenewDeadline is how long a holder may go without a successful renewal
// before it must stop serving: half the Lease, so that stopping has the
// other half before any peer may take over.
func (l *Lease) RenewDeadline() time.Duration { return l.Duration / 2 }

// RenewInterval is how often a holder renews.
func (l *Lease) RenewInterval() time.Duration { return l.Duration / 5 }

// Held reports whether we hold the Lease and are still within the renew
// deadline: the only state in which this node may serve. The deadline is
// half the duration the last renewal wrote (so stopping has the other
// half), cut to half a Duration from the moment a quiet holder lost its
// DRBD peer (Hold).
func (l *Lease) Held() bool {
	return !l.lastRenew.IsZero() && l.now().Before(l.deadline)
}

// renewed records a successful write of the Lease with duration d at now.
func (l *Lease) renewed(version string, now time.Time, d time.Duration) {
	l.observedVersion, l.observedAt = version, now
	l.setLastRenew(now)
	l.written, l.deadline = d, now.Add(d/2)
}

// TryAcquire takes or renews the Lease. It succeeds when the Lease does not
// exist, is released (no holder), is ours, or has not changed for a whole
// Duration since we first saw its current version. Otherwise it returns a
// *HeldError. A conflict (someone else wrote first) is returned as is: the
// caller retries, and the next Get observes the new version.
func (l *Lease) TryAcquire(ctx context.Context) error {
	return l.tryAcquire(ctx, l.Duration)
}

// tryAcquire is TryAcquire writing duration d.
func (l *Lease) tryAcquire(ctx context.Context, d time.Duration) error {
	now := l.now()
	cur, err := l.Client.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return l.create(ctx, now, d)
	}
	if err != nil {
		return err
	}
	l.observe(cur)
	holder := ""
	if cur.Spec.HolderIdentity != nil {
		holder = *cur.Spec.HolderIdentity
	}
	if holder != "" && holder != l.Identity {
		if left := l.observedAt.Add(l.durationOf(cur)).Sub(l.now()); left > 0 {
			return &HeldError{Holder: holder, ExpiresIn: left}
		}
	}
	next := cur.DeepCopy()
	l.fill(next, now, d, holder != l.Identity)
	updated, err := l.Client.Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	if holder != l.Identity {
		l.tookOverFrom, l.handedOverFrom = holder, ""
		if from := cur.Annotations[ExpiredHolderAnnotation]; holder == "" && from != l.Identity {
			l.handedOverFrom = from
			if lost := cur.Annotations[PeerLostAnnotation]; lost != "" && lost != from && from != "" {
				// Handed over after its DRBD peer lost the link to it and
				// it never renewed again: it crashed, or it is cut off
				// from both its peer and the API, its I/O frozen by the
				// failed fence, so it could not export either. Its pool
				// is taken over, as from a Lease seen expiring.
				l.tookOverFrom = from
			}
		}
	}
	l.renewed(updated.ResourceVersion, now, d)
	return nil
}

// ExpiredHolderAnnotation names the holder whose expired Lease the failover
// controller handed over (ClearExpiredHolder), so the next holder knows
// whom it took the target from (HandedOverFrom). Any holder's write
// removes it, and so does a clean release.
const ExpiredHolderAnnotation = "kube-lustre.io/expired-holder"

// observe notes when a version of the Lease was first seen. The clock is
// read after the GET returned, never before it: a renewal that landed
// while the GET was in flight happened at some time up to its return, and
// timing it from before the request would let a peer start a takeover
// inside the holder's stop window.
func (l *Lease) observe(cur *coordinationv1.Lease) {
	if cur.ResourceVersion != l.observedVersion {
		l.observedVersion, l.observedAt = cur.ResourceVersion, l.now()
	}
	l.peerLostBy = cur.Annotations[PeerLostAnnotation]
	l.outdatedMark = cur.Annotations[OutdatedAnnotation]
	l.expiredHolder = cur.Annotations[ExpiredHolderAnnotation]
}

// PeerLostBy is the node that marked the Lease peer-lost (PeerLost), as of
// the last observation: the holder's DRBD peer lost its link to the holder,
// and the holder has not renewed since (its renewal clears the mark).
func (l *Lease) PeerLostBy() string { return l.peerLostBy }

// durationOf is the Lease's own duration when it states one (the holder's
// setting), else ours.
func (l *Lease) durationOf(cur *coordinationv1.Lease) time.Duration {
	if s := cur.Spec.LeaseDurationSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	return l.Duration
}

func (l *Lease) create(ctx context.Context, now time.Time, d time.Duration) error {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.Name}}
	if l.NewUnverified && !l.vouched {
		lease.Annotations = map[string]string{OutdatedAnnotation: Unverified}
	}
	l.fill(lease, now, d, true)
	created, err := l.Client.Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	l.renewed(created.ResourceVersion, now, d)
	return nil
}

// fill writes a renewal by l.Identity with duration d. The peer's
// PeerLost mark goes with it: the holder's own renewal is newer news.
func (l *Lease) fill(lease *coordinationv1.Lease, now time.Time, d time.Duration, newHolder bool) {
	id := l.Identity
	secs := int32(d / time.Second)
	delete(lease.Annotations, PeerLostAnnotation)
	delete(lease.Annotations, ExpiredHolderAnnotation)
	if l.vouched && lease.Annotations[OutdatedAnnotation] == Unverified {
		delete(lease.Annotations, OutdatedAnnotation)
	}
	t := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = &id
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.RenewTime = &t
	if newHolder {
		lease.Spec.AcquireTime = &t
		transitions := int32(0)
		if lease.Spec.LeaseTransitions != nil {
			transitions = *lease.Spec.LeaseTransitions + 1
		}
		lease.Spec.LeaseTransitions = &transitions
	}
}

// Release gives the Lease up after a clean stop, so the peer need not wait
// for it to expire. Only our own Lease is released.
func (l *Lease) Release(ctx context.Context) error {
	cur, err := l.Client.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.Identity {
		return nil
	}
	next := cur.DeepCopy()
	empty := ""
	next.Spec.HolderIdentity = &empty
	delete(next.Annotations, ExpiredHolderAnnotation)
	_, err = l.Client.Update(ctx, next, metav1.UpdateOptions{})
	l.setLastRenew(time.Time{})
	return err
}

// ErrLost means renewals failed past the renew deadline: the holder must
// stop serving now.
var ErrLost = errors.New("lease lost: could not renew before the deadline")

// Hold renews the Lease until ctx ends (nil) or the renew deadline passes
// without a successful renewal (ErrLost), which the caller turns into
// "stop serving". Transient API errors are retried until then.
//
// guard (may be nil) says whether DRBD alone keeps the peer from promoting:
// this node is Primary with its peer connected (docs/failover.md). It is
// asked every RenewInterval, within a bound (askGuard), and decides two
// things:
//   - Quiet renewals: while it holds (and Quiet > Duration), the Lease is
//     written with duration Quiet every Quiet/5, otherwise with Duration
//     every Duration/5. When it stops holding (the link is gone), the
//     Lease is renewed at once with Duration, and the deadline is cut to
//     half a Duration from then, since the peer now shortens the Lease
//     to one Duration (PeerLost).
//   - Serving on: past the deadline a holder whose guard holds goes on
//     trying to renew instead of giving up: an API server outage (an
//     upgrade, an etcd election) then stops no target.
//
// Another holder (HeldError) always ends the hold: that node took the
// Lease and will take over once this one stops.
func (l *Lease) Hold(ctx context.Context, sleep func(context.Context, time.Duration) bool, guard func(context.Context) bool) error {
	for {
		if !sleep(ctx, l.RenewInterval()) {
			return nil
		}
		if l.lastRenew.IsZero() {
			return fmt.Errorf("%w: not acquired", ErrLost)
		}
		guarded := l.askGuard(ctx, guard)
		l.vouched = guarded
		want := l.Duration
		if guarded && l.Quiet > l.Duration {
			want = l.Quiet
		} else if l.written > l.Duration {
			// Left quiet renewals: the link is gone.
			if cut := l.now().Add(l.RenewDeadline()); cut.Before(l.deadline) {
				l.deadline = cut
			}
		}
		if want == l.written && l.now().Sub(l.lastRenew) < want/5 && l.now().Before(l.deadline) {
			continue
		}
		// A renewal that hangs (packets to the API server dropped, not
		// refused) must not outlive the renew deadline: past it the holder
		// has to be stopping, whatever the request would have said, unless
		// the guard holds.
		left := l.deadline.Sub(l.now())
		if left <= 0 {
			if !guarded {
				return fmt.Errorf("%w: no renewal within %s", ErrLost, l.RenewDeadline())
			}
			left = l.RenewInterval()
		}
		actx, cancel := context.WithTimeout(ctx, left)
		err := l.tryAcquire(actx, want)
		cancel()
		var held *HeldError
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.As(err, &held):
			// Someone else holds it: they saw ours expire. Stop at once.
			l.setLastRenew(time.Time{})
			return fmt.Errorf("%w: %w", ErrLost, err)
		case !l.Held() && !guarded:
			return fmt.Errorf("%w: %w", ErrLost, err)
		}
	}
}

// askGuard asks guard (false when nil) within a bound that leaves the
// renewal its time: at most RenewInterval, and at most half of what is left
// before the renew deadline. A guard that cannot answer within that (a
// drbdadm slowed by a loaded host) counts as not holding: the holder then
// renews with Duration, which is always safe, instead of missing the
// deadline while it waited (the VM suite saw a holder lose its Lease so).
// Past the deadline (serving on through an API outage) the guard gets a
// whole RenewInterval: no renewal is left to protect.
func (l *Lease) askGuard(ctx context.Context, guard func(context.Context) bool) bool {
	if guard == nil {
		return false
	}
	budget := l.RenewInterval()
	if left := l.deadline.Sub(l.now()); left > 0 && left/2 < budget {
		budget = left / 2
	}
	gctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	return guard(gctx)
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Observe reads the Lease without writing it and reports its holder and
// whether that holder is live: it renewed within a whole Duration of this
// process's observation. A missing Lease or no holder is not live.
func (l *Lease) Observe(ctx context.Context) (holder string, live bool, err error) {
	cur, err := l.Client.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Its marks went with it: none may outlive it here.
		l.peerLostBy, l.outdatedMark, l.expiredHolder = "", "", ""
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	l.observe(cur)
	if cur.Spec.HolderIdentity != nil {
		holder = *cur.Spec.HolderIdentity
	}
	return holder, holder != "" && l.now().Sub(l.observedAt) < l.durationOf(cur), nil
}

// ErrRenewed means the Lease changed since it was observed.
var ErrRenewed = errors.New("lease changed since it was observed")

// ClearExpiredHolder empties the holder of a Lease that Observe found not
// live, with an update conditioned on the version observed (a renewal in
// between makes it fail with ErrRenewed and writes nothing). It names the
// old holder in ExpiredHolderAnnotation for the next one; everything else
// on the Lease (the fencing mark) is kept.
func (l *Lease) ClearExpiredHolder(ctx context.Context) error {
	cur, err := l.Client.Get(ctx, l.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.ResourceVersion != l.observedVersion || l.now().Sub(l.observedAt) < l.durationOf(cur) {
		return ErrRenewed
	}
	next := cur.DeepCopy()
	empty := ""
	if holder := cur.Spec.HolderIdentity; holder != nil && *holder != "" {
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[ExpiredHolderAnnotation] = *holder
	}
	next.Spec.HolderIdentity = &empty
	updated, err := l.Client.Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return ErrRenewed
	}
	if err != nil {
		return err
	}
	l.observedVersion, l.observedAt = updated.ResourceVersion, l.now()
	return nil
}
