package entry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

// ServeMetrics starts the metrics server where the chart asked for one
// (KUBE_LUSTRE_METRICS_ADDR) and returns the registerer to record on, whose
// series carry the node they were observed on; nil when metrics are off
// (the metrics.New* recorders are then nil and record nothing). A port it
// cannot listen on (something outside Kubernetes holds it) is logged as an
// error and leaves the pod without metrics, never without its work: a
// target must not stop serving, nor a DRBD agent stop fencing, for want of
// a metrics port.
func (rt *Runtime) ServeMetrics(ctx context.Context) prometheus.Registerer {
	if rt.Env.MetricsAddr == "" {
		return nil
	}
	labels := prometheus.Labels{}
	if rt.Env.Node != "" {
		labels["node"] = rt.Env.Node
	}
	reg, rec := metrics.NewRegistry(labels)
	if _, err := metrics.Serve(ctx, rt.Env.MetricsAddr, reg, rt.Log); err != nil {
		rt.Log.Error("metrics are off in this pod; it works on without them", "err", err.Error())
		return nil
	}
	return rec
}
