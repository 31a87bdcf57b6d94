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
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
	"github.com/kube-lustre/kube-lustre/internal/nodespec"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/targetrecord"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Cluster is a provisioned world for one topology.
type Cluster struct {
	World  *hostsim.World
	Values *topology.Values
	Plan   *topology.Plan
	// Leases stands for the API server's Leases; LeaseDuration is the
	// targets' Lease (failover.leaseSeconds unless a test shortens it).
	Leases        *leasetest.Store
	LeaseDuration time.Duration
	// Records stands for the ConfigMaps that record each target as
	// created (targetrecord), in namespace "lustre".
	Records targetrecord.ConfigMaps
	// QuietLease is the targets' Lease duration while their DRBD peer is
	// connected (failover.quietLeaseSeconds; 0: off).
	QuietLease time.Duration

	addrs map[string]string
	mu    sync.Mutex
	cut   map[string]bool // nodes partitioned from the API server
}

// CutAPI partitions node from the API server (or heals it).
func (c *Cluster) CutAPI(node string, cut bool) {
	c.mu.Lock()
	c.cut[node] = cut
	c.mu.Unlock()
}

func (c *Cluster) apiCut(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[node]
}

// New opens a world in dir and adds every planned node with an eth1
// address and each backing disk the plan names (1 GiB, blank).
func New(dir string, v *topology.Values) (*Cluster, error) {
	return NewWithOptions(dir, v, Options{})
}

// Options change how NewWithOptions provisions the simulated hosts.
type Options struct {
	// Addresses gives planned nodes their eth1 address, e.g. a real
	// cluster's Node InternalIPs: the binaries in pods resolve DRBD peers
	// and LNet NIDs from those, and hostsim answers NIDs from eth1. A given
	// address wins over nodes.<n>.address of the values; a node missing
	// here gets that, else a generated 10.10.x.x as New does. Nodes the
	// plan does not name are ignored, so a whole cluster's map can be
	// passed.
	Addresses map[string]string
}

// NewWithOptions is New with Options.
func NewWithOptions(dir string, v *topology.Values, o Options) (*Cluster, error) {
	p := v.Plan()
	w, err := hostsim.Open(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{World: w, Values: v, Plan: p, addrs: map[string]string{}, cut: map[string]bool{},
		Leases: leasetest.New(), Records: fake.NewClientset().CoreV1().ConfigMaps("lustre"), LeaseDuration: time.Duration(v.Failover.LeaseSeconds) * time.Second,
		QuietLease: time.Duration(v.Failover.QuietLeaseSeconds) * time.Second}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 10 * time.Second
	}
	for i, n := range p.Nodes {
		addr := fmt.Sprintf("10.%d.%d.%d", 10+i/65536, (i/256)%256, i%256+1)
		if f, ok := v.Nodes[n.Name]; ok && f.Address != "" {
			addr = f.Address
		}
		if a, ok := o.Addresses[n.Name]; ok && a != "" {
			addr = a
		}
		c.addrs[n.Name] = addr
		// Provisioned as a server is: the boot-time pool scan masked
		// (the installer refuses DRBD nodes without that).
		cfg := hostsim.HostConfig{Interfaces: map[string]string{"eth1": addr}, Masked: []string{zfs.ScanUnit}}
		if err := w.AddHost(n.Name, cfg); err != nil {
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

// registerFencing answers the DRBD handlers of every node with the same
// decisions the DRBD agent serves to its handler in a real cluster, taken
// directly against the cluster's Lease store as seen from that node (a
// node cut from the API server cannot fence).
func (c *Cluster) registerFencing() {
	c.World.RegisterHandler(drbd.FencePeerHandler, func(node, resource string, _ map[string]string) int {
		return c.fencer(node).FencePeer(context.Background(), resource)
	})
	c.World.RegisterHandler(drbd.UnfenceHandler, func(node, resource string, _ map[string]string) int {
		return c.fencer(node).Unfence(context.Background(), resource)
	})
}

// fencer is node's fence decisions, on the Lease store as node sees it.
func (c *Cluster) fencer(node string) *failover.Fencer {
	f := c.Spec(node).Fencer(c.Leases.Client(func() bool { return c.apiCut(node) }), c.LeaseName)
	f.Duration = c.LeaseDuration // a test may shorten it
	return f
}

// Record is target's record in the cluster's store (the chart names
// it kube-lustre.recordName; the name only has to be its own here).
func (c *Cluster) Record(target string) *targetrecord.Store {
	v, _ := c.current()
	return &targetrecord.Store{Client: c.Records, Namespace: "lustre", Name: "kube-lustre-record-" + strings.ToLower(v.FSName) + "-" + target}
}

// LeaseName is the name of a target's Lease in the cluster's store.
func (c *Cluster) LeaseName(target string) string {
	v, _ := c.current()
	return v.FSName + "-" + target
}

// current is the topology the pods started from now on see: the fence
// handlers read it while a test upgrades.
func (c *Cluster) current() (*topology.Values, *topology.Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Values, c.Plan
}

// Upgrade changes the values, as `helm upgrade` does: pods started from
// now on (and the fence handlers) see them; running pods keep what they
// started with until the test restarts them, as a DaemonSet or
// StatefulSet rolls its pods.
func (c *Cluster) Upgrade(v *topology.Values) {
	p := v.Plan()
	c.mu.Lock()
	c.Values, c.Plan = v, p
	c.mu.Unlock()
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
	v, p := c.current()
	return nodespec.Spec{Values: v, Plan: p, Node: node, Resolve: c.Resolve, Fence: true}
}

// Status records the last state an agent reported.
type Status struct {
	mu    sync.Mutex
	state podstate.State
	msg   string
}

// Set implements agent.Status.
func (s *Status) Set(state podstate.State, msg string) {
	s.mu.Lock()
	s.state, s.msg = state, msg
	s.mu.Unlock()
}

// Get returns the last state and message.
func (s *Status) Get() (podstate.State, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.msg
}

// Running is a started topology: one agent goroutine per pod the chart
// would run, each with its own lifetime so tests can kill a node's pods.
type Running struct {
	c    *Cluster
	cfg  agent.Config
	log  *slog.Logger
	root context.Context

	mu   sync.Mutex
	pods map[string]*pod
	errs []error
}

type pod struct {
	node    string
	kind    string // drbd, target, client
	status  *Status
	metrics *prometheus.Registry // its own, as each real pod serves its own
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start launches the DRBD agents of every DRBD node, each target on its
// preferred node, and every named client, as the chart's pods would.
func (c *Cluster) Start(ctx context.Context, cfg agent.Config, log *slog.Logger) (*Running, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Running{c: c, cfg: cfg, log: log, root: ctx, pods: map[string]*pod{}}
	// Only a cluster whose agents run here answers the handlers here: one
	// that only provisioned hosts for real pods (test/e2e) leaves them to
	// the pods' DRBD agents, over their sockets.
	c.registerFencing()
	for _, n := range c.Plan.Nodes {
		if err := r.StartDRBD(n.Name); err != nil {
			_ = r.Stop() // the start error is the one to report
			return nil, err
		}
	}
	for _, t := range c.Plan.Targets {
		if err := r.StartTarget(t.Name, t.Preferred); err != nil {
			_ = r.Stop() // the start error is the one to report
			return nil, err
		}
	}
	for _, n := range c.Plan.Clients.Nodes {
		cl, err := c.Spec(n).Client(ctx)
		if err != nil {
			_ = r.Stop() // the start error is the one to report
			return nil, err
		}
		nets := c.Values.LNet.Networks
		r.launch("client-"+n, n, "client", func(ctx context.Context, st *Status, run host.Runner, l *slog.Logger, reg prometheus.Registerer) error {
			cfg := cfg
			cfg.ClientMetrics = metrics.NewClient(reg)
			return agent.Client(ctx, run, cl, nets, st, l, cfg)
		})
	}
	return r, nil
}

// StartDRBD starts the DRBD agent pod of node, if the node has resources.
func (r *Running) StartDRBD(node string) error {
	res, err := r.c.Spec(node).DRBDResources(r.root)
	if err != nil || len(res) == 0 {
		return err
	}
	cfg := r.cfg
	cfg.Unfence = r.c.fencer(node).UnfenceInSync
	cfg.Refence = r.c.fencer(node).FencePeer
	cfg.PeerLost = r.c.fencer(node).PeerLost
	mmp := r.c.Spec(node).MMP() // as images/drbd applies it
	cfg.MMP = &mmp
	r.launch("drbd-"+node, node, "drbd", func(ctx context.Context, st *Status, run host.Runner, l *slog.Logger, reg prometheus.Registerer) error {
		cfg.DRBDMetrics = metrics.NewDRBD(reg) // as images/drbd
		agent.DRBD(ctx, run, res, st, l, cfg)
		return nil
	})
	return nil
}

// StartTarget starts a pod serving target on node (as the StatefulSet does
// on the preferred node, or on the peer after a failover), under the
// target's Lease in the cluster's store.
func (r *Running) StartTarget(target, node string) error {
	spec := r.c.Spec(node)
	s, err := spec.Server(r.root, target)
	if err != nil {
		return err
	}
	// As images/lustre-target does: only the MGS sets parameters.
	cfg := r.cfg
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = spec.StopTimeout() // as images/lustre-target
	}
	cfg.MGSParams = nil
	if s.Target.RunsMGS() {
		cfg.MGSParams = spec.MGSParams()
	}
	s.Registry = r.c.Record(target) // as images/lustre-target
	gate := &failover.Lease{Client: r.c.Leases.Client(func() bool { return r.c.apiCut(node) }),
		Name: r.c.LeaseName(target), Identity: node, Duration: r.c.LeaseDuration, Quiet: r.c.QuietLease,
		NewUnverified: s.HasDRBD()} // as images/lustre-target
	r.launch("target-"+target+"@"+node, node, "target", func(ctx context.Context, st *Status, run host.Runner, l *slog.Logger, reg prometheus.Registerer) error {
		cfg.TargetMetrics = metrics.NewTarget(reg, target) // as images/lustre-target
		return agent.Target(ctx, run, s, gate, st, l, cfg)
	})
	return nil
}

// RestartTarget starts target's pod again after it was deleted, where
// the StatefulSet, the scheduler and the failover controller would put the
// replacement with both nodes up: on the node the target's Lease says has
// the good data (failover.PlaceOnData: the Lease marks the other node's
// copy outdated or lost, or the other node still holds it), else on the preferred
// node. It returns the node.
func (r *Running) RestartTarget(target string) (string, error) {
	_, plan := r.c.current()
	tp, ok := plan.Target(target)
	if !ok {
		return "", fmt.Errorf("no target %s", target)
	}
	name := r.c.LeaseName(target)
	var marked, lostBy, holder string
	switch cur, err := r.c.Leases.Client(nil).Get(r.root, name, metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return "", err
	default:
		marked, lostBy = cur.Annotations[failover.OutdatedAnnotation], cur.Annotations[failover.PeerLostAnnotation]
		if cur.Spec.HolderIdentity != nil {
			holder = *cur.Spec.HolderIdentity
		}
	}
	node, _ := failover.PlaceOnData(marked, lostBy, holder, holder != "", tp.Nodes)
	if node == "" {
		node = tp.Preferred
	}
	return node, r.StartTarget(target, node)
}

func (r *Running) launch(name, node, kind string, fn func(context.Context, *Status, host.Runner, *slog.Logger, prometheus.Registerer) error) {
	ctx, cancel := context.WithCancel(r.root)
	reg, rec := metrics.NewRegistry(prometheus.Labels{"node": node}) // as entry.ServeMetrics
	p := &pod{node: node, kind: kind, status: &Status{state: podstate.Starting}, metrics: reg, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.pods[name] = p
	r.mu.Unlock()
	run, l := r.c.World.Host(node), r.log.With("pod", name)
	go func() {
		defer close(p.done)
		if err := fn(ctx, p.status, run, l, rec); err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
			r.mu.Unlock()
		}
	}()
}

// Pod returns the status of a pod by name (drbd-s1, target-mdt0@s1, client-c1).
func (r *Running) Pod(name string) (*Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[name]
	if !ok {
		return nil, false
	}
	return p.status, true
}

// Metrics returns the metrics registry of a running pod by name: what its
// /metrics would serve.
func (r *Running) Metrics(name string) (*prometheus.Registry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[name]
	if !ok {
		return nil, false
	}
	return p.metrics, true
}

// KillNode crashes node (hostsim loses its volatile state) and ends its
// pods without a clean stop reaching the host, as a node crash does.
func (r *Running) KillNode(node string) error {
	// A crashed node's processes write nothing more: cut its API access
	// before the crash, so that a renewal its pod had in flight (its guard
	// asked before the crash, its write delayed on a loaded machine)
	// cannot land after the peer cut the Lease. The pods are gone when it
	// is restored.
	was := r.c.apiCut(node)
	r.c.CutAPI(node, true)
	defer r.c.CutAPI(node, was)
	if err := r.c.World.Crash(node); err != nil {
		return err
	}
	r.mu.Lock()
	var gone []*pod
	for name, p := range r.pods {
		if p.node == node {
			gone = append(gone, p)
			delete(r.pods, name)
		}
	}
	r.mu.Unlock()
	for _, p := range gone {
		p.cancel()
		<-p.done
	}
	return nil
}

// StopPod stops one pod cleanly (a deleted pod: SIGTERM) and waits.
func (r *Running) StopPod(name string) {
	r.mu.Lock()
	p, ok := r.pods[name]
	delete(r.pods, name)
	r.mu.Unlock()
	if ok {
		p.cancel()
		<-p.done
	}
}

// Errors returns what the finished pods reported.
func (r *Running) Errors() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

// WaitReady polls until every pod reports ready, or ctx ends; the error
// then names every pod that is not ready and why.
func (r *Running) WaitReady(ctx context.Context) error {
	return r.WaitFor(ctx, func(string) bool { return true })
}

// WaitFor is WaitReady for the pods whose names match.
func (r *Running) WaitFor(ctx context.Context, match func(name string) bool) error {
	for {
		var waiting []string
		r.mu.Lock()
		for _, name := range slices.Sorted(maps.Keys(r.pods)) {
			if !match(name) {
				continue
			}
			if st, msg := r.pods[name].status.Get(); st != podstate.Ready {
				waiting = append(waiting, fmt.Sprintf("%s: %s %s", name, st, msg))
			}
		}
		r.mu.Unlock()
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

// Names lists the running pods.
func (r *Running) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.pods))
}

// Stop stops targets and clients first (they unmount, export, demote), then
// the DRBD agents, as a helm uninstall would, and returns every error the
// pods reported.
func (r *Running) Stop() error {
	for _, kind := range []string{"target", "client", "drbd"} {
		r.mu.Lock()
		var stopping []*pod
		for name, p := range r.pods {
			if p.kind == kind || (kind == "target" && p.kind == "client") {
				stopping = append(stopping, p)
				delete(r.pods, name)
			}
		}
		r.mu.Unlock()
		for _, p := range stopping {
			p.cancel()
		}
		for _, p := range stopping {
			<-p.done
		}
	}
	return r.Errors()
}
