// Package csi is a CSI driver (Identity, Controller and Node services) that
// serves volumes as directories of the filesystem the node's Lustre client
// already mounts: each volume is <root>/<name>, tagged with its own Lustre
// project ID, whose hard block limit is the volume's capacity. Publishing
// a volume is a bind mount of that directory, never a Lustre mount of its
// own. Every host step goes through a host.Runner (nsenter on real nodes,
// hostsim in tests).
package csi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
	"github.com/kube-lustre/kube-lustre/internal/mountinfo"
)

// Config is what both modes need.
type Config struct {
	// Name is the CSI driver name, the StorageClass's provisioner.
	Name    string
	Version string
	// NodeID is the node's name (node mode).
	NodeID string
	// MountPoint is where the node's Lustre client mounts the filesystem;
	// Root is the directory of the volumes, MountPoint or below it.
	MountPoint string
	Root       string
	// FirstProjectID and LastProjectID bound the project IDs handed out,
	// so that IDs an administrator uses elsewhere on the filesystem can
	// be kept out of the range.
	FirstProjectID, LastProjectID uint32
	// DefaultCapacity is the size of a volume requested without one.
	DefaultCapacity int64
	// Now is the clock (archive names, records); nil means time.Now.
	Now func() time.Time
	// Metrics records every call (nil: none).
	Metrics *metrics.CSI
}

// Validate checks the configuration before anything touches a host.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" || len(c.Name) > 63 {
		errs = append(errs, fmt.Errorf("driver name %q: want 1 to 63 characters, e.g. lfs1.lustre.csi.kube-lustre.io", c.Name))
	}
	if !path.IsAbs(c.MountPoint) || path.Clean(c.MountPoint) != c.MountPoint || c.MountPoint == "/" {
		errs = append(errs, fmt.Errorf("mount point %q: want the clean absolute path of the Lustre client mount, e.g. /mnt/lfs1", c.MountPoint))
	}
	if path.Clean(c.Root) != c.Root || (c.Root != c.MountPoint && !strings.HasPrefix(c.Root, c.MountPoint+"/")) {
		errs = append(errs, fmt.Errorf("volume root %q: want a clean path at or below the mount point %s", c.Root, c.MountPoint))
	}
	if c.FirstProjectID == 0 || c.LastProjectID < c.FirstProjectID || c.LastProjectID == ^uint32(0) {
		errs = append(errs, fmt.Errorf("project IDs %d-%d: want a range of 1 to 4294967294 (0 is every file's default project)", c.FirstProjectID, c.LastProjectID))
	}
	if c.DefaultCapacity < MinCapacity {
		errs = append(errs, fmt.Errorf("default capacity %d bytes: want at least %d", c.DefaultCapacity, MinCapacity))
	}
	return errors.Join(errs...)
}

// Driver holds what the three services share.
type Driver struct {
	cfg Config
	run host.Runner
	log *slog.Logger
	// mu serializes what changes state: the allocation file (controller)
	// and the mount table (node).
	mu sync.Mutex
	// queue holds CreateVolume requests waiting for mu: whoever gets mu
	// next allocates all of them with one read and one write of the
	// allocation file (allocateQueued).
	qmu   sync.Mutex
	queue []*allocRequest
}

// New returns a driver for a valid configuration.
func New(cfg Config, run host.Runner, log *slog.Logger) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Driver{cfg: cfg, run: run, log: log}, nil
}

// volDir is the directory of a volume; name must be valid (validName),
// which keeps it one component below the root.
func (d *Driver) volDir(name string) string { return path.Join(d.cfg.Root, name) }

// client is the node's Lustre client mount as the mount table shows it.
type client struct {
	mount mountinfo.Mount
	all   []mountinfo.Mount
}

// client reads the mount table and checks that a Lustre client is mounted
// at the mount point with nothing else mounted between it and the root.
// Every request that touches the filesystem asks first: without it the
// root would be a plain directory of the node's own disk.
func (d *Driver) client(ctx context.Context) (*client, error) {
	all, err := mountinfo.Read(ctx, d.run)
	if err != nil {
		return nil, hostErr("reading the mount table", err)
	}
	m, found := mountinfo.Top(all, d.cfg.MountPoint)
	if !found || m.FSType != "lustre" || !strings.Contains(m.Source, ":/") {
		return nil, status.Errorf(codes.FailedPrecondition, "no Lustre client is mounted at %s on this node: run the driver only where the kube-lustre client runs (clients.nodeSelector), and check that node's lustre-client pod", d.cfg.MountPoint)
	}
	for _, o := range all {
		if o.MountPoint != d.cfg.MountPoint && strings.HasPrefix(o.MountPoint, d.cfg.MountPoint+"/") &&
			(d.cfg.Root == o.MountPoint || strings.HasPrefix(d.cfg.Root, o.MountPoint+"/")) {
			return nil, status.Errorf(codes.FailedPrecondition, "%s is mounted at %s, between the Lustre client mount and the volume root %s: unmount it", o.Source, o.MountPoint, d.cfg.Root)
		}
	}
	return &client{mount: m, all: all}, nil
}

// inner is the path of a host directory below the mount point as the
// filesystem knows it: what mountinfo shows as the root of a bind mount
// of that directory.
func (c *client) inner(mountPoint, dir string) string {
	root := c.mount.Root
	if root == "" {
		root = "/"
	}
	return path.Join(root, strings.TrimPrefix(dir, mountPoint))
}

// bindsOf returns the mounts of the client's filesystem that show the
// directory inner, other than the client mount itself.
func (c *client) bindsOf(inner string) []mountinfo.Mount {
	var out []mountinfo.Mount
	for _, m := range c.all {
		if m.Dev == c.mount.Dev && m.Root == inner && m.ID != c.mount.ID {
			out = append(out, m)
		}
	}
	return out
}

// isDir answers `test -d`, which also says no for a path it cannot stat:
// callers use a "no" only to go on creating, which then fails loudly.
func (d *Driver) isDir(ctx context.Context, p string) (bool, error) {
	_, err := host.Run(ctx, d.run, "test", "-d", p)
	if err == nil {
		return true, nil
	}
	if host.ExitedWith(err, 1, "") {
		return false, nil
	}
	return false, hostErr("checking "+p, err)
}

// hostErr turns a failed host step into a gRPC error that names the step.
// A command that failed proves nothing, so the request fails; the CO
// retries it.
func hostErr(step string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "%s: %v", step, err)
	case errors.Is(err, context.Canceled):
		return status.Errorf(codes.Canceled, "%s: %v", step, err)
	case strings.Contains(err.Error(), "Input/output error"):
		return status.Errorf(codes.Unavailable, "%s: %v (is the filesystem up? see helm lustre status)", step, err)
	}
	return status.Errorf(codes.Internal, "%s: %v", step, err)
}
