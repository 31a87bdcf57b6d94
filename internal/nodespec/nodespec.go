// Package nodespec turns the topology plan into the parameters of the host
// steps for one node: its DRBD resources, the target it serves, its client
// mount. Facts the values leave out (replication addresses, NIDs) are
// resolved here, at run time, from the nodes' InternalIPs.
package nodespec

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Resolver returns a node's IP address (its Kubernetes InternalIP).
type Resolver func(ctx context.Context, node string) (string, error)

// Spec builds step parameters for one node.
type Spec struct {
	Values  *topology.Values
	Plan    *topology.Plan
	Node    string
	Resolve Resolver
	// Fence turns on DRBD resource-level fencing through the targets'
	// Leases (drbd.Resource.Fence). Only where the node's agent answers
	// the handlers (Fencer): otherwise every Primary that lost its peer
	// would freeze and no failover promotion would be allowed.
	Fence bool
}

// DRBDResources are the resources the node's DRBD agent keeps up.
func (s Spec) DRBDResources(ctx context.Context) ([]drbd.Resource, error) {
	np, ok := s.Plan.Node(s.Node)
	if !ok {
		return nil, nil
	}
	out := make([]drbd.Resource, 0, len(np.DRBD))
	for _, r := range np.DRBD {
		res, err := s.resource(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (s Spec) resource(ctx context.Context, r topology.DRBDResource) (drbd.Resource, error) {
	local, err := s.address(ctx, s.Node, r.Address, "address")
	if err != nil {
		return drbd.Resource{}, err
	}
	peer, err := s.address(ctx, r.Peer, r.PeerAddress, "address")
	if err != nil {
		return drbd.Resource{}, err
	}
	return drbd.Resource{
		Name: r.Name, Minor: r.Minor, Port: r.Port, Protocol: r.Protocol, Fence: s.Fence, Timing: s.DRBDTiming(),
		Local: drbd.Node{Name: s.Node, Disk: r.Disk, Address: local},
		Peer:  drbd.Node{Name: r.Peer, Disk: r.PeerDisk, Address: peer},
	}, nil
}

// Fencer answers the fence handlers of this node's DRBD resources: each
// resource's decision is taken on its target's Lease (leaseOf names it),
// against the node at the other end.
func (s Spec) Fencer(leases failover.LeaseClient, leaseOf func(target string) string) *failover.Fencer {
	f := &failover.Fencer{Leases: leases, Node: s.Node, Resources: map[string]failover.Fenced{}, Duration: s.LeaseDuration()}
	np, _ := s.Plan.Node(s.Node)
	for _, r := range np.DRBD {
		f.Resources[r.Name] = failover.Fenced{Lease: leaseOf(r.Target), Peer: r.Peer}
	}
	return f
}

// address returns configured, or the node's resolved IP; field names the
// nodes.<node> value that would make resolving unnecessary.
func (s Spec) address(ctx context.Context, node, configured, field string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if s.Resolve == nil {
		return "", fmt.Errorf("node %s: nodes.%s.%s is not set and no resolver is available", node, node, field)
	}
	ip, err := s.Resolve(ctx, node)
	if err != nil {
		return "", fmt.Errorf("resolve address of node %s: %w (or set nodes.%s.%s)", node, err, node, field)
	}
	return ip, nil
}

// NIDs renders one entry per node (NIDs of a node joined by ','), resolving
// unconfigured nodes to InternalIP@<net> of the first LNet network.
func (s Spec) NIDs(ctx context.Context, nn []topology.NodeNIDs) ([]string, error) {
	out := make([]string, 0, len(nn))
	for _, n := range nn {
		if !n.Resolve {
			out = append(out, strings.Join(n.NIDs, ","))
			continue
		}
		ip, err := s.address(ctx, n.Node, "", "nids")
		if err != nil {
			return nil, err
		}
		out = append(out, ip+"@"+s.lnetType())
	}
	return out, nil
}

// lnetType is the NID network of the first configured LNet network
// ("o2ib0(ib0)" -> "o2ib"), tcp when none is configured, as LNet does.
func (s Spec) lnetType() string {
	if len(s.Values.LNet.Networks) == 0 {
		return "tcp"
	}
	n, err := lustre.ParseNetwork(s.Values.LNet.Networks[0])
	if err != nil {
		return "tcp"
	}
	return strings.TrimRight(n.Net, "0123456789")
}

// Server is what the target pod for name does on this node.
func (s Spec) Server(ctx context.Context, name string) (lustre.Server, error) {
	tp, ok := s.Plan.Target(name)
	if !ok {
		return lustre.Server{}, fmt.Errorf("target %q is not in the topology", name)
	}
	if !slices.Contains(tp.Nodes, s.Node) {
		return lustre.Server{}, fmt.Errorf("target %s may run only on %s, not on %s", name, strings.Join(tp.Nodes, ","), s.Node)
	}
	np, _ := s.Plan.Node(s.Node)
	var res drbd.Resource
	pool := zfs.Pool{Name: tp.Pool, Device: tp.Device, Properties: props(tp.PoolProps)}
	if tp.DRBDResource == "" {
		pool.Vdevs = tp.Vdevs
	}
	for _, r := range np.DRBD {
		if r.Name == tp.DRBDResource {
			var err error
			if res, err = s.resource(ctx, r); err != nil {
				return lustre.Server{}, err
			}
		}
	}
	svc, err := s.NIDs(ctx, tp.ServiceNodes)
	if err != nil {
		return lustre.Server{}, err
	}
	var mgs []string
	if !tp.MGS {
		if mgs, err = s.NIDs(ctx, s.Plan.MGSNodes); err != nil {
			return lustre.Server{}, err
		}
	}
	return lustre.Server{
		Resource:  res,
		Pool:      pool,
		Preferred: tp.Preferred == s.Node,
		Networks:  s.Values.LNet.Networks,
		Target: lustre.Target{
			FSName: s.Values.FSName, Type: tp.Type, MGS: tp.MGS && tp.Type == topology.TypeMDT, Index: tp.Index,
			Pool: tp.Pool, Dataset: tp.Name, MountPoint: tp.MountPoint, MGSNodes: mgs, ServiceNodes: svc,
		},
	}, nil
}

// DRBDTiming is failover.drbd for every resource file.
func (s Spec) DRBDTiming() drbd.Timing {
	d := s.Values.Failover.DRBD
	return drbd.Timing{PingIntSeconds: d.PingIntSeconds, PingTimeoutTenths: d.PingTimeoutTenths, ConnectIntSeconds: d.ConnectIntSeconds}
}

// MMP is failover.mmp, the zfs module parameters of every server node.
func (s Spec) MMP() zfs.MMP {
	m := s.Values.Failover.MMP
	return zfs.MMP{IntervalMS: m.IntervalMS, ImportIntervals: m.ImportIntervals, FailIntervals: m.FailIntervals}
}

// MinStartAttempt is the least time one start attempt of a target needs
// besides its waits for DRBD: promote, mount (an MDT mount took 14 s on
// real kernels under emulation) and the rest.
const MinStartAttempt = 30 * time.Second

// StartAttempt bounds one start attempt of a target pod: never shorter
// than an MMP-guarded import (a takeover's import -f waits for the MMP
// activity check, and an attempt cut short during it repeats the wait
// forever), plus MinStartAttempt for everything else.
func (s Spec) StartAttempt() time.Duration {
	return s.MMP().ActivityCheck() + MinStartAttempt
}

// LeaseDuration is failover.leaseSeconds.
func (s Spec) LeaseDuration() time.Duration {
	secs := s.Values.Failover.LeaseSeconds
	if secs <= 0 {
		secs = topology.DefaultLeaseSeconds
	}
	return time.Duration(secs) * time.Second
}

// QuietLease is failover.quietLeaseSeconds (failover.Lease.Quiet).
func (s Spec) QuietLease() time.Duration {
	return time.Duration(s.Values.Failover.QuietLeaseSeconds) * time.Second
}

// StopTimeout bounds a target's clean stop: failover.stopSeconds, the
// value the chart also renders into terminationGracePeriodSeconds.
func (s Spec) StopTimeout() time.Duration {
	secs := s.Values.Failover.StopSeconds
	if secs <= 0 {
		secs = topology.DefaultStopSeconds
	}
	return time.Duration(secs) * time.Second
}

// MGSParams are the permanent parameters (NAME=VALUE, lctl set_param -P)
// the MGS's target pod sets once it serves: the MDTs' identity upcall
// (lustre.identityUpcall) and, with the provisioner, the project quota
// enforcement its volumes need. An external filesystem's administrator
// sets them, so there are none in external mode.
func (s Spec) MGSParams() []string {
	if s.Values.External != nil {
		return nil
	}
	ps := []string{lustre.IdentityUpcallParam(s.Values.FSName, s.Values.IdentityUpcall())}
	if p := s.Values.Provisioner; p.Enabled {
		ps = append(ps, lustre.ProjectQuotaParams(s.Values.FSName, p.EnforceForRoot)...)
	}
	return ps
}

// Client is the node's client mount.
func (s Spec) Client(ctx context.Context) (lustre.Client, error) {
	mgs, err := s.NIDs(ctx, s.Plan.MGSNodes)
	if err != nil {
		return lustre.Client{}, err
	}
	return lustre.Client{MGSNodes: mgs, FSName: s.Values.FSName, MountPoint: s.Plan.Clients.MountPoint, Options: s.Plan.Clients.MountOptions}, nil
}

func props(kv []string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]string, len(kv))
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return m
}
