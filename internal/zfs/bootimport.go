package zfs

import (
	"context"
	"fmt"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// OpenZFS imports pools at boot with two systemd units. With DRBD's
// internal metadata the backing disk carries the pool's labels at the
// same offsets as the DRBD device, so an import at boot finds the pool on
// the backing disk: it is then written around DRBD and the copies diverge
// without either side knowing.
//   - zfs-import-scan.service imports every pool it finds on any disk
//     when the cache file is empty or missing, which it always is here
//     (the pools use cachefile=none). It must not be able to run.
//   - zfs-import-cache.service imports the pools the cache file lists.
//     The targets' pools are never listed by kube-lustre, and other pools
//     of the host may need the unit, so it may stay as long as the cache
//     names no target pool.
const (
	ScanUnit  = "zfs-import-scan.service"
	CacheUnit = "zfs-import-cache.service"
	CacheFile = "/etc/zfs/zpool.cache"
)

// BootImportError names what would import a target's pool at boot.
type BootImportError struct {
	Scan   string   // the scan unit's state, when it can run
	Cached []string // target pools the cache file names
}

func (e *BootImportError) Error() string {
	var parts []string
	if e.Scan != "" {
		parts = append(parts, fmt.Sprintf("%s is %s: at boot it imports every pool it finds, including a target's pool from its backing disk, around DRBD; mask it (systemctl mask %s), or set install.mode=install, which does", ScanUnit, e.Scan, ScanUnit))
	}
	if len(e.Cached) > 0 {
		parts = append(parts, fmt.Sprintf("%s names target pool(s) %s, which %s imports at boot: while the pool is imported by its target, run zpool set cachefile=none on it, or remove the file if no other pool needs it", CacheFile, strings.Join(e.Cached, " "), CacheUnit))
	}
	return "pools would be imported at boot, bypassing DRBD: " + strings.Join(parts, "; ")
}

// unitStates is `systemctl show`'s LoadState and UnitFileState of unit;
// an answer without a LoadState is an error, never "not installed".
func unitStates(ctx context.Context, run host.Runner, unit string) (load, file string, err error) {
	res, err := host.Run(ctx, run, "systemctl", "show", unit, "-p", "LoadState", "-p", "UnitFileState")
	if err != nil {
		return "", "", err
	}
	props := map[string]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	if props["LoadState"] == "" {
		return "", "", fmt.Errorf("systemctl show %s: no LoadState in %q", unit, res.Stdout)
	}
	return props["LoadState"], props["UnitFileState"], nil
}

// unitState is systemd's view of a unit: can it run, and its state for
// the message.
func unitState(ctx context.Context, run host.Runner, unit string) (canRun bool, state string, err error) {
	load, file, err := unitStates(ctx, run, unit)
	switch {
	case err != nil:
		return false, "", err
	case load == "not-found" || load == "masked" || file == "masked" || file == "disabled":
		return false, file, nil
	}
	return true, file, nil
}

// CheckBootImport refuses (BootImportError) while anything on the host
// would import one of pools at boot.
func CheckBootImport(ctx context.Context, run host.Runner, pools []string) error {
	e := &BootImportError{}
	canRun, state, err := unitState(ctx, run, ScanUnit)
	if err != nil {
		return err
	}
	if canRun {
		e.Scan = state
	}
	if canRun, _, err = unitState(ctx, run, CacheUnit); err != nil {
		return err
	}
	if canRun {
		if e.Cached, err = cachedPools(ctx, run, pools); err != nil {
			return err
		}
	}
	if e.Scan != "" || len(e.Cached) > 0 {
		return e
	}
	return nil
}

// cachedPools returns the pools whose names appear in the cache file (an
// XDR-packed nvlist, where names are stored as plain bytes). A name that
// merely appears inside another string refuses too: the safe side.
func cachedPools(ctx context.Context, run host.Runner, pools []string) ([]string, error) {
	if _, err := host.Run(ctx, run, "test", "-s", CacheFile); err != nil {
		if host.ExitedWith(err, 1, "") {
			return nil, nil // missing or empty: test(1) says no
		}
		return nil, err
	}
	res, err := host.Run(ctx, run, "cat", CacheFile)
	if err != nil {
		return nil, err
	}
	var found []string
	for _, p := range pools {
		if strings.Contains(res.Stdout, p) {
			found = append(found, p)
		}
	}
	return found, nil
}

// MaskBootImportScan masks the scan unit unless it is masked already,
// and reports whether it did. The cache unit is left alone: see above.
func MaskBootImportScan(ctx context.Context, run host.Runner) (bool, error) {
	load, _, err := unitStates(ctx, run, ScanUnit)
	if err != nil || load == "masked" {
		return false, err
	}
	if _, err := host.Run(ctx, run, "systemctl", "mask", ScanUnit); err != nil {
		return false, err
	}
	return true, nil
}
