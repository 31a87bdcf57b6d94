package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The rules in this file reject, at validate time, what the host tools
// (zpool, drbdadm, lnetctl, mount, the API server) would refuse later, on
// a node, after helm install had long returned. Each names the tool's rule.

// checkHostRules runs every rule of this file on the decoded values.
func checkHostRules(v *Values) []Problem {
	var ps []Problem
	ps = append(ps, checkPoolNames(v)...)
	for i, t := range v.Targets {
		ps = append(ps, checkTargetPaths(i, t)...)
		ps = append(ps, checkVdevGroups(i, t)...)
		if t.DRBD != nil {
			ps = append(ps, checkDRBDNodeNames(i, t)...)
		}
	}
	if v.Clients.MountPoint != "" {
		ps = append(ps, pathProblems("clients.mountPoint", v.Clients.MountPoint, mountPathRule)...)
	}
	if v.Provisioner.Root != "" {
		ps = append(ps, pathProblems("provisioner.root", v.Provisioner.Root, dirPathRule)...)
	}
	ps = append(ps, checkLNetNetworks(v)...)
	ps = append(ps, checkNIDs(v)...)
	ps = append(ps, checkAddresses(v)...)
	return ps
}

// maxPoolName is OpenZFS's limit (pool_namecheck): a pool name leaves room
// for "/$ORIGIN@$ORIGIN" within the 256 bytes of a dataset name.
const maxPoolName = 256 - 2 - 2*len("$ORIGIN") - 1

// poolNameProblem says why zpool create refuses name, or "". The schema's
// pattern already limits a given name to letters, digits and _ . : -; a
// derived name has only fsname's characters.
func poolNameProblem(name string) string {
	if len(name) > maxPoolName {
		return fmt.Sprintf("has %d characters, ZFS allows at most %d", len(name), maxPoolName)
	}
	if name == "" || !('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z') {
		return "does not begin with a letter, as ZFS requires"
	}
	// zpool_name_valid: vdev type words may not begin a new pool's name.
	for _, w := range []string{"mirror", "raidz", "draid", "spare"} {
		if strings.HasPrefix(name, w) {
			return fmt.Sprintf("begins with %q, which zpool reserves for vdev types", w)
		}
	}
	if name == "log" {
		return "is reserved by zpool for log devices"
	}
	return ""
}

// checkPoolNames: every pool name, given or derived from fsname, is one
// zpool create accepts. A derived name is reported once, at fsname.
func checkPoolNames(v *Values) []Problem {
	var ps []Problem
	derivedReported := false
	for i, t := range v.Targets {
		name := v.PoolName(t)
		why := poolNameProblem(name)
		switch {
		case why == "":
		case t.ZPool.Name != "":
			ps = append(ps, Problem{Path: tpath(i, "zpool.name"),
				Message: fmt.Sprintf("pool name %q %s: zpool create refuses it", name, why),
				Hint:    "choose a pool name that begins with a letter and not with mirror, raidz, draid or spare, e.g. " + v.FSName + "-" + t.ShortName()})
		case !derivedReported:
			derivedReported = true
			ps = append(ps, Problem{Path: "fsname",
				Message: fmt.Sprintf("the pool name derived from it for %s, %s, %s: zpool create refuses it", t.ShortName(), name, why),
				Hint:    "begin fsname with a letter, and not with mirror, raidz, draid or spare; or give every target a zpool.name"})
		}
	}
	return ps
}

// pathRule is what one kind of path must be besides clean and absolute.
type pathRule struct {
	what string // "device path" or "path", for messages
	// bad are characters the consumer cannot take: DRBD's resource file
	// has no quoting (drbd.Resource.Validate refuses these), the mount
	// and zpool command lines are split on blanks.
	bad     string
	notRoot bool
	under   string // the cleaned path must stay below it
}

var (
	devicePathRule = pathRule{what: "device path", bad: `;{}"#`, under: "/dev/"}
	mountPathRule  = pathRule{what: "path", notRoot: true}
	dirPathRule    = pathRule{what: "path"}
)

// pathProblems: p is clean (no "..", ".", "//" or trailing "/": the
// uniqueness rules compare paths as text, so /mnt/a and /mnt/x/../a would
// pass as two), has no blanks or control characters, and is not "/".
func pathProblems(field, p string, r pathRule) []Problem {
	if i := strings.IndexFunc(p, func(c rune) bool { return c <= ' ' || c == 0x7f || strings.ContainsRune(r.bad, c) }); i >= 0 {
		hint := "use a " + r.what + " without blanks or control characters"
		if r.bad != "" {
			hint += " or any of " + r.bad + ", e.g. a /dev/disk/by-id/ name"
		}
		return []Problem{{Path: field, Message: fmt.Sprintf("%s %q contains %q, which the host tools cannot take", r.what, p, p[i:i+1]), Hint: hint}}
	}
	if clean := path.Clean(p); clean != p {
		hint := "write it as " + clean
		if !strings.HasPrefix(clean, r.under) {
			hint = "name the device by its own path under " + r.under + ", e.g. /dev/disk/by-id/<name>"
		}
		return []Problem{{Path: field, Message: fmt.Sprintf("%s %q is not a clean absolute path (no \"..\", \".\", \"//\" or trailing \"/\")", r.what, p),
			Hint: hint}}
	}
	if r.notRoot && p == "/" {
		return []Problem{{Path: field, Message: "is the root directory: a Lustre mount there would hide the node's own filesystem",
			Hint: "name a directory of its own, or remove it for the default"}}
	}
	return nil
}

var drbdDeviceRE = regexp.MustCompile(`^/dev/drbd[0-9]+$`)

// checkTargetPaths: the target's mount point, DRBD backing disks and vdev
// devices are paths the tools take.
func checkTargetPaths(i int, t Target) []Problem {
	var ps []Problem
	if t.MountPoint != "" {
		ps = append(ps, pathProblems(tpath(i, "mountPoint"), t.MountPoint, mountPathRule)...)
	}
	for _, d := range diskFields(i, t) {
		switch {
		case !d.vdev:
			ps = append(ps, pathProblems(d.path, d.dev, devicePathRule)...)
		case !strings.HasPrefix(d.dev, "/"):
		case drbdDeviceRE.MatchString(d.dev):
			// zfs.Pool.Validate refuses it: a pool on DRBD is what drbd: sets up.
			ps = append(ps, Problem{Path: d.path, Message: fmt.Sprintf("%s is a DRBD device: kube-lustre creates pools on DRBD only through drbd", d.dev),
				Hint: "name the backing disk in drbd.disk instead, and remove zpool.vdevs"})
		default:
			ps = append(ps, pathProblems(d.path, d.dev, devicePathRule)...)
		}
	}
	return ps
}

// diskField is one value of a target that names a disk: the DRBD backing
// disk (for all nodes or one), or a zpool vdev argument (a device path or
// a vdev type word such as mirror).
type diskField struct {
	path, dev string
	vdev      bool
}

// diskFields lists target i's disk values with their field paths, per-node
// disks in node order.
func diskFields(i int, t Target) []diskField {
	var out []diskField
	if d := t.DRBD; d != nil {
		if d.Disk.PerNode == nil {
			out = append(out, diskField{path: tpath(i, "drbd.disk"), dev: d.Disk.All})
		}
		for _, n := range slices.Sorted(maps.Keys(d.Disk.PerNode)) {
			out = append(out, diskField{path: tpath(i, "drbd.disk."+n), dev: d.Disk.PerNode[n]})
		}
	}
	for j, dev := range t.ZPool.Vdevs {
		out = append(out, diskField{path: tpath(i, fmt.Sprintf("zpool.vdevs[%d]", j)), dev: dev, vdev: true})
	}
	return out
}

// minDevices is how many devices zpool create needs in a group of each
// vdev type ("mirror requires at least 2 devices").
var minDevices = map[string]int{"mirror": 2, "raidz": 2, "raidz1": 2, "raidz2": 3, "raidz3": 4}

// checkVdevGroups: zpool create refuses a group with too few devices, a
// pool with no device at all, and (without -f, which kube-lustre never
// passes) a pool mixing replication levels: plain disks with mirrors,
// mirrors with raidz, 2-way with 3-way mirrors.
func checkVdevGroups(i int, t Target) []Problem {
	if len(t.ZPool.Vdevs) == 0 {
		return nil // checkTarget reports missing vdevs
	}
	type group struct {
		kind  string // "disk" for plain devices
		at, n int
	}
	var groups []group
	for j, dev := range t.ZPool.Vdevs {
		if _, kw := minDevices[dev]; kw {
			groups = append(groups, group{dev, j, 0})
			continue
		}
		if len(groups) == 0 {
			// Devices before any keyword are plain (striped) disks; after
			// one, they belong to its group.
			groups = append(groups, group{"disk", j, 0})
		}
		groups[len(groups)-1].n++
	}
	field := tpath(i, "zpool.vdevs")
	var ps []Problem
	for _, g := range groups {
		if g.kind != "disk" && g.n < minDevices[g.kind] {
			ps = append(ps, Problem{Path: fmt.Sprintf("%s[%d]", field, g.at),
				Message: fmt.Sprintf("%s has %d device(s): zpool create requires at least %d", g.kind, g.n, minDevices[g.kind]),
				Hint:    fmt.Sprintf("list at least %d devices after %s", minDevices[g.kind], g.kind)})
		}
	}
	if len(ps) > 0 {
		return ps
	}
	describe := func(g group) string {
		if g.kind == "disk" {
			return "plain disks"
		}
		return fmt.Sprintf("a %d-device %s", g.n, g.kind)
	}
	for _, g := range groups[1:] {
		first := groups[0]
		if g.kind != first.kind || (g.kind != "disk" && g.n != first.n) {
			return []Problem{{Path: fmt.Sprintf("%s[%d]", field, g.at),
				Message: fmt.Sprintf("mixes %s with %s: zpool create refuses a mismatched replication level", describe(first), describe(g)),
				Hint:    "make every group of the pool the same type and width (e.g. mirror a b mirror c d), or split the devices into targets"}}
		}
	}
	return nil
}

// maxDRBDHostName: drbd.Resource.Validate, like drbdadm's `on <host>`
// section that must match the node's host name, takes at most 63 characters.
const maxDRBDHostName = 63

func checkDRBDNodeNames(i int, t Target) []Problem {
	var ps []Problem
	for j, n := range t.Nodes {
		if len(n) > maxDRBDHostName {
			ps = append(ps, Problem{Path: tpath(i, fmt.Sprintf("nodes[%d]", j)),
				Message: fmt.Sprintf("node name %q has %d characters: DRBD's resource file names each node by its host name, at most %d", n, len(n), maxDRBDHostName),
				Hint:    "serve this target from nodes with shorter names, or use sharedStorage instead of drbd"})
		}
	}
	return ps
}

// lnetAddrKinds are the network types LNet knows (libcfs nidstrings.c) and
// the addresses of each: IPv4 (or a host name, which the tools resolve) or
// a number.
var lnetAddrKinds = map[string]string{"tcp": "ip", "o2ib": "ip", "gip": "ip", "gni": "num", "ptlf": "num", "kfi": "num"}

// lnetNet is one LNet network: "tcp" and "tcp0" are the same one.
type lnetNet struct {
	typ string
	num int
}

func (n lnetNet) String() string {
	if n.num == 0 {
		return n.typ
	}
	return n.typ + strconv.Itoa(n.num)
}

// parseLNetNet reads "o2ib1" as libcfs_str2net does, with the network
// number in LNet's 16 bits.
func parseLNetNet(s string) (lnetNet, string) {
	for typ := range lnetAddrKinds {
		rest, ok := strings.CutPrefix(s, typ)
		if !ok {
			continue
		}
		if rest == "" {
			return lnetNet{typ, 0}, ""
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || strings.HasPrefix(rest, "+") {
			break
		}
		if n > 0xffff {
			return lnetNet{}, fmt.Sprintf("network number %d is above LNet's 65535", n)
		}
		return lnetNet{typ, n}, ""
	}
	return lnetNet{}, fmt.Sprintf("%q is not an LNet network", s)
}

const lnetNetsHint = "LNet networks are tcp, o2ib, gni, gip, ptlf or kfi, optionally numbered (tcp1, o2ib0)"

// checkLNetNetworks: each network is one LNet knows, with a number that
// fits (the schema checks the shape and the type).
func checkLNetNetworks(v *Values) []Problem {
	var ps []Problem
	for i, s := range v.LNet.Networks {
		name, _, _ := strings.Cut(s, "(")
		if _, why := parseLNetNet(name); why != "" {
			ps = append(ps, Problem{Path: fmt.Sprintf("lnet.networks[%d]", i), Message: why, Hint: lnetNetsHint})
		}
	}
	return ps
}

// nid is one parsed NID: its address and network.
type nid struct {
	addr string
	net  lnetNet
}

func (n nid) String() string { return n.addr + "@" + n.net.String() }

var hostNameRE = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// parseNID checks one ADDRESS@NET as libcfs_str2nid and the tools that
// resolve host names in NIDs (mkfs.lustre, mount.lustre) do.
func parseNID(s string) (nid, string) {
	addr, netName, ok := strings.Cut(s, "@")
	if !ok || addr == "" {
		return nid{}, fmt.Sprintf("%q is not a NID: write ADDRESS@NETWORK", s)
	}
	net, why := parseLNetNet(netName)
	if why != "" {
		return nid{}, fmt.Sprintf("NID %q: %s", s, why)
	}
	n := nid{addr, net}
	if lnetAddrKinds[net.typ] == "num" {
		// libcfs_num_str2addr: decimal, or hexadecimal after 0x.
		digits, base := addr, 10
		if h, ok := strings.CutPrefix(strings.ToLower(addr), "0x"); ok {
			digits, base = h, 16
		}
		if _, err := strconv.ParseUint(digits, base, 32); err != nil || strings.ContainsAny(digits, "_+-") {
			return nid{}, fmt.Sprintf("NID %q: the address on a %s network is a number", s, net.typ)
		}
		return n, ""
	}
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is4() {
		if why := unreachable(ip); why != "" {
			return nid{}, fmt.Sprintf("NID %q: %s is %s, which other nodes cannot reach", s, addr, why)
		}
		return n, ""
	}
	if addr[0] >= '0' && addr[0] <= '9' || !hostNameRE.MatchString(addr) {
		return nid{}, fmt.Sprintf("NID %q: %s is neither an IPv4 address nor a host name", s, addr)
	}
	return n, ""
}

// unreachable says why no other node can reach this one at ip, or "".
func unreachable(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	return ""
}

// checkNIDs: every NID parses, and no two nodes claim one NID. (A NID on
// a network lnet.networks does not list is not refused: ConfigureLNet only
// adds networks to what the host configured itself.)
func checkNIDs(v *Values) []Problem {
	var ps []Problem
	type use struct{ node, field string }
	owner := map[nid]use{} // -> its first use
	for _, node := range slices.Sorted(maps.Keys(v.Nodes)) {
		for j, s := range v.Nodes[node].NIDs {
			field := fmt.Sprintf("nodes.%s.nids[%d]", node, j)
			n, why := parseNID(s)
			first, dup := owner[n]
			switch {
			case why != "":
				ps = append(ps, Problem{Path: field, Message: why, Hint: "write ADDRESS@NETWORK, e.g. 10.0.0.1@tcp; " + lnetNetsHint})
			case !dup:
				owner[n] = use{node, field}
			case first.node != node:
				ps = append(ps, Problem{Path: field, Conflict: first.field,
					Message: fmt.Sprintf("NID %s is also node %s's: LNet cannot tell the two apart", n, first.node),
					Hint:    "give each node its own NIDs (its own addresses)"})
			}
		}
	}
	if e := v.External; e != nil {
		for i, entry := range e.MGSNIDs {
			for _, s := range strings.Split(entry, ",") {
				if _, why := parseNID(s); why != "" {
					ps = append(ps, Problem{Path: fmt.Sprintf("external.mgsNids[%d]", i), Message: why,
						Hint: "write the MGS node's NIDs as ADDRESS@NETWORK, comma-separated, e.g. 10.0.0.1@o2ib,10.1.0.1@tcp; " + lnetNetsHint})
				}
			}
		}
	}
	return ps
}

// checkAddresses: a DRBD replication address is one the peer can reach
// and no two nodes share (the schema makes it IPv4).
func checkAddresses(v *Values) []Problem {
	var ps []Problem
	owner := map[netip.Addr]string{} // -> node
	for _, node := range slices.Sorted(maps.Keys(v.Nodes)) {
		a := v.Nodes[node].Address
		ip, err := netip.ParseAddr(a)
		if a == "" || err != nil {
			continue
		}
		field := "nodes." + node + ".address"
		if why := unreachable(ip); why != "" {
			ps = append(ps, Problem{Path: field, Message: fmt.Sprintf("%s is %s: the peer node cannot reach DRBD there", a, why),
				Hint: "give the IPv4 address of the interface this node replicates over, or remove address to use the node's InternalIP"})
			continue
		}
		if first, dup := owner[ip]; dup {
			ps = append(ps, Problem{Path: field, Conflict: "nodes." + first + ".address",
				Message: fmt.Sprintf("address %s is also node %s's: DRBD would connect one of them to itself", a, first),
				Hint:    "give each node the address of its own replication interface"})
			continue
		}
		owner[ip] = node
	}
	return ps
}

// checkResources: every cpu and memory request and limit is a Kubernetes
// quantity, not negative, memory in whole bytes, and no request above its
// limit: the API server refuses such a pod, long after helm install
// returned. It reads the JSON document: resources are chart-only values,
// not in the model.
func checkResources(doc []byte) []Problem {
	var raw struct {
		Resources map[string]struct {
			Requests map[string]json.RawMessage `json:"requests"`
			Limits   map[string]json.RawMessage `json:"limits"`
		} `json:"resources"`
	}
	if json.Unmarshal(doc, &raw) != nil {
		return nil // a wrong shape: the schema reports it
	}
	var ps []Problem
	for _, comp := range slices.Sorted(maps.Keys(raw.Resources)) {
		r := raw.Resources[comp]
		base := "resources." + comp
		req := quantities(base+".requests", r.Requests, &ps)
		lim := quantities(base+".limits", r.Limits, &ps)
		for _, k := range slices.Sorted(maps.Keys(req)) {
			if q, l := req[k], lim[k]; l != nil && q.Cmp(*l) > 0 {
				ps = append(ps, Problem{Path: base + ".requests." + k, Conflict: base + ".limits." + k,
					Message: fmt.Sprintf("request %s is above the limit %s: Kubernetes refuses the pod", q.String(), l.String()),
					Hint:    "lower the request to at most the limit, or raise the limit"})
			}
		}
	}
	return ps
}

// quantities parses one requests or limits map, reporting what does not
// parse; it returns the good ones.
func quantities(base string, m map[string]json.RawMessage, ps *[]Problem) map[string]*resource.Quantity {
	out := map[string]*resource.Quantity{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		text := string(m[k])
		if s := ""; json.Unmarshal(m[k], &s) == nil {
			text = s
		} else if text == "null" {
			continue
		}
		field := base + "." + k
		q, err := resource.ParseQuantity(text)
		switch {
		case err != nil:
			*ps = append(*ps, Problem{Path: field, Message: fmt.Sprintf("%q is not a Kubernetes quantity", text),
				Hint: "write a number with an optional suffix: cpu 100m or 0.5, memory 64Mi or 1Gi (suffixes m k M G T Ki Mi Gi Ti)"})
		case q.Sign() < 0:
			*ps = append(*ps, Problem{Path: field, Message: fmt.Sprintf("%s is negative: Kubernetes refuses the pod", text),
				Hint: "use a quantity of 0 or more, or remove it"})
		case k == "memory" && resource.NewQuantity(q.Value(), q.Format).Cmp(q) != 0: // Value rounds up
			*ps = append(*ps, Problem{Path: field, Message: fmt.Sprintf("%s is a fraction of a byte (m means thousandths)", text),
				Hint: "write memory in whole bytes, with a binary suffix such as Mi or Gi (did you mean " + strings.TrimSuffix(text, "m") + "Mi?)"})
		default:
			out[k] = &q
		}
	}
	return out
}
