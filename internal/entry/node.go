package entry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/nodespec"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// Node is what a host-touching binary starts from: its topology, its node's
// step parameters, the host runner and a status reporter.
type Node struct {
	Values *topology.Values
	Plan   *topology.Plan
	Spec   nodespec.Spec
	Runner host.Runner
	Status *Reporter
	Log    *slog.Logger
}

// SetupNode loads the topology, connects to the API (to resolve node
// addresses the values leave out), picks the runner and starts the
// heartbeat. Any failure here is reported and ends the binary before it
// touches the host.
func SetupNode(ctx context.Context, rt *Runtime) (*Node, error) {
	n, err := LoadNode(rt)
	if err != nil {
		return nil, err
	}
	n.Status = NewReporter(ctx, rt.Env.StatusFile, rt.Log)
	return n, nil
}

// LoadNode is SetupNode without the heartbeat, for one-shot subcommands
// (status) that must not overwrite the main loop's status file.
func LoadNode(rt *Runtime) (*Node, error) {
	if err := rt.Env.RequireNode(); err != nil {
		return nil, err
	}
	v, p, err := LoadTopology(rt.Env.Topology)
	if err != nil {
		return nil, err
	}
	run, err := Runner(rt.Env, rt.Log)
	if err != nil {
		return nil, err
	}
	spec := nodespec.Spec{Values: v, Plan: p, Node: rt.Env.Node}
	if cs, err := NodeClient(); err == nil {
		spec.Resolve = NodeIPResolver(cs)
	} else {
		rt.Log.Warn("no Kubernetes API access; node addresses must come from the values", "err", err.Error())
	}
	return &Node{Values: v, Plan: p, Spec: spec, Runner: run, Log: rt.Log}, nil
}

// Fail records err in the status file (so `kubectl describe` shows it via
// the probe) and returns it.
func (n *Node) Fail(err error) error {
	n.Status.Set(podstate.Failed, err.Error())
	return fmt.Errorf("%w", err)
}
