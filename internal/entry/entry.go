// Package entry is the common runtime of the entrypoint binaries in images/:
// environment from the downward API, JSON logs, the topology from the
// rendered ConfigMap, SIGTERM handling, the host runner and the status file
// the `health` subcommand reads for the pod's probes.
package entry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/simhook"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// Env is what the chart passes every container.
type Env struct {
	Node         string // NODE_NAME (spec.nodeName)
	Pod          string // POD_NAME
	Namespace    string // POD_NAMESPACE
	Topology     string // KUBE_LUSTRE_TOPOLOGY: the rendered values file
	Target       string // KUBE_LUSTRE_TARGET: short name of the served target (target pods)
	Lease        string // KUBE_LUSTRE_LEASE: the target's Lease name (target pods)
	LeaseSeconds int    // KUBE_LUSTRE_LEASE_SECONDS
	Record       string // KUBE_LUSTRE_RECORD: the ConfigMap recording that the target was created (target pods)
	StatusFile   string // KUBE_LUSTRE_STATUS, default /run/kube-lustre/status.json
	// LogLevel is KUBE_LUSTRE_LOG_LEVEL (the chart's logLevel): debug,
	// info, warn or error; info when unset.
	LogLevel slog.Level
	// HostSim, when set, is a hostsim state directory used instead of
	// nsenter: the local test cluster runs the real binaries against
	// simulated hosts. Never set by the chart.
	HostSim string // KUBE_LUSTRE_HOSTSIM
	// MetricsAddr is KUBE_LUSTRE_METRICS_ADDR (":9721"): where to serve
	// Prometheus metrics; empty when the chart's metrics are off.
	MetricsAddr string
}

// DefaultTopology is where the chart mounts the topology ConfigMap.
const DefaultTopology = "/etc/kube-lustre/values.yaml"

// FromEnv reads Env; lookup is os.LookupEnv in production.
func FromEnv(lookup func(string) (string, bool)) (Env, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	e := Env{
		Node: get("NODE_NAME", ""), Pod: get("POD_NAME", ""), Namespace: get("POD_NAMESPACE", ""),
		Topology: get("KUBE_LUSTRE_TOPOLOGY", DefaultTopology), Target: get("KUBE_LUSTRE_TARGET", ""),
		Lease: get("KUBE_LUSTRE_LEASE", ""), Record: get("KUBE_LUSTRE_RECORD", ""), StatusFile: get("KUBE_LUSTRE_STATUS", "/run/kube-lustre/status.json"),
		HostSim: get("KUBE_LUSTRE_HOSTSIM", ""), MetricsAddr: get("KUBE_LUSTRE_METRICS_ADDR", ""),
	}
	secs := get("KUBE_LUSTRE_LEASE_SECONDS", "10")
	n, err := strconv.Atoi(secs)
	if err != nil || n <= 0 {
		return e, fmt.Errorf("KUBE_LUSTRE_LEASE_SECONDS=%q: want a positive number of seconds", secs)
	}
	e.LeaseSeconds = n
	level, err := ParseLogLevel(get("KUBE_LUSTRE_LOG_LEVEL", "info"))
	if err != nil {
		return e, err
	}
	e.LogLevel = level
	return e, nil
}

// logLevels are the values of KUBE_LUSTRE_LOG_LEVEL, as the chart's schema
// allows them for logLevel.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// ParseLogLevel reads a log level name: debug, info, warn or error, in any
// case. Anything else is refused rather than guessed.
func ParseLogLevel(s string) (slog.Level, error) {
	if l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l, nil
	}
	return slog.LevelInfo, fmt.Errorf("KUBE_LUSTRE_LOG_LEVEL=%q: want debug, info, warn or error", s)
}

// RequireNode fails when the downward API did not give the node name: every
// host-touching binary must know which node it is on.
func (e Env) RequireNode() error {
	if e.Node == "" {
		return errors.New("NODE_NAME is not set: the pod spec must pass spec.nodeName through the downward API")
	}
	return nil
}

// Logger logs JSON lines at e.LogLevel and above to w with the component
// and node on every line.
func Logger(w io.Writer, component string, e Env) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: e.LogLevel})
	return slog.New(h).With("component", component, "node", e.Node)
}

// LoadTopology reads the rendered values and refuses to go on when they have
// problems: the binaries act on hosts only with a topology the validator
// accepted.
func LoadTopology(path string) (*topology.Values, *topology.Plan, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("topology: %w", err)
	}
	v, ps, err := topology.CheckDocument(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("topology %s: %w", path, err)
	}
	if len(ps) > 0 {
		return nil, nil, fmt.Errorf("topology %s has %d problem(s); run helm lustre validate:\n%w", path, len(ps), ps)
	}
	return v, v.Plan(), nil
}

// Runner returns the host runner: nsenter into PID 1's namespaces, or the
// simulated host named after the node when HostSim is set. Every command is
// logged.
func Runner(e Env, log *slog.Logger) (host.Runner, error) {
	var r host.Runner
	if e.HostSim != "" {
		sim, err := e.Simulated()
		if err != nil {
			return nil, err
		}
		if r, err = sim.Open(e.HostSim, e.Node); err != nil {
			return nil, fmt.Errorf("hostsim %s: %w", e.HostSim, err)
		}
	} else {
		r = host.NewNsenter()
	}
	return host.NewSlog(r, log), nil
}

// Simulated returns the simulated world's hooks, or an error naming the
// cause when KUBE_LUSTRE_HOSTSIM is set in a binary built without them.
func (e Env) Simulated() (simhook.Hooks, error) {
	sim, ok := simhook.Get()
	if !ok {
		return sim, fmt.Errorf("KUBE_LUSTRE_HOSTSIM=%s is set, but this binary was built without simulated hosts (they are for test clusters: build with -tags hostsim)", e.HostSim)
	}
	return sim, nil
}

// SignalContext is cancelled on SIGTERM or SIGINT, when the kubelet stops
// the pod: the binaries then undo what they did, in order.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}
