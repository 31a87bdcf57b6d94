// Command drbd is the DRBD node agent (one pod per server node with DRBD
// targets): it writes each resource's configuration, creates metadata only
// on a proven-blank disk, and keeps every resource of the node up as
// Secondary. It never takes a resource down.
package main

import (
	"context"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
)

func main() {
	entry.OSMain("drbd", map[string]entry.Command{"run": run})
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
