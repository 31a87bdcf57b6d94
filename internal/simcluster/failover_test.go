package simcluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

const shortLease = 2 * time.Second

// failoverCluster is ha.yaml with a one-second Lease, brought up.
func failoverCluster(t *testing.T) (*Cluster, *Running) {
	t.Helper()
	c := haCluster(t)
	c.LeaseDuration = shortLease
	r := start(t, c)
	t.Cleanup(func() { _ = r.Stop() })
	return c, r
}

func waitPod(t *testing.T, r *Running, name string, within time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := r.WaitFor(ctx, func(n string) bool { return n == name }); err != nil {
		t.Fatal(err)
	}
	return time.Since(begin)
}

// primaries replays the command log: which hosts successfully promoted and
// demoted res, in order. Two hosts in the set at once is two Primaries.
func maxPrimaries(t *testing.T, c *Cluster, res string, crashed map[string]int) int {
	t.Helper()
	log, err := c.World.Log()
	if err != nil {
		t.Fatal(err)
	}
	primary := map[string]bool{}
	most := 0
	for i, e := range log {
		for h, at := range crashed {
			if at == i {
				delete(primary, h)
			}
		}
		cmd := strings.Join(e.Argv, " ")
		switch {
		case e.Exit != 0:
		case strings.HasPrefix(cmd, "drbdadm primary") && strings.HasSuffix(cmd, " "+res):
			primary[e.Host] = true
		case cmd == "drbdadm secondary "+res:
			delete(primary, e.Host)
		}
		most = max(most, len(primary))
	}
	return most
}

func logLen(t *testing.T, c *Cluster) int {
	t.Helper()
	log, err := c.World.Log()
	if err != nil {
		t.Fatal(err)
	}
	return len(log)
}

// The preferred node of mdt0 crashes. Its pod dies without a clean stop;
// the replacement on the peer waits for the Lease to expire, promotes,
// takes the pool over (-f, the only forced import) and serves the same
// target, never reformatted. The old node then comes back as Secondary.
func TestNodeCrashFailsOverToPeer(t *testing.T) {
	c, r := failoverCluster(t)
	crashAt := logLen(t, c)
	if err := r.KillNode("s1"); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	took := time.Since(begin)
	if took < shortLease {
		t.Fatalf("peer served after %s, before the %s Lease could expire", took, shortLease)
	}
	t.Logf("crash to serving on the peer: %s (Lease %s)", took.Round(time.Millisecond), shortLease)

	if role, _, disk, _, up, _ := c.World.DRBDState("s2", "lfs1-mdt0"); role != "Primary" || disk != "UpToDate" || !up {
		t.Fatalf("s2: role=%s disk=%s up=%v", role, disk, up)
	}
	if m, _ := c.World.Mounted("s2"); !slices.Contains(m, "/lustre/lfs1/mdt0") {
		t.Fatalf("mdt0 not mounted on s2: %v", m)
	}
	if h := c.Leases.Holder("lfs1-mdt0"); h != "s2" {
		t.Fatalf("lease holder %q, want s2", h)
	}
	forced, _ := c.World.Ran("s2", "zpool import -f")
	if len(forced) != 1 {
		t.Fatalf("forced imports on s2: %v, want exactly the takeover", forced)
	}
	for _, p := range []string{"mkfs.lustre", "zpool create"} {
		if ran, _ := c.World.Ran("", p); len(ran) != 3 {
			t.Fatalf("%s ran %d times (once per target expected): %v", p, len(ran), ran)
		}
	}
	svname, _, err := zfs.Get(context.Background(), c.World.Host("s2"), "lfs1-mdt0/mdt0", "lustre:svname")
	if err != nil || svname != "lfs1-MDT0000" {
		t.Fatalf("the target on s2 is %q (%v), want the same lfs1-MDT0000", svname, err)
	}
	if n := maxPrimaries(t, c, "lfs1-mdt0", map[string]int{"s1": crashAt}); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}

	// The old primary returns: its DRBD agent brings the resource up as
	// Secondary and it resyncs from s2; nothing on s2 is disturbed.
	if err := c.World.Boot("s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartDRBD("s1"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "drbd-s1", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		role, cs, disk, _, _, _ := c.World.DRBDState("s1", "lfs1-mdt0")
		if role == "Secondary" && cs == "Connected" && disk == "UpToDate" {
			break
		}
		if role == "Primary" {
			t.Fatal("the returning node became Primary")
		}
		if time.Now().After(deadline) {
			t.Fatalf("s1 after return: %s %s %s", role, cs, disk)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := podStatus(t, r, "target-mdt0@s2").Get(); st != agent.Ready {
		t.Fatalf("s2 stopped serving when s1 returned: %s", st)
	}
}

// A second pod for mdt0 on the peer while the holder is alive and renewing
// never promotes anything: it waits for the Lease.
func TestNoTakeoverWhileTheLeaseIsLive(t *testing.T) {
	c, r := failoverCluster(t)
	before := logLen(t, c)
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * shortLease)
	st, msg := podStatus(t, r, "target-mdt0@s2").Get()
	if st != agent.Starting || !strings.Contains(msg, "lease held by s1") {
		t.Fatalf("second pod: %s %q", st, msg)
	}
	log, _ := c.World.Log()
	for _, e := range log[before:] {
		if e.Host == "s2" && (strings.HasPrefix(strings.Join(e.Argv, " "), "drbdadm primary") || e.Argv[0] == "zpool" && len(e.Argv) > 1 && e.Argv[1] == "import") {
			t.Fatalf("s2 acted without the lease: %v", e.Argv)
		}
	}
	if role, _, _, _, _, _ := c.World.DRBDState("s1", "lfs1-mdt0"); role != "Primary" {
		t.Fatalf("s1 is %s", role)
	}
}

// The holder is cut off from the API server and from its DRBD peer at once
// (the case MMP cannot guard): it stops serving on its own when it cannot
// renew, before the Lease expires, so the peer promotes only after the old
// primary demoted. Never two Primaries.
func TestPartitionedHolderStopsBeforeThePeerTakesOver(t *testing.T) {
	c, r := failoverCluster(t)
	c.CutAPI("s1", true)
	if err := c.World.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	if n := maxPrimaries(t, c, "lfs1-mdt0", nil); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
	if st, msg := podStatus(t, r, "target-mdt0@s1").Get(); st != agent.Failed || !strings.Contains(msg, "lease lost") {
		t.Fatalf("old holder: %s %q", st, msg)
	}
	if imp, _ := c.World.Imported("s1"); len(imp) > 0 {
		t.Fatalf("old holder still has %v imported", imp)
	}
	// s1's export happened after the link was cut, so s2's copy still
	// shows the pool in use by s1: the Lease-gated takeover imports it.
	if forced, _ := c.World.Ran("s2", "zpool import -f"); len(forced) != 1 {
		t.Fatalf("forced imports on s2: %v", forced)
	}
}

// A peer whose disk is Outdated (what the primary's fence-peer handler
// makes of it when the link breaks, before the primary writes on alone)
// must not promote, Lease or not.
func TestPeerWithOutdatedDiskDoesNotPromote(t *testing.T) {
	c, r := failoverCluster(t)
	if err := c.World.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Run(context.Background(), c.World.Host("s2"), "drbdadm", "outdate", "lfs1-mdt0"); err != nil {
		t.Fatal(err)
	}
	crashAt := logLen(t, c)
	if err := r.KillNode("s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * shortLease)
	if st, msg := podStatus(t, r, "target-mdt0@s2").Get(); st == agent.Ready || !strings.Contains(msg, "Outdated") {
		t.Fatalf("s2 pod: %s %q", st, msg)
	}
	if role, _, disk, _, _, _ := c.World.DRBDState("s2", "lfs1-mdt0"); role != "Secondary" || disk != "Outdated" {
		t.Fatalf("s2: role %s disk %s", role, disk)
	}
	if n := maxPrimaries(t, c, "lfs1-mdt0", map[string]int{"s1": crashAt}); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
}
