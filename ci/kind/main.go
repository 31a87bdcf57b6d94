// Command kind-nodes is the kind side of the e2e suites' node provider
// (test/e2e/nodes_test.go, E2E_PROVIDER=kind): what ci/cluster/node.sh is
// to the local cluster. ci/kind/e2e.sh builds it and runs it.
//
//	kind-nodes config -hostsim DIR    the kind cluster configuration (YAML) on stdout
//	kind-nodes nodes                  "NODE CONTAINER" per worker
//	kind-nodes check                  every worker is the Node the configuration names (needs KUBECTL, KUBECONFIG)
//	kind-nodes crash NODE             docker kill: a power cut; the node goes Unknown
//	kind-nodes up NODE                docker start, until the node's kubelet runs (a reboot)
//	kind-nodes cut-api NODE           drop the node's packets to the API server
//	kind-nodes heal-api NODE          undo cut-api
//
// -name (KIND_CLUSTER, default kube-lustre) and -network (KIND_NETWORK,
// default kube-lustre-kind) pick the cluster. It is its own module with kind
// pinned in go.mod, so that the main module's `make test` stays as it is;
// `cd ci/kind && go test ./...` checks it without Docker.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	fs := flag.NewFlagSet("kind-nodes", flag.ExitOnError)
	name := fs.String("name", envOr("KIND_CLUSTER", DefaultCluster), "kind cluster name")
	network := fs.String("network", envOr("KIND_NETWORK", DefaultNetwork), "docker network of the cluster")
	hostsim := fs.String("hostsim", "", "config: the simulated hosts' directory (absolute)")
	image := fs.String("image", "", "config: node image (default "+NodeImage+")")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kind-nodes [flags] config|nodes|check|crash NODE|up NODE|cut-api NODE|heal-api NODE")
		fs.PrintDefaults()
	}
	if len(os.Args) < 2 {
		fs.Usage()
		os.Exit(2)
	}
	cmd := os.Args[1]
	_ = fs.Parse(os.Args[2:])
	o := Options{Name: *name, HostsimDir: *hostsim, Image: *image}
	d := docker{network: *network}
	var err error
	switch cmd {
	case "config":
		var b []byte
		if b, err = Config(o); err == nil {
			_, err = os.Stdout.Write(b)
		}
	case "nodes":
		for i, n := range o.nodes() {
			fmt.Printf("%s %s\n", n, WorkerContainer(o.Name, i))
		}
	case "check":
		err = check(o)
	case "crash", "up", "cut-api", "heal-api":
		if fs.NArg() != 1 {
			fs.Usage()
			os.Exit(2)
		}
		node := fs.Arg(0)
		var c string
		if c, err = o.Container(node); err == nil {
			switch cmd {
			case "crash":
				err = d.crash(node, c)
			case "up":
				err = d.up(node, c)
			case "cut-api", "heal-api":
				err = d.api(node, c, ControlPlaneContainer(o.Name), cmd == "cut-api")
			}
		}
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kind-nodes %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
}

type docker struct{ network string }

// run runs docker and returns its stdout; a failure carries the command
// line and stderr.
func (docker) run(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (d docker) running(c string) (bool, error) {
	out, err := d.run(RunningArgs(c)...)
	return strings.TrimSpace(out) == "true", err
}

func (d docker) ip(c string) (string, error) {
	out, err := d.run(NetworkIPArgs(d.network, c)...)
	if err != nil {
		return "", err
	}
	ip, err := ParseIP(out)
	if err != nil {
		return "", fmt.Errorf("%s on network %s: %v (is it running, on that network?)", c, d.network, err)
	}
	return ip, nil
}

// crash kills the node's container and pins its address for the reboot.
// Crashing a node that is down already does nothing, as node.sh crash.
func (d docker) crash(node, c string) error {
	if up, err := d.running(c); err != nil {
		return err
	} else if !up {
		logf("node %s (%s) is down already", node, c)
		return nil
	}
	ip, err := d.ip(c)
	if err != nil {
		return err
	}
	if _, err := d.run(KillArgs(c)...); err != nil {
		return err
	}
	// The crash happened; a failed pin only makes the reboot's address
	// unsure, and up checks it.
	for _, a := range PinArgs(d.network, c, ip) {
		if _, err := d.run(a...); err != nil {
			logf("warning: node %s crashed, but its address %s is not pinned for its reboot: %v", node, ip, err)
			return nil
		}
	}
	logf("node %s crashed (%s killed; keeps %s)", node, c, ip)
	return nil
}

// up starts the node's container and waits until systemd runs its kubelet;
// the caller waits for the node to be Ready, as after node.sh up. It fails
// if the node came back with another address than it had.
func (d docker) up(node, c string) error {
	pinned, err := d.run(PinnedIPArgs(d.network, c)...)
	if err != nil {
		return err
	}
	if _, err := d.run(StartArgs(c)...); err != nil {
		return err
	}
	ip, err := d.ip(c)
	if err != nil {
		return err
	}
	if p := strings.TrimSpace(pinned); p != "" && p != ip {
		return fmt.Errorf("node %s came back with address %s, not its %s: the simulated hosts and DRBD peers know the old one", node, ip, p)
	}
	end := time.Now().Add(2 * time.Minute)
	for {
		if _, err := d.run(KubeletActiveArgs(c)...); err == nil {
			break
		} else if time.Now().After(end) {
			return fmt.Errorf("the kubelet of %s did not start within 2 minutes: %v", node, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	logf("node %s booted (%s at %s, kubelet running)", node, c, ip)
	return nil
}

// api inserts (cut) or deletes (heal) the rule that drops the node's
// packets to the control plane's address, port 6443. Idempotent both ways.
func (d docker) api(node, c, controlPlane string, cut bool) error {
	apiIP, err := d.ip(controlPlane)
	if err != nil {
		return err
	}
	if cut {
		if _, err := d.run(IptablesArgs(c, "-C", apiIP)...); err == nil {
			return nil
		}
		if _, err := d.run(IptablesArgs(c, "-I", apiIP)...); err != nil {
			return err
		}
		logf("node %s cut off from the API server (%s:%d)", node, apiIP, APIServerPort)
		return nil
	}
	for i := 0; ; i++ {
		if _, err := d.run(IptablesArgs(c, "-D", apiIP)...); err != nil {
			break
		}
		if i > 100 {
			return errors.New("the API rule keeps coming back")
		}
	}
	logf("node %s reaches the API server again", node)
	return nil
}

// check compares the cluster's Nodes with the configuration through the
// API (kubectl: KUBECTL, else kubectl on PATH; KUBECONFIG).
func check(o Options) error {
	kubectl := envOr("KUBECTL", "kubectl")
	cmd := exec.Command(kubectl, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}{" "}{.spec.providerID}{"\n"}{end}`)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s get nodes: %v: %s", kubectl, err, strings.TrimSpace(errb.String()))
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			got[f[0]] = f[1]
		} else if len(f) == 1 {
			got[f[0]] = ""
		}
	}
	if err := o.CheckProviderIDs(got); err != nil {
		return err
	}
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	logf("nodes: %s", strings.Join(names, " "))
	return nil
}
