// Command installer is the init container of every kube-lustre pod that
// touches a host: `installer verify` loads the kernel modules the node's
// role needs (DRBD, ZFS, Lustre server or client) and names each one that
// is missing, so the pod fails with the reason instead of half-starting.
package main

import (
	"context"
	"fmt"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

func main() {
	entry.OSMain("installer", map[string]entry.Command{"verify": verify})
}

func verify(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.SetupNode(ctx, rt)
	if err != nil {
		return err
	}
	mods := modulesFor(n)
	if err := lustre.EnsureModules(ctx, n.Runner, mods); err != nil {
		return n.Fail(fmt.Errorf("node %s: %w; install the Lustre, ZFS and DRBD packages for this kernel", rt.Env.Node, err))
	}
	n.Status.Set(entry.StateReady, fmt.Sprintf("modules present: %v", mods))
	return nil
}

// modulesFor is what the node's role needs: a server loads the DRBD and ZFS
// modules and Lustre's server side; a client only LNet and the client.
func modulesFor(n *entry.Node) []string {
	np, _ := n.Plan.Node(n.Spec.Node)
	var mods []string
	if len(np.DRBD) > 0 {
		mods = append(mods, "drbd")
	}
	if len(np.Targets) > 0 {
		mods = append(mods, "zfs")
		return append(mods, lustre.ServerModules...)
	}
	return append(mods, lustre.ClientModules...)
}
