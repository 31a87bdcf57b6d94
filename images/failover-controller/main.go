// Command failover-controller releases target pods stuck on dead nodes
// (force-delete, so the StatefulSet starts them on the peer) once, and only
// once, their target's Lease has expired, and releases every new target
// pod from its scheduling gate onto the node with the target's good data
// (failover.PlacementGate), and restarts target pods on a new template one
// at a time, each back to serving before the next stops (the StatefulSets
// are OnDelete). Two replicas elect a leader with a Lease of
// their own; only the leader acts.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/kube"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
)

func main() {
	entry.OSMain("failover-controller", map[string]entry.Command{"run": run})
}

func run(ctx context.Context, rt *entry.Runtime, args []string) error {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	selector := fs.String("selector", "", "label selector of the release's target pods")
	leaderLease := fs.String("leader-lease", "", "name of the replicas' leader election Lease")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *selector == "" || *leaderLease == "" || rt.Env.Namespace == "" || rt.Env.Pod == "" {
		return errors.New("--selector, --leader-lease, POD_NAMESPACE and POD_NAME are required")
	}
	cfg, err := kube.Config()
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	pods, err := kube.NewPods(cfg, rt.Env.Namespace)
	if err != nil {
		return err
	}
	nodes, err := kube.NewNodes(cfg)
	if err != nil {
		return err
	}
	leases, err := kube.NewLeases(cfg, rt.Env.Namespace)
	if err != nil {
		return err
	}
	events, err := kube.NewEvents(cfg, rt.Env.Namespace)
	if err != nil {
		return err
	}
	sets, err := kube.NewStatefulSets(cfg, rt.Env.Namespace)
	if err != nil {
		return err
	}
	reg := rt.ServeMetrics(ctx)
	lease := time.Duration(rt.Env.LeaseSeconds) * time.Second
	c := &failover.Controller{Pods: pods, Nodes: nodes, Leases: leases, Events: events, StatefulSets: sets,
		Selector: *selector, Duration: lease, Log: rt.Log, Metrics: metrics.NewFailover(reg)}
	leader := &failover.Lease{Client: leases, Name: *leaderLease, Identity: rt.Env.Pod, Duration: lease}
	status := entry.NewReporter(ctx, rt.Env.StatusFile, rt.Log)
	status.Set(podstate.Ready, "running; acting only while leader")
	rt.Log.Info("failover controller started", "selector", *selector, "lease", lease.String())
	c.Run(ctx, leader, time.Second)
	return nil
}
