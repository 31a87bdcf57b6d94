//go:build e2echart && leasebench

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/kube"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/topotest"
)

// countingLeases counts the writes the simulated holders make.
type countingLeases struct {
	failover.LeaseClient
	writes *atomic.Int64
}

func (c countingLeases) Create(ctx context.Context, l *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	c.writes.Add(1)
	return c.LeaseClient.Create(ctx, l, o)
}

func (c countingLeases) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	c.writes.Add(1)
	return c.LeaseClient.Update(ctx, l, o)
}

// leaseWritesAtAPIServer is the API server's own count of Lease writes
// (apiserver_request_total, verbs POST and PUT, resource leases, this
// namespace is not a label: the bench's namespace is the only busy one).
func leaseWritesAtAPIServer(t *testing.T, e *chartEnv) float64 {
	t.Helper()
	out, err := e.kubectlOut("get", "--raw", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="leases"`) ||
			!(strings.Contains(line, `verb="PUT"`) || strings.Contains(line, `verb="POST"`)) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += v
	}
	return total
}

// TestLeaseWritesBench measures the Lease writes per second of the
// 2,000 targets of examples/large (go run ./examples/large) against the
// local API server: one simulated holder per target, each running the
// production Hold loop with the chart's defaults (failover.leaseSeconds
// 10, quietLeaseSeconds 300) and a DRBD guard that says the peer is
// connected, as it is on a healthy filesystem. With QUIET=0 it measures
// the renewal every leaseSeconds/5 that quiet renewals replace. WINDOW
// (default 180s) is measured after the holders' first quiet renewal.
// Counted twice: by the holders and by the API server's metrics.
func TestLeaseWritesBench(t *testing.T) {
	e := chartSetup(t)
	v, ps, err := topology.CheckDocument(topotest.Large(2000, 1000))
	if err != nil || len(ps) > 0 {
		t.Fatalf("examples/large: %v %v", err, ps)
	}
	quiet, err := strconv.Atoi(nodesEnvOr("QUIET", "300"))
	if err != nil {
		t.Fatal(err)
	}
	window, err := time.ParseDuration(nodesEnvOr("WINDOW", "180s"))
	if err != nil {
		t.Fatal(err)
	}
	ns := "lease-bench"
	_, _ = e.kubectlOut("create", "namespace", ns)
	t.Cleanup(func() { _, _ = e.kubectlOut("delete", "namespace", ns, "--wait=false") })
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// One client for all holders, unthrottled: the bench measures what
	// the holders ask of the API server, not client-side rate limits
	// (in production each target pod has its own client).
	cfg.QPS, cfg.Burst = 5000, 10000
	leases, err := kube.NewLeases(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	api := countingLeases{LeaseClient: leases, writes: &writes}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	plan := v.Plan()
	for _, tp := range plan.Targets {
		l := &failover.Lease{Client: api, Name: "bench-" + tp.Name, Identity: tp.Preferred,
			Duration: 10 * time.Second, Quiet: time.Duration(quiet) * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := l.TryAcquire(ctx); err != nil {
					failover.Sleep(ctx, time.Second)
					continue
				}
				_ = l.Hold(ctx, failover.Sleep, func(context.Context) bool { return true })
			}
		}()
	}
	// Creates, then the first quiet renewal one Lease/5 later.
	time.Sleep(30 * time.Second)
	startHolders, startServer, start := writes.Load(), leaseWritesAtAPIServer(t, e), time.Now()
	time.Sleep(window)
	endHolders, endServer, took := writes.Load(), leaseWritesAtAPIServer(t, e), time.Since(start)
	cancel()
	wg.Wait()
	perSec := float64(endHolders-startHolders) / took.Seconds()
	t.Logf("RESULT %d targets, failover.quietLeaseSeconds %d: %.1f Lease writes/s by the holders, %.1f/s counted by the API server, over %s",
		len(plan.Targets), quiet, perSec, (endServer-startServer)/took.Seconds(), took.Round(time.Second))
	if perSec == 0 {
		t.Fatal("no Lease writes at all: the holders did not renew")
	}
}

// TestAPIOutageBench stops the API server (SIGSTOP: requests hang, as
// when packets are dropped) for OUTAGE (default 5m) under a running
// examples/ha.yaml, then lets it go on. Every target must still be
// served where it was, by the same pod, and no target may have been
// stopped on its host (no unmount, export or demote) meanwhile.
func TestAPIOutageBench(t *testing.T) {
	outage, err := time.ParseDuration(nodesEnvOr("OUTAGE", "5m"))
	if err != nil {
		t.Fatal(err)
	}
	e := chartSetup(t)
	r := e.newRelease(t, "kl-outage", "outage", e.example("ha.yaml"))
	r.installAndServe(t, 4*time.Minute)
	var names []string
	where := map[string]string{}
	for _, tp := range r.plan.Targets {
		names = append(names, tp.Name)
		where[tp.Name] = tp.Preferred
	}
	// Let every holder go quiet, as a healthy filesystem is.
	time.Sleep(5 * time.Second)
	at := logLen(t, r.w)
	pid := apiServerPID(t, e)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	t.Logf("API server (pid %d) stopped for %s", pid, outage)
	time.Sleep(outage)
	var unmounted []string
	for _, tp := range r.plan.Targets {
		if !mounted(t, r.w, where[tp.Name], tp.MountPoint) {
			unmounted = append(unmounted, tp.Name+" on "+where[tp.Name])
		}
	}
	resume()
	poll(t, 2*time.Minute, "API server back", func() bool {
		return exec.Command(e.kubectl, "--kubeconfig", e.kubeconfig, "get", "--raw", "/readyz").Run() == nil
	})
	disturbed := r.disturbed(t, at, names)
	r.waitAllServing(t, 2*time.Minute)
	for _, name := range names {
		if !r.serving(t, name, where[name]) {
			t.Errorf("%s no longer served on %s after the outage", name, where[name])
		}
	}
	t.Logf("RESULT API server stopped %s under examples/ha.yaml: %d of %d targets unmounted during it, %d stop commands on the hosts",
		outage, len(unmounted), len(names), len(disturbed))
	for _, d := range append(unmounted, disturbed...) {
		t.Errorf("during the outage: %s", d)
	}
}

func apiServerPID(t *testing.T, e *chartEnv) int {
	t.Helper()
	b, err := os.ReadFile(e.state + "/pids/kube-apiserver.pid")
	if err != nil {
		t.Fatalf("the API server's pid (only the local cluster of ci/cluster can be stopped): %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(fmt.Errorf("pid file: %w", err))
	}
	return pid
}
