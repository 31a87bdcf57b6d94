//go:build e2e || e2echart

package e2e

// Where the suites' Kubernetes cluster comes from and how a test breaks one
// of its nodes. E2E_PROVIDER picks the provider:
//
//   - local (the default, and what CI runs): ci/cluster, real kubelets in
//     network namespaces of this machine; up.sh/down.sh start and stop it,
//     node.sh crash/up/cut-api/heal-api break and mend a node.
//   - kind: a kind cluster in Docker, for developers with a Docker engine
//     (make e2e-kind, ci/kind/e2e.sh); e2e.sh up/down start and stop it,
//     `e2e.sh node crash|up|cut-api|heal-api` (ci/kind's kind-nodes) break
//     and mend a node: docker kill, docker start, and an iptables DROP of
//     the node's packets to the control plane's address, port 6443.
//
// Both keep the same layout under STATE: admin.kubeconfig, images/tag (the
// tag of our images, which the cluster holds and never pulls), and hostsim/
// (the simulated hosts' directory, at the same path on this machine and in
// every node). The names here are prefixed with node(s) so that the file
// builds with either suite's tag.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

type nodeProvider interface {
	// Name is "local" or "kind".
	Name() string
	// State is the directory of the cluster's files (STATE).
	State() string
	Kubeconfig() string
	// Kubectl is the kubectl binary the suites run.
	Kubectl() string
	// StartCluster starts a cluster with the given nodes (nil: the
	// provider's own) and returns its node names; the caller has checked
	// that none is up and stops it with StopCluster.
	StartCluster(t testing.TB, nodes []string) []string
	StopCluster(t testing.TB)
	// NodeAddrOK says whether a node's InternalIP is on the network the
	// cluster's nodes (and the simulated hosts, which carry the same
	// addresses) share.
	NodeAddrOK(addr string) bool
	// Crash kills every process of the node at once, as a power cut: its
	// lease stops and the node goes Unknown. Its simulated host is the
	// caller's business.
	Crash(t testing.TB, node string)
	// Up boots a crashed node (a reboot: containers and run state gone,
	// disks kept) and returns once its kubelet runs; Ready comes later.
	Up(t testing.TB, node string)
	// CutAPI drops every packet from the node to the API server (kubelet and
	// host-network pods alike, also through the kubernetes Service): a
	// partition, not a refusal. HealAPI undoes it.
	CutAPI(t testing.TB, node string)
	HealAPI(t testing.TB, node string)
	// RegistryHost is an address of this machine the nodes reach, where a
	// test can serve a registry; "" when the provider has none (the suites
	// then install the images the cluster holds).
	RegistryHost() string
	// TrustRegistry makes every node pull from the plain-HTTP registry at
	// HOST:PORT, until the test ends.
	TrustRegistry(t testing.TB, hostport string)
}

// newNodeProvider returns the provider E2E_PROVIDER names.
func newNodeProvider(t testing.TB) nodeProvider {
	t.Helper()
	root := nodesRepoRoot()
	switch p := os.Getenv("E2E_PROVIDER"); p {
	case "", "local":
		return &localNodes{root: root, state: nodesEnvOr("STATE", "/tmp/kube-lustre-cluster")}
	case "kind":
		return &kindNodes{root: root, state: nodesEnvOr("STATE", "/tmp/kube-lustre-kind")}
	default:
		t.Fatalf("E2E_PROVIDER=%q: want local (ci/cluster) or kind (ci/kind, needs Docker)", p)
		return nil
	}
}

func nodesRepoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(f), "..", ".."))
}

func nodesEnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// nodesScript runs a script of the repository with the test's STATE and
// fails the test with its output if it fails.
func nodesScript(t testing.TB, root, state string, env []string, script string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, script), args...)
	cmd.Env = append(append(os.Environ(), "STATE="+state), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out.String())
	}
}

// localNodes is ci/cluster.
type localNodes struct{ root, state string }

func (l *localNodes) Name() string       { return "local" }
func (l *localNodes) State() string      { return l.state }
func (l *localNodes) Kubeconfig() string { return filepath.Join(l.state, "admin.kubeconfig") }

// Kubectl is the one ci/cluster/build.sh builds with the cluster.
func (l *localNodes) Kubectl() string {
	cache := nodesEnvOr("KUBE_LUSTRE_CACHE", filepath.Join(os.Getenv("HOME"), ".cache", "kube-lustre"))
	return filepath.Join(cache, "k8s-"+k8sVersion(l.root), "bin", "kubectl")
}

// localDefaultNodes are the smoke test's: the nodes of examples/minimal.yaml
// and one more to crash.
var localDefaultNodes = []string{"server1", "client1", "n3"}

func (l *localNodes) StartCluster(t testing.TB, nodes []string) []string {
	t.Helper()
	if nodes == nil {
		nodes = localDefaultNodes
	}
	l.script(t, []string{"NODES=" + strings.Join(nodes, " ")}, "up.sh")
	return nodes
}

func (l *localNodes) StopCluster(t testing.TB) { l.script(t, nil, "down.sh") }

// NodeAddrOK: on ci/cluster's bridge (NET_PREFIX in ci/cluster/lib.sh).
func (l *localNodes) NodeAddrOK(addr string) bool {
	return strings.HasPrefix(addr, nodesEnvOr("NET_PREFIX", "10.77.0")+".")
}

func (l *localNodes) Crash(t testing.TB, node string) {
	t.Helper()
	l.script(t, nil, "node.sh", "crash", node)
}

func (l *localNodes) Up(t testing.TB, node string) {
	t.Helper()
	l.script(t, nil, "node.sh", "up", node)
}

func (l *localNodes) CutAPI(t testing.TB, node string) {
	t.Helper()
	l.script(t, nil, "node.sh", "cut-api", node)
}

func (l *localNodes) HealAPI(t testing.TB, node string) {
	t.Helper()
	l.script(t, nil, "node.sh", "heal-api", node)
}

// RegistryHost: the bridge address (NET_PREFIX.1 in ci/cluster/lib.sh),
// the one host address a node's network namespace reaches.
func (l *localNodes) RegistryHost() string { return nodesEnvOr("NET_PREFIX", "10.77.0") + ".1" }

// TrustRegistry writes the registry's hosts.toml where every node's
// containerd looks (config_path, ci/cluster/node.sh), which it reads at each
// pull: no restart.
func (l *localNodes) TrustRegistry(t testing.TB, hostport string) {
	t.Helper()
	dir := filepath.Join(l.state, "registries", hostport)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := fmt.Sprintf("server = \"http://%[1]s\"\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", hostport)
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
}

func (l *localNodes) script(t testing.TB, env []string, name string, args ...string) {
	t.Helper()
	nodesScript(t, l.root, l.state, env, filepath.Join("ci", "cluster", name), args...)
}

// kindNodes is a kind cluster made by ci/kind/e2e.sh: KIND_CLUSTER,
// KIND_NETWORK and KIND_SUBNET reach e2e.sh through the environment.
type kindNodes struct{ root, state string }

func (k *kindNodes) Name() string       { return "kind" }
func (k *kindNodes) State() string      { return k.state }
func (k *kindNodes) Kubeconfig() string { return filepath.Join(k.state, "admin.kubeconfig") }

// Kubectl: KUBECTL (e2e.sh exports the one it used), else ci/cluster's,
// which e2e.sh up builds when KUBECTL is not set.
func (k *kindNodes) Kubectl() string {
	if v := os.Getenv("KUBECTL"); v != "" {
		return v
	}
	return (&localNodes{}).Kubectl()
}

// StartCluster creates the kind cluster: always every node of ci/kind's
// configuration (the nodes of both examples); asking for another node
// fails.
func (k *kindNodes) StartCluster(t testing.TB, nodes []string) []string {
	t.Helper()
	k.script(t, "up")
	out, err := exec.Command(k.Kubectl(), "--kubeconfig", k.Kubeconfig(), "get", "nodes",
		"-l", "!node-role.kubernetes.io/control-plane", "-o", "jsonpath={.items[*].metadata.name}").CombinedOutput()
	if err != nil {
		t.Fatalf("the kind cluster's nodes: %v %s", err, out)
	}
	have := strings.Fields(string(out))
	for _, n := range nodes {
		if !slices.Contains(have, n) {
			t.Fatalf("node %s is not one of the kind cluster's (%v): see Nodes in ci/kind/cluster.go", n, have)
		}
	}
	if nodes == nil {
		return have
	}
	return nodes
}

func (k *kindNodes) StopCluster(t testing.TB) { k.script(t, "down") }

// NodeAddrOK: on the docker network e2e.sh made for the cluster.
func (k *kindNodes) NodeAddrOK(addr string) bool {
	_, subnet, err := net.ParseCIDR(nodesEnvOr("KIND_SUBNET", "172.30.77.0/24"))
	ip := net.ParseIP(addr)
	return err == nil && ip != nil && subnet.Contains(ip)
}

func (k *kindNodes) Crash(t testing.TB, node string) {
	t.Helper()
	k.script(t, "node", "crash", node)
}

func (k *kindNodes) Up(t testing.TB, node string) {
	t.Helper()
	k.script(t, "node", "up", node)
}

func (k *kindNodes) CutAPI(t testing.TB, node string) {
	t.Helper()
	k.script(t, "node", "cut-api", node)
}

func (k *kindNodes) HealAPI(t testing.TB, node string) {
	t.Helper()
	k.script(t, "node", "heal-api", node)
}

// RegistryHost: none yet. kind's nodes would need a containerd config_path
// (containerdConfigPatches in ci/kind) and the docker network's gateway;
// the suites install the images e2e.sh loaded into the nodes.
func (k *kindNodes) RegistryHost() string { return "" }

func (k *kindNodes) TrustRegistry(t testing.TB, hostport string) {
	t.Helper()
	t.Fatalf("kind nodes pull from no test registry (RegistryHost is empty): %s", hostport)
}

func (k *kindNodes) script(t testing.TB, args ...string) {
	t.Helper()
	nodesScript(t, k.root, k.state, nil, filepath.Join("ci", "kind", "e2e.sh"), args...)
}

// TestNodeProviders: the provider E2E_PROVIDER picks, where it keeps the
// cluster, and which node addresses it accepts. Needs no cluster.
func TestNodeProviders(t *testing.T) {
	t.Setenv("STATE", "")
	t.Setenv("NET_PREFIX", "")
	t.Setenv("KIND_SUBNET", "")
	for _, c := range []struct {
		env, name, state string
		good, bad        []string
	}{
		{"", "local", "/tmp/kube-lustre-cluster", []string{"10.77.0.11"}, []string{"10.77.1.11", "172.30.77.3", ""}},
		{"local", "local", "/tmp/kube-lustre-cluster", []string{"10.77.0.20"}, []string{"10.770.0.1"}},
		{"kind", "kind", "/tmp/kube-lustre-kind", []string{"172.30.77.3", "172.30.77.254"}, []string{"172.30.78.3", "10.77.0.11", "", "fc00::3"}},
	} {
		t.Setenv("E2E_PROVIDER", c.env)
		p := newNodeProvider(t)
		if p.Name() != c.name || p.State() != c.state || p.Kubeconfig() != filepath.Join(c.state, "admin.kubeconfig") {
			t.Errorf("E2E_PROVIDER=%q: %s in %s (%s)", c.env, p.Name(), p.State(), p.Kubeconfig())
		}
		for _, a := range c.good {
			if !p.NodeAddrOK(a) {
				t.Errorf("%s rejects node address %q", p.Name(), a)
			}
		}
		for _, a := range c.bad {
			if p.NodeAddrOK(a) {
				t.Errorf("%s accepts node address %q", p.Name(), a)
			}
		}
	}
	t.Setenv("E2E_PROVIDER", "kind")
	t.Setenv("KUBECTL", "/opt/kubectl")
	if k := newNodeProvider(t).Kubectl(); k != "/opt/kubectl" {
		t.Errorf("kind's kubectl %s, want KUBECTL", k)
	}
}

// k8sVersion is the Kubernetes ci/cluster/build.sh pins (K8S_VERSION=...):
// the one place the version is written.
func k8sVersion(root string) string {
	if v, ok := lineValue(filepath.Join(root, "ci", "cluster", "build.sh"), "K8S_VERSION="); ok {
		return v
	}
	return "unknown-see-ci-cluster-build.sh"
}

// lineValue is what follows prefix on the first line of file that starts
// with it; false if the file cannot be read or has no such line.
func lineValue(file, prefix string) (string, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v, true
		}
	}
	return "", false
}
