package hostsim

import (
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

func ok(stdout string) host.Result { return host.Result{Stdout: stdout} }

func fail(code int, format string, args ...any) host.Result {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	return host.Result{Stderr: msg, ExitCode: code}
}

func (h *hostState) isDir(p string) bool { return h.Dirs[path.Clean(p)] }

// hostID returns the host's ZFS hostid as 8 hex digits, "" when
// /etc/hostid is missing (ZFS then uses hostid 0).
func (h *hostState) hostID() string {
	b, found := h.Files["/etc/hostid"]
	if !found || len(b) != 4 {
		return ""
	}
	return fmt.Sprintf("%08x", binary.LittleEndian.Uint32(b))
}

func cmdHostid(st *state, h *hostState, c host.Cmd) host.Result {
	if id := h.hostID(); id != "" {
		return ok(id + "\n")
	}
	// glibc falls back to a value derived from the host's IP address.
	return ok("007f0101\n")
}

func cmdZgenhostid(st *state, h *hostState, c host.Cmd) host.Result {
	force := len(c.Args) > 0 && c.Args[0] == "-f"
	if _, found := h.Files["/etc/hostid"]; found && !force {
		return fail(1, "zgenhostid: /etc/hostid exists. To force overwrite, use -f")
	}
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(st.nextID()>>8)|1)
	h.Files["/etc/hostid"] = b
	return ok("")
}

// moduleDeps lists what modprobe loads first.
var moduleDeps = map[string][]string{
	"drbd":     {"lru_cache"},
	"zfs":      {"spl"},
	"lnet":     {"libcfs"},
	"ksocklnd": {"lnet"},
	"obdclass": {"lnet"},
	"ptlrpc":   {"obdclass"},
	"lustre":   {"ptlrpc", "ksocklnd"},
	"osd_zfs":  {"zfs", "ptlrpc"},
	"mgs":      {"ptlrpc"},
	"mdt":      {"ptlrpc"},
	"ost":      {"ptlrpc"},
}

const kernelRelease = "6.1.0-18-amd64"

// loadModule loads m and its dependencies, or says what is missing like
// modprobe does. Loading ptlrpc (under lustre, osd_zfs and the server
// modules) starts LNet: with LNet not configured yet, from the module
// defaults (lnetDefaults; Lustre 2.17 on a real kernel).
func (h *hostState) loadModule(m string) (string, bool) {
	avail := false
	for _, a := range h.Available {
		avail = avail || a == m
	}
	if !avail {
		return fmt.Sprintf("modprobe: FATAL: Module %s not found in directory /lib/modules/%s\n", m, kernelRelease), false
	}
	for _, d := range moduleDeps[m] {
		if msg, loaded := h.loadModule(d); !loaded {
			return msg, false
		}
	}
	if m == "zfs" && !h.Modules[m] {
		h.zfsParamDefaults()
	}
	h.Modules[m] = true
	if m == "ptlrpc" && !h.LNetUp {
		h.lnetDefaults()
	}
	return "", true
}

func cmdModprobe(st *state, h *hostState, c host.Cmd) host.Result {
	for _, m := range plainArgs(c.Args) {
		if msg, loaded := h.loadModule(m); !loaded {
			return host.Result{Stderr: msg, ExitCode: 1}
		}
	}
	return ok("")
}

// usedBy lists the loaded modules and users that hold m.
func (h *hostState) usedBy(m string) []string {
	var users []string
	for _, other := range sortedKeys(h.Modules) {
		for _, d := range moduleDeps[other] {
			if d == m {
				users = append(users, other)
			}
		}
	}
	return users
}

func (h *hostState) moduleBusy(m string) bool {
	if len(h.usedBy(m)) > 0 {
		return true
	}
	switch m {
	case "drbd":
		return len(h.DRBD) > 0
	case "zfs":
		return len(h.Imported) > 0
	case "lustre", "osd_zfs", "lnet":
		return len(h.Mounts) > 0 || (m == "lnet" && h.LNetUp)
	}
	return false
}

func cmdLsmod(st *state, h *hostState, c host.Cmd) host.Result {
	lines := []string{"Module                  Size  Used by"}
	for _, m := range sortedKeys(h.Modules) {
		users := h.usedBy(m)
		lines = append(lines, fmt.Sprintf("%-19s %8d  %d %s", m, 65536, len(users), strings.Join(users, ",")))
	}
	return ok(joinLines(lines))
}

func cmdRmmod(st *state, h *hostState, c host.Cmd) host.Result {
	for _, m := range plainArgs(c.Args) {
		if !h.Modules[m] {
			return fail(1, "rmmod: ERROR: Module %s is not currently loaded", m)
		}
		if h.moduleBusy(m) {
			return fail(1, "rmmod: ERROR: Module %s is in use", m)
		}
		delete(h.Modules, m)
	}
	return ok("")
}

func cmdDmesg(st *state, h *hostState, c host.Cmd) host.Result { return ok(joinLines(h.Log)) }

// signature is one row wipefs prints.
type signature struct {
	Offset string
	Type   string
	UUID   string
	Label  string
	Usage  string
}

// signatures returns what libblkid finds on a device path: the data area's
// filesystem, plus DRBD metadata at the end of a backing disk. A DRBD
// device shows its data area only. found is false when the path is no block
// device.
func (st *state) signatures(h *hostState, p string) (sigs []signature, found bool) {
	var d data
	var md *drbdMeta
	var size int64
	if dk, isDisk := h.Disks[p]; isDisk {
		d, md, size = dk.Data, dk.MD, dk.Size
		if dk.Parted {
			// The rows wipefs printed for a disk ZFS had partitioned
			// (256 MiB, make e2e-vm): both GPT headers and the
			// protective MBR.
			return []signature{{"0x200", "gpt", "", "", "ptable"}, {fmt.Sprintf("0x%x", size-512), "gpt", "", "", "ptable"}, {"0x1fe", "PMBR", "", "", "ptable"}}, true
		}
		if dk.Table != nil {
			// An MBR: the partitions hold the data (AddPartition).
			return []signature{{"0x1fe", dk.Table.Type, "", "", "ptable"}}, true
		}
	} else if dk, _, isPart := h.partition(p); isPart {
		d = dk.Data
	} else if r := h.drbdByDevice(p); r != nil {
		d = h.Disks[r.Disk].Data
	} else {
		return nil, false
	}
	switch d.Sig {
	case SigExt4:
		sigs = append(sigs, signature{"0x438", "ext4", d.UUID, "", "filesystem"})
	case SigXFS:
		sigs = append(sigs, signature{"0x0", "xfs", d.UUID, "", "filesystem"})
	case SigZFSMember:
		name := ""
		if d.Pool != nil {
			name = d.Pool.Name
		}
		// ZFS writes four labels; libblkid reports uberblocks at the front
		// labels. Two rows are enough to look like the real listing.
		for _, off := range []string{"0x3f000", "0x3e000"} {
			sigs = append(sigs, signature{off, "zfs_member", fmt.Sprint(d.Pool.guid()), name, "filesystem"})
		}
	}
	if md != nil {
		// libblkid finds the v08 magic 60 bytes into the last 4 KiB
		// (wipefs said 0xffff03c on a 256 MiB disk) and calls it raid.
		sigs = append(sigs, signature{fmt.Sprintf("0x%x", size-4096+0x3c), "drbd", fmt.Sprintf("%016x", md.UUID), "", "raid"})
	}
	return sigs, true
}

// probeFails returns the error text libblkid's tools print for a device
// they cannot open: a DRBD Secondary refuses every open (8.4: EMEDIUMTYPE),
// so wipefs and blkid fail on it rather than report it blank (make
// e2e-vm). DRBD 9's auto-promote is not modelled.
func (st *state) probeFails(h *hostState, p string) string {
	if r := h.drbdByDevice(p); r != nil && r.Role != "Primary" {
		return "Wrong medium type"
	}
	return ""
}

func (p *pool) guid() uint64 {
	if p == nil {
		return 0
	}
	return p.GUID
}

func cmdWipefs(st *state, h *hostState, c host.Cmd) host.Result {
	noAct := false
	var devs []string
	for _, a := range c.Args {
		switch {
		case a == "--no-act" || a == "-n":
			noAct = true
		case strings.HasPrefix(a, "-"):
			return fail(1, "wipefs: option %s not simulated", a)
		default:
			devs = append(devs, a)
		}
	}
	if !noAct || len(devs) != 1 {
		// Erasing is never something kube-lustre does.
		return fail(1, "wipefs: only `wipefs --no-act DEVICE` is simulated")
	}
	if msg := st.probeFails(h, devs[0]); msg != "" {
		return fail(1, "wipefs: error: %s: probing initialization failed: %s", devs[0], msg)
	}
	sigs, found := st.signatures(h, devs[0])
	if !found {
		return fail(1, "wipefs: error: %s: probing initialization failed: No such file or directory", devs[0])
	}
	if len(sigs) == 0 {
		return ok("")
	}
	lines := []string{"DEVICE OFFSET     TYPE       UUID                                 LABEL"}
	for _, s := range sigs {
		lines = append(lines, fmt.Sprintf("%-6s %-10s %-10s %-36s %s", path.Base(devs[0]), s.Offset, s.Type, s.UUID, s.Label))
	}
	return ok(joinLines(lines))
}

// cmdBlkid models `blkid -p DEV`: exit 2 with no output when nothing is
// found, but also exit 2 (with a message) when the device does not exist,
// and exit 8 when more than one signature makes the result ambivalent. A
// partition adds its place in the table (partEntryFields) to what it
// holds, and answers those fields alone, exit 0, when it holds nothing.
func cmdBlkid(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) != 2 || c.Args[0] != "-p" {
		return fail(4, "blkid: only `blkid -p DEVICE` is simulated")
	}
	given := c.Args[1]
	dev := h.dev(given)
	if msg := st.probeFails(h, dev); msg != "" {
		return fail(2, "blkid: error: %s: %s", given, msg)
	}
	sigs, found := st.signatures(h, dev)
	part := h.partEntryFields(dev)
	switch {
	case !found:
		return fail(2, "blkid: error: %s: No such file or directory", given)
	case len(sigs) == 0 && len(part) > 0:
		return ok(fmt.Sprintf("%s: %s\n", given, strings.Join(part, " ")))
	case len(sigs) == 0:
		return host.Result{ExitCode: 2}
	case sigs[0].Usage == "ptable":
		// A partition table is one answer, not an ambivalent one.
		ptuuid := "0721cbbd-29d4-8c40-96f1-30cf7ebb98d3"
		if dk := h.Disks[dev]; dk != nil && dk.Table != nil {
			ptuuid = dk.Table.UUID
		}
		return ok(fmt.Sprintf("%s: PTUUID=%q PTTYPE=%q\n", given, ptuuid, sigs[0].Type))
	case len(sigs) > 1 && sigs[0].Type != sigs[len(sigs)-1].Type:
		return fail(8, "%s: ambivalent result (probably more filesystems on the device, use wipefs(8) to see more details)", given)
	}
	s := sigs[0]
	kv := []string{}
	if s.Label != "" {
		kv = append(kv, fmt.Sprintf("LABEL=%q", s.Label))
	}
	kv = append(kv, fmt.Sprintf("UUID=%q", s.UUID))
	if s.Type == SigDRBD {
		kv = append(kv, fmt.Sprintf("VERSION=%q", st.mdFormat()))
	}
	kv = append(kv, fmt.Sprintf("TYPE=%q", s.Type), fmt.Sprintf("USAGE=%q", s.Usage))
	kv = append(kv, part...)
	return ok(fmt.Sprintf("%s: %s\n", given, strings.Join(kv, " ")))
}

// mountinfo renders /proc/self/mountinfo (proc(5)): mount ID, parent ID,
// major:minor, the root of the mount within its filesystem, the mount
// point, per-mount options, "-", type, source, superblock options. Every
// mount of one filesystem shares its device number.
func (h *hostState) mountinfo() string {
	lines := []string{"21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw", "22 21 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw"}
	devs := map[string]int{"/dev/vda1": 0}
	for i, m := range h.Mounts {
		id := m.ID
		if id == 0 {
			id = 900 + i
		}
		dev := "254:1"
		if m.Source != "/dev/vda1" {
			if _, seen := devs[m.Source]; !seen {
				devs[m.Source] = 40 + len(devs)
			}
			dev = fmt.Sprintf("0:%d", devs[m.Source])
		}
		root := m.Root
		if root == "" {
			root = "/"
		}
		perMount := "rw,relatime"
		if m.ReadOnly || strings.HasPrefix(m.Options, "ro") {
			perMount = "ro,relatime"
		}
		lines = append(lines, fmt.Sprintf("%d 21 %s %s %s %s - %s %s %s", id, dev, mangle(root), mangle(m.Target), perMount, m.FSType, mangle(m.Source), m.Options))
	}
	return joinLines(lines)
}

// mangle escapes as the kernel does in mountinfo (mangle() in
// fs/proc_namespace.c): a blank, tab, newline or backslash in a path or
// source becomes its octal code, so the fields stay space-separated.
func mangle(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mountAt returns the index of the topmost mount on target, -1 if none.
func (h *hostState) mountAt(target string) int {
	for i := len(h.Mounts) - 1; i >= 0; i-- {
		if h.Mounts[i].Target == path.Clean(target) {
			return i
		}
	}
	return -1
}

// cmdUmount unmounts like umount(8): "target is busy" while files are open
// unless -l (lazy) or -f is given; kube-lustre never passes those, and the
// log lets tests check that.
func cmdUmount(st *state, h *hostState, c host.Cmd) host.Result {
	lazy := false
	for _, a := range c.Args {
		lazy = lazy || a == "-l" || a == "-f"
	}
	a := plainArgs(c.Args)
	if len(a) != 1 {
		return fail(1, "umount: bad usage")
	}
	i := h.mountAt(a[0])
	if i < 0 {
		return fail(32, "umount: %s: not mounted.", a[0])
	}
	if h.Mounts[i].Busy && !lazy {
		return fail(32, "umount: %s: target is busy.", a[0])
	}
	h.Mounts = append(h.Mounts[:i:i], h.Mounts[i+1:]...)
	return ok("")
}

// sortedMounts is used by summaries.
func sortedMounts(ms []mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s on %s type %s", m.Source, m.Target, m.FSType))
	}
	sort.Strings(out)
	return out
}
