package tests

import (
	"fmt"
	"os"
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// metricsPort is the port a pod's kube-lustre container serves metrics on
// (named metrics), and the address the binary is told: they must agree.
func metricsPort(t *testing.T, p podTemplate) (int32, bool) {
	t.Helper()
	for _, c := range p.Spec.Containers {
		var port int32
		for _, cp := range c.Ports {
			if cp.Name == "metrics" {
				port = cp.ContainerPort
			}
		}
		addr := ""
		for _, e := range c.Env {
			if e.Name == "KUBE_LUSTRE_METRICS_ADDR" {
				addr = e.Value
			}
		}
		switch {
		case port == 0 && addr == "":
			continue
		case addr != fmt.Sprintf(":%d", port):
			t.Fatalf("%s container %s: port metrics %d, KUBE_LUSTRE_METRICS_ADDR %q", p, c.Name, port, addr)
		}
		return port, true
	}
	return 0, false
}

// Every long-running component serves metrics on the port the values give
// it; each target on its own (targetsFrom + its index), so no two target
// pods claim one host port; one Service reaches them all by the port's
// name (issue 18).
func TestMetricsPorts(t *testing.T) {
	t.Parallel()
	in := input{Files: []string{"../../../examples/ha.yaml"}, Sets: []string{"provisioner.enabled=true"}}
	r := render(t, in)
	v, _ := plan(t, in)
	want := map[string]int32{"drbd": 9721, "client": 9722, "failover": 9720, "csi-controller": 9720, "csi-node": 9720}
	targets := map[string]int32{}
	for i, tg := range v.Targets {
		targets[tg.ShortName()] = int32(24000 + i)
	}
	seen := map[string]bool{}
	for _, p := range r.pods() {
		port, ok := metricsPort(t, p)
		c := p.component()
		switch {
		case c == "target":
			if w := targets[p.Labels["kube-lustre.io/target"]]; !ok || port != w {
				t.Errorf("%s: metrics port %d (%v), want %d", p, port, ok, w)
			}
		case want[c] != 0:
			if !ok || port != want[c] {
				t.Errorf("%s: metrics port %d (%v), want %d", p, port, ok, want[c])
			}
		case ok:
			t.Errorf("%s (%s) serves metrics; it runs to completion", p, c)
		}
		if ok {
			seen[c] = true
			if p.Spec.HostNetwork != (c == "drbd" || c == "client" || c == "target") {
				t.Errorf("%s: hostNetwork %v", p, p.Spec.HostNetwork)
			}
		}
	}
	for c := range want {
		if !seen[c] {
			t.Errorf("no %s pod serves metrics", c)
		}
	}
	svc := r.find(t, "Service", "lfs1-kube-lustre-metrics").Obj.(*corev1.Service)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("metrics") {
		t.Fatalf("metrics Service: %+v", svc.Spec)
	}
	if len(svc.Spec.Selector) != 2 || svc.Spec.Selector["app.kubernetes.io/instance"] != releaseName {
		t.Fatalf("metrics Service selects %v, want every pod of the release", svc.Spec.Selector)
	}
	for _, kind := range []string{"ServiceMonitor", "ConfigMap"} {
		for _, d := range r.ofKind(kind) {
			if d.Meta.GetName() == "lfs1-kube-lustre-dashboard" || kind == "ServiceMonitor" {
				t.Errorf("%s %s rendered without being enabled", kind, d.Meta.GetName())
			}
		}
	}
}

// The ServiceMonitor and the dashboard, when asked for; nothing of metrics
// when they are off.
func TestMetricsOptional(t *testing.T) {
	t.Parallel()
	on := render(t, input{Files: []string{"../../../examples/ha.yaml"}, Sets: []string{
		"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prometheus", "metrics.serviceMonitor.interval=15s",
		"metrics.dashboard.enabled=true",
	}})
	sm := on.find(t, "ServiceMonitor", "lfs1-kube-lustre-metrics").Obj.(*monitoringv1.ServiceMonitor)
	svc := on.find(t, "Service", "lfs1-kube-lustre-metrics").Obj.(*corev1.Service)
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %q", k, v, svc.Labels[k])
		}
	}
	if sm.Labels["release"] != "prometheus" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Interval != "15s" {
		t.Errorf("ServiceMonitor: labels %v, endpoints %+v", sm.Labels, sm.Spec.Endpoints)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
		t.Errorf("ServiceMonitor namespaces %v", sm.Spec.NamespaceSelector.MatchNames)
	}
	cm := on.find(t, "ConfigMap", "lfs1-kube-lustre-dashboard").Obj.(*corev1.ConfigMap)
	file, err := os.ReadFile("../dashboards/kube-lustre.json")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Data["kube-lustre.json"]+"\n" != string(file) {
		t.Errorf("dashboard ConfigMap: labels %v, data differs from dashboards/kube-lustre.json: %v", cm.Labels, cm.Data["kube-lustre.json"]+"\n" != string(file))
	}

	off := render(t, input{Files: []string{"../../../examples/ha.yaml"}, Sets: []string{"metrics.enabled=false", "metrics.serviceMonitor.enabled=true"}})
	for _, p := range off.pods() {
		if port, ok := metricsPort(t, p); ok {
			t.Errorf("metrics off: %s serves on %d", p, port)
		}
	}
	for _, d := range off.Docs {
		if d.Kind == "ServiceMonitor" || d.Meta.GetName() == "lfs1-kube-lustre-metrics" {
			t.Errorf("metrics off: %s %s rendered", d.Kind, d.Meta.GetName())
		}
	}
}
