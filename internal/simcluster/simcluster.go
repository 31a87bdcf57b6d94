// Package simcluster runs a whole kube-lustre topology on simulated hosts:
// one hostsim host per planned node (address, disks, modules), and the same
// agent loops the entrypoint binaries run, one per pod the chart would
// start. It is how tests and `make demo` bring a filesystem up end to end
// without kernels.
package simcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/nodespec"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// Cluster is a provisioned world for one topology.
type Cluster struct {
	World  *hostsim.World
	Values *topology.Values
	Plan   *topology.Plan
	addrs  map[string]string
}

// New opens a world in dir and adds every planned node with an eth1
// address and each backing disk the plan names (1 GiB, blank).
func New(dir string, v *topology.Values) (*Cluster, error) {
	w, err := hostsim.Open(dir)
	if err != nil {
		return nil, err
	}
	p := v.Plan()
	c := &Cluster{World: w, Values: v, Plan: p, addrs: map[string]string{}}
	for i, n := range p.Nodes {
		addr := fmt.Sprintf("10.%d.%d.%d", 10+i/65536, (i/256)%256, i%256+1)
		if f, ok := v.Nodes[n.Name]; ok && f.Address != "" {
			addr = f.Address
		}
		c.addrs[n.Name] = addr
		if err := w.AddHost(n.Name, hostsim.HostConfig{Interfaces: map[string]string{"eth1": addr}}); err != nil {
			return nil, err
		}
		for _, d := range disks(p, n) {
			if err := w.AddDisk(n.Name, d, 1<<30); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func disks(p *topology.Plan, n topology.NodePlan) []string {
	var out []string
	for _, r := range n.DRBD {
		out = append(out, r.Disk)
	}
	for _, name := range n.Targets {
		t, _ := p.Target(name)
		if t.DRBDResource != "" {
			continue
		}
		for _, v := range t.Vdevs {
			if strings.HasPrefix(v, "/dev/") {
				out = append(out, v)
			}
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// Resolve is the nodespec.Resolver of the simulated nodes (their eth1).
func (c *Cluster) Resolve(_ context.Context, node string) (string, error) {
	if a, ok := c.addrs[node]; ok {
		return a, nil
	}
	return "", fmt.Errorf("no simulated node %q", node)
}

// Spec is what a binary on node would compute.
func (c *Cluster) Spec(node string) nodespec.Spec {
	return nodespec.Spec{Values: c.Values, Plan: c.Plan, Node: node, Resolve: c.Resolve}
}

// Status records the last state an agent reported.
type Status struct {
	mu         sync.Mutex
	state, msg string
}

// Set implements agent.Status.
func (s *Status) Set(state, msg string) {
	s.mu.Lock()
	s.state, s.msg = state, msg
	s.mu.Unlock()
}

// Get returns the last state and message.
func (s *Status) Get() (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.msg
}

// Running is a started topology: one agent per pod.
type Running struct {
	// Pods maps a pod-like name (drbd-s1, target-mdt0@s1, client-c1) to its status.
	Pods    map[string]*Status
	stopSrv context.CancelFunc
	stopDRB context.CancelFunc
	srv     sync.WaitGroup
	drb     sync.WaitGroup
	mu      sync.Mutex
	errs    []error
}

// Start launches the DRBD agents of every DRBD node, each target on its
// preferred node, and every named client, as the chart's pods would.
func (c *Cluster) Start(ctx context.Context, cfg agent.Config, log *slog.Logger) (*Running, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Running{Pods: map[string]*Status{}}
	dctx, dcancel := context.WithCancel(ctx)
	sctx, scancel := context.WithCancel(ctx)
	r.stopDRB, r.stopSrv = dcancel, scancel
	for _, n := range c.Plan.Nodes {
		res, err := c.Spec(n.Name).DRBDResources(ctx)
		if err != nil {
			r.Stop()
			return nil, err
		}
		if len(res) == 0 {
			continue
		}
		st := r.pod("drbd-" + n.Name)
		run, l := c.World.Host(n.Name), log.With("pod", "drbd-"+n.Name)
		r.drb.Go(func() { agent.DRBD(dctx, run, res, st, l, cfg) })
	}
	for _, t := range c.Plan.Targets {
		s, err := c.Spec(t.Preferred).Server(ctx, t.Name)
		if err != nil {
			r.Stop()
			return nil, err
		}
		name := "target-" + t.Name + "@" + t.Preferred
		st, run, l := r.pod(name), c.World.Host(t.Preferred), log.With("pod", name)
		r.srv.Go(func() { r.record(name, agent.Target(sctx, run, s, st, l, cfg)) })
	}
	for _, n := range c.Plan.Clients.Nodes {
		cl, err := c.Spec(n).Client(ctx)
		if err != nil {
			r.Stop()
			return nil, err
		}
		name := "client-" + n
		st, run, l := r.pod(name), c.World.Host(n), log.With("pod", name)
		r.srv.Go(func() { r.record(name, agent.Client(sctx, run, cl, c.Values.LNet.Networks, st, l, cfg)) })
	}
	return r, nil
}

func (r *Running) pod(name string) *Status {
	st := &Status{state: agent.Starting}
	r.Pods[name] = st
	return st
}

func (r *Running) record(pod string, err error) {
	if err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Errorf("%s: %w", pod, err))
		r.mu.Unlock()
	}
}

// WaitReady polls until every pod reports ready, or ctx ends; the error
// then names every pod that is not ready and why.
func (r *Running) WaitReady(ctx context.Context) error {
	for {
		var waiting []string
		for _, name := range r.names() {
			if st, msg := r.Pods[name].Get(); st != agent.Ready {
				waiting = append(waiting, fmt.Sprintf("%s: %s %s", name, st, msg))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready:\n  %s", strings.Join(waiting, "\n  "))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *Running) names() []string {
	out := make([]string, 0, len(r.Pods))
	for n := range r.Pods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Stop stops targets and clients first (they unmount, export, demote), then
// the DRBD agents, as a helm uninstall would, and returns the stop errors.
func (r *Running) Stop() error {
	r.stopSrv()
	r.srv.Wait()
	r.stopDRB()
	r.drb.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}
