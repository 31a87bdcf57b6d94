//go:build e2echart

package e2e

// The fault matrix of failover (issue "Failover without split brain"), on
// the installed examples/ha.yaml release, one fault after the other. Each
// case writes a note on the serving copy before the fault and reads it back
// where the target serves after it, and replays the simulated hosts' command
// log for Primaries: never two writable at once. Each case ends with every
// node up and every link whole, so the next one starts from a healthy
// filesystem (targets may serve on either node of their pair).

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

func testFaults(t *testing.T, r *release) {
	for _, c := range []struct {
		name string
		fn   func(testing.TB, *release)
	}{
		{"primary cut off from its DRBD peer only", faultDRBDLinkCut},
		{"primary cut off from the API server only", faultAPICut},
		{"peer copy outdated must not promote", faultPeerOutdated},
		{"primary cut off from the API server and its DRBD peer", faultPartition},
		{"crash during promote", faultCrashDuringPromote},
		{"planned drain hands over cleanly", faultDrain},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			c.fn(t, r)
			r.noSplitBrain(t)
			t.Logf("TIMING fault case %q: %.1f s", c.name, time.Since(start).Seconds())
		})
		if t.Failed() {
			t.FailNow()
		}
	}
}

// servingNode is the node target serves on now (its pod Ready and mounted).
func (r *release) servingNode(t testing.TB, target string) string {
	t.Helper()
	tp, _ := r.plan.Target(target)
	for _, n := range tp.Nodes {
		if r.serving(t, target, n) {
			return n
		}
	}
	t.Fatalf("%s serves on no node", target)
	return ""
}

func (r *release) peerOf(target, node string) string {
	tp, _ := r.plan.Target(target)
	if tp.Nodes[0] == node {
		return tp.Nodes[1]
	}
	return tp.Nodes[0]
}

// writeNote writes a user property on the target's dataset on node: a
// write that must survive the fault. It returns the host's error.
func (r *release) writeNote(target, node, note string) error {
	return r.writeNoteWithin(target, node, note, time.Minute)
}

// writeNoteWithin is writeNote bounded by d: a writer on frozen DRBD I/O
// blocks until then.
func (r *release) writeNoteWithin(target, node, note string, d time.Duration) error {
	tp, _ := r.plan.Target(target)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := host.Run(ctx, r.w.Host(node), "zfs", "set", "lustre:note="+note, tp.Dataset)
	return err
}

// checkNote reads the note back on node.
func (r *release) checkNote(t testing.TB, target, node, want string) {
	t.Helper()
	tp, _ := r.plan.Target(target)
	got, _, err := zfs.Get(context.Background(), r.w.Host(node), tp.Dataset, "lustre:note")
	if err != nil || got != want {
		t.Errorf("%s on %s: note %q (%v), want %q written before the fault", target, node, got, err, want)
	}
}

// mark is the node the target's Lease marks outdated ("" for none).
func (r *release) mark(t testing.TB, target string) string {
	t.Helper()
	l, err := r.e.cs.CoordinationV1().Leases(r.ns).Get(context.Background(), r.leaseName(target), metav1.GetOptions{})
	if err != nil {
		return "?" + err.Error()
	}
	return l.Annotations[failover.OutdatedAnnotation]
}

func (r *release) leaseName(target string) string { return chartRelease + "-kube-lustre-" + target }

// noSplitBrain: for every DRBD target, never two writable Primaries at
// once over the whole command log so far.
func (r *release) noSplitBrain(t testing.TB) {
	t.Helper()
	for _, tp := range r.plan.Targets {
		if tp.DRBDResource == "" {
			continue
		}
		writable, byRole, err := r.w.MostPrimaries(tp.DRBDResource)
		if err != nil {
			t.Fatal(err)
		}
		if writable > 1 {
			t.Errorf("%s: %d writable Primaries at once (%d by role)", tp.DRBDResource, writable, byRole)
		}
	}
}

// forcedImports counts `zpool import -f` of target's pool on node so far.
func (r *release) forcedImports(t testing.TB, target, node string) int {
	t.Helper()
	tp, _ := r.plan.Target(target)
	ran, err := r.w.Ran(node, "zpool import -f")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range ran {
		if strings.HasSuffix(c, " "+tp.Pool) {
			n++
		}
	}
	return n
}

// inSync: the resource of target is Secondary, Connected and UpToDate on
// both sides as seen from node.
func (r *release) inSync(t testing.TB, target, node string) bool {
	t.Helper()
	tp, _ := r.plan.Target(target)
	role, cs, disk, peerDisk, up, _ := r.w.DRBDState(node, tp.DRBDResource)
	return up && role == "Secondary" && cs == "Connected" && disk == "UpToDate" && peerDisk == "UpToDate"
}

// never fails the test if bad holds at any poll during d: a "must not"
// over a window in which it would have happened if it could.
func never(t testing.TB, d time.Duration, what string, bad func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if bad() {
			t.Fatalf("%s", what)
		}
	}
}

func (r *release) lease() time.Duration {
	return time.Duration(r.v.Failover.LeaseSeconds) * time.Second
}

// crashNode crashes node as a power cut would: every process of the
// node killed (node.sh crash, or docker kill on kind) and its simulated
// host down.
func (r *release) crashNode(t testing.TB, node string) {
	t.Helper()
	r.e.nodes.Crash(t, node)
	if err := r.w.Crash(node); err != nil {
		t.Fatal(err)
	}
}

// bootNode starts a crashed node again (host first: the kubelet's pods
// find it up) and waits until Kubernetes sees it Ready.
func (r *release) bootNode(t testing.TB, node string) {
	t.Helper()
	if err := r.w.Boot(node); err != nil {
		t.Fatal(err)
	}
	r.e.nodes.Up(t, node)
	r.e.serviceRoute(t, node)
	poll(t, 2*time.Minute, node+" Ready", func() bool { return r.nodeReady(node) })
}

func (r *release) nodeReady(node string) bool {
	n, err := r.e.cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// faultDRBDLinkCut: the replication link of the serving pair breaks. The
// holder's fence-peer handler (through its DRBD agent, on the Lease) marks
// the peer outdated and its writes go on; the target never moves; when the
// link heals the peer resyncs and the mark is cleared.
func faultDRBDLinkCut(t testing.TB, r *release) {
	const target = "ost1"
	h := r.servingNode(t, target)
	p := r.peerOf(target, h)
	if err := r.writeNote(target, h, "before-link-cut"); err != nil {
		t.Fatal(err)
	}
	if err := r.w.CutLink(h, p); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.w.HealLink(h, p) }()
	poll(t, time.Minute, "the Lease marking "+p+" outdated", func() bool { return r.mark(t, target) == p })
	if err := r.writeNote(target, h, "during-link-cut"); err != nil {
		t.Fatalf("%s could not write after its fence succeeded: %v", h, err)
	}
	never(t, 2*r.lease(), target+" stopped serving on "+h+" or "+p+" became Primary", func() bool {
		role, _, _, _, _, _ := r.w.DRBDState(p, r.res(target))
		return !r.serving(t, target, h) || role == "Primary"
	})
	if err := r.w.HealLink(h, p); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, p+" resynced and unmarked", func() bool { return r.inSync(t, target, p) && r.mark(t, target) == "" })
	r.checkNote(t, target, h, "during-link-cut")
}

func (r *release) res(target string) string {
	tp, _ := r.plan.Target(target)
	return tp.DRBDResource
}

// faultAPICut: the serving node loses the API server (packets dropped) but
// keeps its DRBD peer. DRBD itself refuses to promote the peer while the
// holder is Primary and connected, so the holder serves on without its
// Lease (docs/failover.md): an API outage stops no target. Whatever
// happens to its Lease and pod meanwhile (the node goes NotReady, the
// failover controller may move the pod to the peer, whose promote DRBD
// refuses), the target stays mounted on the holder and is never Primary on
// both. When the API returns, it serves on exactly one of the two, with
// every acknowledged write and without a forced import.
func faultAPICut(t testing.TB, r *release) {
	const target = "ost1"
	h := r.servingNode(t, target)
	p := r.peerOf(target, h)
	tp, _ := r.plan.Target(target)
	if err := r.writeNote(target, h, "before-api-cut"); err != nil {
		t.Fatal(err)
	}
	forced := r.forcedImports(t, target, p)
	r.e.nodes.CutAPI(t, h)
	healed := false
	heal := func() {
		if !healed {
			healed = true
			r.e.nodes.HealAPI(t, h)
		}
	}
	defer heal()
	// Three Leases: long past the renew deadline and the Lease's expiry.
	cut := 3 * r.lease()
	for end := time.Now().Add(cut); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if !mounted(t, r.w, h, tp.MountPoint) {
			t.Fatalf("%s unmounted on %s during an API outage while its DRBD peer was connected", target, h)
		}
		if _, byRole, _ := r.w.MostPrimaries(tp.DRBDResource); byRole > 1 {
			t.Fatalf("%s: Primary on both nodes during the API outage", tp.DRBDResource)
		}
	}
	if err := r.writeNote(target, h, "during-api-cut"); err != nil {
		t.Fatalf("%s refused a write during the API outage: %v", h, err)
	}
	t.Logf("TIMING API cut of %s: %s served on through %s (failover.leaseSeconds %d)", h, target, cut, r.v.Failover.LeaseSeconds)
	heal()
	var on string
	poll(t, 3*time.Minute, h+" Ready again, "+target+" serving on one node with the other in sync", func() bool {
		on = ""
		for _, n := range []string{h, p} {
			if r.serving(t, target, n) {
				on = n
			}
		}
		return on != "" && r.nodeReady(h) && r.inSync(t, target, r.peerOf(target, on))
	})
	t.Logf("after the API outage %s serves on %s", target, on)
	if n := r.forcedImports(t, target, p); n != forced {
		t.Errorf("%s forced the import of %s (%d forced imports, %d before)", p, tp.Pool, n, forced)
	}
	if _, byRole, _ := r.w.MostPrimaries(tp.DRBDResource); byRole > 1 {
		t.Errorf("%s: two Primaries by role at once", tp.DRBDResource)
	}
	r.checkNote(t, target, on, "during-api-cut")
}

// faultPeerOutdated: the link breaks (the holder marks its peer
// outdated and writes on alone), then the holder crashes. The peer's disk
// still says UpToDate but lacks those writes: it must not promote, Lease
// or not, however long it waits. When the holder returns and the link
// heals, the peer resyncs, the mark goes, and the target serves again
// with the writes.
func faultPeerOutdated(t testing.TB, r *release) {
	const target = "ost1"
	h := r.servingNode(t, target)
	p := r.peerOf(target, h)
	if err := r.w.CutLink(h, p); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.w.HealLink(h, p) }()
	poll(t, time.Minute, "the Lease marking "+p+" outdated", func() bool { return r.mark(t, target) == p })
	if err := r.writeNote(target, h, "only-on-"+h); err != nil {
		t.Fatal(err)
	}
	r.crashNode(t, h)
	defer r.bootNodeIfDown(t, h)
	poll(t, 3*time.Minute, target+"'s pod on "+p, func() bool {
		pod, ok := r.targetPod(t, target)
		return ok && pod.Spec.NodeName == p
	})
	never(t, 3*r.lease(), p+" promoted an outdated copy of "+target, func() bool {
		role, _, _, _, _, _ := r.w.DRBDState(p, r.res(target))
		imp, _ := r.w.Imported(p)
		tp, _ := r.plan.Target(target)
		return role == "Primary" || imp[tp.Pool] != ""
	})
	if pod, _ := r.targetPod(t, target); podReady(pod) {
		t.Errorf("%s's pod on %s is Ready on an outdated copy", target, p)
	}
	r.bootNode(t, h)
	if err := r.w.HealLink(h, p); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Minute, target+" serving on "+p+" after the resync", func() bool { return r.serving(t, target, p) })
	if m := r.mark(t, target); m != "" {
		t.Errorf("Lease still marks %q outdated", m)
	}
	r.checkNote(t, target, p, "only-on-"+h)
}

// bootNodeIfDown boots node if a failed case left it crashed.
func (r *release) bootNodeIfDown(t testing.TB, node string) {
	if !r.nodeReady(node) {
		r.bootNode(t, node)
	}
}

// faultPartition: the serving node loses the API server and its DRBD peer
// at once. Its fence cannot reach the Lease, so DRBD freezes its I/O: no
// write is acknowledged that the peer lacks. It loses the Lease; its stop
// cannot unmount a frozen device, so it stays Primary by role but writes
// nothing. The peer takes over after expiry (fencing the old holder on the
// Lease) with every acknowledged write. The frozen node needs a reboot
// (as a real one would be fenced), then returns as Secondary and resyncs.
func faultPartition(t testing.TB, r *release) {
	const target = "ost0"
	h := r.servingNode(t, target)
	p := r.peerOf(target, h)
	if err := r.writeNote(target, h, "before-partition"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.e.nodes.CutAPI(t, h)
	if err := r.w.CutLink(h, p); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = r.w.HealLink(h, p)
		r.e.nodes.HealAPI(t, h)
	}()
	// A writer on frozen I/O blocks until its context ends: never acknowledged.
	if err := r.writeNoteWithin(target, h, "after-partition", time.Second); !hostsim.BlockedOnFrozenIO(err) {
		t.Fatalf("%s acknowledged a write its peer lacks after the partition: %v", h, err)
	}
	poll(t, 3*time.Minute, target+" serving on "+p, func() bool { return r.serving(t, target, p) })
	t.Logf("TIMING partition of %s to %s serving on %s: %.1f s", h, target, p, time.Since(start).Seconds())
	r.checkNote(t, target, p, "before-partition")
	if m := r.mark(t, target); m != h {
		t.Errorf("Lease marks %q outdated, want the frozen %s", m, h)
	}
	// The operator's remedy for a frozen Primary: reboot it.
	r.crashNode(t, h)
	r.e.nodes.HealAPI(t, h)
	if err := r.w.HealLink(h, p); err != nil {
		t.Fatal(err)
	}
	r.bootNode(t, h)
	poll(t, 3*time.Minute, h+" back as an in-sync Secondary, unmarked", func() bool {
		return r.inSync(t, target, h) && r.mark(t, target) == ""
	})
	if !r.serving(t, target, p) {
		t.Errorf("%s stopped serving on %s when %s came back", target, p, h)
	}
}

// faultCrashDuringPromote: the node serving ost0 crashes, and its peer
// crashes too, right after its `drbdadm primary` took effect (the
// promotion fenced the first node's copy on the Lease). When only the
// first node returns, it must not serve: the peer may have written. When
// the peer returns too, the pair reconnects, the mark goes, and ost0
// serves again with every write made before the faults.
func faultCrashDuringPromote(t testing.TB, r *release) {
	const target = "ost0"
	h := r.servingNode(t, target)
	p := r.peerOf(target, h)
	if err := r.writeNote(target, h, "before-crashes"); err != nil {
		t.Fatal(err)
	}
	if err := r.w.CrashAt(p, hostsim.Match{Args: []string{"drbdadm", "primary", r.res(target)}}, hostsim.After); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.w.ClearFaults() }()
	r.crashNode(t, h)
	defer r.bootNodeIfDown(t, h)
	poll(t, 3*time.Minute, p+" crashing right after its promotion", func() bool {
		log, err := r.w.Log()
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(log, func(e hostsim.LogEntry) bool { return e.Host == p && e.Fault == "crash-after" })
	})
	r.e.nodes.Crash(t, p)
	defer r.bootNodeIfDown(t, p)
	if m := r.mark(t, target); m != h {
		t.Errorf("Lease marks %q, want %s (fenced by %s's promotion)", m, h, p)
	}

	r.bootNode(t, h)
	poll(t, 3*time.Minute, target+"'s pod on "+h, func() bool {
		pod, ok := r.targetPod(t, target)
		return ok && pod.Spec.NodeName == h
	})
	never(t, 2*r.lease(), h+" served "+target+" while "+p+", which may hold newer writes, was down", func() bool {
		role, _, _, _, _, _ := r.w.DRBDState(h, r.res(target))
		return role == "Primary"
	})
	r.bootNode(t, p)
	poll(t, 3*time.Minute, target+" serving on "+h+" once the pair is in sync", func() bool { return r.serving(t, target, h) })
	r.checkNote(t, target, h, "before-crashes")
	if m := r.mark(t, target); m != "" {
		t.Errorf("Lease still marks %q", m)
	}
	poll(t, 2*time.Minute, p+" back as an in-sync Secondary", func() bool { return r.inSync(t, target, p) })
}

// faultDrain: `kubectl drain` of the serving node hands every target on
// it to its peer with a clean stop: the pods' graceful stop unmounts,
// exports, demotes and releases the Lease, so the peer imports without
// forcing and without waiting for an expiry, and nothing is fenced.
func faultDrain(t testing.TB, r *release) {
	const target = "mdt0"
	h := r.servingNode(t, target)
	p := r.peerOf(target, h)
	var moved []string
	for _, tp := range r.plan.Targets {
		if r.serving(t, tp.Name, h) {
			moved = append(moved, tp.Name)
			if err := r.writeNote(tp.Name, h, "before-drain"); err != nil {
				t.Fatal(err)
			}
		}
	}
	forced := map[string]int{}
	for _, target := range moved {
		forced[target] = r.forcedImports(t, target, r.peerOf(target, h))
	}
	start := time.Now()
	if out, err := r.e.kubectlOut("drain", h, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=5m"); err != nil {
		t.Fatalf("drain %s: %v\n%s", h, err, out)
	}
	defer func() {
		if out, err := r.e.kubectlOut("uncordon", h); err != nil {
			t.Errorf("uncordon %s: %v %s", h, err, out)
		}
	}()
	t.Logf("TIMING kubectl drain %s returned: %.1f s", h, time.Since(start).Seconds())
	for _, target := range moved {
		poll(t, 3*time.Minute, target+" serving on "+r.peerOf(target, h), func() bool { return r.serving(t, target, r.peerOf(target, h)) })
	}
	t.Logf("TIMING drain of %s to %v serving on %s: %.1f s", h, moved, p, time.Since(start).Seconds())
	for _, target := range moved {
		peer := r.peerOf(target, h)
		if n := r.forcedImports(t, target, peer); n != forced[target] {
			t.Errorf("%s: %s forced the import after a drain", target, peer)
		}
		if m := r.mark(t, target); m != "" {
			t.Errorf("%s: a drain fenced %q", target, m)
		}
		if _, byRole, _ := r.w.MostPrimaries(r.res(target)); byRole > 1 {
			t.Errorf("%s: two Primaries by role at once during the drain", target)
		}
		r.checkNote(t, target, peer, "before-drain")
		if evicted := slices.ContainsFunc(r.e.pods(t, r.ns, r.selector("kube-lustre.io/target="+target)), func(pod corev1.Pod) bool {
			return pod.Spec.NodeName == h
		}); evicted {
			t.Errorf("%s still has a pod on the drained %s", target, h)
		}
	}
}
