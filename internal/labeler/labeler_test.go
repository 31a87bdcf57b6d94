package labeler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

func node(name string, ready bool, labels map[string]string) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, Message: "kubelet stopped posting"}}},
	}
}

func load(t *testing.T, doc string) (*topology.Values, *topology.Plan) {
	t.Helper()
	v, ps, err := helmvalues.CheckBytes([]byte(doc))
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	return v, v.Plan()
}

const ha = `
fsname: lfs1
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s3], zpool: {vdevs: [/dev/sdc]}}
clients: {nodes: [c1], nodeSelector: {role: compute}}
`

func newLabeler(objs ...*corev1.Node) (*Labeler, *fake.Clientset) {
	cs := fake.NewClientset()
	for _, o := range objs {
		_ = cs.Tracker().Add(o)
	}
	return &Labeler{Nodes: cs.CoreV1().Nodes(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, cs
}

func labelsOf(t *testing.T, l *Labeler, name string) map[string]string {
	n, err := l.Nodes.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Labels
}

func TestApplyLabelsExactlyThePlan(t *testing.T) {
	t.Parallel()
	v, p := load(t, ha)
	l, _ := newLabeler(
		node("s1", true, map[string]string{"kubernetes.io/hostname": "s1", "kube-lustre.io/lfs1.ost7": "true"}),
		node("s2", true, nil),
		node("s3", true, map[string]string{"kube-lustre.io/lfs10.server": "true"}),
		node("c1", true, nil),
		node("w1", true, map[string]string{"role": "compute", "kube-lustre.io/lfs1.server": "true"}),
		node("w2", true, map[string]string{"role": "storage"}),
	)
	if _, err := l.Apply(context.Background(), v, p); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"s1": {"kubernetes.io/hostname": "s1", "kube-lustre.io/lfs1.server": "true", "kube-lustre.io/lfs1.drbd": "true", "kube-lustre.io/lfs1.mdt0": "true"},
		"s2": {"kube-lustre.io/lfs1.server": "true", "kube-lustre.io/lfs1.drbd": "true", "kube-lustre.io/lfs1.mdt0": "true"},
		// another filesystem's label (lfs10, which shares the lfs1 prefix as a string) stays
		"s3": {"kube-lustre.io/lfs10.server": "true", "kube-lustre.io/lfs1.server": "true", "kube-lustre.io/lfs1.ost0": "true"},
		"c1": {"kube-lustre.io/lfs1.client": "true"},
		"w1": {"role": "compute", "kube-lustre.io/lfs1.client": "true"},
		"w2": {"role": "storage"},
	}
	for n, w := range want {
		if got := labelsOf(t, l, n); !maps.Equal(got, w) {
			t.Errorf("%s labels = %v, want %v", n, got, w)
		}
	}
}

// A server node of the filesystem that matches clients.nodeSelector is not
// made a client: its client would be evicted on failover.
func TestSelectorDoesNotMakeAServerAClient(t *testing.T) {
	t.Parallel()
	v, p := load(t, ha)
	l, _ := newLabeler(
		node("s1", true, map[string]string{"role": "compute"}),
		node("s2", true, map[string]string{"role": "compute", "kube-lustre.io/lfs1.client": "true"}),
		node("s3", true, nil),
		node("c1", true, nil),
	)
	if _, err := l.Apply(context.Background(), v, p); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"s1", "s2"} {
		if got := labelsOf(t, l, n); got["kube-lustre.io/lfs1.client"] != "" || got["kube-lustre.io/lfs1.server"] != "true" {
			t.Errorf("%s labels = %v: want the server label and no client label", n, got)
		}
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	v, p := load(t, ha)
	l, cs := newLabeler(node("s1", true, nil), node("s2", true, nil), node("s3", true, nil), node("c1", true, nil))
	if _, err := l.Apply(context.Background(), v, p); err != nil {
		t.Fatal(err)
	}
	cs.ClearActions()
	changes, err := l.Apply(context.Background(), v, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			t.Fatalf("second apply patched: %v", a)
		}
	}
	if len(changes) != 0 {
		t.Fatalf("second apply reported changes: %v", changes)
	}
}

func TestPreflightLabelsNothingWhenANodeIsMissingOrNotReady(t *testing.T) {
	t.Parallel()
	v, p := load(t, ha)
	l, cs := newLabeler(node("s1", true, nil), node("s2", false, nil), node("c1", true, nil))
	_, err := l.Apply(context.Background(), v, p)
	if err == nil {
		t.Fatal("want a preflight error")
	}
	for _, want := range []string{`node "s3" (serves ost0) does not exist`, `node "s2" (serves mdt0) is not Ready: Ready=False kubelet stopped posting`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			t.Fatalf("a failed preflight must label nothing, saw %v", a)
		}
	}
}

func TestUpgradeMovesLabels(t *testing.T) {
	t.Parallel()
	v, p := load(t, ha)
	l, _ := newLabeler(node("s1", true, nil), node("s2", true, nil), node("s3", true, nil), node("s4", true, nil), node("c1", true, nil))
	if _, err := l.Apply(context.Background(), v, p); err != nil {
		t.Fatal(err)
	}
	v2, p2 := load(t, strings.Replace(ha, "nodes: [s3]", "nodes: [s4]", 1))
	changes, err := l.Apply(context.Background(), v2, p2)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []Change{
		{Node: "s3", Removed: []string{"kube-lustre.io/lfs1.ost0", "kube-lustre.io/lfs1.server"}},
		{Node: "s4", Added: []string{"kube-lustre.io/lfs1.ost0", "kube-lustre.io/lfs1.server"}},
	}
	if !reflect.DeepEqual(sortChanges(changes), wantChanges) {
		t.Fatalf("changes = %+v, want %+v", changes, wantChanges)
	}
}

func TestRemoveTakesOffOnlyThisFilesystemsLabels(t *testing.T) {
	t.Parallel()
	v, p := load(t, ha)
	l, _ := newLabeler(node("s1", true, map[string]string{"keep": "me", "kube-lustre.io/lfs2.server": "true"}),
		node("s2", true, nil), node("s3", false, nil), node("c1", true, nil))
	// s3 NotReady: apply refuses, but remove must work regardless (uninstall
	// during an outage).
	if _, err := l.Apply(context.Background(), v, p); err == nil {
		t.Fatal("apply with a NotReady node must fail")
	}
	if _, err := (&Labeler{Nodes: l.Nodes, Log: l.Log}).reconcile(context.Background(), v.LabelSelectorPrefix(),
		func(n *corev1.Node) map[string]string {
			np, _ := p.Node(n.Name)
			return np.Labels
		}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Remove(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if got := labelsOf(t, l, "s1"); !maps.Equal(got, map[string]string{"keep": "me", "kube-lustre.io/lfs2.server": "true"}) {
		t.Fatalf("s1 after remove: %v", got)
	}
	for _, n := range []string{"s2", "s3", "c1"} {
		if got := labelsOf(t, l, n); len(got) != 0 {
			t.Fatalf("%s after remove: %v", n, got)
		}
	}
}

func sortChanges(cs []Change) []Change {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// The pre-upgrade check reads the running topology from the release's
// ConfigMap: a first install has none; a changed DRBD minor under an
// existing target is refused with the field; the same change with the
// target in upgrade.allowChanges passes; an unreadable ConfigMap refuses.
func TestCheckUpgrade(t *testing.T) {
	t.Parallel()
	const doc = `fsname: lfs1
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s3, s4], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
`
	ctx := context.Background()
	cms := fake.NewClientset().CoreV1().ConfigMaps("lustre")
	next, _ := load(t, doc)
	if err := CheckUpgrade(ctx, cms, "lfs1-topology", next, nil); err != nil {
		t.Fatalf("first install: %v", err)
	}
	running := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "lfs1-topology"}, Data: map[string]string{"values.yaml": doc}}
	if _, err := cms.Create(ctx, running, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := CheckUpgrade(ctx, cms, "lfs1-topology", next, nil); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	moved := strings.Replace(doc, "nodes: [s3, s4], drbd: {minor: 0", "nodes: [s3, s4], drbd: {minor: 3", 1)
	next, _ = load(t, moved)
	err := CheckUpgrade(ctx, cms, "lfs1-topology", next, nil)
	if err == nil || !strings.Contains(err.Error(), "targets[1].drbd.minor") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("changed minor: %v", err)
	}
	if err := CheckUpgrade(ctx, cms, "lfs1-topology", next, []string{"ost0"}); err != nil {
		t.Fatalf("allowed change: %v", err)
	}
	running.Data["values.yaml"] = "targets: [oops"
	if _, err := cms.Update(ctx, running, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := CheckUpgrade(ctx, cms, "lfs1-topology", next, nil); err == nil {
		t.Fatal("an unreadable running topology was not refused")
	}
}

func TestCheckUninstall(t *testing.T) {
	t.Parallel()
	pv := func(name, driver, claim string) corev1.PersistentVolume {
		p := corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if driver != "" {
			p.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: driver, VolumeHandle: name}
		}
		if claim != "" {
			p.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "apps", Name: claim}
		}
		return p
	}
	const driver = "lfs1.lustre.csi.kube-lustre.io"
	others := []corev1.PersistentVolume{pv("local", "", ""), pv("other-fs", "lfs2.lustre.csi.kube-lustre.io", "x")}
	const rollback = "helm rollback lfs1 4 -n lustre"
	if err := CheckUninstall(others, driver, rollback); err != nil {
		t.Fatalf("volumes of other drivers: %v", err)
	}
	err := CheckUninstall(append(others, pv("pvc-b", driver, "data"), pv("pvc-a", driver, "")), driver, rollback)
	if !errors.Is(err, ErrUninstallRefused) || !strings.Contains(err.Error(), "2 volume(s) of "+driver+" still exist: pvc-a, pvc-b (claim apps/data)") ||
		!strings.Contains(err.Error(), rollback+" lists it as deployed again") ||
		!strings.Contains(err.Error(), "uninstall.allowWithVolumes=true") {
		t.Fatalf("refusal: %v", err)
	}
}
