package main

// kind's own `create cluster` code (the pinned sigs.k8s.io/kind library) run
// on our configuration against a fake docker, up to the point where it has
// written each node's kubeadm configuration: kind's validation, container
// naming, mounts, network, per-node patch matching and patching are all the
// real ones; only the Docker engine is played by this test binary. That is
// as far as this machine (no Docker engine) can follow kind: kubeadm, the
// kubelets and the node image itself are not exercised here.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/log"
)

// TestMain turns the test binary into the fake docker when it runs under
// that name (a symlink the test puts first on PATH).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "docker" {
		if os.Getenv("FAKE_DOCKER_NODES") != "" {
			os.Exit(fakeNodeDocker(os.Args[1:], os.Getenv("FAKE_DOCKER_DIR")))
		}
		os.Exit(fakeDocker(os.Args[1:], os.Getenv("FAKE_DOCKER_DIR"), os.Getenv("FAKE_KUBE_VERSION")))
	}
	os.Exit(m.Run())
}

const fakeSubnet = "172.30.77"

// fakeDocker answers the docker commands kind's docker provider runs while
// it creates a cluster; every call goes to dir/calls, each `docker run` to
// dir/run/NAME, each file kind writes into a node to dir/files/NAME/PATH.
func fakeDocker(args []string, dir, kubeVersion string) int {
	if f, err := os.OpenFile(filepath.Join(dir, "calls"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(f, strings.Join(args, " "))
		f.Close()
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "fake docker: "+format+"\n", a...)
		return 1
	}
	if len(args) == 0 {
		return fail("no arguments")
	}
	joined := strings.Join(args, " ")
	containers := func() []string {
		es, _ := os.ReadDir(filepath.Join(dir, "run"))
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	runArgs := func(name string) ([]string, bool) {
		b, err := os.ReadFile(filepath.Join(dir, "run", name))
		return strings.Split(string(b), "\n"), err == nil
	}
	switch args[0] {
	case "-v":
		fmt.Println("Docker version 29.0.0, build fake")
	case "info":
		switch {
		case strings.Contains(joined, "{{json .}}"):
			fmt.Println(`{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true,"CPUShares":true,"SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"]}`)
		case strings.Contains(joined, "SecurityOptions"):
			fmt.Println(`'["name=seccomp,profile=builtin","name=cgroupns"]'`)
		case strings.Contains(joined, "DriverStatus"):
			fmt.Println(`[["Backing Filesystem","extfs"]]`)
		case strings.Contains(joined, ".Driver"):
			fmt.Println("overlay2")
		default:
			return fail("info %q", joined)
		}
	case "ps":
		for _, n := range containers() {
			fmt.Println(n)
		}
	case "network":
		switch args[1] {
		case "ls": // the network exists (e2e.sh creates it before kind runs)
			fmt.Println("fakenetid")
		case "inspect":
			fmt.Println(fakeSubnet + ".0/24 ")
		default:
			return fail("network %q", joined)
		}
	case "inspect":
		if args[1] == "--type=image" {
			return 0 // present: kind pulls nothing
		}
		name := args[len(args)-1]
		ra, ok := runArgs(name)
		if !ok {
			return fail("no container %s", name)
		}
		switch {
		case strings.Contains(joined, "io.x-k8s.kind.role"):
			for i, a := range ra {
				if a == "--label" && strings.HasPrefix(ra[i+1], "io.x-k8s.kind.role=") {
					fmt.Println(strings.TrimPrefix(ra[i+1], "io.x-k8s.kind.role="))
				}
			}
		case strings.Contains(joined, ".NetworkSettings.Networks"):
			i := slices.Index(containers(), name) // sorted by name: a stable fake address
			fmt.Printf("%s.%d,\n", fakeSubnet, 2+i)
		default:
			return fail("inspect %q", joined)
		}
	case "run":
		if len(args) < 3 || args[1] != "--name" {
			return fail("run %q", joined)
		}
		if err := os.WriteFile(filepath.Join(dir, "run", args[2]), []byte(strings.Join(args[3:], "\n")), 0o644); err != nil {
			return fail("%v", err)
		}
	case "logs":
		fmt.Println("[  OK  ] Reached target Multi-User System.")
	case "exec":
		i := 1
		for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
			if args[i] == "-e" || args[i] == "-w" {
				i++
			}
		}
		if i+1 >= len(args) {
			return fail("exec %q", joined)
		}
		name, cmd := args[i], args[i+1:]
		switch {
		case slices.Equal(cmd, []string{"cat", "/kind/version"}):
			fmt.Println(kubeVersion)
		case cmd[0] == "mkdir":
		case len(cmd) == 3 && cmd[0] == "cp" && cmd[1] == "/dev/stdin":
			b, _ := io.ReadAll(os.Stdin)
			p := filepath.Join(dir, "files", name, cmd[2])
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return fail("%v", err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return fail("%v", err)
			}
		default:
			return fail("exec in %s: %q", name, cmd)
		}
	case "rm", "kill", "stop":
	default:
		return fail("unhandled %q", joined)
	}
	return 0
}

// docs splits kind's kubeadm config (YAML documents) by kind.
func docs(t *testing.T, b []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	d := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var m map[string]any
		if err := d.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubeadm config: %v\n%s", err, b)
		}
		if m != nil {
			out[m["kind"].(string)] = m
		}
	}
	return out
}

// get walks a decoded document: get(m, "a", "b") is m.a.b.
func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// arg reads a kubeadm extraArgs / kubeletExtraArgs entry: a map in
// v1beta3, a list of {name, value} in v1beta4.
func arg(v any, name string) any {
	switch a := v.(type) {
	case map[string]any:
		return a[name]
	case []any:
		for _, e := range a {
			if m, ok := e.(map[string]any); ok && m["name"] == name {
				return m["value"]
			}
		}
	}
	return nil
}

func TestKindCreatesTheNamedNodes(t *testing.T) {
	for _, c := range []struct{ version, kubeadmAPI string }{
		{"v1.34.11", "kubeadm.k8s.io/v1beta3"}, // NodeImage
		{"v1.36.4", "kubeadm.k8s.io/v1beta4"},  // a later image: patches must still apply
	} {
		t.Run(c.version, func(t *testing.T) { testKindCreate(t, c.version, c.kubeadmAPI) })
	}
}

func testKindCreate(t *testing.T, kubeVersion, kubeadmAPI string) {
	const name, network = "kl-test", "kl-test-net"
	dir := t.TempDir()
	for _, d := range []string{"bin", "run", "files"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "bin", "docker")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_DOCKER_DIR", dir)
	t.Setenv("FAKE_KUBE_VERSION", kubeVersion)
	t.Setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", network)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		t.Setenv(k, "")
	}

	o := Options{Name: name, HostsimDir: testHostsim}
	raw, err := Config(o)
	if err != nil {
		t.Fatal(err)
	}
	p := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(log.NoopLogger{}))
	err = p.Create(name, cluster.CreateWithRawConfig(raw), cluster.CreateWithStopBeforeSettingUpKubernetes(true),
		cluster.CreateWithDisplayUsage(false), cluster.CreateWithDisplaySalutation(false))
	if err != nil {
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		t.Fatalf("kind create cluster: %v\ndocker calls:\n%s", err, calls)
	}

	// The containers: named as WorkerContainer says, on our network, with
	// the hostsim directory, from the pinned image.
	want := []string{ControlPlaneContainer(name)}
	for i := range Nodes {
		want = append(want, WorkerContainer(name, i))
	}
	slices.Sort(want)
	es, _ := os.ReadDir(filepath.Join(dir, "run"))
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
		b, _ := os.ReadFile(filepath.Join(dir, "run", e.Name()))
		ra := strings.Split(string(b), "\n")
		if i := slices.Index(ra, "--net"); i < 0 || ra[i+1] != network {
			t.Errorf("%s: not on network %s: %q", e.Name(), network, ra)
		}
		if !slices.Contains(ra, "--volume="+testHostsim+":"+testHostsim) {
			t.Errorf("%s: no hostsim mount: %q", e.Name(), ra)
		}
		if !slices.Contains(ra, NodeImage) {
			t.Errorf("%s: not the pinned image: %q", e.Name(), ra)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("containers %v, want %v", got, want)
	}

	// The kubeadm configuration kind wrote into each node.
	for i, node := range append([]string{""}, Nodes...) {
		c := ControlPlaneContainer(name)
		if i > 0 {
			c = WorkerContainer(name, i-1)
		}
		b, err := os.ReadFile(filepath.Join(dir, "files", c, "kind", "kubeadm.conf"))
		if err != nil {
			t.Fatalf("%s: no kubeadm config: %v", c, err)
		}
		d := docs(t, b)
		join := d["JoinConfiguration"]
		if join == nil || join["apiVersion"] != kubeadmAPI {
			t.Fatalf("%s: JoinConfiguration %v, want apiVersion %s:\n%s", c, join, kubeadmAPI, b)
		}
		gotName := get(join, "nodeRegistration", "name")
		if i == 0 {
			// The control plane keeps kind's name: it is never a test node.
			if gotName != nil || get(d["InitConfiguration"], "nodeRegistration", "name") != nil {
				t.Errorf("%s: the control plane was renamed", c)
			}
		} else if gotName != node {
			t.Errorf("%s: joins as %v, want node %s:\n%s", c, gotName, node, b)
		}
		// The patch merged: kind's own registration settings are still there.
		if id := arg(get(join, "nodeRegistration", "kubeletExtraArgs"), "provider-id"); id != ProviderID(name, c) {
			t.Errorf("%s: provider-id %v, want %s", c, id, ProviderID(name, c))
		}
		if get(join, "nodeRegistration", "criSocket") == nil {
			t.Errorf("%s: the name patch replaced nodeRegistration instead of merging:\n%s", c, b)
		}
		kc := d["KubeletConfiguration"]
		if kc == nil || kc["nodeLeaseDurationSeconds"] != 10 || kc["nodeStatusUpdateFrequency"] != "5s" {
			t.Errorf("%s: kubelet lease settings not applied: %v", c, kc)
		}
		cm := get(d["ClusterConfiguration"], "controllerManager", "extraArgs")
		if arg(cm, "node-monitor-grace-period") != "10s" || arg(cm, "node-monitor-period") != "1s" {
			t.Errorf("%s: controller-manager args %v", c, cm)
		}
		if arg(cm, "enable-hostpath-provisioner") == nil {
			t.Errorf("%s: our extraArgs replaced kind's: %v", c, cm)
		}
	}

	// kind used the image it was given, pulled nothing and created no network.
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	s := bufio.NewScanner(bytes.NewReader(calls))
	for s.Scan() {
		if l := s.Text(); strings.HasPrefix(l, "pull ") || strings.HasPrefix(l, "network create") {
			t.Errorf("kind ran docker %s", l)
		}
	}
}
