package lustre

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

var hosts = []string{"s1", "s2"}

// pair is an HA pair serving lfs1's MDT0 with the MGS, s1 preferred.
type pair struct {
	t   *testing.T
	w   *hostsim.World
	srv [2]Server
}

func newPair(t *testing.T, version string) *pair {
	t.Helper()
	w, err := hostsim.OpenPair(t.TempDir(), version, append(hosts, "c1")...)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{t: t, w: w}
	nodes := [2]drbd.Node{}
	var nids []string
	for i, n := range hosts {
		nodes[i] = drbd.Node{Name: n, Disk: "/dev/sdb", Address: hostsim.PairAddress(i)}
		nids = append(nids, hostsim.PairAddress(i)+"@tcp")
	}
	for i := range hosts {
		p.srv[i] = Server{
			Resource:  drbd.Resource{Name: "lfs1-mdt0", Minor: 0, Port: 7788, Local: nodes[i], Peer: nodes[1-i]},
			Pool:      zfs.Pool{Name: "lfs1-mdt0", Device: "/dev/drbd0", Properties: map[string]string{"ashift": "12"}},
			Target:    Target{FSName: "lfs1", Type: MDT, MGS: true, Index: 0, Pool: "lfs1-mdt0", Dataset: "mdt0", MountPoint: "/mnt/lustre/lfs1-mdt0", ServiceNodes: nids},
			Preferred: i == 0,
			Networks:  []string{"tcp0(eth1)"},
			Poll:      time.Millisecond,
		}
	}
	return p
}

func (p *pair) host(i int) host.Runner { return p.w.Host(hosts[i]) }

// bringUp is a fresh deployment: the DRBD agent on both nodes, then the
// target's pod on the preferred node. Every step runs even if an earlier
// one failed, as separate pods would. Once any node is lost the run is
// cancelled: the surviving pods would only wait for it, which the restart
// after Boot covers.
func (p *pair) bringUp(timeout time.Duration) error {
	return p.bringUpUntil(timeout, func(_ host.Cmd, err error) bool { return errors.Is(err, hostsim.ErrHostDown) })
}

// bringUpUntil is bringUp cancelled as soon as stop says so about a
// command's outcome, so that tests of injected failures need not wait for
// the DRBD timeout.
func (p *pair) bringUpUntil(timeout time.Duration, stop func(host.Cmd, error) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	runner := func(i int) host.Runner {
		return host.RunnerFunc(func(ctx context.Context, c host.Cmd) (host.Result, error) {
			res, err := p.host(i).Run(ctx, c)
			if stop(c, err) {
				cancel()
			}
			return res, err
		})
	}
	var errs []error
	for i := range hosts {
		_, err := drbd.Ensure(ctx, runner(i), p.srv[i].Resource)
		errs = append(errs, err)
	}
	_, err := Start(ctx, runner(0), p.srv[0])
	return errors.Join(append(errs, err)...)
}

func (p *pair) mustBringUp() {
	p.t.Helper()
	if err := p.bringUp(10 * time.Second); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pair) log() []hostsim.LogEntry {
	p.t.Helper()
	log, err := p.w.Log()
	if err != nil {
		p.t.Fatal(err)
	}
	return log
}

// destructive names the commands that may run at most once per node in a
// deployment's life.
func destructive(argv []string) string {
	s := strings.Join(argv, " ")
	for _, prefix := range []string{"drbdadm create-md", "drbdadm primary --force", "zpool create", "mkfs.lustre"} {
		if strings.HasPrefix(s, prefix) {
			return prefix
		}
	}
	return ""
}

// destructiveRuns counts destructive commands that actually ran (a crash
// before a command, or a dead host, means it did not), per host.
func (p *pair) destructiveRuns() map[string]int {
	counts := map[string]int{}
	for _, e := range p.log() {
		if d := destructive(e.Argv); d != "" && e.Fault != "crash-before" && e.Fault != "down" {
			counts[e.Host+": "+d]++
		}
	}
	return counts
}

func (p *pair) summary() string {
	p.t.Helper()
	s, err := p.w.Summary()
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

func (p *pair) drbdState(i int) drbd.State {
	p.t.Helper()
	st, err := drbd.Observe(context.Background(), p.host(i), p.srv[i].Resource)
	if err != nil {
		p.t.Fatal(err)
	}
	return st
}

func (p *pair) mounted(i int) bool {
	p.t.Helper()
	m, err := IsMounted(context.Background(), p.host(i), p.srv[i].Target.MountPoint)
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

func TestHAPairBringUpAndFailover(t *testing.T) {
	t.Parallel()
	for _, v := range []string{hostsim.DRBD84, hostsim.DRBD9} {
		t.Run(v, func(t *testing.T) {
			p := newPair(t, v)
			p.mustBringUp()
			st := p.drbdState(0)
			if st.Role != "Primary" || st.Disk != "UpToDate" || st.PeerDisk != "UpToDate" || st.CState != "Connected" {
				t.Fatalf("preferred node: %v", st)
			}
			if !p.mounted(0) || p.mounted(1) {
				t.Fatal("target not mounted on the preferred node only")
			}
			// A client on a third host mounts through both service NIDs.
			ctx := context.Background()
			c := Client{MGSNodes: p.srv[0].Target.ServiceNodes, FSName: "lfs1", MountPoint: "/mnt/lfs1", Options: []string{"flock"}}
			must(t, EnsureModules(ctx, p.w.Host("c1"), ClientModules))
			must(t, ConfigureLNet(ctx, p.w.Host("c1"), []string{"tcp0(eth1)"}))
			if mountedNow, err := MountClient(ctx, p.w.Host("c1"), c); err != nil || !mountedNow {
				t.Fatalf("client mount: %v %v", mountedNow, err)
			}
			// Planned failover: stop on s1, start on s2, and back.
			for _, from := range []int{0, 1} {
				to := 1 - from
				must(t, Stop(ctx, p.host(from), p.srv[from]))
				rep, err := Start(ctx, p.host(to), p.srv[to])
				if err != nil || !rep.Imported || rep.CreatedPool || rep.Formatted || rep.InitialSync {
					t.Fatalf("start on %s: %+v %v", hosts[to], rep, err)
				}
				if !p.mounted(to) || p.mounted(from) {
					t.Fatalf("after failover to %s the mount is not there alone", hosts[to])
				}
			}
			for _, e := range p.log() {
				s := strings.Join(e.Argv, " ")
				if strings.HasPrefix(s, "zpool import") && (!strings.Contains(s, "-d /dev/drbd0") || strings.Contains(s, " -f")) {
					t.Fatalf("%s: import not through /dev/drbd0 or forced: %s", e.Host, s)
				}
				if strings.HasPrefix(s, "zpool create") && !strings.HasSuffix(s, " /dev/drbd0") {
					t.Fatalf("pool created elsewhere than on /dev/drbd0: %s", s)
				}
				if strings.HasPrefix(s, "umount -") || strings.HasPrefix(s, "drbdadm down") {
					t.Fatalf("%s issued %s", e.Host, s)
				}
			}
			for k, n := range p.destructiveRuns() {
				if n != 1 {
					t.Errorf("%s ran %d times", k, n)
				}
			}
			must(t, UnmountClient(ctx, p.w.Host("c1"), c))
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrashAtEveryStep crashes the node running each command of a clean
// bring-up, before and after that command, then boots it and runs the
// bring-up again: it must converge to the clean run's state, and no
// destructive command may have run twice.
func TestCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	clean := newPair(t, hostsim.DRBD84)
	clean.mustBringUp()
	want := clean.summary()
	log := clean.log()
	if len(log) < 30 {
		t.Fatalf("clean run has only %d commands", len(log))
	}
	seen := map[string]int{}
	for i, e := range log {
		if e.Event != "" {
			// A DRBD handler call or I/O freeze is the kernel's doing,
			// not a command the bring-up runs and could crash at.
			continue
		}
		key := e.Host + "\x00" + strings.Join(e.Argv, "\x00")
		skip := seen[key]
		seen[key]++
		for _, when := range []hostsim.When{hostsim.Before, hostsim.After} {
			p := newPair(t, hostsim.DRBD84)
			must(t, p.w.CrashAt(e.Host, hostsim.Match{Args: e.Argv, Skip: skip}, when))
			if err := p.bringUp(10 * time.Second); !errors.Is(err, hostsim.ErrHostDown) {
				t.Fatalf("command %d (%s %v, when %d): bring-up did not see the crash: %v", i, e.Host, e.Argv, when, err)
			}
			must(t, p.w.Boot(e.Host))
			if err := p.bringUp(10 * time.Second); err != nil {
				t.Fatalf("command %d (%s %v, when %d): restart failed: %v", i, e.Host, e.Argv, when, err)
			}
			if got := p.summary(); got != want {
				t.Fatalf("command %d (%s %v, when %d): state differs\n got:\n%s\nwant:\n%s", i, e.Host, e.Argv, when, got, want)
			}
			for k, n := range p.destructiveRuns() {
				if n > 1 {
					t.Fatalf("command %d (%s %v, when %d): %s ran %d times", i, e.Host, e.Argv, when, k, n)
				}
			}
		}
	}
}

// TestSignaturesAreNeverOverwritten puts a signature on the preferred
// node's disk: no metadata, pool or target may be created on it.
func TestSignaturesAreNeverOverwritten(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{hostsim.SigExt4, hostsim.SigXFS, hostsim.SigZFSMember} {
		t.Run(sig, func(t *testing.T) {
			p := newPair(t, hostsim.DRBD9)
			must(t, p.w.SetSignature("s1", "/dev/sdb", sig))
			err := p.bringUp(50 * time.Millisecond)
			var nb *host.NotBlankError
			if !errors.As(err, &nb) {
				t.Fatalf("bring-up over %s: %v", sig, err)
			}
			for k := range p.destructiveRuns() {
				if strings.HasPrefix(k, "s1:") {
					t.Fatalf("%s on a disk with %s", k, sig)
				}
			}
		})
	}
}

// TestFailedProbesBlockCreation makes each blankness probe fail once in
// turn; nothing destructive may follow on that node.
func TestFailedProbesBlockCreation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		match []string
		res   host.Result
	}{
		{"wipefs on the backing disk", []string{"wipefs", "--no-act", "/dev/sdb"}, host.Result{Stderr: "wipefs: error: /dev/sdb: probing initialization failed: Input/output error\n", ExitCode: 1}},
		{"blkid on the backing disk", []string{"blkid", "-p", "/dev/sdb"}, host.Result{Stderr: "blkid: error: /dev/sdb: No such file or directory\n", ExitCode: 2}},
		{"wipefs on the DRBD device", []string{"wipefs", "--no-act", "/dev/drbd0"}, host.Result{ExitCode: 1}},
		{"blkid on the DRBD device", []string{"blkid", "-p", "/dev/drbd0"}, host.Result{ExitCode: 4}},
		{"zfs get of the target", []string{"zfs", "get"}, host.Result{Stderr: "internal error: out of memory\n", ExitCode: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, hostsim.DRBD84)
			must(t, p.w.FailNext("s1", hostsim.Match{Args: tc.match}, tc.res))
			injected := func(c host.Cmd, err error) bool {
				return err != nil && strings.HasPrefix(c.String(), strings.Join(tc.match, " "))
			}
			if err := p.bringUpUntil(10*time.Second, injected); err == nil {
				t.Fatal("bring-up succeeded through a failed probe")
			}
			guarded := map[string]string{"/dev/sdb": "s1: drbdadm create-md", "/dev/drbd0": "s1: zpool create", "get": "s1: mkfs.lustre"}[tc.match[len(tc.match)-1]]
			if tc.match[0] == "zfs" {
				guarded = "s1: mkfs.lustre"
			}
			if n := p.destructiveRuns()[guarded]; n != 0 {
				t.Fatalf("%s ran after a failed probe", guarded)
			}
			// Once the probe works again the same deployment converges.
			p.mustBringUp()
			if !p.mounted(0) {
				t.Fatal("not mounted after the retry")
			}
		})
	}
}

func TestStopWithBusyMountKeepsEverything(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD9)
	p.mustBringUp()
	must(t, p.w.SetBusy("s1", p.srv[0].Target.MountPoint, true))
	err := Stop(context.Background(), p.host(0), p.srv[0])
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "export lfs1-mdt0: skipped") || !strings.Contains(err.Error(), "demote lfs1-mdt0: skipped") {
		t.Fatalf("Stop = %v", err)
	}
	if st := p.drbdState(0); st.Role != "Primary" {
		t.Fatalf("device no longer Primary: %v", st)
	}
	imported, err := zfs.Imported(context.Background(), p.host(0), "lfs1-mdt0")
	if err != nil || !imported || !p.mounted(0) {
		t.Fatalf("pool imported=%v mounted=%v err=%v", imported, p.mounted(0), err)
	}
	must(t, p.w.SetBusy("s1", p.srv[0].Target.MountPoint, false))
	must(t, Stop(context.Background(), p.host(0), p.srv[0]))
	if st := p.drbdState(0); st.Role != "Secondary" {
		t.Fatalf("after a clean stop: %v", st)
	}
}

func TestAgentRestartOnPrimaryKeepsItUp(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD84)
	p.mustBringUp()
	before := len(p.log())
	rep, err := drbd.Ensure(context.Background(), p.host(0), p.srv[0].Resource)
	if err != nil || rep.BroughtUp || rep.CreatedMD || rep.State.Role != "Primary" {
		t.Fatalf("agent restart: %+v %v", rep, err)
	}
	for _, e := range p.log()[before:] {
		s := strings.Join(e.Argv, " ")
		if strings.HasPrefix(s, "drbdadm down") || strings.HasPrefix(s, "drbdadm secondary") || strings.HasPrefix(s, "drbdadm up") {
			t.Fatalf("agent issued %s", s)
		}
	}
	if !p.mounted(0) {
		t.Fatal("target lost its mount")
	}
}

func TestStartWaitsForUpToDate(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD9)
	must(t, p.w.SetSyncPolls(3))
	p.mustBringUp()
	log := p.log()
	var forced, promoted int
	for i, e := range log {
		s := strings.Join(e.Argv, " ")
		if s == "drbdadm primary --force lfs1-mdt0" {
			forced = i
		}
		if s == "drbdadm primary lfs1-mdt0" {
			promoted = i
		}
	}
	if forced == 0 {
		t.Fatal("no initial sync")
	}
	if promoted != 0 {
		t.Fatalf("promoted again at %d although the forced side is already Primary", promoted)
	}
	// The peer, started on its own, times out while its disk is not
	// UpToDate instead of promoting stale data.
	p2 := newPair(t, hostsim.DRBD9)
	for i := range hosts {
		_, err := drbd.Ensure(context.Background(), p2.host(i), p2.srv[i].Resource)
		must(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := Start(ctx, p2.host(1), p2.srv[1]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("non-preferred start on a new pair: %v", err)
	}
	for k := range p2.destructiveRuns() {
		if strings.HasPrefix(k, "s2: drbdadm primary") {
			t.Fatal("the non-preferred node forced the initial sync")
		}
	}
}

func TestExistingTargetIsNotReformatted(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD84)
	p.mustBringUp()
	ctx := context.Background()
	other := p.srv[0].Target
	other.Type, other.MGS, other.Index, other.MGSNodes = OST, false, 3, []string{"10.0.0.1@tcp"}
	if _, err := EnsureFormatted(ctx, p.host(0), other, nil); err == nil || !strings.Contains(err.Error(), "already Lustre target lfs1-MDT0000") {
		t.Fatalf("formatting an MDT as an OST: %v", err)
	}
	formatted, err := EnsureFormatted(ctx, p.host(0), p.srv[0].Target, nil)
	if err != nil || formatted {
		t.Fatalf("second format: %v %v", formatted, err)
	}
	if n := p.destructiveRuns()["s1: mkfs.lustre"]; n != 1 {
		t.Fatalf("mkfs.lustre ran %d times", n)
	}
}

// On a fresh install every target starts at once. An OST whose first
// mount runs before its MGS serves fails (the MGS does not answer), keeps
// its new label lfs1:OST0000, and must start once the MGS is up, without a
// second mkfs: the label read as "another target" made it fail forever
// (lustre-facts.md: labels before and after the first mount).
func TestNewOSTStartsOnceItsMGSServes(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD84)
	ctx := context.Background()
	must(t, p.w.AddDisk("c1", "/dev/sdc", 1<<30))
	ost := Server{
		Pool:     zfs.Pool{Name: "lfs1-ost0", Vdevs: []string{"/dev/sdc"}},
		Target:   Target{FSName: "lfs1", Type: OST, Index: 0, Pool: "lfs1-ost0", Dataset: "ost0", MountPoint: "/mnt/lustre/lfs1-ost0", MGSNodes: []string{hostsim.PairAddress(0) + "@tcp"}},
		Networks: []string{"tcp0(eth1)"},
	}
	c1 := p.w.Host("c1")
	_, err := Start(ctx, c1, ost)
	if err == nil || !strings.Contains(err.Error(), "first mount of lfs1-OST0000 registers it with the MGS") || !strings.Contains(err.Error(), "Connection timed out") {
		t.Fatalf("OST start before its MGS: %v", err)
	}
	if formatted, err := Formatted(ctx, c1, ost.Target); err != nil || !formatted {
		t.Fatalf("a formatted, never mounted OST: formatted=%v err=%v", formatted, err)
	}
	p.mustBringUp() // the MGS (with MDT0) serves now
	rep, err := Start(ctx, c1, ost)
	if err != nil || !rep.Mounted || rep.Formatted {
		t.Fatalf("OST start once the MGS serves: %+v %v", rep, err)
	}
	if n := p.destructiveRuns()["c1: mkfs.lustre"]; n != 1 {
		t.Fatalf("mkfs.lustre ran %d times on c1", n)
	}
}

// A takeover from a holder whose Lease expired (it crashed) imports with
// -f at once: every import of a pool another host left active waits for
// the MMP activity check, so a refused plain import first would wait twice
// and outlast the start attempt on real hosts.
func TestTakeoverFromACrashedHolderImportsOnce(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD84)
	for i := range p.srv {
		p.srv[i].Resource.Fence = true
	}
	// The fence decision (the Lease, in the pods): the peer is gone.
	p.w.RegisterHandler(drbd.FencePeerHandler, func(string, string, map[string]string) int { return 7 })
	p.mustBringUp()
	must(t, p.w.Crash(hosts[0]))
	s := p.srv[1]
	s.TakeOver, s.PreviousHolderGone = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Start(ctx, p.host(1), s)
	if err != nil || !rep.TookOver || !rep.Mounted {
		t.Fatalf("takeover on %s: %+v %v", hosts[1], rep, err)
	}
	var imports []string
	for _, e := range p.log() {
		if c := strings.Join(e.Argv, " "); e.Host == hosts[1] && strings.HasPrefix(c, "zpool import") {
			imports = append(imports, c)
		}
	}
	if len(imports) != 1 || !strings.Contains(imports[0], "import -f ") {
		t.Fatalf("imports on %s: %q, want one zpool import -f", hosts[1], imports)
	}
}
