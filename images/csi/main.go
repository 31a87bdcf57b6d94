// Command csi is kube-lustre's CSI driver: volumes are directories of the
// filesystem the node's Lustre client mounts, each with its own project
// quota. `csi run --mode controller` serves the Identity and Controller
// services (one replica, next to the provisioner and resizer sidecars);
// `csi run --mode node` serves Identity and Node on every client node
// (next to the node-driver-registrar). Both run host commands through
// nsenter into the host's namespaces, like every kube-lustre binary.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kube-lustre/kube-lustre/internal/csi"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

// version is reported by GetPluginInfo; set with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	entry.OSMain("csi", map[string]entry.Command{"run": run})
}

func run(ctx context.Context, rt *entry.Runtime, args []string) error {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	endpoint := fs.String("endpoint", "unix:///csi/csi.sock", "the gRPC endpoint the sidecars and the kubelet connect to")
	mode := fs.String("mode", "", "controller or node")
	name := fs.String("driver-name", "", "CSI driver name, the StorageClass provisioner (e.g. lfs1.lustre.csi.kube-lustre.io)")
	mountPoint := fs.String("mount-point", "", "where the node's Lustre client mounts the filesystem (clients.mountPoint)")
	root := fs.String("root", "", "directory of the volumes, at or below the mount point (default MOUNT-POINT/csi-volumes)")
	ids := fs.String("project-ids", "1000000-1999999999", "range of Lustre project IDs to hand out, MIN-MAX")
	defCap := fs.Int64("default-capacity", 1<<30, "bytes of a volume requested without a size")
	grace := fs.Duration("stop-grace", 20*time.Second, "how long in-flight calls may finish after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root == "" && *mountPoint != "" {
		*root = strings.TrimSuffix(*mountPoint, "/") + "/csi-volumes"
	}
	first, last, err := parseRange(*ids)
	if err != nil {
		return err
	}
	if *mode == csi.ModeNode {
		if err := rt.Env.RequireNode(); err != nil {
			return err
		}
	}
	runner, err := entry.Runner(rt.Env, rt.Log)
	if err != nil {
		return err
	}
	if rt.Env.HostSim != "" && *mode == csi.ModeNode {
		runner = simTargets{runner}
	}
	reg := rt.ServeMetrics(ctx)
	d, err := csi.New(csi.Config{
		Name: *name, Version: version, NodeID: rt.Env.Node, MountPoint: *mountPoint, Root: *root,
		FirstProjectID: first, LastProjectID: last, DefaultCapacity: *defCap, Metrics: metrics.NewCSI(reg),
	}, runner, rt.Log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return csi.Serve(ctx, d, *mode, *endpoint, *grace)
}

// parseRange parses MIN-MAX.
func parseRange(s string) (uint32, uint32, error) {
	a, b, found := strings.Cut(s, "-")
	first, err1 := strconv.ParseUint(a, 10, 32)
	last, err2 := strconv.ParseUint(b, 10, 32)
	if !found || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--project-ids %q: want MIN-MAX, e.g. 1000000-1999999999", s)
	}
	return uint32(first), uint32(last), nil
}

// simTargets is for test clusters only (simulated hosts): the driver's bind
// mount then exists only in the simulation, while the container runtime
// bind-mounts the real target directory into the pod. It makes that
// directory, as the mount on a real host would have made it appear.
type simTargets struct{ host.Runner }

func (s simTargets) Run(ctx context.Context, c host.Cmd) (host.Result, error) {
	res, err := s.Runner.Run(ctx, c)
	if err == nil && c.Name == "mount" && len(c.Args) == 3 && c.Args[0] == "--bind" {
		if err := os.MkdirAll(c.Args[2], 0o750); err != nil {
			return res, fmt.Errorf("simulated hosts: making the real target directory: %w", err)
		}
	}
	return res, err
}
