package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

// PodClient is the part of client-go's typed PodInterface (one namespace)
// the controller uses.
type PodClient interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	Update(ctx context.Context, pod *corev1.Pod, opts metav1.UpdateOptions) (*corev1.Pod, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// NodeGetter reads nodes.
type NodeGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Node, error)
}

// EventClient records Events (one namespace).
type EventClient interface {
	Create(ctx context.Context, e *corev1.Event, opts metav1.CreateOptions) (*corev1.Event, error)
}

// Controller releases a target pod stuck on a dead node so its
// StatefulSet starts the replacement on the peer. A StatefulSet never
// replaces a pod whose node stopped answering: the pod stays Terminating
// until something deletes it. The controller does, but only when the
// node is not Ready AND the target's Lease is not live (its holder stopped
// renewing a whole Lease ago by our own clock, or someone else holds it):
// the holder stops serving before that, so releasing the pod cannot make
// two nodes serve. It never acts while the Lease is live.
//
// It also places target pods where the data is (placement.go): each new
// target pod is created with the PlacementGate, and the controller
// releases it onto the node with the target's good data when the Lease
// marks the other node's copy outdated (or the other node still holds it).
type Controller struct {
	Pods   PodClient
	Nodes  NodeGetter
	Leases LeaseClient
	Events EventClient
	// StatefulSets, when set (the chart's targets use updateStrategy
	// OnDelete), lets the controller restart target pods on a new
	// template one at a time (roll.go).
	StatefulSets StatefulSetLister
	Selector     string        // label selector of the release's target pods
	Duration     time.Duration // failover.leaseSeconds
	Log          *slog.Logger
	Now          func() time.Time
	// Metrics records releases, placements and each failover's duration
	// (nil: none).
	Metrics *metrics.Failover

	observers map[string]*Lease // one per target Lease: observation state
	said      map[string]string // pod -> last decision recorded, to not repeat Events
	// moving: targets released from a dead node, by Lease name, until
	// their pod is Ready on another node (the failover's end).
	moving map[string]move
}

// move is a failover under way: from the node released, for the reason
// (node_not_ready, peer_lost), since the old node's last sign of life as
// this controller saw it (the Lease's last change: a renewal, or the
// peer's peer-lost mark).
type move struct {
	target, from, reason string
	since                time.Time
}

// Decision is what one pass decided for one pod.
type Decision struct {
	Pod, Node, Lease, Holder string
	// Released: force-deleted from a dead node.
	Released bool
	// Placed: a gated pod released to the scheduler, pinned to Node
	// unless Node is empty.
	Placed bool
	// Rolled: deleted for its StatefulSet's new template (roll.go).
	Rolled bool
	Reason string
}

// Reconcile makes one pass over the target pods.
func (c *Controller) Reconcile(ctx context.Context) ([]Decision, error) {
	if c.observers == nil {
		c.observers, c.said, c.moving = map[string]*Lease{}, map[string]string{}, map[string]move{}
	}
	pods, err := c.Pods.List(ctx, metav1.ListOptions{LabelSelector: c.Selector})
	if err != nil {
		return nil, fmt.Errorf("list target pods: %w", err)
	}
	var out []Decision
	var errs []error
	for i := range pods.Items {
		c.moved(&pods.Items[i])
		d, err := c.decide(ctx, &pods.Items[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	if len(errs) == 0 && len(out) == 0 {
		// Only in a pass with nothing else to do: a failover goes first.
		d, err := c.roll(ctx, pods.Items)
		if err != nil {
			errs = append(errs, err)
		} else if d != nil {
			out = append(out, *d)
		}
	}
	return out, errors.Join(errs...)
}

func (c *Controller) decide(ctx context.Context, p *corev1.Pod) (*Decision, error) {
	if p.Spec.NodeName == "" && !gated(p) {
		return nil, nil
	}
	leaseName := podEnv(p, "KUBE_LUSTRE_LEASE")
	if leaseName == "" {
		return nil, fmt.Errorf("pod %s has no KUBE_LUSTRE_LEASE: not a kube-lustre target pod", p.Name)
	}
	obs, ok := c.observers[leaseName]
	if !ok {
		obs = &Lease{Client: c.Leases, Name: leaseName, Duration: c.Duration, Now: c.Now}
		c.observers[leaseName] = obs
	}
	if p.Spec.NodeName == "" {
		return c.place(ctx, p, obs)
	}
	// Observe on every pass, whatever the node's state: the Lease's
	// expiry then runs from its last renewal as this controller saw it,
	// not from the moment the node was declared NotReady, which would add
	// a node-monitor grace period to every failover.
	holder, live, err := obs.Observe(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod %s: lease %s: %w", p.Name, leaseName, err)
	}
	lastSign := obs.observedAt // before ClearExpiredHolder writes the Lease
	node, err := c.Nodes.Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("pod %s: node %s: %w", p.Name, p.Spec.NodeName, err)
	}
	lostBy := obs.PeerLostBy()
	peerSawItGo := c.peerSawItGo(obs, holder, p.Spec.NodeName)
	if nodeReady(node) && !peerSawItGo {
		delete(c.said, p.Name)
		if holder != "" && holder != p.Spec.NodeName && !live {
			// This pod waits for a Lease whose holder stopped renewing a
			// whole Lease ago: hand it over, as below, so it need not
			// watch the Lease for a whole Lease of its own (it was
			// started while it ran, released early from a dead node).
			if err := obs.ClearExpiredHolder(ctx); err != nil && !errors.Is(err, ErrRenewed) {
				return nil, fmt.Errorf("pod %s: hand lease %s over: %w", p.Name, leaseName, err)
			}
		}
		return nil, nil
	}
	d := &Decision{Pod: p.Name, Node: p.Spec.NodeName, Lease: leaseName, Holder: holder}
	if live && holder == p.Spec.NodeName && !peerSawItGo {
		d.Reason = fmt.Sprintf("node %s is not Ready but still holds lease %s; waiting for it to expire", p.Spec.NodeName, leaseName)
		c.record(ctx, p, corev1.EventTypeWarning, "WaitingForLease", d.Reason)
		return d, nil
	}
	if holder == p.Spec.NodeName && !live {
		// Hand the expired Lease over now, so the replacement on the peer
		// need not watch it for a whole Lease of its own. Conditioned on
		// the version observed: if the holder renewed meanwhile, nothing
		// is written and nothing is released.
		switch err := obs.ClearExpiredHolder(ctx); {
		case errors.Is(err, ErrRenewed):
			d.Reason = fmt.Sprintf("lease %s was renewed by %s just now; not releasing", leaseName, holder)
			return d, nil
		case err != nil:
			return nil, fmt.Errorf("pod %s: clear lease %s: %w", p.Name, leaseName, err)
		}
	}
	// Force: the kubelet that would confirm the deletion is gone. The UID
	// precondition makes sure it is this pod, not a replacement of the
	// same name created meanwhile.
	zero := int64(0)
	uid := p.UID
	opts := metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}}
	if err := c.Pods.Delete(ctx, p.Name, opts); err != nil {
		return nil, fmt.Errorf("force-delete pod %s: %w", p.Name, err)
	}
	d.Released = true
	why, reason := fmt.Sprintf("node %s is not Ready", p.Spec.NodeName), "node_not_ready"
	if peerSawItGo {
		why, reason = fmt.Sprintf("%s lost its DRBD link to node %s", lostBy, p.Spec.NodeName), "peer_lost"
	}
	target := podEnv(p, "KUBE_LUSTRE_TARGET")
	if _, already := c.moving[leaseName]; !already {
		c.moving[leaseName] = move{target: target, from: p.Spec.NodeName, reason: reason, since: lastSign}
	}
	c.Metrics.Released(target, reason)
	d.Reason = fmt.Sprintf("%s and lease %s is not live (holder %q): pod released so the StatefulSet starts it on the peer", why, leaseName, holder)
	if live {
		d.Reason = fmt.Sprintf("%s, which has not written lease %s for half a Lease since: pod released so the StatefulSet starts it on the peer, where it waits for the Lease to expire", why, leaseName)
	}
	c.record(ctx, p, corev1.EventTypeNormal, "ReleasedFromDeadNode", d.Reason)
	c.Log.Info("released target pod", "pod", p.Name, "node", p.Spec.NodeName, "lease", leaseName, "holder", holder)
	return d, nil
}

// peerSawItGo says the target's DRBD peer saw node, the holder, go, and
// node has not written the Lease since for half a Lease: its pod is
// released without waiting for the Lease to expire, so that the
// replacement is started on the peer and waits there while it runs.
//
// A crashed node stays Ready for the node monitor's grace period (50 s by
// default) and its Lease live for a whole Lease: waiting for either would
// add the replacement's creation and start to every failover. The peer's
// mark (PeerLost, written when its DRBD lost the link to the Primary) is
// the target's own evidence, sooner, and the holder answers it within
// half a Lease whenever it is alive and reaches the API: its DRBD notices
// the same loss within ping-int + ping-timeout (2 s), its fence-peer then
// marks the peer outdated (which names the reporter: not this case), and
// its next check (every Lease/5) renews, which clears the mark. So a
// holder silent for half a Lease after the mark is dead, or cut off from
// the API as well, and stops on its own before its Lease expires
// (docs/failover.md). Releasing the pod decides nothing about the data:
// the replacement still takes the Lease only once it expired, and DRBD
// still refuses a second Primary. A Lease already handed over from node
// (ClearExpiredHolder after the peer's mark) has no holder left to wait
// for.
func (c *Controller) peerSawItGo(obs *Lease, holder, node string) bool {
	lostBy := obs.PeerLostBy()
	if lostBy == "" || lostBy == node || obs.outdatedMark == lostBy {
		return false
	}
	switch {
	case holder == node:
		return c.now().Sub(obs.observedAt) >= obs.RenewDeadline()
	case holder == "":
		return obs.expiredHolder == node
	}
	return false
}

// moved ends the failover of p's target once p is Ready on a node other
// than the one it was released from, and records how long it took.
func (c *Controller) moved(p *corev1.Pod) {
	lease := podEnv(p, "KUBE_LUSTRE_LEASE")
	m, ok := c.moving[lease]
	if !ok || p.Spec.NodeName == "" || p.Spec.NodeName == m.from || !podReady(p) {
		return
	}
	delete(c.moving, lease)
	took := c.now().Sub(m.since)
	c.Metrics.Completed(m.target, m.reason, took)
	c.Log.Info("failover done: target served on another node", "target", m.target, "from", m.from, "to", p.Spec.NodeName, "reason", m.reason, "seconds", took.Seconds())
}

func (c *Controller) record(ctx context.Context, p *corev1.Pod, kind, reason, msg string) {
	if c.said[p.Name] == reason {
		return
	}
	c.said[p.Name] = reason
	now := metav1.NewTime(c.now())
	ev := &corev1.Event{
		// Named as the event recorder names them: object name + time.
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", p.Name, now.UnixNano()), Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID, APIVersion: "v1"},
		Reason:         reason, Message: msg, Type: kind, Source: corev1.EventSource{Component: "kube-lustre-failover"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if _, err := c.Events.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		c.Log.Warn("could not record event", "pod", p.Name, "reason", reason, "err", err.Error())
	}
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podEnv(p *corev1.Pod, name string) string {
	for _, ct := range p.Spec.Containers {
		for _, e := range ct.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

// Run reconciles every interval while this replica holds the controller's
// own Lease (leader election between the replicas), until ctx ends. For a
// few intervals after it released a pod from a dead node it passes ten
// times as often: the replacement the StatefulSet creates is gated
// (PlacementGate), and releasing it is on the failover's path.
func (c *Controller) Run(ctx context.Context, leader *Lease, interval time.Duration) {
	var quickUntil time.Time
	for {
		quick := time.Now().Before(quickUntil)
		var err error
		if !quick || !leader.Held() {
			err = leader.TryAcquire(ctx)
		}
		c.Metrics.Leader(err == nil)
		if err == nil {
			ds, err := c.Reconcile(ctx)
			if err != nil {
				c.Log.Error("reconcile", "err", err.Error())
			}
			if slices.ContainsFunc(ds, func(d Decision) bool { return d.Released }) {
				quickUntil = time.Now().Add(5 * interval)
			}
		} else if !leaderHeldElsewhere(err) {
			c.Log.Warn("leader election", "err", err.Error())
		}
		wait := interval
		if time.Now().Before(quickUntil) {
			wait = interval / 10
		}
		if !Sleep(ctx, wait) {
			rctx, cancel := context.WithTimeout(context.Background(), interval)
			defer cancel()
			_ = leader.Release(rctx)
			return
		}
	}
}

func leaderHeldElsewhere(err error) bool {
	var h *HeldError
	return errors.As(err, &h)
}
