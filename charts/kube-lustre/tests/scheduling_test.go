package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"

	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// podKeys maps a pod's component label to its key in pods: (values.yaml).
// The helm test pod runs where the clients do and takes their settings.
var podKeys = map[string]string{
	"labeler": "labeler", "drbd": "drbd", "target": "target", "client": "client", "test": "client",
	"failover": "failover", "csi-controller": "csiController", "csi-node": "csiNode", "uninstall-check": "labeler",
}

// schedulingValues gives every component of pods: its own toleration, node
// label, affinity terms, pod label and annotation (each naming the
// component, so a setting landing on the wrong pod shows), and sets every
// chart-wide value of the same kind.
func schedulingValues(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`logLevel: debug
commonLabels:
  example.com/site: hpc1
  app.kubernetes.io/part-of: not-kube-lustre   # the chart's own label wins
images:
  pullSecrets: [d]
imagePullSecrets: [a, {name: b}]
global:
  imagePullSecrets: [{name: c}, a]
pods:
`)
	for _, key := range []string{"labeler", "drbd", "target", "client", "failover", "csiController", "csiNode"} {
		fmt.Fprintf(&b, `  %[1]s:
    tolerations:
      - {key: example.com/%[1]s, operator: Exists, effect: NoSchedule}
    nodeSelector: {example.com/role-%[1]s: "yes"}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions: [{key: example.com/rack-%[1]s, operator: In, values: [r1, r2]}]
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 7
            preference:
              matchExpressions: [{key: example.com/fast-%[1]s, operator: Exists}]
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector: {matchLabels: {example.com/noisy-%[1]s: "true"}}
    podLabels:
      example.com/team: %[1]s
      app.kubernetes.io/component: not-%[1]s   # the chart's own label wins
    podAnnotations:
      example.com/note: %[1]s
      kube-lustre.io/config-checksum: not-%[1]s   # the chart's own annotation wins
`, key)
	}
	p := filepath.Join(t.TempDir(), "scheduling.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Tolerations, nodeSelector, affinity, podLabels and podAnnotations of
// pods.<component>, commonLabels, the three sources of image pull Secrets
// and logLevel land on every component's pods, and never at the expense of
// the chart's own placement: targets stay pinned to their pair (one required
// term, which the failover controller reads), DRBD agents, clients and CSI
// pods keep selecting the labelling Job's labels, client pods stay off
// server nodes, and the chart's labels, selectors and checksums keep their
// values.
func TestSchedulingAndMetadataOnEveryPod(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	in := input{Files: []string{ha, schedulingValues(t)}, Sets: []string{"provisioner.enabled=true"}}
	v, p := plan(t, in)
	// The plugin (helm lustre validate, plan) accepts what the chart does.
	if _, ps, err := helmvalues.Check(helmvalues.Options{Files: in.Files, Sets: in.Sets}); err != nil || len(ps) > 0 {
		t.Fatalf("helm lustre validate: %v %v", err, ps)
	}
	r := render(t, in)
	lease := int64(v.Failover.LeaseSeconds)
	pairs := map[string][]string{}
	for _, tp := range p.Targets {
		pairs[tp.Name] = tp.Nodes
	}
	seen := map[string]bool{}
	for _, pt := range r.pods() {
		comp := pt.component()
		key, ok := podKeys[comp]
		if !ok {
			t.Fatalf("%s: component %q has no pods: key", pt, comp)
		}
		seen[comp] = true
		spec := pt.Spec
		// The user's settings are there.
		wantTol := corev1.Toleration{Key: "example.com/" + key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
		if !slices.Contains(spec.Tolerations, wantTol) {
			t.Errorf("%s: tolerations %v lack %v", pt, spec.Tolerations, wantTol)
		}
		if spec.NodeSelector["example.com/role-"+key] != "yes" {
			t.Errorf("%s: nodeSelector %v lacks example.com/role-%s", pt, spec.NodeSelector, key)
		}
		aff := spec.Affinity
		if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
			t.Fatalf("%s: no required node affinity", pt)
		}
		terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		rack := corev1.NodeSelectorRequirement{Key: "example.com/rack-" + key, Operator: corev1.NodeSelectorOpIn, Values: []string{"r1", "r2"}}
		for i, term := range terms {
			if !slices.ContainsFunc(term.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool { return reflect.DeepEqual(e, rack) }) {
				t.Errorf("%s: required node term %d %s lacks the user's %v", pt, i, jsonOf(t, term), rack)
			}
		}
		prefs := aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		if !slices.ContainsFunc(prefs, func(p corev1.PreferredSchedulingTerm) bool {
			return p.Weight == 7 && len(p.Preference.MatchExpressions) == 1 && p.Preference.MatchExpressions[0].Key == "example.com/fast-"+key
		}) {
			t.Errorf("%s: preferred node terms %s lack the user's", pt, jsonOf(t, prefs))
		}
		if aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
			aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels["example.com/noisy-"+key] != "true" {
			t.Errorf("%s: pod anti-affinity %s, want the user's required term", pt, jsonOf(t, aff.PodAntiAffinity))
		}
		labels, annotations := pt.Labels, podAnnotations(pt)
		if labels["example.com/team"] != key || labels["example.com/site"] != "hpc1" {
			t.Errorf("%s: labels %v lack podLabels and commonLabels", pt, labels)
		}
		if annotations["example.com/note"] != key {
			t.Errorf("%s: annotations %v lack podAnnotations", pt, annotations)
		}
		if want := []corev1.LocalObjectReference{{Name: "d"}, {Name: "a"}, {Name: "b"}, {Name: "c"}}; !slices.Equal(spec.ImagePullSecrets, want) {
			t.Errorf("%s: imagePullSecrets %v, want %v (each once)", pt, spec.ImagePullSecrets, want)
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			kubeLustre := strings.HasPrefix(c.Image, "kube-lustre/")
			if got, set := envOf(c)["KUBE_LUSTRE_LOG_LEVEL"]; kubeLustre && got != "debug" || !kubeLustre && set {
				t.Errorf("%s container %s (%s): KUBE_LUSTRE_LOG_LEVEL=%q", pt, c.Name, c.Image, got)
			}
		}

		// The chart's own are kept.
		if labels["app.kubernetes.io/component"] != comp || labels["app.kubernetes.io/part-of"] != "kube-lustre" {
			t.Errorf("%s: the chart's labels were overridden: %v", pt, labels)
		}
		if sel := selectorOf(pt.Owner); sel != nil {
			for k, v := range sel {
				if labels[k] != v {
					t.Errorf("%s: selector %s=%s no longer matches its pods", pt, k, v)
				}
			}
		}
		if comp == "drbd" || comp == "client" || comp == "target" {
			if sum := annotations["kube-lustre.io/config-checksum"]; sum == "" || strings.HasPrefix(sum, "not-") {
				t.Errorf("%s: config checksum %q", pt, sum)
			}
		}
		switch comp {
		case "target":
			nodes := pairs[labels[targetLabel]]
			host := corev1.NodeSelectorRequirement{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: nodes}
			// One term, so the failover controller still finds the pair in it.
			if want := []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{host, rack}}}; !reflect.DeepEqual(terms, want) {
				t.Errorf("%s: required node terms %s, want %s", pt, jsonOf(t, terms), jsonOf(t, want))
			}
			if len(prefs) != 2 || prefs[0].Weight != 100 || prefs[0].Preference.MatchExpressions[0].Values[0] != nodes[0] {
				t.Errorf("%s: preferred terms %s, want the home node's first", pt, jsonOf(t, prefs))
			}
			for _, taint := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
				if !slices.ContainsFunc(spec.Tolerations, func(tol corev1.Toleration) bool {
					return tol.Key == taint && tol.TolerationSeconds != nil && *tol.TolerationSeconds == lease
				}) {
					t.Errorf("%s: lost its %s toleration of %d s", pt, taint, lease)
				}
			}
		case "drbd", "client", "test", "csi-controller", "csi-node":
			role := map[bool]string{true: "drbd", false: "client"}[comp == "drbd"]
			if spec.NodeSelector[v.RoleLabel(role)] != "true" || len(spec.NodeSelector) != 2 {
				t.Errorf("%s: nodeSelector %v, want %s and the user's", pt, spec.NodeSelector, v.RoleLabel(role))
			}
			if comp == "drbd" || comp == "test" {
				if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 {
					t.Errorf("%s: required node terms %s, want the user's alone", pt, jsonOf(t, terms))
				}
				break
			}
			server := corev1.NodeSelectorRequirement{Key: v.RoleLabel("server"), Operator: corev1.NodeSelectorOpDoesNotExist}
			if want := []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{server, rack}}}; !reflect.DeepEqual(terms, want) {
				t.Errorf("%s: required node terms %s, want the server exclusion and the user's in one term", pt, jsonOf(t, terms))
			}
		case "failover":
			if pref := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution; len(pref) != 1 ||
				pref[0].PodAffinityTerm.LabelSelector.MatchLabels["app.kubernetes.io/component"] != "failover" {
				t.Errorf("%s: lost its replicas' anti-affinity: %s", pt, jsonOf(t, pref))
			}
		}
	}
	for comp := range podKeys {
		if !seen[comp] {
			t.Errorf("no %s pod rendered", comp)
		}
	}
	for _, d := range r.Docs {
		if l := d.Meta.GetLabels(); l["example.com/site"] != "hpc1" || l["app.kubernetes.io/part-of"] != "kube-lustre" {
			t.Errorf("%s/%s: labels %v: want commonLabels beside the chart's own", d.Kind, d.Meta.GetName(), l)
		}
		// podLabels are the pods'; other objects carry commonLabels only.
		if _, ok := d.Meta.GetLabels()["example.com/team"]; ok && d.Kind != "Pod" {
			t.Errorf("%s/%s carries a podLabel", d.Kind, d.Meta.GetName())
		}
	}
}

// podAnnotations: the annotations of a pod template, or of the Pod.
func podAnnotations(p podTemplate) map[string]string {
	if pod, ok := p.Owner.Obj.(*corev1.Pod); ok {
		return pod.Annotations
	}
	return templateOf(p.Owner).Annotations
}

// templateOf: the pod template of a workload.
func templateOf(d doc) *corev1.PodTemplateSpec {
	switch o := d.Obj.(type) {
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *batchv1.Job:
		return &o.Spec.Template
	}
	return nil
}

// Two required node terms of pods.target.affinity would make the target's
// one term two, and the failover controller could no longer read its node
// pair: refused, saying why.
func TestTargetAffinityTakesOneTerm(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	terms := "pods.target.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
	in := input{Files: []string{ha}, Sets: []string{
		terms + "[0].matchExpressions[0].key=a", terms + "[0].matchExpressions[0].operator=Exists",
		terms + "[1].matchExpressions[0].key=b", terms + "[1].matchExpressions[0].operator=Exists",
	}}
	if _, err := renderErr(t, in); err == nil || !strings.Contains(err.Error(), "a target takes at most one") {
		t.Fatalf("render = %v, want the two terms refused", err)
	}
	// Other components take any number: each is joined to the chart's term.
	in.Sets = slices.Clone(in.Sets)
	for i := range in.Sets {
		in.Sets[i] = strings.Replace(in.Sets[i], "pods.target.", "pods.client.", 1)
	}
	r := render(t, in)
	for _, d := range r.ofKind("DaemonSet") {
		spec := templateOf(d).Spec
		if d.Meta.GetLabels()["app.kubernetes.io/component"] != "client" {
			continue
		}
		terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 2 {
			t.Fatalf("client: %s, want two terms", jsonOf(t, terms))
		}
		for _, term := range terms {
			if len(term.MatchExpressions) != 2 || term.MatchExpressions[0].Operator != corev1.NodeSelectorOpDoesNotExist {
				t.Errorf("client term %s lacks the server exclusion", jsonOf(t, term))
			}
		}
	}
}

// enabled: false (a parent chart switching kube-lustre off) renders nothing
// at all, not even the checks that fail on values without targets, with the
// Go engine and the helm CLI alike.
func TestDisabledRendersNothing(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	for _, in := range []input{
		{Files: []string{ha}, Sets: []string{"enabled=false"}},
		{Sets: []string{"enabled=false"}}, // no targets: the chart would fail if it rendered
	} {
		files, err := renderErr(t, in)
		if err != nil {
			t.Fatalf("%v: %v", in, err)
		}
		for path, text := range files {
			if strings.TrimSpace(text) != "" {
				t.Errorf("%v: %s renders:\n%s", in, path, text)
			}
		}
		args := append([]string{"template", releaseName, chartDir(t), "-n", namespace}, cliArgs(in)...)
		out, errOut, err := helmRun(t, args...)
		if err != nil || strings.Contains(out, "kind:") {
			t.Errorf("helm %s: %v %s\n%s", strings.Join(args, " "), err, errOut, out)
		}
	}
}

// The filesystem's pods get a PriorityClass the chart creates, or the one
// priorityClassName names, or none when both are off; the labelling Jobs
// (hooks that run before the class exists) and the test pod never.
func TestPriorityClass(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	critical := map[string]bool{"drbd": true, "target": true, "client": true, "failover": true, "csi-controller": true, "csi-node": true}
	for _, c := range []struct {
		sets    []string
		created bool
		want    string
	}{
		{nil, true, "lustre-lfs1-kube-lustre-critical"},
		{[]string{"priorityClass.value=2000", "priorityClass.preemptionPolicy=Never"}, true, "lustre-lfs1-kube-lustre-critical"},
		{[]string{"priorityClassName=site-storage"}, false, "site-storage"},
		{[]string{"priorityClass.create=false"}, false, ""},
	} {
		t.Run(strings.Join(c.sets, ","), func(t *testing.T) {
			r := render(t, input{Files: []string{ha}, Sets: append([]string{"provisioner.enabled=true"}, c.sets...)})
			pcs := r.ofKind("PriorityClass")
			if len(pcs) != map[bool]int{true: 1, false: 0}[c.created] {
				t.Fatalf("%d PriorityClasses, want created=%v", len(pcs), c.created)
			}
			if c.created {
				pc := pcs[0].Obj.(*schedulingv1.PriorityClass)
				value, policy := int32(1000000000), corev1.PreemptLowerPriority
				if len(c.sets) > 0 {
					value, policy = 2000, corev1.PreemptNever
				}
				if pc.Name != c.want || pc.Value != value || pc.GlobalDefault || pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != policy {
					t.Errorf("PriorityClass %s value %d globalDefault %v preemption %v", pc.Name, pc.Value, pc.GlobalDefault, pc.PreemptionPolicy)
				}
			}
			for _, pt := range r.pods() {
				want := ""
				if critical[pt.component()] {
					want = c.want
				}
				if pt.Spec.PriorityClassName != want {
					t.Errorf("%s: priorityClassName %q, want %q", pt, pt.Spec.PriorityClassName, want)
				}
			}
		})
	}
}

// Values the schema refuses, so helm install and helm lustre validate stop
// them before any pod starts with them.
func TestSchedulingValuesSchema(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	for _, c := range []struct{ set, want string }{
		{"logLevel=verbose", "logLevel"},
		{"enabled=maybe", "enabled"},
		{"pods.target.tolerations[0].operator=Maybe", "operator"},
		{"pods.drbd.podLabels.bad/key/x=v", "bad/key/x"},
		{"pods.nodes.tolerations[0].key=x", "nodes"},
		{"commonLabels.site=not a label value", "commonLabels"},
		{"priorityClass.value=2000000001", "value"},
	} {
		t.Run(c.set, func(t *testing.T) {
			in := input{Files: []string{ha}, Sets: []string{c.set}}
			if _, err := renderErr(t, in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("helm: %v, want a schema error naming %s", err, c.want)
			}
			_, ps, err := helmvalues.Check(helmvalues.Options{Files: in.Files, Sets: in.Sets})
			if err != nil || !strings.Contains(ps.Error(), c.want) {
				t.Errorf("helm lustre validate: %v %v, want a problem naming %s", err, ps, c.want)
			}
		})
	}
}
