package lustre

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Record is what the cluster keeps about a target once it has served,
// outside its disks: a target that is recorded was created and holds data,
// so blank disks under its name are lost or renamed disks, never a reason
// to create it again.
type Record struct {
	Target   string // the label, e.g. lfs1-OST0000
	Pool     string
	PoolGUID string
	// Disks are the backing disks it was served from (Server.Disks).
	Disks []string
	// Since is when it was first recorded.
	Since time.Time
}

// Registry keeps one target's Record where pods, Leases and releases do
// not take it along (targetrecord.Store: a ConfigMap of its own).
type Registry interface {
	// Lookup returns the target's Record, or nil if it was never
	// recorded. An error is never "not recorded".
	Lookup(ctx context.Context) (*Record, error)
	// Remember writes r unless the same is recorded already (keeping the
	// first Since).
	Remember(ctx context.Context, r Record) error
	// Where names the record for people: "ConfigMap ns/name".
	Where() string
	// Forget is the command that deletes the record, for the refusal's
	// last resort (a target whose data is truly lost).
	Forget() string
}

// RecreateError refuses a creation step (the forced first sync of a DRBD
// pair, the pool's creation, mkfs.lustre) for a target the Registry
// records as created.
type RecreateError struct {
	Step    string // what was about to run
	Finding string // what this node found instead of the target's data
	Record  Record
	Where   string
	Forget  string
}

func (e *RecreateError) Error() string {
	return fmt.Sprintf("refusing to %s for %s: %s, but %s records this target as serving since %s (pool %s, guid %s, disks %s). "+
		"Creating it again would serve an empty %s in place of its data. "+
		"If its disks were renamed or moved, point the values at them (a /dev/disk/by-id/ path does not change when disks are added) or reattach them; "+
		"if its data is truly lost, follow \"Replacing a lost target\" in docs/operations.md, whose last step is: %s",
		e.Step, e.Record.Target, e.Finding, e.Where, e.Record.Since.UTC().Format(time.RFC3339), e.Record.Pool, orDash(e.Record.PoolGUID),
		strings.Join(e.Record.Disks, " "), e.Record.Target, e.Forget)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mayCreate is asked right before each creation step: nil only if no
// Registry is kept (tests of the steps alone) or it holds no record. A
// record that cannot be read refuses too: a failed lookup is never proof
// that the target is new.
func (s Server) mayCreate(step, finding string) func(context.Context) error {
	return func(ctx context.Context) error {
		if s.Registry == nil {
			return nil
		}
		rec, err := s.Registry.Lookup(ctx)
		if err != nil {
			return fmt.Errorf("not going to %s for %s: could not read whether it was created before (%s): %w", step, s.Target.Svname(), s.Registry.Where(), err)
		}
		if rec == nil {
			return nil
		}
		return &RecreateError{Step: step, Finding: finding, Record: *rec, Where: s.Registry.Where(), Forget: s.Registry.Forget()}
	}
}

// Disks are the target's backing disks: its DRBD pair's as node:disk, or
// the pool's own devices.
func (s Server) Disks() []string {
	if s.HasDRBD() {
		return []string{s.Resource.Local.Name + ":" + s.Resource.Local.Disk, s.Resource.Peer.Name + ":" + s.Resource.Peer.Disk}
	}
	return s.Pool.Devices()
}

// Remember records the serving target in its Registry (nothing without
// one). The caller retries a failure: the target serves meanwhile.
func Remember(ctx context.Context, run host.Runner, s Server) error {
	if s.Registry == nil {
		return nil
	}
	guid, err := zfs.PoolGUID(ctx, run, s.Pool.Name)
	if err != nil {
		return err
	}
	return s.Registry.Remember(ctx, Record{Target: s.Target.Svname(), Pool: s.Pool.Name, PoolGUID: guid, Disks: s.Disks(), Since: time.Now()})
}
