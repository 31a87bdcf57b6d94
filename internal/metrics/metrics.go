// Package metrics defines every Prometheus metric kube-lustre exposes, in
// one place, and serves them: the DRBD agents, target pods, clients and
// the CSI node plugin on the node's network (hostNetwork, on the ports the
// chart assigns so they never clash), the failover controller and the CSI
// controller on their pod's. The chart's dashboard and docs/metrics.md name
// these metrics; a test checks that every name they use is defined here.
//
// Each component gets a small recorder (DRBD, Target, Client, Failover,
// CSI) whose methods take plain values, so the loops that own the facts
// record them without this package knowing their types. A nil recorder
// records nothing: the loops run unchanged without metrics (tests, the VM
// suite).
//
// State-like facts (a DRBD role, a target's state) are exported the
// Prometheus way: one series per possible value, 1 for the current one and
// the others removed, so a dashboard filters on the label.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "kube_lustre"

// NewRegistry returns a registry with the Go runtime and process
// collectors, its metrics carrying constant labels (the node, for the
// per-node components, so a series says where it was observed even when
// scraped without Kubernetes service discovery).
func NewRegistry(constLabels prometheus.Labels) (*prometheus.Registry, prometheus.Registerer) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, prometheus.WrapRegistererWith(constLabels, reg)
}

// Serve serves reg's metrics at /metrics on addr (":9721") until ctx is
// done. It returns the address once listening, or the error that kept it
// from listening, naming the setting that chooses the port.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics on %s (set metrics.ports in the chart's values to a free port): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", addr, "err", err.Error())
		}
	}()
	log.Info("serving metrics", "addr", l.Addr().String(), "path", "/metrics")
	return l.Addr(), nil
}

// oneOf sets the series of vec matching fixed to 1 with the label named
// key at value, after removing the series with any other value: the
// current state of an enum.
func oneOf(vec *prometheus.GaugeVec, fixed prometheus.Labels, key, value string) {
	vec.DeletePartialMatch(fixed)
	labels := prometheus.Labels{key: value}
	for k, v := range fixed {
		labels[k] = v
	}
	vec.With(labels).Set(1)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func gaugeVec(reg prometheus.Registerer, subsystem, name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
	reg.MustRegister(v)
	return v
}

func counterVec(reg prometheus.Registerer, subsystem, name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
	reg.MustRegister(v)
	return v
}

func histogramVec(reg prometheus.Registerer, subsystem, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help, Buckets: buckets}, labels)
	reg.MustRegister(v)
	return v
}
