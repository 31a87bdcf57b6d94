package simcluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// "Replacing one node's disk" (docs/operations.md), step by step on the
// real loops of examples/ha.yaml: ost0 is served by s3 while s4 is taken
// down, its disk pulled and a new one put in (a new /dev/disk/by-id
// name). The upgrade naming the new disk is refused unless ost0 is in
// upgrade.allowChanges; the DRBD agents roll onto it. s4's agent proves
// the new disk blank, creates metadata and resyncs from s3, which serves
// throughout and creates nothing. The target pod's next start records the
// new disk, and s4 then serves every write s3 acknowledged, the ones made
// while it was away included.
func TestReplacingOneNodesDisk(t *testing.T) {
	c := haCluster(t)
	r := start(t, c)
	defer func() { _ = r.Stop() }()
	ctx := context.Background()
	note := func(n string) {
		t.Helper()
		if _, err := host.Run(ctx, c.World.Host("s3"), "zfs", "set", "lustre:note="+n, "lfs1-ost0/ost0"); err != nil {
			t.Fatal(err)
		}
	}
	note("before")
	created := destructive(t, c)

	// 1-2. s3 serves; s4 goes down and its disk is replaced.
	old := backingDisk(t, c, "s4")
	const fresh = "/dev/disk/by-id/nvme-SAMSUNG_MZQL21T9HCJR-00A07_S64GNE0T400099"
	if err := r.KillNode("s4"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{c.World.RemoveDisk("s4", old), c.World.AddDisk("s4", fresh, 1<<30), c.World.Boot("s4")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	note("while s4 was away")

	// The values name the new disk: refused, unless ost0 is allowed to change.
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/ha.yaml"}, StringSets: []string{"targets[1].drbd.disk.s4=" + fresh}})
	if err != nil || len(ps) > 0 {
		t.Fatal(err, ps)
	}
	if ps := topology.UpgradeChanges(c.Values, v, nil); len(ps) != 1 || ps[0].Path != "targets[1].drbd.disk" {
		t.Fatalf("the upgrade check on a changed disk: %v", ps)
	}
	if ps := topology.UpgradeChanges(c.Values, v, []string{"ost0"}); len(ps) != 0 {
		t.Fatalf("refused with ost0 in upgrade.allowChanges: %v", ps)
	}
	c.Upgrade(v)

	// 3. The DRBD DaemonSet rolls onto the new values.
	r.StopPod("drbd-s3")
	for _, n := range []string{"s3", "s4"} {
		if err := r.StartDRBD(n); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, cs, disk, peer, _, err := c.World.DRBDState("s4", "lfs1-ost0")
		if err == nil && cs == "Connected" && disk == "UpToDate" && peer == "UpToDate" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s4 never resynced: %s %s/%s %v", cs, disk, peer, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, msg := podStatus(t, r, "target-ost0@s3").Get(); st != podstate.Ready {
		t.Fatalf("ost0 stopped serving on s3 during the replacement: %s %q", st, msg)
	}
	if stops, _ := c.World.Ran("s3", "zpool export"); len(stops) != 0 {
		t.Fatalf("s3 exported ost0's pool: %v", stops)
	}
	if added := destructive(t, c)[len(created):]; !slices.Equal(added, []string{"s4: drbdadm create-md"}) {
		t.Fatalf("commands that create, run during the replacement: %v", added)
	}

	// The target pod's next start (the controller rolls it) records the new disk.
	r.StopPod("target-ost0@s3")
	node, err := r.RestartTarget("ost0")
	if err != nil || node != "s3" {
		t.Fatalf("ost0 restarted on %q: %v", node, err)
	}
	waitPod(t, r, "target-ost0@s3", 30*time.Second)
	rec, err := c.Record("ost0").Lookup(ctx)
	if err != nil || rec == nil || !slices.Contains(rec.Disks, "s4:"+fresh) {
		t.Fatalf("ost0's record after its restart: %+v %v", rec, err)
	}

	// s4's new disk holds every acknowledged write: s3 dies, s4 serves.
	if err := r.KillNode("s3"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartTarget("ost0", "s4"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-ost0@s4", 60*time.Second)
	if got, _, err := zfs.Get(ctx, c.World.Host("s4"), "lfs1-ost0/ost0", "lustre:note"); err != nil || got != "while s4 was away" {
		t.Fatalf("s4 serves note %q (%v)", got, err)
	}
}
