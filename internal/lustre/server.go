package lustre

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Server is one HA target as served from one node of its pair: the DRBD
// resource under it, the pool on the DRBD device and the target dataset.
type Server struct {
	Resource drbd.Resource
	Pool     zfs.Pool
	Target   Target
	// Preferred marks the pair's first node: only it may start the initial
	// sync of a brand-new pair, so the two nodes never both force.
	Preferred bool
	// Networks are LNet networks such as "tcp0(eth1)"; empty brings LNet
	// up with its module defaults.
	Networks []string
	// Modules to verify; nil means ServerModules.
	Modules []string
	// Poll is the DRBD state polling interval; 0 means one second.
	Poll time.Duration
	// TakeOver may be set only by a caller holding the target's Lease,
	// acquired after the previous holder's had expired: it allows importing
	// a pool that a crashed holder left imported (zpool import -f).
	TakeOver bool
	// PreviousHolderGone, with TakeOver, says the Lease was taken from a
	// node whose Lease expired (it crashed or was cut off): its pool is
	// expected active on its hostid, and the import goes straight to -f.
	// Every import of a multihost pool another host left active waits for
	// the MMP activity check (20 to 25 s at ZFS's defaults): a plain
	// import that is refused as "previously in use" and then -f would wait
	// twice. -f never overrides MMP: a pool in use elsewhere is refused.
	PreviousHolderGone bool
	// Registry, when set, records the target once it serves, and is
	// asked before every step that creates it from nothing: a recorded
	// target is never created again on blank disks (RecreateError).
	Registry Registry
}

// HasDRBD tells a replicated target from one whose pool lives on local or
// shared disks (Resource left zero).
func (s Server) HasDRBD() bool { return s.Resource.Name != "" }

// Validate checks the parts and that they fit together.
func (s Server) Validate() error {
	errs := []error{s.Pool.Validate(), s.Target.Validate()}
	switch {
	case s.HasDRBD():
		errs = append(errs, s.Resource.Validate())
		if s.Pool.Device != s.Resource.Device() {
			errs = append(errs, fmt.Errorf("pool %s is on %s, not on the resource's device %s", s.Pool.Name, s.Pool.Device, s.Resource.Device()))
		}
	case s.Pool.Device != "":
		errs = append(errs, fmt.Errorf("pool %s is on DRBD device %s but the server has no DRBD resource", s.Pool.Name, s.Pool.Device))
	}
	if s.Pool.Name != s.Target.Pool {
		errs = append(errs, fmt.Errorf("target %s is in pool %s, not %s", s.Target.Name(), s.Target.Pool, s.Pool.Name))
	}
	return errors.Join(errs...)
}

// StartReport says what Start did.
type StartReport struct {
	InitialSync bool
	HostID      bool
	CreatedPool bool
	Imported    bool
	TookOver    bool // imported with -f after the previous holder's Lease expired
	// MultihostSet: the pool's multihost property was changed to what
	// zfs.Pool.Multihost says (a DRBD pool created before it existed).
	MultihostSet bool
	Formatted    bool
	Mounted      bool
	DRBD         drbd.State
}

// Start brings the target up on this node: the lnet module, LNet, the
// other modules (EnsureModulesAndLNet, in that order), hostid, wait for
// the local DRBD disk to be UpToDate (starting the initial sync of a
// brand-new pair on the preferred node) and promote (targets with DRBD
// only), import from the pool's own devices, create the pool and format the
// target only when proven new, mount (StartStorage is the part up to the
// pool). ctx bounds the whole start, the DRBD wait included. Each step is
// idempotent, so a Start interrupted anywhere is finished by the next one.
func Start(ctx context.Context, run host.Runner, s Server) (StartReport, error) {
	var rep StartReport
	if err := s.Validate(); err != nil {
		return rep, err
	}
	mods := s.Modules
	if mods == nil {
		mods = ServerModules
	}
	// LNet is configured between the lnet module and the others: loading
	// lustre first would bring it up with the module defaults.
	if err := EnsureModulesAndLNet(ctx, run, mods, s.Networks); err != nil {
		return rep, err
	}
	rep, err := StartStorage(ctx, run, s)
	if err != nil {
		return rep, err
	}
	may := s.mayCreate("format "+s.Target.Name(), s.Target.Name()+" carries no Lustre label")
	if rep.Formatted, err = EnsureFormatted(ctx, run, s.Target, may); err != nil {
		return rep, err
	}
	rep.Mounted, err = MountTarget(ctx, run, s.Target)
	return rep, err
}

// StartStorage is the part of Start below Lustre: hostid, the DRBD wait
// (and initial sync) and promotion, then the pool imported, taken over or
// created. It needs no Lustre module, which is why it stands alone: the VM
// suite (make e2e-vm) runs exactly this on real DRBD and ZFS kernels, where
// no Lustre is packaged.
func StartStorage(ctx context.Context, run host.Runner, s Server) (StartReport, error) {
	var rep StartReport
	if err := s.Validate(); err != nil {
		return rep, err
	}
	var err error
	if rep.HostID, err = zfs.EnsureHostID(ctx, run); err != nil {
		return rep, err
	}
	if s.HasDRBD() {
		wait := drbd.WaitOptions{Poll: s.Poll, InitialSync: s.Preferred,
			MayForce: s.mayCreate("force the initial sync of DRBD resource "+s.Resource.Name,
				"both of its DRBD disks hold new, empty metadata")}
		if rep.DRBD, rep.InitialSync, err = drbd.WaitUpToDate(ctx, run, s.Resource, wait); err != nil {
			return rep, err
		}
		if err := drbd.Promote(ctx, run, s.Resource); err != nil {
			return rep, err
		}
	}
	if s.TakeOver && s.PreviousHolderGone {
		rep.Imported, err = zfs.ForceImport(ctx, run, s.Pool)
		rep.TookOver = err == nil && rep.Imported
	} else {
		rep.Imported, err = zfs.Import(ctx, run, s.Pool)
		if errors.Is(err, zfs.ErrPreviouslyInUse) && s.TakeOver {
			rep.Imported, err = zfs.ForceImport(ctx, run, s.Pool)
			rep.TookOver = err == nil
		}
	}
	if errors.Is(err, zfs.ErrNoPool) {
		// No pool of that name on the device: create one, which proves the
		// device blank first and refuses otherwise.
		err = s.mayCreate("create pool "+s.Pool.Name, fmt.Sprintf("no pool %s is on %s", s.Pool.Name, strings.Join(s.Pool.Devices(), " ")))(ctx)
		if err == nil {
			err = zfs.Create(ctx, run, s.Pool)
			rep.CreatedPool = err == nil
		}
	}
	if err == nil {
		rep.MultihostSet, err = zfs.EnsureMultihost(ctx, run, s.Pool)
	}
	return rep, err
}

// Stop takes the target down on this node: unmount, export, demote, in
// that order. A step runs only if the one before succeeded, because each
// depends on it: a busy mount leaves the pool imported and the device
// Primary instead of yanking them. The error names every failed and
// skipped step.
func Stop(ctx context.Context, run host.Runner, s Server) error {
	type step struct {
		name string
		fn   func() error
	}
	steps := []step{
		{"unmount " + s.Target.MountPoint, func() error { return Unmount(ctx, run, s.Target.MountPoint) }},
		{"export " + s.Pool.Name, func() error { return zfs.Export(ctx, run, s.Pool.Name) }},
	}
	if s.HasDRBD() {
		steps = append(steps, step{"demote " + s.Resource.Name, func() error { return drbd.Demote(ctx, run, s.Resource) }})
	}
	var errs []error
	for _, st := range steps {
		if len(errs) > 0 {
			errs = append(errs, fmt.Errorf("%s: skipped", st.name))
			continue
		}
		if err := st.fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.name, err))
		}
	}
	return errors.Join(errs...)
}
