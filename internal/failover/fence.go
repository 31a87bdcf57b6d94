package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OutdatedAnnotation on a target's Lease names the node whose DRBD copy of
// the target is outdated: its peer went on writing without it. DRBD's own
// "Outdated" disk state cannot be set on a peer that is unreachable, which
// is exactly when it matters; the Lease is reachable by whoever may serve.
const OutdatedAnnotation = "kube-lustre.io/outdated"

// Unverified, as the value of OutdatedAnnotation, marks a Lease created
// with no history: it replaced one that went with a deleted namespace, a
// renamed release or a hand, together with any outdated mark it carried,
// so nothing says which copy is stale. A node then serves only with its
// DRBD peer connected (DRBD compares the copies itself and resyncs the
// stale one), and the mark goes once the pair is seen in sync
// (UnfenceInSync, Lease.Verify). A new pair's Lease starts with it too:
// its first sync needs the peer connected anyway.
const Unverified = "*"

// PeerLostAnnotation on a target's Lease names the node that cut the
// holder's quiet Lease back to one Duration because it lost its DRBD link
// to the holder (PeerLost); the holder's next renewal removes it.
const PeerLostAnnotation = "kube-lustre.io/peer-lost"

// fence-peer exit codes, as DRBD reads them (drbd.conf, handlers section).
const (
	// FencedOutdated: the peer's copy is now considered outdated; a
	// frozen Primary resumes I/O, a Secondary may be promoted.
	FencedOutdated = 4
	// FenceRefused: the peer is (or may be) the active side. DRBD keeps
	// I/O frozen on a Primary and refuses to promote a Secondary.
	FenceRefused = 6
	// FenceFailed: the decision could not be made or recorded (API
	// unreachable, conflicting write); DRBD treats it as a failed fence.
	FenceFailed = 1
)

// FencePeer is the fence-peer decision for resource on self, whose peer's
// connection is gone. Only the holder of the target's Lease may declare
// its peer outdated, and it does so by recording the mark on the Lease
// with the version it read (an update racing a takeover fails with
// Conflict, never overwrites). A node the Lease marks outdated itself never
// fences its peer: its own copy is the stale one. It also returns the
// reason for its answer, for the log an operator reads when DRBD froze I/O
// or refused a promotion.
func FencePeer(ctx context.Context, leases LeaseClient, leaseName, self, peer string) (int, string) {
	cur, err := leases.Get(ctx, leaseName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Nobody holds a Lease that does not exist, so neither do we.
		return FenceRefused, "Lease " + leaseName + " does not exist: this node does not hold it"
	case err != nil:
		return FenceFailed, "reading Lease " + leaseName + ": " + err.Error()
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != self {
		holder := "nobody"
		if cur.Spec.HolderIdentity != nil {
			holder = *cur.Spec.HolderIdentity
		}
		return FenceRefused, "Lease " + leaseName + " is held by " + holder + ", not this node"
	}
	switch cur.Annotations[OutdatedAnnotation] {
	case self:
		return FenceRefused, "Lease " + leaseName + " marks this node's own copy outdated"
	case peer:
		return FencedOutdated, "Lease " + leaseName + " already marks " + peer + " outdated"
	}
	next := cur.DeepCopy()
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[OutdatedAnnotation] = peer
	if _, err := leases.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return FenceFailed, "marking " + peer + " outdated on Lease " + leaseName + ": " + err.Error()
	}
	return FencedOutdated, "marked " + peer + " outdated on Lease " + leaseName
}

// PeerLost is the Secondary's report that its DRBD link to the holder,
// peer, is gone: a quiet Lease (one written with a duration above d while
// the link vouched for the holder) is cut back to d, with an update
// conditioned on the version read. Observers then time the Lease from this
// write, so a crashed holder is taken over d after its peer noticed, and a
// live one has renewed (fast) or fenced by then. It returns whether it cut.
// A Lease held by anyone else, already short, or marking self outdated
// (self cannot take over) is left alone.
func PeerLost(ctx context.Context, leases LeaseClient, leaseName, self, peer string, d time.Duration) (bool, error) {
	cut, err := cutQuiet(ctx, leases, leaseName, peer, d, self)
	return cut != nil, err
}

// cutQuiet rewrites the duration of a Lease holder holds to d when it is
// longer (a quiet Lease), conditioned on the version read, and returns
// what it wrote (nil: nothing). by, unless empty, is the peer reporting
// the lost link: it is written in PeerLostAnnotation, and nothing is cut
// when the Lease marks by's own copy outdated.
func cutQuiet(ctx context.Context, leases LeaseClient, leaseName, holder string, d time.Duration, by string) (*coordinationv1.Lease, error) {
	if d < time.Second {
		return nil, fmt.Errorf("no Lease duration to cut %s to", leaseName)
	}
	cur, err := leases.Get(ctx, leaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	secs := int32(d / time.Second)
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != holder || (by != "" && cur.Annotations[OutdatedAnnotation] == by) ||
		cur.Spec.LeaseDurationSeconds == nil || *cur.Spec.LeaseDurationSeconds <= secs {
		return nil, nil
	}
	next := cur.DeepCopy()
	next.Spec.LeaseDurationSeconds = &secs
	if by != "" {
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[PeerLostAnnotation] = by
	}
	return leases.Update(ctx, next, metav1.UpdateOptions{})
}

// Unfence clears the mark after this node's copy was resynced
// (after-resync-target): only a mark naming self, so a late call cannot
// erase a mark a newer fence put on the peer.
func Unfence(ctx context.Context, leases LeaseClient, leaseName, self string) error {
	_, err := UnfenceInSync(ctx, leases, leaseName, self, func() bool { return true })
	return err
}

// UnfenceInSync clears a mark naming self (or Unverified) once this node's
// copy is seen in sync with its peer again, for when the after-resync-target handler could
// not (its agent or the API was away at the end of the resync, or the
// pair reconnected without a resync). The order makes it safe: read the
// Lease, then observe (inSync), then write with the version read. A fence
// that marked self again after the read changes the version, so the write
// fails instead of erasing the newer mark. It returns whether it cleared.
func UnfenceInSync(ctx context.Context, leases LeaseClient, leaseName, self string, inSync func() bool) (bool, error) {
	cleared, _, err := clearMark(ctx, leases, leaseName, func(mark string) bool { return mark == self || mark == Unverified }, inSync)
	return cleared, err
}

// clearMark removes the outdated mark when which accepts it and inSync
// holds, with an update conditioned on the version read. It also returns
// the mark it read ("" for none or no Lease), which is still there unless
// it cleared it.
func clearMark(ctx context.Context, leases LeaseClient, leaseName string, which func(string) bool, inSync func() bool) (bool, string, error) {
	cur, err := leases.Get(ctx, leaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	mark := cur.Annotations[OutdatedAnnotation]
	if !which(mark) || !inSync() {
		return false, mark, nil
	}
	next := cur.DeepCopy()
	delete(next.Annotations, OutdatedAnnotation)
	if _, err := leases.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return false, mark, err
	}
	return true, mark, nil
}

// Outdated returns the node the Lease marks outdated ("" for none or no
// Lease).
func Outdated(ctx context.Context, leases LeaseClient, leaseName string) (string, error) {
	cur, err := leases.Get(ctx, leaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return cur.Annotations[OutdatedAnnotation], nil
}

// OutdatedError says this node must not serve: its peer wrote on alone.
type OutdatedError struct {
	Lease, Node string
}

// Unverified reports the mark of a Lease with no history (Unverified):
// the node may serve once its DRBD peer is connected.
func (e *OutdatedError) Unverified() bool { return e.Node == Unverified }

func (e *OutdatedError) Error() string {
	if e.Unverified() {
		return fmt.Sprintf("no record of which copy is current: Lease %s was created after its predecessor was lost (a deleted namespace, a renamed release, a deleted Lease), together with any mark of a stale copy; "+
			"this node serves only once its DRBD peer is connected, so that DRBD compares the copies and resyncs the stale one. "+
			"If the peer is lost for good and this copy is known to be the newest, remove the mark: kubectl annotate lease %s %s-", e.Lease, e.Lease, OutdatedAnnotation)
	}
	return fmt.Sprintf("this node's copy is Outdated: Lease %s marks %s outdated (its peer acknowledged writes without it); waiting for a resync from the peer", e.Lease, e.Node)
}

// CheckNotOutdated returns an *OutdatedError when the Lease marks
// l.Identity outdated: the check before this node promotes.
func (l *Lease) CheckNotOutdated(ctx context.Context) error {
	marked, err := Outdated(ctx, l.Client, l.Name)
	if err != nil {
		return fmt.Errorf("reading the outdated mark: %w", err)
	}
	if marked == l.Identity || marked == Unverified {
		return &OutdatedError{Lease: l.Name, Node: marked}
	}
	return nil
}

// Verify clears the Unverified mark once inSync (a fresh observation)
// says the two copies are connected and current; it reports whether the
// Lease carries no such mark any more, from the one read it makes. As
// UnfenceInSync: read, observe, then write with the version read.
func (l *Lease) Verify(ctx context.Context, inSync func() bool) (bool, error) {
	cleared, mark, err := clearMark(ctx, l.Client, l.Name, func(mark string) bool { return mark == Unverified }, inSync)
	if err != nil {
		return false, err
	}
	return cleared || mark != Unverified, nil
}

// IsOutdated reports whether err is (or wraps) an *OutdatedError.
func IsOutdated(err error) bool {
	var o *OutdatedError
	return errors.As(err, &o)
}

// Fenced is what a node's fence decisions need to know of one DRBD
// resource: its target's Lease and the node at the other end.
type Fenced struct {
	Lease, Peer string
}

// Fencer answers DRBD's handlers for the resources of one node, by DRBD
// resource name (the name DRBD passes the handler).
type Fencer struct {
	Leases    LeaseClient
	Node      string
	Resources map[string]Fenced
	// Duration is failover.leaseSeconds: what PeerLost cuts a quiet
	// Lease back to.
	Duration time.Duration
	// Log, when set, gets every decision and its reason.
	Log *slog.Logger
}

// UnfenceInSync is UnfenceInSync for resource (see there); an unknown
// resource clears nothing.
func (f *Fencer) UnfenceInSync(ctx context.Context, resource string, inSync func() bool) (bool, error) {
	r, ok := f.Resources[resource]
	if !ok {
		return false, nil
	}
	return UnfenceInSync(ctx, f.Leases, r.Lease, f.Node, inSync)
}

// PeerLost reports that this node, Secondary of resource, lost its link
// to the peer (see PeerLost); an unknown resource reports nothing.
//
// A Lease it cut is handed over (ClearExpiredHolder, as the failover
// controller does) once it has gone a whole Duration unchanged by this
// node's clock, read when the cut returned: no observer can have seen the
// cut earlier, so none judges the Lease expired sooner, and the target pod
// waiting here takes it at its next look instead of a Duration after its
// own first sight of the cut (a replacement started during the wait) or
// after the controller's next pass. Until ctx ends.
func (f *Fencer) PeerLost(ctx context.Context, resource string) (bool, error) {
	r, ok := f.Resources[resource]
	if !ok {
		return false, nil
	}
	cut, err := cutQuiet(ctx, f.Leases, r.Lease, r.Peer, f.Duration, f.Node)
	if cut == nil || err != nil {
		return false, err
	}
	l := &Lease{Client: f.Leases, Name: r.Lease, Duration: f.Duration, observedVersion: cut.ResourceVersion, observedAt: time.Now()}
	go func() {
		if !Sleep(ctx, f.Duration) {
			return
		}
		switch err := l.ClearExpiredHolder(ctx); {
		case err == nil:
			f.log("peer-lost", resource, 0, "handed Lease "+r.Lease+" over: "+r.Peer+" wrote nothing for a whole Lease after this node cut it")
		case errors.Is(err, ErrRenewed):
			f.log("peer-lost", resource, 0, "Lease "+r.Lease+" changed after the cut (renewed, fenced or taken): not handed over")
		default:
			f.log("peer-lost", resource, FenceFailed, "could not hand Lease "+r.Lease+" over: "+err.Error())
		}
	}()
	return true, nil
}

// FencePeer is the fence-peer answer for resource; an unknown resource
// fails the fence rather than guess.
func (f *Fencer) FencePeer(ctx context.Context, resource string) int {
	r, ok := f.Resources[resource]
	if !ok {
		f.log("fence-peer", resource, FenceFailed, "not a DRBD resource of this node")
		return FenceFailed
	}
	code, why := FencePeer(ctx, f.Leases, r.Lease, f.Node, r.Peer)
	f.log("fence-peer", resource, code, why)
	if code == FencedOutdated && f.Duration > 0 {
		// This holder just lost its link: its quiet Lease no longer has
		// DRBD behind it. Cut it now rather than at the target pod's next
		// check, which a crash right after the fence would never reach
		// (its peer, marked outdated, does not cut it).
		if _, err := cutQuiet(ctx, f.Leases, r.Lease, f.Node, f.Duration, ""); err != nil {
			f.log("fence-peer", resource, code, "could not cut the quiet Lease: "+err.Error())
		}
	}
	return code
}

// Unfence is the after-resync-target answer for resource: 0 when the mark
// on this node is cleared (or there was none), 1 otherwise. DRBD only logs
// that exit code; the target's start keeps refusing until a later resync
// or an operator clears the mark.
func (f *Fencer) Unfence(ctx context.Context, resource string) int {
	r, ok := f.Resources[resource]
	if !ok {
		f.log("unfence", resource, FenceFailed, "not a DRBD resource of this node")
		return FenceFailed
	}
	if err := Unfence(ctx, f.Leases, r.Lease, f.Node); err != nil {
		f.log("unfence", resource, FenceFailed, err.Error())
		return FenceFailed
	}
	f.log("unfence", resource, 0, "this node's copy carries no outdated mark")
	return 0
}

func (f *Fencer) log(op, resource string, code int, why string) {
	if f.Log != nil {
		f.Log.Info("fence decision", "op", op, "resource", resource, "exit", code, "reason", why)
	}
}
