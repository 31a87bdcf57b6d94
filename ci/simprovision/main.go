// Command simprovision creates the simulated hosts (internal/hostsim) for a
// values file in a directory that test-cluster pods mount through
// testing.hostsimDir: one host per planned node, carrying the address the
// real cluster node has, with the disks the plan names.
//
//	go run ./ci/simprovision -dir DIR -address s1=10.77.0.11 ... values.yaml
//	go run ./ci/simprovision -print-nodes values.yaml
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/simcluster"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

type addrs map[string]string

func (a addrs) String() string { return fmt.Sprint(map[string]string(a)) }

func (a addrs) Set(s string) error {
	node, ip, ok := strings.Cut(s, "=")
	if !ok || node == "" || ip == "" {
		return fmt.Errorf("want NODE=IP, got %q", s)
	}
	a[node] = ip
	return nil
}

func main() {
	dir := flag.String("dir", "", "directory of the simulated hosts (created)")
	printNodes := flag.Bool("print-nodes", false, "only print the planned node names, space-separated")
	address := addrs{}
	flag.Var(address, "address", "NODE=IP: the cluster node's InternalIP (repeatable)")
	flag.Parse()
	if (*dir == "" && !*printNodes) || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: simprovision -dir DIR [-address NODE=IP]... VALUES.yaml...")
		os.Exit(2)
	}
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: flag.Args()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "simprovision:", err)
		os.Exit(2)
	}
	if len(ps) > 0 {
		fmt.Fprintln(os.Stderr, ps.Error())
		os.Exit(1)
	}
	if *printNodes {
		names := make([]string, 0, len(v.Plan().Nodes))
		for _, n := range v.Plan().Nodes {
			names = append(names, n.Name)
		}
		fmt.Println(strings.Join(names, " "))
		return
	}
	c, err := simcluster.NewWithOptions(*dir, v, simcluster.Options{Addresses: address})
	if err != nil {
		fmt.Fprintln(os.Stderr, "simprovision:", err)
		os.Exit(1)
	}
	fmt.Printf("simulated hosts for %d nodes in %s\n", len(c.Plan.Nodes), *dir)
}
