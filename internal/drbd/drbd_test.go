package drbd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

func resource(local, peer int) Resource {
	nodes := []Node{
		{Name: "s1", Disk: "/dev/sdb", Address: hostsim.PairAddress(0)},
		{Name: "s2", Disk: "/dev/sdb", Address: hostsim.PairAddress(1)},
	}
	return Resource{Name: "r0", Minor: 0, Port: 7788, Local: nodes[local], Peer: nodes[peer]}
}

func newWorld(t *testing.T, version string) *hostsim.World {
	t.Helper()
	w, err := hostsim.OpenPair(t.TempDir(), version, "s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// ensureBoth runs the DRBD agent step on both nodes.
func ensureBoth(t *testing.T, w *hostsim.World) {
	t.Helper()
	ctx := context.Background()
	for i, n := range []string{"s1", "s2"} {
		if _, err := Ensure(ctx, w.Host(n), resource(i, 1-i)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
}

// ran returns what one host ran, from the world's log, starting with
// prefix (see hostsim.World.Ran).
func ran(t *testing.T, w *hostsim.World, hostName, prefix string) []string {
	t.Helper()
	out, err := w.Ran(hostName, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRender(t *testing.T) {
	t.Parallel()
	a, err := Render(resource(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(resource(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("the two nodes render different files:\n%s\n%s", a, b)
	}
	if strings.Contains(string(a), "handlers") {
		t.Errorf("handlers rendered without Fence:\n%s", a)
	}
	fa, fb := resource(0, 1), resource(1, 0)
	fa.Fence, fb.Fence = true, true
	fenced, err := Render(fa)
	if err != nil {
		t.Fatal(err)
	}
	if other, _ := Render(fb); string(fenced) != string(other) {
		t.Fatalf("the two nodes render different fenced files:\n%s\n%s", fenced, other)
	}
	for _, want := range []string{"fencing resource-and-stonith;", "  handlers {\n", `    fence-peer "/var/lib/kube-lustre/bin/drbd fence-peer";`, `    after-resync-target "/var/lib/kube-lustre/bin/drbd unfence";`} {
		if !strings.Contains(string(fenced), want) {
			t.Errorf("fenced file lacks %q:\n%s", want, fenced)
		}
	}
	if strings.Contains(string(fenced), "resource-only") {
		t.Errorf("fenced file still says resource-only:\n%s", fenced)
	}
	for _, want := range []string{"protocol C;", "fencing resource-only;", "after-sb-0pri disconnect;", "after-sb-1pri disconnect;", "after-sb-2pri disconnect;",
		"on s1 {", "device /dev/drbd0 minor 0;", "address 10.0.0.2:7788;", "meta-disk internal;"} {
		if !strings.Contains(string(a), want) {
			t.Errorf("rendered file lacks %q:\n%s", want, a)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		mod  func(r *Resource)
		want string
	}{
		{"ok", func(r *Resource) {}, ""},
		{"bad name", func(r *Resource) { r.Name = "r0; x" }, "resource name"},
		{"port", func(r *Resource) { r.Port = 0 }, "port"},
		{"protocol", func(r *Resource) { r.Protocol = "D" }, "protocol"},
		{"disk", func(r *Resource) { r.Local.Disk = "sdb" }, "must be a /dev path"},
		{"disk injection", func(r *Resource) { r.Peer.Disk = "/dev/sdb; }" }, "must be a /dev path"},
		{"address", func(r *Resource) { r.Peer.Address = "s2" }, "IPv4"},
		{"same node", func(r *Resource) { r.Peer.Name = "s1" }, "same node"},
		{"minor", func(r *Resource) { r.Minor = -1 }, "minor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := resource(0, 1)
			tc.mod(&r)
			err := r.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if _, rerr := Render(r); (rerr == nil) != (err == nil) {
				t.Fatalf("Render disagrees with Validate: %v", rerr)
			}
		})
	}
}

func TestEnsureFreshPairIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, v := range []string{hostsim.DRBD84, hostsim.DRBD9} {
		t.Run(v, func(t *testing.T) {
			w := newWorld(t, v)
			ctx := context.Background()
			rep, err := Ensure(ctx, w.Host("s1"), resource(0, 1))
			if err != nil {
				t.Fatal(err)
			}
			if !rep.ConfigWritten || !rep.CreatedMD || !rep.BroughtUp || rep.State.Disk != "Inconsistent" {
				t.Fatalf("first run: %+v", rep)
			}
			before := len(ran(t, w, "s1", ""))
			rep, err = Ensure(ctx, w.Host("s1"), resource(0, 1))
			if err != nil {
				t.Fatal(err)
			}
			if rep.ConfigWritten || rep.CreatedMD || rep.BroughtUp {
				t.Fatalf("second run changed something: %+v", rep)
			}
			for _, c := range ran(t, w, "s1", "")[before:] {
				c = strings.TrimPrefix(c, "s1: ")
				if !strings.HasPrefix(c, "test ") && !strings.HasPrefix(c, "cat ") && !strings.HasPrefix(c, "drbdadm role") && !strings.HasPrefix(c, "drbdadm cstate") && !strings.HasPrefix(c, "drbdadm dstate") {
					t.Errorf("second run issued %q; it should only observe", c)
				}
			}
		})
	}
}

func TestInitialSyncOnlyOnBrandNewPair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, hostsim.DRBD9)
	ensureBoth(t, w)
	// The peer is not allowed to force: only the caller decides who is
	// preferred, but the state check alone must not let a second force
	// through once the pair holds data.
	forced, err := InitialSync(ctx, w.Host("s1"), resource(0, 1))
	if err != nil || !forced {
		t.Fatalf("brand-new pair: forced=%v err=%v", forced, err)
	}
	for i, n := range []string{"s1", "s2"} {
		forced, err := InitialSync(ctx, w.Host(n), resource(i, 1-i))
		if err != nil || forced {
			t.Fatalf("%s: forced a second time (%v, %v)", n, forced, err)
		}
	}
	st, err := Observe(ctx, w.Host("s2"), resource(1, 0))
	if err != nil || st.Disk != "UpToDate" || st.PeerDisk != "UpToDate" || st.Role != "Secondary" {
		t.Fatalf("after sync s2: %v %v", st, err)
	}
	if got := ran(t, w, "s1", "drbdadm primary --force"); len(got) != 1 {
		t.Fatalf("primary --force issued %d times", len(got))
	}
}

func TestInitialSyncNeedsConnectedPeer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	ctx := context.Background()
	if _, err := Ensure(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	forced, err := InitialSync(ctx, w.Host("s1"), resource(0, 1))
	if err != nil || forced {
		t.Fatalf("forced without a peer: %v %v", forced, err)
	}
}

func TestExistingMetadataIsNeverRecreatedOrForced(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD9)
	for _, n := range []string{"s1", "s2"} {
		if err := w.SetSignature(n, "/dev/sdb", hostsim.SigDRBD); err != nil {
			t.Fatal(err)
		}
	}
	ensureBoth(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, forced, err := WaitUpToDate(ctx, w.Host("s1"), resource(0, 1), WaitOptions{Poll: time.Millisecond, InitialSync: true})
	// Both sides hold metadata of unrelated data: DRBD refuses to connect
	// and nothing here may pick a winner.
	if forced {
		t.Fatal("forced a resource that holds data")
	}
	if err != nil {
		t.Fatalf("unrelated data sides are each UpToDate locally, wait should succeed: %v", err)
	}
	for _, n := range []string{"s1", "s2"} {
		if c := ran(t, w, n, "drbdadm create-md"); len(c) != 0 {
			t.Fatalf("%s: create-md over existing metadata: %v", n, c)
		}
		if c := ran(t, w, n, "drbdadm primary"); len(c) != 0 {
			t.Fatalf("%s: promoted: %v", n, c)
		}
	}
	st, err := Observe(context.Background(), w.Host("s1"), resource(0, 1))
	if err != nil || st.CState != "StandAlone" {
		t.Fatalf("unrelated data should leave StandAlone: %v %v", st, err)
	}
}

func TestSignaturesBlockCreateMD(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{hostsim.SigExt4, hostsim.SigXFS, hostsim.SigZFSMember} {
		t.Run(sig, func(t *testing.T) {
			w := newWorld(t, hostsim.DRBD84)
			if err := w.SetSignature("s1", "/dev/sdb", sig); err != nil {
				t.Fatal(err)
			}
			_, err := Ensure(context.Background(), w.Host("s1"), resource(0, 1))
			var nb *host.NotBlankError
			if !errors.As(err, &nb) {
				t.Fatalf("Ensure on a %s disk: %v, want NotBlankError", sig, err)
			}
			if c := ran(t, w, "s1", "drbdadm create-md"); len(c) != 0 {
				t.Fatalf("create-md issued: %v", c)
			}
		})
	}
}

func TestFailedProbesAreNotBlank(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		match hostsim.Match
		res   host.Result
	}{
		{"wipefs fails", hostsim.Match{Args: []string{"wipefs"}}, host.Result{Stderr: "wipefs: error: /dev/sdb: probing initialization failed: Input/output error\n", ExitCode: 1}},
		{"wipefs killed", hostsim.Match{Args: []string{"wipefs"}}, host.Result{ExitCode: 137}},
		{"blkid reports a missing device", hostsim.Match{Args: []string{"blkid"}}, host.Result{Stderr: "blkid: error: /dev/sdb: No such file or directory\n", ExitCode: 2}},
		{"blkid other error", hostsim.Match{Args: []string{"blkid"}}, host.Result{ExitCode: 4}},
		{"dump-md cannot open", hostsim.Match{Args: []string{"drbdadm", "dump-md"}}, host.Result{Stderr: "open(/dev/sdb) failed: Permission denied\n", ExitCode: 20}},
		{"dump-md exit 255 other message", hostsim.Match{Args: []string{"drbdadm", "dump-md"}}, host.Result{Stderr: "drbdmeta: cannot read\n", ExitCode: 255}},
		{"dump-md killed", hostsim.Match{Args: []string{"drbdadm", "dump-md"}}, host.Result{ExitCode: 137}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, hostsim.DRBD84)
			if err := w.FailNext("s1", tc.match, tc.res); err != nil {
				t.Fatal(err)
			}
			if _, err := Ensure(context.Background(), w.Host("s1"), resource(0, 1)); err == nil {
				t.Fatal("Ensure succeeded although a probe failed")
			}
			if c := ran(t, w, "s1", "drbdadm create-md"); len(c) != 0 {
				t.Fatalf("create-md issued after a failed probe: %v", c)
			}
		})
	}
}

func TestHangingProbeTimesOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	if err := w.Hang("s1", hostsim.Match{Args: []string{"blkid"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Ensure(ctx, w.Host("s1"), resource(0, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ensure = %v, want deadline exceeded", err)
	}
	if c := ran(t, w, "s1", "drbdadm create-md"); len(c) != 0 {
		t.Fatalf("create-md issued: %v", c)
	}
}

func TestEnsureLeavesPrimaryUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	ensureBoth(t, w)
	ctx := context.Background()
	if _, err := InitialSync(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	// A changed file (new port) is rewritten, but the running resource is
	// neither taken down nor demoted.
	r := resource(0, 1)
	r.Port = 7789
	rep, err := Ensure(ctx, w.Host("s1"), r)
	if err != nil || !rep.ConfigWritten || rep.BroughtUp || rep.State.Role != "Primary" {
		t.Fatalf("Ensure on a Primary: %+v %v", rep, err)
	}
	for _, c := range ran(t, w, "s1", "drbdadm") {
		if strings.HasPrefix(c, "s1: drbdadm down") || strings.HasPrefix(c, "s1: drbdadm secondary") {
			t.Fatalf("agent issued %q on a Primary", c)
		}
	}
}

func TestPromoteDemote(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD9)
	ensureBoth(t, w)
	ctx := context.Background()
	if err := Promote(ctx, w.Host("s1"), resource(0, 1)); !host.ExitedWith(err, 17, "Need access to UpToDate data") {
		t.Fatalf("promoting Inconsistent data: %v", err)
	}
	if _, err := InitialSync(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := Promote(ctx, w.Host("s2"), resource(1, 0)); !host.ExitedWith(err, 11, "Multiple primaries not allowed by config") {
		t.Fatalf("promoting while the peer is Primary: %v", err)
	}
	for _, step := range []struct {
		host string
		i    int
		fn   func(context.Context, host.Runner, Resource) error
		role string
	}{
		{"s1", 0, Promote, "Primary"}, // already Primary: no-op
		{"s1", 0, Demote, "Secondary"},
		{"s1", 0, Demote, "Secondary"}, // already Secondary: no-op
		{"s2", 1, Promote, "Primary"},
	} {
		if err := step.fn(ctx, w.Host(step.host), resource(step.i, 1-step.i)); err != nil {
			t.Fatal(err)
		}
		st, err := Observe(ctx, w.Host(step.host), resource(step.i, 1-step.i))
		if err != nil || st.Role != step.role {
			t.Fatalf("%s: %v %v, want %s", step.host, st, err, step.role)
		}
	}
	// One refused attempt on Inconsistent data; the later Promote of a
	// Primary issued nothing.
	if n := len(ran(t, w, "s1", "drbdadm primary r0")); n != 1 {
		t.Fatalf("s1 issued a plain primary %d times, want 1", n)
	}
}

func TestWaitUpToDateTimesOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	ensureBoth(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	st, forced, err := WaitUpToDate(ctx, w.Host("s2"), resource(1, 0), WaitOptions{Poll: time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || forced || st.Disk != "Inconsistent" {
		t.Fatalf("wait = %v %v %v", st, forced, err)
	}
}

func TestObserveDown(t *testing.T) {
	t.Parallel()
	for _, v := range []string{hostsim.DRBD84, hostsim.DRBD9} {
		w := newWorld(t, v)
		if _, _, err := writeConfig(context.Background(), w.Host("s1"), resource(0, 1)); err != nil {
			t.Fatal(err)
		}
		st, err := Observe(context.Background(), w.Host("s1"), resource(0, 1))
		if err != nil || st.Up {
			t.Fatalf("%s: down resource observed as %v, %v", v, st, err)
		}
		if err := w.FailNext("s1", hostsim.Match{Args: []string{"drbdadm", "role"}}, host.Result{Stderr: "Could not connect to 'drbd' generic netlink family\n", ExitCode: 20}); err != nil {
			t.Fatal(err)
		}
		if _, err := Observe(context.Background(), w.Host("s1"), resource(0, 1)); err == nil {
			t.Fatalf("%s: an unknown failure was taken as an answer", v)
		}
	}
}

func TestProveBlank(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, hostsim.DRBD84)
	r := resource(0, 1)
	if _, _, err := writeConfig(ctx, w.Host("s1"), r); err != nil {
		t.Fatal(err)
	}
	if err := ProveBlank(ctx, w.Host("s1"), r); err != nil {
		t.Fatalf("blank disk: %v", err)
	}
	if err := w.SetSignature("s1", "/dev/sdb", hostsim.SigDRBD); err != nil {
		t.Fatal(err)
	}
	var nb *host.NotBlankError
	if err := ProveBlank(ctx, w.Host("s1"), r); !errors.As(err, &nb) {
		t.Fatalf("disk with DRBD metadata: %v", err)
	}
}

// An upgrade that turns fencing on reaches a running resource (adjust, once,
// Primary untouched); any other change to a running resource's file is
// written but only reported as pending, never adjusted into a serving
// Primary.
func TestEnsureAdjustsOnlyTheFencingPolicy(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	ensureBoth(t, w)
	ctx := context.Background()
	if _, err := InitialSync(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	fenced := resource(0, 1)
	fenced.Fence = true
	rep, err := Ensure(ctx, w.Host("s1"), fenced)
	if err != nil || !rep.ConfigWritten || !rep.Adjusted || rep.Pending || rep.State.Role != "Primary" {
		t.Fatalf("turning fencing on: %+v %v", rep, err)
	}
	if rep, err = Ensure(ctx, w.Host("s1"), fenced); err != nil || rep.ConfigWritten || rep.Adjusted {
		t.Fatalf("second Ensure: %+v %v", rep, err)
	}
	if got := ran(t, w, "s1", "drbdadm adjust"); len(got) != 1 {
		t.Fatalf("adjusts %v, want one", got)
	}
	// The policy is live: losing the peer now runs the (missing) handler
	// and freezes I/O, which resource-only never does.
	if err := w.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if got := ran(t, w, "s1", FencePeerHandler); len(got) != 1 {
		t.Fatalf("fence-peer runs %v, want one after the adjust", got)
	}
	moved := fenced
	moved.Local.Disk = "/dev/sdc"
	if rep, err = Ensure(ctx, w.Host("s1"), moved); err != nil || !rep.ConfigWritten || rep.Adjusted || !rep.Pending {
		t.Fatalf("disk change on a running Primary: %+v %v", rep, err)
	}
	if got := ran(t, w, "s1", "drbdadm adjust"); len(got) != 1 {
		t.Fatalf("adjusts %v after a disk change, want still one", got)
	}
}

// A node replaced: its successor's section reaches the running resource of
// the node that stayed (adjust, which connects to the new address) only
// while no link is up, so a connected Primary is never disconnected by an
// upgrade; a change of only the peer's disk path applies nothing. The new
// node then resyncs from the Primary, which served throughout.
func TestEnsureTakesANewPeerOnlyWhileUnconnected(t *testing.T) {
	t.Parallel()
	w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD84, "s1", "s2", "s3")
	if err != nil {
		t.Fatal(err)
	}
	ensureBoth(t, w)
	ctx := context.Background()
	s1 := w.Host("s1")
	if _, err := InitialSync(ctx, s1, resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	newDisk := resource(0, 1)
	newDisk.Peer.Disk = "/dev/sdc"
	if rep, err := Ensure(ctx, s1, newDisk); err != nil || !rep.ConfigWritten || rep.Adjusted || rep.Pending {
		t.Fatalf("the peer's disk path changed: %+v %v", rep, err)
	}
	s3 := Node{Name: "s3", Disk: "/dev/sdb", Address: hostsim.PairAddress(2)}
	moved := resource(0, 1)
	moved.Peer = s3
	if rep, err := Ensure(ctx, s1, moved); err != nil || rep.Adjusted || !rep.Pending || !rep.State.InSync() {
		t.Fatalf("a new peer while connected to the old one: %+v %v", rep, err)
	}
	if _, err := Ensure(ctx, s1, resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	if got := ran(t, w, "s1", "drbdadm adjust"); len(got) != 0 {
		t.Fatalf("adjusted while connected: %v", got)
	}

	if err := w.Crash("s2"); err != nil { // gone for good
		t.Fatal(err)
	}
	rep, err := Ensure(ctx, s1, moved)
	if err != nil || !rep.Adjusted || rep.Pending || rep.State.Role != "Primary" {
		t.Fatalf("a new peer with the old one gone: %+v %v", rep, err)
	}
	if _, err := Ensure(ctx, w.Host("s3"), Resource{Name: "r0", Minor: 0, Port: 7788, Local: s3, Peer: moved.Local}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := Observe(ctx, w.Host("s3"), Resource{Name: "r0", Minor: 0, Port: 7788, Local: s3, Peer: moved.Local})
		if err == nil && st.InSync() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3 never synced from s1: %+v %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, err := Observe(ctx, s1, moved); err != nil || st.Role != "Primary" || !st.InSync() {
		t.Fatalf("s1 after the move: %+v %v", st, err)
	}
}

// HasMetadata reads drbdmeta's answer: "No valid meta data found" is the
// one proof of none, with exit 1 (drbd-utils 9.22 on the 8.4 kernel, make
// e2e-vm) or 255; unclean metadata is metadata; anything else is unknown.
func TestHasMetadataAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		res     host.Result
		has     bool
		wantErr bool
	}{
		{"none, exit 1", host.Result{Stderr: "No valid meta data found\n", ExitCode: 1}, false, false},
		{"none, exit 255", host.Result{Stderr: "No valid meta data found\n", ExitCode: 255}, false, false},
		{"unclean, exit 1", host.Result{Stderr: "Found meta data is \"unclean\", please apply-al first\n", ExitCode: 1}, true, false},
		{"busy", host.Result{Stdout: "Operation canceled.\n", Stderr: "open(/dev/sdb) failed: Device or resource busy\n", ExitCode: 20}, false, true},
		{"exit 1, other message", host.Result{Stderr: "open(/dev/sdb) failed: Input/output error\n", ExitCode: 1}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, hostsim.DRBD84)
			if err := w.FailNext("s1", hostsim.Match{Args: []string{"drbdadm", "dump-md"}}, tc.res); err != nil {
				t.Fatal(err)
			}
			has, err := HasMetadata(context.Background(), w.Host("s1"), resource(0, 1))
			if has != tc.has || (err != nil) != tc.wantErr {
				t.Fatalf("HasMetadata = %v, %v; want %v, error %v", has, err, tc.has, tc.wantErr)
			}
		})
	}
}

// The first promote after the peer crashed may be refused while DRBD has
// not fenced yet ((-7), seen on real kernels); Promote asks again within
// the same call instead of failing the start attempt.
func TestPromoteRetriesWhileTheFenceIsPending(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	ensureBoth(t, w)
	ctx := context.Background()
	if _, err := InitialSync(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := Demote(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	refused := host.Result{ExitCode: 11, Stderr: "r0: State change failed: (-7) Refusing to be Primary while peer is not outdated\nCommand 'drbdsetup-84 primary 0' terminated with exit code 11\n"}
	if err := w.FailNext("s1", hostsim.Match{Args: []string{"drbdadm", "primary"}}, refused); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { PromoteRetry = d }(PromoteRetry)
	PromoteRetry = 10 * time.Millisecond
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := Promote(actx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatalf("promote after one (-7) refusal: %v", err)
	}
	if n := len(ran(t, w, "s1", "drbdadm primary r0")); n != 2 {
		t.Fatalf("drbdadm primary ran %d times, want the refused one and the retry", n)
	}
	// A live, connected Primary peer is not waited for.
	if err := Promote(ctx, w.Host("s2"), resource(1, 0)); !host.ExitedWith(err, 11, "Multiple primaries") {
		t.Fatalf("promote while the peer is Primary: %v", err)
	}
}

// failover.drbd's timing lands in the net section; out-of-range values
// are refused before a file is written.
func TestRenderTiming(t *testing.T) {
	t.Parallel()
	r := resource(0, 1)
	r.Timing = Timing{PingIntSeconds: 3, PingTimeoutTenths: 10, ConnectIntSeconds: 3}
	b, err := Render(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "  net {\n    protocol C;\n    ping-int 3;\n    ping-timeout 10;\n    connect-int 3;\n    after-sb-0pri disconnect;") {
		t.Fatalf("net section:\n%s", b)
	}
	r.Timing.PingTimeoutTenths = 301
	if _, err := Render(r); err == nil || !strings.Contains(err.Error(), "ping-timeout 301") {
		t.Fatalf("ping-timeout 301: %v", err)
	}
}

// The states a quiet Lease hangs on: the connected Primary keeps its peer
// Secondary; once the link is cut, the UpToDate Secondary has lost its
// Primary peer and the link is seen down from both sides by the one-command
// probe; a resource that is down has no link to lose.
func TestLinkStatesForQuietLeases(t *testing.T) {
	t.Parallel()
	w := newWorld(t, hostsim.DRBD84)
	ensureBoth(t, w)
	ctx := context.Background()
	if _, err := InitialSync(ctx, w.Host("s1"), resource(0, 1)); err != nil {
		t.Fatal(err)
	}
	observe := func(node string, r Resource) State {
		t.Helper()
		st, err := Observe(ctx, w.Host(node), r)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	linkDown := func(node string, r Resource) bool {
		t.Helper()
		down, err := PeerLinkDown(ctx, w.Host(node), r)
		if err != nil {
			t.Fatal(err)
		}
		return down
	}
	if st := observe("s1", resource(0, 1)); !st.KeepsPeerSecondary() || st.LostPrimaryPeer() {
		t.Fatalf("connected Primary: %s", st)
	}
	if st := observe("s2", resource(1, 0)); st.KeepsPeerSecondary() || st.LostPrimaryPeer() || linkDown("s2", resource(1, 0)) {
		t.Fatalf("connected Secondary: %s", st)
	}
	if err := w.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if st := observe("s1", resource(0, 1)); st.KeepsPeerSecondary() || !linkDown("s1", resource(0, 1)) {
		t.Fatalf("Primary without its link: %s", st)
	}
	if st := observe("s2", resource(1, 0)); !st.LostPrimaryPeer() || !linkDown("s2", resource(1, 0)) {
		t.Fatalf("UpToDate Secondary without its link: %s", st)
	}
	if _, err := host.Run(ctx, w.Host("s2"), "drbdadm", "down", "r0"); err != nil {
		t.Fatal(err)
	}
	if linkDown("s2", resource(1, 0)) {
		t.Fatal("a resource that is down reported a lost link")
	}
}

// The resync progress the DRBD agent exports (metrics: sync_done_ratio):
// 8.4 shows it only in /proc/drbd, DRBD 9 in drbdadm status. Read while
// resyncing, it is between 0 and 1 and grows; once in sync there is none
// to read, and SyncDone says so rather than guessing.
func TestSyncDoneDuringAResync(t *testing.T) {
	t.Parallel()
	for _, version := range []string{hostsim.DRBD84, hostsim.DRBD9} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			w := newWorld(t, version)
			if err := w.SetSyncPolls(40); err != nil {
				t.Fatal(err)
			}
			ensureBoth(t, w)
			if forced, err := InitialSync(ctx, w.Host("s1"), resource(0, 1)); err != nil || !forced {
				t.Fatalf("initial sync: %v %v", forced, err)
			}
			var seen []float64
			for range 20 {
				st, err := Observe(ctx, w.Host("s2"), resource(1, 0))
				if err != nil {
					t.Fatal(err)
				}
				if st.InSync() {
					break
				}
				if !st.Resyncing() {
					t.Fatalf("during the initial sync: %s is not Resyncing", st)
				}
				done, err := SyncDone(ctx, w.Host("s2"), resource(1, 0))
				if err != nil {
					// The resync may end between two reads, as on a real
					// kernel: then it must be over.
					if now, _ := Observe(ctx, w.Host("s2"), resource(1, 0)); !now.InSync() {
						t.Fatalf("resyncing (%s, now %s): %v", st, now, err)
					}
					break
				}
				if done < 0 || done >= 1 || (len(seen) > 0 && done < seen[len(seen)-1]) {
					t.Fatalf("progress %v after %v", done, seen)
				}
				seen = append(seen, done)
			}
			if len(seen) < 2 || seen[len(seen)-1] <= seen[0] {
				t.Fatalf("progress seen: %v, want it growing over the resync", seen)
			}
			if _, err := SyncDone(ctx, w.Host("s2"), resource(1, 0)); err == nil {
				t.Fatal("in sync: SyncDone gave a value, want an error (nothing to read)")
			}
		})
	}
}

func TestProcSynced(t *testing.T) {
	t.Parallel()
	// The layout DRBD 8.4's documentation shows: each minor's line, its
	// counters, and during a resync the progress bar.
	proc := `version: 8.4.11 (api:1/proto:86-101)
srcversion: 0A9D94D5BC2E5E6B1C4E1E7
 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----
    ns:1024 nr:0 dw:1024 dr:2048 al:1 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
 1: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----
    ns:524288 nr:0 dw:0 dr:524288 al:0 bm:0 lo:0 pe:2 ua:0 ap:0 ep:1 wo:f oos:1048576
	[=====>..............] sync'ed: 33.4% (1024/1536)M
	finish: 0:00:21 speed: 48,564 (48,564) K/sec
`
	for _, c := range []struct {
		minor     int
		pct       float64
		found, ok bool
	}{{1, 33.4, true, true}, {0, 0, true, false}, {7, 0, false, true}} {
		pct, found, err := procSynced(proc, c.minor)
		if pct != c.pct || found != c.found || (err == nil) != c.ok {
			t.Errorf("minor %d: %v %v %v, want %v %v ok=%v", c.minor, pct, found, err, c.pct, c.found, c.ok)
		}
	}
	if _, found, err := procSynced("version: 9.2.8 (api:2/proto:86-122)\n", 0); found || err != nil {
		t.Errorf("DRBD 9's /proc/drbd: found=%v err=%v, want neither", found, err)
	}
}
