package main

// The pure part of kind-nodes: the kind cluster configuration the e2e
// suites need, which container is which Kubernetes node, and the docker
// command lines that crash, boot and cut off a node. No I/O here, so that
// cluster_test.go checks all of it without a Docker engine.

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// KindVersion is the kind release this module pins (go.mod, `tool
// sigs.k8s.io/kind`); cluster_test.go checks that the two agree, because a
// node image is only supported by the kind release that built it.
const KindVersion = "v0.33.0"

// NodeImage is a node image of the kind v0.33.0 release notes ("Images
// pre-built for this release"), by digest as kind asks: the tag alone can
// point at a build for another release. v1.34 is the newest of that list
// that still runs on cgroup v1 hosts (kind node images dropped cgroup v1 at
// Kubernetes 1.35). The suites' kubectl is ci/cluster's (v1.37.2), three
// minors newer: outside kubectl's supported skew of one. Not run since
// that bump: the kind suite needs a Docker engine, which the CI machine has
// not; set KUBECTL to a v1.34 kubectl if a call misbehaves.
const NodeImage = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"

// DefaultCluster and DefaultNetwork are what ci/kind/e2e.sh uses unless
// KIND_CLUSTER / KIND_NETWORK say otherwise.
const (
	DefaultCluster = "kube-lustre"
	DefaultNetwork = "kube-lustre-kind"
)

// APIServerPort is where the control-plane container serves the API on the
// cluster's docker network: kind's APIServerInternalPort. Workers' kubelets
// dial <cluster>-control-plane:6443 and kube-proxy sends the kubernetes
// Service (10.96.0.1:443) to the control plane's address on that network,
// port 6443: one rule on that address and port cuts both.
const APIServerPort = 6443

// Nodes are the worker nodes, in the order kind creates their containers:
// the nodes of examples/minimal.yaml (server1, client1) and
// examples/ha.yaml (s1..s6, c1, c2), as test/e2e's chartNodes. The
// control plane runs no test pod (kind keeps its NoSchedule taint when there
// are workers) and is never crashed.
var Nodes = []string{"server1", "client1", "s1", "s2", "s3", "s4", "s5", "s6", "c1", "c2"}

// Options are what differs between runs.
type Options struct {
	Name       string   // kind cluster name (container name prefix)
	HostsimDir string   // the simulated hosts' directory, shared at the same path into every node
	Image      string   // node image; NodeImage if empty
	Nodes      []string // worker node names; Nodes if nil
}

func (o Options) nodes() []string {
	if o.Nodes == nil {
		return Nodes
	}
	return o.Nodes
}

// ControlPlaneContainer is the control-plane node's container.
func ControlPlaneContainer(cluster string) string { return cluster + "-control-plane" }

// WorkerContainer is the container of the i-th worker (from 0), as kind
// names it (MakeNodeNamer in kind's providers/common): the first of a role
// is <cluster>-<role>, the next ones <cluster>-<role>2, 3, ... kind also
// matches a container back to its config entry by that suffix, which is how
// each worker gets its own kubeadmConfigPatches (and so its node name).
func WorkerContainer(cluster string, i int) string {
	if i == 0 {
		return cluster + "-worker"
	}
	return fmt.Sprintf("%s-worker%d", cluster, i+1)
}

// Container is the container of Kubernetes node name.
func (o Options) Container(node string) (string, error) {
	for i, n := range o.nodes() {
		if n == node {
			return WorkerContainer(o.Name, i), nil
		}
	}
	return "", fmt.Errorf("node %q is not in the kind cluster (its nodes: %s)", node, strings.Join(o.nodes(), " "))
}

// The v1alpha4 fields we set, with kind's own YAML names. Our own types, not
// kind's: cluster_test.go decodes the output strictly into kind's
// v1alpha4.Cluster, so a misspelt or misplaced field fails there rather than
// being dropped.
type kindCluster struct {
	Kind                 string     `yaml:"kind"`
	APIVersion           string     `yaml:"apiVersion"`
	Name                 string     `yaml:"name"`
	Networking           networking `yaml:"networking"`
	KubeadmConfigPatches []string   `yaml:"kubeadmConfigPatches"`
	Nodes                []kindNode `yaml:"nodes"`
}

type networking struct {
	IPFamily string `yaml:"ipFamily"`
}

type kindNode struct {
	Role                 string      `yaml:"role"`
	Image                string      `yaml:"image"`
	ExtraMounts          []kindMount `yaml:"extraMounts"`
	KubeadmConfigPatches []string    `yaml:"kubeadmConfigPatches,omitempty"`
}

type kindMount struct {
	HostPath      string `yaml:"hostPath"`
	ContainerPath string `yaml:"containerPath"`
}

// clusterPatches make node failure as quick to see as on ci/cluster (up.sh
// and node.sh): the controller-manager marks a node Unknown 10 s after its
// last heartbeat instead of 40-50 s, and kubelets renew their lease every
// 2.5 s (a quarter of 10 s) so that a live node never comes near that.
// Without them every crash and API cut of the fault matrix waits about 40 s
// more than on the local cluster. No apiVersion: kind then applies a patch
// to whichever kubeadm API version the node image uses (v1beta3 up to
// Kubernetes 1.35, v1beta4 after, where kind converts extraArgs).
var clusterPatches = []string{
	`kind: ClusterConfiguration
controllerManager:
  extraArgs:
    node-monitor-grace-period: 10s
    node-monitor-period: 1s
`,
	`kind: KubeletConfiguration
nodeLeaseDurationSeconds: 10
nodeStatusUpdateFrequency: 5s
`,
}

// nodeNamePatch gives a worker its Kubernetes node name: kind names nodes
// after their containers (kube-lustre-worker2, ...), the examples name
// server1, s1, ... kubeadm join registers the node under
// nodeRegistration.name and, as it differs from the container's hostname,
// starts the kubelet with --hostname-override, which the container keeps
// across restarts (/var/lib/kubelet/kubeadm-flags.env).
func nodeNamePatch(node string) string {
	return fmt.Sprintf("kind: JoinConfiguration\nnodeRegistration:\n  name: %s\n", node)
}

// Config is the kind configuration: one control plane and one worker per
// node, each with the simulated hosts' directory at the same path (pods
// reach it by hostPath inside the node container; the tests on this machine
// by its own path).
func Config(o Options) ([]byte, error) {
	if o.Name == "" {
		return nil, fmt.Errorf("no cluster name")
	}
	if !strings.HasPrefix(o.HostsimDir, "/") {
		return nil, fmt.Errorf("hostsim directory %q: must be absolute (it is the same path on this machine and in the nodes)", o.HostsimDir)
	}
	image := o.Image
	if image == "" {
		image = NodeImage
	}
	mounts := []kindMount{{HostPath: o.HostsimDir, ContainerPath: o.HostsimDir}}
	c := kindCluster{
		Kind:       "Cluster",
		APIVersion: "kind.x-k8s.io/v1alpha4",
		Name:       o.Name,
		// IPv4 only: ci/kind pins a crashed node's IPv4 address on the
		// cluster network (see crash in main.go).
		Networking:           networking{IPFamily: "ipv4"},
		KubeadmConfigPatches: clusterPatches,
		Nodes:                []kindNode{{Role: "control-plane", Image: image, ExtraMounts: mounts}},
	}
	seen := map[string]bool{}
	for _, n := range o.nodes() {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("node name %q: empty or given twice", n)
		}
		seen[n] = true
		c.Nodes = append(c.Nodes, kindNode{Role: "worker", Image: image, ExtraMounts: mounts,
			KubeadmConfigPatches: []string{nodeNamePatch(n)}})
	}
	var b bytes.Buffer
	b.WriteString("# Generated by ci/kind (kind-nodes config): the kind cluster of the e2e suites.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// The docker command lines (without "docker").

// NetworkIPArgs prints the container's IPv4 address on network.
func NetworkIPArgs(network, container string) []string {
	return []string{"inspect", "-f", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, network), container}
}

// PinnedIPArgs prints the address the container asked for on network (empty
// when docker picks one).
func PinnedIPArgs(network, container string) []string {
	return []string{"inspect", "-f", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{with .IPAMConfig}}{{.IPv4Address}}{{end}}{{end}}`, network), container}
}

// RunningArgs prints true or false.
func RunningArgs(container string) []string {
	return []string{"inspect", "-f", "{{.State.Running}}", container}
}

// KillArgs is the crash: SIGKILL to the container's init (systemd) takes
// kubelet, containerd, the shims and every container with it, as a power
// cut would; the node's lease stops and it goes Unknown. SIGKILL, not kind's
// stop signal: docker does not apply the --restart policy to a container it
// killed on request, so the node stays down until Up.
func KillArgs(container string) []string {
	return []string{"kill", "--signal", "KILL", container}
}

// PinArgs reattach a stopped container to network with the address it had,
// so that `docker start` gives it that address again. Otherwise docker may
// hand a restarted node another one (another crashed node's, when two are
// down), while the simulated hosts and the DRBD peers know it by the old
// one. Needs a network with a configured subnet (e2e.sh creates it).
func PinArgs(network, container, ip string) [][]string {
	return [][]string{
		{"network", "disconnect", network, container},
		{"network", "connect", "--ip", ip, network, container},
	}
}

// StartArgs boots a crashed node: kind's entrypoint, then systemd, then
// containerd and the kubelet, with the node's disk (/var) kept and /run
// and /tmp empty: a reboot.
func StartArgs(container string) []string { return []string{"start", container} }

// KubeletActiveArgs succeeds once systemd runs the node's kubelet.
func KubeletActiveArgs(container string) []string {
	return []string{"exec", container, "systemctl", "is-active", "--quiet", "kubelet"}
}

// apiRule drops every packet from the node to the API server: the filter
// OUTPUT chain sees the kubelet's connections and, after kube-proxy's nat
// OUTPUT DNAT, the host-network pods' connections to the kubernetes Service
// alike. DROP, not REJECT: a partition, requests hang (node.sh cut-api does
// the same on ci/cluster). The comment marks our rule.
func apiRule(apiIP string) []string {
	return []string{"OUTPUT", "-d", apiIP, "-p", "tcp", "--dport", fmt.Sprint(APIServerPort),
		"-m", "comment", "--comment", "kl-cut-api", "-j", "DROP"}
}

// IptablesArgs runs iptables op (-C check, -I insert, -D delete) with the
// API rule inside the node's network namespace.
func IptablesArgs(container, op, apiIP string) []string {
	return append([]string{"exec", container, "iptables", op}, apiRule(apiIP)...)
}

// ParseIP checks a docker inspect answer for one IPv4 address.
func ParseIP(out string) (string, error) {
	s := strings.TrimSpace(out)
	if ip := net.ParseIP(s); ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("no IPv4 address in %q", s)
	}
	return s, nil
}

// ProviderID is what kind's kubeadm config gives a node's kubelet
// (--provider-id), so every Node object names its container.
func ProviderID(cluster, container string) string {
	return "kind://docker/" + cluster + "/" + container
}

// CheckProviderIDs compares the Nodes the cluster registered (name ->
// spec.providerID) with the containers the configuration gave them: each
// worker must be a Node of that exact name backed by its container,
// otherwise crash would kill another node than the one a test names.
func (o Options) CheckProviderIDs(got map[string]string) error {
	var bad []string
	for i, n := range o.nodes() {
		want := ProviderID(o.Name, WorkerContainer(o.Name, i))
		switch id, ok := got[n]; {
		case !ok:
			bad = append(bad, fmt.Sprintf("no Node %s (want one backed by %s)", n, WorkerContainer(o.Name, i)))
		case id != want:
			bad = append(bad, fmt.Sprintf("Node %s has providerID %q, want %q", n, id, want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the kind cluster's nodes are not the configured ones:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}
