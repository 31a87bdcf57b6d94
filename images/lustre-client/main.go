// Command lustre-client mounts the filesystem on a client node and keeps it
// mounted; on stop it unmounts only if nothing uses the mount.
package main

import (
	"context"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
)

func main() {
	entry.OSMain("lustre-client", map[string]entry.Command{"run": run})
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
	return agent.Client(ctx, n.Runner, c, n.Values.LNet.Networks, n.Status, n.Log, agent.Config{})
}
