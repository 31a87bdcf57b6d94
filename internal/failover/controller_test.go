package failover

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

const ns = "lustre"

type world struct {
	cs     *fake.Clientset
	leases *leasetest.Store
	clock  *clock
	ctl    *Controller
	holder *Lease // the target pod on s1, renewing mdt0's Lease
}

func targetPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name),
			Labels: map[string]string{"app.kubernetes.io/component": "target"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "target",
			Env: []corev1.EnvVar{{Name: "KUBE_LUSTRE_LEASE", Value: "lfs1-kube-lustre-mdt0"}, {Name: "KUBE_LUSTRE_TARGET", Value: "mdt0"}}}}},
	}
}

func readyNode(name string, ready bool) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionUnknown
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
}

func (w *world) setReady(t *testing.T, ready bool) {
	t.Helper()
	if _, err := w.cs.CoreV1().Nodes().Update(context.Background(), readyNode("s1", ready), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newWorld(t *testing.T, s1Ready bool) *world {
	t.Helper()
	cs := fake.NewClientset(targetPod("lfs1-kube-lustre-mdt0-0", "s1"), readyNode("s1", s1Ready), readyNode("s2", true))
	store := leasetest.New()
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	w := &world{cs: cs, leases: store, clock: c,
		holder: &Lease{Client: store.Client(nil), Name: "lfs1-kube-lustre-mdt0", Identity: "s1", Duration: 10 * time.Second, Now: c.now}}
	w.ctl = &Controller{Pods: cs.CoreV1().Pods(ns), Nodes: cs.CoreV1().Nodes(), Leases: store.Client(nil), Events: cs.CoreV1().Events(ns),
		Selector: "app.kubernetes.io/component=target", Duration: 10 * time.Second, Now: c.now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := w.holder.TryAcquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) pass(t *testing.T) []Decision {
	t.Helper()
	d, err := w.ctl.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (w *world) podExists(t *testing.T) bool {
	t.Helper()
	_, err := w.cs.CoreV1().Pods(ns).Get(context.Background(), "lfs1-kube-lustre-mdt0-0", metav1.GetOptions{})
	return err == nil
}

func (w *world) events(t *testing.T) []string { return eventReasons(t, w.cs) }

// eventReasons lists the reasons of the Events recorded in ns, in order.
func eventReasons(t *testing.T, cs *fake.Clientset) []string {
	t.Helper()
	list, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason)
	}
	return out
}

func TestReadyNodeIsLeftAlone(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	if d := w.pass(t); len(d) != 0 || !w.podExists(t) || len(w.events(t)) != 0 {
		t.Fatalf("decisions %v events %v", d, w.events(t))
	}
}

// The node is NotReady but its pod keeps renewing (a kubelet problem, not a
// dead node): the controller waits, says so once, and never deletes.
func TestNeverActsWhileTheLeaseIsLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	for i := 0; i < 30; i++ {
		w.clock.advance(2 * time.Second)
		if err := w.holder.TryAcquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, d := range w.pass(t) {
			if d.Released {
				t.Fatalf("released while the lease was live: %+v", d)
			}
		}
	}
	if !w.podExists(t) {
		t.Fatal("pod deleted while its lease was live")
	}
	if ev := w.events(t); len(ev) != 1 || ev[0] != "WaitingForLease" {
		t.Fatalf("events = %v, want one WaitingForLease", ev)
	}
}

// The holder died with its node: after a whole Lease without renewal (by
// the controller's own observation) the pod is force-deleted, once.
func TestReleasesThePodOnceTheLeaseExpired(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	w.pass(t) // first observation
	w.clock.advance(9 * time.Second)
	if d := w.pass(t); len(d) != 1 || d[0].Released || !w.podExists(t) {
		t.Fatalf("released before expiry: %+v", d)
	}
	w.clock.advance(time.Second)
	d := w.pass(t)
	if len(d) != 1 || !d[0].Released || w.podExists(t) {
		t.Fatalf("not released after expiry: %+v", d)
	}
	var del bool
	for _, a := range w.cs.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			del = true
		}
	}
	if !del {
		t.Fatal("no delete action")
	}
	if ev := w.events(t); len(ev) != 2 || ev[1] != "ReleasedFromDeadNode" {
		t.Fatalf("events = %v", ev)
	}
	if !strings.Contains(d[0].Reason, "not live") {
		t.Fatalf("reason %q", d[0].Reason)
	}
}

// The controller's metrics (issue 18): a release counts with its reason
// and starts a failover, which ends, with its duration from the holder's
// last renewal, only when the replacement is Ready on another node.
func TestFailoverMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	reg := prometheus.NewRegistry()
	w.ctl.Metrics = metrics.NewFailover(reg)
	ctx := context.Background()
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := metrics.Families(fams).Value(name, labels)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	mdt0 := map[string]string{"target": "mdt0"}
	w.pass(t)
	w.clock.advance(10 * time.Second)
	if d := w.pass(t); len(d) != 1 || !d[0].Released {
		t.Fatalf("not released: %+v", d)
	}
	if v := value("kube_lustre_failover_releases_total", map[string]string{"target": "mdt0", "reason": "node_not_ready"}); v != 1 {
		t.Fatalf("releases_total = %v", v)
	}
	if v := value("kube_lustre_failover_in_progress", mdt0); v != 1 {
		t.Fatalf("in_progress = %v", v)
	}
	// The StatefulSet's replacement on s2, not yet Ready: still moving.
	next := targetPod("lfs1-kube-lustre-mdt0-0", "s2")
	if _, err := w.cs.CoreV1().Pods(ns).Create(ctx, next, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(3 * time.Second)
	w.pass(t)
	if v := value("kube_lustre_failover_completed_total", map[string]string{"target": "mdt0", "reason": "node_not_ready"}); v != 0 {
		t.Fatalf("completed before the replacement was Ready: %v", v)
	}
	next.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := w.cs.CoreV1().Pods(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(2 * time.Second)
	w.pass(t)
	if v := value("kube_lustre_failover_completed_total", map[string]string{"target": "mdt0", "reason": "node_not_ready"}); v != 1 {
		t.Fatalf("completed_total = %v", v)
	}
	if v := value("kube_lustre_failover_in_progress", mdt0); v != 0 {
		t.Fatalf("in_progress after = %v", v)
	}
	fams, _ := reg.Gather()
	// From the holder's last renewal (first pass) to Ready: 10 + 3 + 2 s.
	if sum, ok := metrics.Families(fams).Sum("kube_lustre_failover_duration_seconds", map[string]string{"reason": "node_not_ready"}); !ok || sum != 15 {
		t.Fatalf("duration sum %v (found %v), want 15", sum, ok)
	}
	w.pass(t)
	if v := value("kube_lustre_failover_completed_total", map[string]string{"target": "mdt0", "reason": "node_not_ready"}); v != 1 {
		t.Fatalf("counted twice: %v", v)
	}
}

// A crashed node stays Ready for the node monitor's grace period. Its DRBD
// peer's mark (peer-lost) with half a Lease without a write by the holder
// since is enough to release the pod, before the Lease expires, so the
// replacement starts on the peer while it runs out; the mark alone, a
// renewal after it, or the holder's fence of the reporter is not. The
// Lease itself is handed over only once it expired, to the pod waiting on
// the peer.
func TestReleasesOnThePeersMarkBeforeTheNodeIsNotReady(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	ctx := context.Background()
	api := w.leases.Client(nil)
	// The holder renews quietly (its peer connected); then the peer loses
	// the link and cuts the Lease back to one duration, with its mark.
	quietThenLost := func() {
		t.Helper()
		cur, err := api.Get(ctx, "lfs1-kube-lustre-mdt0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		quiet := int32(300)
		cur.Spec.LeaseDurationSeconds = &quiet
		if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if cut, err := PeerLost(ctx, api, "lfs1-kube-lustre-mdt0", "s2", "s1", 10*time.Second); err != nil || !cut {
			t.Fatalf("peer-lost: %v %v", cut, err)
		}
	}
	leftAlone := func(what string) {
		t.Helper()
		if d := w.pass(t); len(d) != 0 || !w.podExists(t) {
			t.Fatalf("%s: %+v", what, d)
		}
	}
	quietThenLost()
	leftAlone("acted on the mark at once")
	w.clock.advance(4 * time.Second)
	leftAlone("acted within half a Lease of the mark")
	// The holder renews (it was alive: only the link went): the mark goes.
	if err := w.holder.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	w.pass(t)
	w.clock.advance(11 * time.Second)
	leftAlone("acted without the peer's mark")
	// The holder fences the reporter (alive, the link cut): the mark
	// stays, but it names the node the holder wrote on without.
	if err := w.holder.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	quietThenLost()
	if code, why := FencePeer(ctx, api, "lfs1-kube-lustre-mdt0", "s1", "s2"); code != FencedOutdated {
		t.Fatal(why)
	}
	w.pass(t)
	w.clock.advance(6 * time.Second)
	leftAlone("acted on the mark of a peer the holder fenced")
	if err := Unfence(ctx, api, "lfs1-kube-lustre-mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	// The holder dies: the peer marks again, and half a Lease later the
	// pod goes; the Lease stays the dead holder's until it expired.
	if err := w.holder.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	quietThenLost()
	w.pass(t)
	w.clock.advance(5 * time.Second)
	d := w.pass(t)
	if len(d) != 1 || !d[0].Released || w.podExists(t) || !strings.Contains(d[0].Reason, "s2 lost its DRBD link to node s1") {
		t.Fatalf("not released half a Lease after the peer's mark: %+v", d)
	}
	if h := w.leases.Holder("lfs1-kube-lustre-mdt0"); h != "s1" {
		t.Fatalf("the live Lease was handed over with the early release (holder %q)", h)
	}
	// The replacement runs on s2 and waits; the controller hands the
	// Lease over a whole Lease after the mark, not before.
	if _, err := w.cs.CoreV1().Pods(ns).Create(ctx, targetPod("lfs1-kube-lustre-mdt0-0", "s2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(4 * time.Second)
	w.pass(t)
	if h := w.leases.Holder("lfs1-kube-lustre-mdt0"); h != "s1" {
		t.Fatalf("handed over before the Lease expired (holder %q)", h)
	}
	w.clock.advance(time.Second)
	w.pass(t)
	if h := w.leases.Holder("lfs1-kube-lustre-mdt0"); h != "" {
		t.Fatalf("the expired Lease was not handed over to the waiting pod (holder %q)", h)
	}
	s2 := &Lease{Client: api, Name: "lfs1-kube-lustre-mdt0", Identity: "s2", Duration: 10 * time.Second, Now: w.clock.now}
	if err := s2.TryAcquire(ctx); err != nil || s2.TookOverFrom() != "s1" {
		t.Fatalf("the waiting pod's acquire: %v, took over from %q; want s1 (import -f)", err, s2.TookOverFrom())
	}
}

// A controller that just became leader has seen nothing yet: it waits a
// whole Lease from its own first observation, whatever the renewTime says.
func TestNewObserverWaitsAWholeLease(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	w.clock.advance(time.Hour) // the holder stopped renewing long ago
	if d := w.pass(t); d[0].Released {
		t.Fatal("released on the first observation")
	}
	w.clock.advance(10 * time.Second)
	if d := w.pass(t); !d[0].Released {
		t.Fatal("not released a whole lease after the first observation")
	}
}

// Only the leader reconciles.
func TestOnlyTheLeaderActs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	other := &Lease{Client: w.leases.Client(nil), Name: "ctl", Identity: "ctl-a", Duration: 10 * time.Second}
	if err := other.TryAcquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	me := &Lease{Client: w.leases.Client(nil), Name: "ctl", Identity: "ctl-b", Duration: 10 * time.Second}
	w.clock.advance(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	w.ctl.Run(ctx, me, 10*time.Millisecond)
	for _, a := range w.cs.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
			t.Fatal("a non-leader reconciled")
		}
	}
}

// The Lease is watched while the node is still Ready, so its expiry runs
// from the holder's last renewal, not from when the node was declared
// NotReady; on release the dead holder is cleared from the Lease so the
// replacement can take it at once.
func TestExpiryRunsFromTheLastRenewalAndTheLeaseIsHandedOver(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	w.pass(t) // seen while Ready; the holder dies right after
	w.clock.advance(8 * time.Second)
	w.setReady(t, false)
	if d := w.pass(t); len(d) != 1 || d[0].Released {
		t.Fatalf("released before the lease expired: %+v", d)
	}
	w.clock.advance(2 * time.Second)
	if d := w.pass(t); len(d) != 1 || !d[0].Released {
		t.Fatalf("not released 10 s after the last renewal: %+v", d)
	}
	if h := w.leases.Holder("lfs1-kube-lustre-mdt0"); h != "" {
		t.Fatalf("holder %q left on the lease", h)
	}
	next := &Lease{Client: w.leases.Client(nil), Name: "lfs1-kube-lustre-mdt0", Identity: "s2", Duration: 10 * time.Second, Now: w.clock.now}
	if err := next.TryAcquire(context.Background()); err != nil {
		t.Fatalf("the replacement could not take the handed-over lease at once: %v", err)
	}
	// It knows it took the target from s1 (the takeover is counted), but
	// not that s1's pool is left imported: s1 may have stopped cleanly
	// once it learnt (an API cut), so TookOverFrom stays empty and the
	// import is a plain one first. Its write removes the controller's note.
	if from, gone := next.HandedOverFrom(), next.TookOverFrom(); from != "s1" || gone != "" {
		t.Fatalf("HandedOverFrom %q, TookOverFrom %q after the controller's hand-over, want s1 and none", from, gone)
	}
	cur, err := w.leases.Client(nil).Get(context.Background(), "lfs1-kube-lustre-mdt0", metav1.GetOptions{})
	if err != nil || cur.Annotations[ExpiredHolderAnnotation] != "" {
		t.Fatalf("annotations after the takeover: %v %v", cur.Annotations, err)
	}
	// A clean release leaves no such note: the next holder takes over
	// from nobody.
	if err := next.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	third := &Lease{Client: w.leases.Client(nil), Name: "lfs1-kube-lustre-mdt0", Identity: "s1", Duration: 10 * time.Second, Now: w.clock.now}
	if err := third.TryAcquire(context.Background()); err != nil || third.TookOverFrom() != "" || third.HandedOverFrom() != "" {
		t.Fatalf("after a clean release: %v, TookOverFrom %q, HandedOverFrom %q", err, third.TookOverFrom(), third.HandedOverFrom())
	}
}

// A renewal between the observation and the clear writes nothing.
func TestClearExpiredHolderLosesToARenewal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	obs := &Lease{Client: w.leases.Client(nil), Name: "lfs1-kube-lustre-mdt0", Duration: 10 * time.Second, Now: w.clock.now}
	if _, _, err := obs.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(10 * time.Second)
	if err := w.holder.TryAcquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := obs.ClearExpiredHolder(context.Background()); !errors.Is(err, ErrRenewed) {
		t.Fatalf("clear after a renewal = %v, want ErrRenewed", err)
	}
	if h := w.leases.Holder("lfs1-kube-lustre-mdt0"); h != "s1" {
		t.Fatalf("holder %q, want s1 kept", h)
	}
}

// A pod on a dead node that never held the Lease (the peer does) is
// released, and the peer's Lease is left alone.
func TestPeerHeldLeaseIsNotTouched(t *testing.T) {
	t.Parallel()
	w := newWorld(t, false)
	peer := &Lease{Client: w.leases.Client(nil), Name: "lfs1-kube-lustre-mdt0", Identity: "s2", Duration: 10 * time.Second, Now: w.clock.now}
	heldBy(t, peer.TryAcquire(context.Background()), "s1") // the peer starts watching
	w.clock.advance(10 * time.Second)
	if err := peer.TryAcquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := w.pass(t); len(d) != 1 || !d[0].Released {
		t.Fatalf("%+v", d)
	}
	if h := w.leases.Holder("lfs1-kube-lustre-mdt0"); h != "s2" {
		t.Fatalf("holder %q, want the peer's s2 kept", h)
	}
}

// What the controller read on a Lease goes with the Lease: once it is
// deleted, a peer-lost mark and an expired holder it carried no longer
// release the pod of the node they named (which is Ready and may serve).
func TestADeletedLeaseTakesItsMarksAlong(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	ctx := context.Background()
	api := w.leases.Client(nil)
	cur, err := api.Get(ctx, "lfs1-kube-lustre-mdt0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	none := ""
	cur.Spec.HolderIdentity = &none
	cur.Annotations = map[string]string{PeerLostAnnotation: "s2", ExpiredHolderAnnotation: "s1"}
	if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Handed over from s1 after s2 saw it go: s1's pod is released.
	if d := w.pass(t); len(d) != 1 || !d[0].Released {
		t.Fatalf("not released on a handed-over Lease marked peer-lost: %+v", d)
	}
	// The Lease is deleted, and a pod runs on s1 again.
	w.leases.Delete("lfs1-kube-lustre-mdt0")
	if _, err := w.cs.CoreV1().Pods(ns).Create(ctx, targetPod("lfs1-kube-lustre-mdt0-0", "s1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(time.Second)
	if d := w.pass(t); len(d) != 0 || !w.podExists(t) {
		t.Fatalf("released on the marks of a Lease seen before it was deleted: %+v", d)
	}
}
