// Package zfs holds the idempotent ZFS steps: a unique hostid per node,
// pools created only on a proven-blank device with no cache file (and
// multihost protection where it can see another host: Pool.Multihost),
// imports that always name the DRBD device and force only for a Lease
// holder, and exports.
package zfs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
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

// Pool is a target's pool: on one DRBD device, or (targets without DRBD:
// a single node, or a pair on shared disks) on Vdevs. Exactly one is set.
type Pool struct {
	Name string
	// Device must be a DRBD device (/dev/drbdN): with internal metadata
	// the backing disk carries the same labels, and importing from it
	// would bypass replication.
	Device string
	// Vdevs are zpool create's vdev arguments (mirror, raidz2, /dev/...)
	// for a pool without DRBD. They may not name a DRBD device.
	Vdevs []string
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
// not override them (multihost: Pool.Multihost).
var fixedProps = map[string]string{"multihost": "", "cachefile": "none"}

// Multihost says whether the pool gets ZFS's multihost protection (MMP),
// which watches the pool's disks for another host's writes before an
// import. A pool on shared or local disks gets it: another host may see
// the same disks. A pool on DRBD does not: its disk is this node's own
// copy, which the other node's writes reach only over a connected link,
// and while connected DRBD keeps this node Secondary (the device cannot
// be opened). Across a cut link MMP would see an idle pool whether the
// other node is dead or alive, so it could never refuse an import the
// Lease and DRBD's fencing allow; it only made every takeover wait for
// its activity check (docs/failover.md, "MMP only where it can see").
func (p Pool) Multihost() bool { return p.Device == "" }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Validate rejects a pool that is not on a DRBD device or whose name or
// properties would not make a safe command line.
func (p Pool) Validate() error {
	var errs []error
	if !poolNameRE.MatchString(p.Name) || strings.HasPrefix(p.Name, "mirror") || strings.HasPrefix(p.Name, "raidz") {
		errs = append(errs, fmt.Errorf("pool name %q is not valid", p.Name))
	}
	switch {
	case p.Device != "" && len(p.Vdevs) > 0:
		errs = append(errs, fmt.Errorf("pool %s: both a DRBD device and vdevs given", p.Name))
	case len(p.Vdevs) > 0:
		errs = append(errs, validVdevs(p.Name, p.Vdevs)...)
	case !drbdDevRE.MatchString(p.Device):
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

var vdevKeywordRE = regexp.MustCompile(`^(mirror|raidz[123]?)$`)

func validVdevs(pool string, vdevs []string) []error {
	var errs []error
	devices := 0
	for _, v := range vdevs {
		switch {
		case vdevKeywordRE.MatchString(v):
		case drbdDevRE.MatchString(v):
			errs = append(errs, fmt.Errorf("pool %s: vdev %s is a DRBD device: set Device instead", pool, v))
		case strings.HasPrefix(v, "/dev/") && !strings.ContainsAny(v, " \t\n"):
			devices++
		default:
			errs = append(errs, fmt.Errorf("pool %s: vdev %q is neither a keyword nor a /dev path", pool, v))
		}
	}
	if devices == 0 {
		errs = append(errs, fmt.Errorf("pool %s: no device among vdevs %v", pool, vdevs))
	}
	return errs
}

// Devices are the block devices the pool lives on: the DRBD device, or
// the device paths among Vdevs. Import searches only these (-d), and
// creation proves each of them blank.
func (p Pool) Devices() []string {
	if p.Device != "" {
		return []string{p.Device}
	}
	var out []string
	for _, v := range p.Vdevs {
		if strings.HasPrefix(v, "/dev/") {
			out = append(out, v)
		}
	}
	return out
}

func (p Pool) vdevArgs() []string {
	if p.Device != "" {
		return []string{p.Device}
	}
	return p.Vdevs
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

// Import imports the pool from its own devices unless it is imported
// already. It reports whether it imported. It never forces.
func Import(ctx context.Context, run host.Runner, p Pool) (bool, error) {
	return doImport(ctx, run, p, false)
}

// ForceImport is Import with -f, for taking over a pool that a crashed
// holder left imported (ErrPreviouslyInUse). Only a caller that holds the
// target's Lease, taken after the previous holder's had expired, may use
// it. It still fails with ErrImportedElsewhere when multihost protection
// sees the pool in use: -f never overrides that.
func ForceImport(ctx context.Context, run host.Runner, p Pool) (bool, error) {
	return doImport(ctx, run, p, true)
}

func doImport(ctx context.Context, run host.Runner, p Pool, force bool) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	imported, err := Imported(ctx, run, p.Name)
	if err != nil || imported {
		return false, err
	}
	paths, err := searchPaths(ctx, run, p)
	if err != nil {
		return false, fmt.Errorf("import %s: %w", p.Name, err)
	}
	args := []string{"import"}
	if force {
		args = append(args, "-f")
	}
	for _, d := range paths {
		args = append(args, "-d", d)
	}
	_, err = host.Run(ctx, run, "zpool", append(args, "-o", "cachefile=none", p.Name)...)
	switch {
	case err == nil:
		return true, nil
	case host.ExitedWith(err, 1, "no such pool available"):
		return false, fmt.Errorf("import %s from %s: %w", p.Name, strings.Join(paths, " "), ErrNoPool)
	case host.ExitedWith(err, 1, "previously in use from another system"):
		return false, fmt.Errorf("import %s: %w: %w", p.Name, ErrPreviouslyInUse, err)
	case host.ExitedWith(err, 1, "pool is imported on "):
		// Without -f: "pool is imported on HOST (hostid: 0x...)"; with
		// -f: "pool is imported on host 'HOST' (hostid=...)" (ZFS 2.1,
		// make e2e-vm).
		return false, fmt.Errorf("import %s: %w: %w", p.Name, ErrImportedElsewhere, err)
	}
	return false, err
}

// searchPaths are the devices an import may search (-d): the DRBD device,
// or each vdev with its partitions. zpool create on a whole disk writes a
// GPT and puts the pool in partition 1, so the labels are never on the
// disk the values name (seen on real kernels, make e2e-vm). A peer that
// shares the disk did not see that table being written: its kernel reads
// it again first (read-only), or the partition would be missing until its
// next boot.
func searchPaths(ctx context.Context, run host.Runner, p Pool) ([]string, error) {
	if p.Device != "" {
		return []string{p.Device}, nil
	}
	var out []string
	for _, d := range p.Devices() {
		devs, err := blockDevices(ctx, run, d)
		if err != nil {
			return nil, err
		}
		if devs[0].typ == "disk" {
			if _, err := host.Run(ctx, run, "blockdev", "--rereadpt", d); err != nil {
				return nil, fmt.Errorf("re-reading the partition table of %s: %w", d, err)
			}
			if devs, err = blockDevices(ctx, run, d); err != nil {
				return nil, err
			}
		}
		out = append(out, devs[0].name)
		for _, b := range devs[1:] {
			// Only partitions: lsblk also lists what sits on top of
			// the disk (a DRBD device, a device-mapper target).
			if b.typ == "part" {
				out = append(out, b.name)
			}
		}
	}
	return out, nil
}

type blockDev struct{ name, typ string }

// blockDevices lists dev (first) and the devices below it in lsblk's tree.
func blockDevices(ctx context.Context, run host.Runner, dev string) ([]blockDev, error) {
	res, err := host.Run(ctx, run, "lsblk", "-lnpo", "NAME,TYPE", dev)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dev, err)
	}
	var out []blockDev
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], "/dev/") {
			return nil, fmt.Errorf("lsblk %s: unexpected line %q", dev, line)
		}
		out = append(out, blockDev{f[0], f[1]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lsblk %s: no device listed", dev)
	}
	return out, nil
}

// Create creates the pool on its devices, only after proving each blank,
// with multihost as Multihost says (on needs the hostid) and no cache
// file (the pool must never be imported automatically at boot).
func Create(ctx context.Context, run host.Runner, p Pool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	for _, d := range p.Devices() {
		if err := host.ProveBlank(ctx, run, d); err != nil {
			return fmt.Errorf("not creating pool %s: %w", p.Name, err)
		}
	}
	args := []string{"create", "-o", "multihost=" + onOff(p.Multihost()), "-o", "cachefile=none"}
	keys := make([]string, 0, len(p.Properties))
	for k := range p.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-o", k+"="+p.Properties[k])
	}
	// The root dataset is not mounted: Lustre mounts its datasets itself.
	args = append(append(args, "-O", "canmount=off", p.Name), p.vdevArgs()...)
	_, err := host.Run(ctx, run, "zpool", args...)
	return err
}

// EnsureMultihost sets the imported pool's multihost property to what
// Multihost says, if it differs: DRBD pools created with multihost=on
// before Multihost existed lose it at their next import. It reports
// whether it changed the property.
func EnsureMultihost(ctx context.Context, run host.Runner, p Pool) (bool, error) {
	want := onOff(p.Multihost())
	got, err := poolProp(ctx, run, p.Name, "multihost")
	if err != nil {
		return false, err
	}
	if got == want {
		return false, nil
	}
	if _, err := host.Run(ctx, run, "zpool", "set", "multihost="+want, p.Name); err != nil {
		return false, err
	}
	return true, nil
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

// PoolGUID returns the imported pool's GUID: a pool created again under the
// same name gets a new one.
func PoolGUID(ctx context.Context, run host.Runner, name string) (string, error) {
	guid, err := poolProp(ctx, run, name, "guid")
	if err != nil {
		return "", err
	}
	if guid == "" || guid == "-" {
		return "", fmt.Errorf("zpool get guid %s: no value in %q", name, guid)
	}
	return guid, nil
}

// poolProp reads one property of an imported pool (`zpool get`), trimmed.
func poolProp(ctx context.Context, run host.Runner, name, prop string) (string, error) {
	res, err := host.Run(ctx, run, "zpool", "get", "-H", "-o", "value", prop, name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(res.Stdout), nil
}

// Space is a dataset's space as ZFS accounts it, in bytes: what it and
// its descendants use, and what is left for them to write. Used plus
// Available is less than the pool's devices: ZFS keeps labels, metadata
// and its slop space (at least 1/32 of the pool, more on small pools).
type Space struct {
	Used      uint64 `json:"usedBytes"`
	Available uint64 `json:"availableBytes"`
}

// GetSpace reads a dataset's used and available bytes (`zfs get -Hp`:
// exact integers, not the rounded "1.2G"). It only reads the pool's
// in-memory accounting, so it answers on a target whose I/O is frozen.
func GetSpace(ctx context.Context, run host.Runner, dataset string) (Space, error) {
	res, err := host.Run(ctx, run, "zfs", "get", "-Hp", "-o", "property,value", "used,available", dataset)
	if err != nil {
		return Space{}, err
	}
	return parseSpace(dataset, res.Stdout)
}

// parseSpace reads `zfs get -Hp -o property,value used,available`: one
// tab-separated line per property. Both must be there, as integers.
func parseSpace(dataset, out string) (Space, error) {
	var s Space
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		prop, value, ok := strings.Cut(line, "\t")
		if !ok {
			return Space{}, fmt.Errorf("zfs get used,available %s: unexpected line %q", dataset, line)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return Space{}, fmt.Errorf("zfs get used,available %s: %s is %q, not a byte count", dataset, prop, value)
		}
		switch prop {
		case "used":
			s.Used = n
		case "available":
			s.Available = n
		default:
			return Space{}, fmt.Errorf("zfs get used,available %s: unexpected property %q", dataset, prop)
		}
		seen[prop] = true
	}
	if !seen["used"] || !seen["available"] {
		return Space{}, fmt.Errorf("zfs get used,available %s: got %q, want both", dataset, out)
	}
	return s, nil
}
