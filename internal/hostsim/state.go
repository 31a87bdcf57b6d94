package hostsim

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// state is everything the world persists between commands.
type state struct {
	DRBDVersion string                `json:"drbdVersion"`
	SyncPolls   int                   `json:"syncPolls"`
	Hosts       map[string]*hostState `json:"hosts"`
	Cut         map[string]bool       `json:"cut"`
	Faults      []*fault              `json:"faults"`
	NextID      uint64                `json:"nextID"`
	// TimeScale multiplies every real duration hostsim models (timing.go):
	// 1 is real time, 0 no waits at all. New worlds use DefaultTimeScale.
	TimeScale float64 `json:"timeScale"`

	// dir (the world's, for handler lookup) and events (kernel-initiated
	// entries for the command log) live only while the lock is held.
	dir    string
	events []LogEntry
	// unchanged: the command was read-only (World.keep).
	unchanged bool
	// caller is who runs the command while setpriv runs it; nil: root
	// (users.go).
	caller *identity
}

func newState() *state {
	st := &state{DRBDVersion: DRBD84, TimeScale: DefaultTimeScale}
	st.fill()
	return st
}

// fill replaces nil maps after decoding so the command code never has to
// check for them.
func (st *state) fill() {
	if st.Hosts == nil {
		st.Hosts = map[string]*hostState{}
	}
	if st.Cut == nil {
		st.Cut = map[string]bool{}
	}
	for _, h := range st.Hosts {
		h.fill()
	}
}

// nextID returns a fresh, deterministic identifier (pool GUIDs, DRBD UUIDs).
func (st *state) nextID() uint64 {
	st.NextID++
	hf := fnv.New64a()
	fmt.Fprintf(hf, "kube-lustre-%d", st.NextID)
	// Keep clear of the reserved DRBD UUIDs (0 and 4 = just created).
	return hf.Sum64() | 0x100
}

func (st *state) newUUID() string {
	a, b := st.nextID(), st.nextID()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a), uint16(a>>32), uint16(a>>48), uint16(b), b>>16&0xffffffffffff)
}

// hostState is one node. Disks, Files and Dirs survive a crash; the rest is
// volatile kernel state.
type hostState struct {
	Name       string            `json:"name"`
	Down       bool              `json:"down"`
	Interfaces map[string]string `json:"interfaces"`
	Available  []string          `json:"available"`
	Disks      map[string]*disk  `json:"disks"`
	// Links are udev's persistent names (/dev/disk/by-id/...) of the
	// disks, each to its kernel device (udevRoot).
	Links map[string]string `json:"links,omitempty"`
	Files map[string][]byte `json:"files"`
	Dirs  map[string]bool   `json:"dirs"`
	Log   []string          `json:"kernelLog"`
	// Packages maps installed package -> version; Repo maps what the
	// host's configured repositories offer: package -> versions, oldest
	// first. Both survive a crash.
	Packages map[string]string   `json:"packages"`
	Repo     map[string][]string `json:"repo"`
	// Units maps a systemd unit to its UnitFileState (enabled, disabled,
	// masked); a unit not listed is not installed. Survives a crash.
	Units map[string]string `json:"units,omitempty"`

	Modules  map[string]bool     `json:"modules"`
	DRBD     map[string]*drbdRun `json:"drbd"`
	Imported map[string]string   `json:"imported"` // pool -> device
	Mounts   []mount             `json:"mounts"`
	LNet     map[string]string   `json:"lnet"` // net (tcp0) -> interface; nil = unconfigured
	LNetUp   bool                `json:"lnetUp"`
	// HandlerSockets is the directory where this host's DRBD handler
	// program gets its answers (the node agents' fence sockets, one per
	// release, internal/fencesock), for handlers no process registered a
	// Go function for. Processes die with the host, so a crash clears it.
	HandlerSockets string `json:"handlerSockets,omitempty"`
	// MountSeq numbers mounts for /proc/self/mountinfo.
	MountSeq int `json:"mountSeq,omitempty"`
}

func newHost(name string) *hostState {
	h := &hostState{Name: name}
	h.fill()
	for _, d := range []string{"/", "/etc", "/etc/drbd.d", "/mnt", "/dev", "/proc", "/tmp", "/var", "/var/lib"} {
		h.Dirs[d] = true
	}
	return h
}

func (h *hostState) fill() {
	if h.Interfaces == nil {
		h.Interfaces = map[string]string{}
	}
	if h.Disks == nil {
		h.Disks = map[string]*disk{}
	}
	if h.Links == nil {
		h.Links = map[string]string{}
	}
	if h.Files == nil {
		h.Files = map[string][]byte{}
	}
	if h.Dirs == nil {
		h.Dirs = map[string]bool{}
	}
	if h.Modules == nil {
		h.Modules = map[string]bool{}
	}
	if h.DRBD == nil {
		h.DRBD = map[string]*drbdRun{}
	}
	if h.Imported == nil {
		h.Imported = map[string]string{}
	}
	if h.LNet == nil {
		h.LNet = map[string]string{}
	}
	if h.Packages == nil {
		h.Packages = map[string]string{}
	}
	if h.Repo == nil {
		h.Repo = map[string][]string{}
	}
}

// crash drops every volatile state. Pools stay marked active on disk, which
// is what makes the next import of them an unclean one.
func (h *hostState) crash() {
	for _, r := range h.DRBD {
		if d := h.Disks[r.Disk]; r.Role == "Primary" && d != nil && d.MD != nil {
			d.MD.Unclean = true
		}
	}
	h.Down = true
	h.Modules = map[string]bool{}
	h.DRBD = map[string]*drbdRun{}
	h.Imported = map[string]string{}
	h.Mounts = nil
	h.LNet = map[string]string{}
	h.LNetUp = false
	h.HandlerSockets = ""
}

func (h *hostState) kernelLog(format string, args ...any) {
	h.Log = append(h.Log, fmt.Sprintf(format, args...))
}

// disk is a block device: its data area and, with internal metadata, the
// DRBD metadata at its end.
type disk struct {
	Size int64     `json:"size"`
	Data data      `json:"data"`
	MD   *drbdMeta `json:"md,omitempty"`
	// Parted: zpool create was given the whole disk, so it wrote a GPT
	// and Data lives in partition 1 (partPath); the disk itself shows
	// only the partition table (seen on real kernels, make e2e-vm).
	Parted bool `json:"parted,omitempty"`
	// Table is the DOS partition table AddPartition wrote on the disk;
	// Part makes the device a partition AddPartition made on another
	// disk of the host (a block device of its own: Data and MD are its
	// content). See blockdev.go.
	Table *ptable    `json:"table,omitempty"`
	Part  *partEntry `json:"part,omitempty"`
}

// data is the content of a data area as far as the tools can see it.
type data struct {
	Sig  string `json:"sig,omitempty"`
	UUID string `json:"uuid,omitempty"`
	Pool *pool  `json:"pool,omitempty"`
}

// clone deep-copies data, for replication between DRBD peers.
func (d data) clone() data {
	out := d
	if d.Pool != nil {
		p := *d.Pool
		p.Props = copyProps(d.Pool.Props)
		p.Datasets = map[string]map[string]string{}
		for k, v := range d.Pool.Datasets {
			p.Datasets[k] = copyProps(v)
		}
		p.Lustre = nil
		for k, v := range d.Pool.Lustre {
			if p.Lustre == nil {
				p.Lustre = map[string]*lustreDisk{}
			}
			p.Lustre[k] = v.clone()
		}
		out.Pool = &p
	}
	return out
}

func copyProps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// pool is a ZFS pool as recorded in its labels.
type pool struct {
	Name      string                       `json:"name"`
	GUID      uint64                       `json:"guid"`
	HostID    string                       `json:"hostid"`
	HostName  string                       `json:"hostname"`
	Active    bool                         `json:"active"`
	Multihost bool                         `json:"multihost"`
	Size      int64                        `json:"size,omitempty"` // of its device, for the space accounting
	Props     map[string]string            `json:"props"`
	Datasets  map[string]map[string]string `json:"datasets"`
	// Lustre is what Lustre targets keep on their datasets beyond the
	// properties: the namespace and quotas (MDT0), parameters (MGS).
	Lustre map[string]*lustreDisk `json:"lustre,omitempty"`
}

// drbdMeta is DRBD metadata on a backing disk. UUID is the current data
// generation (4 = just created, as DRBD's UUID_JUST_CREATED); Base is the
// generation both peers last agreed on, so a side whose UUID moved away from
// Base has written since the last connection.
type drbdMeta struct {
	UUID uint64 `json:"uuid"`
	Base uint64 `json:"base"`
	Disk string `json:"disk"`
	// Unclean: the host crashed while the resource was Primary, so the
	// activity log was never applied; `drbdadm up` applies it.
	Unclean bool `json:"unclean,omitempty"`
}

const uuidJustCreated = 4

// drbdRun is an up resource on one host.
type drbdRun struct {
	Name       string `json:"name"`
	Minor      int    `json:"minor"`
	Device     string `json:"device"`
	Disk       string `json:"disk"`
	Peer       string `json:"peer"`
	Role       string `json:"role"`
	Connected  bool   `json:"connected"`
	StandAlone bool   `json:"standalone"`
	SyncLeft   int    `json:"syncLeft"`
	SyncSource bool   `json:"syncSource"`
	// Fencing is the policy loaded at up/adjust; Frozen is I/O suspended
	// after a failed fence-peer; PeerDisk is what a successful fence-peer
	// made of the unreachable peer's disk (DUnknown otherwise).
	Fencing  string `json:"fencing,omitempty"`
	Frozen   bool   `json:"frozen,omitempty"`
	PeerDisk string `json:"peerDisk,omitempty"`
}

// mount is one mount of a host, one line of /proc/self/mountinfo.
type mount struct {
	Source  string `json:"source"`
	Target  string `json:"target"`
	FSType  string `json:"fstype"`
	Options string `json:"options"`
	Busy    bool   `json:"busy"`
	// Pool and Svname are set for Lustre server targets, FSName for both.
	Pool   string `json:"pool,omitempty"`
	Svname string `json:"svname,omitempty"`
	FSName string `json:"fsname,omitempty"`
	MGS    bool   `json:"mgs,omitempty"`
	// Root is the directory of the mounted filesystem that appears at
	// Target ("" = its root), as in /proc/self/mountinfo: a client mount
	// of a fileset or a bind mount shows only that subtree.
	Root string `json:"root,omitempty"`
	// Bind marks a bind mount; ReadOnly a mount made read-only (per mount,
	// as `mount -o remount,bind,ro` does, the superblock stays rw).
	Bind     bool `json:"bind,omitempty"`
	ReadOnly bool `json:"readOnly,omitempty"`
	// ID is the mount ID /proc/self/mountinfo shows.
	ID int `json:"id,omitempty"`
}

// Fault kinds.
const (
	faultFail        = "fail"
	faultHang        = "hang"
	faultDelay       = "delay"
	faultCrashBefore = "crash-before"
	faultCrashAfter  = "crash-after"
)

// Match selects commands for fault injection: every command whose argv
// (name first) starts with Args; the first Skip of them pass untouched.
type Match struct {
	Args []string `json:"args"`
	Skip int      `json:"skip"`
}

type fault struct {
	Host   string      `json:"host"`
	Match  Match       `json:"match"`
	Kind   string      `json:"kind"`
	Result host.Result `json:"result"`
	Always bool        `json:"always"`
	Delay  int64       `json:"delay,omitempty"` // nanoseconds, faultDelay
	Seen   int         `json:"seen"`
}

// delayFor returns the delay of the first pending delay fault matching
// this command, without retiring it (takeFault does, once it waited).
func (st *state) delayFor(hostName string, argv []string) time.Duration {
	for _, f := range st.Faults {
		if f.Kind == faultDelay && f.Host == hostName && hasPrefix(argv, f.Match.Args) {
			return time.Duration(f.Delay)
		}
	}
	return 0
}

// takeFault returns the fault that fires for this command, if any, and
// retires one-shot faults.
func (st *state) takeFault(hostName string, argv []string) *fault {
	for i, f := range st.Faults {
		if f.Host != hostName || !hasPrefix(argv, f.Match.Args) {
			continue
		}
		f.Seen++
		if f.Seen <= f.Match.Skip {
			continue
		}
		if !f.Always {
			st.Faults = append(st.Faults[:i:i], st.Faults[i+1:]...)
		}
		return f
	}
	return nil
}
