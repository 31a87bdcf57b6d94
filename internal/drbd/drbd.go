// Package drbd holds the idempotent DRBD steps: write the resource file,
// give a proven-blank disk metadata, bring the resource up, run the initial
// sync of a brand-new pair, promote and demote. Every step observes first
// and acts only on the difference; nothing here ever takes a resource down
// or forces a promotion of a resource that holds data.
package drbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Node is one side of a resource.
type Node struct {
	// Name is the host name as the node knows itself (drbdadm matches the
	// `on NAME` section against uname -n).
	Name string
	// Disk is the backing block device, e.g. /dev/sdb.
	Disk string
	// Address is the replication IP address of the node.
	Address string
}

// Resource is one DRBD resource between two nodes, seen from Local.
type Resource struct {
	Name     string
	Minor    int
	Port     int
	Protocol string // A, B or C; empty means C
	Local    Node
	Peer     Node
	// Fence renders fencing resource-and-stonith with kube-lustre's
	// handlers (FencePeerHandler, UnfenceHandler). Only where those
	// handlers answer: without them DRBD freezes a Primary that loses its
	// peer and refuses to promote a disconnected Secondary, so failover
	// stops working. Both nodes of a pair must agree on it.
	Fence bool
	// Timing is how fast DRBD notices a lost peer (failover.drbd).
	Timing Timing
}

// Timing is the net section's peer-loss timing; zero fields keep DRBD's
// defaults (ping-int 10 s, ping-timeout 0.5 s, connect-int 10 s). DRBD
// notices a dead peer after up to ping-int + ping-timeout: until then a
// takeover's promote is refused.
type Timing struct {
	PingIntSeconds    int // ping-int
	PingTimeoutTenths int // ping-timeout, in tenths of a second
	ConnectIntSeconds int // connect-int
}

// netLines renders the set options of the net section.
func (t Timing) netLines() string {
	var b strings.Builder
	for _, o := range []struct {
		name string
		v    int
	}{{"ping-int", t.PingIntSeconds}, {"ping-timeout", t.PingTimeoutTenths}, {"connect-int", t.ConnectIntSeconds}} {
		if o.v > 0 {
			fmt.Fprintf(&b, "    %s %d;\n", o.name, o.v)
		}
	}
	return b.String()
}

// validate applies drbd.conf(5)'s ranges.
func (t Timing) validate(name string) error {
	var errs []error
	for _, o := range []struct {
		name    string
		v, max  int
		explain string
	}{{"ping-int", t.PingIntSeconds, 120, "seconds"}, {"ping-timeout", t.PingTimeoutTenths, 300, "tenths of a second"}, {"connect-int", t.ConnectIntSeconds, 120, "seconds"}} {
		if o.v < 0 || o.v > o.max {
			errs = append(errs, fmt.Errorf("resource %s: %s %d out of range 1..%d (%s)", name, o.name, o.v, o.max, o.explain))
		}
	}
	return errors.Join(errs...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Validate rejects parameters that would render a broken or dangerous
// resource file.
func (r Resource) Validate() error {
	var errs []error
	if !nameRE.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("resource name %q: want [A-Za-z0-9_.-], at most 63 characters", r.Name))
	}
	if r.Minor < 0 || r.Minor > 1048575 {
		errs = append(errs, fmt.Errorf("resource %s: minor %d out of range", r.Name, r.Minor))
	}
	if r.Port < 1 || r.Port > 65535 {
		errs = append(errs, fmt.Errorf("resource %s: port %d out of range", r.Name, r.Port))
	}
	if err := r.Timing.validate(r.Name); err != nil {
		errs = append(errs, err)
	}
	if p := r.protocol(); p != "A" && p != "B" && p != "C" {
		errs = append(errs, fmt.Errorf("resource %s: protocol %q is not A, B or C", r.Name, r.Protocol))
	}
	for _, n := range []Node{r.Local, r.Peer} {
		if !nameRE.MatchString(n.Name) {
			errs = append(errs, fmt.Errorf("resource %s: node name %q is not valid", r.Name, n.Name))
		}
		if !strings.HasPrefix(n.Disk, "/dev/") || strings.ContainsAny(n.Disk, " \t;{}\"#") {
			errs = append(errs, fmt.Errorf("resource %s: disk %q of %s must be a /dev path", r.Name, n.Disk, n.Name))
		}
		if ip := net.ParseIP(n.Address); ip == nil || ip.To4() == nil {
			errs = append(errs, fmt.Errorf("resource %s: address %q of %s must be an IPv4 address", r.Name, n.Address, n.Name))
		}
	}
	if r.Local.Name == r.Peer.Name {
		errs = append(errs, fmt.Errorf("resource %s: local and peer are the same node %q", r.Name, r.Local.Name))
	}
	return errors.Join(errs...)
}

func (r Resource) protocol() string {
	if r.Protocol == "" {
		return "C"
	}
	return r.Protocol
}

// Device is the DRBD block device, /dev/drbdMINOR.
func (r Resource) Device() string { return fmt.Sprintf("/dev/drbd%d", r.Minor) }

// ConfPath is where the resource file lives on the host.
func (r Resource) ConfPath() string { return "/etc/drbd.d/" + r.Name + ".res" }

// HostBinDir is the host directory the DRBD agent copies its own binary
// into: the kernel runs handlers on the host (through drbdadm), not in the
// agent's container, so the handler must be a host path.
const HostBinDir = "/var/lib/kube-lustre/bin"

// The handlers DRBD runs: fence-peer when a Primary loses its peer or a
// disconnected Secondary is about to be promoted (the exit code says
// whether the peer is now considered outdated), after-resync-target on the
// node whose copy was just brought up to date.
const (
	FencePeerHandler = HostBinDir + "/drbd fence-peer"
	UnfenceHandler   = HostBinDir + "/drbd unfence"
)

// The file uses DRBD 8.4 syntax, which drbd-utils 9 also accepts for both
// kernels. fencing sits in the disk section (8.4's place; drbd-utils 9
// moves it to net itself). With Fence, resource-and-stonith rather than
// resource-only: a Primary that loses its peer freezes I/O until
// fence-peer succeeds, so no write is acknowledged that the peer lacks
// unless the Lease records the peer's copy as outdated. Split brain is
// never resolved automatically:
// every after-sb policy is disconnect, and the operator decides which
// side's writes survive.
//
// Plain formatting, not text/template: a template's reflective method calls
// make the linker keep every method of every type, which grew each binary
// that writes this file by 18 MB.
const resHeader = `# Written by kube-lustre; changes are overwritten.
resource %s {
  net {
    protocol %s;
%s    after-sb-0pri disconnect;
    after-sb-1pri disconnect;
    after-sb-2pri disconnect;
  }
  disk {
    fencing %s;
  }
%s`

const resHandlers = `  handlers {
    fence-peer "` + FencePeerHandler + `";
    after-resync-target "` + UnfenceHandler + `";
  }
`

const resNode = `  on %s {
    device /dev/drbd%d minor %d;
    disk %s;
    address %s:%d;
    meta-disk internal;
  }
`

// Render returns the resource file. Nodes are listed in name order so that
// both nodes render byte-identical files.
func Render(r Resource) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	nodes := []Node{r.Local, r.Peer}
	if nodes[0].Name > nodes[1].Name {
		nodes[0], nodes[1] = nodes[1], nodes[0]
	}
	var b bytes.Buffer
	fencing, handlers := "resource-only", ""
	if r.Fence {
		fencing, handlers = "resource-and-stonith", resHandlers
	}
	fmt.Fprintf(&b, resHeader, r.Name, r.protocol(), r.Timing.netLines(), fencing, handlers)
	for _, n := range nodes {
		fmt.Fprintf(&b, resNode, n.Name, r.Minor, r.Minor, n.Disk, n.Address, r.Port)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// writeConfig writes the resource file atomically when its content
// differs; it reports whether it wrote and returns the file it replaced
// (nil when there was none).
func writeConfig(ctx context.Context, run host.Runner, r Resource) (written bool, old []byte, err error) {
	want, err := Render(r)
	if err != nil {
		return false, nil, err
	}
	exists, err := host.Exists(ctx, run, r.ConfPath())
	if err != nil {
		return false, nil, err
	}
	if exists {
		if old, err = host.ReadFile(ctx, run, r.ConfPath()); err != nil {
			return false, nil, err
		}
		if bytes.Equal(old, want) {
			return false, old, nil
		}
	}
	return true, old, host.WriteFileAtomic(ctx, run, r.ConfPath(), want, 0o644)
}

// onlyFencingChanged reports whether old is r's file with the other
// fencing setting: the one change Ensure applies to a running resource.
func onlyFencingChanged(old []byte, r Resource) bool {
	r.Fence = !r.Fence
	other, err := Render(r)
	return err == nil && bytes.Equal(old, other)
}

// How a resource file differs from r's beyond this node's own settings.
const (
	otherChange  = iota // this node's side or the shared settings changed too
	peerOnly            // only the peer's section: its name, address or disk
	peerDiskOnly        // only the peer's disk path
)

// peerChange compares old with r's file: both with the peer's section
// taken out, then the peer's sections without their disk line.
func peerChange(old []byte, r Resource) int {
	now, err := Render(r)
	if err != nil {
		return otherChange
	}
	oldOwn, oldPeer := splitPeer(old, r.Local.Name)
	nowOwn, nowPeer := splitPeer(now, r.Local.Name)
	switch {
	case oldOwn != nowOwn:
		return otherChange
	case withoutDisk(oldPeer) == withoutDisk(nowPeer):
		return peerDiskOnly
	}
	return peerOnly
}

// splitPeer separates a rendered resource file into everything but the
// other node's `on NAME { ... }` section, and that section.
func splitPeer(file []byte, local string) (own, peer string) {
	var o, p strings.Builder
	in := false
	for _, line := range strings.SplitAfter(string(file), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "on" && f[2] == "{" && f[1] != local {
			in = true
		}
		if in {
			p.WriteString(line)
		} else {
			o.WriteString(line)
		}
		if in && strings.TrimSpace(line) == "}" {
			in = false
		}
	}
	return o.String(), p.String()
}

func withoutDisk(section string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(section, "\n") {
		if f := strings.Fields(line); len(f) < 1 || f[0] != "disk" {
			b.WriteString(line)
		}
	}
	return b.String()
}

// State is a resource as the kernel reports it.
type State struct {
	Up       bool
	Role     string // Primary, Secondary
	CState   string // Connected, WFConnection (8.4), Connecting (9), StandAlone, SyncSource...
	Disk     string // UpToDate, Inconsistent, Outdated, Consistent, Diskless...
	PeerDisk string // as Disk, or DUnknown
}

// UpToDate reports whether the local disk holds current data.
func (s State) UpToDate() bool { return s.Up && s.Disk == "UpToDate" }

// InSync reports a resource whose two copies are connected and current:
// neither side can hold a write the other lacks.
func (s State) InSync() bool {
	return s.Up && s.CState == "Connected" && s.Disk == "UpToDate" && s.PeerDisk == "UpToDate"
}

// KeepsPeerSecondary reports a Primary whose peer is connected: DRBD then
// refuses to promote the peer (two Primaries are never allowed), whatever
// the Lease says.
func (s State) KeepsPeerSecondary() bool {
	return s.Up && s.Role == "Primary" && (s.CState == "Connected" || s.CState == "SyncSource")
}

// awaitsPeer reports a resource with no link to its peer up or being set
// up: re-connecting it (drbdadm adjust of the net section) drops nothing.
func (s State) awaitsPeer() bool {
	switch s.CState {
	case "WFConnection", "StandAlone", "Connecting", "Unconnected":
		return s.Up
	}
	return false
}

// PeerConnected reports a link to the peer over which DRBD has compared
// the two copies: connected, or resyncing the older one.
func (s State) PeerConnected() bool {
	if !s.Up {
		return false
	}
	for _, p := range []string{"Connected", "StartingSync", "WFBitMap", "WFSyncUUID", "SyncSource", "SyncTarget", "PausedSync", "Verify", "Ahead", "Behind"} {
		if strings.HasPrefix(s.CState, p) {
			return true
		}
	}
	return false
}

// linkDown are the connection states (8.4 and 9) with no link to the peer.
var linkDown = map[string]bool{
	"StandAlone": true, "Disconnecting": true, "Unconnected": true, "Timeout": true, "BrokenPipe": true,
	"NetworkFailure": true, "ProtocolError": true, "TearDown": true, "WFConnection": true, "Connecting": true,
}

// LostPrimaryPeer reports a current Secondary with no link to its peer: if
// the peer was the Primary, it may have crashed, and this node is the one
// that could take over.
func (s State) LostPrimaryPeer() bool {
	return s.Up && s.Role == "Secondary" && s.Disk == "UpToDate" && linkDown[s.CState]
}

func (s State) String() string {
	if !s.Up {
		return "down"
	}
	return fmt.Sprintf("role %s, %s, disk %s/%s", s.Role, s.CState, s.Disk, s.PeerDisk)
}

// isDown recognises the one answer that proves a resource is not up:
// exit 10 with "No such resource" (DRBD 9) or "Device minor not allocated"
// (8.4). Any other failure leaves the state unknown.
func isDown(err error) bool {
	return host.ExitedWith(err, 10, "No such resource") || host.ExitedWith(err, 10, "Device minor not allocated")
}

// firstField returns the text before the first '/' of a one-line answer
// (8.4 prints "Primary/Secondary", 9 prints "Primary").
func firstField(s string) string {
	s = strings.TrimSpace(s)
	before, _, _ := strings.Cut(s, "/")
	return before
}

// Observe reads role, connection and disk state. It uses the one-word
// commands (role, cstate, dstate) because their output is stable across
// 8.4 and 9, unlike `drbdadm status`.
func Observe(ctx context.Context, run host.Runner, r Resource) (State, error) {
	res, err := host.Run(ctx, run, "drbdadm", "role", r.Name)
	if isDown(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	st := State{Up: true, Role: firstField(res.Stdout)}
	if res, err = host.Run(ctx, run, "drbdadm", "cstate", r.Name); err != nil {
		return State{}, err
	}
	st.CState = strings.TrimSpace(res.Stdout)
	if res, err = host.Run(ctx, run, "drbdadm", "dstate", r.Name); err != nil {
		return State{}, err
	}
	disk, peer, _ := strings.Cut(strings.TrimSpace(res.Stdout), "/")
	st.Disk, st.PeerDisk = disk, peer
	if st.Role == "" || st.CState == "" || st.Disk == "" {
		return State{}, fmt.Errorf("drbd %s: unexpected state output role=%q cstate=%q dstate=%q", r.Name, st.Role, st.CState, st.Disk)
	}
	return st, nil
}

// PeerLinkDown asks only the connection state (one command, for a watch
// that runs every second): whether the resource is up with no link to its
// peer. A resource that is down has no link to lose.
func PeerLinkDown(ctx context.Context, run host.Runner, r Resource) (bool, error) {
	res, err := host.Run(ctx, run, "drbdadm", "cstate", r.Name)
	if isDown(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return linkDown[strings.TrimSpace(res.Stdout)], nil
}

// HasMetadata asks drbdmeta (through `drbdadm dump-md`, resource down)
// whether the backing disk carries DRBD metadata. Only "No valid meta data
// found" means none: drbd-utils 9.22 on the 8.4 kernel exits 1 with it
// (make e2e-vm), 255 is kept for drbdmeta builds that exit -1. Unclean
// metadata is still metadata, and every other failure is an error.
func HasMetadata(ctx context.Context, run host.Runner, r Resource) (bool, error) {
	_, err := host.Run(ctx, run, "drbdadm", "dump-md", r.Name)
	switch {
	case err == nil:
		return true, nil
	case host.ExitedWith(err, 255, "unclean"), host.ExitedWith(err, 1, "unclean"):
		return true, nil
	case host.ExitedWith(err, 1, "No valid meta data found"), host.ExitedWith(err, 255, "No valid meta data found"):
		return false, nil
	}
	return false, fmt.Errorf("drbd %s: metadata probe: %w", r.Name, err)
}

// ProveBlank returns nil only when the backing disk has no signature
// (wipefs and blkid, see host.ProveBlank) and no DRBD metadata.
func ProveBlank(ctx context.Context, run host.Runner, r Resource) error {
	if err := host.ProveBlank(ctx, run, r.Local.Disk); err != nil {
		return err
	}
	has, err := HasMetadata(ctx, run, r)
	if err != nil {
		return err
	}
	if has {
		return &host.NotBlankError{Device: r.Local.Disk, Evidence: "DRBD metadata present"}
	}
	return nil
}

// Report says what Ensure changed.
type Report struct {
	ConfigWritten bool
	// Adjusted: the running resource took the new fencing policy or its
	// new peer (drbdadm adjust). Pending: the file changed in other ways,
	// which the running resource does not take until it is next brought up.
	Adjusted, Pending bool
	CreatedMD         bool
	BroughtUp         bool
	State             State
}

// Ensure is the DRBD agent's step for one resource: config written, metadata
// present (created only on a proven-blank disk), resource up. A resource
// that is already up is left alone whatever its role: the agent never takes
// a resource down. Two changes it applies to a running resource with
// `drbdadm adjust`: the fencing policy (an upgrade that turns fencing on;
// adjust then changes only disk options and handlers), and a new peer
// while no link is up (a node replaced: adjust connects to the new
// address, with nothing to drop). A change of only the peer's disk path
// needs nothing applied. Any other change (this node's disk, address or
// port, or a new peer while connected) could detach or disconnect a
// serving Primary, so it waits for the resource's next start.
func Ensure(ctx context.Context, run host.Runner, r Resource) (Report, error) {
	var rep Report
	written, old, err := writeConfig(ctx, run, r)
	if err != nil {
		return rep, err
	}
	rep.ConfigWritten = written
	if rep.State, err = Observe(ctx, run, r); err != nil {
		return rep, err
	}
	if rep.State.Up {
		if !written || old == nil {
			return rep, nil
		}
		switch change := peerChange(old, r); {
		case change == peerDiskOnly:
			// The kernel never reads the peer's disk path: nothing to apply.
			return rep, nil
		case onlyFencingChanged(old, r):
		case change == peerOnly && rep.State.awaitsPeer():
			// A new peer (a node replaced): this node's side is unchanged,
			// and no link is up that re-connecting could drop.
		default:
			rep.Pending = true
			return rep, nil
		}
		if _, err := host.Run(ctx, run, "drbdadm", "adjust", r.Name); err != nil {
			return rep, err
		}
		rep.Adjusted = true
		return rep, nil
	}
	has, err := HasMetadata(ctx, run, r)
	if err != nil {
		return rep, err
	}
	if !has {
		// The metadata probe above already said "none"; the disk must
		// also carry no signature at all.
		if err := host.ProveBlank(ctx, run, r.Local.Disk); err != nil {
			return rep, fmt.Errorf("drbd %s: not creating metadata: %w", r.Name, err)
		}
		// --force only skips drbdmeta's questions; blankness is proven
		// above, and drbdmeta's own check misses ZFS labels anyway.
		if _, err := host.Run(ctx, run, "drbdadm", "create-md", "--force", r.Name); err != nil {
			return rep, err
		}
		rep.CreatedMD = true
	}
	if _, err := host.Run(ctx, run, "drbdadm", "up", r.Name); err != nil {
		return rep, err
	}
	rep.BroughtUp = true
	rep.State, err = Observe(ctx, run, r)
	return rep, err
}

// justCreatedUUID is DRBD's UUID_JUST_CREATED: metadata that create-md
// wrote and that has never held data.
const justCreatedUUID = "0000000000000004"

// JustCreated reports whether the local metadata has never held data.
func JustCreated(ctx context.Context, run host.Runner, r Resource) (bool, error) {
	res, err := host.Run(ctx, run, "drbdadm", "get-gi", r.Name)
	if err != nil {
		return false, err
	}
	current, _, found := strings.Cut(strings.TrimSpace(res.Stdout), ":")
	if !found || len(current) != 16 {
		return false, fmt.Errorf("drbd %s: unexpected get-gi output %q", r.Name, res.Stdout)
	}
	return strings.EqualFold(current, justCreatedUUID), nil
}

// InitialSync starts the first sync of a brand-new pair by forcing this
// side Primary. It acts only when the pair is connected, both disks are
// Inconsistent and the local metadata has never held data (the UUID
// create-md writes): that state is persistent, so a run interrupted after
// create-md still finds it, while any resource that ever held data is
// excluded. An Inconsistent peer holds no usable data by DRBD's own
// definition, so the forced sync cannot destroy any. It reports whether it
// forced.
func InitialSync(ctx context.Context, run host.Runner, r Resource) (bool, error) {
	return initialSync(ctx, run, r, nil)
}

// ErrInitialSyncRefused wraps WaitOptions.MayForce's answer when it
// refused the initial sync: the wait ends at once, since waiting cannot
// change that answer.
var ErrInitialSyncRefused = errors.New("not starting the initial sync")

func initialSync(ctx context.Context, run host.Runner, r Resource, may func(context.Context) error) (bool, error) {
	st, err := Observe(ctx, run, r)
	if err != nil {
		return false, err
	}
	if !st.Up || st.CState != "Connected" || st.Disk != "Inconsistent" || st.PeerDisk != "Inconsistent" || st.Role != "Secondary" {
		return false, nil
	}
	fresh, err := JustCreated(ctx, run, r)
	if err != nil || !fresh {
		return false, err
	}
	if may != nil {
		if err := may(ctx); err != nil {
			return false, fmt.Errorf("drbd %s: %w: %w", r.Name, ErrInitialSyncRefused, err)
		}
	}
	if _, err := host.Run(ctx, run, "drbdadm", "primary", "--force", r.Name); err != nil {
		return false, err
	}
	return true, nil
}

// WaitOptions tunes WaitUpToDate.
type WaitOptions struct {
	// Poll is the interval between observations; 0 means one second.
	Poll time.Duration
	// InitialSync lets this node (the pair's preferred node) start the
	// first sync of a brand-new pair while waiting; see InitialSync.
	InitialSync bool
	// MayForce, when set, is asked right before that forced sync (and
	// only then): an error refuses it (ErrInitialSyncRefused) and ends
	// the wait. The target pod asks whether the cluster recorded the
	// target as created before (lustre.Registry): two blank disks under
	// a target that existed are lost or renamed disks, not a new pair.
	MayForce func(context.Context) error
}

// WaitUpToDate polls until the local disk is UpToDate or ctx ends. Probe
// errors are retried (the module may still be loading) but reported if
// the wait times out. It also reports whether it forced the initial sync.
func WaitUpToDate(ctx context.Context, run host.Runner, r Resource, o WaitOptions) (State, bool, error) {
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	var last State
	var lastErr error
	forced := false
	for {
		st, err := Observe(ctx, run, r)
		if err == nil && st.UpToDate() {
			return st, forced, nil
		}
		// Keep the last state actually observed for the timeout message; a
		// probe cut short by the deadline says nothing.
		if err == nil {
			last = st
		}
		lastErr = err
		if err == nil && o.InitialSync && !forced {
			forced, lastErr = initialSync(ctx, run, r, o.MayForce)
			if forced {
				continue
			}
			if errors.Is(lastErr, ErrInitialSyncRefused) {
				return last, false, lastErr
			}
		}
		select {
		case <-ctx.Done():
			return last, forced, fmt.Errorf("drbd %s: waiting for UpToDate (last: %s): %w", r.Name, last, errors.Join(ctx.Err(), lastErr))
		case <-time.After(poll):
		}
	}
}

// PromoteRetry is how often Promote asks again while DRBD has not yet
// noticed that its peer is gone.
var PromoteRetry = 500 * time.Millisecond

// Promote makes the resource Primary; never with --force, so DRBD itself
// refuses while the peer is Primary or the local data is not UpToDate.
//
// Right after the peer crashed, DRBD may not have dealt with it yet (it
// notices after ping-int + ping-timeout, then fences): it refuses with
// "(-7) Refusing to be Primary while peer is not outdated", which changes
// by itself once the fence ran, so Promote asks again every PromoteRetry
// until ctx ends instead of failing the whole start attempt (the VM suite
// saw the first promote after a crash fail this way, and the next attempt
// came up to 10 s later). Any other refusal returns at once: a connected
// Primary peer (-1) is a live one.
func Promote(ctx context.Context, run host.Runner, r Resource) error {
	for {
		st, err := Observe(ctx, run, r)
		if err != nil {
			return err
		}
		if st.Up && st.Role == "Primary" {
			return nil
		}
		_, err = host.Run(ctx, run, "drbdadm", "primary", r.Name)
		if err == nil || !host.ExitedWith(err, 11, "(-7) Refusing to be Primary while peer is not outdated") {
			return err
		}
		t := time.NewTimer(PromoteRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Suspended reports whether the resource's I/O is suspended: a Primary
// whose fence-peer handler failed when it lost its peer (resource-and-
// stonith) acknowledges no write until the fence succeeds or the peer
// returns, and DRBD 8.4 never runs the handler again by itself. 8.4's
// `drbdadm status` prints the /proc/drbd line, whose first I/O flag is s
// for suspended (r running); DRBD 9's names it: suspended:fencing.
func Suspended(ctx context.Context, run host.Runner, r Resource) (bool, error) {
	res, err := host.Run(ctx, run, "drbdadm", "status", r.Name)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(res.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == r.Name && strings.HasPrefix(f[1], "role:") {
			return strings.Contains(line, " suspended:"), nil
		}
		if len(f) >= 2 && strings.HasPrefix(f[1], "cs:") {
			return strings.HasPrefix(f[len(f)-1], "s"), nil
		}
	}
	return false, fmt.Errorf("drbdadm status %s: no state line in %q", r.Name, res.Stdout)
}

// ResumeIO resumes a Primary's suspended I/O, once the fence it waited for
// has been decided in its favour (the peer's copy recorded as outdated).
func ResumeIO(ctx context.Context, run host.Runner, r Resource) error {
	_, err := host.Run(ctx, run, "drbdadm", "resume-io", r.Name)
	return err
}

// Demote makes the resource Secondary if it is Primary. The kernel refuses
// while the device is open (a pool still imported), which is what keeps a
// failed unmount from yanking the device.
func Demote(ctx context.Context, run host.Runner, r Resource) error {
	st, err := Observe(ctx, run, r)
	if err != nil {
		return err
	}
	if !st.Up || st.Role != "Primary" {
		return nil
	}
	_, err = host.Run(ctx, run, "drbdadm", "secondary", r.Name)
	return err
}

// Resyncing reports a connection state in which one copy is being brought
// up to date from the other (8.4 names the side: SyncSource, SyncTarget;
// DRBD 9 reports Connected and says it in `drbdadm status`).
func (s State) Resyncing() bool {
	return s.Up && (strings.HasPrefix(s.CState, "Sync") || strings.HasPrefix(s.CState, "PausedSync") ||
		(s.CState == "Connected" && (s.Disk == "Inconsistent" || s.PeerDisk == "Inconsistent")))
}

// SyncDone reads how much of a resyncing resource is in sync, from 0 to 1.
// DRBD 8.4 shows it only in /proc/drbd, on the lines below the resource's
// minor ("sync'ed: 31.4% (...)K"); DRBD 9's /proc/drbd lists no resources,
// and `drbdadm status` prints it as done:31.40. A resource that is not
// resyncing has no such line: that is an error, never a guess.
func SyncDone(ctx context.Context, run host.Runner, r Resource) (float64, error) {
	res, err := host.Run(ctx, run, "cat", "/proc/drbd")
	if err != nil {
		return 0, err
	}
	if pct, found, err := procSynced(res.Stdout, r.Minor); found || err != nil {
		return pct / 100, err
	}
	if res, err = host.Run(ctx, run, "drbdadm", "status", r.Name); err != nil {
		return 0, err
	}
	for _, f := range strings.Fields(res.Stdout) {
		if v, ok := strings.CutPrefix(f, "done:"); ok {
			pct, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("drbdadm status %s: %q: %w", r.Name, f, err)
			}
			return pct / 100, nil
		}
	}
	return 0, fmt.Errorf("drbd %s: no resync progress in /proc/drbd or drbdadm status (not resyncing)", r.Name)
}

// procSynced finds minor's block in 8.4's /proc/drbd and its "sync'ed:"
// percentage. found is false when the file has no line for the minor
// (DRBD 9); a block without a percentage is an error.
func procSynced(proc string, minor int) (pct float64, found bool, err error) {
	head := fmt.Sprintf("%d:", minor)
	in := false
	for _, line := range strings.Split(proc, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[1], "cs:") {
			if in {
				break
			}
			in = f[0] == head
			found = found || in
			continue
		}
		if !in {
			continue
		}
		_, rest, ok := strings.Cut(line, "sync'ed:")
		if !ok {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimSpace(rest), "%")
		pct, err = strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, true, fmt.Errorf("/proc/drbd minor %d: %q: %w", minor, strings.TrimSpace(line), err)
		}
		return pct, true, nil
	}
	if found {
		return 0, true, fmt.Errorf("/proc/drbd minor %d: no sync'ed line (not resyncing)", minor)
	}
	return 0, false, nil
}
