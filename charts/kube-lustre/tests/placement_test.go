package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

const targetLabel = "kube-lustre.io/target"

// Each target is one StatefulSet of one pod that may run on exactly the
// target's nodes, prefers the first, and is told its target and Lease.
func TestTargetsPinnedToTheirNodes(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		v, p := plan(t, in)
		r := render(t, in)
		stss := r.ofKind("StatefulSet")
		if len(stss) != len(p.Targets) {
			t.Fatalf("%d StatefulSets for %d targets", len(stss), len(p.Targets))
		}
		for _, tp := range p.Targets {
			sts := targetStatefulSet(t, r, tp.Name)
			checkPinned(t, sts, tp)
			checkTargetPod(t, r, sts, tp, v)
		}
	})
}

func targetStatefulSet(t *testing.T, r *rendered, short string) *appsv1.StatefulSet {
	t.Helper()
	var found []*appsv1.StatefulSet
	for _, d := range r.ofKind("StatefulSet") {
		sts := d.Obj.(*appsv1.StatefulSet)
		if sts.Spec.Template.Labels[targetLabel] == short {
			found = append(found, sts)
		}
	}
	if len(found) != 1 {
		t.Fatalf("target %s: %d StatefulSets carry %s=%s", short, len(found), targetLabel, short)
	}
	return found[0]
}

func checkPinned(t *testing.T, sts *appsv1.StatefulSet, tp topology.TargetPlan) {
	t.Helper()
	aff := sts.Spec.Template.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatalf("%s: no required node affinity", sts.Name)
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	// Terms are ORed: exactly one term with exactly one expression, or the
	// pod could land on a node outside the pair.
	want := []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: tp.Nodes}}}}
	if !reflect.DeepEqual(terms, want) {
		t.Errorf("%s: required node affinity %+v, want exactly the nodes %v", sts.Name, terms, tp.Nodes)
	}
	wantPref := []corev1.PreferredSchedulingTerm{{Weight: 100, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{tp.Preferred}}}}}}
	if got := aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution; !reflect.DeepEqual(got, wantPref) {
		t.Errorf("%s: preferred affinity %+v, want weight 100 on %s", sts.Name, got, tp.Preferred)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("%s: replicas %v, want 1", sts.Name, sts.Spec.Replicas)
	}
}

func checkTargetPod(t *testing.T, r *rendered, sts *appsv1.StatefulSet, tp topology.TargetPlan, v *topology.Values) {
	t.Helper()
	// The failover controller restarts target pods one at a time; without
	// it each StatefulSet rolls its own pod.
	strategy := map[string]appsv1.StatefulSetUpdateStrategyType{"automatic": appsv1.OnDeleteStatefulSetStrategyType,
		"manual": appsv1.RollingUpdateStatefulSetStrategyType}[v.Failover.Mode]
	if sts.Spec.UpdateStrategy.Type != strategy {
		t.Errorf("%s: updateStrategy %s with failover.mode %s, want %s", sts.Name, sts.Spec.UpdateStrategy.Type, v.Failover.Mode, strategy)
	}
	spec := sts.Spec.Template.Spec
	lease := strconv.Itoa(v.Failover.LeaseSeconds)
	env := envOf(spec.Containers[0])
	for k, want := range map[string]string{
		"KUBE_LUSTRE_TARGET": tp.Name, "KUBE_LUSTRE_LEASE": sts.Name, "KUBE_LUSTRE_LEASE_SECONDS": lease,
		"KUBE_LUSTRE_RECORD": recordName(v.FSName, tp.Name),
	} {
		if env[k] != want {
			t.Errorf("%s: %s=%q, want %q", sts.Name, k, env[k], want)
		}
	}
	secs := int64(v.Failover.LeaseSeconds)
	for _, key := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
		found := false
		for _, tol := range spec.Tolerations {
			if tol.Key == key && tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil && *tol.TolerationSeconds == secs {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no NoExecute toleration of %s for %d s", sts.Name, key, secs)
		}
	}
	// Released by the failover controller, onto the node with the data
	// (docs/failover.md, "Placement").
	if v.Failover.Mode == "automatic" && !reflect.DeepEqual(spec.SchedulingGates, []corev1.PodSchedulingGate{{Name: failover.PlacementGate}}) {
		t.Errorf("%s: scheduling gates %v, want exactly %s", sts.Name, spec.SchedulingGates, failover.PlacementGate)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 60 {
		t.Errorf("%s: terminationGracePeriodSeconds %v: too short for unmount, export and demote", sts.Name, g)
	}
	svc := r.find(t, "Service", sts.Spec.ServiceName).Obj.(*corev1.Service)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("governing Service %s is not headless", svc.Name)
	}
	// The PDB must select this pod and still allow an eviction.
	pdb := r.find(t, "PodDisruptionBudget", sts.Name).Obj.(*policyv1.PodDisruptionBudget)
	if !reflect.DeepEqual(pdb.Spec.Selector, sts.Spec.Selector) {
		t.Errorf("PDB %s selects %v, the StatefulSet %v", pdb.Name, pdb.Spec.Selector, sts.Spec.Selector)
	}
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB %s: minAvailable %v maxUnavailable %v: a single-replica target needs maxUnavailable 1 or drains hang",
			pdb.Name, pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
		t.Errorf("PDB %s: an unready target pod would block drains (unhealthyPodEvictionPolicy %v)", pdb.Name, p)
	}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			m[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

// The DaemonSets run exactly where the labelling Job puts their labels.
func TestDaemonSetsSelectJobLabels(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		v, p := plan(t, in)
		r := render(t, in)
		hasDRBD := false
		for _, tp := range p.Targets {
			hasDRBD = hasDRBD || tp.DRBDResource != ""
		}
		want := map[string]bool{"drbd": hasDRBD, "client": v.Clients.Enabled}
		got := map[string]bool{}
		for _, d := range r.ofKind("DaemonSet") {
			ds := d.Obj.(*appsv1.DaemonSet)
			c := ds.Spec.Template.Labels["app.kubernetes.io/component"]
			got[c] = true
			if c == "csi-node" {
				// The CSI node plugin runs where the client mounts.
				c = "client"
			}
			sel := map[string]string{v.RoleLabel(c): "true"}
			if !reflect.DeepEqual(ds.Spec.Template.Spec.NodeSelector, sel) {
				t.Errorf("DaemonSet %s: nodeSelector %v, want %v", ds.Name, ds.Spec.Template.Spec.NodeSelector, sel)
			}
			// The label is one the plan gives some node, so the Job applies it.
			labelled := false
			for _, n := range p.Nodes {
				labelled = labelled || n.Labels[v.RoleLabel(c)] == "true"
			}
			if !labelled && (c != "client" || len(v.Clients.NodeSelector) == 0) {
				t.Errorf("DaemonSet %s selects %s, which the plan puts on no node", ds.Name, v.RoleLabel(c))
			}
		}
		for c, w := range want {
			if got[c] != w {
				t.Errorf("%s DaemonSet rendered=%v, want %v", c, got[c], w)
			}
		}
	})
}

// Every pod that uses the client mount (client DaemonSet, CSI node plugin
// and controller) is kept off the filesystem's server nodes by a required
// node affinity: a client on the node that takes over a target is evicted
// on failover and loses its unsynced writes.
func TestClientPodsAvoidServerNodes(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		v, _ := plan(t, in)
		r := render(t, in)
		want := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v.RoleLabel("server"), Operator: corev1.NodeSelectorOpDoesNotExist}},
			}}},
		}}
		pods := map[string]*corev1.PodSpec{}
		for _, d := range r.ofKind("DaemonSet") {
			ds := d.Obj.(*appsv1.DaemonSet)
			pods["DaemonSet "+ds.Name] = &ds.Spec.Template.Spec
		}
		for _, d := range r.ofKind("Deployment") {
			dep := d.Obj.(*appsv1.Deployment)
			pods["Deployment "+dep.Name] = &dep.Spec.Template.Spec
		}
		n := 0
		for name, spec := range pods {
			if spec.NodeSelector[v.RoleLabel("client")] != "true" {
				continue
			}
			n++
			if !reflect.DeepEqual(spec.Affinity, want) {
				t.Errorf("%s runs on client nodes with affinity %s, want %s", name, jsonOf(t, spec.Affinity), jsonOf(t, want))
			}
		}
		if v.Clients.Enabled && n == 0 {
			t.Errorf("no pod selects the client label %s", v.RoleLabel("client"))
		}
	})
}

// The topology ConfigMap carries the values the binaries plan from: reading
// it as they do (topology.CheckDocument, no chart defaults underneath: Helm
// already coalesced them) gives the same plan as the values file, and on no node do two DRBD
// resources claim one port or minor.
func TestTopologyConfigMapAndDRBDPorts(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		_, want := plan(t, in)
		r := render(t, in)
		cms := topologyConfigMaps(t, r)
		if len(cms) != 2 {
			t.Fatalf("want the release's topology ConfigMap and the labeler's hook copy, got %d", len(cms))
		}
		if cms[0].Data["values.yaml"] != cms[1].Data["values.yaml"] {
			t.Errorf("the labeler's topology differs from the pods':\n%s\n---\n%s", cms[0].Data["values.yaml"], cms[1].Data["values.yaml"])
		}
		got, err := planFromConfigMap(cms[0])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, want)) {
			t.Errorf("plan from the ConfigMap differs from the values file's:\n%s\n%s", jsonOf(t, got), jsonOf(t, want))
		}
		if err := drbdClaimsUnique(got); err != nil {
			t.Error(err)
		}
		ports := map[int32]bool{}
		for _, n := range got.Nodes {
			for _, d := range n.DRBD {
				ports[int32(d.Port)] = true
			}
		}
		// Host-network pods share the node's ports: none may declare a DRBD one.
		for _, p := range r.pods() {
			for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
				for _, cp := range c.Ports {
					if ports[cp.ContainerPort] || ports[cp.HostPort] {
						t.Errorf("%s container %s declares DRBD port %d", p, c.Name, cp.ContainerPort)
					}
				}
			}
		}
	})
}

// The port check above must be able to fail: a values file with a clash
// renders (the schema cannot see it), and the check catches it.
func TestDRBDPortClashIsCaught(t *testing.T) {
	t.Parallel()
	f := filepath.Join(helmcli.RepoRoot(t), "examples", "invalid", "drbd-port-clash.yaml")
	r := render(t, input{Files: []string{f}})
	v, ps, err := topology.CheckDocument([]byte(topologyConfigMaps(t, r)[0].Data["values.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatal("the topology of drbd-port-clash.yaml validates")
	}
	if err := drbdClaimsUnique(v.Plan()); err == nil {
		t.Error("drbdClaimsUnique accepts a port clash")
	}
}

func topologyConfigMaps(t *testing.T, r *rendered) []*corev1.ConfigMap {
	t.Helper()
	var out []*corev1.ConfigMap
	for _, d := range r.ofKind("ConfigMap") {
		cm := d.Obj.(*corev1.ConfigMap)
		if _, ok := cm.Data["values.yaml"]; ok {
			out = append(out, cm)
		}
	}
	return out
}

func planFromConfigMap(cm *corev1.ConfigMap) (*topology.Plan, error) {
	v, ps, err := topology.CheckDocument([]byte(cm.Data["values.yaml"]))
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("ConfigMap %s does not validate:\n%v", cm.Name, ps)
	}
	return v.Plan(), nil
}

func drbdClaimsUnique(p *topology.Plan) error {
	for _, n := range p.Nodes {
		ports, minors := map[int]string{}, map[int]string{}
		for _, d := range n.DRBD {
			if other, dup := ports[d.Port]; dup {
				return fmt.Errorf("node %s: DRBD port %d claimed by %s and %s", n.Name, d.Port, other, d.Name)
			}
			if other, dup := minors[d.Minor]; dup {
				return fmt.Errorf("node %s: DRBD minor %d claimed by %s and %s", n.Name, d.Minor, other, d.Name)
			}
			ports[d.Port], minors[d.Minor] = d.Name, d.Name
		}
	}
	return nil
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recordName is the target's record ConfigMap: by fsname and target, never
// the release (internal/targetrecord).
func recordName(fsname, target string) string {
	return "kube-lustre-record-" + strings.ReplaceAll(strings.ToLower(fsname), "_", ".") + "-" + target
}

// Every fsname Lustre accepts gives valid record names, the same whatever
// the release is called.
func TestRecordNamesOutliveTheRelease(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	for _, fs := range []string{"lfs1", "Big_FS", "a-b_c"} {
		var names []string
		for _, rel := range []string{"one", "other"} {
			r := render(t, input{Files: []string{ha}, Sets: []string{"fsname=" + fs}, Release: rel})
			for _, d := range r.ofKind("StatefulSet") {
				name := envOf(d.Obj.(*appsv1.StatefulSet).Spec.Template.Spec.Containers[0])["KUBE_LUSTRE_RECORD"]
				if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
					t.Errorf("fsname %s: record name %q: %v", fs, name, errs)
				}
				names = append(names, name)
			}
		}
		half := len(names) / 2
		if half == 0 || !slices.Equal(names[:half], names[half:]) {
			t.Errorf("fsname %s: record names differ between releases: %v", fs, names)
		}
	}
}
