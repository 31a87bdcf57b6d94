// Command lustre-client mounts the filesystem on a client node and keeps it
// mounted; on stop it unmounts only if nothing uses the mount.
// `lustre-client health --mounted=PATH` is the chart's `helm test` check.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

func main() {
	entry.OSMain("lustre-client", map[string]entry.Command{"run": run, "health": health})
}

func run(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.SetupNode(ctx, rt)
	if err != nil {
		return err
	}
	c, err := n.Spec.Client(ctx)
	if err != nil {
		return n.Fail(err)
	}
	reg := rt.ServeMetrics(ctx)
	return agent.Client(ctx, n.Runner, c, n.Values.LNet.Networks, n.Status, n.Log, agent.Config{ClientMetrics: metrics.NewClient(reg)})
}

// health is the probe (status file, as every binary) or, with --mounted,
// the helm test: is PATH a Lustre mount? The test pod sees the host's mount
// through a hostPath with HostToContainer propagation, so its own mount
// table answers, read with the image's cat: it needs no privilege, and has
// none to enter the host's namespaces. On simulated hosts the simulated
// mount table is asked instead.
func health(ctx context.Context, rt *entry.Runtime, args []string) error {
	fs := pflag.NewFlagSet("health", pflag.ContinueOnError)
	live := fs.Bool("live", false, "liveness: the main loop is alive, ready or not")
	mounted := fs.String("mounted", "", "check that this path is a Lustre mount (helm test)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mounted == "" {
		if err := entry.Health(rt.Env.StatusFile, *live, entry.HeartbeatMaxAge, time.Now()); err != nil {
			return err
		}
		fmt.Fprintln(rt.Stdout, "ok")
		return nil
	}
	ok, err := isLustre(ctx, rt, *mounted)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not a Lustre mount", *mounted)
	}
	fmt.Fprintf(rt.Stdout, "%s is a Lustre mount\n", *mounted)
	return nil
}

func isLustre(ctx context.Context, rt *entry.Runtime, path string) (bool, error) {
	var run host.Runner = host.NewLocal()
	if rt.Env.HostSim != "" {
		if err := rt.Env.RequireNode(); err != nil {
			return false, err
		}
		var err error
		if run, err = entry.Runner(rt.Env, rt.Log); err != nil {
			return false, err
		}
	}
	return lustre.IsLustreMount(ctx, run, path)
}
