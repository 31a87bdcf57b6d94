package failover

import (
	"context"
	"io"
	"log/slog"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
)

// rollWorld: three targets' StatefulSets at revision "new", their pods
// made from revs (the pod's controller-revision-hash), all Ready.
func rollWorld(t *testing.T, revs ...string) (*fake.Clientset, *Controller) {
	t.Helper()
	cs := fake.NewClientset(readyNode("s1", true))
	ctx := context.Background()
	for i, rev := range revs {
		name := []string{"lfs1-mdt0", "lfs1-ost0", "lfs1-ost1"}[i]
		labels := map[string]string{"app.kubernetes.io/component": "target"}
		set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Generation: 2},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, UpdateRevision: name + "-new"}}
		if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := targetPod(name+"-0", "s1")
		p.Labels[revisionLabel] = name + "-" + rev
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return cs, &Controller{Pods: cs.CoreV1().Pods(ns), Nodes: cs.CoreV1().Nodes(), Leases: leasetest.New().Client(nil),
		Events: cs.CoreV1().Events(ns), StatefulSets: cs.AppsV1().StatefulSets(ns), Selector: "app.kubernetes.io/component=target",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func pods(t *testing.T, cs *fake.Clientset) map[string]*corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*corev1.Pod{}
	for i := range l.Items {
		out[l.Items[i].Name] = &l.Items[i]
	}
	return out
}

// An upgrade that changed every target's template restarts one target
// at a time: a pod is deleted only while every other target serves, and
// the next only once its replacement is Ready.
func TestRollingRestartOneTargetAtATime(t *testing.T) {
	t.Parallel()
	cs, ctl := rollWorld(t, "old", "old", "new")
	ctx := context.Background()
	ds, err := ctl.Reconcile(ctx)
	if err != nil || len(ds) != 1 || !ds[0].Rolled || ds[0].Pod != "lfs1-mdt0-0" {
		t.Fatalf("first pass: %+v %v, want mdt0's pod restarted", ds, err)
	}
	if _, ok := pods(t, cs)["lfs1-mdt0-0"]; ok {
		t.Fatal("mdt0's pod was not deleted")
	}
	// Its replacement does not exist yet, then is not Ready: nothing else.
	for _, step := range []string{"missing", "not ready"} {
		if step == "not ready" {
			p := targetPod("lfs1-mdt0-0", "s1")
			p.Labels[revisionLabel] = "lfs1-mdt0-new"
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if ds, err := ctl.Reconcile(ctx); err != nil || len(ds) != 0 {
			t.Fatalf("pass with mdt0 %s: %+v %v, want nothing restarted", step, ds, err)
		}
	}
	p := pods(t, cs)["lfs1-mdt0-0"]
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err = ctl.Reconcile(ctx)
	if err != nil || len(ds) != 1 || ds[0].Pod != "lfs1-ost0-0" {
		t.Fatalf("pass with mdt0 serving again: %+v %v, want ost0 next", ds, err)
	}
	if _, ok := pods(t, cs)["lfs1-ost1-0"]; !ok {
		t.Fatal("ost1, already on the new template, was restarted")
	}
}

// A StatefulSet whose controller has not taken its new template in yet
// (observedGeneration behind) says nothing about which pods are old.
func TestRollingRestartWaitsForTheStatefulSetController(t *testing.T) {
	t.Parallel()
	cs, ctl := rollWorld(t, "old", "new", "new")
	ctx := context.Background()
	s, _ := cs.AppsV1().StatefulSets(ns).Get(ctx, "lfs1-ost1", metav1.GetOptions{})
	s.Generation = 3
	if _, err := cs.AppsV1().StatefulSets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ds, err := ctl.Reconcile(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("%+v %v, want nothing while ost1's StatefulSet is being processed", ds, err)
	}
}
