package entry

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// A metrics port something else holds leaves the pod without metrics, and
// says so, but never stops it: the binary goes on with a nil registerer.
func TestServeMetricsNeverStopsThePod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var logs bytes.Buffer
	rt := &Runtime{Env: Env{Node: "s1", MetricsAddr: held.Addr().String()}, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	if reg := rt.ServeMetrics(ctx); reg != nil {
		t.Fatal("a registerer for a port that could not be bound")
	}
	if !strings.Contains(logs.String(), "metrics are off in this pod") || !strings.Contains(logs.String(), "metrics.ports") {
		t.Fatalf("log: %s", logs.String())
	}
	rt.Env.MetricsAddr = "127.0.0.1:0"
	if reg := rt.ServeMetrics(ctx); reg == nil {
		t.Fatal("no registerer for a free port")
	}
	rt.Env.MetricsAddr = ""
	if reg := rt.ServeMetrics(ctx); reg != nil {
		t.Fatal("metrics without KUBE_LUSTRE_METRICS_ADDR")
	}
}
