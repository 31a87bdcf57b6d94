// Command drbd is the DRBD node agent (one pod per server node with DRBD
// targets): it writes each resource's configuration, creates metadata only
// on a proven-blank disk, and keeps every resource of the node up as
// Secondary. It never takes a resource down. `drbd status` reports them.
package main

import (
	"context"
	"encoding/json"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/entry"
)

func main() {
	entry.OSMain("drbd", map[string]entry.Command{"run": run, "status": status})
}

// status prints, as JSON, the state of every DRBD resource of this node and
// whether its target is mounted here: what `helm lustre status` collects
// from both nodes of each pair (kubectl exec). It only observes.
func status(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.LoadNode(rt)
	if err != nil {
		return err
	}
	np, _ := n.Plan.Node(rt.Env.Node)
	var ws []agent.Watched
	for _, r := range np.DRBD {
		tp, _ := n.Plan.Target(r.Target)
		ws = append(ws, agent.Watched{Resource: drbd.Resource{Name: r.Name, Minor: r.Minor}, Target: r.Target, MountPoint: tp.MountPoint})
	}
	enc := json.NewEncoder(rt.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(agent.Report(ctx, n.Runner, ws))
}

func run(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.SetupNode(ctx, rt)
	if err != nil {
		return err
	}
	res, err := n.Spec.DRBDResources(ctx)
	if err != nil {
		return n.Fail(err)
	}
	agent.DRBD(ctx, n.Runner, res, n.Status, n.Log, agent.Config{})
	return nil
}
