// Command labeler is the chart's labelling hook: `labeler apply` (pre-install,
// pre-upgrade) checks that every node the values name exists and is Ready and
// then puts exactly the planned labels on the nodes; `labeler remove`
// (post-delete) takes this filesystem's labels off every node. Before it
// labels anything, `apply` refuses an upgrade or rollback that changes what
// existing targets are (labeler.CheckUpgrade) against the release's running
// topology, ConfigMap $KUBE_LUSTRE_RUNNING_TOPOLOGY in $POD_NAMESPACE, except
// for the targets in $KUBE_LUSTRE_ALLOW_CHANGES (upgrade.allowChanges).
// `labeler check-volumes` (pre-delete, with the CSI provisioner) refuses an
// uninstall while the driver's volumes exist, unless
// uninstall.allowWithVolumes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/kube"
	"github.com/kube-lustre/kube-lustre/internal/labeler"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

func main() {
	entry.OSMain("labeler", map[string]entry.Command{
		"apply":         func(ctx context.Context, rt *entry.Runtime, _ []string) error { return run(ctx, rt, true) },
		"remove":        func(ctx context.Context, rt *entry.Runtime, _ []string) error { return run(ctx, rt, false) },
		"check-volumes": checkVolumes,
	})
}

// checkVolumes is the pre-delete hook: it refuses the uninstall while
// volumes of the release's CSI driver ($KUBE_LUSTRE_CSI_DRIVER) exist
// (labeler.CheckUninstall).
func checkVolumes(ctx context.Context, rt *entry.Runtime, _ []string) error {
	driver := os.Getenv("KUBE_LUSTRE_CSI_DRIVER")
	if driver == "" {
		return errors.New("KUBE_LUSTRE_CSI_DRIVER is not set: the chart names the CSI driver whose volumes block an uninstall")
	}
	cfg, err := kube.Config()
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	pvs, err := kube.NewPersistentVolumes(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	list, err := pvs.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing PersistentVolumes: %w", err)
	}
	if err := labeler.CheckUninstall(list.Items, driver, os.Getenv("KUBE_LUSTRE_ROLLBACK")); err != nil {
		rt.Log.Error("failed", "err", err.Error())
		return entry.ExitCode(refusedExit)
	}
	rt.Log.Info("no volume of the CSI driver left: uninstall may go on", "driver", driver)
	return nil
}

func run(ctx context.Context, rt *entry.Runtime, apply bool) error {
	v, p, err := entry.LoadTopology(rt.Env.Topology)
	if err != nil {
		return err
	}
	cfg, err := kube.Config()
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	nodes, err := kube.NewNodes(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if apply {
		if err := checkUpgrade(ctx, rt, cfg, v); errors.Is(err, labeler.ErrRefused) {
			// The chart's podFailurePolicy fails the Job on this code:
			// retrying a refusal only makes helm wait longer for it.
			rt.Log.Error("failed", "err", err.Error())
			return entry.ExitCode(refusedExit)
		} else if err != nil {
			return err
		}
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

// refusedExit is the exit code of a refused upgrade or uninstall
// (labeler.yaml's and uninstall-check.yaml's podFailurePolicy name it).
const refusedExit = 3

func checkUpgrade(ctx context.Context, rt *entry.Runtime, cfg *rest.Config, next *topology.Values) error {
	name := os.Getenv("KUBE_LUSTRE_RUNNING_TOPOLOGY")
	if name == "" {
		return nil
	}
	cms, err := kube.NewConfigMaps(cfg, rt.Env.Namespace)
	if err != nil {
		return err
	}
	var allow []string
	if a := os.Getenv("KUBE_LUSTRE_ALLOW_CHANGES"); a != "" {
		allow = strings.Split(a, ",")
	}
	return labeler.CheckUpgrade(ctx, cms, name, next, allow)
}
