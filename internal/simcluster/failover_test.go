package simcluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// maxPrimaries is the most writable Primaries of res at once, from the
// command log (hostsim.World.MostPrimaries); more than one is a split brain.
func maxPrimaries(t *testing.T, c *Cluster, res string) int {
	t.Helper()
	writable, _ := primaries(t, c, res)
	return writable
}

func primaries(t *testing.T, c *Cluster, res string) (writable, byRole int) {
	t.Helper()
	writable, byRole, err := c.World.MostPrimaries(res)
	if err != nil {
		t.Fatal(err)
	}
	return writable, byRole
}

// crashPreferredOfMDT0 crashes s1 (mdt0's preferred node) and starts mdt0's
// replacement pod on its peer s2, as the StatefulSet would once released.
func crashPreferredOfMDT0(t *testing.T, c *Cluster, r *Running) {
	t.Helper()
	if err := r.KillNode("s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
}

// writeAlone cuts mdt0's link and has its holder s1 write on alone (its
// fence marked s2 outdated): s2's copy lacks lustre:note=x.
func writeAlone(t *testing.T, c *Cluster) {
	t.Helper()
	if err := c.World.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Run(context.Background(), c.World.Host("s1"), "zfs", "set", "lustre:note=x", "lfs1-mdt0/mdt0"); err != nil {
		t.Fatalf("s1 could not write after its fence succeeded: %v", err)
	}
}

// waitQuiet waits until the holder of lease renews it quietly (DRBD
// connected under it) and the Lease marks no copy outdated: the pair is
// healthy and in sync. A crash before the peer's agent cleared the mark of
// the first sync rightly leaves the peer waiting (its copy is recorded
// as outdated), which is not what the tests using this look at (seen once
// under make test's load).
func waitQuiet(t *testing.T, c *Cluster, lease string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := c.Leases.Client(nil).Get(context.Background(), lease, metav1.GetOptions{})
		if err == nil && time.Duration(*cur.Spec.LeaseDurationSeconds)*time.Second == c.QuietLease && cur.Annotations[failover.OutdatedAnnotation] == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %s never renewed quietly: %v %v", lease, cur, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
//
// Connected to its peer, s1 held mdt0's Lease quietly (failover.quietLeaseSeconds,
// 300 s in the chart): s2's DRBD agent cuts it to one Lease when its link
// goes, so the takeover does not wait out the quiet Lease.
func TestNodeCrashFailsOverToPeer(t *testing.T) {
	c, r := failoverCluster(t)
	if c.QuietLease != 300*time.Second {
		t.Fatalf("quiet Lease %s, want the chart's 300 s", c.QuietLease)
	}
	waitQuiet(t, c, "lfs1-mdt0")
	begin := time.Now()
	crashPreferredOfMDT0(t, c, r)
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
	if n := maxPrimaries(t, c, "lfs1-mdt0"); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
	// What the survivor's pods export (issue 18): the takeover and from
	// where, the target served, its Lease fresh; DRBD Primary there, and
	// the lost peer reported.
	mdt0 := map[string]string{"target": "mdt0"}
	waitCounter(t, r, "target-mdt0@s2", "kube_lustre_target_takeovers_total", map[string]string{"target": "mdt0", "from": "s1"}, 1)
	waitMetric(t, r, "target-mdt0@s2", "kube_lustre_target_serving", mdt0, 1)
	waitMetric(t, r, "target-mdt0@s2", "kube_lustre_target_state", map[string]string{"target": "mdt0", "state": "ready"}, 1)
	waitCounter(t, r, "target-mdt0@s2", "kube_lustre_target_start_seconds", mdt0, 1)
	waitFor(t, r, "target-mdt0@s2", "kube_lustre_target_available_bytes", mdt0, "above 0", func(got float64) bool { return got > 0 })
	if age, ok := metric(t, r, "target-mdt0@s2", "kube_lustre_target_lease_age_seconds", mdt0); !ok || age < 0 || age > c.QuietLease.Seconds() {
		t.Fatalf("lease age %v (exported %v)", age, ok)
	}
	res := map[string]string{"resource": "lfs1-mdt0"}
	waitMetric(t, r, "drbd-s2", "kube_lustre_drbd_role", map[string]string{"resource": "lfs1-mdt0", "role": "Primary"}, 1)
	if _, stale := metric(t, r, "drbd-s2", "kube_lustre_drbd_role", map[string]string{"resource": "lfs1-mdt0", "role": "Secondary"}); stale {
		t.Fatal("drbd-s2 still exports its old role Secondary next to Primary")
	}
	waitCounter(t, r, "drbd-s2", "kube_lustre_drbd_peer_lost_total", res, 1)
	waitMetric(t, r, "drbd-s2", "kube_lustre_drbd_io_suspended", res, 0)

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
	// s2's promotion fenced the crashed s1 (marked outdated on the Lease);
	// s1's resync cleared the mark.
	if ran, _ := c.World.Ran("s2", drbd.FencePeerHandler); len(ran) != 1 {
		t.Fatalf("fence-peer on s2: %v", ran)
	}
	if m, _ := failover.Outdated(context.Background(), c.Leases.Client(nil), "lfs1-mdt0"); m != "" {
		t.Fatalf("mark %q after s1 resynced", m)
	}
	if st, _ := podStatus(t, r, "target-mdt0@s2").Get(); st != podstate.Ready {
		t.Fatalf("s2 stopped serving when s1 returned: %s", st)
	}
	waitMetric(t, r, "drbd-s1", "kube_lustre_drbd_role", map[string]string{"resource": "lfs1-mdt0", "role": "Secondary"}, 1)
	waitMetric(t, r, "drbd-s1", "kube_lustre_drbd_sync_done_ratio", res, 1)
	waitMetric(t, r, "drbd-s1", "kube_lustre_drbd_disk_state", map[string]string{"resource": "lfs1-mdt0", "state": "UpToDate"}, 1)
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
	if st != podstate.Starting || !strings.Contains(msg, "lease held by s1") {
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
// (the case MMP cannot guard). Its fence-peer cannot reach the Lease, so
// DRBD freezes its I/O: no write is acknowledged that the peer lacks. It
// loses the Lease when it cannot renew and tries to stop; the stop cannot
// write (unmount fails on the frozen device), so s1 stays Primary by role
// but acknowledges nothing. The peer takes over after the Lease expired
// and serves every write s1 ever acknowledged. Never two writable
// Primaries.
func TestPartitionedHolderStopsBeforeThePeerTakesOver(t *testing.T) {
	c, r := failoverCluster(t)
	ctx := context.Background()
	s1 := c.World.Host("s1")
	if _, err := host.Run(ctx, s1, "zfs", "set", "lustre:note=before", "lfs1-mdt0/mdt0"); err != nil {
		t.Fatal(err)
	}
	c.CutAPI("s1", true)
	if err := c.World.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	// A writer on frozen I/O blocks (D state on a real host): it is not
	// acknowledged while the fence has not succeeded.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := host.Run(wctx, s1, "zfs", "set", "lustre:note=after", "lfs1-mdt0/mdt0")
	cancel()
	if !hostsim.BlockedOnFrozenIO(err) {
		t.Fatalf("s1 acknowledged a write its peer lacks: %v", err)
	}
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	writable, byRole := primaries(t, c, "lfs1-mdt0")
	if writable > 1 {
		t.Fatalf("%d writable Primaries at once", writable)
	}
	t.Logf("Primaries by role: %d (s1 frozen, s2 serving)", byRole)
	// The old holder's stop attempt ends on its own bound, which a loaded
	// machine may reach after s2 is up: wait for its outcome.
	deadline := time.Now().Add(10 * time.Second)
	st, msg := podStatus(t, r, "target-mdt0@s1").Get()
	for st != podstate.Failed && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st, msg = podStatus(t, r, "target-mdt0@s1").Get()
	}
	if st != podstate.Failed || !strings.Contains(msg, "lease lost") {
		t.Fatalf("old holder: %s %q", st, msg)
	}
	if err := r.Errors(); !hostsim.BlockedOnFrozenIO(err) {
		t.Fatalf("old holder's stop: %v", err)
	}
	if note, _, err := zfs.Get(ctx, c.World.Host("s2"), "lfs1-mdt0/mdt0", "lustre:note"); err != nil || note != "before" {
		t.Fatalf("s2 serves note %q (%v), want the acknowledged %q", note, err, "before")
	}
	// s1 never exported (its stop could not write), so s2's copy still
	// shows the pool in use by s1: the Lease-gated takeover imports it.
	if forced, _ := c.World.Ran("s2", "zpool import -f"); len(forced) != 1 {
		t.Fatalf("forced imports on s2: %v", forced)
	}
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != "s1" {
		t.Fatalf("outdated mark %q, want s1", m)
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
	crashPreferredOfMDT0(t, c, r)
	time.Sleep(3 * shortLease)
	if st, msg := podStatus(t, r, "target-mdt0@s2").Get(); st == podstate.Ready || !strings.Contains(msg, "Outdated") {
		t.Fatalf("s2 pod: %s %q", st, msg)
	}
	if role, _, disk, _, _, _ := c.World.DRBDState("s2", "lfs1-mdt0"); role != "Secondary" || disk != "Outdated" {
		t.Fatalf("s2: role %s disk %s", role, disk)
	}
	if n := maxPrimaries(t, c, "lfs1-mdt0"); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
}

// The replication link breaks while s1 holds the Lease and serves; s1 goes
// on acknowledging writes that only its disk has, then crashes. s2's disk
// still says UpToDate, but its copy lacks those writes: s2 must not serve
// it. The fence s1 ran when it lost its peer marked s2 outdated on the
// Lease, and s2 refuses to start with a status that says why. When s1
// returns it serves again (its copy is the newest), and once the link heals
// s2 resyncs from it and its after-resync-target handler clears the mark.
func TestPeerDoesNotServeACopyWithoutTheHoldersWrites(t *testing.T) {
	c, r := failoverCluster(t)
	ctx := context.Background()
	writeAlone(t, c)
	crashPreferredOfMDT0(t, c, r)
	time.Sleep(3 * shortLease)
	if st, msg := podStatus(t, r, "target-mdt0@s2").Get(); st != podstate.Starting || !strings.Contains(msg, "Outdated") || !strings.Contains(msg, "resync") {
		t.Fatalf("s2 pod: %s %q", st, msg)
	}
	if role, _, _, _, _, _ := c.World.DRBDState("s2", "lfs1-mdt0"); role != "Secondary" {
		t.Fatalf("s2 is %s", role)
	}
	if imp, _ := c.World.Imported("s2"); len(imp) > 0 {
		t.Fatalf("s2 imported %v", imp)
	}
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != "s2" {
		t.Fatalf("outdated mark %q, want s2", m)
	}

	if err := c.World.Boot("s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartDRBD("s1"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartTarget("mdt0", "s1"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-mdt0@s1", 20*time.Second)
	if note, _, err := zfs.Get(ctx, c.World.Host("s1"), "lfs1-mdt0/mdt0", "lustre:note"); err != nil || note != "x" {
		t.Fatalf("s1 serves note %q (%v), want its acknowledged write", note, err)
	}
	// The initial sync of the pair already ran s2's after-resync-target.
	unfenced, _ := c.World.Ran("s2", drbd.UnfenceHandler)
	if err := c.World.HealLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		role, cs, disk, peerDisk, _, _ := c.World.DRBDState("s2", "lfs1-mdt0")
		m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0")
		if role == "Secondary" && cs == "Connected" && disk == "UpToDate" && peerDisk == "UpToDate" && m == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s2 after the link healed: %s %s %s/%s, mark %q", role, cs, disk, peerDisk, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ran, _ := c.World.Ran("s2", drbd.UnfenceHandler); len(ran) != len(unfenced)+1 {
		t.Fatalf("after-resync-target on s2: %v, before the heal %v", ran, unfenced)
	}
	time.Sleep(shortLease)
	if st, msg := podStatus(t, r, "target-mdt0@s2").Get(); st != podstate.Starting || !strings.Contains(msg, "lease held by s1") {
		t.Fatalf("s2 pod after the resync: %s %q", st, msg)
	}
	if n := maxPrimaries(t, c, "lfs1-mdt0"); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
}

// A clean stop (a drained node, a deleted pod) gets the whole stop budget
// (failover.stopSeconds), not what a lost Lease leaves: the Lease stays
// renewed while a slow unmount runs, export and demote follow, and the
// released Lease lets the peer take over at once.
func TestCleanStopKeepsTheLeaseThroughASlowUnmount(t *testing.T) {
	c, r := failoverCluster(t)
	// An MDT unmount takes 10 s real time (lustre-facts.md): 3 s here,
	// longer than the 1 s a lost Lease would leave the stop.
	if err := c.World.SetTimeScale(0.3); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	r.StopPod("target-mdt0@s1")
	took := time.Since(begin)
	if err := r.Errors(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	if took < 3*time.Second {
		t.Fatalf("the stop took %s: the unmount was not modelled as slow", took)
	}
	if m, _ := c.World.Mounted("s1"); slices.Contains(m, "/lustre/lfs1/mdt0") {
		t.Fatalf("mdt0 still mounted on s1: %v", m)
	}
	if role, _, _, _, _, _ := c.World.DRBDState("s1", "lfs1-mdt0"); role != "Secondary" {
		t.Fatalf("s1 role %s after the clean stop", role)
	}
	if h := c.Leases.Holder("lfs1-mdt0"); h != "" {
		t.Fatalf("Lease held by %q after the clean stop, want released", h)
	}
	if err := c.World.SetTimeScale(hostsim.DefaultTimeScale); err != nil {
		t.Fatal(err)
	}
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	if forced, _ := c.World.Ran("s2", "zpool import -f"); len(forced) != 0 {
		t.Fatalf("forced imports on s2 after a clean handover: %v", forced)
	}
}

// The API server is unreachable from the holder for several Leases while
// its DRBD link is up: DRBD refuses to promote the peer, so the holder
// serves on and acknowledges writes; when the API answers again it renews
// and goes on serving. Nothing stopped.
func TestAPIOutageStopsNoTargetWhileTheLinkIsUp(t *testing.T) {
	c, r := failoverCluster(t)
	ctx := context.Background()
	c.CutAPI("s1", true)
	time.Sleep(3 * shortLease)
	if m, _ := c.World.Mounted("s1"); !slices.Contains(m, "/lustre/lfs1/mdt0") {
		t.Fatalf("mdt0 unmounted on s1 during the API outage: %v", m)
	}
	if _, err := host.Run(ctx, c.World.Host("s1"), "zfs", "set", "lustre:note=during", "lfs1-mdt0/mdt0"); err != nil {
		t.Fatalf("write during the API outage: %v", err)
	}
	c.CutAPI("s1", false)
	time.Sleep(shortLease)
	if st, msg := podStatus(t, r, "target-mdt0@s1").Get(); st != podstate.Ready {
		t.Fatalf("s1 after the API outage: %s %q", st, msg)
	}
	if h := c.Leases.Holder("lfs1-mdt0"); h != "s1" {
		t.Fatalf("Lease holder %q after the outage, want s1 renewing again", h)
	}
	if exported, _ := c.World.Ran("s1", "zpool export"); len(exported) != 0 {
		t.Fatalf("s1 stopped during the outage: %v", exported)
	}
	if err := r.Errors(); err != nil {
		t.Fatal(err)
	}
}

// The holder's fence fails once (the API blinked as its link broke), so
// DRBD froze its I/O; DRBD 8.4 never asks again. The DRBD agent asks the
// fence decision again once the API answers, records the peer outdated on
// the Lease and resumes I/O: the target does not stay frozen under a live
// Lease.
func TestFailedFenceIsRetriedAndIOResumes(t *testing.T) {
	c, r := failoverCluster(t)
	ctx := context.Background()
	// The agent's metrics show the freeze while the fence cannot be
	// decided (issue 18: I/O frozen), watched from aside: waiting for them
	// here would hold the API cut past the 1 s renew deadline.
	res := map[string]string{"resource": "lfs1-mdt0"}
	frozenSeen := watchMetric(t, r, "drbd-s1", "kube_lustre_drbd_io_suspended", res)
	c.CutAPI("s1", true)
	if err := c.World.CutLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	// The fence runs at s1's next command and fails: I/O frozen.
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := host.Run(wctx, c.World.Host("s1"), "zfs", "set", "lustre:note=frozen", "lfs1-mdt0/mdt0")
	cancel()
	if !hostsim.BlockedOnFrozenIO(err) {
		t.Fatalf("write after a failed fence: %v, want blocked", err)
	}
	c.CutAPI("s1", false) // back within the renew deadline: the Lease holds
	wctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := host.Run(wctx, c.World.Host("s1"), "zfs", "set", "lustre:note=after", "lfs1-mdt0/mdt0"); err != nil {
		t.Fatalf("write once the API answered again: %v (I/O still frozen)", err)
	}
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != "s2" {
		t.Fatalf("outdated mark %q, want s2", m)
	}
	if st, msg := podStatus(t, r, "target-mdt0@s1").Get(); st != podstate.Ready {
		t.Fatalf("holder %s %q", st, msg)
	}
	waitMetric(t, r, "drbd-s1", "kube_lustre_drbd_io_suspended", res, 0)
	if seen := frozenSeen(); !slices.Contains(seen, 1) {
		t.Fatalf("kube_lustre_drbd_io_suspended went through %v, never 1 while I/O was frozen", seen)
	}
}

// Issue 15: the only record that s2's copy is stale was the mark on the
// Lease. An operator deletes the "stuck" Lease while the link is cut (or
// deletes the namespace, or renames the release), then the holder s1
// dies. The Lease s2's pod creates carries no history (Unverified), so s2
// must not promote its copy, which lacks s1's acknowledged write, while
// its peer is away; once s1 is back and DRBD has resynced s2 from it, s2
// may serve, with the write.
func TestStaleCopyDoesNotServeAfterItsLeaseWasDeleted(t *testing.T) {
	c, r := failoverCluster(t)
	ctx := context.Background()
	writeAlone(t, c)
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != "s2" {
		t.Fatalf("outdated mark %q, want s2", m)
	}
	if err := r.KillNode("s1"); err != nil {
		t.Fatal(err)
	}
	c.Leases.Delete("lfs1-mdt0")
	if err := r.StartTarget("mdt0", "s2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * shortLease)
	if st, msg := podStatus(t, r, "target-mdt0@s2").Get(); st != podstate.Starting || !strings.Contains(msg, "no record of which copy is current") ||
		!strings.Contains(msg, "kubectl annotate lease lfs1-mdt0 kube-lustre.io/outdated-") {
		t.Fatalf("s2 pod: %s %q", st, msg)
	}
	if role, _, _, _, _, _ := c.World.DRBDState("s2", "lfs1-mdt0"); role != "Secondary" {
		t.Fatalf("s2 promoted its stale copy: %s", role)
	}
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != failover.Unverified {
		t.Fatalf("the new Lease's mark %q, want %q", m, failover.Unverified)
	}

	// s1 comes back (its DRBD agent only; its target pod is gone with the
	// StatefulSet's move): DRBD resyncs s2 from it, and s2 serves s1's write.
	if err := c.World.Boot("s1"); err != nil {
		t.Fatal(err)
	}
	if err := c.World.HealLink("s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := r.StartDRBD("s1"); err != nil {
		t.Fatal(err)
	}
	waitPod(t, r, "target-mdt0@s2", 20*time.Second)
	if note, _, err := zfs.Get(ctx, c.World.Host("s2"), "lfs1-mdt0/mdt0", "lustre:note"); err != nil || note != "x" {
		t.Fatalf("s2 serves note %q (%v), want s1's acknowledged write", note, err)
	}
	if m, _ := failover.Outdated(ctx, c.Leases.Client(nil), "lfs1-mdt0"); m != "" {
		t.Fatalf("mark %q left once the copies were in sync", m)
	}
	if n := maxPrimaries(t, c, "lfs1-mdt0"); n > 1 {
		t.Fatalf("%d Primaries at once", n)
	}
}
