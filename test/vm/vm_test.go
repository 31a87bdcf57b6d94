//go:build e2evm

package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
	"github.com/kube-lustre/kube-lustre/internal/nodespec"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// The filesystem the suite serves: MGS+MDT0 on a DRBD pair (the entrypoints'
// main path), and an OST on a disk both guests see (a shared-storage pair,
// where MMP is the protection against a second import).
const topologyYAML = `fsname: klvm
nodes:
  vm1: {address: 10.99.0.1, nids: [10.99.0.1@tcp]}
  vm2: {address: 10.99.0.2, nids: [10.99.0.2@tcp]}
targets:
  - type: mdt
    index: 0
    mgs: true
    nodes: [vm1, vm2]
    drbd: {minor: 0, port: 7788, disk: /dev/disk/by-id/virtio-kl-drbd, protocol: C}
  - type: ost
    index: 0
    nodes: [vm1, vm2]
    sharedStorage: true
    zpool: {vdevs: [/dev/disk/by-id/virtio-kl-shared]}
clients: {enabled: false}
`

// guestModules are what the installer's module check would load on a
// node; the Lustre ones are not packaged for Debian.
var guestModules = []string{"zfs", "drbd"}

type suite struct {
	// top is the test the suite serves: loops that outlive a case (pods,
	// fencers) log there, never to a subtest that may have ended.
	top        *testing.T
	dir        string
	image      string
	agentImg   string
	vm1, vm2   *Guest
	values     *topology.Values
	plan       *topology.Plan
	probe      Disk
	measured   []string
	measuredMu sync.Mutex
	// lustre: the guests load the modules of their role with LNet, as
	// the installer does (the Lustre cases); otherwise guestModules.
	lustre bool

	// leases stand for the API server's Leases; fencers are the DRBD
	// agents' fence deciders of each node, on those Leases.
	leases  *memLeases
	fencers map[string]*failover.Fencer
	// held reports how vm1's renewals of its Lease on mdt0 ended
	// (agent.Target's Hold, while it serves; they end with vm1).
	held chan error

	// running is what runs on each node and ends with it (crash).
	runningMu sync.Mutex
	running   map[string][]func()
}

// leaseTimeout and quietLease are failover.leaseSeconds and
// failover.quietLeaseSeconds, the chart's defaults.
const (
	leaseTimeout = 10 * time.Second
	quietLease   = 300 * time.Second
)

func leaseOf(target string) string { return "klvm-" + target }

func (s *suite) lease(node, target string) *failover.Lease {
	return &failover.Lease{Client: s.leases, Name: leaseOf(target), Identity: node, Duration: leaseTimeout, Quiet: quietLease}
}

// leaseDuration is the duration the Lease of target states now.
func (s *suite) leaseDuration(ctx context.Context, t *testing.T, target string) time.Duration {
	t.Helper()
	cur, err := s.leases.Get(ctx, leaseOf(target), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
}

// acquire is agent.Target's: not while the Lease marks this node's copy
// outdated, checked again once held.
func acquire(ctx context.Context, l *failover.Lease) error {
	if err := l.CheckNotOutdated(ctx); err != nil {
		return err
	}
	if err := l.TryAcquire(ctx); err != nil {
		return err
	}
	return l.CheckNotOutdated(ctx)
}

// testWriter sends log lines to t.Log.
type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimSpace(string(b)))
	return len(b), nil
}

// measure prints a measured number and keeps it for the summary.
func (s *suite) measure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log("MEASURED " + line)
	s.measuredMu.Lock()
	s.measured = append(s.measured, line)
	s.measuredMu.Unlock()
}

// spec is what entry.SetupNode builds for a node; Fence as the DRBD agent
// sets it once its fence socket is served (images/drbd run).
func (s *suite) spec(node string) nodespec.Spec {
	return nodespec.Spec{Values: s.values, Plan: s.plan, Node: node, Fence: true}
}

func (s *suite) server(t *testing.T, node, target string) lustre.Server {
	t.Helper()
	srv, err := s.spec(node).Server(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	// Poll faster than the pod's default: the suite waits on the sync.
	srv.Poll = 500 * time.Millisecond
	// The Lustre target pod sets this once it holds the target's Lease.
	// The suite takes mdt0's Lease before each start that the pod would
	// make; case 3 bypasses it on purpose to show DRBD's own refusal.
	srv.TakeOver = true
	return srv
}

func (s *suite) resources(t *testing.T, node string) []drbd.Resource {
	t.Helper()
	res, err := s.spec(node).DRBDResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readyStatus is a pod's status: ready is closed at its first "ready",
// the point where the pod's readiness probe would pass. With log, each
// change of the status is logged.
type readyStatus struct {
	once  sync.Once
	ready chan struct{}
	mu    sync.Mutex
	last  string
	log   func(string)
}

func (r *readyStatus) Set(state podstate.State, msg string) {
	line := string(state) + ": " + msg
	r.mu.Lock()
	changed := line != r.last
	r.last = line
	r.mu.Unlock()
	if changed && r.log != nil {
		r.log(line)
	}
	if state == podstate.Ready {
		r.once.Do(func() { close(r.ready) })
	}
}

// drbdAgent runs the DRBD DaemonSet pod's loop (agent.DRBD, what
// images/drbd runs) on each guest until every one reported ready.
func (s *suite) drbdAgent(t *testing.T, guests ...*Guest) {
	t.Helper()
	pods := make([]*pod, len(guests))
	for i, g := range guests {
		pods[i] = s.drbdPod(t, g, agent.Config{Interval: 2 * time.Second, Unfence: s.fencers[g.Name].UnfenceInSync}, true)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for _, p := range pods {
		p.waitReady(t, time.Now(), time.Until(deadline))
		p.stop()
	}
}

// drbdPod starts the DRBD agent's loop on g with cfg, and with failover.mmp
// applied as zfs module parameters before any pool is imported, as
// images/drbd does. quiet discards its log.
func (s *suite) drbdPod(t *testing.T, g *Guest, cfg agent.Config, quiet bool) *pod {
	t.Helper()
	res := s.resources(t, g.Name)
	mmp := s.spec(g.Name).MMP()
	cfg.MMP = &mmp
	// As images/drbd: the loop records its metrics, which reads frozen
	// I/O and resync progress from the real kernel.
	cfg.DRBDMetrics = metrics.NewDRBD(prometheus.NewRegistry())
	return s.startPod(g, "drbd", quiet, func(ctx context.Context, st agent.Status, log *slog.Logger) error {
		agent.DRBD(ctx, g, res, st, log, cfg)
		return nil
	})
}

// pod is one pod's main loop running on a guest through its agent, as
// the pod's image runs it. It ends with its node (crash), when stopped, or
// at the end of the test.
type pod struct {
	name     string
	st       *readyStatus
	cancel   context.CancelFunc
	finished chan struct{}
	err      error
}

// startPod runs loop as the pod name on g. Unless quiet, its log and each
// change of its status go to the test's log.
func (s *suite) startPod(g *Guest, name string, quiet bool, loop func(ctx context.Context, st agent.Status, log *slog.Logger) error) *pod {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pod{name: g.Name + " " + name, st: &readyStatus{ready: make(chan struct{})}, cancel: cancel, finished: make(chan struct{})}
	var w io.Writer = io.Discard
	if !quiet {
		w = &testWriter{t: s.top, prefix: p.name + ": "}
		p.st.log = func(line string) { s.top.Logf("%s status %s", p.name, line) }
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	go func() {
		p.err = loop(ctx, p.st, log)
		close(p.finished)
	}()
	s.whileUp(g, p.stop)
	return p
}

// stop ends the pod's loop as SIGTERM would and waits for it (a pod on a
// killed guest fails its stop at once: the guest does not answer).
func (p *pod) stop() {
	p.cancel()
	<-p.finished
}

// waitReady waits at most limit for the pod's first "ready" and returns
// the seconds from since.
func (p *pod) waitReady(t *testing.T, since time.Time, limit time.Duration) float64 {
	t.Helper()
	select {
	case <-p.st.ready:
		return time.Since(since).Seconds()
	case <-p.finished:
		t.Fatalf("%s ended before it was ready: %v (last status %q)", p.name, p.err, p.st.lastStatus())
	case <-time.After(limit):
		t.Fatalf("%s never ready within %s, last status %q", p.name, limit.Round(time.Second), p.st.lastStatus())
	}
	return 0
}

func (r *readyStatus) lastStatus() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// waitInSync polls the real DRBD state until both disks are UpToDate. While
// the resource resyncs it also reads the progress the DRBD agent exports
// (drbd.SyncDone, HOSTSIM-CORRECTIONS T-syncdone): it must read on the real
// kernel, between 0 and 1, unless the resync ended between the two reads.
func waitInSync(t *testing.T, g *Guest, r drbd.Resource, limit time.Duration) drbd.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last drbd.State
	var progress []string
	defer func() { t.Logf("%s: %s resync progress read while waiting: %v", g.Name, r.Name, progress) }()
	for {
		st, err := drbd.Observe(ctx, g, r)
		if err == nil && st.InSync() {
			return st
		}
		if err == nil {
			last = st
		}
		if err == nil && st.Resyncing() {
			done, derr := drbd.SyncDone(ctx, g, r)
			switch now, oerr := drbd.Observe(ctx, g, r); {
			case derr == nil && (done < 0 || done > 1):
				t.Errorf("%s: %s resync progress %v, want 0 to 1", g.Name, r.Name, done)
			case derr == nil:
				progress = append(progress, fmt.Sprintf("%.3f", done))
			case oerr == nil && now.Resyncing() && ctx.Err() == nil:
				t.Errorf("%s: %s resyncing (%s) but its progress unreadable: %v", g.Name, r.Name, now, derr)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s not in sync within %s (last: %s, err %v)", g.Name, r.Name, limit, last, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// count returns how many logged commands start with argv prefix want,
// failed ones included: a failed create-md may still have written.
func count(l *host.Log, want ...string) int {
	n := 0
	for _, e := range l.Entries() {
		argv := e.Cmd.Argv()
		if len(argv) < len(want) {
			continue
		}
		match := true
		for i, w := range want {
			if argv[i] != w {
				match = false
				break
			}
		}
		if match {
			n++
		}
	}
	return n
}

// ran reports whether a command starting with want was attempted at all.
func ran(entries []host.Entry, want ...string) bool {
	for _, e := range entries {
		if strings.HasPrefix(e.Cmd.String(), strings.Join(want, " ")) {
			return true
		}
	}
	return false
}

// newSuite prepares what the guests of a suite share: a work directory,
// the values as the pods get them and the agent disk. Guests come with
// addGuest, their fencing with serveFencing.
func newSuite(t *testing.T, image, topologyYAML string) *suite {
	manifest, _ := os.ReadFile(filepath.Join(image, "manifest"))
	t.Logf("guest image %s:\n%s", image, manifest)

	dir, err := os.MkdirTemp("", "klvm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("KUBE_LUSTRE_VM_KEEP") != "" || t.Failed() {
			t.Logf("guest files (consoles, qemu logs, command transcripts) kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	// What the chart renders for the pods: the chart's defaults (failover
	// timing among them) under the suite's values, as helm install merges.
	merged, err := helmvalues.LoadBytes([]byte(topologyYAML))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := yaml.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(topo, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	// The entrypoints' own loader: the same validation and plan.
	v, p, err := entry.LoadTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{top: t, dir: dir, image: image, values: v, plan: p, leases: newMemLeases(),
		fencers: map[string]*failover.Fencer{}, running: map[string][]func(){}}
	// Registered before the guests: runs after their qemus are killed,
	// so what still ran on them ends as on a crashed node.
	t.Cleanup(s.endAll)
	s.agentImg = agentDisk(t, dir)
	return s
}

// addGuest makes guest i (its MAC), a copy-on-write root disk on the
// suite's image and the data disks, sparse and blank (a shared disk once,
// for the first guest that has it). Its network card's peer (peerSock) is
// set by the caller: the other guest of a pair, or a switch port.
func (s *suite) addGuest(t *testing.T, i int, name, ip string, disks ...Disk) *Guest {
	g := &Guest{Name: name, IP: ip, Index: i, dir: s.dir, image: s.image, agentDisk: s.agentImg, disks: disks}
	tr, err := os.Create(filepath.Join(s.dir, name+"-transcript.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	g.transcript = tr
	g.Log = host.NewLog(host.RunnerFunc(g.direct))
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", filepath.Join(s.image, "root.img"),
		filepath.Join(s.dir, name+"-root.qcow2"))
	for _, d := range g.disks {
		if _, err := os.Stat(d.File); err == nil {
			continue // the shared disk, made for the first guest
		}
		// Sparse and all zeroes: a blank disk.
		run(t, "truncate", "-s", fmt.Sprintf("%dM", d.SizeMB), d.File)
	}
	t.Cleanup(func() { g.Kill(t); tr.Close() })
	return g
}

// netSock is the guest's end of its network link (qemu's local.path).
func (g *Guest) netSock() string { return filepath.Join(g.dir, g.Name+"-net.sock") }

// serveFencing serves each node's fence decisions as the DRBD agent serves
// them (fencesock), on the host where the Leases are; the guest agent
// passes its handler's questions here.
func (s *suite) serveFencing(t *testing.T, guests ...*Guest) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, g := range guests {
		f := s.spec(g.Name).Fencer(s.leases, leaseOf)
		f.Log = slog.New(slog.NewTextHandler(&testWriter{t: t, prefix: g.Name + " fencer: "}, nil))
		s.fencers[g.Name] = f
		g.fenceSock = filepath.Join(s.dir, g.Name+"-fence.sock")
		l, err := net.Listen("unix", g.fenceSock)
		if err != nil {
			t.Fatal(err)
		}
		go fencesock.Serve(ctx, l, f)
	}
}

// newDRBDSuite is the suite of TestVM: MGS+MDT0 on a DRBD pair, an OST on
// a disk both guests see, two guests on a datagram socket pair.
func newDRBDSuite(t *testing.T) *suite {
	image, buildSecs := guestImage(t)
	s := newSuite(t, image, topologyYAML)
	if buildSecs > 0 {
		s.measure(t, "image build (cold): %.0f s", buildSecs)
	}
	shared := Disk{Serial: "kl-shared", File: filepath.Join(s.dir, "shared.img"), SizeMB: 256, Shared: true}
	s.probe = Disk{Serial: "kl-probe", File: filepath.Join(s.dir, "vm1-probe.img"), SizeMB: 400}
	// 128 MiB: the initial sync is the suite's longest step under TCG.
	drbdDisk := func(name string) Disk {
		return Disk{Serial: "kl-drbd", File: filepath.Join(s.dir, name+"-drbd.img"), SizeMB: 128}
	}
	s.vm1 = s.addGuest(t, 1, "vm1", "10.99.0.1", drbdDisk("vm1"), shared, s.probe)
	s.vm2 = s.addGuest(t, 2, "vm2", "10.99.0.2", drbdDisk("vm2"), shared)
	s.vm1.peerSock, s.vm2.peerSock = s.vm2.netSock(), s.vm1.netSock()
	s.serveFencing(t, s.vm1, s.vm2)
	return s
}

// whileUp registers stop as something running on node g that ends with it
// (a pod's process, the Lease renewals it makes).
func (s *suite) whileUp(g *Guest, stop func()) {
	s.runningMu.Lock()
	s.running[g.Name] = append(s.running[g.Name], stop)
	s.runningMu.Unlock()
}

// crash is a node crash: kill -9 of the guest's qemu, and what ran on the
// node ends with it, undone by nobody (nothing unmounted, no Lease
// released). It returns when the guest died, and the moment of the kill:
// takeovers are timed from the signal, not from the end of qemu's exit,
// which can take a second or two while the peer already goes on.
func (s *suite) crash(t testing.TB, g *Guest) time.Time {
	at := time.Now()
	g.Kill(t)
	s.runningMu.Lock()
	stops := s.running[g.Name]
	delete(s.running, g.Name)
	s.runningMu.Unlock()
	for _, stop := range stops {
		stop()
	}
	return at
}

// endAll ends what still runs on any node, at the end of the test.
func (s *suite) endAll() {
	s.runningMu.Lock()
	all := s.running
	s.running = map[string][]func(){}
	s.runningMu.Unlock()
	for _, stops := range all {
		for _, stop := range stops {
			stop()
		}
	}
}

// boot starts the guests in parallel and prepares each as a node would be
// before the pods start: its address, the kernel modules the installer's
// check loads (loadModules, the project's own steps) and, on a node with
// DRBD, the fence handler.
func (s *suite) boot(t *testing.T, guests ...*Guest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	secs := make([]float64, len(guests))
	errs := make([]error, len(guests))
	for i, g := range guests {
		wg.Add(1)
		go func() { defer wg.Done(); secs[i], errs[i] = g.Start(ctx) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range guests {
		s.measure(t, "%s boot to a ready agent: %.1f s", g.Name, secs[i])
		g.sh(ctx, t, fmt.Sprintf("ip link set eth0 up && { ip -4 addr show dev eth0 | grep -q 'inet %s/' || ip addr add %s/24 dev eth0; }", g.IP, g.IP))
		start := time.Now()
		mods, err := s.loadModules(ctx, g)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		s.measure(t, "%s modprobe %s: %.1f s", g.Name, strings.Join(mods, " "), time.Since(start).Seconds())
		if np, _ := s.plan.Node(g.Name); len(np.DRBD) > 0 {
			// What the DRBD agent's installHandler does on a node: the
			// handler DRBD runs is the drbd image's own binary, on the host.
			g.sh(ctx, t, "install -D -m 0755 /run/kl-agent/drbd "+drbd.HostBinDir+"/drbd")
		}
	}
}

// loadModules is what the installer's check loads on the node before its
// pods start: guestModules below Lustre, or, for the Lustre cases, the
// modules of the node's role with LNet configured between lnet and the
// rest (lustre.EnsureModulesAndLNet, as images/installer verify).
func (s *suite) loadModules(ctx context.Context, g *Guest) ([]string, error) {
	if !s.lustre {
		return guestModules, lustre.EnsureModules(ctx, g, guestModules)
	}
	mods := roleModules(s.plan, g.Name)
	return mods, lustre.EnsureModulesAndLNet(ctx, g, mods, s.values.LNet.Networks)
}

func TestVM(t *testing.T) {
	s := newDRBDSuite(t)
	s.boot(t, s.vm1, s.vm2)
	t.Log("Lustre is not packaged for Debian 12: here mkfs.lustre, the Lustre mount and LNet stay on hostsim; " +
		"this test runs every step below them (DRBD, ZFS, blank-disk proof) on real kernels, TestVMLustre the rest on a Lustre given in " + LustreEnv)

	mdt1 := s.server(t, "vm1", "mdt0")
	mdt2 := s.server(t, "vm2", "mdt0")
	res := mdt1.Resource

	s.cases(t, []vmCase{
		{"1-bring-up", func(t *testing.T) { s.bringUp(t, mdt1) }},
		{"2-restart-idempotent", func(t *testing.T) { s.restart(t, mdt1) }},
		{"3-second-import-refused", func(t *testing.T) { s.secondImport(t, mdt2) }},
		{"4-failover", func(t *testing.T) { s.failover(t, mdt1, mdt2) }},
		{"5-old-primary-returns", func(t *testing.T) { s.rejoin(t, res) }},
		{"6-blank-proof", func(t *testing.T) { s.blankProof(t, res) }},
		{"7-boot-import-refused", func(t *testing.T) { s.bootImport(t) }},
	})
}

// bootImport: the installer's check of the host's boot-time pool import,
// on a real systemd and a real cache file. The image masks both ZFS
// import units; here they are left as a stock Debian server has them
// (unmasked, enabled), the check must refuse and name the scan unit, the
// installer's mask must satisfy it, and a cache file a pool was imported
// with must be caught as naming that pool.
func (s *suite) bootImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g := s.vm2
	units := zfs.ScanUnit + " " + zfs.CacheUnit
	g.sh(ctx, t, "systemctl unmask "+units+" && systemctl enable "+units+" 2>&1")
	t.Logf("vm2 stock units: %s", strings.ReplaceAll(g.sh(ctx, t, "systemctl show "+zfs.ScanUnit+" -p LoadState -p UnitFileState"), "\n", " "))
	err := zfs.CheckBootImport(ctx, g, []string{"klvm-mdt0"})
	var bi *zfs.BootImportError
	if !errors.As(err, &bi) || bi.Scan == "" {
		t.Fatalf("check with the scan unit enabled: %v, want it named", err)
	}
	t.Logf("refused as the installer would: %v", err)
	if masked, err := zfs.MaskBootImportScan(ctx, g); err != nil || !masked {
		t.Fatalf("mask: %v %v", masked, err)
	}
	if err := zfs.CheckBootImport(ctx, g, []string{"klvm-mdt0"}); err != nil {
		t.Fatalf("check with the scan masked and no cache file: %v", err)
	}
	// A pool imported with the default cache file is listed in it.
	g.sh(ctx, t, "truncate -s 128M /var/tmp/kl-cache.img && zpool create -o cachefile="+zfs.CacheFile+" klvm-cachetest /var/tmp/kl-cache.img")
	err = zfs.CheckBootImport(ctx, g, []string{"klvm-mdt0", "klvm-cachetest"})
	if !errors.As(err, &bi) || !slices.Equal(bi.Cached, []string{"klvm-cachetest"}) || bi.Scan != "" {
		t.Fatalf("check with a pool in %s: %v, want that pool named", zfs.CacheFile, err)
	}
	t.Logf("refused: %v", err)
	g.sh(ctx, t, "zpool destroy klvm-cachetest && rm -f /var/tmp/kl-cache.img "+zfs.CacheFile+" && systemctl mask "+units)
}

type vmCase struct {
	name string
	fn   func(t *testing.T)
}

// cases runs the suite's cases in order, then prints what they measured.
func (s *suite) cases(t *testing.T, cases []vmCase) {
	for _, c := range cases {
		// Each case builds on the state the one before left: stop at the
		// first failure rather than report its consequences.
		if !t.Run(c.name, c.fn) {
			break
		}
	}
	t.Log("measured:\n  " + strings.Join(s.measured, "\n  "))
	t.Logf("command transcripts (every real answer, for comparison with hostsim): %s/vm*-transcript.jsonl", s.dir)
}

// logCommands logs each of entries (commands g ran) that keep selects,
// with its exit code and duration.
func logCommands(t *testing.T, g *Guest, entries []host.Entry, keep func(host.Cmd) bool) {
	t.Helper()
	for _, e := range entries {
		if keep(e.Cmd) {
			t.Logf("%s: exit %d after %5.1f s: %s (%s)", g.Name, e.ExitCode, e.Duration.Seconds(), e.Cmd, e.Err)
		}
	}
}

// bringUp: blank disks to a replicated pool, through the DRBD pod's loop
// on both nodes and the target pod's start on the preferred node.
func (s *suite) bringUp(t *testing.T, mdt1 lustre.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	s.drbdAgent(t, s.vm1, s.vm2)
	s.measure(t, "DRBD agents: config, create-md, up on both guests: %.1f s", time.Since(start).Seconds())
	if n := count(s.vm1.Log, "drbdadm", "create-md"); n != 1 {
		t.Errorf("vm1: create-md ran %d times on a blank disk, want 1", n)
	}

	// The target pod serves only under the target's Lease, renewed
	// while it serves.
	l1 := s.lease("vm1", "mdt0")
	if err := acquire(ctx, l1); err != nil {
		t.Fatalf("vm1: lease: %v", err)
	}
	hctx, stop := context.WithCancel(context.Background())
	s.held = make(chan error, 1)
	s.whileUp(s.vm1, stop)
	// With the pod's guard: quiet renewals while DRBD's peer is connected.
	// It logs for the whole suite (s.top): it outlives this case.
	guard := agent.DRBDGuard(s.vm1, mdt1, slog.New(slog.NewTextHandler(&testWriter{t: s.top, prefix: "vm1 mdt0 lease: "}, nil)))
	go func() { s.held <- l1.Hold(hctx, failover.Sleep, guard) }()
	start = time.Now()
	rep, err := lustre.StartStorage(ctx, s.vm1, mdt1)
	if err != nil {
		t.Fatalf("vm1: start of mdt0 below Lustre: %v", err)
	}
	s.measure(t, "vm1 target start below Lustre (initial sync forced, promote, create pool): %.1f s", time.Since(start).Seconds())
	if !rep.InitialSync || !rep.CreatedPool || !rep.HostID {
		t.Errorf("vm1 start report %+v: want initial sync, hostid and pool created", rep)
	}
	for _, prop := range []string{"multihost", "cachefile"} {
		res, err := host.Run(ctx, s.vm1, "zpool", "get", "-H", "-o", "value", prop, mdt1.Pool.Name)
		// A DRBD pool gets no MMP (zfs.Pool.Multihost): it could never see the peer.
		want := map[string]string{"multihost": "off", "cachefile": "none"}[prop]
		if err != nil || strings.TrimSpace(res.Stdout) != want {
			t.Errorf("vm1: pool %s %s = %q (%v), want %s", mdt1.Pool.Name, prop, res.Stdout, err, want)
		}
	}
	// The space a target pod reports (issue 18, zfs.GetSpace), read on
	// real ZFS: exact bytes, less than the DRBD device.
	sp, err := zfs.GetSpace(ctx, s.vm1, mdt1.Pool.Name)
	if err != nil || sp.Used == 0 || sp.Available == 0 || sp.Used+sp.Available >= 128<<20 {
		t.Errorf("vm1: space of pool %s on a 128 MiB DRBD disk: %+v %v", mdt1.Pool.Name, sp, err)
	}
	s.measure(t, "zfs get -p used,available of a new pool on a 128 MiB DRBD 8.4 disk: used %d, available %d bytes", sp.Used, sp.Available)
	// And of an empty child dataset, as mkfs.lustre creates one (hostsim
	// models 24 KiB), then the pool as it was.
	probe := mdt1.Pool.Name + "/space-probe"
	if _, err := host.Run(ctx, s.vm1, "zfs", "create", probe); err != nil {
		t.Fatalf("vm1: %v", err)
	}
	child, err := zfs.GetSpace(ctx, s.vm1, probe)
	if err != nil || child.Used == 0 || child.Available > sp.Available {
		t.Errorf("vm1: space of %s: %+v %v", probe, child, err)
	}
	s.measure(t, "zfs get -p used,available of an empty child dataset there: used %d, available %d bytes", child.Used, child.Available)
	if _, err := host.Run(ctx, s.vm1, "zfs", "destroy", probe); err != nil {
		t.Fatalf("vm1: %v", err)
	}
	st := waitInSync(t, s.vm1, mdt1.Resource, 10*time.Minute)
	s.measure(t, "initial sync of %s (128 MiB, protocol C) done %.1f s after the start began", mdt1.Resource.Name, time.Since(start).Seconds())
	if st.Role != "Primary" {
		t.Errorf("vm1 role %s after start, want Primary", st.Role)
	}
	t.Logf("stopping before mkfs.lustre (%s): Lustre is not in Debian, that step stays on hostsim", mdt1.Target.Dataset)
}

// restart: both pods start again on the same nodes; nothing that writes
// metadata or creates a pool may run a second time.
func (s *suite) restart(t *testing.T, mdt1 lustre.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	s.drbdAgent(t, s.vm1, s.vm2)
	rep, err := lustre.StartStorage(ctx, s.vm1, mdt1)
	if err != nil {
		t.Fatalf("vm1: second start: %v", err)
	}
	s.measure(t, "restart of both DRBD agents and the target start: %.1f s", time.Since(start).Seconds())
	if rep.InitialSync || rep.CreatedPool || rep.Imported || rep.HostID {
		t.Errorf("second start report %+v: want nothing done", rep)
	}
	writers := [][]string{
		{"drbdadm", "create-md"}, {"drbdadm", "primary", "--force"}, {"zpool", "create"},
		{"zgenhostid"}, {"wipefs", "-a"}, {"mkfs.lustre"}, {"zpool", "import"},
	}
	for _, g := range []*Guest{s.vm1, s.vm2} {
		for _, w := range writers {
			if n := count(g.Log, w...); n > 1 {
				t.Errorf("%s: %q ran %d times across two starts, want at most once", g.Name, strings.Join(w, " "), n)
			}
		}
	}
	if n := count(s.vm1.Log, "drbdadm", "up"); n != 1 {
		t.Errorf("vm1: drbdadm up ran %d times, want 1 (the restart found the resource up)", n)
	}
}

// secondImport: the second node tries to start targets the first serves.
// On DRBD the peer's promotion is refused while the Primary is connected;
// on a shared disk, MMP refuses the import.
func (s *suite) secondImport(t *testing.T, mdt2 lustre.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// First gate: the Lease, held and renewed by vm1.
	var held *failover.HeldError
	if err := acquire(ctx, s.lease("vm2", "mdt0")); !errors.As(err, &held) || held.Holder != "vm1" {
		t.Fatalf("vm2 lease while vm1 serves: %v, want held by vm1", err)
	}
	// Below it, as if the gate were bypassed: DRBD itself.
	before := len(s.vm2.Log.Entries())
	_, err := lustre.StartStorage(ctx, s.vm2, mdt2)
	if err == nil {
		t.Fatal("vm2 started mdt0 while vm1 serves it")
	}
	t.Logf("vm2 start of mdt0 refused: %v", err)
	if !host.ExitedWith(err, 11, "") {
		t.Errorf("vm2: %v, want DRBD's refusal to promote (exit 11)", err)
	}
	if ran(s.vm2.Log.Entries()[before:], "zpool", "import") {
		t.Error("vm2 attempted an import although its promotion was refused")
	}

	ost1 := s.server(t, "vm1", "ost0")
	ost2 := s.server(t, "vm2", "ost0")
	rep, err := lustre.StartStorage(ctx, s.vm1, ost1)
	if err != nil || !rep.CreatedPool {
		t.Fatalf("vm1: ost0 on the shared disk: %+v, %v", rep, err)
	}
	start := time.Now()
	_, err = lustre.StartStorage(ctx, s.vm2, ost2)
	s.measure(t, "vm2 import of the shared pool refused after %.1f s (MMP activity check)", time.Since(start).Seconds())
	if !errors.Is(err, zfs.ErrImportedElsewhere) {
		t.Fatalf("vm2 import of %s while vm1 holds it: %v, want ErrImportedElsewhere", ost2.Pool.Name, err)
	}
	t.Logf("vm2 refused by MMP: %v", err)
	if imported, err := zfs.Imported(ctx, s.vm2, ost2.Pool.Name); err != nil || imported {
		t.Errorf("vm2 has %s imported=%v (%v)", ost2.Pool.Name, imported, err)
	}
	// The clean hand-over the target pod's stop does: export, then the
	// peer imports without forcing.
	if err := zfs.Export(ctx, s.vm1, ost1.Pool.Name); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	rep, err = lustre.StartStorage(ctx, s.vm2, ost2)
	if err != nil || !rep.Imported || rep.TookOver {
		t.Fatalf("vm2 import after vm1's export: %+v, %v", rep, err)
	}
	s.measure(t, "vm2 import of the cleanly exported shared pool: %.1f s", time.Since(start).Seconds())
	if err := zfs.Export(ctx, s.vm2, ost2.Pool.Name); err != nil {
		t.Fatal(err)
	}
	// No refusal may have turned into a create or a forced sync on the
	// node that was refused: its only write so far is the metadata its
	// DRBD agent gave its blank disk at bring-up.
	for cmd, want := range map[string]int{"zpool create": 0, "drbdadm primary --force": 0, "drbdadm create-md": 1} {
		if n := count(s.vm2.Log, strings.Fields(cmd)...); n != want {
			t.Errorf("vm2 ran %q %d times, want %d", cmd, n, want)
		}
	}
}

// failover: data written on the Primary, its qemu killed, the survivor
// starts the target as the target pod does once it holds the Lease.
func (s *suite) failover(t *testing.T, mdt1, mdt2 lustre.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pool := mdt1.Pool.Name
	s.vm1.sh(ctx, t, fmt.Sprintf("zfs create -o mountpoint=/srv/kl %s/data && dd if=/dev/urandom of=/srv/kl/blob bs=1M count=32 status=none && zpool sync %s", pool, pool))
	sum := strings.Fields(s.vm1.sh(ctx, t, "sha256sum /srv/kl/blob"))[0]
	waitInSync(t, s.vm1, mdt1.Resource, 2*time.Minute)
	// vm1 renews quietly while connected (failover.quietLeaseSeconds);
	// vm2's DRBD agent, running as its DaemonSet pod does, cuts that
	// Lease back to leaseSeconds once it sees the link to vm1 gone.
	deadline := time.Now().Add(time.Minute)
	for s.leaseDuration(ctx, t, "mdt0") != quietLease {
		select {
		case err := <-s.held:
			t.Fatalf("vm1's Lease renewals ended before the crash: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cur, _ := s.leases.Get(ctx, leaseOf("mdt0"), metav1.GetOptions{})
			t.Fatalf("vm1 does not renew its Lease quietly while connected: %+v %v", cur.Spec, cur.Annotations)
		}
		failover.Sleep(ctx, time.Second)
	}
	f2 := s.fencers["vm2"]
	agent2 := s.drbdPod(t, s.vm2, agent.Config{Unfence: f2.UnfenceInSync, Refence: f2.FencePeer, PeerLost: f2.PeerLost}, false)
	defer agent2.stop()

	crash := s.crash(t, s.vm1) // vm1's pod dies with it: nobody renews its Lease
	if err := <-s.held; err != nil {
		t.Errorf("vm1 lost its Lease while serving: %v", err)
	}
	t.Log("vm1 killed (kill -9 of its qemu)")
	// The target pod on vm2 (started there by the failover controller)
	// waits for vm1's Lease to expire in agent.Target's own loop.
	l2 := s.lease("vm2", "mdt0")
	cut := false
	observe := func(ctx context.Context) (drbd.State, error) { return drbd.Observe(ctx, s.vm2, mdt2.Resource) }
	if !agent.AwaitLease(ctx, l2, observe, func(err error) {
		var held *failover.HeldError
		if !errors.As(err, &held) {
			t.Errorf("vm2 lease: %v", err)
		}
		if !cut && s.leaseDuration(ctx, t, "mdt0") == leaseTimeout {
			cut = true
			s.measure(t, "failover: vm2's DRBD agent cut vm1's quiet Lease to %s %.1f s after the crash", leaseTimeout, time.Since(crash).Seconds())
		}
	}) {
		t.Fatal(ctx.Err())
	}
	s.measure(t, "failover: vm2 holds the Lease %.1f s after the crash (leaseSeconds %d)", time.Since(crash).Seconds(), int(leaseTimeout.Seconds()))
	before := len(s.vm2.Log.Entries())
	// As agent.Target: the Lease was taken from a holder that stopped
	// renewing, so the import goes straight to -f (one MMP activity
	// check), and each start attempt has the pod's production bound
	// (nodespec.Spec.StartAttempt: the activity check plus 30 s), retried
	// at the pod's interval. DRBD 8.4 may still count the dead peer as
	// connected (up to ping-int): drbd.Promote asks again on its "(-7)"
	// refusal within the attempt.
	mdt2.PreviousHolderGone = l2.TookOverFrom() != ""
	if !mdt2.PreviousHolderGone {
		t.Errorf("vm2 took the Lease from nobody, want from vm1 (its Lease expired)")
	}
	bound := s.spec("vm2").StartAttempt()
	var rep lustre.StartReport
	var err error
	attempts := 0
	for {
		attempts++
		actx, cancel := context.WithTimeout(ctx, bound)
		rep, err = lustre.StartStorage(actx, s.vm2, mdt2)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		t.Logf("vm2 start attempt %d (bound %s): %v", attempts, bound, err)
		failover.Sleep(ctx, 10*time.Second) // agent.Config's default interval
	}
	total := time.Since(crash).Seconds()
	logCommands(t, s.vm2, s.vm2.Log.Entries()[before:], func(c host.Cmd) bool { return c.Name == "drbdadm" || c.Name == "zpool" })
	if err != nil {
		t.Fatalf("vm2 takeover: %v", err)
	}
	if !rep.TookOver {
		t.Errorf("vm2 report %+v: want the pool taken over (import -f)", rep)
	}
	if attempts != 1 {
		t.Errorf("the takeover took %d start attempts of %s: the pod's bound must hold one takeover", attempts, bound)
	}
	s.measure(t, "failover: vm1 killed to pool imported on vm2: %.1f s (%d start attempt(s) bounded at %s, MMP %+v, DRBD %+v)",
		total, attempts, bound, s.spec("vm2").MMP(), s.spec("vm2").DRBDTiming())
	for _, e := range s.vm2.Log.Entries()[before:] {
		if e.ExitCode == 0 && (strings.HasPrefix(e.Cmd.String(), "drbdadm primary") || strings.HasPrefix(e.Cmd.String(), "zpool import")) {
			s.measure(t, "failover: %s took %.1f s", e.Cmd, e.Duration.Seconds())
		}
	}
	t.Logf("vm2 fence questions: %q", s.vm2.Questions())
	if who, err := failover.Outdated(ctx, s.leases, leaseOf("mdt0")); err != nil || who != "vm1" {
		t.Errorf("Lease outdated mark after the takeover: %q, %v; want vm1 (fence-peer through the real handler)", who, err)
	}
	got := strings.Fields(s.vm2.sh(ctx, t, "sha256sum /srv/kl/blob"))[0]
	if got != sum {
		t.Fatalf("checksum after failover %s, want %s", got, sum)
	}
	t.Logf("data intact after failover: sha256 %s", sum)
	// Writes after the failover make the old Primary's copy stale: case 5
	// must resync them.
	s.vm2.sh(ctx, t, "dd if=/dev/urandom of=/srv/kl/after bs=1M count=8 status=none && zpool sync "+pool)
}

// rejoin: the old Primary boots again; the DRBD pod brings the resource up
// and it must come back Secondary and resync, with no metadata rewritten.
func (s *suite) rejoin(t *testing.T, r drbd.Resource) {
	s.boot(t, s.vm1)
	before := len(s.vm1.Log.Entries())
	start := time.Now()
	s.drbdAgent(t, s.vm1)
	st := waitInSync(t, s.vm1, r, 10*time.Minute)
	s.measure(t, "vm1 back: DRBD agent to resync done: %.1f s", time.Since(start).Seconds())
	if st.Role != "Secondary" {
		t.Errorf("vm1 came back %s, want Secondary", st.Role)
	}
	after := s.vm1.Log.Entries()[before:]
	for _, w := range [][]string{{"drbdadm", "create-md"}, {"drbdadm", "primary"}, {"zpool", "import"}} {
		if ran(after, w...) {
			t.Errorf("vm1 ran %q on its return", strings.Join(w, " "))
		}
	}
	// The two sides see the resync end at different moments: vm1 was
	// seen UpToDate/UpToDate while vm2 still said SyncSource,
	// UpToDate/Inconsistent (HOSTSIM-CORRECTIONS T-synced).
	peer := waitInSync(t, s.vm2, r, time.Minute)
	if peer.Role != "Primary" {
		t.Errorf("vm2 after the resync: %s; want Primary and in sync", peer)
	}
	// The outdated mark on vm1's copy goes once it is in sync: by the
	// after-resync-target handler, or the DRBD agent's next pass.
	ctx := context.Background()
	who, _ := failover.Outdated(ctx, s.leases, leaseOf("mdt0"))
	t.Logf("vm1 fence questions: %q; outdated mark after the resync: %q", s.vm1.Questions(), who)
	if who != "" {
		s.drbdAgent(t, s.vm1)
		who, _ = failover.Outdated(ctx, s.leases, leaseOf("mdt0"))
	}
	if who != "" {
		t.Errorf("Lease still marks %q outdated after the resync", who)
	}
}

// blankProof: the proof that guards create-md and zpool create, against
// real signatures and a probe that cannot answer.
func (s *suite) blankProof(t *testing.T, r drbd.Resource) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dev := s.probe.ByID()
	if err := host.ProveBlank(ctx, s.vm1, dev); err != nil {
		t.Fatalf("a zeroed disk: %v, want proven blank", err)
	}
	for _, fs := range []struct{ name, mkfs string }{
		{"ext4", "mkfs.ext4 -q -F " + dev},
		{"xfs", "mkfs.xfs -q -f " + dev},
	} {
		s.vm1.sh(ctx, t, "wipefs -q -a "+dev+" && "+fs.mkfs)
		err := host.ProveBlank(ctx, s.vm1, dev)
		var nb *host.NotBlankError
		if !errors.As(err, &nb) || !strings.Contains(err.Error(), fs.name) {
			t.Errorf("%s signature: %v, want a NotBlankError naming %s", fs.name, err, fs.name)
		} else {
			t.Logf("%s refused: %v", fs.name, err)
		}
		// The DRBD agent's proof before create-md, for a resource on
		// this disk.
		onProbe := r
		onProbe.Local.Disk = dev
		if err := drbd.ProveBlank(ctx, s.vm1, onProbe); !errors.As(err, &nb) {
			t.Errorf("drbd.ProveBlank on %s: %v, want a NotBlankError", fs.name, err)
		}
	}
	// A device that is not there: wipefs cannot open it, which is an
	// error, never "blank".
	err := host.ProveBlank(ctx, s.vm1, "/dev/disk/by-id/virtio-kl-missing")
	var nb *host.NotBlankError
	if err == nil || errors.As(err, &nb) {
		t.Errorf("missing device: %v, want a probe error", err)
	} else {
		t.Logf("missing device: %v", err)
	}
	// A device that exists but cannot be read: a DRBD Secondary refuses
	// opens, so the probe fails; that must never read as blank.
	err = host.ProveBlank(ctx, s.vm1, r.Device())
	if err == nil || errors.As(err, &nb) {
		t.Errorf("%s on a Secondary: %v, want a probe error", r.Device(), err)
	} else {
		t.Logf("%s on a Secondary: %v", r.Device(), err)
	}
	// The DRBD proof on a disk in use by a running resource: its metadata
	// probe cannot run while the resource is up.
	if err := drbd.ProveBlank(ctx, s.vm1, r); err == nil {
		t.Errorf("drbd.ProveBlank on the live resource's disk said blank")
	} else {
		t.Logf("drbd.ProveBlank on the live resource: %v", err)
	}
}
