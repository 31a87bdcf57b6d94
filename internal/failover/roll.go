package failover

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StatefulSetLister lists StatefulSets (one namespace; the typed
// StatefulSetInterface's List).
type StatefulSetLister interface {
	List(ctx context.Context, opts metav1.ListOptions) (*appsv1.StatefulSetList, error)
}

// revisionLabel is the label the StatefulSet controller puts on each pod:
// the revision of the template it was made from.
const revisionLabel = "controller-revision-hash"

// roll restarts target pods on a new template one at a time. The chart
// gives target StatefulSets updateStrategy OnDelete when this controller
// runs: left to themselves, an upgrade that changes every target's
// template (an image, a setting all pods carry) would restart every target
// at once and take the whole filesystem through Lustre recovery. Here a
// pod is deleted (a clean stop: unmount, export, demote, release) only
// when every target's pod exists, is Ready (serving) and not stopping, so
// each target is back to serving before the next one stops. A target that
// does not come back holds the rollout; nothing else is restarted meanwhile.
func (c *Controller) roll(ctx context.Context, pods []corev1.Pod) (*Decision, error) {
	if c.StatefulSets == nil {
		return nil, nil
	}
	sets, err := c.StatefulSets.List(ctx, metav1.ListOptions{LabelSelector: c.Selector})
	if err != nil {
		return nil, fmt.Errorf("list target StatefulSets: %w", err)
	}
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	sort.Slice(sets.Items, func(i, j int) bool { return sets.Items[i].Name < sets.Items[j].Name })
	var next *corev1.Pod
	var nextSet *appsv1.StatefulSet
	for i := range sets.Items {
		s := &sets.Items[i]
		p := byName[s.Name+"-0"]
		switch {
		case s.Status.ObservedGeneration < s.Generation || s.Status.UpdateRevision == "":
			return nil, nil // its controller has not taken the new template in yet
		case p == nil || p.DeletionTimestamp != nil || !podReady(p):
			return nil, nil // a target is not serving: restart nothing else now
		case next == nil && p.Labels[revisionLabel] != s.Status.UpdateRevision:
			next, nextSet = p, s
		}
	}
	if next == nil {
		return nil, nil
	}
	msg := fmt.Sprintf("restarting %s on its StatefulSet's new template (revision %s, was %s): every other target serves", next.Name, nextSet.Status.UpdateRevision, next.Labels[revisionLabel])
	if err := c.Pods.Delete(ctx, next.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &next.UID}}); err != nil {
		return nil, fmt.Errorf("rolling restart of %s: %w", next.Name, err)
	}
	c.Log.Info("rolling restart", "pod", next.Name, "revision", nextSet.Status.UpdateRevision)
	c.record(ctx, next, corev1.EventTypeNormal, "RollingRestart", msg)
	return &Decision{Pod: next.Name, Node: next.Spec.NodeName, Rolled: true, Reason: msg}, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
