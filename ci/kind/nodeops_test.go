package main

// The docker side of crash, up, cut-api and heal-api (main.go), against a
// fake docker that keeps each container's state in files: running or not,
// its address on the network, the address it is pinned to, how many API
// rules its iptables holds.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeNodeDocker plays the Docker engine for docker's node operations. A
// started container gets its pinned address, else dir/next-ip (what a
// docker without the pin might hand out).
func fakeNodeDocker(args []string, dir string) int {
	if f, err := os.OpenFile(filepath.Join(dir, "calls"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(f, strings.Join(args, " "))
		f.Close()
	}
	read := func(c, k string) string {
		b, _ := os.ReadFile(filepath.Join(dir, c+"."+k))
		return strings.TrimSpace(string(b))
	}
	write := func(c, k, v string) { _ = os.WriteFile(filepath.Join(dir, c+"."+k), []byte(v), 0o644) }
	last := args[len(args)-1]
	joined := strings.Join(args, " ")
	switch {
	case args[0] == "inspect" && strings.Contains(joined, ".State.Running"):
		fmt.Println(read(last, "state") == "running")
	case args[0] == "inspect" && strings.Contains(joined, "IPAMConfig"):
		fmt.Println(read(last, "pinned"))
	case args[0] == "inspect" && strings.Contains(joined, ".IPAddress"):
		if read(last, "state") == "running" {
			fmt.Println(read(last, "ip"))
		} else {
			fmt.Println()
		}
	case args[0] == "kill":
		write(last, "state", "exited")
	case args[0] == "network" && args[1] == "disconnect":
		if read("", "fail-pin") != "" {
			fmt.Fprintln(os.Stderr, "Error response from daemon: fake pin failure")
			return 1
		}
		write(last, "ip", "")
	case args[0] == "network" && args[1] == "connect" && args[2] == "--ip":
		write(last, "pinned", args[3])
	case args[0] == "start":
		ip := read(last, "pinned")
		if ip == "" || read("", "ignore-pin") != "" {
			ip = read("", "next-ip")
		}
		write(last, "state", "running")
		write(last, "ip", ip)
	case args[0] == "exec" && args[2] == "systemctl":
		if read(args[1], "state") != "running" {
			return 1
		}
	case args[0] == "exec" && args[2] == "iptables":
		n, _ := strconv.Atoi(read(args[1], "rules"))
		switch args[3] {
		case "-C":
			if n == 0 {
				return 1
			}
		case "-I":
			write(args[1], "rules", strconv.Itoa(n+1))
		case "-D":
			if n == 0 {
				return 1
			}
			write(args[1], "rules", strconv.Itoa(n-1))
		}
	default:
		fmt.Fprintf(os.Stderr, "fake docker: unhandled %q\n", joined)
		return 1
	}
	return 0
}

func TestNodeOps(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "bin", "docker")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_DOCKER_DIR", dir)
	t.Setenv("FAKE_DOCKER_NODES", "1")
	set := func(c, k, v string) {
		if err := os.WriteFile(filepath.Join(dir, c+"."+k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func(c, k string) string {
		b, _ := os.ReadFile(filepath.Join(dir, c+"."+k))
		return string(b)
	}
	calls := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "calls"))
		_ = os.Remove(filepath.Join(dir, "calls"))
		return string(b)
	}
	const w, cp = "k-worker3", "k-control-plane"
	set(w, "state", "running")
	set(w, "ip", "172.30.77.5")
	set(cp, "state", "running")
	set(cp, "ip", "172.30.77.2")
	set("", "next-ip", "172.30.77.12")
	d := docker{network: "net"}

	if err := d.crash("s1", w); err != nil {
		t.Fatal(err)
	}
	want := `inspect -f {{.State.Running}} k-worker3
inspect -f {{with index .NetworkSettings.Networks "net"}}{{.IPAddress}}{{end}} k-worker3
kill --signal KILL k-worker3
network disconnect net k-worker3
network connect --ip 172.30.77.5 net k-worker3
`
	if got := calls(); got != want {
		t.Errorf("crash ran\n%swant\n%s", got, want)
	}
	if err := d.crash("s1", w); err != nil || !strings.HasSuffix(strings.TrimSpace(calls()), "{{.State.Running}} k-worker3") {
		t.Errorf("crash of a crashed node: %v (want nothing but the state check)", err)
	}
	if err := d.up("s1", w); err != nil {
		t.Fatal(err)
	}
	if got := get(w, "ip"); got != "172.30.77.5" {
		t.Errorf("rebooted with %s, want its old 172.30.77.5", got)
	}
	if got := calls(); !strings.Contains(got, "start k-worker3\n") || !strings.HasSuffix(got, "exec k-worker3 systemctl is-active --quiet kubelet\n") {
		t.Errorf("up ran\n%s", got)
	}

	// A docker that ignored the pin: up says so instead of going on with
	// a node the simulated hosts know by another address.
	set(w, "state", "exited")
	set("", "ignore-pin", "1")
	if err := d.up("s1", w); err == nil || !strings.Contains(err.Error(), "came back with address 172.30.77.12, not its 172.30.77.5") {
		t.Errorf("up with a changed address: %v", err)
	}
	calls()

	// A pin docker refuses: the crash still counts (up checks the address).
	set(w, "state", "running")
	set(w, "ip", "172.30.77.5")
	set("", "fail-pin", "1")
	if err := d.crash("s1", w); err != nil || get(w, "state") != "exited" {
		t.Errorf("crash with a failed pin: %v, state %s", err, get(w, "state"))
	}
	set("", "fail-pin", "")
	calls()

	// cut-api twice is one rule; heal-api removes it; heal again is fine.
	for i := 0; i < 2; i++ {
		if err := d.api("s1", "k-worker", cp, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := get("k-worker", "rules"); got != "1" {
		t.Errorf("%s API rules after two cuts, want 1", got)
	}
	if got := calls(); !strings.Contains(got, "exec k-worker iptables -I OUTPUT -d 172.30.77.2 -p tcp --dport 6443 -m comment --comment kl-cut-api -j DROP") {
		t.Errorf("cut-api ran\n%s", got)
	}
	for i := 0; i < 2; i++ {
		if err := d.api("s1", "k-worker", cp, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := get("k-worker", "rules"); got != "0" {
		t.Errorf("%s API rules after heal, want 0", got)
	}
}
