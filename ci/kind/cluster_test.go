package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

const testHostsim = "/tmp/kube-lustre-kind/hostsim"

// decodeStrict decodes a kind configuration the way kind reads --config
// (encoding.Parse: go.yaml.in/yaml/v3 with KnownFields) into kind's own
// v1alpha4 types: an unknown or misplaced field is an error, as it is for
// `kind create cluster`.
func decodeStrict(t *testing.T, b []byte) *v1alpha4.Cluster {
	t.Helper()
	var c v1alpha4.Cluster
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		t.Fatalf("kind would reject the configuration: %v\n%s", err, b)
	}
	return &c
}

func TestConfigIsKindV1Alpha4(t *testing.T) {
	b, err := Config(Options{Name: DefaultCluster, HostsimDir: testHostsim})
	if err != nil {
		t.Fatal(err)
	}
	c := decodeStrict(t, b)
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" || c.Name != DefaultCluster {
		t.Errorf("kind %q apiVersion %q name %q", c.Kind, c.APIVersion, c.Name)
	}
	if c.Networking.IPFamily != v1alpha4.IPv4Family {
		t.Errorf("ipFamily %q: crash pins IPv4 addresses", c.Networking.IPFamily)
	}
	if len(c.Nodes) != 1+len(Nodes) || c.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Fatalf("want one control plane then %d workers, got %d nodes (first %q)", len(Nodes), len(c.Nodes), c.Nodes[0].Role)
	}
	for i, n := range c.Nodes {
		if n.Image != NodeImage {
			t.Errorf("node %d: image %q, want the pinned %s", i, n.Image, NodeImage)
		}
		want := []v1alpha4.Mount{{HostPath: testHostsim, ContainerPath: testHostsim}}
		if !reflect.DeepEqual(n.ExtraMounts, want) {
			t.Errorf("node %d: extraMounts %+v, want the hostsim directory at the same path %+v", i, n.ExtraMounts, want)
		}
		if i == 0 {
			if len(n.KubeadmConfigPatches) != 0 {
				t.Errorf("the control plane has patches %q", n.KubeadmConfigPatches)
			}
			continue
		}
		if n.Role != v1alpha4.WorkerRole {
			t.Errorf("node %d: role %q", i, n.Role)
		}
		if len(n.KubeadmConfigPatches) != 1 {
			t.Fatalf("worker %d: %d patches, want its node name", i, len(n.KubeadmConfigPatches))
		}
		var p struct {
			Kind             string `yaml:"kind"`
			NodeRegistration struct {
				Name string `yaml:"name"`
			} `yaml:"nodeRegistration"`
		}
		d := yaml.NewDecoder(strings.NewReader(n.KubeadmConfigPatches[0]))
		d.KnownFields(true)
		if err := d.Decode(&p); err != nil {
			t.Fatalf("worker %d patch: %v", i, err)
		}
		if p.Kind != "JoinConfiguration" || p.NodeRegistration.Name != Nodes[i-1] {
			t.Errorf("worker %d patch %q: want JoinConfiguration nodeRegistration.name %s", i, n.KubeadmConfigPatches[0], Nodes[i-1])
		}
	}
	// Cluster-wide patches: plain YAML naming a kind (kind matches patches
	// to kubeadm documents by kind, and by apiVersion only when given).
	kinds := map[string]bool{}
	for _, p := range c.KubeadmConfigPatches {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(p), &m); err != nil {
			t.Fatalf("patch %q: %v", p, err)
		}
		if _, ok := m["apiVersion"]; ok {
			t.Errorf("patch %q pins an apiVersion: kind would skip it on a node image with another kubeadm API", p)
		}
		kinds[m["kind"].(string)] = true
	}
	if !kinds["ClusterConfiguration"] || !kinds["KubeletConfiguration"] {
		t.Errorf("cluster patches for %v, want ClusterConfiguration and KubeletConfiguration", kinds)
	}
}

func TestConfigOptions(t *testing.T) {
	b, err := Config(Options{Name: "x", HostsimDir: "/h", Image: "kindest/node:v9@sha256:00", Nodes: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	c := decodeStrict(t, b)
	if len(c.Nodes) != 3 || c.Nodes[2].Image != "kindest/node:v9@sha256:00" || !strings.Contains(c.Nodes[2].KubeadmConfigPatches[0], "name: b") {
		t.Errorf("options not applied:\n%s", b)
	}
	for _, o := range []Options{
		{Name: "", HostsimDir: "/h"},
		{Name: "x", HostsimDir: "relative/h"},
		{Name: "x", HostsimDir: "/h", Nodes: []string{"a", "a"}},
		{Name: "x", HostsimDir: "/h", Nodes: []string{""}},
	} {
		if _, err := Config(o); err == nil {
			t.Errorf("Config(%+v) accepted", o)
		}
	}
}

// The pins agree: the node image is one of kind v0.33.0's (by digest), and
// go.mod builds that kind.
func TestPins(t *testing.T) {
	if !regexp.MustCompile(`^kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}$`).MatchString(NodeImage) {
		t.Errorf("NodeImage %q is not pinned by digest", NodeImage)
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/kind ` + regexp.QuoteMeta(KindVersion) + `\b`).Match(mod) {
		t.Errorf("go.mod does not require sigs.k8s.io/kind %s: the node image belongs to that release", KindVersion)
	}
	if !regexp.MustCompile(`(?m)^tool sigs\.k8s\.io/kind$`).Match(mod) {
		t.Errorf("go.mod has no `tool sigs.k8s.io/kind`: e2e.sh builds kind from it")
	}
}

// Every node the examples name is a node of the kind cluster: the chart
// suite installs both.
func TestNodesCoverExamples(t *testing.T) {
	for _, f := range []string{"minimal.yaml", "ha.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Targets []struct {
				Nodes []string `yaml:"nodes"`
			} `yaml:"targets"`
			Clients struct {
				Nodes []string `yaml:"nodes"`
			} `yaml:"clients"`
		}
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		named := v.Clients.Nodes
		for _, tg := range v.Targets {
			named = append(named, tg.Nodes...)
		}
		if len(named) == 0 {
			t.Fatalf("examples/%s names no node: has its layout changed?", f)
		}
		for _, n := range named {
			if !slices.Contains(Nodes, n) {
				t.Errorf("examples/%s names node %s, which the kind cluster lacks", f, n)
			}
		}
	}
}

func TestContainers(t *testing.T) {
	o := Options{Name: "kube-lustre"}
	for node, want := range map[string]string{
		"server1": "kube-lustre-worker", "client1": "kube-lustre-worker2", "s1": "kube-lustre-worker3", "c2": "kube-lustre-worker10",
	} {
		if got, err := o.Container(node); err != nil || got != want {
			t.Errorf("Container(%s) = %q, %v; want %s", node, got, err, want)
		}
	}
	if _, err := o.Container("n3"); err == nil {
		t.Error("Container(n3): no error for a node the cluster lacks")
	}
	if got := ControlPlaneContainer("kube-lustre"); got != "kube-lustre-control-plane" {
		t.Errorf("ControlPlaneContainer = %q", got)
	}
}

func TestDockerArgs(t *testing.T) {
	for _, c := range []struct {
		got  []string
		want string
	}{
		{KillArgs("k-worker"), "kill --signal KILL k-worker"},
		{StartArgs("k-worker"), "start k-worker"},
		{RunningArgs("k-worker"), "inspect -f {{.State.Running}} k-worker"},
		{NetworkIPArgs("net", "k-worker"), `inspect -f {{with index .NetworkSettings.Networks "net"}}{{.IPAddress}}{{end}} k-worker`},
		{PinnedIPArgs("net", "k-worker"), `inspect -f {{with index .NetworkSettings.Networks "net"}}{{with .IPAMConfig}}{{.IPv4Address}}{{end}}{{end}} k-worker`},
		{PinArgs("net", "k-worker", "172.30.77.5")[0], "network disconnect net k-worker"},
		{PinArgs("net", "k-worker", "172.30.77.5")[1], "network connect --ip 172.30.77.5 net k-worker"},
		{KubeletActiveArgs("k-worker"), "exec k-worker systemctl is-active --quiet kubelet"},
		{IptablesArgs("k-worker2", "-I", "172.30.77.2"),
			"exec k-worker2 iptables -I OUTPUT -d 172.30.77.2 -p tcp --dport 6443 -m comment --comment kl-cut-api -j DROP"},
		{IptablesArgs("k-worker2", "-D", "172.30.77.2"),
			"exec k-worker2 iptables -D OUTPUT -d 172.30.77.2 -p tcp --dport 6443 -m comment --comment kl-cut-api -j DROP"},
	} {
		if got := strings.Join(c.got, " "); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func TestParseIP(t *testing.T) {
	if ip, err := ParseIP("172.30.77.4\n"); err != nil || ip != "172.30.77.4" {
		t.Errorf("ParseIP = %q, %v", ip, err)
	}
	for _, s := range []string{"", "\n", "fc00::4", "no"} {
		if _, err := ParseIP(s); err == nil {
			t.Errorf("ParseIP(%q) accepted", s)
		}
	}
}

func TestCheckProviderIDs(t *testing.T) {
	o := Options{Name: "k", Nodes: []string{"server1", "client1"}}
	good := map[string]string{
		"k-control-plane": "kind://docker/k/k-control-plane",
		"server1":         "kind://docker/k/k-worker",
		"client1":         "kind://docker/k/k-worker2",
	}
	if err := o.CheckProviderIDs(good); err != nil {
		t.Error(err)
	}
	swapped := map[string]string{"server1": "kind://docker/k/k-worker2", "client1": "kind://docker/k/k-worker"}
	if err := o.CheckProviderIDs(swapped); err == nil || !strings.Contains(err.Error(), "Node server1 has providerID") {
		t.Errorf("swapped containers: %v", err)
	}
	// kind's default naming: the patches were not applied.
	unnamed := map[string]string{"k-worker": "kind://docker/k/k-worker", "k-worker2": "kind://docker/k/k-worker2"}
	if err := o.CheckProviderIDs(unnamed); err == nil || !strings.Contains(err.Error(), "no Node server1") {
		t.Errorf("nodes under container names: %v", err)
	}
}
