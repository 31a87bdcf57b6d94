// Command lustre-target serves one Lustre target (one StatefulSet pod): it
// waits for the local DRBD disk to be UpToDate, promotes, imports the pool
// through /dev/drbdN, formats only a proven-new target, mounts and reports
// ready; on SIGTERM it unmounts, exports and demotes, in that order, and
// exits non-zero if any of them failed.
package main

import (
	"context"
	"errors"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
)

func main() {
	entry.OSMain("lustre-target", map[string]entry.Command{"run": run})
}

func run(ctx context.Context, rt *entry.Runtime, _ []string) error {
	if rt.Env.Target == "" {
		return errors.New("KUBE_LUSTRE_TARGET is not set: the StatefulSet names the target this pod serves")
	}
	n, err := entry.SetupNode(ctx, rt)
	if err != nil {
		return err
	}
	s, err := n.Spec.Server(ctx, rt.Env.Target)
	if err != nil {
		return n.Fail(err)
	}
	return agent.Target(ctx, n.Runner, s, n.Status, n.Log.With("target", rt.Env.Target), agent.Config{})
}
