package hostsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/host"
)

const (
	fenceCmd   = "/opt/bin/drbd fence-peer"
	unfenceCmd = "/opt/bin/drbd unfence"
)

// handlerCalls records handler calls: "host resource".
type handlerCalls struct {
	mu    sync.Mutex
	calls []string
	env   []map[string]string
}

func (c *handlerCalls) fn(code int) Handler {
	return func(hostName, resource string, env map[string]string) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls = append(c.calls, hostName+" "+resource)
		c.env = append(c.env, env)
		return code
	}
}

func (c *handlerCalls) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// stonithPair is syncedPair with resource-and-stonith and both handlers
// configured, s1 Primary with pool p0 and dataset p0/t.
func stonithPair(t *testing.T) *World {
	t.Helper()
	w := stonithConfig(t)
	for _, n := range []string{"s1", "s2"} {
		steps(t, w, n, createMD, up, hostid)
	}
	steps(t, w, "s1", forcePrim, mkpool, []string{"zfs", "create", "p0/t"})
	return w
}

// stonithConfig is newPair with r0 rewritten for resource-and-stonith and
// both handlers.
func stonithConfig(t *testing.T) *World {
	t.Helper()
	w := newPair(t, DRBD84)
	res := strings.Replace(testRes, "fencing resource-only;", "fencing resource-and-stonith;\n  }\n  handlers {\n    fence-peer \""+fenceCmd+"\";\n    after-resync-target \""+unfenceCmd+"\";", 1)
	for _, n := range []string{"s1", "s2"} {
		mustRun(t, w, n, host.Cmd{Name: "tee", Args: []string{"/etc/drbd.d/r0.res"}, Stdin: []byte(res)})
	}
	return w
}

// blockedOnFrozen runs c on hostName for at most 200 ms and reports
// whether it was still blocked on frozen DRBD I/O when that ended: a real
// writer sits in D state until I/O resumes, it does not fail.
func blockedOnFrozen(w *World, hostName string, c host.Cmd) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := w.Host(hostName).Run(ctx, c)
	return errors.Is(err, context.DeadlineExceeded) && BlockedOnFrozenIO(err) && strings.Contains(err.Error(), "I/O suspended by DRBD fencing on /dev/drbd0"), err
}

// A writer on frozen DRBD blocks until I/O resumes, then completes.
func TestFrozenWriterBlocksUntilIOResumes(t *testing.T) {
	t.Parallel()
	w := stonithPair(t)
	var calls handlerCalls
	w.RegisterHandler(fenceCmd, calls.fn(1))
	must(t, w.CutLink("s1", "s2"))
	write := cmd("zfs", "set", "lustre:note=x", "p0/t")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := w.Host("s1").Run(ctx, write)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a write on frozen I/O returned: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	must(t, w.HealLink("s1", "s2"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the blocked write after I/O resumed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked write did not complete after I/O resumed")
	}
	if out := mustRun(t, w, "s1", cmd("zfs", "get", "-H", "-o", "value", "lustre:note", "p0/t")); out.Stdout != "x\n" {
		t.Fatalf("lustre:note %q after the write completed", out.Stdout)
	}
}

// The Lustre writes on a frozen device block too: formatting another
// target and unmounting the served one; an interrupted one did nothing.
func TestFrozenLustreWrites(t *testing.T) {
	t.Parallel()
	w := stonithConfig(t)
	lustreReady(t, w)
	steps(t, w, "s1", mkfsMDT, []string{"mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0"})
	var calls handlerCalls
	w.RegisterHandler(fenceCmd, calls.fn(1))
	must(t, w.CutLink("s1", "s2"))
	for _, c := range []host.Cmd{
		cmd("umount", "/mnt/mdt0"),
		cmd(append(mkfsMDT[:len(mkfsMDT)-1:len(mkfsMDT)-1], "p0/mdt1")...),
	} {
		if blocked, err := blockedOnFrozen(w, "s1", c); !blocked {
			t.Errorf("%s: %v, want blocked on frozen I/O", c, err)
		}
	}
	if m, _ := w.Mounted("s1"); len(m) != 1 {
		t.Fatalf("mounts after the failed umount: %v", m)
	}
}

func TestParseHandlers(t *testing.T) {
	t.Parallel()
	w := stonithPair(t)
	must(t, w.view(func(st *state) error {
		rc, _, _, _, found := st.Hosts["s1"].resConfigFor("r0")
		if !found || rc.Fencing != "resource-and-stonith" || rc.Handlers["fence-peer"] != fenceCmd || rc.Handlers["after-resync-target"] != unfenceCmd {
			return fmt.Errorf("parsed %+v", rc)
		}
		if r := st.Hosts["s1"].DRBD["r0"]; r.Fencing != "resource-and-stonith" {
			return fmt.Errorf("fencing loaded at up: %q", r.Fencing)
		}
		return nil
	}))
}

// A Primary that loses its peer asks fence-peer: a success code lets its
// writes go on (the peer's disk is then shown as what the fence made of
// it); any other code, or no handler at all, freezes every write to the
// device until the link heals. Reads go on.
func TestPrimaryLosingItsPeerFences(t *testing.T) {
	t.Parallel()
	write := cmd("zfs", "set", "lustre:note=x", "p0/t")
	for _, tc := range []struct {
		name     string
		code     int // -1: no handler registered
		crash    bool
		frozen   bool
		peerDisk string
	}{
		{name: "exit 3 peer inconsistent", code: 3, peerDisk: "Inconsistent"},
		{name: "exit 4 peer outdated", code: 4, peerDisk: "Outdated"},
		{name: "exit 5 peer unreachable", code: 5, peerDisk: "Outdated"},
		{name: "exit 7 peer stonithed", code: 7, peerDisk: "Outdated"},
		{name: "exit 4 after the peer crashed", code: 4, crash: true, peerDisk: "Outdated"},
		{name: "exit 1 api unreachable", code: 1, frozen: true, peerDisk: "DUnknown"},
		{name: "exit 6 peer is the holder", code: 6, frozen: true, peerDisk: "DUnknown"},
		{name: "no handler registered", code: -1, frozen: true, peerDisk: "DUnknown"},
		{name: "exit 1 after the peer crashed", code: 1, crash: true, frozen: true, peerDisk: "DUnknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stonithPair(t)
			var calls handlerCalls
			if tc.code >= 0 {
				w.RegisterHandler(fenceCmd, calls.fn(tc.code))
			}
			if tc.crash {
				must(t, w.Crash("s2"))
			} else {
				must(t, w.CutLink("s1", "s2"))
			}
			if tc.code >= 0 {
				if got := calls.get(); len(got) != 1 || got[0] != "s1 r0" || calls.env[0]["DRBD_PEER_ADDRESS"] != "10.0.0.2" || calls.env[0]["DRBD_RESOURCE"] != "r0" {
					t.Fatalf("fence-peer calls %v env %v", got, calls.env)
				}
			}
			if out := mustRun(t, w, "s1", cmd("drbdadm", "dstate", "r0")); out.Stdout != "UpToDate/"+tc.peerDisk+"\n" {
				t.Fatalf("dstate %q", out.Stdout)
			}
			frozenCmds := []host.Cmd{write, cmd("zfs", "create", "p0/u"), cmd(exportP...)}
			for _, c := range frozenCmds {
				if tc.frozen {
					if blocked, err := blockedOnFrozen(w, "s1", c); !blocked {
						t.Fatalf("%s on a frozen device: %v, want blocked", c, err)
					}
					continue
				}
				if res, err := run(w, "s1", c); err != nil {
					t.Fatalf("%s: %v %s", c, err, res.Stderr)
				}
				if !tc.frozen {
					break // the export would end the test's pool
				}
			}
			mustRun(t, w, "s1", cmd("zfs", "get", "-H", "-o", "value", "lustre:svname", "p0/t"))
			frozenEvents, _ := w.Ran("s1", "(kernel) drbd r0 io-frozen")
			if tc.frozen != (len(frozenEvents) == 1) {
				t.Fatalf("io-frozen events %v", frozenEvents)
			}
			if !tc.frozen || tc.crash {
				return
			}
			// The peer has the writes again once connected: I/O resumes.
			must(t, w.HealLink("s1", "s2"))
			mustRun(t, w, "s1", write)
			if resumed, _ := w.Ran("s1", "(kernel) drbd r0 io-resumed"); len(resumed) != 1 {
				t.Fatalf("io-resumed events %v", resumed)
			}
		})
	}
}

// A resource-only Primary keeps its old behaviour: no handler call, no
// freeze (the simulator models fencing for resource-and-stonith only).
func TestResourceOnlyDoesNotFreeze(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD84)
	steps(t, w, "s1", mkpool)
	must(t, w.CutLink("s1", "s2"))
	steps(t, w, "s1", []string{"zfs", "create", "p0/t"})
}

// A disconnected Secondary whose peer's disk is unknown asks fence-peer
// before it promotes and refuses unless the peer is declared outdated.
func TestPromotingADisconnectedSecondaryFences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		ok   bool
	}{{1, false}, {6, false}, {-1, false}, {4, true}, {7, true}} {
		t.Run(fmt.Sprintf("exit %d", tc.code), func(t *testing.T) {
			w := stonithPair(t)
			var calls handlerCalls
			if tc.code >= 0 {
				w.RegisterHandler(fenceCmd, calls.fn(tc.code))
			}
			must(t, w.Crash("s1"))
			calls.calls = nil // s1 had nothing to fence: it crashed
			res, err := run(w, "s2", cmd(primary...))
			if tc.ok {
				if err != nil {
					t.Fatalf("%v %s", err, res.Stderr)
				}
				if out := mustRun(t, w, "s2", cmd("drbdadm", "dstate", "r0")); out.Stdout != "UpToDate/Outdated\n" {
					t.Fatalf("dstate %q", out.Stdout)
				}
			} else if !host.ExitedWith(err, 11, "State change failed: (-7) Refusing to be Primary while peer is not outdated") {
				t.Fatalf("want the -7 refusal, got %v %q", err, res.Stderr)
			}
			if tc.code >= 0 {
				if got := calls.get(); len(got) != 1 || got[0] != "s2 r0" {
					t.Fatalf("fence-peer calls %v", got)
				}
			}
			if tc.ok {
				return
			}
			role, _, disk, _, _, _ := w.DRBDState("s2", "r0")
			if role != "Secondary" {
				t.Fatalf("s2 is %s after a refused promotion", role)
			}
			// Exit 6 ("peer is active") makes 8.4 outdate the asking
			// Secondary's own disk; any other refusal leaves it.
			if want := map[bool]string{true: "Outdated", false: "UpToDate"}[tc.code == 6]; disk != want {
				t.Fatalf("s2's disk %s after fence-peer exit %d, want %s", disk, tc.code, want)
			}
		})
	}
}

// After a resync the sync target runs after-resync-target, once, and the
// source does not; with an instant resync as with a polled one.
func TestAfterResyncTarget(t *testing.T) {
	t.Parallel()
	for _, polls := range []int{0, 2} {
		t.Run(fmt.Sprintf("polls %d", polls), func(t *testing.T) {
			w := stonithPair(t)
			must(t, w.SetSyncPolls(polls))
			var fence, unfence handlerCalls
			w.RegisterHandler(fenceCmd, fence.fn(4))
			w.RegisterHandler(unfenceCmd, unfence.fn(0))
			must(t, w.Crash("s1"))
			steps(t, w, "s2", primary, []string{"zpool", "import", "-f", "-d", "/dev/drbd0", "p0"}, []string{"zfs", "create", "p0/new"})
			must(t, w.Boot("s1"))
			steps(t, w, "s1", up)
			for i := 0; i < polls; i++ {
				if got := unfence.get(); len(got) != 0 {
					t.Fatalf("after-resync-target before the resync ended: %v", got)
				}
				mustRun(t, w, "s1", cmd("drbdadm", "dstate", "r0"))
			}
			if got := unfence.get(); len(got) != 1 || got[0] != "s1 r0" {
				t.Fatalf("after-resync-target calls %v", got)
			}
			if out := mustRun(t, w, "s2", cmd("drbdadm", "dstate", "r0")); out.Stdout != "UpToDate/UpToDate\n" {
				t.Fatalf("s2 after resync: %q", out.Stdout)
			}
			if ran, _ := w.Ran("s1", unfenceCmd+" r0"); len(ran) != 1 {
				t.Fatalf("handler call not in the command log: %v", ran)
			}
		})
	}
}

// decider answers fence questions with fixed codes and records them.
type decider struct {
	mu    sync.Mutex
	code  int
	asked []string
}

func (d *decider) answer(op, res string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, op+" "+res)
	return d.code
}

func (d *decider) FencePeer(_ context.Context, res string) int { return d.answer("fence-peer", res) }
func (d *decider) Unfence(_ context.Context, res string) int   { return d.answer("unfence", res) }

// A host whose agent serves the fence socket (the cluster's processes do
// not share Go functions) gets its handler answers from that socket, with
// the handler's subcommand as the question; a socket nobody serves is a
// failed fence (I/O frozen), and a crash forgets the socket with the
// processes that served it.
func TestHandlerSocket(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		serve  bool
		code   int
		frozen bool
	}{
		{name: "agent answers outdated", serve: true, code: 4},
		{name: "agent refuses", serve: true, code: 6, frozen: true},
		{name: "nobody serves the socket", frozen: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stonithPair(t)
			// r0 names no release, so the handler asks the node-wide
			// socket in the directory (fencesock.SocketFor).
			path := fencesock.SocketFor(filepath.Join(w.dir, "s1-run"), "r0")
			must(t, os.MkdirAll(filepath.Dir(path), 0o700))
			d := &decider{code: tc.code}
			if tc.serve {
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() { _ = fencesock.Serve(ctx, l, d) }()
			}
			must(t, w.SetHandlerSockets("s1", "s1-run"))
			must(t, w.CutLink("s1", "s2"))
			if blocked, err := blockedOnFrozen(w, "s1", cmd("zfs", "set", "lustre:note=x", "p0/t")); tc.frozen != blocked {
				t.Fatalf("write after the cut: %v, want frozen=%v", err, tc.frozen)
			}
			if tc.serve && (len(d.asked) != 1 || d.asked[0] != "fence-peer r0") {
				t.Fatalf("asked %v", d.asked)
			}
			code := 1
			if tc.serve {
				code = tc.code
			}
			if out := mustRun(t, w, "s1", cmd("dmesg")); !strings.Contains(out.Stdout, fmt.Sprintf("fence-peer minor-0 exit code %d ", code)) {
				t.Fatalf("kernel log %q, want fence-peer exit code %d", out.Stdout, code)
			}
			must(t, w.Crash("s1"))
			if err := w.view(func(st *state) error {
				if s := st.Hosts["s1"].HandlerSockets; s != "" {
					return fmt.Errorf("socket %q survived the crash", s)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
