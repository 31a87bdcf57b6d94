package tests

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// The only permissions the chart may grant, per component: anything else
// rendered (another verb, resource, a wildcard, a binding to a role the chart
// does not define such as cluster-admin) fails.
var allowedRules = map[string]map[string][]rbacv1.PolicyRule{
	"ClusterRole": {
		"labeler":     {{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "patch"}}},
		"node-reader": {{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}},
		"failover":    {{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}},
		// The pre-delete check: the CSI driver's volumes block an uninstall.
		"uninstall-check": {{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"list"}}},
		"csi-provisioner": {
			{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"get", "list", "watch", "create", "delete", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch", "update"}},
			{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses", "csinodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"volumeattachments"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list", "watch", "create", "update", "patch"}},
		},
		"csi-resizer": {
			{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims/status"}, Verbs: []string{"patch"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"volumeattributesclasses"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list", "watch", "create", "update", "patch"}},
		},
	},
	"Role": {
		// The configmaps rule with names: the targets' records (checked
		// against the StatefulSets below).
		"target": {
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "update"}},
		},
		// resourceNames: the targets' Leases (checked against the
		// StatefulSets below).
		"drbd": {{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "update"}}},
		"failover": {
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "update", "delete"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
			{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: []string{"list"}},
		},
		// The upgrade check reads the running topology, by name (the
		// render fills it in: checked below).
		"labeler": {{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
		// Leader election of the CSI provisioner and resizer.
		"csi-controller": {{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
			Verbs: []string{"get", "watch", "list", "delete", "update", "create"}}},
	},
}

// drbdLeaseNames checks that the DRBD agents' Lease rule names exactly the
// Leases of the DRBD targets (their StatefulSets' names) and returns the
// rules without the names, for the comparison with allowedRules.
func drbdLeaseNames(t *testing.T, in input, r *rendered, rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	t.Helper()
	_, p := plan(t, in)
	drbdTarget := map[string]bool{}
	for _, tp := range p.Targets {
		drbdTarget[tp.Name] = tp.DRBDResource != ""
	}
	return namedInEnv(t, r, rules, "KUBE_LUSTRE_LEASE", func(target string) bool { return drbdTarget[target] })
}

// namedInEnv checks that every rule naming resources names exactly the
// values of the target StatefulSets' env variable key (of the targets
// keep selects) and returns the rules without the names.
func namedInEnv(t *testing.T, r *rendered, rules []rbacv1.PolicyRule, key string, keep func(target string) bool) []rbacv1.PolicyRule {
	t.Helper()
	var want []string
	for _, d := range r.ofKind("StatefulSet") {
		env := map[string]string{}
		for _, e := range d.Obj.(*appsv1.StatefulSet).Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if keep(env["KUBE_LUSTRE_TARGET"]) {
			want = append(want, env[key])
		}
	}
	slices.Sort(want)
	out := slices.Clone(rules)
	for i := range out {
		if out[i].ResourceNames == nil && key == "KUBE_LUSTRE_RECORD" {
			continue // the target Role's unnamed rules
		}
		if got := slices.Sorted(slices.Values(out[i].ResourceNames)); len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("Role names %v, want the targets' %s %v", got, key, want)
		}
		out[i].ResourceNames = nil
	}
	return out
}

// topologyName checks that the labeler's Role names only the release's
// topology ConfigMap and returns the rules without the name.
func topologyName(t *testing.T, r *rendered, rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	t.Helper()
	var want []string
	for _, d := range r.ofKind("ConfigMap") {
		if strings.HasSuffix(d.Meta.GetName(), "-topology") {
			want = append(want, d.Meta.GetName())
		}
	}
	out := slices.Clone(rules)
	for i := range out {
		if !slices.Equal(out[i].ResourceNames, want) {
			t.Errorf("labeler Role names ConfigMaps %v, want the release topology %v", out[i].ResourceNames, want)
		}
		out[i].ResourceNames = nil
	}
	return out
}

func TestRBACGrantsOnlyWhatIsListed(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		r := render(t, in)
		roles := map[string]bool{} // kind/name of every role the chart defines
		for _, kind := range []string{"ClusterRole", "Role"} {
			for _, d := range r.ofKind(kind) {
				roles[kind+"/"+d.Meta.GetName()] = true
				var rules []rbacv1.PolicyRule
				if cr, ok := d.Obj.(*rbacv1.ClusterRole); ok {
					rules = cr.Rules
					if cr.AggregationRule != nil {
						t.Errorf("%s %s aggregates other roles", kind, cr.Name)
					}
				} else {
					rules = d.Obj.(*rbacv1.Role).Rules
				}
				comp := d.Meta.GetLabels()["app.kubernetes.io/component"]
				want, ok := allowedRules[kind][comp]
				if !ok {
					t.Errorf("%s %s (component %q) is not an allowed role", kind, d.Meta.GetName(), comp)
					continue
				}
				switch {
				case comp == "drbd":
					rules = drbdLeaseNames(t, in, r, rules)
				case comp == "target":
					rules = namedInEnv(t, r, rules, "KUBE_LUSTRE_RECORD", func(string) bool { return true })
				case comp == "labeler" && kind == "Role":
					rules = topologyName(t, r, rules)
				}
				if !reflect.DeepEqual(rules, want) {
					t.Errorf("%s %s grants %+v, want exactly %+v", kind, d.Meta.GetName(), rules, want)
				}
				for _, rule := range rules {
					all := slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs)
					if slices.Contains(all, "*") || slices.Contains(rule.Resources, "secrets") {
						t.Errorf("%s %s: wildcard or secrets in %+v", kind, d.Meta.GetName(), rule)
					}
				}
			}
		}
		sas := map[string]bool{}
		for _, d := range r.ofKind("ServiceAccount") {
			sas[d.Meta.GetName()] = true
		}
		bound := map[string]bool{} // service accounts with any binding
		for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
			for _, d := range r.ofKind(kind) {
				var ref rbacv1.RoleRef
				var subjects []rbacv1.Subject
				if b, ok := d.Obj.(*rbacv1.ClusterRoleBinding); ok {
					ref, subjects = b.RoleRef, b.Subjects
				} else {
					b := d.Obj.(*rbacv1.RoleBinding)
					ref, subjects = b.RoleRef, b.Subjects
				}
				if !roles[ref.Kind+"/"+ref.Name] {
					t.Errorf("%s %s binds %s %s, which the chart does not define", kind, d.Meta.GetName(), ref.Kind, ref.Name)
				}
				if kind == "RoleBinding" && ref.Kind != "Role" {
					t.Errorf("RoleBinding %s binds a %s", d.Meta.GetName(), ref.Kind)
				}
				for _, s := range subjects {
					if s.Kind != "ServiceAccount" || s.Namespace != namespace || !sas[s.Name] {
						t.Errorf("%s %s binds %+v, not one of the chart's ServiceAccounts", kind, d.Meta.GetName(), s)
					}
					bound[s.Name] = true
				}
			}
		}
		if len(roles) == 0 {
			t.Fatal("no roles rendered")
		}
		// A pod gets an API token only when its ServiceAccount can do something.
		saAutomount := map[string]*bool{}
		for _, d := range r.ofKind("ServiceAccount") {
			saAutomount[d.Meta.GetName()] = d.Obj.(*corev1.ServiceAccount).AutomountServiceAccountToken
		}
		for _, p := range r.pods() {
			sa := p.Spec.ServiceAccountName
			if sa == "" {
				if p.component() != "test" {
					t.Errorf("%s runs as the namespace's default ServiceAccount", p)
				}
				sa = "default"
			} else if !sas[sa] {
				t.Errorf("%s: ServiceAccount %s is not rendered", p, sa)
			}
			token := true
			for _, b := range []*bool{saAutomount[sa], p.Spec.AutomountServiceAccountToken} {
				if b != nil {
					token = *b
				}
			}
			if token != bound[sa] {
				t.Errorf("%s: API token mounted=%v but its ServiceAccount %s has bindings=%v", p, token, sa, bound[sa])
			}
		}
	})
}

// Pods read Node objects only to resolve what the values leave out: the DRBD
// agent a DRBD node's address, targets and clients the NIDs of the MGS (and
// targets of their own nodes). With every fact given, nothing reads nodes
// except the labelling Job.
func TestNodeReadsOnlyForMissingFacts(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		v, p := plan(t, in)
		want := map[string]bool{}
		for _, tp := range p.Targets {
			for _, n := range tp.Nodes {
				if tp.DRBDResource != "" && v.Nodes[n].Address == "" {
					want["drbd"] = true
				}
			}
			for _, sn := range tp.ServiceNodes {
				if sn.Resolve {
					want["target"] = true
				}
			}
		}
		for _, m := range p.MGSNodes {
			if m.Resolve && v.Clients.Enabled {
				want["client"] = true
			}
		}
		r := render(t, in)
		got := map[string]bool{}
		for _, d := range r.ofKind("ClusterRoleBinding") {
			b := d.Obj.(*rbacv1.ClusterRoleBinding)
			if b.Labels["app.kubernetes.io/component"] != "node-reader" {
				continue
			}
			for _, s := range b.Subjects {
				sa := r.find(t, "ServiceAccount", s.Name)
				got[sa.Meta.GetLabels()["app.kubernetes.io/component"]] = true
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("node readers %v, want %v", got, want)
		}
	})
}

// hostComponents act on the host (nsenter into PID 1): only they may be privileged.
var hostComponents = map[string]bool{"drbd": true, "target": true, "client": true}

// csiComponents enter the host's mount namespace from their csi container
// (hostPID, privileged), but keep the pod network; their sidecars only talk
// to the driver's socket and the API.
var csiComponents = map[string]bool{"csi-controller": true, "csi-node": true}

// restrictedSidecar: a CSI sidecar runs as root (the driver's socket and the
// kubelet's registration directory are root's) with no capability at all.
func restrictedSidecar(sc *corev1.SecurityContext) bool {
	return sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation &&
		sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem && sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) &&
		len(sc.Capabilities.Add) == 0 && (sc.Privileged == nil || !*sc.Privileged)
}

func TestOnlyHostPodsArePrivileged(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		r := render(t, in)
		seen := map[string]bool{}
		for _, p := range r.pods() {
			host := hostComponents[p.component()]
			seen[p.component()] = true
			if csiComponents[p.component()] {
				checkCSIPod(t, p)
				continue
			}
			if p.Spec.HostPID != host || p.Spec.HostNetwork != host || p.Spec.HostIPC {
				t.Errorf("%s: hostPID=%v hostNetwork=%v hostIPC=%v, want host namespaces only for host pods (%v)",
					p, p.Spec.HostPID, p.Spec.HostNetwork, p.Spec.HostIPC, host)
			}
			for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
				sc := c.SecurityContext
				priv := sc != nil && sc.Privileged != nil && *sc.Privileged
				if priv != host {
					t.Errorf("%s container %s: privileged=%v, want %v", p, c.Name, priv, host)
				}
				if host {
					continue
				}
				if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
					t.Errorf("%s container %s: not restricted: %+v", p, c.Name, sc)
				}
			}
			for _, v := range p.Spec.Volumes {
				// The one exception: DRBD runs its fence handler on the
				// host, so the DRBD agent puts the handler binary and its
				// socket in the host's /var/lib/kube-lustre.
				if v.HostPath != nil && host && !(p.component() == "drbd" && v.HostPath.Path == "/var/lib/kube-lustre") {
					t.Errorf("%s mounts hostPath %s: host pods reach the host through nsenter", p, v.HostPath.Path)
				}
			}
		}
		v, _ := plan(t, in)
		for _, c := range []string{"labeler", "target"} {
			if !seen[c] && (c != "target" || v.External == nil) {
				t.Errorf("no %s pod rendered", c)
			}
		}
	})
}

// checkCSIPod: only the csi container is privileged; the only host paths
// are the node plugin's socket and registration directories in the
// kubelet's plugin directories.
func checkCSIPod(t *testing.T, p podTemplate) {
	t.Helper()
	if !p.Spec.HostPID || p.Spec.HostNetwork || p.Spec.HostIPC {
		t.Errorf("%s: hostPID=%v hostNetwork=%v hostIPC=%v, want hostPID only", p, p.Spec.HostPID, p.Spec.HostNetwork, p.Spec.HostIPC)
	}
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		sc := c.SecurityContext
		priv := sc != nil && sc.Privileged != nil && *sc.Privileged
		if priv != (c.Name == "csi") {
			t.Errorf("%s container %s: privileged=%v", p, c.Name, priv)
		}
		if c.Name != "csi" && !restrictedSidecar(sc) {
			t.Errorf("%s container %s: not restricted: %+v", p, c.Name, sc)
		}
	}
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil && !strings.HasPrefix(v.HostPath.Path, "/var/lib/kubelet/plugins") {
			t.Errorf("%s mounts hostPath %s: only the kubelet's plugin directories", p, v.HostPath.Path)
		}
	}
}

var standardLabels = []string{
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
	"app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "helm.sh/chart",
}

func TestStandardLabelsAndNames(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		r := render(t, in)
		ch := loadChart(t)
		want := map[string]string{
			"app.kubernetes.io/name":       "kube-lustre",
			"app.kubernetes.io/instance":   in.release(),
			"app.kubernetes.io/version":    ch.Metadata.AppVersion,
			"app.kubernetes.io/part-of":    "kube-lustre",
			"app.kubernetes.io/managed-by": "Helm",
			"helm.sh/chart":                "kube-lustre-" + ch.Metadata.Version,
		}
		check := func(what string, labels map[string]string) {
			for _, k := range standardLabels {
				v, ok := labels[k]
				if !ok || v == "" {
					t.Errorf("%s: no label %s", what, k)
				} else if w, fixed := want[k]; fixed && v != w {
					t.Errorf("%s: %s=%q, want %q", what, k, v, w)
				}
			}
			for k, v := range labels {
				for _, msg := range slices.Concat(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)) {
					t.Errorf("%s: label %s=%s: %s", what, k, v, msg)
				}
			}
		}
		names := map[string]string{}
		for _, d := range r.Docs {
			what := d.Kind + "/" + d.Meta.GetName()
			check(what, d.Meta.GetLabels())
			name := d.Meta.GetName()
			valid := validation.IsDNS1123Label
			if d.Kind == "CSIDriver" {
				valid = validation.IsDNS1123Subdomain // the driver name, e.g. lfs1.lustre.csi.kube-lustre.io
			}
			if msgs := valid(name); len(msgs) > 0 {
				t.Errorf("%s: %v", what, msgs)
			}
			// The StatefulSet controller labels pods controller-revision-hash=<name>-<10 chars>.
			if d.Kind == "StatefulSet" && len(name) > 52 {
				t.Errorf("%s: %d characters: its pods' controller-revision-hash label would exceed 63", what, len(name))
			}
			if prev, dup := names[d.Kind+"/"+name]; dup {
				t.Errorf("%s rendered twice (%s and %s)", what, prev, d.Source)
			}
			names[d.Kind+"/"+name] = d.Source
		}
		for _, p := range r.pods() {
			check(p.String()+" pod template", p.Labels)
			if sel := selectorOf(p.Owner); sel != nil {
				for k, v := range sel {
					if p.Labels[k] != v {
						t.Errorf("%s: selector %s=%s does not match its pod template", p, k, v)
					}
				}
			}
		}
	})
}

func selectorOf(d doc) map[string]string {
	switch o := d.Obj.(type) {
	case *appsv1.DaemonSet:
		return o.Spec.Selector.MatchLabels
	case *appsv1.StatefulSet:
		return o.Spec.Selector.MatchLabels
	}
	return nil
}

// The contract with the entrypoint binaries: image, binary and subcommand,
// probes, environment, topology and status mounts.
func TestEntrypointContract(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		v, _ := plan(t, in)
		r := render(t, in)
		binary := map[string]string{"labeler": "labeler", "uninstall-check": "labeler", "drbd": "drbd", "target": "lustre-target", "client": "lustre-client", "test": "lustre-client",
			"failover": "failover-controller"}
		for _, p := range r.pods() {
			comp := p.component()
			bin := "/usr/local/bin/" + binary[comp]
			if csiComponents[comp] {
				checkCSIContract(t, v, p)
				continue
			}
			if len(p.Spec.Containers) != 1 {
				t.Fatalf("%s: %d containers", p, len(p.Spec.Containers))
			}
			c := p.Spec.Containers[0]
			repo := map[string]string{"test": "lustre-client", "target": "lustre-target", "client": "lustre-client", "failover": "failover-controller", "uninstall-check": "labeler"}[comp]
			if repo == "" {
				repo = comp
			}
			if img := "kube-lustre/" + repo + ":0.1.0"; c.Image != img {
				t.Errorf("%s: image %s, want %s", p, c.Image, img)
			}
			switch {
			case hostComponents[comp]:
				wantCmd(t, p, c, bin, "run")
				wantProbe(t, p, "readiness", c.ReadinessProbe, bin, "health")
				wantProbe(t, p, "liveness", c.LivenessProbe, bin, "health", "--live")
				if len(p.Spec.InitContainers) != 1 {
					t.Fatalf("%s: want the installer init container, got %d", p, len(p.Spec.InitContainers))
				}
				wantCmd(t, p, p.Spec.InitContainers[0], "/usr/local/bin/installer", v.Install.Mode)
				wantMount(t, p, c, "/run/kube-lustre", func(vol corev1.Volume) bool { return vol.EmptyDir != nil })
				for _, ic := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
					env := envOf(ic)
					for k, w := range map[string]string{
						"NODE_NAME": "fieldRef:spec.nodeName", "POD_NAME": "fieldRef:metadata.name",
						"POD_NAMESPACE": "fieldRef:metadata.namespace", "KUBE_LUSTRE_TOPOLOGY": "/etc/kube-lustre/values.yaml",
					} {
						if env[k] != w {
							t.Errorf("%s container %s: %s=%q, want %q", p, ic.Name, k, env[k], w)
						}
					}
				}
			case comp == "labeler":
				job := p.Owner.Obj.(*batchv1.Job)
				verb := map[bool]string{true: "remove", false: "apply"}[slices.Contains(p.Owner.Hook.Events, "post-delete")]
				wantCmd(t, p, c, bin, verb)
				if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
					t.Errorf("%s: restartPolicy %s", p, job.Spec.Template.Spec.RestartPolicy)
				}
			case comp == "uninstall-check":
				job := p.Owner.Obj.(*batchv1.Job)
				wantCmd(t, p, c, bin, "check-volumes")
				if env := envOf(c); env["KUBE_LUSTRE_CSI_DRIVER"] != v.FSName+".lustre.csi.kube-lustre.io" || !slices.Equal(p.Owner.Hook.Events, []release.HookEvent{release.HookPreDelete}) ||
					job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || !v.Provisioner.Enabled {
					t.Errorf("%s: env %v, events %v, provisioner %v", p, env, p.Owner.Hook.Events, v.Provisioner.Enabled)
				}
				continue // no topology: it reads the API only
			case comp == "failover":
				d := p.Owner.Obj.(*appsv1.Deployment)
				if *d.Spec.Replicas != 2 || c.Command[1] != "run" || !strings.Contains(c.Command[2], "app.kubernetes.io/component=target") {
					t.Errorf("%s: replicas %d command %v", p, *d.Spec.Replicas, c.Command)
				}
				wantProbe(t, p, "readiness", c.ReadinessProbe, bin, "health")
				wantProbe(t, p, "liveness", c.LivenessProbe, bin, "health", "--live")
				if env := envOf(c); env["KUBE_LUSTRE_LEASE_SECONDS"] != fmt.Sprint(v.Failover.LeaseSeconds) || env["POD_NAME"] != "fieldRef:metadata.name" {
					t.Errorf("%s: env %v", p, env)
				}
			case comp == "test":
				wantCmd(t, p, c, bin, "health", "--mounted="+v.ClientMountPoint())
				wantMount(t, p, c, v.ClientMountPoint(), func(vol corev1.Volume) bool {
					return vol.HostPath != nil && vol.HostPath.Path == v.ClientMountPoint()
				})
			default:
				t.Errorf("%s: unexpected component %q", p, comp)
			}
			if comp != "test" && comp != "failover" {
				wantMount(t, p, c, "/etc/kube-lustre", func(vol corev1.Volume) bool {
					return vol.ConfigMap != nil && topologyConfigMapFor(r, p, vol.ConfigMap.Name)
				})
			}
		}
	})
}

// checkCSIContract: the driver container runs images/csi in its mode with
// the filesystem's mount point, the sidecars reach it at /csi/csi.sock.
func checkCSIContract(t *testing.T, v *topology.Values, p podTemplate) {
	t.Helper()
	mode := strings.TrimPrefix(p.component(), "csi-")
	wantSidecars := map[string][]string{"controller": {"csi-provisioner", "csi-resizer", "livenessprobe"},
		"node": {"node-driver-registrar", "livenessprobe"}}[mode]
	var names []string
	for _, c := range p.Spec.Containers[1:] {
		names = append(names, c.Name)
		if !slices.Contains(c.Args, "--csi-address=/csi/csi.sock") {
			t.Errorf("%s sidecar %s: args %v lack the driver's socket", p, c.Name, c.Args)
		}
		if !strings.HasPrefix(c.Image, "registry.k8s.io/sig-storage/") {
			t.Errorf("%s sidecar %s: image %s", p, c.Name, c.Image)
		}
	}
	if !slices.Equal(names, wantSidecars) {
		t.Errorf("%s: sidecars %v, want %v", p, names, wantSidecars)
	}
	c := p.Spec.Containers[0]
	if c.Name != "csi" || c.Image != "kube-lustre/csi:0.1.0" || len(c.Command) < 3 {
		t.Fatalf("%s: first container %s %s %v", p, c.Name, c.Image, c.Command)
	}
	wantCmd(t, p, corev1.Container{Command: c.Command[:3]}, "/usr/local/bin/csi", "run", "--mode="+mode)
	if !slices.Contains(c.Command, "--mount-point="+v.ClientMountPoint()) {
		t.Errorf("%s: command %v lacks --mount-point=%s", p, c.Command, v.ClientMountPoint())
	}
}

// topologyConfigMapFor: the ConfigMap a pod mounts exists when the pod runs:
// a release ConfigMap for release pods, a hook ConfigMap of the same events
// and a lower weight for hook pods.
func topologyConfigMapFor(r *rendered, p podTemplate, name string) bool {
	for _, d := range r.ofKind("ConfigMap") {
		if d.Meta.GetName() != name {
			continue
		}
		if p.Owner.Hook == nil {
			return d.Hook == nil
		}
		if d.Hook == nil || d.Hook.Weight >= p.Owner.Hook.Weight {
			return false
		}
		for _, e := range p.Owner.Hook.Events {
			if !slices.Contains(d.Hook.Events, e) {
				return false
			}
		}
		return true
	}
	return false
}

func wantCmd(t *testing.T, p podTemplate, c corev1.Container, want ...string) {
	t.Helper()
	if got := slices.Concat(c.Command, c.Args); !slices.Equal(got, want) {
		t.Errorf("%s container %s runs %q, want %q", p, c.Name, got, want)
	}
}

func wantProbe(t *testing.T, p podTemplate, what string, pr *corev1.Probe, want ...string) {
	t.Helper()
	if pr == nil || pr.Exec == nil || !slices.Equal(pr.Exec.Command, want) {
		t.Errorf("%s: %s probe %+v, want exec %q", p, what, pr, want)
	}
}

func wantMount(t *testing.T, p podTemplate, c corev1.Container, path string, ok func(corev1.Volume) bool) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, vol := range p.Spec.Volumes {
			if vol.Name == m.Name && ok(vol) {
				return
			}
		}
		t.Errorf("%s: %s is mounted from the wrong volume %s", p, path, m.Name)
		return
	}
	t.Errorf("%s container %s: nothing mounted at %s", p, c.Name, path)
}

// Hooks: re-running install or upgrade never meets an AlreadyExists, and
// what a hook Job needs exists before it and for the same events.
func TestHooks(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		r := render(t, in)
		var jobs []doc
		for _, d := range r.Docs {
			if d.Hook == nil {
				continue
			}
			if !slices.Contains(d.Hook.DeletePolicies, "before-hook-creation") {
				t.Errorf("%s/%s: hook without before-hook-creation: a second run fails on AlreadyExists", d.Kind, d.Meta.GetName())
			}
			if d.Kind == "Job" {
				jobs = append(jobs, d)
			}
		}
		events := map[string]bool{}
		for _, j := range jobs {
			for _, e := range j.Hook.Events {
				events[string(e)] = true
			}
			sa := j.Obj.(*batchv1.Job).Spec.Template.Spec.ServiceAccountName
			for _, need := range hookDeps(r, sa) {
				if need.Hook == nil || need.Hook.Weight >= j.Hook.Weight {
					t.Errorf("Job %s needs %s/%s, which is not a hook weighted before it", j.Meta.GetName(), need.Kind, need.Meta.GetName())
					continue
				}
				for _, e := range j.Hook.Events {
					if !slices.Contains(need.Hook.Events, e) {
						t.Errorf("Job %s runs on %s but %s/%s does not exist then", j.Meta.GetName(), e, need.Kind, need.Meta.GetName())
					}
				}
			}
		}
		// helm test: one test Pod when there are clients to check, none otherwise.
		var tests []doc
		for _, d := range r.ofKind("Pod") {
			if d.Hook != nil && slices.Contains(d.Hook.Events, "test") {
				tests = append(tests, d)
			}
		}
		v, _ := plan(t, in)
		if want := map[bool]int{true: 1, false: 0}[v.Clients.Enabled]; len(tests) != want {
			t.Errorf("%d helm test pods, want %d (clients.enabled=%v)", len(tests), want, v.Clients.Enabled)
		}
		var got []string
		for e := range events {
			got = append(got, e)
		}
		sort.Strings(got)
		want := []string{"post-delete", "pre-install", "pre-rollback", "pre-upgrade"}
		if v.Provisioner.Enabled { // no example sets uninstall.allowWithVolumes (TestUninstallCheck)
			want = []string{"post-delete", "pre-delete", "pre-install", "pre-rollback", "pre-upgrade"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("hook Jobs run on %v, want %v", got, want)
		}
	})
}

// hookDeps: the ServiceAccount sa and the roles and bindings that give it rights.
func hookDeps(r *rendered, sa string) []doc {
	out := []doc{}
	for _, d := range r.Docs {
		switch o := d.Obj.(type) {
		case *corev1.ServiceAccount:
			if o.Name == sa {
				out = append(out, d)
			}
		case *rbacv1.ClusterRoleBinding:
			for _, s := range o.Subjects {
				if s.Name == sa {
					out = append(out, d, findByName(r, o.RoleRef.Kind, o.RoleRef.Name))
				}
			}
		}
	}
	return out
}

func findByName(r *rendered, kind, name string) doc {
	for _, d := range r.ofKind(kind) {
		if d.Meta.GetName() == name {
			return d
		}
	}
	return doc{Kind: kind, Meta: &metav1.ObjectMeta{Name: name}}
}

func TestNotes(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		v, p := plan(t, in)
		r := render(t, in)
		servers := 0
		for _, n := range p.Nodes {
			if len(n.Targets) > 0 {
				servers++
			}
		}
		want := []string{
			fmt.Sprintf("%d target StatefulSets", len(p.Targets)),
			fmt.Sprintf("on %d server nodes", servers),
			"helm lustre plan", "kubectl get pods -n " + namespace,
		}
		if p.External {
			want = []string{"external: served by MGS " + topology.NIDList(p.MGSNodes), "helm lustre plan"}
		}
		if v.Provisioner.Enabled {
			want = append(want, "dynamic volumes: StorageClass lustre-"+p.FSName)
		}
		if v.Clients.Enabled {
			want = append(want, "helm test "+in.release())
		}
		for _, w := range want {
			if !strings.Contains(r.Notes, w) {
				t.Errorf("NOTES.txt lacks %q:\n%s", w, r.Notes)
			}
		}
	})
}

// failover.mode manual: no controller, no rights to delete pods, no gate on
// the target pods.
func TestManualFailoverRendersNoController(t *testing.T) {
	t.Parallel()
	in := input{Files: []string{filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")}, Sets: []string{"failover.mode=manual"}}
	r := render(t, in)
	if d := r.ofKind("Deployment"); len(d) != 0 {
		t.Fatalf("manual failover rendered %d Deployments", len(d))
	}
	for _, d := range r.ofKind("Role") {
		for _, rule := range d.Obj.(*rbacv1.Role).Rules {
			if slices.Contains(rule.Verbs, "delete") {
				t.Fatalf("%s may delete %v in manual mode", d.Meta.GetName(), rule.Resources)
			}
		}
	}
	// Nothing would release a gated pod: the scheduler alone places them;
	// nothing would restart an OnDelete pod: each StatefulSet rolls its own.
	for _, d := range r.ofKind("StatefulSet") {
		sts := d.Obj.(*appsv1.StatefulSet)
		if g := sts.Spec.Template.Spec.SchedulingGates; len(g) != 0 {
			t.Fatalf("%s: scheduling gates %v in manual mode", d.Meta.GetName(), g)
		}
		if sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
			t.Fatalf("%s: updateStrategy %s in manual mode", d.Meta.GetName(), sts.Spec.UpdateStrategy.Type)
		}
	}
	auto := render(t, input{Files: in.Files})
	if d := auto.ofKind("Deployment"); len(d) != 1 {
		t.Fatalf("automatic failover rendered %d Deployments, want the controller", len(d))
	}
}

// testing.hostsimDir (test clusters only) points every host-touching
// container, and the helm test, at the simulated hosts; nothing else
// changes, and by default nothing mentions them.
func TestHostsimModeForTestClusters(t *testing.T) {
	t.Parallel()
	files := []string{filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")}
	sim := render(t, input{Files: files, Sets: []string{"testing.hostsimDir=/var/lib/kube-lustre-hostsim"}})
	for _, p := range sim.pods() {
		host := hostComponents[p.component()] || p.component() == "test"
		var hasVol bool
		for _, v := range p.Spec.Volumes {
			hasVol = hasVol || (v.HostPath != nil && v.HostPath.Path == "/var/lib/kube-lustre-hostsim")
		}
		if hasVol != host {
			t.Errorf("%s: hostsim volume %v, want %v", p, hasVol, host)
		}
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			if got := envOf(c)["KUBE_LUSTRE_HOSTSIM"]; (got == "/hostsim") != host {
				t.Errorf("%s container %s: KUBE_LUSTRE_HOSTSIM=%q", p, c.Name, got)
			}
		}
	}
	for _, p := range render(t, input{Files: files}).pods() {
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			if _, ok := envOf(c)["KUBE_LUSTRE_HOSTSIM"]; ok {
				t.Errorf("%s: hostsim env in a default render", p)
			}
		}
	}
}

// The uninstall check exists only with the provisioner (whose volumes it
// counts), and uninstall.allowWithVolumes leaves it out.
func TestUninstallCheck(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	for _, c := range []struct {
		sets []string
		want bool
	}{
		{nil, false},
		{[]string{"provisioner.enabled=true"}, true},
		{[]string{"provisioner.enabled=true", "uninstall.allowWithVolumes=true"}, false},
	} {
		r := render(t, input{Files: []string{ha}, Sets: c.sets})
		found := false
		for _, d := range r.ofKind("Job") {
			found = found || strings.HasSuffix(d.Meta.GetName(), "-uninstall-check")
		}
		if found != c.want {
			t.Errorf("--set %v: uninstall check rendered %v, want %v", c.sets, found, c.want)
		}
	}
}
