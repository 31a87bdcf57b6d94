package hostsim

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Handler stands for a DRBD handler program (fence-peer,
// after-resync-target) run on host for resource with DRBD's environment;
// it returns the program's exit code. It runs with the world locked, so it
// must not run commands in the world: it may only decide (e.g. through a
// Lease store) and answer.
type Handler func(hostName, resource string, env map[string]string) int

// helpers is per process because the world's state is persisted as JSON
// and Go functions are not; it is keyed by world directory as well, so
// that worlds of parallel tests never call each other's handlers.
var helpers = struct {
	sync.Mutex
	m map[string]Handler
}{m: map[string]Handler{}}

// SetHandlerSockets makes the host's handler programs ask the unix sockets
// in dir (relative to the world's directory, which every process sharing
// the world may see at a different place), as the real program
// (images/drbd fence-peer, unfence) asks its node's agents: the socket of
// the release that owns the resource (fencesock.SocketFor), so the agents
// of two releases on one host each answer for their own. It is how
// processes other than the one serving a socket (a target pod's promote,
// a test's CutLink) reach the decision. A registered Go function takes
// precedence. An empty dir removes it.
func (w *World) SetHandlerSockets(hostName, dir string) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		h.HandlerSockets = dir
		return nil
	})
}

// askSocket is the handler program: its subcommand is the command's last
// word (".../drbd fence-peer"); no answer is exit 1, a failed fence.
func askSocket(dir, command, resource string) int {
	f := strings.Fields(command)
	code, _ := fencesock.AskFor(context.Background(), dir, f[len(f)-1], resource)
	return code
}

// RegisterHandler makes command (the string a resource file names in its
// handlers section, e.g. "/var/lib/kube-lustre/bin/drbd fence-peer") run
// fn in this world. A handler named by the configuration but not
// registered behaves like a program that is missing: exit 127.
func (w *World) RegisterHandler(command string, fn Handler) {
	helpers.Lock()
	helpers.m[w.dir+"\x00"+command] = fn
	helpers.Unlock()
}

func lookupHelper(dir, command string) Handler {
	helpers.Lock()
	defer helpers.Unlock()
	return helpers.m[dir+"\x00"+command]
}

const (
	stonith      = "resource-and-stonith"
	resourceOnly = "resource-only"
)

// fenceSucceeded lists the fence-peer exit codes after which DRBD considers
// the peer's copy unusable (3: Inconsistent, 4: Outdated, 5: unreachable,
// assumed down, 7: stonithed) and lets a Primary's I/O go on.
func fenceSucceeded(code int) bool { return slices.Contains([]int{3, 4, 5, 7}, code) }

// runHelper runs a handler as the kernel does through drbdadm (8.4 logs
// "helper command: /sbin/drbdadm fence-peer minor-N"), logs its exit code
// and records the call in the command log. ran is false when the resource
// file names no such handler.
func (st *state) runHelper(h *hostState, name, which string) (code int, ran bool) {
	rc, local, _, _, found := h.resConfigFor(name)
	if !found || rc.Handlers[which] == "" {
		return 0, false
	}
	command := rc.Handlers[which]
	env := map[string]string{"DRBD_RESOURCE": name, "DRBD_MINOR": fmt.Sprint(local.Minor), "DRBD_CONF": "/etc/drbd.conf"}
	for n, on := range rc.On {
		if n != h.Name {
			addr, _, _ := strings.Cut(on.Address, ":")
			env["DRBD_PEER_ADDRESS"], env["DRBD_PEER_AF"] = addr, "ipv4"
		}
	}
	code = 127
	if fn := lookupHelper(st.dir, command); fn != nil {
		code = fn(h.Name, name, env)
	} else if h.HandlerSockets != "" {
		code = askSocket(filepath.Join(st.dir, h.HandlerSockets), command, name)
	}
	h.kernelLog("drbd %s: helper command: /sbin/drbdadm %s minor-%d exit code %d (0x%x)", name, which, local.Minor, code, code<<8)
	st.events = append(st.events, LogEntry{Host: h.Name, Argv: append(strings.Fields(command), name), Exit: code, Event: "helper " + which})
	return code, true
}

// fencePeer runs fence-peer for a resource that has no peer and records
// what DRBD concludes: the peer's disk state it now assumes, and for a
// Primary whether I/O stays frozen. It reports whether the fence
// succeeded.
func (st *state) fencePeer(h *hostState, r *drbdRun, name string) bool {
	code, _ := st.runHelper(h, name, "fence-peer")
	if code == 6 && r.Role != "Primary" {
		// "peer is active": a Secondary asked to promote outdates its own
		// disk (8.4's conn_try_outdate_peer), so it cannot promote later
		// either until it resynced from that peer.
		if m := h.meta(r); m.Disk == "UpToDate" {
			m.Disk = "Outdated"
			h.kernelLog("drbd %s: Peer is primary, outdating myself. disk( UpToDate -> Outdated )", name)
		}
	}
	if !fenceSucceeded(code) {
		if r.Role == "Primary" && !r.Frozen {
			r.Frozen = true
			h.kernelLog("drbd %s: fence-peer helper broken, returned %d; susp( 0 -> 1 )", name, code)
			st.event(h, name, "io-frozen")
		}
		return false
	}
	r.PeerDisk = "Outdated"
	if code == 3 {
		r.PeerDisk = "Inconsistent"
	}
	h.kernelLog("drbd %s: pdsk( DUnknown -> %s )", name, r.PeerDisk)
	if r.Frozen {
		r.Frozen = false
		h.kernelLog("drbd %s: susp( 1 -> 0 )", name)
		st.event(h, name, "io-resumed")
	}
	return true
}

// event records a kernel state change in the command log, so a replay can
// tell a frozen Primary (it acknowledges nothing) from a serving one.
func (st *state) event(h *hostState, name, what string) {
	st.events = append(st.events, LogEntry{Host: h.Name, Argv: []string{"(kernel)", "drbd", name, what}, Event: what})
}

// lostPeer is called when a resource's connection has just gone. Under
// resource-and-stonith a Primary freezes I/O at once and asks fence-peer;
// the simulator freezes only if the handler fails, which is the same as
// seen from any command (the kernel's freeze lasts as long as the handler
// runs).
func (st *state) lostPeer(h *hostState, r *drbdRun, name string) {
	r.PeerDisk = ""
	if r.Fencing == stonith && r.Role == "Primary" {
		st.fencePeer(h, r, name)
	}
}

// reconnected thaws a frozen Primary: the peer has its writes again.
func (st *state) reconnected(h *hostState, r *drbdRun, name string) {
	r.PeerDisk = ""
	if r.Frozen {
		r.Frozen = false
		h.kernelLog("drbd %s: susp( 1 -> 0 )", name)
		st.event(h, name, "io-resumed")
	}
}

// frozenDevice returns the frozen DRBD device under any argument of c (a
// device, a pool, a dataset or a mount point), "" if none.
func (st *state) frozenDevice(h *hostState, c host.Cmd) string {
	for _, a := range c.Args {
		devs := []string{a, h.Imported[a], h.Imported[strings.SplitN(a, "/", 2)[0]]}
		if i := h.mountAt(a); i >= 0 {
			devs = append(devs, h.Imported[h.Mounts[i].Pool])
		}
		for _, d := range devs {
			if r := h.drbdByDevice(d); d != "" && r != nil && r.Frozen {
				return d
			}
		}
	}
	return ""
}
