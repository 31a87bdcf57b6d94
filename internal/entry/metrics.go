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
// cannot listen on fails the binary: the pod shows the clash.
func (rt *Runtime) ServeMetrics(ctx context.Context) (prometheus.Registerer, error) {
	if rt.Env.MetricsAddr == "" {
		return nil, nil
	}
	labels := prometheus.Labels{}
	if rt.Env.Node != "" {
		labels["node"] = rt.Env.Node
	}
	reg, rec := metrics.NewRegistry(labels)
	if _, err := metrics.Serve(ctx, rt.Env.MetricsAddr, reg, rt.Log); err != nil {
		return nil, err
	}
	return rec, nil
}
