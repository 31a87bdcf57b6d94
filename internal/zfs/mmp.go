package zfs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// MMP is ZFS's multihost protection timing, as module parameters of the
// zfs module (failover.mmp in the values). Zero fields mean ZFS's default.
//
// A host writes an MMP block every IntervalMS; an import of a pool another
// host left active watches for such writes for ImportIntervals intervals
// (plus one) before it imports; a host whose MMP writes fail for
// FailIntervals intervals suspends the pool. The check is sound only when
// ImportIntervals > FailIntervals: a live holder may go FailIntervals
// intervals without a write before it suspends itself, and the importer
// must watch longer than that.
type MMP struct {
	IntervalMS      int
	ImportIntervals int
	FailIntervals   int
}

// ZFS's defaults (module parameters zfs_multihost_*).
const (
	DefaultMMPIntervalMS      = 1000
	DefaultMMPImportIntervals = 20
	DefaultMMPFailIntervals   = 10
)

func (m MMP) withDefaults() MMP {
	if m.IntervalMS == 0 {
		m.IntervalMS = DefaultMMPIntervalMS
	}
	if m.ImportIntervals == 0 {
		m.ImportIntervals = DefaultMMPImportIntervals
	}
	if m.FailIntervals == 0 {
		m.FailIntervals = DefaultMMPFailIntervals
	}
	return m
}

// Validate refuses timings that would let an import miss a live holder.
func (m MMP) Validate() error {
	d := m.withDefaults()
	var errs []error
	if d.IntervalMS < 100 || d.IntervalMS > 10000 {
		errs = append(errs, fmt.Errorf("MMP interval %d ms: want 100 to 10000", d.IntervalMS))
	}
	if d.FailIntervals < 1 {
		errs = append(errs, fmt.Errorf("MMP fail intervals %d: want at least 1 (0 would never suspend a pool that cannot write MMP blocks)", d.FailIntervals))
	}
	if d.ImportIntervals <= d.FailIntervals {
		errs = append(errs, fmt.Errorf("MMP import intervals %d must exceed fail intervals %d, or an import may miss a live holder", d.ImportIntervals, d.FailIntervals))
	}
	return errors.Join(errs...)
}

// ActivityCheck is how long an import of a pool another host left active
// waits: (ImportIntervals + 1) intervals. The VM suite measured 20 to 25 s
// at ZFS's defaults.
func (m MMP) ActivityCheck() time.Duration {
	d := m.withDefaults()
	return time.Duration(d.IntervalMS*(d.ImportIntervals+1)) * time.Millisecond
}

// mmpParamDir is where the zfs module shows its parameters.
const mmpParamDir = "/sys/module/zfs/parameters/"

// EnsureMMP loads the zfs module and sets the MMP module parameters that
// differ from m, reporting which it changed. Module parameters reset at
// boot, so the DRBD agent applies them on every start of every server
// node.
func EnsureMMP(ctx context.Context, run host.Runner, m MMP) ([]string, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	d := m.withDefaults()
	if _, err := host.Run(ctx, run, "modprobe", "zfs"); err != nil {
		return nil, err
	}
	var changed []string
	for _, p := range []struct {
		name string
		v    int
	}{
		{"zfs_multihost_interval", d.IntervalMS},
		{"zfs_multihost_import_intervals", d.ImportIntervals},
		{"zfs_multihost_fail_intervals", d.FailIntervals},
	} {
		b, err := host.ReadFile(ctx, run, mmpParamDir+p.name)
		if err != nil {
			return changed, err
		}
		if strings.TrimSpace(string(b)) == strconv.Itoa(p.v) {
			continue
		}
		if _, err := run.Run(ctx, host.Cmd{Name: "tee", Args: []string{mmpParamDir + p.name}, Stdin: []byte(strconv.Itoa(p.v) + "\n")}); err != nil {
			return changed, err
		}
		changed = append(changed, fmt.Sprintf("%s=%d", p.name, p.v))
	}
	return changed, nil
}
