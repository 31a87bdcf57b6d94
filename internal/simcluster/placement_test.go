package simcluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
)

// After a failover, the next deletion of the target's pod must not send
// it back to the preferred node while that node's copy is outdated: there
// it could only wait, and the node with the data would have no pod. s1
// (mdt0's preferred node) crashes and s2 takes over, marking s1 outdated;
// s1 returns with its replication link still cut, so it cannot resync.
// s2's pod is deleted (a clean stop): the replacement goes to s2 and
// serves. Once the link heals and s1 has resynced, the next replacement
// goes home to s1 and serves there.
func TestReplacementFollowsTheData(t *testing.T) {
	c, r := failoverCluster(t)
	ctx := context.Background()
	crashPreferredOfMDT0(t, c, r)
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	if err := c.World.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := c.World.Boot("s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartDRBD("s1"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "drbd-s1", 10*time.Second)
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != "s1" {
		t.Fatalf("outdated mark %q, want s1 (s2 promoted without it)", m)
	}

	r.StopPod("target-mdt0@s2")
	if h := c.Leases.Holder("lfs1-mdt0"); h != "" {
		t.Fatalf("Lease held by %q after the clean stop", h)
	}
	node, err := r.RestartTarget("mdt0")
	if err != nil {
		t.Fatal(err)
	}
	if node != "s2" {
		t.Fatalf("replacement placed on %s, whose copy is outdated; want s2, which has the data", node)
	}
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	if m, _ := c.World.Mounted("s2"); !slices.Contains(m, "/lustre/lfs1/mdt0") {
		t.Fatalf("mdt0 not mounted on s2: %v", m)
	}
	if slices.Contains(r.Names(), "target-mdt0@s1") {
		t.Fatal("a pod of mdt0 runs on s1")
	}

	// The link heals: s1 resyncs from s2 and its mark is cleared. Now
	// both copies are good and the replacement goes to the preferred node.
	if err := c.World.HealLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, cs, disk, _, _, _ := c.World.DRBDState("s1", "lfs1-mdt0")
		m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0")
		if cs == "Connected" && disk == "UpToDate" && m == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s1 after the heal: %s %s, mark %q", cs, disk, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.StopPod("target-mdt0@s2")
	if node, err = r.RestartTarget("mdt0"); err != nil || node != "s1" {
		t.Fatalf("replacement after the resync on %s (%v), want the preferred s1", node, err)
	}
	waitPod(t, r, "target-mdt0@s1", 20*time.Second)
	if st, msg := podStatus(t, r, "target-mdt0@s1").Get(); st != podstate.Ready || strings.Contains(msg, "Outdated") {
		t.Fatalf("s1: %s %q", st, msg)
	}
	if n := maxPrimaries(t, c, "lfs1-mdt0"); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
}
