package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Validate checks vals (as returned by Load) against the schema and the
// cross-field rules and returns the decoded model with every problem found,
// in a stable order. The error is reserved for a broken build (an
// unreadable embedded schema); a bad values file only ever yields Problems.
func Validate(vals map[string]any) (*Values, Problems, error) {
	b, err := json.Marshal(vals)
	if err != nil {
		return nil, nil, err
	}
	shape, err := schemaProblems(b)
	if err != nil {
		return nil, nil, err
	}
	// Best effort: a field of the wrong type stays zero and the schema has
	// already reported it; rules about it are filtered below.
	v := &Values{}
	_ = json.Unmarshal(b, v)
	named := v.FSName != "" || (v.External != nil && v.External.FSName != "")
	given := v.FSName
	switch {
	case v.FSName != "":
	case v.External != nil && v.External.FSName != "":
		v.FSName = v.External.FSName
	default:
		v.FSName = DefaultFSName
	}

	var rules []Problem
	found := append(checkRules(v), checkExternal(v, given, named)...)
	for _, p := range append(found, checkResources(b)...) {
		if !coveredBy(p, shape) {
			rules = append(rules, p)
		}
	}
	all := sortProblems(append(shape, rules...))
	return v, all, nil
}

// coveredBy drops a rule's finding about a field the schema already
// rejected: its decoded value is meaningless.
func coveredBy(p Problem, shape []Problem) bool {
	for _, s := range shape {
		if under(p.Path, s.Path) || (p.Conflict != "" && under(p.Conflict, s.Path)) {
			return true
		}
	}
	return false
}

// ShortName is a target's name within its filesystem: mgs, mdt0, ost12.
func (t Target) ShortName() string {
	if t.Type == TypeMGS {
		return TypeMGS
	}
	return t.Type + strconv.Itoa(t.Index)
}

func tpath(i int, rest string) string {
	if rest == "" {
		return "targets[" + strconv.Itoa(i) + "]"
	}
	return "targets[" + strconv.Itoa(i) + "]." + rest
}

func checkRules(v *Values) []Problem {
	var ps []Problem
	if v.External == nil {
		ps = append(ps, checkRoles(v)...)
		ps = append(ps, checkClientsOffServers(v)...)
	}
	ps = append(ps, checkProvisioner(v)...)
	ps = append(ps, checkMMP(v)...)
	ps = append(ps, checkQuietLease(v)...)
	ps = append(ps, checkMetricsPorts(v)...)
	for i, t := range v.Targets {
		ps = append(ps, checkTarget(i, t)...)
	}
	ps = append(ps, checkPerNode(v)...)
	ps = append(ps, checkNodeFacts(v)...)
	ps = append(ps, checkHostRules(v)...)
	return ps
}

// checkMMP: an import must watch a pool longer than a live holder may go
// without an MMP write before it suspends the pool itself, or the import
// may miss the holder (ZFS's own defaults: 20 > 10).
func checkMMP(v *Values) []Problem {
	m := v.Failover.MMP
	imp, fail := m.ImportIntervals, m.FailIntervals
	if imp == 0 {
		imp = zfs.DefaultMMPImportIntervals
	}
	if fail == 0 {
		fail = zfs.DefaultMMPFailIntervals
	}
	if imp > fail {
		return nil
	}
	return []Problem{{
		Path:     "failover.mmp.importIntervals",
		Message:  fmt.Sprintf("%d import intervals do not exceed %d fail intervals: an import could finish its activity check while a live holder that has not written for a while still runs the pool", imp, fail),
		Conflict: "failover.mmp.failIntervals",
		Hint:     "make failover.mmp.importIntervals larger than failover.mmp.failIntervals (ZFS's defaults are 20 and 10)",
	}}
}

// checkQuietLease: a quiet Lease shorter than the normal one would make
// the connected holder renew more often, not less, and the peer's cut
// (failover.PeerLost) would lengthen it.
func checkQuietLease(v *Values) []Problem {
	f := v.Failover
	if f.QuietLeaseSeconds == 0 || f.QuietLeaseSeconds >= f.LeaseSeconds {
		return nil
	}
	return []Problem{{
		Path:     "failover.quietLeaseSeconds",
		Message:  fmt.Sprintf("%d s is shorter than failover.leaseSeconds (%d s): it is the Lease's duration while the DRBD peer is connected, meant to be the longer one", f.QuietLeaseSeconds, f.LeaseSeconds),
		Conflict: "failover.leaseSeconds",
		Hint:     "make failover.quietLeaseSeconds at least failover.leaseSeconds (the chart's default is 300), or 0 to renew every leaseSeconds/5 always",
	}}
}

// checkRoles: one MGS, MDT0, at least one OST, type+index unique.
func checkRoles(v *Values) []Problem {
	var ps []Problem
	var mgs []string
	seen := map[string]int{}
	hasMDT0, hasOST := false, false
	for i, t := range v.Targets {
		switch {
		case t.Type == TypeMGS:
			mgs = append(mgs, tpath(i, "type"))
			if t.Index != 0 {
				ps = append(ps, Problem{Path: tpath(i, "index"), Message: "an MGS has no index",
					Hint: "remove index from the mgs target"})
			}
		case t.MGS && t.Type == TypeMDT:
			mgs = append(mgs, tpath(i, "mgs"))
		case t.MGS:
			ps = append(ps, Problem{Path: tpath(i, "mgs"), Message: "only an MDT can also run the MGS",
				Hint: "remove mgs: true, or put it on the MDT with index 0, or add a target of type mgs"})
		}
		hasMDT0 = hasMDT0 || (t.Type == TypeMDT && t.Index == 0)
		hasOST = hasOST || t.Type == TypeOST
		if t.Type == "" {
			continue
		}
		key := t.ShortName()
		if j, dup := seen[key]; dup {
			ps = append(ps, Problem{Path: tpath(i, "index"), Conflict: tpath(j, "index"),
				Message: fmt.Sprintf("%s index %d is defined twice", t.Type, t.Index),
				Hint:    fmt.Sprintf("give every %s its own index", t.Type)})
			continue
		}
		seen[key] = i
	}
	switch {
	case len(mgs) == 0:
		ps = append(ps, Problem{Path: "targets", Message: "no MGS: a filesystem needs exactly one",
			Hint: "add mgs: true to the MDT with index 0, or add a target with type: mgs"})
	case len(mgs) > 1:
		for _, p := range mgs[1:] {
			ps = append(ps, Problem{Path: p, Conflict: mgs[0], Message: "a second MGS: a filesystem has exactly one",
				Hint: "keep one MGS: remove mgs: true from this MDT or drop this mgs target"})
		}
	}
	if !hasMDT0 {
		ps = append(ps, Problem{Path: "targets", Message: "no MDT with index 0: the filesystem root lives there",
			Hint: "add a target with type: mdt and index: 0"})
	}
	if !hasOST {
		ps = append(ps, Problem{Path: "targets", Message: "no OST: file data needs at least one",
			Hint: "add a target with type: ost"})
	}
	return ps
}

// checkClientsOffServers: no client of the filesystem runs on one of its
// server nodes. The node that takes over a target on failover evicts its
// own client ("local client ... w/o recovery" on the MDT), and that client
// loses what it wrote and had not synced (EIO on read-back).
func checkClientsOffServers(v *Values) []Problem {
	if !v.Clients.Enabled || len(v.Clients.Nodes) == 0 {
		return nil
	}
	type serves struct {
		target, slot int
	}
	byNode := map[string][]serves{}
	for i, t := range v.Targets {
		for j, n := range t.Nodes {
			if prev := byNode[n]; len(prev) > 0 && prev[len(prev)-1].target == i {
				continue // listed twice in one target: checkTarget reports that
			}
			byNode[n] = append(byNode[n], serves{i, j})
		}
	}
	var ps []Problem
	for k, n := range v.Clients.Nodes {
		ss := byNode[n]
		if len(ss) == 0 {
			continue
		}
		names := make([]string, len(ss))
		for i, s := range ss {
			names[i] = fmt.Sprintf("%s (%s)", v.Targets[s.target].ShortName(), tpath(s.target, fmt.Sprintf("nodes[%d]", s.slot)))
		}
		ps = append(ps, Problem{
			Path:     fmt.Sprintf("clients.nodes[%d]", k),
			Conflict: tpath(ss[0].target, fmt.Sprintf("nodes[%d]", ss[0].slot)),
			Message: fmt.Sprintf("node %q is a client and serves %s of this filesystem: when a target fails over to it, "+
				"the MDT evicts the local client without recovery and the writes it had not synced are lost", n, strings.Join(names, ", ")),
			Hint: "use a client node that serves no target of this filesystem (remove " + n + " from clients.nodes)",
		})
	}
	return ps
}

// checkTarget: nodes, HA storage, disk maps and pool vdevs of one target.
func checkTarget(i int, t Target) []Problem {
	var ps []Problem
	first := map[string]int{}
	for j, n := range t.Nodes {
		if k, dup := first[n]; dup {
			ps = append(ps, Problem{Path: tpath(i, fmt.Sprintf("nodes[%d]", j)), Conflict: tpath(i, fmt.Sprintf("nodes[%d]", k)),
				Message: fmt.Sprintf("node %q is listed twice", n),
				Hint:    "an HA pair needs two different nodes; remove the duplicate or name the peer"})
			continue
		}
		first[n] = j
	}
	pair := len(t.Nodes) == 2
	switch {
	case t.DRBD != nil && t.SharedStorage:
		ps = append(ps, Problem{Path: tpath(i, "sharedStorage"), Conflict: tpath(i, "drbd"),
			Message: "drbd and sharedStorage both set", Hint: "use drbd to replicate local disks, or sharedStorage for disks both nodes see, not both"})
	case pair && t.DRBD == nil && !t.SharedStorage:
		ps = append(ps, Problem{Path: tpath(i, "nodes"), Message: "two nodes but no shared data between them",
			Hint: "add drbd: {minor, port, disk} to replicate, or sharedStorage: true if both nodes see the same disks"})
	case !pair && t.DRBD != nil && len(t.Nodes) == 1:
		ps = append(ps, Problem{Path: tpath(i, "drbd"), Conflict: tpath(i, "nodes"), Message: "drbd needs two nodes",
			Hint: "add the peer node to nodes, or remove drbd and give zpool.vdevs"})
	}
	if t.DRBD != nil {
		ps = append(ps, checkDiskMap(i, t)...)
		if len(t.ZPool.Vdevs) > 0 {
			ps = append(ps, Problem{Path: tpath(i, "zpool.vdevs"), Conflict: tpath(i, "drbd"),
				Message: "vdevs with drbd: the pool lives on the DRBD device",
				Hint:    "remove zpool.vdevs; the backing disk is drbd.disk"})
		}
	} else if len(t.ZPool.Vdevs) == 0 {
		ps = append(ps, Problem{Path: tpath(i, "zpool.vdevs"), Message: "is required for a target without drbd",
			Hint: "list the pool's devices, for example vdevs: [/dev/sdb]"})
	}
	return ps
}

func checkDiskMap(i int, t Target) []Problem {
	m := t.DRBD.Disk.PerNode
	if m == nil {
		return nil
	}
	var ps []Problem
	nodes := map[string]bool{}
	for _, n := range t.Nodes {
		nodes[n] = true
		if _, ok := m[n]; !ok {
			ps = append(ps, Problem{Path: tpath(i, "drbd.disk"), Conflict: tpath(i, "nodes"),
				Message: fmt.Sprintf("no disk for node %q", n),
				Hint:    fmt.Sprintf("add %s: /dev/<disk> to the map", n)})
		}
	}
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if !nodes[n] {
			ps = append(ps, Problem{Path: tpath(i, "drbd.disk."+n), Conflict: tpath(i, "nodes"),
				Message: fmt.Sprintf("%q is not a node of this target (nodes: %s)", n, strings.Join(t.Nodes, ", ")),
				Hint:    "remove it or fix the node name"})
		}
	}
	return ps
}

// nodePorts are ports Kubernetes' own node components listen on (kubelet,
// its read-only port, kube-proxy, the control plane on server nodes that
// also run it): a metrics port among them could never be bound.
var nodePorts = map[int]string{2379: "etcd", 2380: "etcd", 6443: "the API server", 10248: "the kubelet's healthz",
	10249: "kube-proxy's metrics", 10250: "the kubelet", 10255: "the kubelet's read-only port", 10256: "kube-proxy's healthz",
	10257: "kube-controller-manager", 10259: "kube-scheduler"}

// checkMetricsPorts: the host-network metrics ports (DRBD agents, clients,
// one per target from targetsFrom) are distinct, stay within 1..65535, and
// miss every DRBD replication port of the values and the node components'
// ports. A clash would leave a pod without metrics (never without its
// work: entry.ServeMetrics).
func checkMetricsPorts(v *Values) []Problem {
	m := v.Metrics
	if !m.Enabled {
		return nil
	}
	var ps []Problem
	owner := map[int]string{}
	for port, what := range nodePorts {
		owner[port] = what
	}
	for i, t := range v.Targets {
		if t.DRBD != nil && t.DRBD.Port > 0 {
			owner[t.DRBD.Port] = tpath(i, "drbd.port")
		}
	}
	// claim takes port for path, or returns the problem (without its
	// hint: the caller's, built only then, as 2,000 targets make this hot).
	claim := func(port int, path string) (Problem, bool) {
		if port < 1 || port > 65535 {
			return Problem{Path: path, Message: fmt.Sprintf("port %d is not a TCP port", port)}, false
		}
		if first, taken := owner[port]; taken {
			return Problem{Path: path, Conflict: first, Message: fmt.Sprintf("port %d is also used by %s on the node's network", port, first)}, false
		}
		owner[port] = path
		return Problem{}, true
	}
	for _, c := range []struct {
		port       int
		path, hint string
	}{
		{m.Ports.DRBD, "metrics.ports.drbd", "choose a free port for the DRBD agents' metrics (default 9721)"},
		{m.Ports.Client, "metrics.ports.client", "choose a free port for the clients' metrics (default 9722)"},
	} {
		if p, ok := claim(c.port, c.path); !ok {
			p.Hint = c.hint
			ps = append(ps, p)
		}
	}
	for i := range v.Targets {
		if p, ok := claim(m.Ports.TargetsFrom+i, "metrics.ports.targetsFrom"); !ok {
			p.Hint = fmt.Sprintf("choose metrics.ports.targetsFrom so that its %d ports (targets[i] serves on targetsFrom+i) miss every other port (here targets[%d]'s)", len(v.Targets), i)
			ps = append(ps, p)
			break // one problem for the range is enough
		}
	}
	return ps
}

// claim is one per-node resource a target uses, with the field that sets
// it (target index and field within it; target -1 for the clients
// section); the path is built only when reporting, as 2,000 targets make
// this hot.
type claim struct {
	kind, value string
	target      int
	field       string
}

func (c claim) path() string {
	if c.target < 0 {
		return c.field
	}
	return tpath(c.target, c.field)
}

type claimKey struct{ node, kind, value string }

// checkPerNode: on each node, DRBD minors, ports, backing disks, pool names
// and mount points are used by one target only.
func checkPerNode(v *Values) []Problem {
	var ps []Problem
	owner := map[claimKey]claim{} // -> first use
	use := func(node string, c claim) {
		key := claimKey{node, c.kind, c.value}
		if first, dup := owner[key]; dup {
			ps = append(ps, Problem{Path: c.path(), Conflict: first.path(),
				Message: fmt.Sprintf("%s %s is used twice on node %s", c.kind, c.value, node),
				Hint:    fmt.Sprintf("give each target on %s its own %s", node, c.kind)})
			return
		}
		owner[key] = c
	}
	for i, t := range v.Targets {
		for _, n := range dedupe(t.Nodes) {
			for _, c := range targetClaims(v, i, t, n) {
				use(n, c)
			}
		}
	}
	if v.Clients.Enabled {
		for _, n := range v.Clients.Nodes {
			use(n, claim{"mount point", v.ClientMountPoint(), -1, clientMountPath(v)})
		}
	}
	return ps
}

func clientMountPath(v *Values) string {
	if v.Clients.MountPoint != "" {
		return "clients.mountPoint"
	}
	return "clients.nodes"
}

func targetClaims(v *Values, i int, t Target, node string) []claim {
	cs := []claim{
		{"pool name", v.PoolName(t), i, poolField(t)},
		{"mount point", v.MountPoint(t), i, mountField(t)},
	}
	if d := t.DRBD; d != nil {
		cs = append(cs,
			claim{"DRBD minor", strconv.Itoa(d.Minor), i, "drbd.minor"},
			claim{"DRBD port", strconv.Itoa(d.Port), i, "drbd.port"})
		if disk := d.Disk.For(node); disk != "" {
			field := "drbd.disk"
			if d.Disk.PerNode != nil {
				field += "." + node
			}
			cs = append(cs, claim{"disk", disk, i, field})
		}
	}
	for j, dev := range t.ZPool.Vdevs {
		if strings.HasPrefix(dev, "/") {
			cs = append(cs, claim{"disk", dev, i, "zpool.vdevs[" + strconv.Itoa(j) + "]"})
		}
	}
	return cs
}

// poolField and mountField name the field that decides the pool name and
// mount point: the explicit one, else type (they derive from it).
func poolField(t Target) string {
	if t.ZPool.Name != "" {
		return "zpool.name"
	}
	return "type"
}

func mountField(t Target) string {
	if t.MountPoint != "" {
		return "mountPoint"
	}
	return "type"
}

// checkNodeFacts: every key of nodes names a node the filesystem uses (a
// typo there would silently leave the real node's NIDs unresolved).
func checkNodeFacts(v *Values) []Problem {
	used := map[string]bool{}
	for _, t := range v.Targets {
		for _, n := range t.Nodes {
			used[n] = true
		}
	}
	for _, n := range v.Clients.Nodes {
		used[n] = true
	}
	var ps []Problem
	for _, n := range slices.Sorted(maps.Keys(v.Nodes)) {
		if !used[n] {
			ps = append(ps, Problem{Path: "nodes." + n, Message: fmt.Sprintf("node %q serves no target and is no client", n),
				Hint: "remove it or fix the node name"})
		}
	}
	return ps
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// checkExternal: an external filesystem has a name, no targets of its own
// and clients to mount it; a name given twice must agree.
func checkExternal(v *Values, given string, named bool) []Problem {
	e := v.External
	if e == nil {
		return nil
	}
	var ps []Problem
	if !named {
		ps = append(ps, Problem{Path: "external.fsname", Message: "the existing filesystem has no name here",
			Hint: "set external.fsname to the name its targets were formatted with (the fsname in NIDS:/fsname)"})
	}
	if given != "" && e.FSName != "" && given != e.FSName {
		ps = append(ps, Problem{Path: "external.fsname", Conflict: "fsname",
			Message: fmt.Sprintf("external.fsname %q and fsname %q differ", e.FSName, given),
			Hint:    "name the filesystem once: remove fsname, or make the two equal"})
	}
	if len(v.Targets) > 0 {
		ps = append(ps, Problem{Path: "targets", Message: "external mode serves an existing filesystem: kube-lustre runs no targets for it",
			Hint: "remove targets, or remove external to let kube-lustre run this filesystem"})
	}
	if !v.Clients.Enabled {
		ps = append(ps, Problem{Path: "clients.enabled", Message: "external mode with clients disabled installs nothing",
			Hint: "set clients.enabled: true (external mode installs clients and the provisioner only)"})
	}
	return ps
}

// checkProvisioner: the CSI driver needs the client mount on its nodes, a
// root inside it and a non-empty ID range.
func checkProvisioner(v *Values) []Problem {
	p := v.Provisioner
	if !p.Enabled {
		return nil
	}
	var ps []Problem
	if !v.Clients.Enabled {
		ps = append(ps, Problem{Path: "provisioner.enabled", Conflict: "clients.enabled",
			Message: "the provisioner needs the Lustre client on its nodes, but clients are disabled",
			Hint:    "set clients.enabled: true, or provisioner.enabled: false"})
	}
	mp := v.ClientMountPoint()
	if p.Root != "" && !within(p.Root, mp) {
		ps = append(ps, Problem{Path: "provisioner.root", Message: fmt.Sprintf("%s is not inside the client mount point %s", p.Root, mp),
			Hint: "put the volumes' directory at or below clients.mountPoint, e.g. " + path.Join(mp, "csi-volumes")})
	}
	if p.ProjectIDs.Min > p.ProjectIDs.Max {
		ps = append(ps, Problem{Path: "provisioner.projectIDs.min", Conflict: "provisioner.projectIDs.max",
			Message: fmt.Sprintf("the range %d-%d is empty", p.ProjectIDs.Min, p.ProjectIDs.Max),
			Hint:    "make min at most max"})
	}
	return ps
}

// within reports whether p is dir or below it, after cleaning both.
func within(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
