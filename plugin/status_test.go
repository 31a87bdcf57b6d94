package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-lustre/kube-lustre/internal/report"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func rel(component string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "kube-lustre", "app.kubernetes.io/instance": "lfs1", "app.kubernetes.io/component": component}
}

func pod(name, node, component string, ready bool, extra map[string]string, env ...corev1.EnvVar) *corev1.Pod {
	l := rel(component)
	for k, v := range extra {
		l[k] = v
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lustre", Labels: l},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: component, Env: env}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
}

func leaseObj(name, holder string, renewed time.Time) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lustre"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &rt}}
}

// agents answers `drbd status` per pod with what the DRBD agent prints,
// and `lustre-target space` with spaces.
type agents map[string][]report.Resource

// spaces are what the serving target pods print.
var spaces = map[string]report.Space{
	"lfs1-kube-lustre-mdt0-0": {Target: "mdt0", Dataset: "lfs1-mdt0/mdt0", Space: zfs.Space{Used: 3 << 20, Available: 1<<30 - 3<<20}},
}

func (a agents) Exec(_ context.Context, pod, container string, cmd []string) ([]byte, error) {
	if container == "target" && strings.Join(cmd, " ") == "/usr/local/bin/lustre-target space" {
		if sp, ok := spaces[pod]; ok {
			return json.Marshal(sp)
		}
		return nil, errors.New("container not running")
	}
	if container != "drbd" || strings.Join(cmd, " ") != "/usr/local/bin/drbd status" {
		return nil, errors.New("unexpected exec " + strings.Join(cmd, " "))
	}
	rs, ok := a[pod]
	if !ok {
		return nil, errors.New("container not running")
	}
	return json.Marshal(rs)
}

func statusWorld(t *testing.T) *fake.Clientset {
	t.Helper()
	ha, err := os.ReadFile("../examples/ha.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The rendered topology carries the chart defaults, as the chart's does.
	doc := strings.Replace(string(ha), "clients:\n", "clients:\n  enabled: true\n", 1)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "lfs1-kube-lustre-topology", Namespace: "lustre", Labels: rel("topology")},
		Data: map[string]string{"values.yaml": doc}}
	leaseEnv := func(t string) corev1.EnvVar {
		return corev1.EnvVar{Name: "KUBE_LUSTRE_LEASE", Value: "lfs1-kube-lustre-" + t}
	}
	return fake.NewClientset(cm,
		pod("lfs1-kube-lustre-mdt0-0", "s1", "target", true, map[string]string{"kube-lustre.io/target": "mdt0"}, leaseEnv("mdt0")),
		pod("lfs1-kube-lustre-ost0-0", "s4", "target", false, map[string]string{"kube-lustre.io/target": "ost0"}, leaseEnv("ost0")),
		pod("drbd-a", "s1", "drbd", true, nil), pod("drbd-b", "s2", "drbd", true, nil),
		pod("drbd-c", "s3", "drbd", true, nil), pod("drbd-d", "s4", "drbd", true, nil),
		leaseObj("lfs1-kube-lustre-mdt0", "s1", t0.Add(-2*time.Second)),
		leaseObj("lfs1-kube-lustre-ost0", "s4", t0.Add(-1*time.Second)),
	)
}

// fakeAPI reads namespace lustre of cs as status reads the API server.
func fakeAPI(cs *fake.Clientset) statusAPI {
	return statusAPI{configMaps: cs.CoreV1().ConfigMaps("lustre"), pods: cs.CoreV1().Pods("lustre"), leases: cs.CoordinationV1().Leases("lustre")}
}

// statusText collects release lfs1's status and renders it as text.
func statusText(t *testing.T, cs *fake.Clientset, ex Executor) (*Status, string) {
	t.Helper()
	st, err := collectStatus(context.Background(), fakeAPI(cs), ex, "lustre", "lfs1", t0)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeStatus(&out, st)
	return st, out.String()
}

func TestStatusShowsEachTargetOnBothNodes(t *testing.T) {
	t.Parallel()
	cs := statusWorld(t)
	ex := agents{
		"drbd-a": {{Resource: "lfs1-mdt0", Target: "mdt0", Up: true, Role: "Primary", CState: "Connected", Disk: "UpToDate", PeerDisk: "UpToDate", Mounted: true}},
		"drbd-b": {{Resource: "lfs1-mdt0", Target: "mdt0", Up: true, Role: "Secondary", CState: "Connected", Disk: "UpToDate", PeerDisk: "UpToDate"}},
		"drbd-d": {{Resource: "lfs1-ost0", Target: "ost0", Up: true, Role: "Secondary", CState: "WFConnection", Disk: "Outdated", PeerDisk: "DUnknown"}},
	}
	st, text := statusText(t, cs, ex)
	for _, want := range []string{
		"mdt0    s1 ready=true   s1 (renewed 2s ago)  3.0M / 1.0G (0%)     s1: Primary UpToDate/UpToDate Connected, mounted | s2: Secondary UpToDate/UpToDate Connected  -",
		"s4: Secondary Outdated/DUnknown WFConnection",
		"s3: drbd status: container not running",
		"ost1    -  ",
		"no pod",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if st.Targets[0].LeaseHolder != "s1" || !st.Targets[0].Ready || len(st.Targets[0].Problems) != 0 {
		t.Errorf("mdt0: %+v", st.Targets[0])
	}
	if sp := st.Targets[0].Space; sp == nil || *sp != spaces["lfs1-kube-lustre-mdt0-0"].Space {
		t.Errorf("mdt0 space: %+v", sp)
	}
	if st.Targets[1].Space != nil {
		t.Errorf("ost0, not ready, has a space: %+v", st.Targets[1].Space)
	}
}

// A serving target whose space cannot be read says so; nothing is guessed.
func TestStatusSpaceUnreadable(t *testing.T) {
	t.Parallel()
	st, text := statusText(t, statusWorld(t), noSpace{agents{}})
	if st.Targets[0].Space != nil || !strings.Contains(text, "space: lustre-target: not found") {
		t.Errorf("space %+v, text:\n%s", st.Targets[0].Space, text)
	}
}

type noSpace struct{ agents }

func (n noSpace) Exec(ctx context.Context, pod, container string, cmd []string) ([]byte, error) {
	if container == "target" {
		return nil, errors.New("lustre-target: not found")
	}
	return n.agents.Exec(ctx, pod, container, cmd)
}

// Issue 18: the resync progress on both nodes, the clients that have the
// filesystem mounted, the images each component runs (two while an
// upgrade rolls), and the release found by its instance label whatever
// nameOverride did to the other labels and the names.
func TestStatusShowsResyncClientsAndVersions(t *testing.T) {
	t.Parallel()
	cs := statusWorld(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, node, image string
		ready             bool
	}{{"client-a", "c1", "kube-lustre/lustre-client:0.1.0", true}, {"client-b", "c2", "kube-lustre/lustre-client:0.2.0", false}} {
		p := pod(c.name, c.node, "client", c.ready, map[string]string{"app.kubernetes.io/name": "renamed", "helm.sh/chart": "kube-lustre-0.1.0"})
		p.Spec.Containers[0].Image = c.image
		if _, err := cs.CoreV1().Pods("lustre").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	half := 0.425
	ex := agents{
		"drbd-a": {{Resource: "lfs1-mdt0", Target: "mdt0", Up: true, Role: "Primary", CState: "SyncSource", Disk: "UpToDate", PeerDisk: "Inconsistent", Mounted: true, SyncDone: &half}},
		"drbd-b": {{Resource: "lfs1-mdt0", Target: "mdt0", Up: true, Role: "Secondary", CState: "SyncTarget", Disk: "Inconsistent", PeerDisk: "UpToDate", SyncDone: &half}},
	}
	st, text := statusText(t, cs, ex)
	for _, want := range []string{
		"s1: Primary UpToDate/Inconsistent SyncSource 42.5%, mounted | s2: Secondary Inconsistent/UpToDate SyncTarget 42.5%",
		"CLIENT (1 of 2 mounted)", "c1", "client-a", "yes", "c2",
		"client     kube-lustre-0.1.0  kube-lustre/lustre-client:0.1.0, kube-lustre/lustre-client:0.2.0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if len(st.Clients) != 2 || !st.Clients[0].Mounted || st.Clients[1].Mounted {
		t.Errorf("clients: %+v", st.Clients)
	}
	var back Status
	var js bytes.Buffer
	writeJSON(&js, st)
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Targets) != len(st.Targets) || *back.Targets[0].DRBD["s1"].SyncDone != half {
		t.Errorf("-o json: %v %s", err, js.String())
	}
}

// --watch shows the status again each interval, with what changed, and
// goes on through a round that fails.
func TestStatusWatch(t *testing.T) {
	t.Parallel()
	cs := statusWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rounds := 0
	collect := func(ctx context.Context) (*Status, error) {
		rounds++
		switch rounds {
		case 2:
			return nil, errors.New("the server is currently unable to handle the request")
		case 3:
			// ost0's pod became Ready (a failover finished).
			p, _ := cs.CoreV1().Pods("lustre").Get(ctx, "lfs1-kube-lustre-ost0-0", metav1.GetOptions{})
			p.Status.Conditions[0].Status = corev1.ConditionTrue
			if _, err := cs.CoreV1().Pods("lustre").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		case 4:
			cancel()
		}
		return collectStatus(ctx, fakeAPI(cs), agents{}, "lustre", "lfs1", t0)
	}
	var out, errs bytes.Buffer
	watchStatus(ctx, collect, writeStatus, false, 10*time.Millisecond, &out, &errs)
	text := out.String()
	if n := strings.Count(text, "--- "); n != 2 {
		t.Errorf("%d views, want 2 (rounds 1 and 3; 2 failed, 4 was interrupted):\n%s", n, text)
	}
	if !strings.Contains(errs.String(), "unable to handle the request") {
		t.Errorf("the failed round was not said: %q", errs.String())
	}
	first, last := text[:strings.LastIndex(text, "--- ")], text[strings.LastIndex(text, "--- "):]
	if !strings.Contains(first, "s4 ready=false") || !strings.Contains(last, "s4 ready=true") {
		t.Errorf("the watch did not show ost0 becoming ready:\n%s", text)
	}
}

func TestStatusOfAMissingRelease(t *testing.T) {
	t.Parallel()
	_, err := collectStatus(context.Background(), fakeAPI(fake.NewClientset()), agents{}, "lustre", "nope", t0)
	if err == nil || !strings.Contains(err.Error(), "found 0 topology ConfigMaps") {
		t.Fatalf("err = %v", err)
	}
}

func TestStatusUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"status"}, {"status", "a", "b"}, {"status", "-o", "yaml", "lfs1"}} {
		if code, _, errs := runCLI(args...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}
