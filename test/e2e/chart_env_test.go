//go:build e2echart

// The chart end-to-end suite: helm installs charts/kube-lustre on the local
// Kubernetes cluster of ci/cluster (real control plane, real kubelets with
// containerd, our images), with testing.hostsimDir so that every container
// that touches a host drives the simulated host of its node (internal/hostsim,
// one state directory on this machine's filesystem, which all nodes share).
//
//	go test -tags e2echart -count=1 -v -timeout 30m ./test/e2e   # make e2e-chart
//
// It starts the cluster (ci/cluster/up.sh; with E2E_PROVIDER=kind a kind
// cluster, ci/kind/e2e.sh: see nodes_test.go) with the nodes the examples
// name unless one is up in $STATE (default /tmp/kube-lustre-cluster; kind:
// /tmp/kube-lustre-kind), which must then have those nodes, and stops only
// what it started (E2E_KEEP=1 leaves it running). The helm CLI is the pinned
// one (HELM_BIN, else ci/helm.sh), run by terratest's helm module; kubectl
// is the cluster's.
//
// Names are prefixed with chart so that the file builds together with the
// smoke test (tag e2e) too.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// chartNodes are the nodes of examples/minimal.yaml and examples/ha.yaml.
var chartNodes = []string{"server1", "client1", "s1", "s2", "s3", "s4", "s5", "s6", "c1", "c2"}

type chartEnv struct {
	root, state, kubeconfig string
	kubectl, helm           string
	cs                      *kubernetes.Clientset
	helmHome                string
	addrs                   map[string]string // node -> InternalIP
	tag                     string
	nodes                   nodeProvider // starts and stops the cluster, crashes and cuts off nodes
}

// chartSetup finds or starts the cluster and the tools.
func chartSetup(t testing.TB) *chartEnv {
	t.Helper()
	root := nodesRepoRoot()
	p := newNodeProvider(t)
	e := &chartEnv{root: root, state: p.State(), kubeconfig: p.Kubeconfig(), kubectl: p.Kubectl(), nodes: p}
	e.helm = helmcli.Path(t)
	e.helmHome = t.TempDir()

	// terratest runs "helm" and "kubectl" from PATH: the pinned ones.
	bin := t.TempDir()
	for name, target := range map[string]string{"helm": e.helm, "kubectl": e.kubectl} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	up := false
	if _, err := os.Stat(e.kubectl); err == nil {
		up = exec.Command(e.kubectl, "--kubeconfig", e.kubeconfig, "get", "--raw", "/readyz").Run() == nil
	}
	if up {
		t.Logf("using the cluster already up in %s", e.state)
	} else {
		start := time.Now()
		p.StartCluster(t, chartNodes)
		t.Logf("TIMING cluster up (%s: control plane + %d nodes Ready): %.1f s", p.Name(), len(chartNodes), time.Since(start).Seconds())
		if os.Getenv("E2E_KEEP") != "1" {
			t.Cleanup(func() { p.StopCluster(t) })
		}
	}
	tag, err := os.ReadFile(filepath.Join(e.state, "images", "tag"))
	if err != nil {
		t.Fatalf("images of the cluster: %v", err)
	}
	e.tag = strings.TrimSpace(string(tag))

	e.cs, err = k8s.GetKubernetesClientFromOptionsContextE(t, context.Background(), e.kopts(""))
	if err != nil {
		t.Fatal(err)
	}
	e.addrs = map[string]string{}
	var notReady []string
	poll(t, 2*time.Minute, "the example nodes Ready", func() bool {
		nodes, err := e.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		notReady = nil
		have := map[string]bool{}
		for _, n := range nodes.Items {
			have[n.Name] = k8s.IsNodeReady(n)
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					e.addrs[n.Name] = a.Address
				}
			}
		}
		for _, n := range chartNodes {
			if !have[n] {
				notReady = append(notReady, n)
			}
		}
		return len(notReady) == 0
	})
	for _, n := range chartNodes {
		if !p.NodeAddrOK(e.addrs[n]) {
			t.Fatalf("node %s has InternalIP %q, not one on the %s cluster's node network", n, e.addrs[n], p.Name())
		}
	}
	t.Logf("node InternalIPs: %v", e.addrs)
	for _, n := range chartNodes {
		e.serviceRoute(t, n)
	}
	return e
}

// serviceRoute works around a gap of ci/cluster/node.sh: a node's netns has
// a route to the bridge subnet only, so a host-network pod's connect() to
// the kubernetes Service IP fails with ENETUNREACH before the OUTPUT DNAT
// that node.sh installs can rewrite it (pod-network pods have a default
// route and work). Every kube-lustre pod that resolves Node InternalIPs is
// host-network. Adds the missing route when it is missing; a no-op once
// node.sh adds it itself. kind nodes have a default route: nothing to do.
func (e *chartEnv) serviceRoute(t testing.TB, node string) {
	t.Helper()
	if e.nodes.Name() != "local" {
		return
	}
	svc := nodesEnvOr("SERVICE_IP", "10.96.0.1")
	ns := "kl-" + node
	if exec.Command("ip", "netns", "exec", ns, "ip", "route", "get", svc).Run() == nil {
		return
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "ip", "route", "replace", svc+"/32", "dev", "eth0", "src", e.addrs[node]).CombinedOutput()
	if err != nil {
		t.Fatalf("adding the route to %s in %s: %v %s", svc, ns, err, out)
	}
	t.Logf("WORKAROUND node %s had no route to the kubernetes Service %s (ci/cluster/node.sh): added %s/32 dev eth0", node, svc, svc)
}

func (e *chartEnv) kopts(ns string) *k8s.KubectlOptions {
	o := k8s.NewKubectlOptions("", e.kubeconfig, ns)
	o.Logger = logger.Discard
	return o
}

// helmOpts: the release's namespace, the pinned helm with a private home,
// our images as the cluster holds them (never pulled).
func (e *chartEnv) helmOpts(ns, hostsimDir string, files ...string) *helm.Options {
	return &helm.Options{
		KubectlOptions: k8s.NewKubectlOptions("", e.kubeconfig, ns),
		ValuesFiles:    files,
		SetValues: map[string]string{
			"testing.hostsimDir": hostsimDir,
			"images.pullPolicy":  "Never",
		},
		EnvVars: map[string]string{
			"HELM_PLUGINS":     filepath.Join(e.helmHome, "plugins"),
			"HELM_CONFIG_HOME": filepath.Join(e.helmHome, "config"),
			"HELM_CACHE_HOME":  filepath.Join(e.helmHome, "cache"),
			"HELM_DATA_HOME":   filepath.Join(e.helmHome, "data"),
		},
		ExtraArgs: map[string][]string{
			"install": {"--create-namespace", "--timeout", "5m"},
			"upgrade": {"--timeout", "5m"},
			"delete":  {"--wait", "--timeout", "5m"},
		},
	}
}

func (e *chartEnv) chartDir() string { return filepath.Join(e.root, "charts", "kube-lustre") }

func (e *chartEnv) example(name string) string { return filepath.Join(e.root, "examples", name) }

// kubectlOut runs kubectl and returns stdout; errors are returned, not fatal.
func (e *chartEnv) kubectlOut(args ...string) (string, error) {
	cmd := exec.Command(e.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// hostsimDir is a fresh simulated-hosts directory under $STATE, on the host
// filesystem every node (and so every pod's hostPath) sees.
func (e *chartEnv) hostsimDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(e.state, "hostsim", name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mounted reports whether mountPoint is mounted on the simulated host node.
func mounted(t testing.TB, w *hostsim.World, node, mountPoint string) bool {
	t.Helper()
	m, err := w.Mounted(node)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(m, mountPoint)
}

// kubeLustreLabels are the labels of node under prefix.
func kubeLustreLabels(n corev1.Node, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range n.Labels {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// pods lists the pods of a namespace matching selector.
func (e *chartEnv) pods(t testing.TB, ns, selector string) []corev1.Pod {
	t.Helper()
	l, err := e.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func podReady(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// diagnose logs what the namespace holds when a case failed.
func (e *chartEnv) diagnose(t testing.TB, ns string, w *hostsim.World) {
	if !t.Failed() {
		return
	}
	if out, err := e.kubectlOut("get", "pods,statefulsets,daemonsets,jobs,leases", "-n", ns, "-o", "wide"); err == nil {
		t.Logf("objects in %s:\n%s", ns, out)
	}
	if out, err := e.kubectlOut("get", "events", "-n", ns, "--sort-by=.lastTimestamp"); err == nil {
		t.Logf("events in %s:\n%s", ns, out)
	}
	for _, p := range e.pods(t, ns, "") {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			if out, err := e.kubectlOut("logs", "-n", ns, p.Name, "-c", c.Name, "--tail=15"); err == nil && out != "" {
				t.Logf("logs %s/%s (%s):\n%s", p.Name, c.Name, p.Spec.NodeName, out)
			}
		}
	}
	if w != nil {
		if s, err := w.Summary(); err == nil {
			t.Logf("hostsim:\n%s", s)
		}
	}
}
