package failover

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
)

const (
	mdt0Pod   = "lfs1-kube-lustre-mdt0-0"
	mdt0Lease = "lfs1-kube-lustre-mdt0"
)

// statefulPod is mdt0's pod as its StatefulSet creates it: required on
// the pair s1, s2, preferred on s1, with the placement gate, not yet
// scheduled; node binds it (then without the gate), ready marks it Ready.
func statefulPod(node string, ready bool) *corev1.Pod {
	p := targetPod(mdt0Pod, node)
	hostIn := func(nodes ...string) []corev1.NodeSelectorRequirement {
		return []corev1.NodeSelectorRequirement{{Key: HostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: nodes}}
	}
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution:  &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: hostIn("s1", "s2")}}},
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 100, Preference: corev1.NodeSelectorTerm{MatchExpressions: hostIn("s1")}}},
	}}
	p.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	}
	if node == "" {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: PlacementGate}}
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

type placeWorld struct {
	cs     *fake.Clientset
	leases *leasetest.Store
	ctl    *Controller
}

// afterFailover is mdt0 after s1 crashed and s2 took over: s2's promotion
// fenced s1 (the Lease marks s1 outdated), s1 is back and Ready but its
// copy has not been resynced. Then s2's pod was deleted (a drain of
// nothing else, a rolling update, kubectl delete): it stopped cleanly and
// released the Lease, and the StatefulSet created pod, a replacement.
func afterFailover(t *testing.T, pod *corev1.Pod, nodes ...*corev1.Node) *placeWorld {
	t.Helper()
	if len(nodes) == 0 {
		nodes = []*corev1.Node{readyNode("s1", true), readyNode("s2", true)}
	}
	objs := []runtime.Object{pod}
	for _, n := range nodes {
		objs = append(objs, n)
	}
	w := &placeWorld{cs: fake.NewClientset(objs...), leases: leasetest.New()}
	api := w.leases.Client(nil)
	ctx := context.Background()
	s2 := &Lease{Client: api, Name: mdt0Lease, Identity: "s2", Duration: 10 * time.Second}
	if err := s2.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	if code, why := FencePeer(ctx, api, mdt0Lease, "s2", "s1"); code != FencedOutdated {
		t.Fatalf("fence: %d %s", code, why)
	}
	if err := s2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	w.ctl = &Controller{Pods: w.cs.CoreV1().Pods(ns), Nodes: w.cs.CoreV1().Nodes(), Leases: api, Events: w.cs.CoreV1().Events(ns),
		Selector: "app.kubernetes.io/component=target", Duration: 10 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return w
}

func (w *placeWorld) pass(t *testing.T) []Decision {
	t.Helper()
	d, err := w.ctl.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (w *placeWorld) pod(t *testing.T) *corev1.Pod {
	t.Helper()
	p, err := w.cs.CoreV1().Pods(ns).Get(context.Background(), mdt0Pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *placeWorld) events(t *testing.T) []string { return eventReasons(t, w.cs) }

// The bug: the replacement of s2's pod went back to the preferred s1,
// whose copy is outdated, and waited there while s2, with the data, had
// no pod. The controller releases it onto s2 only.
func TestReplacementGoesToTheNodeWithTheData(t *testing.T) {
	t.Parallel()
	w := afterFailover(t, statefulPod("", false))
	d := w.pass(t)
	p := w.pod(t)
	if len(p.Spec.SchedulingGates) != 0 {
		t.Fatalf("pod still gated: %v (decisions %+v)", p.Spec.SchedulingGates, d)
	}
	if got := p.Spec.NodeSelector[HostnameLabel]; got != "s2" {
		t.Fatalf("pod released with nodeSelector %v, want %s=s2 (s1's copy is outdated)", p.Spec.NodeSelector, HostnameLabel)
	}
	if len(d) != 1 || !d[0].Placed || d[0].Node != "s2" || !strings.Contains(d[0].Reason, "outdated") {
		t.Fatalf("decisions %+v", d)
	}
	if ev := w.events(t); !slices.Equal(ev, []string{"PlacedOnNodeWithData"}) {
		t.Fatalf("events %v", ev)
	}
	// The affinity the StatefulSet gave it is kept: the pin only narrows.
	if !slices.Equal(podPair(p), []string{"s1", "s2"}) {
		t.Fatalf("affinity changed: %+v", p.Spec.Affinity)
	}
}

// Once s1 resynced (the mark is gone) a new pod is released as the
// StatefulSet made it: its preference sends the target home.
func TestWithoutAMarkThePodIsReleasedAsItIs(t *testing.T) {
	t.Parallel()
	w := afterFailover(t, statefulPod("", false))
	if err := Unfence(context.Background(), w.leases.Client(nil), mdt0Lease, "s1"); err != nil {
		t.Fatal(err)
	}
	d := w.pass(t)
	p := w.pod(t)
	if len(p.Spec.SchedulingGates) != 0 || len(p.Spec.NodeSelector) != 0 {
		t.Fatalf("gates %v nodeSelector %v", p.Spec.SchedulingGates, p.Spec.NodeSelector)
	}
	if len(d) != 1 || !d[0].Placed || d[0].Node != "" || len(w.events(t)) != 0 {
		t.Fatalf("decisions %+v events %v", d, w.events(t))
	}
}

// A live holder is where the data is served (or still being stopped).
func TestALiveHolderKeepsThePod(t *testing.T) {
	t.Parallel()
	w := afterFailover(t, statefulPod("", false))
	api := w.leases.Client(nil)
	if err := Unfence(context.Background(), api, mdt0Lease, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := (&Lease{Client: api, Name: mdt0Lease, Identity: "s2", Duration: 10 * time.Second}).TryAcquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.pass(t)
	if got := w.pod(t).Spec.NodeSelector[HostnameLabel]; got != "s2" {
		t.Fatalf("nodeSelector %v, want the holder s2", w.pod(t).Spec.NodeSelector)
	}
}

// A node with the data that cannot take the pod (NotReady, cordoned,
// tainted) gets no pin: the pod is released to the scheduler and waits
// where it lands, as before, rather than having no pod at all.
func TestNodeWithTheDataUnavailable(t *testing.T) {
	t.Parallel()
	cordoned := readyNode("s2", true)
	cordoned.Spec.Unschedulable = true
	tainted := readyNode("s2", true)
	tainted.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/disk-pressure", Effect: corev1.TaintEffectNoSchedule}}
	for name, s2 := range map[string]*corev1.Node{"not ready": readyNode("s2", false), "cordoned": cordoned, "tainted": tainted} {
		t.Run(name, func(t *testing.T) {
			w := afterFailover(t, statefulPod("", false), readyNode("s1", true), s2)
			d := w.pass(t)
			p := w.pod(t)
			if len(p.Spec.SchedulingGates) != 0 || len(p.Spec.NodeSelector) != 0 {
				t.Fatalf("gates %v nodeSelector %v", p.Spec.SchedulingGates, p.Spec.NodeSelector)
			}
			if len(d) != 1 || !d[0].Placed || d[0].Node != "" || !strings.Contains(d[0].Reason, "s2 is") {
				t.Fatalf("decisions %+v", d)
			}
			if ev := w.events(t); !slices.Equal(ev, []string{"NodeWithDataUnavailable"}) {
				t.Fatalf("events %v", ev)
			}
		})
	}
}

// A pod already bound is never moved, even on a node the Lease marks
// outdated: it waits there for its resync, as before (deleting it
// re-places it).
func TestABoundPodIsLeftWhereItIs(t *testing.T) {
	t.Parallel()
	for _, node := range []string{"s1", "s2"} {
		w := afterFailover(t, statefulPod(node, false))
		if d := w.pass(t); len(d) != 0 {
			t.Errorf("pod on %s: decisions %+v", node, d)
		}
		for _, a := range w.cs.Actions() {
			if a.GetVerb() == "delete" || a.GetVerb() == "update" {
				t.Errorf("pod on %s: %s %s", node, a.GetVerb(), a.GetResource().Resource)
			}
		}
	}
}

func TestPlaceOnData(t *testing.T) {
	t.Parallel()
	pair := []string{"s1", "s2"}
	for _, tc := range []struct {
		outdated, lostBy, holder string
		live                     bool
		pair                     []string
		want                     string
	}{
		// The peer saw the holder go: the pod belongs on the peer, even
		// while the dead holder's Lease is still live, and after the
		// Lease was handed over (no holder).
		{lostBy: "s2", holder: "s1", live: true, pair: pair, want: "s2"},
		{lostBy: "s2", pair: pair, want: "s2"},
		// The holder fenced the reporter: it is alive, and the data is its.
		{outdated: "s2", lostBy: "s2", holder: "s1", live: true, pair: pair, want: "s1"},
		{lostBy: "s9", holder: "s1", live: true, pair: pair, want: "s1"},
		{lostBy: "s1", holder: "s1", live: true, pair: pair, want: "s1"},
		{outdated: "s1", pair: pair, want: "s2"},
		{outdated: "s2", pair: pair, want: "s1"},
		{outdated: "s2", holder: "s1", live: true, pair: pair, want: "s1"},
		{outdated: "s9", pair: pair, want: ""},
		{holder: "s2", live: true, pair: pair, want: "s2"},
		{holder: "s2", live: false, pair: pair, want: ""},
		{outdated: "s1", pair: []string{"s1"}, want: ""},
		{pair: pair, want: ""},
	} {
		if got, _ := PlaceOnData(tc.outdated, tc.lostBy, tc.holder, tc.live, tc.pair); got != tc.want {
			t.Errorf("PlaceOnData(%q, %q, %q, %v, %v) = %q, want %q", tc.outdated, tc.lostBy, tc.holder, tc.live, tc.pair, got, tc.want)
		}
	}
}

// After releasing a pod from a dead node the controller passes ten times
// as often for a while: the replacement is gated, and releasing it is on
// the failover's path.
func TestRunPassesQuicklyAfterARelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	w.pass(t) // first observation of the Lease
	w.clock.advance(10 * time.Second)
	leader := &Lease{Client: w.leases.Client(nil), Name: "ctl", Identity: "ctl-a", Duration: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	w.cs.ClearActions()
	w.ctl.Run(ctx, leader, 200*time.Millisecond)
	if w.podExists(t) {
		t.Fatal("pod not released")
	}
	lists := 0
	for _, a := range w.cs.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
			lists++
		}
	}
	// 3 passes at the normal interval; about 25 after a release.
	if lists < 8 {
		t.Fatalf("%d passes in 600 ms at a 200 ms interval after a release, want the quick cadence", lists)
	}
}
