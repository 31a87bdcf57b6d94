// Command simdemo brings a values file's filesystem up on simulated hosts
// with the same agent loops the images run, prints each target's node and
// state and the host commands of one HA pair, then stops it cleanly:
//
//	go run ./ci/simdemo [-pair mdt0] examples/ha.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/simcluster"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

func main() {
	pair := flag.String("pair", "mdt0", "target whose two nodes' host commands are printed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: simdemo [-pair TARGET] VALUES.yaml")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *pair); err != nil {
		fmt.Fprintln(os.Stderr, "simdemo:", err)
		os.Exit(1)
	}
}

func run(file, pair string) error {
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{file}})
	if err != nil {
		return err
	}
	if len(ps) > 0 {
		return ps
	}
	dir, err := os.MkdirTemp("", "kube-lustre-hostsim-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	c, err := simcluster.New(dir, v)
	if err != nil {
		return err
	}
	begin := time.Now()
	r, err := c.Start(context.Background(), agent.Config{Interval: 50 * time.Millisecond}, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		_ = r.Stop()
		return err
	}
	fmt.Printf("all %d pods ready on simulated hosts in %s\n\n", len(r.Names()), time.Since(begin).Round(time.Millisecond))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tNODE\tDRBD (role cstate disk/peer)\tMOUNTED")
	for _, t := range c.Plan.Targets {
		drbd := "-"
		if t.DRBDResource != "" {
			role, cs, disk, peer, _, _ := c.World.DRBDState(t.Preferred, t.DRBDResource)
			drbd = fmt.Sprintf("%s %s %s/%s", role, cs, disk, peer)
		}
		mounts, _ := c.World.Mounted(t.Preferred)
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\n", t.Name, t.Preferred, drbd, slices.Contains(mounts, t.MountPoint))
	}
	_ = w.Flush()
	if tp, ok := c.Plan.Target(pair); ok {
		fmt.Printf("\nhost commands on %s (%s):\n", strings.Join(tp.Nodes, " and "), pair)
		log, err := c.World.Log()
		if err != nil {
			return err
		}
		for _, e := range log {
			if slices.Contains(tp.Nodes, e.Host) {
				fmt.Printf("  %-4s exit %-3d %s\n", e.Host, e.Exit, strings.Join(e.Argv, " "))
			}
		}
	}
	if err := r.Stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Println("\nstopped cleanly: every target unmounted, pool exported, DRBD demoted (data kept)")
	return nil
}
