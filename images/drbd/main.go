// Command drbd is the DRBD node agent (one pod per server node with DRBD
// targets): it writes each resource's configuration, creates metadata only
// on a proven-blank disk, and keeps every resource of the node up as
// Secondary. It never takes a resource down. `drbd status` reports them.
// `drbd fence-peer` and `drbd unfence` are the DRBD handlers (run by the
// kernel through drbdadm on the host): they ask the node's agent over a
// unix socket and exit with its answer.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

func main() {
	entry.OSMain("drbd", map[string]entry.Command{"run": run, "status": status,
		fencesock.OpFencePeer: handler(fencesock.OpFencePeer), fencesock.OpUnfence: handler(fencesock.OpUnfence)})
}

// handler is a DRBD handler subcommand. DRBD names the resource in
// DRBD_RESOURCE (an argument overrides it, for an operator's manual call).
// One handler binary serves every release on the node: it asks the socket
// of the release that owns the resource (fencesock.SocketFor).
// KUBE_LUSTRE_FENCE_DIR overrides the sockets' directory and
// KUBE_LUSTRE_FENCE_SOCKET the socket itself, for tests. Any failure to
// get an answer exits 1, which DRBD treats as a failed fence: I/O stays
// frozen and a Secondary is not promoted.
func handler(op string) entry.Command {
	return func(ctx context.Context, rt *entry.Runtime, args []string) error {
		resource := os.Getenv("DRBD_RESOURCE")
		if len(args) > 0 {
			resource = args[0]
		}
		dir := fencesock.Dir
		if d := os.Getenv("KUBE_LUSTRE_FENCE_DIR"); d != "" {
			dir = d
		}
		path := fencesock.SocketFor(dir, resource)
		if p := os.Getenv("KUBE_LUSTRE_FENCE_SOCKET"); p != "" {
			path = p
		}
		code, err := fencesock.Ask(ctx, path, op, resource)
		if err != nil {
			rt.Log.Error("no fence decision", "op", op, "resource", resource, "err", err.Error())
		} else {
			rt.Log.Info("fence decision", "op", op, "resource", resource, "exit", code)
		}
		return entry.ExitCode(code)
	}
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
	fencer, err := serveFencing(ctx, rt, n)
	if err != nil {
		return n.Fail(fmt.Errorf("DRBD fencing: %w", err))
	}
	n.Spec.Fence = true
	res, err := n.Spec.DRBDResources(ctx)
	if err != nil {
		return n.Fail(err)
	}
	reg := rt.ServeMetrics(ctx)
	mmp := n.Spec.MMP()
	agent.DRBD(ctx, n.Runner, res, n.Status, n.Log, agent.Config{Unfence: fencer.UnfenceInSync, Refence: fencer.FencePeer, PeerLost: fencer.PeerLost, MMP: &mmp,
		DRBDMetrics: metrics.NewDRBD(reg)})
	return nil
}
