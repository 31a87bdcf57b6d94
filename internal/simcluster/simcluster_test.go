package simcluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

// The tests of this package run one at a time (no t.Parallel, unlike the
// packages below it): each runs the real agent loops against simulated
// Leases of a few seconds, and on a loaded two-core machine (make test
// builds beside them) several at once miss those timings, which is noise,
// not a finding.
func start(t *testing.T, c *Cluster) *Running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := c.Start(context.Background(), testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitReady(ctx); err != nil {
		_ = r.Stop()
		t.Fatal(err)
	}
	return r
}

var testConfig = agent.Config{Interval: 20 * time.Millisecond, StartAttempt: 500 * time.Millisecond}

// backingDisk is the DRBD backing disk the plan gives node (its only one
// in the examples).
func backingDisk(t *testing.T, c *Cluster, node string) string {
	t.Helper()
	n, ok := c.Plan.Node(node)
	if !ok || len(n.DRBD) != 1 {
		t.Fatalf("%s has no single DRBD disk in the plan", node)
	}
	return n.DRBD[0].Disk
}

func haCluster(t *testing.T) *Cluster { return cluster(t, "ha.yaml") }

func cluster(t *testing.T, example string) *Cluster {
	t.Helper()
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/" + example}})
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	c, err := New(t.TempDir(), v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The real agent loops of every pod of examples/ha.yaml bring the whole
// filesystem up on simulated hosts, stop it cleanly (nothing left Primary,
// imported or mounted, every resource still up), and a second start finds
// everything in place without running a destructive command again.
func TestHABringUpStopAndRestart(t *testing.T) {
	c := haCluster(t)
	r := start(t, c)

	for target, node := range map[string]string{"mdt0": "s1", "ost0": "s3", "ost1": "s5"} {
		mounts, err := c.World.Mounted(node)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(mounts, "/lustre/lfs1/"+target) {
			t.Errorf("%s not mounted on %s: %v", target, node, mounts)
		}
	}
	for _, cl := range []string{"c1", "c2"} {
		if mounts, _ := c.World.Mounted(cl); !slices.Contains(mounts, "/mnt/lfs1") {
			t.Errorf("client %s not mounted: %v", cl, mounts)
		}
	}
	for _, pair := range [][3]string{{"lfs1-mdt0", "s1", "s2"}, {"lfs1-ost0", "s3", "s4"}, {"lfs1-ost1", "s5", "s6"}} {
		role, cs, disk, peer, up, err := c.World.DRBDState(pair[1], pair[0])
		if err != nil || !up || role != "Primary" || cs != "Connected" || disk != "UpToDate" || peer != "UpToDate" {
			t.Errorf("%s on %s: role=%s cstate=%s disk=%s/%s up=%v err=%v", pair[0], pair[1], role, cs, disk, peer, up, err)
		}
		if role, _, _, _, _, _ := c.World.DRBDState(pair[2], pair[0]); role != "Secondary" {
			t.Errorf("%s on peer %s is %s, want Secondary", pair[0], pair[2], role)
		}
	}

	if err := r.Stop(); err != nil {
		t.Fatalf("clean stop failed: %v", err)
	}
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		if imp, _ := c.World.Imported(n); len(imp) > 0 {
			t.Errorf("%s still has pools imported after stop: %v", n, imp)
		}
		if m, _ := c.World.Mounted(n); len(m) > 0 {
			t.Errorf("%s still has mounts after stop: %v", n, m)
		}
	}
	if role, _, _, _, up, _ := c.World.DRBDState("s1", "lfs1-mdt0"); role != "Secondary" || !up {
		t.Errorf("after stop mdt0 on s1: role=%s up=%v, want Secondary and still up", role, up)
	}

	before := destructive(t, c)
	r = start(t, c)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if after := destructive(t, c); !slices.Equal(before, after) {
		t.Fatalf("restart ran destructive commands again:\nbefore %v\nafter  %v", before, after)
	}
	if len(before) != 3*2+3*3 {
		// create-md on 6 disks; per pair one primary --force, zpool create, mkfs.lustre.
		t.Fatalf("unexpected destructive commands of a fresh bring-up: %v", before)
	}
}

// destructive lists every command that writes metadata, forces a role,
// creates a pool or formats, with its host.
func destructive(t *testing.T, c *Cluster) []string {
	t.Helper()
	log, err := c.World.Log()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range log {
		cmd := strings.Join(e.Argv, " ")
		for _, p := range []string{"drbdadm create-md", "drbdadm primary --force", "zpool create", "mkfs.lustre"} {
			if strings.HasPrefix(cmd, p) {
				out = append(out, e.Host+": "+p)
			}
		}
	}
	return out
}

// examples/minimal.yaml: one server with pools on local disks (no DRBD) and
// one client. Up, clean stop (nothing imported or mounted), and a restart
// that neither recreates nor reformats anything.
func TestMinimalBringUpStopAndRestart(t *testing.T) {
	c := cluster(t, "minimal.yaml")
	r := start(t, c)
	mounts, _ := c.World.Mounted("server1")
	for _, m := range []string{"/lustre/lfs1/mdt0", "/lustre/lfs1/ost0"} {
		if !slices.Contains(mounts, m) {
			t.Errorf("%s not mounted on server1: %v", m, mounts)
		}
	}
	if m, _ := c.World.Mounted("client1"); !slices.Contains(m, "/mnt/lfs1") {
		t.Errorf("client1 not mounted: %v", m)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if imp, _ := c.World.Imported("server1"); len(imp) > 0 {
		t.Errorf("pools still imported after stop: %v", imp)
	}
	before := destructive(t, c)
	if len(before) != 4 { // two zpool create, two mkfs.lustre
		t.Fatalf("fresh bring-up destructive commands: %v", before)
	}
	r = start(t, c)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if after := destructive(t, c); !slices.Equal(before, after) {
		t.Fatalf("restart ran destructive commands again: %v", after)
	}
}

// A backing disk that carries a filesystem is never given DRBD metadata:
// the DRBD agent on that node reports why, and the target waits.
func TestDiskWithSignatureIsRefused(t *testing.T) {
	c := haCluster(t)
	if err := c.World.SetSignature("s4", backingDisk(t, c, "s4"), hostsim.SigXFS); err != nil {
		t.Fatal(err)
	}
	r, err := c.Start(context.Background(), testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err == nil {
		t.Fatal("everything ready although s4's disk carries xfs")
	}
	state, msg := podStatus(t, r, "drbd-s4").Get()
	if state != podstate.Failed || !strings.Contains(msg, "not creating metadata") || !strings.Contains(msg, "xfs") {
		t.Fatalf("drbd-s4: %s %q", state, msg)
	}
	if ran, _ := c.World.Ran("s4", "drbdadm create-md"); len(ran) != 0 {
		t.Fatalf("create-md ran on a disk with a signature: %v", ran)
	}
	if st, _ := podStatus(t, r, "target-mdt0@s1").Get(); st != podstate.Ready {
		t.Fatalf("an unrelated pair must still come up, mdt0 is %s", st)
	}
}

// A target whose mount is busy at stop: the stop fails (the pod exits
// non-zero), and the pool stays imported and the device Primary instead of
// being yanked from under its users.
func TestStopWithBusyTargetKeepsItServing(t *testing.T) {
	c := haCluster(t)
	r := start(t, c)
	if err := c.World.SetBusy("s3", "/lustre/lfs1/ost0", true); err != nil {
		t.Fatal(err)
	}
	err := r.Stop()
	if err == nil || !strings.Contains(err.Error(), "target-ost0@s3") {
		t.Fatalf("stop error = %v, want target-ost0's failure", err)
	}
	if role, _, _, _, _, _ := c.World.DRBDState("s3", "lfs1-ost0"); role != "Primary" {
		t.Fatalf("ost0 on s3 is %s after a failed stop, want Primary", role)
	}
	if imp, _ := c.World.Imported("s3"); len(imp) != 1 {
		t.Fatalf("pool not kept imported: %v", imp)
	}
}

func podStatus(t *testing.T, r *Running, name string) *Status {
	t.Helper()
	st, ok := r.Pod(name)
	if !ok {
		t.Fatalf("no pod %s; running: %v", name, r.Names())
	}
	return st
}
