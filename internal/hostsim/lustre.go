package hostsim

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Lustre on-disk flags (lustre_disk.h).
const (
	lddMDT       = 0x0001
	lddOST       = 0x0002
	lddMGS       = 0x0004
	lddVirgin    = 0x0020
	lddUpdate    = 0x0040
	lddNoPrimary = 0x1000
)

var fsnameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,8}$`)

type mkfsArgs struct {
	fsname, index         string
	mgs, mdt, ost         bool
	mgsnodes, servicenode []string
	failnode              []string
	backfs                string
	target                string
}

func parseMkfs(args []string) (mkfsArgs, string) {
	var m mkfsArgs
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "--backfstype":
			m.backfs = v
		case "--fsname":
			m.fsname = v
		case "--index":
			m.index = v
		case "--mgsnode":
			m.mgsnodes = append(m.mgsnodes, v)
		case "--servicenode":
			m.servicenode = append(m.servicenode, v)
		case "--failnode":
			m.failnode = append(m.failnode, v)
		case "--mgs":
			m.mgs = true
		case "--mdt":
			m.mdt = true
		case "--ost":
			m.ost = true
		default:
			if strings.HasPrefix(a, "-") {
				return m, fmt.Sprintf("unrecognized option '%s'", a)
			}
			if m.target != "" {
				return m, "vdevs are not simulated: create the pool first and pass only POOL/DATASET"
			}
			m.target = a
		}
	}
	return m, ""
}

// svname is the label mkfs.lustre writes: fsname:MDT0000 with a colon
// until the target's first mount registers it with the MGS
// (registeredSvname), or MGS for a bare MGS (lustre-facts.md).
func svname(fsname string, mdt, ost bool, index int) string {
	switch {
	case mdt:
		return fmt.Sprintf("%s:MDT%04x", fsname, index)
	case ost:
		return fmt.Sprintf("%s:OST%04x", fsname, index)
	}
	return "MGS"
}

// registeredSvname is the label after registration: lfs1-OST0000.
func registeredSvname(sv string) string { return strings.Replace(sv, ":", "-", 1) }

// targetMountSource returns SOURCE of `mount -t lustre SOURCE DIR` when it
// names a server target (POOL/DATASET), not a client's NIDS:/fsname.
func targetMountSource(c host.Cmd) (string, bool) {
	fstype, opts, pos, msg := parseMount(c.Args)
	if msg != "" || fstype != "lustre" || slices.Contains(opts, "bind") || len(pos) != 2 || strings.Contains(pos[0], ":/") {
		return "", false
	}
	return pos[0], true
}

// mgsAnswers reports whether a target's MGS is reachable from h: always
// for a target that runs the MGS itself.
func (st *state) mgsAnswers(h *hostState, props map[string]string) bool {
	flags, _ := strconv.Atoi(props["lustre:flags"])
	return flags&lddMGS != 0 || st.findTarget(h, splitNIDs(props["lustre:mgsnode"]), func(m mount) bool { return m.MGS })
}

func cmdMkfsLustre(st *state, h *hostState, c host.Cmd) host.Result {
	m, msg := parseMkfs(c.Args)
	if msg != "" {
		return fail(22, "mkfs.lustre: %s", msg)
	}
	switch {
	case m.backfs != "zfs":
		return fail(22, "mkfs.lustre: only --backfstype=zfs is simulated")
	case !m.mgs && !m.mdt && !m.ost:
		return fail(22, "mkfs.lustre FATAL: must set target type: MDT,OST,MGS")
	case m.mdt && m.ost:
		return fail(22, "mkfs.lustre FATAL: cannot be both an MDT and an OST")
	case (m.mdt || m.ost) && !fsnameRE.MatchString(m.fsname):
		return fail(22, "mkfs.lustre: filesystem name must be 1-8 chars")
	case !m.mgs && len(m.mgsnodes) == 0:
		return fail(22, "mkfs.lustre FATAL: Must specify --mgs or --mgsnode")
	case len(m.servicenode) > 0 && len(m.failnode) > 0:
		return fail(22, "mkfs.lustre: --servicenode and --failnode cannot be used together")
	case !strings.Contains(m.target, "/"):
		return fail(22, "mkfs.lustre FATAL: must specify POOL/DATASET for a zfs target")
	}
	index := 0
	if m.mdt || m.ost {
		var err error
		index, err = strconv.Atoi(m.index)
		if err != nil || index < 0 || index >= 65504 {
			return fail(22, "mkfs.lustre: bad index '%s'", m.index)
		}
	}
	sv := svname(m.fsname, m.mdt, m.ost, index)
	header := fmt.Sprintf("\n   Permanent disk data:\nTarget:     %s\nIndex:      %d\nLustre FS:  %s\nMount type: zfs\n", sv, index, m.fsname)
	_, p, commit, exists := st.dataset(h, m.target)
	poolName, _, _ := strings.Cut(m.target, "/")
	if p == nil {
		return host.Result{Stdout: header, Stderr: fmt.Sprintf("cannot open '%s': no such pool\n\nmkfs.lustre FATAL: Unable to create filesystem %s (256)\n\nmkfs.lustre FATAL: mkfs failed 256\n", poolName, m.target), ExitCode: 1}
	}
	if exists {
		return host.Result{Stdout: header + fmt.Sprintf("mkfs_cmd = zfs create -o canmount=off %s\n", m.target),
			Stderr: fmt.Sprintf("cannot create '%s': dataset already exists\n\nmkfs.lustre FATAL: Unable to create filesystem %s (256)\n\nmkfs.lustre FATAL: mkfs failed 256\n", m.target, m.target), ExitCode: 1}
	}
	flags := lddVirgin | lddUpdate
	if m.mdt {
		flags |= lddMDT
	}
	if m.ost {
		flags |= lddOST
	}
	if m.mgs {
		flags |= lddMGS
	}
	if len(m.servicenode) > 0 {
		flags |= lddNoPrimary
	}
	props := map[string]string{
		"canmount": "off", "lustre:version": "1", "lustre:flags": strconv.Itoa(flags),
		"lustre:index": strconv.Itoa(index), "lustre:fsname": m.fsname, "lustre:svname": sv,
	}
	if len(m.mgsnodes) > 0 {
		props["lustre:mgsnode"] = strings.Join(m.mgsnodes, ":")
	}
	if len(m.servicenode) > 0 {
		props["lustre:failover.node"] = strings.Join(m.servicenode, ":")
	}
	p.Datasets[m.target] = props
	commit()
	return ok(header + fmt.Sprintf("Flags:      0x%x\nmkfs_cmd = zfs create -o canmount=off %s\nWriting %s properties\n", flags, m.target, m.target))
}

func cmdTunefsLustre(st *state, h *hostState, c host.Cmd) host.Result {
	var target string
	dry := false
	for _, a := range c.Args {
		switch {
		case a == "--dryrun":
			dry = true
		case strings.HasPrefix(a, "-"):
			return fail(22, "tunefs.lustre: only --dryrun is simulated")
		default:
			target = a
		}
	}
	if !dry {
		return fail(22, "tunefs.lustre: only --dryrun is simulated")
	}
	props, _, _, exists := st.dataset(h, target)
	if !exists || props["lustre:svname"] == "" {
		return host.Result{Stdout: "checking for existing Lustre data: not found\n", Stderr: fmt.Sprintf("\ntunefs.lustre FATAL: Device %s has not been formatted with mkfs.lustre\ntunefs.lustre: exiting with 19 (No such device)\n", target), ExitCode: 19}
	}
	flags, _ := strconv.Atoi(props["lustre:flags"])
	return ok(fmt.Sprintf("checking for existing Lustre data: found\n\n   Read previous values:\nTarget:     %s\nIndex:      %s\nLustre FS:  %s\nMount type: zfs\nFlags:      0x%x\nPersistent mount opts: \nParameters: mgsnode=%s failover.node=%s\n\nexiting before disk write.\n",
		props["lustre:svname"], props["lustre:index"], props["lustre:fsname"], flags, props["lustre:mgsnode"], props["lustre:failover.node"]))
}

// nids returns the NIDs LNet has configured on a host.
func (h *hostState) nids() []string {
	var out []string
	for _, net := range sortedKeys(h.LNet) {
		if addr := h.Interfaces[h.LNet[net]]; addr != "" {
			out = append(out, addr+"@"+strings.TrimSuffix(net, "0"))
		}
	}
	return out
}

// splitNIDs splits a NID list ("a@tcp,b@o2ib:c@tcp") into single NIDs.
func splitNIDs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' })
}

// reachable reports whether h can talk to other over LNet.
func (st *state) reachable(h, other *hostState) bool {
	return !other.Down && other.LNetUp && (h == other || !st.Cut[linkKey(h.Name, other.Name)])
}

// findTarget reports whether a mounted server target reachable from h
// serves one of the NIDs and satisfies pick.
func (st *state) findTarget(h *hostState, nids []string, pick func(m mount) bool) bool {
	_, m := st.locateTarget(h, nids, pick)
	return m != nil
}

// locateTarget returns the host and mount of such a target, nil if none.
func (st *state) locateTarget(h *hostState, nids []string, pick func(m mount) bool) (*hostState, *mount) {
	for _, hn := range sortedKeys(st.Hosts) {
		other := st.Hosts[hn]
		if !st.reachable(h, other) || !intersects(other.nids(), nids) {
			continue
		}
		for i, m := range other.Mounts {
			if m.Svname != "" && pick(m) {
				return other, &other.Mounts[i]
			}
		}
	}
	return nil, nil
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// parseMount splits mount(8)'s arguments: -t TYPE, -o OPTS (several
// allowed), --bind/-B, and the positional SOURCE and DIR. msg names an
// option hostsim does not simulate.
func parseMount(args []string) (fstype string, opts, pos []string, msg string) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-t" || a == "-o") && i+1 < len(args):
			i++
			if a == "-t" {
				fstype = args[i]
			} else {
				opts = append(opts, strings.Split(args[i], ",")...)
			}
		case a == "--bind" || a == "-B":
			opts = append(opts, "bind")
		case strings.HasPrefix(a, "-"):
			return "", nil, nil, fmt.Sprintf("mount: option %s not simulated", a)
		default:
			pos = append(pos, a)
		}
	}
	return fstype, opts, pos, ""
}

func cmdMount(st *state, h *hostState, c host.Cmd) host.Result {
	fstype, opts, pos, msg := parseMount(c.Args)
	if msg != "" {
		return fail(1, "%s", msg)
	}
	has := func(o string) bool { return slices.Contains(opts, o) }
	switch {
	case has("remount") && has("bind") && len(pos) == 1:
		return h.remountBind(pos[0], opts)
	case has("bind") && len(pos) == 2 && !has("remount"):
		return st.bindMount(h, pos[0], pos[1], opts)
	case fstype != "lustre" || len(pos) != 2:
		return fail(32, "mount: only `mount -t lustre SOURCE DIR`, `mount --bind SRC DIR` and `mount -o remount,bind,ro|rw DIR` are simulated")
	}
	src, dir := pos[0], path.Clean(pos[1])
	failed := func(code int, why string) host.Result {
		return fail(code, "mount.lustre: mount %s at %s failed: %s", src, dir, why)
	}
	if !h.isDir(dir) {
		return failed(2, "No such file or directory")
	}
	if h.mountAt(dir) >= 0 {
		return failed(16, "Device or resource busy")
	}
	if !h.Modules["lustre"] {
		return failed(19, "No such device\nAre the lustre modules loaded?\nCheck /etc/modprobe.conf and /proc/filesystems")
	}
	if !h.LNetUp || len(h.nids()) == 0 {
		return failed(100, "Network is down")
	}
	if i := strings.Index(src, ":/"); i >= 0 {
		return st.mountClient(h, src, dir, strings.Join(opts, ","), splitNIDs(src[:i]), src[i+2:], failed)
	}
	return st.mountTarget(h, src, dir, failed)
}

// addMount appends m to the mount table with a fresh mount ID.
func (h *hostState) addMount(m mount) {
	h.MountSeq++
	m.ID = 1000 + h.MountSeq
	h.Mounts = append(h.Mounts, m)
}

// bindMount models `mount --bind SRC DIR` (util-linux 2.27+ also applies
// ro given with it, through a remount it does itself). Both paths must
// exist; mounting on a mount point stacks, as the kernel allows.
func (st *state) bindMount(h *hostState, src, dir string, opts []string) host.Result {
	src, dir = path.Clean(src), path.Clean(dir)
	from, errno := st.resolve(h, src)
	if errno != "" {
		return fail(32, "mount: %s: special device %s does not exist: %s.", dir, src, errno)
	}
	if isDir, exists := st.kind(h, from); !exists || !isDir {
		return fail(32, "mount: %s: special device %s does not exist.", dir, src)
	}
	to, errno := st.resolve(h, dir)
	if errno != "" {
		return fail(32, "mount: %s: mount point does not exist: %s.", dir, errno)
	}
	if isDir, exists := st.kind(h, to); !exists || !isDir {
		return fail(32, "mount: %s: mount point does not exist.", dir)
	}
	m := mount{Source: "/dev/vda1", Target: dir, FSType: "ext4", Options: "rw,relatime", Root: from.p, Bind: true}
	if from.mnt != nil && from.mnt.isClient() {
		m = mount{Source: from.mnt.Source, Target: dir, FSType: "lustre", Options: from.mnt.Options, FSName: from.mnt.FSName, Root: from.p, Bind: true}
	}
	m.ReadOnly = slices.Contains(opts, "ro") || (from.mnt != nil && from.mnt.ReadOnly)
	h.addMount(m)
	return ok("")
}

// remountBind changes the per-mount read-only flag of the topmost mount
// at dir.
func (h *hostState) remountBind(dir string, opts []string) host.Result {
	i := h.mountAt(dir)
	if i < 0 {
		return fail(32, "mount: %s: mount point not mounted or bad option.", path.Clean(dir))
	}
	switch {
	case slices.Contains(opts, "ro"):
		h.Mounts[i].ReadOnly = true
	case slices.Contains(opts, "rw"):
		h.Mounts[i].ReadOnly = false
	}
	return ok("")
}

func (st *state) mountClient(h *hostState, src, dir, opts string, nids []string, fileset string, failed func(int, string) host.Result) host.Result {
	fsname, _, _ := strings.Cut(fileset, "/")
	if !st.findTarget(h, nids, func(m mount) bool { return m.MGS }) {
		return failed(5, "Input/output error\nIs the MGS running?")
	}
	if !st.findTarget(h, nids, func(m mount) bool { return m.Svname == fsname+"-MDT0000" }) {
		return failed(2, "No such file or directory\nIs the MGS specification correct?\nIs the filesystem name correct?\nIf upgrading, is the copied client log valid? (see upgrade docs)")
	}
	m := mount{Source: src, Target: dir, FSType: "lustre", Options: "rw,lazystatfs", FSName: fsname}
	if opts != "" {
		m.Options = "rw," + opts + ",lazystatfs"
	}
	if _, sub, found := strings.Cut(fileset, "/"); found && sub != "" {
		// A fileset mount shows only that subdirectory, which must exist.
		m.Root = path.Clean("/" + sub)
		v, errno := st.view(h, m)
		if errno != "" {
			return failed(5, errno)
		}
		if n := v.disk.node(m.Root); n == nil || !n.Dir {
			return failed(2, "No such file or directory")
		}
	}
	h.addMount(m)
	return ok("")
}

func (st *state) mountTarget(h *hostState, src, dir string, failed func(int, string) host.Result) host.Result {
	if !h.Modules["osd_zfs"] {
		return failed(19, "No such device\nAre the lustre modules loaded?\nCheck /etc/modprobe.conf and /proc/filesystems")
	}
	props, _, commit, exists := st.dataset(h, src)
	if !exists || props["lustre:svname"] == "" {
		return fail(19, "mount.lustre: %s has not been formatted with mkfs.lustre or the backend filesystem type is not supported by this tool", src)
	}
	for _, hn := range sortedKeys(st.Hosts) {
		for _, m := range st.Hosts[hn].Mounts {
			if m.Source == src && hn == h.Name {
				return failed(114, "Operation already in progress\nThe target service is already running. ("+src+")")
			}
		}
	}
	flags, _ := strconv.Atoi(props["lustre:flags"])
	isMGS := flags&lddMGS != 0
	if !st.mgsAnswers(h, props) {
		// After mountWait's 62 s (scaled), as real mount.lustre does.
		return failed(110, "Connection timed out")
	}
	if sv := registeredSvname(props["lustre:svname"]); sv != props["lustre:svname"] || flags&lddUpdate != 0 {
		// The first mount registers the target with the MGS: its label
		// turns from fsname:OST0000 into fsname-OST0000. The virgin bit
		// stays set (lustre:flags 4130 on a registered OST).
		props["lustre:svname"] = sv
		props["lustre:flags"] = strconv.Itoa(flags &^ lddUpdate)
		commit()
	}
	poolName, _, _ := strings.Cut(src, "/")
	opts := "rw,svname=" + props["lustre:svname"]
	if isMGS {
		opts += ",mgs"
	}
	if mgs := props["lustre:mgsnode"]; mgs != "" {
		opts += ",mgsnode=" + mgs
	}
	h.addMount(mount{Source: src, Target: dir, FSType: "lustre", Options: opts + ",osd=osd-zfs",
		Pool: poolName, Svname: props["lustre:svname"], FSName: props["lustre:fsname"], MGS: isMGS})
	return ok("")
}

// lnetErr is lnetctl's YAML error report on stderr, exit 234 (its
// -EINVAL), as Lustre 2.17 prints it: `net add` of an NI that exists
// answered `---\nadd:\n-     net:\n      errno: -17\n      descr: ! "cannot
// add LNet NI"\n...` (shared/reference/lustre-facts.md).
func lnetErr(op, obj string, errno int, descr string) host.Result {
	return fail(lnetctlFailed, "---\n%s:\n-     %s:\n      errno: %d\n      descr: ! %q\n...", op, obj, errno, descr)
}

// lnetctlFailed is the exit code of every lnetctl failure seen on Lustre
// 2.17 (rc -EINVAL).
const lnetctlFailed = 234

// lnetNoFamily is what lnetctl says before the lnet module is loaded: its
// Netlink family does not exist yet.
func lnetNoFamily() host.Result {
	return fail(lnetctlFailed, "Writer error: failed to resolve Netlink family id")
}

// lnetName is how lnetctl names a net: tcp0 is "tcp", tcp1 stays "tcp1".
func lnetName(net string) string {
	if t := strings.TrimRight(net, "0123456789"); net == t+"0" {
		return t
	}
	return net
}

// lnetKey is the key of a net in hostState.LNet: "tcp" and "tcp0" are one
// net, kept as tcp0.
func lnetKey(net string) string {
	if t := strings.TrimRight(net, "0123456789"); t == net {
		return net + "0"
	}
	return net
}

// lnetDefaults brings LNet up as its module parameters say when nothing
// configured it: networks="tcp", tcp0 on the first interface. That is
// `lnetctl lnet configure --all`, and what loading ptlrpc (lustre, osd_zfs,
// ...) does, since its init calls LNetNIInit (Lustre 2.17: after `modprobe
// lnet; modprobe lustre` LNet was up with tcp before any lnetctl).
func (h *hostState) lnetDefaults() {
	h.LNetUp = true
	if len(h.LNet) == 0 {
		if ifaces := sortedKeys(h.Interfaces); len(ifaces) > 0 {
			h.LNet["tcp0"] = ifaces[0]
		}
	}
}

func cmdLnetctl(st *state, h *hostState, c host.Cmd) host.Result {
	args := strings.Join(c.Args, " ")
	switch {
	case args == "lnet configure" || args == "lnet configure --all":
		if msg, loaded := h.loadModule("lnet"); !loaded {
			return host.Result{Stderr: msg, ExitCode: 1}
		}
		if c.Args[len(c.Args)-1] == "--all" {
			h.lnetDefaults()
		}
		h.LNetUp = true
		return ok("")
	case args == "net show":
		if !h.Modules["lnet"] {
			return lnetNoFamily()
		}
		if !h.LNetUp {
			// The kernel answers -ENETDOWN, which libnl words so.
			return lnetErr("show", "net", -100, "Unspecific failure")
		}
		// libyaml's indentation, as lnetctl 2.17 printed it: a sequence
		// item is a dash and five blanks; no interfaces without -v.
		lines := []string{"net:", "-     net type: lo", "      local NI(s):", "      -     nid: 0@lo", "            status: up"}
		for _, net := range sortedKeys(h.LNet) {
			lines = append(lines, "-     net type: "+lnetName(net), "      local NI(s):",
				"      -     nid: "+h.Interfaces[h.LNet[net]]+"@"+lnetName(net), "            status: up")
		}
		return ok(joinLines(lines))
	case len(c.Args) == 6 && c.Args[0] == "net" && c.Args[1] == "add" && c.Args[2] == "--net" && c.Args[4] == "--if":
		net, iface := lnetKey(c.Args[3]), c.Args[5]
		if !h.Modules["lnet"] {
			return lnetNoFamily()
		}
		if !h.LNetUp {
			// lnet_dyn_add_ni: -ESHUTDOWN while LNet is not running.
			return lnetErr("add", "net", -108, "cannot add LNet NI")
		}
		if _, found := h.Interfaces[iface]; !found {
			return lnetErr("add", "net", -19, "cannot add LNet NI")
		}
		if have, found := h.LNet[net]; found {
			if have != iface {
				// Real LNet adds a second NI to the net (multi-rail).
				return fail(1, "lnetctl: a second interface in net %s is not simulated", lnetName(net))
			}
			return lnetErr("add", "net", -17, "cannot add LNet NI")
		}
		h.LNet[net] = iface
		return ok("")
	}
	return fail(1, "lnetctl: command not simulated: %s", args)
}

func cmdLctl(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) == 3 && c.Args[0] == "set_param" && c.Args[1] == "-P" {
		return st.setParamPermanent(h, c.Args[2])
	}
	if len(c.Args) != 1 || c.Args[0] != "list_nids" {
		return fail(1, "lctl: only list_nids and set_param -P are simulated")
	}
	if !h.LNetUp {
		return fail(1, "opening /dev/lnet failed: No such device\nhint: the kernel modules may not be loaded\nIOC_LIBCFS_GET_NI error 19: No such device")
	}
	return ok(joinLines(h.nids()))
}

// setParamPermanent records `lctl set_param -P NAME=VALUE` in the MGS
// configuration, which applies it to every matching target of every
// filesystem (at once here; within seconds on a real one). It only works
// where the MGS runs.
func (st *state) setParamPermanent(h *hostState, arg string) host.Result {
	name, value, found := strings.Cut(arg, "=")
	if !found || name == "" {
		return fail(22, "error: set_param: setting %s: Invalid argument", arg)
	}
	if _, err := path.Match(name, ""); err != nil {
		return fail(22, "error: set_param: %s: bad pattern", name)
	}
	for _, m := range h.Mounts {
		if !m.MGS {
			continue
		}
		d, commit, ok := st.targetDisk(h, m)
		if !ok {
			break
		}
		d.Params = append(d.Params, param{Pattern: name, Value: value})
		commit()
		return host.Result{}
	}
	return fail(1, "error: set_param: setting %s=%s: this command must be run on the MGS", name, value)
}
