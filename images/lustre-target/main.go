// Command lustre-target serves one Lustre target (one StatefulSet pod): it
// waits for the local DRBD disk to be UpToDate, promotes, imports the pool
// through /dev/drbdN, formats only a proven-new target, mounts and reports
// ready, all only while it holds the target's Lease, and records that the
// target exists (a recorded target is never created again on blank disks);
// on SIGTERM it unmounts, exports and demotes, in that order, releases the
// Lease, and exits non-zero if any of them failed. A Lease it cannot renew makes it
// stop serving before the peer may take over. `lustre-target space` prints
// the served target's space, which `helm lustre status` collects.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/kube"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
	"github.com/kube-lustre/kube-lustre/internal/report"
	"github.com/kube-lustre/kube-lustre/internal/targetrecord"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

func main() {
	entry.OSMain("lustre-target", map[string]entry.Command{"run": run, "space": space})
}

// space prints, as JSON, the space of the target this pod serves (its
// pool is imported only here). It only observes: it never writes the
// main loop's status file.
func space(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.LoadNode(rt)
	if err != nil {
		return err
	}
	s, err := n.Spec.Server(ctx, rt.Env.Target)
	if err != nil {
		return err
	}
	sp, err := zfs.GetSpace(ctx, n.Runner, s.Target.Name())
	if err != nil {
		return err
	}
	return json.NewEncoder(rt.Stdout).Encode(report.Space{Target: rt.Env.Target, Dataset: s.Target.Name(), Space: sp})
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
	lease, record, err := targetLease(rt.Env)
	if err != nil {
		return n.Fail(err)
	}
	s.Registry = record
	lease.Quiet = n.Spec.QuietLease()
	// A Lease created where the copies may already hold data has no
	// history of which one is stale (failover.Unverified).
	lease.NewUnverified = s.HasDRBD()
	reg := rt.ServeMetrics(ctx)
	// One attempt may take an MMP-guarded import: failover.mmp decides.
	cfg := agent.Config{StartAttempt: n.Spec.StartAttempt(), StopTimeout: n.Spec.StopTimeout(), TargetMetrics: metrics.NewTarget(reg, rt.Env.Target)}
	if s.Target.RunsMGS() {
		// The MGS tells every target how to resolve identities and, for
		// the CSI driver's volumes, to enforce project quotas.
		cfg.MGSParams = n.Spec.MGSParams()
	}
	return agent.Target(ctx, n.Runner, s, lease, n.Status, n.Log.With("target", rt.Env.Target), cfg)
}

// targetLease is the target's Lease in the release namespace, held in the
// node's name so the peer and the failover controller know where it is
// served, and the ConfigMap that records the target as created
// (targetrecord.Store), named by the chart from the fsname and the target
// so that it outlives the release. Both live in the pod's namespace, on one
// client configuration.
func targetLease(e entry.Env) (*failover.Lease, *targetrecord.Store, error) {
	if e.Lease == "" || e.Record == "" || e.Namespace == "" {
		return nil, nil, errors.New("KUBE_LUSTRE_LEASE, KUBE_LUSTRE_RECORD and POD_NAMESPACE must be set: a target is served only under its Lease, and created only if its record says it never was")
	}
	cfg, err := kube.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client for the lease: %w", err)
	}
	leases, err := kube.NewLeases(cfg, e.Namespace)
	if err != nil {
		return nil, nil, err
	}
	cms, err := kube.NewConfigMaps(cfg, e.Namespace)
	if err != nil {
		return nil, nil, err
	}
	return &failover.Lease{Client: leases, Name: e.Lease, Identity: e.Node, Duration: time.Duration(e.LeaseSeconds) * time.Second},
		&targetrecord.Store{Client: cms, Namespace: e.Namespace, Name: e.Record}, nil
}
