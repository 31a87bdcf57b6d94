package hostsim

import (
	"fmt"
	"path"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// openDev returns the data area behind a device path and the function to
// call after changing it. The message on failure is the errno text the ZFS
// tools print after "cannot open 'DEV': ".
func (st *state) openDev(h *hostState, dev string) (*data, func(), string) {
	dev = path.Clean(dev)
	if d, found := h.Disks[dev]; found {
		for _, r := range h.DRBD {
			if r.Disk == dev {
				// DRBD holds its backing disk exclusively.
				return nil, nil, "Device or resource busy"
			}
		}
		if d.Parted {
			// The pool is in partition 1; the disk itself holds only
			// the partition table.
			return &data{Sig: "gpt"}, func() {}, ""
		}
		if d.Table != nil {
			// Partitioned (AddPartition): the data is in the partitions.
			return &data{Sig: d.Table.Type}, func() {}, ""
		}
		return &d.Data, func() {}, ""
	}
	if d, _, isPart := h.partition(dev); isPart {
		return &d.Data, func() {}, ""
	}
	r := h.drbdByDevice(dev)
	if r == nil {
		return nil, nil, "No such file or directory"
	}
	if r.Role != "Primary" {
		// DRBD refuses to open a Secondary (8.4: EMEDIUMTYPE). DRBD 9's
		// auto-promote is not modelled.
		return nil, nil, "Wrong medium type"
	}
	d := h.Disks[r.Disk]
	return &d.Data, func() { st.writeDRBD(h, r, r.Name) }, ""
}

// importedPool returns the pool imported on h under name.
func (st *state) importedPool(h *hostState, name string) (*pool, func(), bool) {
	dev, found := h.Imported[name]
	if !found {
		return nil, nil, false
	}
	d, commit, msg := st.openDev(h, dev)
	if msg != "" || d.Pool == nil {
		return nil, nil, false
	}
	return d.Pool, commit, true
}

// zfsOpts splits "-o k=v" style options from positional arguments.
type zfsOpts struct {
	flags map[string]bool
	o     map[string]string
	bigO  map[string]string
	d     []string
	pos   []string
}

func parseZfsArgs(args []string, valued string) (zfsOpts, string) {
	z := zfsOpts{flags: map[string]bool{}, o: map[string]string{}, bigO: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			z.pos = append(z.pos, a)
			continue
		}
		if !strings.Contains(valued, a[1:2]) || len(a) != 2 {
			for _, f := range a[1:] {
				z.flags[string(f)] = true
			}
			continue
		}
		if i+1 >= len(args) {
			return z, fmt.Sprintf("missing argument for '%s' option", a)
		}
		i++
		v := args[i]
		switch a {
		case "-o", "-O":
			k, val, found := strings.Cut(v, "=")
			target := z.o
			if a == "-O" {
				target = z.bigO
			}
			if !found {
				// `zfs get -o value` uses -o for columns, not k=v.
				target[v] = ""
				continue
			}
			target[k] = val
		case "-d":
			z.d = append(z.d, v)
		default:
			z.o[a] = v
		}
	}
	return z, ""
}

func cmdZpool(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) == 0 {
		return fail(2, "usage: zpool command args ...")
	}
	if msg, loaded := h.loadModule("zfs"); !loaded {
		return host.Result{Stderr: msg + "The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.\n", ExitCode: 1}
	}
	z, msg := parseZfsArgs(c.Args[1:], "oOdmR")
	if msg != "" {
		return fail(2, "%s", msg)
	}
	switch c.Args[0] {
	case "create":
		return st.zpoolCreate(h, z)
	case "import":
		return st.zpoolImport(h, z)
	case "export":
		return st.zpoolExport(h, z)
	case "list":
		return st.zpoolList(h, z)
	case "get":
		return st.zpoolGet(h, z)
	case "set":
		return st.zpoolSet(h, z)
	}
	return fail(2, "unrecognized command '%s'", c.Args[0])
}

// zpoolSet models `zpool set multihost=on|off POOL`, the one pool
// property kube-lustre changes after creation (zfs.EnsureMultihost).
func (st *state) zpoolSet(h *hostState, z zfsOpts) host.Result {
	if len(z.pos) != 2 {
		return fail(2, "usage: zpool set <property=value> <pool>")
	}
	prop, value, _ := strings.Cut(z.pos[0], "=")
	if prop != "multihost" || (value != "on" && value != "off") {
		return fail(2, "zpool set: only multihost=on|off is simulated")
	}
	p, commit, found := st.importedPool(h, z.pos[1])
	if !found {
		return fail(1, "cannot open '%s': no such pool", z.pos[1])
	}
	if value == "on" && h.hostID() == "" {
		return fail(1, "cannot set property for '%s': requires a non-zero system hostid", z.pos[1])
	}
	p.Multihost = value == "on"
	commit()
	return ok("")
}

func (st *state) zpoolCreate(h *hostState, z zfsOpts) host.Result {
	if len(z.pos) != 2 {
		return fail(2, "usage: zpool create [-f] [-o property=value] ... <pool> <vdev>\n(kube-lustre's simulator models one vdev)")
	}
	name, dev := z.pos[0], z.pos[1]
	if _, found := h.Imported[name]; found {
		return fail(1, "cannot create '%s': pool already exists", name)
	}
	multihost := z.o["multihost"] == "on"
	if multihost && h.hostID() == "" {
		return fail(1, "cannot create '%s': requires a non-zero system hostid", name)
	}
	if dk := h.Disks[path.Clean(dev)]; dk != nil && dk.Table != nil && z.flags["f"] {
		return fail(1, "hostsim: zpool create -f over the partition table of %s is not simulated", dev)
	}
	d, commit, msg := st.openDev(h, dev)
	if msg != "" {
		return fail(1, "cannot open '%s': %s", dev, msg)
	}
	if d.Sig != "" && !z.flags["f"] {
		what := fmt.Sprintf("%s contains a filesystem of type '%s'", dev, d.Sig)
		if d.Sig == SigZFSMember && d.Pool != nil {
			state := "exported"
			if d.Pool.Active {
				state = "potentially active"
			}
			what = fmt.Sprintf("%s is part of %s pool '%s'", dev, state, d.Pool.Name)
		}
		return fail(1, "invalid vdev specification\nuse '-f' to override the following errors:\n%s", what)
	}
	props := copyProps(z.o)
	root := copyProps(z.bigO)
	*d = data{Sig: SigZFSMember, UUID: st.newUUID(), Pool: &pool{
		Name: name, GUID: st.nextID(), HostID: h.hostID(), HostName: h.Name, Active: true,
		Multihost: multihost, Size: h.devSize(dev), Props: props, Datasets: map[string]map[string]string{name: root},
	}}
	commit()
	h.Imported[name] = path.Clean(dev)
	if dk, found := h.Disks[path.Clean(dev)]; found && dk.Part == nil {
		// Given a whole disk, ZFS partitions it (GPT, the pool in
		// partition 1, 8 MiB reserved in partition 9).
		dk.Parted = true
		h.Imported[name] = partPath(path.Clean(dev), 1)
	}
	return ok("")
}

// scan returns the pools visible on the given devices (every device of the
// host when none is given), as `zpool import` finds them.
func (st *state) scan(h *hostState, devs []string) map[string]string {
	if len(devs) == 0 {
		for _, name := range sortedKeys(h.Disks) {
			devs = append(devs, name)
			if h.Disks[name].Parted {
				devs = append(devs, partPath(name, 1))
			}
		}
		for _, name := range sortedKeys(h.DRBD) {
			devs = append(devs, h.DRBD[name].Device)
		}
	}
	found := map[string]string{}
	for _, dev := range devs {
		d, _, msg := st.openDev(h, dev)
		if msg != "" || d.Pool == nil {
			continue
		}
		if _, imported := h.Imported[d.Pool.Name]; imported {
			continue
		}
		if _, seen := found[d.Pool.Name]; !seen {
			found[d.Pool.Name] = path.Clean(dev)
		}
	}
	return found
}

// activeElsewhere finds a host that has the pool imported on the other end
// of the same DRBD connection: only then do its MMP writes reach our copy.
// Across a cut link MMP sees nothing (vm-facts.md: split brain with both
// pools imported).
func (st *state) activeElsewhere(h *hostState, dev, poolName string) string {
	r := h.drbdByDevice(dev)
	if r == nil || !r.Connected {
		return ""
	}
	p, pr := st.peerOf(h, r.Name)
	if pr != nil && p.Imported[poolName] == pr.Device {
		return p.Name
	}
	return ""
}

func (st *state) zpoolImport(h *hostState, z zfsOpts) host.Result {
	found := st.scan(h, z.d)
	if len(z.pos) == 0 {
		if len(found) == 0 {
			return fail(1, "no pools available to import")
		}
		var b strings.Builder
		for _, name := range sortedKeys(found) {
			d, _, _ := st.openDev(h, found[name])
			fmt.Fprintf(&b, "   pool: %s\n     id: %d\n  state: ONLINE\n action: The pool can be imported using its name or numeric identifier.\n config:\n\n\t%-12sONLINE\n\t  %-10sONLINE\n\n", name, d.Pool.GUID, name, path.Base(found[name]))
		}
		return ok(b.String())
	}
	name := z.pos[0]
	if _, imported := h.Imported[name]; imported {
		return fail(1, "cannot import '%s': a pool with that name already exists\nuse the form 'zpool import <pool | id> <newpool>' to give it a new name", name)
	}
	dev, ok2 := found[name]
	if !ok2 {
		return fail(1, "cannot import '%s': no such pool available", name)
	}
	d, commit, _ := st.openDev(h, dev)
	p := d.Pool
	if p.Multihost && h.hostID() == "" {
		return fail(1, "cannot import '%s': pool has the multihost property on and the\nsystem's hostid is not set. Set a unique system hostid with\nthe zgenhostid(8) command.", name)
	}
	if p.Active && p.HostID != h.hostID() {
		if other := st.activeElsewhere(h, dev, name); other != "" && p.Multihost {
			// Refused with and without -f, in two wordings (ZFS 2.1,
			// make e2e-vm).
			if z.flags["f"] {
				return fail(1, "cannot import '%s': pool is imported on host '%s' (hostid=%s).\nExport the pool on the other system, then run 'zpool import'.", name, other, p.HostID)
			}
			return fail(1, "cannot import '%s': pool is imported on %s (hostid: 0x%s)\nExport the pool on the other system, then run 'zpool import'.", name, other, p.HostID)
		}
		if !z.flags["f"] {
			return fail(1, "cannot import '%s': pool was previously in use from another system.\nLast accessed by %s (hostid=%s) at Thu Jan  1 00:00:00 2026\nThe pool can be imported, use 'zpool import -f' to import the pool.", name, p.HostName, p.HostID)
		}
	}
	p.Active, p.HostID, p.HostName = true, h.hostID(), h.Name
	for k, v := range z.o {
		p.Props[k] = v
	}
	commit()
	h.Imported[name] = dev
	return ok("")
}

func (st *state) zpoolExport(h *hostState, z zfsOpts) host.Result {
	if len(z.pos) != 1 {
		return fail(2, "usage: zpool export [-f] <pool>")
	}
	name := z.pos[0]
	p, commit, found := st.importedPool(h, name)
	if !found {
		return fail(1, "cannot open '%s': no such pool", name)
	}
	for _, m := range h.Mounts {
		if m.Pool == name {
			return fail(1, "cannot export '%s': pool is busy", name)
		}
	}
	p.Active = false
	commit()
	delete(h.Imported, name)
	return ok("")
}

func (st *state) zpoolList(h *hostState, z zfsOpts) host.Result {
	names := z.pos
	if len(names) == 0 {
		names = sortedKeys(h.Imported)
	}
	var lines []string
	for _, n := range names {
		if _, _, found := st.importedPool(h, n); !found {
			return fail(1, "cannot open '%s': no such pool", n)
		}
		lines = append(lines, n)
	}
	if !z.flags["H"] {
		lines = append([]string{"NAME"}, lines...)
	}
	return ok(joinLines(lines))
}

func (st *state) zpoolGet(h *hostState, z zfsOpts) host.Result {
	if len(z.pos) != 2 {
		return fail(2, "usage: zpool get -H -o value <property> <pool>")
	}
	prop, name := z.pos[0], z.pos[1]
	p, _, found := st.importedPool(h, name)
	if !found {
		return fail(1, "cannot open '%s': no such pool", name)
	}
	v, set := p.Props[prop]
	switch {
	case prop == "multihost":
		v = map[bool]string{true: "on", false: "off"}[p.Multihost]
	case prop == "name":
		v = p.Name
	case prop == "health":
		v = "ONLINE"
	case prop == "guid":
		v = fmt.Sprint(p.GUID)
	case !set:
		v = "-"
	}
	return ok(v + "\n")
}

// zfsGet models `zfs get -H -o value|property,value [-p] PROPS DATASET`:
// one line per property, in the order given; unset user properties
// print '-'; used and available (zfsGetSpace) only as exact bytes (-p).
func zfsGet(st *state, h *hostState, z zfsOpts) host.Result {
	_, value := z.o["value"]
	_, property := z.o["property,value"]
	if len(z.pos) != 2 || !z.flags["H"] || !value && !property {
		return fail(2, "usage: zfs get -H [-p] -o value|property,value <property[,...]> <dataset>\n(kube-lustre's simulator models these forms)")
	}
	ds := z.pos[1]
	props, p, _, exists := st.dataset(h, ds)
	if !exists {
		return fail(1, "cannot open '%s': dataset does not exist", ds)
	}
	var lines []string
	for _, prop := range strings.Split(z.pos[0], ",") {
		v, set := props[prop]
		if n, space := zfsGetSpace(p, ds, prop); space {
			if !z.flags["p"] {
				return fail(2, "hostsim: zfs get %s without -p (a rounded size) is not simulated", prop)
			}
			v, set = n, true
		}
		if !set {
			// Unset user properties print '-'.
			v = "-"
		}
		if property {
			v = prop + "\t" + v
		}
		lines = append(lines, v)
	}
	return ok(joinLines(lines))
}

// dataset returns the properties of an existing dataset in an imported pool.
func (st *state) dataset(h *hostState, ds string) (map[string]string, *pool, func(), bool) {
	poolName, _, _ := strings.Cut(ds, "/")
	p, commit, found := st.importedPool(h, poolName)
	if !found {
		return nil, nil, nil, false
	}
	props, exists := p.Datasets[ds]
	return props, p, commit, exists
}

func cmdZfs(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) == 0 {
		return fail(2, "usage: zfs command args ...")
	}
	z, msg := parseZfsArgs(c.Args[1:], "ot")
	if msg != "" {
		return fail(2, "%s", msg)
	}
	switch c.Args[0] {
	case "create":
		if len(z.pos) != 1 {
			return fail(2, "usage: zfs create [-o property=value] ... <filesystem>")
		}
		ds := z.pos[0]
		_, p, commit, exists := st.dataset(h, ds)
		if exists {
			return fail(1, "cannot create '%s': dataset already exists", ds)
		}
		if p == nil {
			return fail(1, "cannot create '%s': no such pool '%s'", ds, strings.SplitN(ds, "/", 2)[0])
		}
		if _, parent := p.Datasets[path.Dir(ds)]; !parent {
			return fail(1, "cannot create '%s': parent does not exist", ds)
		}
		p.Datasets[ds] = copyProps(z.o)
		commit()
		return ok("")
	case "get":
		return zfsGet(st, h, z)
	case "set":
		if len(z.pos) != 2 || !strings.Contains(z.pos[0], "=") {
			return fail(2, "usage: zfs set <property=value> <dataset>")
		}
		k, v, _ := strings.Cut(z.pos[0], "=")
		props, _, commit, exists := st.dataset(h, z.pos[1])
		if !exists {
			return fail(1, "cannot open '%s': dataset does not exist", z.pos[1])
		}
		props[k] = v
		commit()
		return ok("")
	case "list":
		var lines []string
		for _, pn := range sortedKeys(h.Imported) {
			if p, _, found := st.importedPool(h, pn); found {
				lines = append(lines, sortedKeys(p.Datasets)...)
			}
		}
		return ok(joinLines(lines))
	}
	return fail(2, "unrecognized command '%s'", c.Args[0])
}
