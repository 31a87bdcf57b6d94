//go:build e2evm

package vm

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/nodespec"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// The Lustre cases' filesystem: MGS+MDT0 and OST0 on one DRBD pair (a
// resource each), a client on a third node, which must not be a server
// that can take the targets over (lustre-facts.md). LNet takes its
// defaults (tcp on eth0), so the NIDs are the guests' addresses.
const lustreTopologyYAML = `fsname: klvm
nodes:
  vm1: {address: 10.99.0.1, nids: [10.99.0.1@tcp]}
  vm2: {address: 10.99.0.2, nids: [10.99.0.2@tcp]}
  vm3: {nids: [10.99.0.3@tcp]}
targets:
  - type: mdt
    index: 0
    mgs: true
    nodes: [vm1, vm2]
    drbd: {minor: 0, port: 7788, disk: /dev/disk/by-id/virtio-kl-mdt, protocol: C}
  - type: ost
    index: 0
    nodes: [vm1, vm2]
    drbd: {minor: 1, port: 7789, disk: /dev/disk/by-id/virtio-kl-ost, protocol: C}
clients: {nodes: [vm3]}
`

// lustreTargets are the targets of lustreTopologyYAML.
var lustreTargets = []string{"mdt0", "ost0"}

// roleModules is what images/installer's verify loads for the node's role
// (modulesFor there): drbd on a node with DRBD resources, zfs and Lustre's
// server modules on a server, Lustre's client modules on any other node.
func roleModules(p *topology.Plan, node string) []string {
	np, _ := p.Node(node)
	var mods []string
	if len(np.DRBD) > 0 {
		mods = append(mods, "drbd")
	}
	if len(np.Targets) > 0 {
		mods = append(mods, "zfs")
		return append(mods, lustre.ServerModules...)
	}
	return append(mods, lustre.ClientModules...)
}

// podSpec is the node's spec as a target or client pod builds it
// (entry.LoadNode); the DRBD agent's adds Fence (spec).
func (s *suite) podSpec(node string) nodespec.Spec {
	return nodespec.Spec{Values: s.values, Plan: s.plan, Node: node}
}

// targetPod starts the target pod of target on g as images/lustre-target
// runs it: agent.Target under the target's Lease, each start attempt
// bounded by failover.mmp (StartAttempt), the stop by failover.stopSeconds,
// the MGS's permanent parameters set once it serves.
func (s *suite) targetPod(t *testing.T, g *Guest, target string) *pod {
	t.Helper()
	spec := s.podSpec(g.Name)
	srv, err := spec.Server(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{StartAttempt: spec.StartAttempt(), StopTimeout: spec.StopTimeout()}
	if srv.Target.RunsMGS() {
		cfg.MGSParams = spec.MGSParams()
	}
	lease := s.lease(g.Name, target)
	return s.startPod(g, target, false, func(ctx context.Context, st agent.Status, log *slog.Logger) error {
		return agent.Target(ctx, g, srv, lease, st, log, cfg)
	})
}

// clientPod starts the client DaemonSet's pod on g as images/lustre-client
// runs it: agent.Client with the pod's defaults.
func (s *suite) clientPod(t *testing.T, g *Guest) (*pod, lustre.Client) {
	t.Helper()
	c, err := s.podSpec(g.Name).Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.startPod(g, "client", false, func(ctx context.Context, st agent.Status, log *slog.Logger) error {
		return agent.Client(ctx, g, c, s.values.LNet.Networks, st, log, agent.Config{})
	}), c
}

// TestVMLustre runs the Lustre cases on a Lustre the user gives
// (KUBE_LUSTRE_VM_LUSTRE, docs/vm-lustre.md): targets formatted, mounted
// and failed over, a client's fsynced files read back after the failover.
// Without it the test is skipped with the one line that says so, which
// ci/vm/summary.sh repeats in the run's summary: it is not a pass.
func TestVMLustre(t *testing.T) {
	base, _ := guestImage(t)
	manifest, _ := os.ReadFile(filepath.Join(base, "manifest"))
	dir, notRun, err := lustreCases(os.Getenv(LustreEnv), manifestKernel(string(manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if notRun != "" {
		t.Skip(notRun)
	}
	image, secs := lustreImage(t, base, dir)
	s := newSuite(t, image, lustreTopologyYAML)
	s.lustre = true
	if secs > 0 {
		s.measure(t, "guest image with the Lustre of %s (cold): %.0f s", dir, secs)
	}
	// 256 MiB each: room for Lustre's own files and the client's data;
	// protocol C replicates every write before it returns.
	disks := func(name string) []Disk {
		return []Disk{
			{Serial: "kl-mdt", File: filepath.Join(s.dir, name+"-mdt.img"), SizeMB: 256},
			{Serial: "kl-ost", File: filepath.Join(s.dir, name+"-ost.img"), SizeMB: 256},
		}
	}
	s.vm1 = s.addGuest(t, 1, "vm1", "10.99.0.1", disks("vm1")...)
	s.vm2 = s.addGuest(t, 2, "vm2", "10.99.0.2", disks("vm2")...)
	vm3 := s.addGuest(t, 3, "vm3", "10.99.0.3")
	// A server runs the ZFS ARC, an MDT and an OST.
	s.vm1.MemMB, s.vm2.MemMB = 2048, 2048
	ports := newSwitch(t, s.dir, "vm1", "vm2", "vm3")
	for _, g := range []*Guest{s.vm1, s.vm2, vm3} {
		g.peerSock = ports[g.Name]
	}
	s.serveFencing(t, s.vm1, s.vm2)
	s.boot(t, s.vm1, s.vm2, vm3)

	lc := &lustreCase{s: s, client: vm3}
	s.cases(t, []vmCase{
		{"1-targets-up", lc.targetsUp},
		{"2-client-writes", lc.clientWrites},
		{"3-failover", lc.failover},
		{"4-client-reads-back", lc.readBack},
	})
}

// lustreCase is the state the Lustre cases pass on.
type lustreCase struct {
	s      *suite
	client *Guest
	mount  lustre.Client
	// sums are the sha256 of each file the client wrote and fsynced,
	// by path under the client's mount.
	sums  map[string]string
	crash time.Time
}

// drbdPods starts the DRBD agent's pod on each server as images/drbd runs
// it (fencing, unfencing and refencing through the node's fencer, at the
// pod's interval) and waits until each has its resources up. The pods run
// on until their node dies or the test ends.
func (lc *lustreCase) drbdPods(t *testing.T, guests ...*Guest) {
	s := lc.s
	start := time.Now()
	pods := make([]*pod, len(guests))
	for i, g := range guests {
		f := s.fencers[g.Name]
		pods[i] = s.drbdPod(t, g, agent.Config{Unfence: f.UnfenceInSync, Refence: f.FencePeer, PeerLost: f.PeerLost}, false)
	}
	deadline := start.Add(5 * time.Minute)
	for i, g := range guests {
		secs := pods[i].waitReady(t, start, time.Until(deadline))
		s.measure(t, "%s DRBD agent: its resources up %.1f s after its start", g.Name, secs)
	}
}

// serveTargets starts the pod of every target on g and waits until each
// serves; the times are measured from since (after what).
func (lc *lustreCase) serveTargets(t *testing.T, g *Guest, since time.Time, what string, limit time.Duration) {
	s := lc.s
	pods := map[string]*pod{}
	for _, target := range lustreTargets {
		pods[target] = s.targetPod(t, g, target)
	}
	deadline := time.Now().Add(limit)
	for _, target := range lustreTargets {
		secs := pods[target].waitReady(t, since, time.Until(deadline))
		s.measure(t, "%s serving on %s %.1f s after %s", target, g.Name, secs, what)
	}
}

// targetsUp: blank disks to a serving filesystem on vm1, through the pods'
// loops: the DRBD resources up on both nodes, the initial sync started by
// the preferred node, pools created, mkfs.lustre, the first mounts
// registering the targets with the MGS.
func (lc *lustreCase) targetsUp(t *testing.T) {
	s := lc.s
	lc.drbdPods(t, s.vm1, s.vm2)
	lc.serveTargets(t, s.vm1, time.Now(), "their pods started (initial sync forced, pool created, mkfs.lustre, first mount)", 20*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, target := range lustreTargets {
		srv, err := s.podSpec("vm1").Server(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		// Registered: the label in its dash form (lustre-facts.md).
		res, err := host.Run(ctx, s.vm1, "zfs", "get", "-H", "-o", "value", "lustre:svname", srv.Target.Name())
		if got := strings.TrimSpace(res.Stdout); err != nil || got != srv.Target.Svname() {
			t.Errorf("vm1: %s label %q (%v), want %s (registered with the MGS)", srv.Target.Name(), got, err, srv.Target.Svname())
		}
	}
}

// clientWrites: the client pod mounts on vm3; files written there, each
// with fsync, and their checksums kept.
func (lc *lustreCase) clientWrites(t *testing.T) {
	s := lc.s
	start := time.Now()
	var p *pod
	p, lc.mount = s.clientPod(t, lc.client)
	s.measure(t, "vm3 client mounted (LNet, modules, mount) in %.1f s", p.waitReady(t, start, 10*time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Sizes from 384 KiB to 3 MiB; each file's data and metadata are
	// on the servers when its fsync returns (conv=fsync).
	out := lc.client.sh(ctx, t, fmt.Sprintf(`set -e
mkdir -p %[1]s/vmcase
for i in 1 2 3 4 5 6 7 8; do
	head -c $((i * 384))K /dev/urandom >/tmp/f$i
	dd if=/tmp/f$i of=%[1]s/vmcase/f$i bs=64K conv=fsync status=none
	printf '%%s vmcase/f%%s\n' "$(sha256sum </tmp/f$i | cut -d' ' -f1)" "$i"
done`, lc.mount.MountPoint))
	lc.sums = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			lc.sums[f[1]] = f[0]
		}
	}
	if len(lc.sums) != 8 {
		t.Fatalf("vm3 wrote %d files, want 8:\n%s", len(lc.sums), out)
	}
	s.measure(t, "vm3 wrote and fsynced 8 files (13.5 MiB) in %.1f s after its mount", time.Since(start).Seconds())
}

// failover: both resources in sync, vm1 killed with its pods; the target
// pods started again on vm2 (the failover controller's doing) take the
// Leases once vm1's expire, promote (fence-peer through the real handler),
// import with -f and mount, each attempt under the pod's own bound.
func (lc *lustreCase) failover(t *testing.T) {
	s := lc.s
	for _, r := range s.resources(t, "vm1") {
		waitInSync(t, s.vm1, r, 15*time.Minute)
	}
	before := len(s.vm2.Log.Entries())
	lc.crash = s.crash(t, s.vm1)
	t.Log("vm1 killed (kill -9 of its qemu), with its DRBD agent and target pods")
	lc.serveTargets(t, s.vm2, lc.crash, fmt.Sprintf("vm1 was killed (failover; start attempts bounded at %s, MMP %+v, DRBD %+v)",
		s.podSpec("vm2").StartAttempt(), s.spec("vm2").MMP(), s.spec("vm2").DRBDTiming()), 10*time.Minute)
	logCommands(t, s.vm2, s.vm2.Log.Entries()[before:], func(c host.Cmd) bool {
		return c.Name == "mount" || c.Name == "zpool" && len(c.Args) > 0 && c.Args[0] == "import" ||
			c.Name == "drbdadm" && len(c.Args) > 0 && c.Args[0] == "primary"
	})
	t.Logf("vm2 fence questions: %q", s.vm2.Questions())
	if n := count(s.vm2.Log, "mkfs.lustre"); n != 0 {
		t.Errorf("vm2 ran mkfs.lustre %d times: a takeover must find its targets formatted", n)
	}
	ctx := context.Background()
	for _, target := range lustreTargets {
		if who, err := failover.Outdated(ctx, s.leases, leaseOf(target)); err != nil || who != "vm1" {
			t.Errorf("%s's Lease marks %q outdated (%v) after the takeover; want vm1 (fence-peer through the real handler)", target, who, err)
		}
	}
}

// readBack: the client, which never stopped, reconnects to the targets on
// vm2; with its locks and cached pages dropped, every file it fsynced
// before the crash reads back from the servers with its checksum, and a
// new file can be written.
func (lc *lustreCase) readBack(t *testing.T) {
	s := lc.s
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mnt := lc.mount.MountPoint
	out := lc.client.sh(ctx, t, fmt.Sprintf(`set -e
lctl set_param -n 'ldlm.namespaces.*.lru_size=clear' >/dev/null
echo 3 >/proc/sys/vm/drop_caches
cd %s && sha256sum vmcase/f*`, mnt))
	s.measure(t, "failover: vm1 killed to the client's re-read of its files: %.1f s", time.Since(lc.crash).Seconds())
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			got[f[1]] = f[0]
		}
	}
	for name, sum := range lc.sums {
		if got[name] != sum {
			t.Errorf("%s after the failover: sha256 %q, want %s (written with fsync before the crash)", name, got[name], sum)
		}
	}
	if !t.Failed() {
		t.Logf("all %d fsynced files intact after the failover", len(lc.sums))
	}
	lc.client.sh(ctx, t, fmt.Sprintf("dd if=/dev/urandom of=%s/vmcase/after bs=64K count=16 conv=fsync status=none", mnt))
	s.measure(t, "failover: vm1 killed to the client's first new write: %.1f s", time.Since(lc.crash).Seconds())
}
