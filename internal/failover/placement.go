package failover

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlacementGate is the scheduling gate every target pod is created with
// (the chart's target StatefulSets, failover.mode automatic). The
// scheduler leaves a gated pod alone; the controller releases it, pinned
// to the node with the target's good data when the Lease says only one
// node has it (PlaceOnData), else as it is: the StatefulSet's preferred
// node affinity then sends it home.
const PlacementGate = "kube-lustre.io/placement"

// HostnameLabel is the node label the target pods' node affinity and the
// controller's pin match: it equals the node name on kubeadm and kind
// clusters, as the chart assumes.
const HostnameLabel = "kubernetes.io/hostname"

// PlaceOnData is the node of pair a target's next pod must run on, judged
// from the target's Lease alone, and why; "" when the Lease prefers
// neither node. A node the Lease marks outdated has a copy without the
// writes its peer acknowledged alone, until a resync from that peer clears
// the mark: its peer has the good data. Without a mark, a live holder is
// the node serving (or still stopping) the data, unless its peer marked
// it lost (lostBy, PeerLostAnnotation: the peer's DRBD lost the link to
// it while the peer's own copy was UpToDate, and it has not written the
// Lease since): the pod is then being released early from a holder that
// is most likely dead (Controller.peerSawItGo), and belongs on that peer.
// Placement is only about availability: wherever the pod lands, it
// serves only under the Lease and never from an outdated copy.
func PlaceOnData(outdated, lostBy, holder string, live bool, pair []string) (string, string) {
	if len(pair) == 2 && outdated != "" && slices.Contains(pair, outdated) {
		good := pair[0]
		if good == outdated {
			good = pair[1]
		}
		return good, fmt.Sprintf("the Lease marks %s's copy outdated (its peer wrote on without it; it serves only after a resync from %s): %s has the data", outdated, good, good)
	}
	if lostBy != "" && lostBy != holder && slices.Contains(pair, lostBy) && (holder == "" || slices.Contains(pair, holder)) {
		return lostBy, fmt.Sprintf("%s, UpToDate, lost its DRBD link to the holder, which has not written the Lease since", lostBy)
	}
	if live && holder != "" && slices.Contains(pair, holder) {
		return holder, fmt.Sprintf("%s still holds the Lease", holder)
	}
	return "", ""
}

// podPair is the target's node pair from its pod's required node affinity
// (the chart renders exactly one term: hostname In <nodes>).
func podPair(p *corev1.Pod) []string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 {
		return nil
	}
	for _, e := range terms[0].MatchExpressions {
		if e.Key == HostnameLabel && e.Operator == corev1.NodeSelectorOpIn {
			return e.Values
		}
	}
	return nil
}

func gated(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == PlacementGate })
}

// canHost says whether the scheduler could place p on n now: Ready, not
// cordoned, and every NoSchedule or NoExecute taint tolerated. Pinning a
// pod to a node that cannot take it would leave the target with no pod at
// all; then the scheduler chooses, and the pod waits where it lands.
func canHost(n *corev1.Node, p *corev1.Pod) (bool, string) {
	if !nodeReady(n) {
		return false, "not Ready"
	}
	if n.Spec.Unschedulable {
		return false, "cordoned"
	}
	for i := range n.Spec.Taints {
		taint := &n.Spec.Taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool { return tolerates(t, taint) }) {
			return false, "tainted " + taint.ToString()
		}
	}
	return true, ""
}

// tolerates is the scheduler's match of a toleration with the Exists and
// Equal operators (the only ones the chart renders).
func tolerates(t corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return t.Key != "" && t.Value == taint.Value
	}
	return false
}

// placement is what the target's Lease says of where its pod should run.
type placement struct {
	good, why string // PlaceOnData
	ok        bool   // good can take the pod now
}

// dataNode reads the target's Lease for pod p and, when it names a node
// with the good data, whether that node can take the pod now.
func (c *Controller) dataNode(ctx context.Context, p *corev1.Pod, obs *Lease) (placement, error) {
	holder, live, err := obs.Observe(ctx)
	if err != nil {
		return placement{}, err
	}
	// The marks as of the same read as the holder.
	var pl placement
	pl.good, pl.why = PlaceOnData(obs.outdatedMark, obs.PeerLostBy(), holder, live, podPair(p))
	if pl.good == "" {
		return pl, nil
	}
	n, err := c.Nodes.Get(ctx, pl.good, metav1.GetOptions{})
	if err != nil {
		pl.why += "; node " + pl.good + ": " + err.Error()
		return pl, nil
	}
	if can, whyNot := canHost(n, p); !can {
		pl.why += "; but " + pl.good + " is " + whyNot
		return pl, nil
	}
	pl.ok = true
	return pl, nil
}

// place releases a gated target pod: pinned (nodeSelector hostname, an
// addition the API allows on a gated pod) to the node with the good data
// when the Lease names one and it can take the pod, else as it is.
func (c *Controller) place(ctx context.Context, p *corev1.Pod, obs *Lease) (*Decision, error) {
	pl, err := c.dataNode(ctx, p, obs)
	if err != nil {
		return nil, fmt.Errorf("pod %s: lease %s: %w", p.Name, obs.Name, err)
	}
	good, why, ok := pl.good, pl.why, pl.ok
	if pinned, set := p.Spec.NodeSelector[HostnameLabel]; ok && set && pinned != good {
		// Only additions to a gated pod's nodeSelector are allowed.
		ok, why = false, why+"; but the pod's nodeSelector already names "+pinned
	}
	next := p.DeepCopy()
	next.Spec.SchedulingGates = slices.DeleteFunc(next.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == PlacementGate })
	d := &Decision{Pod: p.Name, Lease: obs.Name, Placed: true}
	switch {
	case ok:
		if next.Spec.NodeSelector == nil {
			next.Spec.NodeSelector = map[string]string{}
		}
		next.Spec.NodeSelector[HostnameLabel] = good
		d.Node = good
		d.Reason = fmt.Sprintf("pod released onto %s only: %s", good, why)
	case good != "":
		d.Reason = fmt.Sprintf("pod released to the scheduler: %s; it waits where it lands until it may serve", why)
	default:
		d.Reason = "pod released to the scheduler: the Lease prefers neither node"
	}
	if _, err := c.Pods.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("release pod %s: %w", p.Name, err)
	}
	where := "scheduler"
	if ok {
		where = "node_with_data"
	}
	c.Metrics.Placed(podEnv(p, "KUBE_LUSTRE_TARGET"), where)
	if good != "" {
		kind, reason := corev1.EventTypeNormal, "PlacedOnNodeWithData"
		if !ok {
			kind, reason = corev1.EventTypeWarning, "NodeWithDataUnavailable"
		}
		c.record(ctx, p, kind, reason, d.Reason)
		c.Log.Info("placed target pod", "pod", p.Name, "node", d.Node, "lease", obs.Name, "reason", d.Reason)
	}
	return d, nil
}
