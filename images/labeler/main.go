// Command labeler is the chart's labelling hook: `labeler apply` (pre-install,
// pre-upgrade) checks that every node the values name exists and is Ready and
// then puts exactly the planned labels on the nodes; `labeler remove`
// (post-delete) takes this filesystem's labels off every node.
package main

import (
	"context"
	"fmt"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/labeler"
)

func main() {
	entry.OSMain("labeler", map[string]entry.Command{
		"apply":  func(ctx context.Context, rt *entry.Runtime, _ []string) error { return run(ctx, rt, true) },
		"remove": func(ctx context.Context, rt *entry.Runtime, _ []string) error { return run(ctx, rt, false) },
	})
}

func run(ctx context.Context, rt *entry.Runtime, apply bool) error {
	v, p, err := entry.LoadTopology(rt.Env.Topology)
	if err != nil {
		return err
	}
	nodes, err := entry.NodeClient()
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	l := &labeler.Labeler{Nodes: nodes, Log: rt.Log}
	var changes []labeler.Change
	if apply {
		changes, err = l.Apply(ctx, v, p)
	} else {
		changes, err = l.Remove(ctx, v)
	}
	if err != nil {
		return err
	}
	rt.Log.Info("labels reconciled", "fsname", v.FSName, "nodesChanged", len(changes), "prefix", v.LabelSelectorPrefix())
	return nil
}
