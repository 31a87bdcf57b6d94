// Package zfs holds the idempotent ZFS steps: a unique hostid per node,
// pools created only on a proven-blank DRBD device with multihost=on and no
// cache file, imports that always name the DRBD device and never force, and
// exports.
package zfs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// HostIDPath is where ZFS (and zgenhostid) keep the hostid.
const HostIDPath = "/etc/hostid"

// EnsureHostID gives the node a hostid if it has none. It never replaces
// an existing one: multihost pools record the importer's hostid, and
// changing it would make the node's own pools look foreign. It reports
// whether it created one.
func EnsureHostID(ctx context.Context, run host.Runner) (bool, error) {
	exists, err := host.Exists(ctx, run, HostIDPath)
	if err != nil || exists {
		return false, err
	}
	if _, err := host.Run(ctx, run, "zgenhostid"); err != nil {
		return false, err
	}
	return true, nil
}

// Pool is a pool on one DRBD device.
type Pool struct {
	Name string
	// Device must be a DRBD device (/dev/drbdN): with internal metadata
	// the backing disk carries the same labels, and importing from it
	// would bypass replication.
	Device string
	// Properties are extra `zpool create -o` properties (ashift...);
	// multihost and cachefile are fixed.
	Properties map[string]string
}

var (
	poolNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,254}$`)
	drbdDevRE  = regexp.MustCompile(`^/dev/drbd[0-9]+$`)
	propRE     = regexp.MustCompile(`^[a-z][a-z0-9_:.]*$`)
)

// fixedProps are the pool properties kube-lustre always sets; users may
// not override them.
var fixedProps = map[string]string{"multihost": "on", "cachefile": "none"}

// Validate rejects a pool that is not on a DRBD device or whose name or
// properties would not make a safe command line.
func (p Pool) Validate() error {
	var errs []error
	if !poolNameRE.MatchString(p.Name) || strings.HasPrefix(p.Name, "mirror") || strings.HasPrefix(p.Name, "raidz") {
		errs = append(errs, fmt.Errorf("pool name %q is not valid", p.Name))
	}
	if !drbdDevRE.MatchString(p.Device) {
		errs = append(errs, fmt.Errorf("pool %s: device %q is not a DRBD device", p.Name, p.Device))
	}
	for k, v := range p.Properties {
		if _, fixed := fixedProps[k]; fixed {
			errs = append(errs, fmt.Errorf("pool %s: property %s is fixed by kube-lustre", p.Name, k))
		}
		if !propRE.MatchString(k) || v == "" || strings.ContainsAny(v, " \t\n=") {
			errs = append(errs, fmt.Errorf("pool %s: bad property %q=%q", p.Name, k, v))
		}
	}
	return errors.Join(errs...)
}

// Imported reports whether the pool is imported on this node. Only
// "no such pool" means not imported.
func Imported(ctx context.Context, run host.Runner, name string) (bool, error) {
	res, err := host.Run(ctx, run, "zpool", "list", "-H", "-o", "name", name)
	if host.ExitedWith(err, 1, "no such pool") {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(res.Stdout) != name {
		return false, fmt.Errorf("zpool list %s: unexpected output %q", name, res.Stdout)
	}
	return true, nil
}

// ErrNoPool means `zpool import` found no pool of that name on the device.
var ErrNoPool = errors.New("no such pool on the device")

// ErrPreviouslyInUse means the pool was not exported cleanly by another
// host. kube-lustre never forces such an import here: only the failover
// layer, once the Lease proves the other holder is gone, may decide that.
var ErrPreviouslyInUse = errors.New("pool was previously in use from another system")

// ErrImportedElsewhere means multihost protection saw another host using
// the pool.
var ErrImportedElsewhere = errors.New("pool is imported on another host")

// Import imports the pool from its DRBD device unless it is imported
// already. It reports whether it imported.
func Import(ctx context.Context, run host.Runner, p Pool) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	imported, err := Imported(ctx, run, p.Name)
	if err != nil || imported {
		return false, err
	}
	_, err = host.Run(ctx, run, "zpool", "import", "-d", p.Device, "-o", "cachefile=none", p.Name)
	switch {
	case err == nil:
		return true, nil
	case host.ExitedWith(err, 1, "no such pool available"):
		return false, fmt.Errorf("import %s from %s: %w", p.Name, p.Device, ErrNoPool)
	case host.ExitedWith(err, 1, "previously in use from another system"):
		return false, fmt.Errorf("import %s: %w: %w", p.Name, ErrPreviouslyInUse, err)
	case host.ExitedWith(err, 1, "is imported on host"):
		return false, fmt.Errorf("import %s: %w: %w", p.Name, ErrImportedElsewhere, err)
	}
	return false, err
}

// Create creates the pool on its DRBD device, only after proving the
// device blank, with multihost=on (needs the hostid) and no cache file (the
// pool must never be imported automatically at boot).
func Create(ctx context.Context, run host.Runner, p Pool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := host.ProveBlank(ctx, run, p.Device); err != nil {
		return fmt.Errorf("not creating pool %s: %w", p.Name, err)
	}
	args := []string{"create", "-o", "multihost=on", "-o", "cachefile=none"}
	keys := make([]string, 0, len(p.Properties))
	for k := range p.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-o", k+"="+p.Properties[k])
	}
	// The root dataset is not mounted: Lustre mounts its datasets itself.
	args = append(args, "-O", "canmount=off", p.Name, p.Device)
	_, err := host.Run(ctx, run, "zpool", args...)
	return err
}

// Export exports the pool if it is imported. ZFS refuses while a dataset
// is in use ("pool is busy"); that refusal is returned, never forced.
func Export(ctx context.Context, run host.Runner, name string) error {
	imported, err := Imported(ctx, run, name)
	if err != nil || !imported {
		return err
	}
	_, err = host.Run(ctx, run, "zpool", "export", name)
	return err
}

// Get returns a dataset property; exists is false only when ZFS says the
// dataset does not exist. Unset user properties come back as "-".
func Get(ctx context.Context, run host.Runner, dataset, prop string) (value string, exists bool, err error) {
	res, err := host.Run(ctx, run, "zfs", "get", "-H", "-o", "value", prop, dataset)
	if host.ExitedWith(err, 1, "dataset does not exist") {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(res.Stdout), true, nil
}
