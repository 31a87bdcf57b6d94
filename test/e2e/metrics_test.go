//go:build e2echart

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

// scrape reads a pod's /metrics through the API server's pod proxy, on the
// port its container names metrics: the address Prometheus' Kubernetes
// discovery finds through the chart's metrics Service.
func (r *release) scrape(p corev1.Pod) (metrics.Families, error) {
	port := int32(0)
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == "metrics" {
				port = cp.ContainerPort
			}
		}
	}
	if port == 0 {
		return nil, fmt.Errorf("pod %s has no port named metrics", p.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := r.e.cs.CoreV1().RESTClient().Get().Namespace(p.Namespace).Resource("pods").
		Name(p.Name + ":" + strconv.Itoa(int(port))).SubResource("proxy").Suffix("metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape %s:%d: %w", p.Name, port, err)
	}
	return metrics.Parse(bytes.NewReader(raw))
}

// metricOf sums one series (metrics.Families.Value) over the release's
// running pods of a component: both failover controller replicas (only
// the leader records), or the one pod of a target.
func (r *release) metricOf(t testing.TB, selector, name string, labels map[string]string) (float64, error) {
	t.Helper()
	var sum float64
	for _, p := range r.e.pods(t, r.ns, r.selector(selector)) {
		if !podReady(p) {
			continue // a crashed node's pods, once Kubernetes noticed
		}
		fams, err := r.scrape(p)
		if err != nil {
			return 0, err
		}
		v, _, err := fams.Value(name, labels)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// failoverMetrics are the failover controller's counts of a target's
// failovers and the sum of their durations.
type failoverMetrics struct {
	completed, observed, seconds float64
}

func (r *release) failoverMetrics(t testing.TB, target string) (failoverMetrics, error) {
	t.Helper()
	var m failoverMetrics
	for _, p := range r.e.pods(t, r.ns, r.selector("app.kubernetes.io/component=failover")) {
		if !podReady(p) {
			continue
		}
		fams, err := r.scrape(p)
		if err != nil {
			return m, err
		}
		n, _, err := fams.Value("kube_lustre_failover_completed_total", map[string]string{"target": target})
		if err != nil {
			return m, err
		}
		m.completed += n
		for _, reason := range []string{"node_not_ready", "peer_lost"} {
			n, _, _ := fams.Value("kube_lustre_failover_duration_seconds", map[string]string{"reason": reason})
			s, _ := fams.Sum("kube_lustre_failover_duration_seconds", map[string]string{"reason": reason})
			m.observed, m.seconds = m.observed+n, m.seconds+s
		}
	}
	return m, nil
}

// checkFailoverMetrics: after target failed over from victim to peer, the
// controller counted one more failover with a duration no longer than the
// crash to Ready took, the target's new pod says it serves on peer and
// took over from victim, and peer's DRBD agent says Primary. inProgress is
// when the scrapes first saw the failover under way (0: never seen).
func (r *release) checkFailoverMetrics(t testing.TB, target, victim, peer string, base failoverMetrics, inProgress, ready time.Duration) {
	t.Helper()
	var after failoverMetrics
	poll(t, time.Minute, "the failover counted in the controller's metrics", func() bool {
		var err error
		after, err = r.failoverMetrics(t, target)
		return err == nil && after.completed == base.completed+1
	})
	took := after.seconds - base.seconds
	t.Logf("METRICS failover of %s: completed_total %v -> %v, duration %.1f s (crash to Ready seen by the test %.1f s), in_progress first seen %.1f s after the crash",
		target, base.completed, after.completed, took, ready.Seconds(), inProgress.Seconds())
	if after.observed != base.observed+1 || took <= 0 || took > ready.Seconds()+5 {
		t.Errorf("failover duration: %v observations (was %v), %.1f s; want one more, within the %.1f s the test saw", after.observed, base.observed, took, ready.Seconds())
	}
	if inProgress == 0 {
		t.Errorf("kube_lustre_failover_in_progress{target=%q} never read 1 during the failover", target)
	}
	sel := "kube-lustre.io/target=" + target
	for _, c := range []struct {
		selector, name string
		labels         map[string]string
	}{
		{sel, "kube_lustre_target_serving", map[string]string{"target": target, "node": peer}},
		{sel, "kube_lustre_target_takeovers_total", map[string]string{"target": target, "from": victim}},
		{"app.kubernetes.io/component=drbd", "kube_lustre_drbd_role", map[string]string{"node": peer, "resource": r.res(target), "role": "Primary"}},
	} {
		poll(t, 30*time.Second, fmt.Sprintf("%s%v = 1", c.name, c.labels), func() bool {
			v, err := r.metricOf(t, c.selector, c.name, c.labels)
			return err == nil && v == 1
		})
	}
	// The new server reports the target's space (issue 18).
	poll(t, 30*time.Second, "kube_lustre_target_available_bytes of "+target+" on "+peer, func() bool {
		v, err := r.metricOf(t, sel, "kube_lustre_target_available_bytes", map[string]string{"target": target, "node": peer})
		return err == nil && v > 0
	})
}
