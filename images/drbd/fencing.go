package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/kube"
)

// leasesEnv names, per target, the Lease its pods hold: the chart renders
// the names (they are shortened with a hash when long), so the agent is
// told rather than guess. Format: mdt0=lfs-kube-lustre-mdt0,ost0=...
const leasesEnv = "KUBE_LUSTRE_LEASES"

// parseLeases reads leasesEnv's value.
func parseLeases(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		target, lease, ok := strings.Cut(kv, "=")
		if !ok || target == "" || lease == "" {
			return nil, fmt.Errorf("%s: %q is not target=lease", leasesEnv, kv)
		}
		out[target] = lease
	}
	return out, nil
}

// simSockDir is the directory of a simulated node's fence sockets,
// relative to the world's directory (each process sees that directory
// elsewhere); the sockets in it are named as on a real host
// (fencesock.Socket), one per release.
func simSockDir(node string) string { return filepath.Join("run", node) }

// serveFencing answers this node's DRBD fence handlers from now until ctx
// ends: the resources are rendered with resource-and-stonith only after
// this succeeded, so a handler always finds its socket (or, if this agent
// died, fails and keeps I/O frozen, which loses nothing). On a real host
// the handler program is this binary, copied to the host; on a simulated
// host the world is told where the sockets are.
func serveFencing(ctx context.Context, rt *entry.Runtime, n *entry.Node) (*failover.Fencer, error) {
	leases, err := parseLeases(os.Getenv(leasesEnv))
	if err != nil {
		return nil, err
	}
	np, _ := n.Plan.Node(rt.Env.Node)
	for _, r := range np.DRBD {
		if leases[r.Target] == "" {
			return nil, fmt.Errorf("%s names no Lease for target %s (resource %s): the chart's DRBD DaemonSet renders one per DRBD target; reinstall the chart", leasesEnv, r.Target, r.Name)
		}
	}
	if rt.Env.Namespace == "" {
		return nil, errors.New("POD_NAMESPACE is not set: the fence decisions need the namespace of the targets' Leases")
	}
	cfg, err := kube.Config()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for the fence decisions: %w", err)
	}
	api, err := kube.NewLeases(cfg, rt.Env.Namespace)
	if err != nil {
		return nil, err
	}
	fencer := n.Spec.Fencer(api, func(target string) string { return leases[target] })
	fencer.Log = rt.Log
	if rt.Env.HostSim == "" {
		if err := installHandler(); err != nil {
			return nil, err
		}
	}
	if err := serveSocket(ctx, rt, n.Values.FSName, fencer); err != nil {
		return nil, err
	}
	return fencer, nil
}

// serveSocket serves fencer on this node's fence socket of the release
// (the filesystem fsname): fencesock.Start, in the world's directory on a
// simulated host, which is then told where the handlers find it.
func serveSocket(ctx context.Context, rt *entry.Runtime, fsname string, fencer *failover.Fencer) error {
	dir := fencesock.Dir
	if rt.Env.HostSim != "" {
		dir = filepath.Join(rt.Env.HostSim, simSockDir(rt.Env.Node))
	}
	path, err := fencesock.Start(ctx, dir, fsname, slices.Collect(maps.Keys(fencer.Resources)), fencer, rt.Log)
	if err != nil {
		return err
	}
	if rt.Env.HostSim != "" {
		sim, err := rt.Env.Simulated()
		if err != nil {
			return err
		}
		if err := sim.SetHandlerSockets(rt.Env.HostSim, rt.Env.Node, simSockDir(rt.Env.Node)); err != nil {
			return err
		}
	}
	rt.Log.Info("answering DRBD fence handlers", "socket", path, "resources", len(fencer.Resources))
	return nil
}

// installHandler copies this binary to drbd.HostBinDir on the host (the
// chart mounts /var/lib/kube-lustre there at the same path): DRBD runs its
// handlers on the host, outside every container. Written beside the
// target and renamed over it, so a handler running now keeps its file and
// the next one finds a whole binary.
func installHandler() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dst := filepath.Join(drbd.HostBinDir, "drbd")
	if err := os.MkdirAll(drbd.HostBinDir, 0o755); err != nil {
		return fmt.Errorf("handler directory (the chart mounts the host's %s): %w", filepath.Dir(drbd.HostBinDir), err)
	}
	return copyExecutable(self, dst)
}

func copyExecutable(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // read only
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".drbd-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name()) // best effort: err is what matters
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		_ = tmp.Close() // err already says why the copy failed
		return err
	}
	if err = tmp.Chmod(0o755); err != nil {
		_ = tmp.Close() // err already says why the copy failed
		return err
	}
	if err = tmp.Sync(); err != nil {
		_ = tmp.Close() // err already says why the copy failed
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
