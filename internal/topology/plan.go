package topology

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Plan is the placement derived from valid Values: what every node gets and
// how every target is built. It is deterministic: the same values give the
// same plan, byte for byte.
type Plan struct {
	FSName string `json:"fsname"`
	// External is true for a filesystem kube-lustre only mounts: MGSNodes
	// come from external.mgsNids and there are no targets.
	External bool         `json:"external,omitempty"`
	MGSNodes []NodeNIDs   `json:"mgsNodes"`
	Nodes    []NodePlan   `json:"nodes"`
	Targets  []TargetPlan `json:"targets"`
	Clients  ClientPlan   `json:"clients"`
}

// NodeNIDs are the NIDs of one node, or Resolve when they are learned at
// run time (lctl list_nids on the node).
type NodeNIDs struct {
	Node    string   `json:"node"`
	NIDs    []string `json:"nids,omitempty"`
	Resolve bool     `json:"resolve,omitempty"`
}

// NodePlan is everything one node carries.
type NodePlan struct {
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels"`
	DRBD    []DRBDResource    `json:"drbd,omitempty"`
	Targets []string          `json:"targets,omitempty"`
	Client  bool              `json:"client,omitempty"`
}

// DRBDResource is one DRBD resource as seen from one node.
type DRBDResource struct {
	Name        string `json:"name"`
	Device      string `json:"device"`
	Minor       int    `json:"minor"`
	Port        int    `json:"port"`
	Protocol    string `json:"protocol"`
	Disk        string `json:"disk"`
	Address     string `json:"address,omitempty"` // empty: the node's InternalIP at run time
	Peer        string `json:"peer"`
	PeerDisk    string `json:"peerDisk"`
	PeerAddress string `json:"peerAddress,omitempty"`
	Target      string `json:"target"`
}

// TargetPlan is how one target is built and served.
type TargetPlan struct {
	Name          string     `json:"name"`   // mdt0, ost3, mgs
	SVName        string     `json:"svname"` // lfs1-MDT0000, MGS
	Type          string     `json:"type"`
	Index         int        `json:"index"`
	MGS           bool       `json:"mgs,omitempty"`
	Nodes         []string   `json:"nodes"`
	Preferred     string     `json:"preferred"`
	DRBDResource  string     `json:"drbdResource,omitempty"`
	Device        string     `json:"device,omitempty"` // /dev/drbdN the pool lives on
	Vdevs         []string   `json:"vdevs"`
	SharedStorage bool       `json:"sharedStorage,omitempty"`
	Pool          string     `json:"pool"`
	Dataset       string     `json:"dataset"`
	PoolProps     []string   `json:"poolProperties,omitempty"` // key=value, sorted
	MountPoint    string     `json:"mountPoint"`
	ServiceNodes  []NodeNIDs `json:"serviceNodes"`
	Label         string     `json:"label"`
}

// ClientPlan says which nodes mount the filesystem and how.
type ClientPlan struct {
	Enabled      bool              `json:"enabled"`
	Nodes        []string          `json:"nodes,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	MountPoint   string            `json:"mountPoint"`
	MountOptions []string          `json:"mountOptions,omitempty"`
}

// Label keys. The values are "true".
func (v *Values) prefix() string {
	if v.LabelPrefix == "" {
		return "kube-lustre.io"
	}
	return v.LabelPrefix
}

// RoleLabel is the node label key of a role (server, drbd, client) or a target name.
func (v *Values) RoleLabel(role string) string {
	return v.prefix() + "/" + v.FSName + "." + role
}

// LabelSelectorPrefix is what every label the release owns starts with, so
// the labeler can find the ones to remove.
func (v *Values) LabelSelectorPrefix() string {
	return fmt.Sprintf("%s/%s.", v.prefix(), v.FSName)
}

// PoolName is the target's pool, given or derived.
func (v *Values) PoolName(t Target) string {
	if t.ZPool.Name != "" {
		return t.ZPool.Name
	}
	return v.FSName + "-" + t.ShortName()
}

// MountPoint is where the target is mounted on its node.
func (v *Values) MountPoint(t Target) string {
	if t.MountPoint != "" {
		return t.MountPoint
	}
	return "/lustre/" + v.FSName + "/" + t.ShortName()
}

// ClientMountPoint is where clients mount the filesystem.
func (v *Values) ClientMountPoint() string {
	if v.Clients.MountPoint != "" {
		return v.Clients.MountPoint
	}
	return "/mnt/" + v.FSName
}

// SVName is the Lustre service name: lfs1-MDT0000, lfs1-OST001f, MGS.
func (v *Values) SVName(t Target) string {
	if t.Type == TypeMGS {
		return "MGS"
	}
	return fmt.Sprintf("%s-%s%04x", v.FSName, strings.ToUpper(t.Type), t.Index)
}

// MGSTarget returns the target that runs the MGS.
func (v *Values) MGSTarget() (Target, bool) {
	for _, t := range v.Targets {
		if t.Type == TypeMGS || (t.Type == TypeMDT && t.MGS) {
			return t, true
		}
	}
	return Target{}, false
}

func (v *Values) nids(nodes []string) []NodeNIDs {
	out := make([]NodeNIDs, 0, len(nodes))
	for _, n := range nodes {
		if f, ok := v.Nodes[n]; ok && len(f.NIDs) > 0 {
			out = append(out, NodeNIDs{Node: n, NIDs: f.NIDs})
		} else {
			out = append(out, NodeNIDs{Node: n, Resolve: true})
		}
	}
	return out
}

// NIDList renders NIDs as mkfs.lustre wants them: nodes separated by ':',
// NIDs of one node by ','. A node to resolve shows as <node>.
func NIDList(ns []NodeNIDs) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		if n.Resolve {
			parts[i] = "<" + n.Node + ">"
		} else {
			parts[i] = strings.Join(n.NIDs, ",")
		}
	}
	return strings.Join(parts, ":")
}

// Plan derives the placement. Call it on Values without Problems.
func (v *Values) Plan() *Plan {
	p := &Plan{FSName: v.FSName}
	if mgs, ok := v.MGSTarget(); ok {
		p.MGSNodes = v.nids(mgs.Nodes)
	}
	if v.External != nil {
		p.External = true
		for _, e := range v.External.MGSNIDs {
			p.MGSNodes = append(p.MGSNodes, NodeNIDs{NIDs: strings.Split(e, ",")})
		}
	}
	nodes := map[string]*NodePlan{}
	node := func(name string) *NodePlan {
		if n, ok := nodes[name]; ok {
			return n
		}
		n := &NodePlan{Name: name, Labels: map[string]string{}}
		nodes[name] = n
		return n
	}
	for _, t := range v.Targets {
		tp := v.targetPlan(t)
		p.Targets = append(p.Targets, tp)
		for _, n := range t.Nodes {
			np := node(n)
			np.Targets = append(np.Targets, tp.Name)
			np.Labels[v.RoleLabel("server")] = "true"
			np.Labels[v.RoleLabel(tp.Name)] = "true"
			if t.DRBD != nil {
				np.Labels[v.RoleLabel("drbd")] = "true"
				np.DRBD = append(np.DRBD, v.drbdResource(t, n))
			}
		}
	}
	p.Clients = ClientPlan{Enabled: v.Clients.Enabled, NodeSelector: v.Clients.NodeSelector,
		MountPoint: v.ClientMountPoint(), MountOptions: v.Clients.MountOptions}
	if v.Clients.Enabled {
		p.Clients.Nodes = v.Clients.Nodes
		for _, n := range v.Clients.Nodes {
			np := node(n)
			np.Client = true
			np.Labels[v.RoleLabel("client")] = "true"
		}
	}
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		np := nodes[n]
		sort.Slice(np.DRBD, func(i, j int) bool { return np.DRBD[i].Minor < np.DRBD[j].Minor })
		p.Nodes = append(p.Nodes, *np)
	}
	return p
}

func (v *Values) targetPlan(t Target) TargetPlan {
	name := t.ShortName()
	pool := v.PoolName(t)
	tp := TargetPlan{
		Name: name, SVName: v.SVName(t), Type: t.Type, Index: t.Index, MGS: t.Type == TypeMGS || t.MGS,
		Nodes: t.Nodes, Preferred: t.Nodes[0], SharedStorage: t.SharedStorage,
		Pool: pool, Dataset: pool + "/" + name, MountPoint: v.MountPoint(t),
		ServiceNodes: v.nids(t.Nodes), Label: v.RoleLabel(name), Vdevs: t.ZPool.Vdevs,
	}
	if t.DRBD != nil {
		tp.DRBDResource = v.FSName + "-" + name
		tp.Device = "/dev/drbd" + strconv.Itoa(t.DRBD.Minor)
		tp.Vdevs = []string{tp.Device}
	}
	for _, k := range slices.Sorted(maps.Keys(t.ZPool.Properties)) {
		tp.PoolProps = append(tp.PoolProps, k+"="+t.ZPool.Properties[k])
	}
	return tp
}

func (v *Values) drbdResource(t Target, node string) DRBDResource {
	d := t.DRBD
	peer := ""
	for _, n := range t.Nodes {
		if n != node {
			peer = n
		}
	}
	proto := d.Protocol
	if proto == "" {
		proto = "C"
	}
	return DRBDResource{
		Name: v.FSName + "-" + t.ShortName(), Device: "/dev/drbd" + strconv.Itoa(d.Minor),
		Minor: d.Minor, Port: d.Port, Protocol: proto,
		Disk: d.Disk.For(node), Address: v.Nodes[node].Address,
		Peer: peer, PeerDisk: d.Disk.For(peer), PeerAddress: v.Nodes[peer].Address,
		Target: t.ShortName(),
	}
}

// Target returns the plan of the target with the given short name.
func (p *Plan) Target(name string) (TargetPlan, bool) {
	for _, t := range p.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return TargetPlan{}, false
}

// Node returns the plan of a node.
func (p *Plan) Node(name string) (NodePlan, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodePlan{}, false
}
