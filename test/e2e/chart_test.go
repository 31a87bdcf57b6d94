//go:build e2echart

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/simcluster"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

const chartRelease = "lfs1"

// release is one installed example: its values and plan, its simulated
// hosts and where helm put it.
type release struct {
	e      *chartEnv
	ns     string
	files  []string
	v      *topology.Values
	plan   *topology.Plan
	sim    *simcluster.Cluster
	w      *hostsim.World
	opts   *helm.Options
	simDir string
	tmp    string // outlives the subtests
	chart  string // what helm installs: the chart directory, or a published chart (fromRegistry)
}

// newRelease loads the values as helm will (so the plan is the one the
// labelling Job applies) and provisions one simulated host per planned
// node, carrying the node's real InternalIP on eth1.
func (e *chartEnv) newRelease(t testing.TB, ns, name string, files ...string) *release {
	t.Helper()
	r := &release{e: e, ns: ns, files: files, simDir: e.hostsimDir(t, name), tmp: t.TempDir(), chart: e.chartDir()}
	r.load(t, files...)
	var err error
	r.sim, err = simcluster.NewWithOptions(r.simDir, r.v, simcluster.Options{Addresses: e.addrs})
	if err != nil {
		t.Fatal(err)
	}
	r.w = r.sim.World
	for _, n := range r.plan.Nodes {
		if got, _ := r.sim.Resolve(context.Background(), n.Name); got != e.addrs[n.Name] {
			t.Fatalf("simulated host %s has address %s, its node %s", n.Name, got, e.addrs[n.Name])
		}
	}
	r.opts = e.helmOpts(ns, r.simDir, files...)
	t.Cleanup(func() {
		e.diagnose(t, ns, r.w)
		// Leave nothing behind for the next case, passed or not.
		if _, err := helm.RunHelmCommandAndGetOutputContextE(t, context.Background(), r.opts, "status", chartRelease); err == nil {
			_ = helm.DeleteContextE(t, context.Background(), r.opts, chartRelease, true)
		}
		_, _ = e.kubectlOut("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
		if !t.Failed() {
			_ = os.RemoveAll(r.simDir)
		}
	})
	return r
}

// load (re)computes values and plan from files plus the chart's test values.
func (r *release) load(t testing.TB, files ...string) {
	t.Helper()
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: files, Sets: []string{"testing.hostsimDir=" + r.simDir}})
	if err != nil || len(ps) > 0 {
		t.Fatalf("values %v: err=%v problems=%v", files, err, ps)
	}
	r.files, r.v, r.plan = files, v, v.Plan()
}

func (r *release) selector(extra string) string {
	s := "app.kubernetes.io/instance=" + chartRelease
	if extra != "" {
		s += "," + extra
	}
	return s
}

// targetPod returns the live (not terminating) pod of a target, if any.
func (r *release) targetPod(t testing.TB, target string) (corev1.Pod, bool) {
	t.Helper()
	for _, p := range r.e.pods(t, r.ns, r.selector("kube-lustre.io/target="+target)) {
		if p.DeletionTimestamp == nil {
			return p, true
		}
	}
	return corev1.Pod{}, false
}

// serving: target's pod is Ready on node and its mount point is mounted in
// node's simulated host.
func (r *release) serving(t testing.TB, target, node string) bool {
	t.Helper()
	tp, _ := r.plan.Target(target)
	p, ok := r.targetPod(t, target)
	return ok && p.Spec.NodeName == node && podReady(p) && mounted(t, r.w, node, tp.MountPoint)
}

// waitAllServing waits until every target serves on its preferred node and
// every client has the filesystem mounted; it returns how long it took.
func (r *release) waitAllServing(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	return poll(t, timeout, "every target serving on its preferred node and every client mounted", func() bool {
		for _, tp := range r.plan.Targets {
			if !r.serving(t, tp.Name, tp.Preferred) {
				return false
			}
		}
		for _, c := range r.plan.Clients.Nodes {
			if !mounted(t, r.w, c, r.plan.Clients.MountPoint) {
				return false
			}
		}
		return true
	})
}

// checkLabels: every node carries exactly the labels the plan gives it
// under the release's prefix, and nodes the plan does not name carry none.
func (r *release) checkLabels(t testing.TB) {
	t.Helper()
	nodes, err := r.e.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		want := map[string]string{}
		if np, ok := r.plan.Node(n.Name); ok {
			want = np.Labels
		}
		if got := kubeLustreLabels(n, r.v.LabelSelectorPrefix()); !maps.Equal(got, want) {
			t.Errorf("node %s carries %v, the plan gives it %v", n.Name, got, want)
		}
	}
}

// checkPods: the DRBD agents run exactly on the nodes with DRBD resources,
// the clients exactly on the client nodes, all Ready; every target pod is on
// one of its nodes.
func (r *release) checkPods(t testing.TB) {
	t.Helper()
	var drbdNodes []string
	for _, n := range r.plan.Nodes {
		if len(n.DRBD) > 0 {
			drbdNodes = append(drbdNodes, n.Name)
		}
	}
	for comp, want := range map[string][]string{"drbd": drbdNodes, "client": r.plan.Clients.Nodes} {
		var got []string
		poll(t, 2*time.Minute, comp+" pods Ready on "+strings.Join(want, ","), func() bool {
			got = nil
			for _, p := range r.e.pods(t, r.ns, r.selector("app.kubernetes.io/component="+comp)) {
				if !podReady(p) {
					return false
				}
				got = append(got, p.Spec.NodeName)
			}
			slices.Sort(got)
			return slices.Equal(got, slices.Sorted(slices.Values(want)))
		})
	}
	for _, tp := range r.plan.Targets {
		p, ok := r.targetPod(t, tp.Name)
		if !ok || !slices.Contains(tp.Nodes, p.Spec.NodeName) {
			t.Errorf("target %s: pod on %q, want one of %v", tp.Name, p.Spec.NodeName, tp.Nodes)
		}
	}
}

// checkDRBD: each DRBD target is Primary on node and Secondary on its
// peer, Connected, both disks UpToDate.
func (r *release) checkDRBD(t testing.TB, target, node string) {
	t.Helper()
	tp, _ := r.plan.Target(target)
	if tp.DRBDResource == "" {
		return
	}
	peer := tp.Nodes[0]
	if peer == node {
		peer = tp.Nodes[1]
	}
	role, cs, disk, pdisk, up, err := r.w.DRBDState(node, tp.DRBDResource)
	if err != nil || !up || role != "Primary" || cs != "Connected" || disk != "UpToDate" || pdisk != "UpToDate" {
		t.Errorf("%s on %s: role=%s cstate=%s disk=%s/%s up=%v err=%v, want Primary Connected UpToDate/UpToDate", tp.DRBDResource, node, role, cs, disk, pdisk, up, err)
	}
	if role, _, disk, _, up, err := r.w.DRBDState(peer, tp.DRBDResource); err != nil || !up || role != "Secondary" || disk != "UpToDate" {
		t.Errorf("%s on peer %s: role=%s disk=%s up=%v err=%v, want Secondary UpToDate", tp.DRBDResource, peer, role, disk, up, err)
	}
}

// labelJobCompletions counts the distinct labelling Jobs (pre-install,
// pre-upgrade) the Job controller reported Completed. Helm deletes a hook
// Job once it succeeded; its events stay.
func (r *release) labelJobCompletions(t testing.TB) int {
	t.Helper()
	evs, err := r.e.cs.CoreV1().Events(r.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Job,involvedObject.name=" + chartRelease + "-kube-lustre-label,reason=Completed"})
	if err != nil {
		t.Fatal(err)
	}
	uids := map[types.UID]bool{}
	for _, ev := range evs.Items {
		uids[ev.InvolvedObject.UID] = true
	}
	return len(uids)
}

func (r *release) helmTest(t testing.TB) {
	t.Helper()
	start := time.Now()
	out, err := helm.RunHelmCommandAndGetOutputContextE(t, context.Background(), r.opts, "test", chartRelease, "--timeout", "3m")
	if err != nil {
		t.Fatalf("helm test: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Phase:          Succeeded") && !strings.Contains(out, "Succeeded") {
		t.Fatalf("helm test did not report the test pod Succeeded:\n%s", out)
	}
	t.Logf("TIMING helm test: %.1f s", time.Since(start).Seconds())
}

// uninstall runs helm uninstall and checks that it stopped everything,
// removed every label of the release and left every pool with its
// formatted dataset on disk: exported, never Primary anywhere.
func (r *release) uninstall(t testing.TB) {
	t.Helper()
	start := time.Now()
	helm.DeleteContext(t, context.Background(), r.opts, chartRelease, true)
	t.Logf("TIMING helm uninstall returned: %.1f s", time.Since(start).Seconds())
	poll(t, 3*time.Minute, "every pod of the release gone", func() bool {
		return len(r.e.pods(t, r.ns, r.selector(""))) == 0
	})
	t.Logf("TIMING helm uninstall to every pod gone: %.1f s", time.Since(start).Seconds())
	poll(t, time.Minute, "kube-lustre labels removed", func() bool {
		nodes, err := r.e.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, n := range nodes.Items {
			if len(kubeLustreLabels(n, r.v.LabelSelectorPrefix())) > 0 {
				return false
			}
		}
		return true
	})
	nodes, _ := r.e.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	for _, n := range nodes.Items {
		for k := range n.Labels {
			if strings.HasPrefix(k, "kube-lustre.io/") {
				t.Errorf("node %s still carries %s after uninstall", n.Name, k)
			}
		}
	}

	for _, n := range r.plan.Nodes {
		if imp, err := r.w.Imported(n.Name); err != nil || len(imp) > 0 {
			t.Errorf("%s: pools still imported after uninstall: %v %v", n.Name, imp, err)
		}
		if m, _ := r.w.Mounted(n.Name); len(m) > 0 {
			t.Errorf("%s: still mounted after uninstall: %v", n.Name, m)
		}
		for _, res := range n.DRBD {
			if role, _, _, _, up, _ := r.w.DRBDState(n.Name, res.Name); up && role == "Primary" {
				t.Errorf("%s: %s still Primary after uninstall", n.Name, res.Name)
			}
		}
	}
	// Every pool is on disk, exported (not active), with its dataset and
	// the Lustre service name mkfs.lustre gave it.
	sum, err := r.w.Summary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range r.plan.Targets {
		pools, datasets := 0, 0
		for _, line := range strings.Split(sum, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[0] == "pool" && f[1] == tp.Pool:
				pools++
				if f[2] != "active=false" {
					t.Errorf("pool %s after uninstall: %s", tp.Pool, strings.TrimSpace(line))
				}
			case len(f) >= 2 && f[0] == "dataset" && f[1] == tp.Dataset:
				datasets++
				if !strings.Contains(line, "lustre:svname:"+tp.SVName) {
					t.Errorf("dataset %s lost its svname %s: %s", tp.Dataset, tp.SVName, strings.TrimSpace(line))
				}
			}
		}
		if pools == 0 || datasets != pools {
			t.Errorf("target %s: %d disks hold pool %s, %d its dataset %s", tp.Name, pools, tp.Pool, datasets, tp.Dataset)
		}
	}
	// The record that each target was created outlives the release: a
	// reinstall onto blank disks under the same names is refused.
	for _, tp := range r.plan.Targets {
		name := "kube-lustre-record-" + strings.ReplaceAll(strings.ToLower(r.v.FSName), "_", ".") + "-" + tp.Name
		cm, err := r.e.cs.CoreV1().ConfigMaps(r.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || cm.Data["target"] != tp.SVName || cm.Data["poolGUID"] == "" || len(cm.OwnerReferences) != 0 {
			t.Errorf("target %s's record after uninstall: %v %v", tp.Name, cm, err)
		}
	}
	if destroyed, _ := r.w.Ran("", "zpool destroy"); len(destroyed) > 0 {
		t.Errorf("pools destroyed: %v", destroyed)
	}
	if destroyed, _ := r.w.Ran("", "zfs destroy"); len(destroyed) > 0 {
		t.Errorf("datasets destroyed: %v", destroyed)
	}
}

// formattedOnce: mkfs.lustre ran exactly once per target, on one of its
// nodes (no reformat by a restart, an upgrade or a failover).
func (r *release) formattedOnce(t testing.TB) {
	t.Helper()
	for _, tp := range r.plan.Targets {
		var runs []string
		all, _ := r.w.Ran("", "mkfs.lustre")
		for _, m := range all {
			if strings.HasSuffix(m, " "+tp.Pool+"/"+tp.Name) || strings.Contains(m, " "+tp.Dataset+" ") || strings.HasSuffix(m, " "+tp.Dataset) {
				runs = append(runs, m)
			}
		}
		if len(runs) != 1 {
			t.Errorf("target %s formatted %d times: %v", tp.Name, len(runs), runs)
		}
	}
}

// TestChart installs the examples with helm on the local cluster and checks
// what the chart promises, against the simulated hosts.
func TestChart(t *testing.T) {
	e := chartSetup(t)
	t.Run("minimal", func(t *testing.T) { testMinimal(t, e) })
	t.Run("ha", func(t *testing.T) { testHA(t, e) })
}

// installAndServe installs the release and checks what every install
// promises: the labelling Job ran once, the nodes carry exactly the planned
// labels, every target is mounted and Ready and every client mounted, and
// the pods run on the planned nodes.
func (r *release) installAndServe(t testing.TB, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	helm.InstallContext(t, context.Background(), r.opts, r.chart, chartRelease)
	t.Logf("TIMING helm install returned (labelling Job done): %.1f s", time.Since(start).Seconds())
	if n := r.labelJobCompletions(t); n != 1 {
		t.Errorf("labelling Job completed %d times, want once", n)
	}
	r.checkLabels(t)
	r.waitAllServing(t, timeout)
	t.Logf("TIMING helm install (%s) to all targets mounted and Ready, clients mounted: %.1f s", r.ns, time.Since(start).Seconds())
	r.checkPods(t)
}

// testMinimal: examples/minimal.yaml on server1 and client1, installed as a
// site installs a release: the chart and images published to a registry
// by the Makefile's release targets, pulled by the nodes. Then labels,
// placement, mounts, helm test, uninstall.
func testMinimal(t *testing.T, e *chartEnv) {
	r := e.newRelease(t, "kl-minimal", "minimal", e.example("minimal.yaml"))
	pub := e.publish(t)
	if pub != nil {
		r.fromRegistry(pub)
	}
	r.installAndServe(t, 3*time.Minute)
	if pub != nil {
		r.checkPulled(t, pub)
	}
	r.formattedOnce(t)
	for _, tp := range r.plan.Targets {
		if imp, _ := r.w.Imported(tp.Preferred); imp[tp.Pool] == "" {
			t.Errorf("pool %s not imported on %s: %v", tp.Pool, tp.Preferred, imp)
		}
	}
	r.helmTest(t)
	r.uninstall(t)
	if pub != nil {
		r.checkPreloadedStillRun(t, "client1")
	}

	// The data is really there: import the pools by hand on server1, read
	// the service names, export again.
	ctx := context.Background()
	run := r.w.Host("server1")
	for _, tp := range r.plan.Targets {
		if _, err := host.Run(ctx, run, "zpool", "import", tp.Pool); err != nil {
			t.Fatalf("zpool import %s after uninstall: %v", tp.Pool, err)
		}
		sv, ok, err := zfs.Get(ctx, run, tp.Dataset, "lustre:svname")
		if err != nil || !ok || sv != tp.SVName {
			t.Errorf("zfs get lustre:svname %s: %q %v %v, want %s", tp.Dataset, sv, ok, err, tp.SVName)
		}
		if _, err := host.Run(ctx, run, "zpool", "export", tp.Pool); err != nil {
			t.Errorf("zpool export %s: %v", tp.Pool, err)
		}
	}
}

// testHA: examples/ha.yaml on s1..s6, c1, c2: install, then an upgrade adding
// an OST, then a crash of a primary's node.
func testHA(t *testing.T, e *chartEnv) {
	r := e.newRelease(t, "kl-ha", "ha", e.example("ha.yaml"))
	// A fresh install with the MGS slower to come up than the OSTs: their
	// first mounts, which register them with the MGS, fail (ETIMEDOUT
	// after real Lustre's 62 s, scaled) while it is down, and must be
	// retried until it answers (lustre-facts.md).
	// The server nodes are tainted as storage nodes: only the DRBD agents
	// and the targets tolerate it (pods.*.tolerations), and everything
	// must still schedule.
	r.taintServers(t)
	mgs := r.mgsTarget(t)
	if err := r.w.Delay(mgs.Preferred, hostsim.Match{Args: []string{"mount", "-t", "lustre", mgs.Dataset}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	r.installAndServe(t, 4*time.Minute)
	r.checkFirstMountsWaitedForTheMGS(t)
	for _, tp := range r.plan.Targets {
		r.checkDRBD(t, tp.Name, tp.Preferred)
	}
	r.formattedOnce(t)
	r.helmTest(t)
	if t.Failed() {
		t.FailNow()
	}

	t.Run("upgrade that moves a target is refused", func(t *testing.T) { testUpgradeRefused(t, r) })
	t.Run("upgrade adds an OST", func(t *testing.T) { testUpgrade(t, r) })
	if t.Failed() {
		t.FailNow()
	}
	t.Run("upgrade restarts the targets one at a time", func(t *testing.T) { testRollingRestart(t, r) })
	if t.Failed() {
		t.FailNow()
	}
	t.Run("node crash fails over to the peer", func(t *testing.T) { testCrash(t, r) })
	if t.Failed() {
		t.FailNow()
	}
	t.Run("faults", func(t *testing.T) { testFaults(t, r) })
	if t.Failed() {
		t.FailNow()
	}
	t.Run("dynamic volumes", func(t *testing.T) { testCSI(t, r) })
	if t.Failed() {
		t.FailNow()
	}
	r.uninstall(t)
}

// testUpgrade: helm upgrade with ost2 on s1/s2 (DRBD minor 1, port 7789,
// /dev/sdc) starts only the new target.
func testUpgrade(t testing.TB, r *release) {
	// ost2's disks first, as an operator adds them before the upgrade.
	for _, n := range []string{"s1", "s2"} {
		if err := r.w.AddDisk(n, "/dev/sdc", 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	extra := withTarget(t, r.tmp, r.files[0], map[string]any{
		"type": "ost", "index": 2, "nodes": []string{"s1", "s2"},
		"drbd": map[string]any{"minor": 1, "port": 7789, "disk": "/dev/sdc"},
	})
	old := map[string]types.UID{}
	restarts := map[string]int32{}
	for _, tp := range r.plan.Targets {
		p, _ := r.targetPod(t, tp.Name)
		old[tp.Name] = p.UID
		restarts[tp.Name] = podRestarts(p)
	}
	agents := map[string]types.UID{}
	for _, p := range r.e.pods(t, r.ns, r.selector("app.kubernetes.io/component=drbd")) {
		agents[p.Spec.NodeName] = p.UID
	}
	logAt := logLen(t, r.w)
	r.load(t, r.files[0], extra)
	r.opts.ValuesFiles = r.files
	if _, ok := r.plan.Target("ost2"); !ok {
		t.Fatal("the upgraded plan has no ost2")
	}

	start := time.Now()
	helm.UpgradeContext(t, context.Background(), r.opts, r.e.chartDir(), chartRelease)
	t.Logf("TIMING helm upgrade returned (labelling Job done): %.1f s", time.Since(start).Seconds())
	if n := r.labelJobCompletions(t); n != 2 {
		t.Errorf("labelling Job completed %d times after install and upgrade, want 2", n)
	}
	r.checkLabels(t)
	poll(t, 3*time.Minute, "ost2 serving on s1", func() bool { return r.serving(t, "ost2", "s1") })
	t.Logf("TIMING helm upgrade to ost2 mounted and Ready on s1: %.1f s", time.Since(start).Seconds())
	r.waitAllServing(t, time.Minute)
	r.checkPods(t)
	var replaced []string
	for _, p := range r.e.pods(t, r.ns, r.selector("app.kubernetes.io/component=drbd")) {
		if agents[p.Spec.NodeName] != p.UID {
			replaced = append(replaced, p.Spec.NodeName)
		}
	}
	slices.Sort(replaced)
	t.Logf("DRBD agents replaced by the upgrade (one DaemonSet, one checksum): %v", replaced)
	if p, ok := r.targetPod(t, "ost2"); ok {
		if evs, err := r.e.kubectlOut("get", "events", "-n", r.ns, "--field-selector", "involvedObject.uid="+string(p.UID), "-o",
			"custom-columns=TIME:.lastTimestamp,REASON:.reason,MESSAGE:.message"); err == nil {
			t.Logf("events of the new ost2 pod (created %s):\n%s", p.CreationTimestamp.UTC().Format(time.TimeOnly), evs)
		}
	}
	r.checkDRBD(t, "ost2", "s1")
	r.checkDRBD(t, "mdt0", "s1")

	for name, uid := range old {
		p, ok := r.targetPod(t, name)
		if !ok || p.UID != uid || podRestarts(p) != restarts[name] {
			t.Errorf("target %s: pod %s (uid %s, %d restarts), before the upgrade uid %s, %d restarts: the upgrade restarted it",
				name, p.Name, p.UID, podRestarts(p), uid, restarts[name])
		}
	}
	// Nothing of the existing targets was stopped or redone on the hosts.
	for _, d := range r.disturbed(t, logAt, slices.Collect(maps.Keys(old))) {
		t.Errorf("upgrade disturbed %s", d)
	}
	r.formattedOnce(t)
}

// disturbed lists the commands since the host log's entry at that stopped
// or redid one of targets (unmount, export, import, demote, down, format,
// pool or metadata creation), as "<target>: <host> ran <command>".
func (r *release) disturbed(t testing.TB, at int, targets []string) []string {
	t.Helper()
	log, err := r.w.Log()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, le := range log[at:] {
		cmd := strings.Join(le.Argv, " ")
		for _, name := range targets {
			tp, _ := r.plan.Target(name)
			touches := strings.Contains(cmd, tp.Pool) || (tp.DRBDResource != "" && strings.HasSuffix(cmd, " "+tp.DRBDResource)) || strings.Contains(cmd, tp.MountPoint)
			disruptive := strings.HasPrefix(cmd, "umount") || strings.HasPrefix(cmd, "zpool export") || strings.HasPrefix(cmd, "zpool import") ||
				strings.HasPrefix(cmd, "drbdadm secondary") || strings.HasPrefix(cmd, "drbdadm down") || strings.HasPrefix(cmd, "mkfs.lustre") ||
				strings.HasPrefix(cmd, "zpool create") || strings.HasPrefix(cmd, "drbdadm create-md")
			if touches && disruptive && le.Exit == 0 {
				out = append(out, fmt.Sprintf("%s: %s ran %q", name, le.Host, cmd))
			}
		}
	}
	return out
}

// testCrash: s3 (ost0's primary) crashes, as a node and as a host. The
// failover controller releases the stuck pod once the Lease expired, the
// StatefulSet starts it on s4, which takes ost0 over. Never two Primaries.
func testCrash(t testing.TB, r *release) {
	const victim, peer, target = "s3", "s4", "ost0"
	tp, _ := r.plan.Target(target)
	before, ok := r.targetPod(t, target)
	if !ok || before.Spec.NodeName != victim {
		t.Fatalf("%s pod on %q before the crash, want %s", target, before.Spec.NodeName, victim)
	}
	// The failover controller's metrics before (issue 18): the crash must
	// move its failover counter and duration.
	var base failoverMetrics
	poll(t, time.Minute, "the failover controller's metrics", func() bool {
		var err error
		base, err = r.failoverMetrics(t, target)
		return err == nil
	})
	// An admin watches it with helm lustre status --watch.
	watch := r.startStatusWatch(t)
	poll(t, time.Minute, "a first status view", func() bool { return len(where(watch.sofar(), target)) > 0 })
	start := time.Now()
	r.crashNode(t, victim)
	t.Cleanup(func() {
		// Whatever happened, bring the node back for the next steps and runs.
		if err := r.w.Boot(victim); err != nil {
			t.Error(err)
		}
	})
	t.Logf("TIMING node.sh crash + hostsim Crash: %.1f s", time.Since(start).Seconds())

	var notReady, released, scheduled, mountedAt, inProgress time.Duration
	poll(t, 3*time.Minute, target+" mounted on "+peer, func() bool {
		now := time.Since(start)
		if inProgress == 0 {
			// The failover as it happens, on the controller's metrics.
			if v, err := r.metricOf(t, "app.kubernetes.io/component=failover", "kube_lustre_failover_in_progress", map[string]string{"target": target}); err == nil && v == 1 {
				inProgress = now
			}
		}
		if notReady == 0 {
			if n, err := r.e.cs.CoreV1().Nodes().Get(context.Background(), victim, metav1.GetOptions{}); err == nil {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
						notReady = now
					}
				}
			}
		}
		if released == 0 {
			_, err := r.e.cs.CoreV1().Pods(r.ns).Get(context.Background(), before.Name, metav1.GetOptions{})
			p, _ := r.targetPod(t, target)
			if apierrors.IsNotFound(err) || (err == nil && p.UID != "" && p.UID != before.UID) {
				released = now
			}
		}
		if p, ok := r.targetPod(t, target); ok && scheduled == 0 && p.UID != before.UID && p.Spec.NodeName != "" {
			scheduled = now
			if p.Spec.NodeName != peer {
				t.Errorf("the replacement pod of %s went to %s, want %s", target, p.Spec.NodeName, peer)
			}
		}
		if mountedAt == 0 && mounted(t, r.w, peer, tp.MountPoint) {
			mountedAt = now
		}
		return mountedAt != 0
	})
	t.Logf("TIMING crash of %s: node NotReady %.1f s, stuck pod released %.1f s, replacement on %s %.1f s, %s mounted on %s %.1f s (failover.leaseSeconds %d)",
		victim, notReady.Seconds(), released.Seconds(), peer, scheduled.Seconds(), target, peer, mountedAt.Seconds(), r.v.Failover.LeaseSeconds)
	// The pod may be released before the Lease expires (its peer saw the
	// node go: half a Lease after the peer's mark), so that the
	// replacement waits on the peer; the peer serves only once it expired.
	if mountedAt < time.Duration(r.v.Failover.LeaseSeconds)*time.Second {
		t.Errorf("%s was mounted on %s %.1f s after the crash, before the %d s Lease could expire", target, peer, mountedAt.Seconds(), r.v.Failover.LeaseSeconds)
	}
	poll(t, time.Minute, target+" Ready on "+peer, func() bool { return r.serving(t, target, peer) })
	ready := time.Since(start)
	t.Logf("TIMING crash to %s Ready on %s: %.1f s", target, peer, ready.Seconds())
	r.checkFailoverMetrics(t, target, victim, peer, base, inProgress, ready)
	time.Sleep(2 * time.Second) // one more view of the watch
	views := watch.stop()
	seen := where(views, target)
	t.Logf("helm lustre status --watch saw %s: %v; space %s", target, seen, spaceShown(t, views, target))
	if len(seen) < 2 || seen[0] != victim+" ready" || seen[len(seen)-1] != peer+" ready" {
		t.Errorf("helm lustre status --watch showed %s as %v, want it from %s ready to %s ready", target, seen, victim, peer)
	}

	if role, _, disk, _, up, err := r.w.DRBDState(peer, tp.DRBDResource); err != nil || !up || role != "Primary" || disk != "UpToDate" {
		t.Errorf("%s on %s after failover: role=%s disk=%s up=%v err=%v", tp.DRBDResource, peer, role, disk, up, err)
	}
	lease, err := r.e.cs.CoordinationV1().Leases(r.ns).Get(context.Background(), r.leaseName(target), metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != peer {
		t.Errorf("Lease of %s after failover: %+v %v, want held by %s", target, lease.Spec, err, peer)
	}
	if forced, _ := r.w.Ran(peer, "zpool import -f"); len(forced) != 1 {
		t.Errorf("forced imports on %s: %v, want exactly the takeover", peer, forced)
	}
	for _, other := range r.plan.Targets {
		if other.Name != target && !r.serving(t, other.Name, other.Preferred) {
			t.Errorf("%s stopped serving on %s during the failover of %s", other.Name, other.Preferred, target)
		}
	}
	r.formattedOnce(t)
	r.noSplitBrain(t)
	if evs, err := r.e.kubectlOut("get", "events", "-n", r.ns, "--field-selector", "involvedObject.name="+before.Name, "-o",
		"custom-columns=TIME:.lastTimestamp,SOURCE:.source.component,REASON:.reason,MESSAGE:.message"); err == nil {
		t.Logf("events of the stuck pod:\n%s", evs)
	}

	// The node comes back: its DRBD agent brings ost0 up as Secondary, it
	// resyncs from s4, and s4 keeps serving.
	restart := time.Now()
	if err := r.w.Boot(victim); err != nil {
		t.Fatal(err)
	}
	r.e.nodes.Up(t, victim)
	r.e.serviceRoute(t, victim)
	poll(t, 3*time.Minute, victim+" back as Secondary, UpToDate", func() bool {
		role, cs, disk, _, up, _ := r.w.DRBDState(victim, tp.DRBDResource)
		if role == "Primary" {
			t.Fatalf("%s became Primary of %s when it came back", victim, tp.DRBDResource)
		}
		return up && role == "Secondary" && cs == "Connected" && disk == "UpToDate"
	})
	t.Logf("TIMING %s restart to %s Secondary and UpToDate: %.1f s", victim, tp.DRBDResource, time.Since(restart).Seconds())
	if !r.serving(t, target, peer) {
		t.Errorf("%s stopped serving on %s when %s returned", target, peer, victim)
	}
	r.noSplitBrain(t)
}

func podRestarts(p corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func logLen(t testing.TB, w *hostsim.World) int {
	t.Helper()
	log, err := w.Log()
	if err != nil {
		t.Fatal(err)
	}
	return len(log)
}

// withTarget writes a values file whose targets are base's plus target
// (helm replaces lists whole, so the file carries all of them).
func withTarget(t testing.TB, dir, base string, target map[string]any) string {
	t.Helper()
	return withTargets(t, filepath.Join(dir, "add-"+fmt.Sprint(target["type"], target["index"])+".yaml"), base,
		func(targets []any) []any { return append(targets, target) })
}

// withTargets writes to file a values file whose targets are base's as
// edit returns them.
func withTargets(t testing.TB, file, base string, edit func([]any) []any) string {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	targets, _ := v["targets"].([]any)
	out, err := yaml.Marshal(map[string]any{"targets": edit(targets)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// testUpgradeRefused: an upgrade that moves ost1 to another DRBD minor is
// refused by the labelling hook before anything changes: same revision,
// nothing stopped or redone on the hosts.
func testUpgradeRefused(t testing.TB, r *release) {
	moved := withTargets(t, filepath.Join(r.tmp, "ost1-minor.yaml"), r.files[0], func(targets []any) []any {
		for _, tg := range targets {
			m := tg.(map[string]any)
			if m["type"] == "ost" && fmt.Sprint(m["index"]) == "1" {
				m["drbd"].(map[string]any)["minor"] = 4
			}
		}
		return targets
	})
	// Helm records the failed revision; what must not change is what
	// runs: the release's topology and the target pods.
	running := func() string {
		out, err := r.e.kubectlOut("get", "configmap", "-n", r.ns, "-l", "app.kubernetes.io/component=topology", "-o", "jsonpath={.items[*].data}")
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range r.plan.Targets {
			p, _ := r.targetPod(t, tp.Name)
			out += " " + string(p.UID)
		}
		return out
	}
	before, at := running(), logLen(t, r.w)
	opts := *r.opts
	opts.ValuesFiles = append(slices.Clone(r.files), moved)
	err := helm.UpgradeContextE(t, context.Background(), &opts, r.e.chartDir(), chartRelease)
	if err == nil || !strings.Contains(err.Error(), "targets[2].drbd.minor") || !strings.Contains(err.Error(), "refusing the upgrade") {
		t.Fatalf("upgrade moving ost1 to minor 4: %v, want refused naming targets[2].drbd.minor", err)
	}
	t.Logf("refused as it should be: %s", err.Error()[strings.Index(err.Error(), "refusing"):])
	if running() != before {
		t.Errorf("the refused upgrade changed the running topology or replaced a target pod")
	}
	var names []string
	for _, tp := range r.plan.Targets {
		names = append(names, tp.Name)
	}
	for _, d := range r.disturbed(t, at, names) {
		t.Errorf("the refused upgrade disturbed %s", d)
	}
}

// mgsTarget is the target that runs the MGS.
func (r *release) mgsTarget(t testing.TB) topology.TargetPlan {
	t.Helper()
	for _, tp := range r.plan.Targets {
		if tp.MGS {
			return tp
		}
	}
	t.Fatal("no target runs the MGS")
	return topology.TargetPlan{}
}

// checkFirstMountsWaitedForTheMGS: some OST's first mount failed with
// ETIMEDOUT while the MGS was down, and the OST serves all the same.
func (r *release) checkFirstMountsWaitedForTheMGS(t testing.TB) {
	t.Helper()
	log, err := r.w.Log()
	if err != nil {
		t.Fatal(err)
	}
	timedOut := map[string]bool{}
	for _, e := range log {
		for _, tp := range r.plan.Targets {
			if !tp.MGS && e.Exit == 110 && strings.Join(e.Argv, " ") == "mount -t lustre "+tp.Dataset+" "+tp.MountPoint {
				timedOut[tp.Name] = true
			}
		}
	}
	if len(timedOut) == 0 {
		t.Fatal("no target's first mount timed out waiting for the MGS: the slow MGS did not happen")
	}
	t.Logf("first mounts that timed out waiting for the MGS, retried until it served: %v", slices.Sorted(maps.Keys(timedOut)))
}

// testRollingRestart: an upgrade that changes every target pod's template
// (here a pod annotation) restarts the targets one at a time: the failover
// controller deletes the next pod only once every other target serves
// again (the StatefulSets are OnDelete), so at no moment is more than one
// target down.
func testRollingRestart(t *testing.T, r *release) {
	old := map[string]types.UID{}
	for _, tp := range r.plan.Targets {
		p, ok := r.targetPod(t, tp.Name)
		if !ok {
			t.Fatalf("no pod for %s", tp.Name)
		}
		old[tp.Name] = p.UID
	}
	r.opts.SetValues["pods.target.podAnnotations.e2e-roll"] = "rolled" // kept: later upgrades need not roll again
	start := time.Now()
	helm.UpgradeContext(t, context.Background(), r.opts, r.e.chartDir(), chartRelease)
	t.Logf("TIMING helm upgrade returned: %.1f s", time.Since(start).Seconds())
	worst, order := 0, []string{}
	pollEvery(t, 8*time.Minute, 250*time.Millisecond, "every target restarted on the new template and serving", func() bool {
		down, done := 0, 0
		for _, tp := range r.plan.Targets {
			p, ok := r.targetPod(t, tp.Name)
			switch {
			case !ok || !podReady(p):
				down++
			case p.UID != old[tp.Name] && p.Annotations["e2e-roll"] == "rolled":
				done++
				if !slices.Contains(order, tp.Name) {
					order = append(order, tp.Name)
				}
			}
		}
		worst = max(worst, down)
		return done == len(r.plan.Targets)
	})
	t.Logf("TIMING upgrade to every target restarted: %.1f s, in the order %v; at most %d target(s) down at once", time.Since(start).Seconds(), order, worst)
	if worst > 1 {
		t.Fatalf("%d targets were down at once during the rolling restart, want at most 1", worst)
	}
	r.waitAllServing(t, 2*time.Minute)
	r.formattedOnce(t)
}
