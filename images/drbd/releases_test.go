package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

// Two releases (filesystems lfsa and lfsb) replicate over the same pair of
// simulated hosts, and their DRBD agents on s1 serve their fence sockets
// one after the other. The second must not take the first's socket: when
// the link breaks, each Primary's fence-peer reaches the agent of its own
// release, which marks s2 outdated on its own Lease, and no I/O freezes.
// An agent restarting replaces only its own release's stale socket, and
// the handler program finds each release's socket by the resource name.
func TestTwoReleasesOnOneHostEachAnswerTheirOwnFences(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	worldDir := filepath.Join(t.TempDir(), "world")
	w, err := hostsim.Open(worldDir)
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{"s1": "10.0.0.1", "s2": "10.0.0.2"}
	disks := map[string]string{"lfsa": "/dev/vdb", "lfsb": "/dev/vdc"}
	for _, n := range []string{"s1", "s2"} {
		if err := w.AddHost(n, hostsim.HostConfig{Interfaces: map[string]string{"eth1": addr[n]}}); err != nil {
			t.Fatal(err)
		}
		for _, d := range disks {
			if err := w.AddDisk(n, d, 1<<30); err != nil {
				t.Fatal(err)
			}
		}
	}
	store := leasetest.New()
	api := store.Client(nil)
	releases := []string{"lfsa", "lfsb"}
	resource := func(fsname, self, peer string, minor int) drbd.Resource {
		return drbd.Resource{Name: fsname + "-mdt0", Minor: minor, Port: 7788 + minor, Fence: true,
			Local: drbd.Node{Name: self, Disk: disks[fsname], Address: addr[self]},
			Peer:  drbd.Node{Name: peer, Disk: disks[fsname], Address: addr[peer]}}
	}
	run := func(node string, argv ...string) {
		t.Helper()
		if _, err := host.Run(ctx, w.Host(node), argv[0], argv[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for minor, fsname := range releases {
		for _, pair := range [][2]string{{"s1", "s2"}, {"s2", "s1"}} {
			r := resource(fsname, pair[0], pair[1], minor)
			conf, err := drbd.Render(r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Host(pair[0]).Run(ctx, host.Cmd{Name: "tee", Args: []string{r.ConfPath()}, Stdin: conf}); err != nil {
				t.Fatal(err)
			}
			run(pair[0], "drbdadm", "create-md", "--force", r.Name)
			run(pair[0], "drbdadm", "up", r.Name)
		}
		run("s1", "drbdadm", "primary", "--force", fsname+"-mdt0")
		lease := &failover.Lease{Client: api, Name: fsname + "-mdt0", Identity: "s1", Duration: 10 * time.Second}
		if err := lease.TryAcquire(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Each release's agent on s1, as `drbd run` starts it on a simulated
	// host; the second starts while the first is serving.
	rt := &entry.Runtime{Env: entry.Env{Node: "s1", HostSim: worldDir}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard}
	serve := func(fsname string) {
		t.Helper()
		f := &failover.Fencer{Leases: api, Node: "s1",
			Resources: map[string]failover.Fenced{fsname + "-mdt0": {Lease: fsname + "-mdt0", Peer: "s2"}}}
		if err := serveSocket(ctx, rt, fsname, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, fsname := range releases {
		serve(fsname)
	}
	// The first release's agent restarts (a rolling update): it replaces
	// its own socket and leaves the other release's alone.
	serve("lfsa")

	if err := w.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	log, err := w.Log()
	if err != nil {
		t.Fatal(err)
	}
	fenced := map[string]int{}
	for _, e := range log {
		if e.Host == "s1" && e.Event == "helper fence-peer" {
			fenced[e.Argv[len(e.Argv)-1]] = e.Exit
		}
	}
	for _, fsname := range releases {
		res := fsname + "-mdt0"
		if code, ok := fenced[res]; !ok || code != failover.FencedOutdated {
			t.Errorf("fence-peer of %s on s1: exit %d (ran %v), want %d from its own release's agent", res, code, ok, failover.FencedOutdated)
		}
		if m, _ := failover.Outdated(ctx, api, res); m != "s2" {
			t.Errorf("Lease %s marks %q outdated, want s2", res, m)
		}
		if _, _, _, peerDisk, _, _ := w.DRBDState("s1", res); peerDisk != "Outdated" {
			t.Errorf("%s on s1: peer disk %s, want Outdated after a successful fence", res, peerDisk)
		}
	}
	for _, e := range log {
		if e.Event == "io-frozen" {
			t.Errorf("I/O frozen on %s: %v", e.Host, e.Argv)
		}
	}

	// The handler program, as DRBD runs it on a host, finds each release's
	// socket by the resource it is asked about.
	dir := filepath.Join(worldDir, simSockDir("s1"))
	for _, fsname := range releases {
		t.Setenv("KUBE_LUSTRE_FENCE_DIR", dir)
		t.Setenv("DRBD_RESOURCE", fsname+"-mdt0")
		var out, errb bytes.Buffer
		cmds := map[string]entry.Command{"fence-peer": handler(fencesock.OpFencePeer)}
		if code := entry.Main("drbd", []string{"fence-peer"}, &out, &errb, func(string) (string, bool) { return "", false }, cmds); code != failover.FencedOutdated {
			t.Errorf("drbd fence-peer for %s: exit %d, want %d\n%s", fsname, code, failover.FencedOutdated, errb.String())
		}
	}
	if got := fencesock.SocketFor(dir, "lfsb-ost3"); got != fencesock.Socket(dir, "lfsb") {
		t.Errorf("socket for lfsb-ost3: %s", got)
	}
}
