// Package agent holds the long-running loops of the entrypoint binaries:
// keep DRBD resources up, serve a target, keep a client mount. Each loop
// acts only through host steps on a host.Runner and reports through a
// Status, so tests run them unchanged against hostsim.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/metrics"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Status receives state changes (entry.Reporter in the binaries).
type Status interface {
	Set(state podstate.State, msg string)
}

// Config tunes the loops; zero values take the defaults.
type Config struct {
	Interval time.Duration // between reconciles / health checks; default 10s
	// Unfence, for the DRBD loop with fencing, clears the Lease's outdated
	// mark on this node's copy of resource when inSync (a fresh
	// observation) holds (failover.Fencer.UnfenceInSync).
	Unfence      func(ctx context.Context, resource string, inSync func() bool) (bool, error)
	StopTimeout  time.Duration // bound on a clean stop after SIGTERM (failover.stopSeconds: the binaries pass nodespec.Spec.StopTimeout); default 120s
	StartAttempt time.Duration // bound on one start attempt, so the status says what it waits for; default 30s (the binaries pass nodespec.Spec.StartAttempt)
	// Refence, for the DRBD loop with fencing, decides fence-peer again
	// for a resource whose Primary sits with I/O suspended because its
	// fence failed (failover.Fencer.FencePeer): DRBD 8.4 never asks again.
	Refence func(ctx context.Context, resource string) int
	// PeerLost, for the DRBD loop with fencing, cuts the quiet Lease of
	// the target whose Secondary this node is back to one Lease duration
	// when the link to the Primary is gone (failover.Fencer.PeerLost), so
	// a crashed holder is taken over without waiting out a quiet Lease.
	// It is checked every PeerWatch (default 1s): one `drbdadm cstate`
	// per resource, the full state only once per loss.
	PeerLost  func(ctx context.Context, resource string) (bool, error)
	PeerWatch time.Duration
	// MMP, for the DRBD loop of a server node, is the zfs module's
	// multihost timing to apply (failover.mmp); nil leaves it alone.
	MMP *zfs.MMP
	// MGSParams, for the MGS's target, are permanent parameters
	// (NAME=VALUE) it sets once it serves (nodespec.Spec.MGSParams: the
	// MDTs' identity upcall, the project quota enforcement the CSI
	// driver's volumes need).
	MGSParams []string
	// Metrics of the loop (nil: none): DRBDMetrics for DRBD, TargetMetrics
	// for Target, ClientMetrics for Client.
	DRBDMetrics   *metrics.DRBD
	TargetMetrics *metrics.Target
	ClientMetrics *metrics.Client
}

func (c Config) startAttempt() time.Duration {
	if c.StartAttempt <= 0 {
		return 30 * time.Second
	}
	return c.StartAttempt
}

func (c Config) interval() time.Duration {
	if c.Interval <= 0 {
		return 10 * time.Second
	}
	return c.Interval
}

func (c Config) peerWatch() time.Duration {
	if c.PeerWatch <= 0 {
		return time.Second
	}
	return c.PeerWatch
}

func (c Config) stopTimeout() time.Duration {
	if c.StopTimeout <= 0 {
		return 120 * time.Second
	}
	return c.StopTimeout
}

// every runs fn now and then at each interval until ctx is done.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DRBD keeps every resource of the node configured and up until ctx ends.
// It never takes a resource down, on stop least of all: a Primary below a
// mounted target must survive the agent's restart.
func DRBD(ctx context.Context, run host.Runner, res []drbd.Resource, st Status, log *slog.Logger, cfg Config) {
	// checked: resources whose mark was looked at since they last came in
	// sync, so the Lease is read once per resync, not once per interval.
	checked := map[string]bool{}
	mmpSet := cfg.MMP == nil
	if cfg.PeerLost != nil {
		watched := make(chan struct{})
		defer func() { <-watched }()
		go func() {
			defer close(watched)
			watchPeers(ctx, run, res, cfg, log)
		}()
	}
	every(ctx, cfg.interval(), func() {
		var errs []error
		if !mmpSet {
			// Module parameters reset when the module loads (at boot):
			// set them once per agent start, before any pool is imported
			// on this node.
			changed, err := zfs.EnsureMMP(ctx, run, *cfg.MMP)
			if err != nil {
				errs = append(errs, fmt.Errorf("zfs multihost timing: %w", err))
			} else {
				mmpSet = true
				if len(changed) > 0 {
					log.Info("zfs multihost timing set", "params", changed, "importActivityCheck", cfg.MMP.ActivityCheck().String())
				}
			}
		}
		for _, r := range res {
			rep, err := drbd.Ensure(ctx, run, r)
			if err != nil {
				cfg.DRBDMetrics.ReconcileError(r.Name)
				errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
				continue
			}
			if err := frozen(ctx, run, r, rep.State, cfg, log); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			}
			recordDRBD(ctx, run, r, rep.State, cfg.DRBDMetrics)
			if !rep.State.InSync() {
				checked[r.Name] = false
			} else if cfg.Unfence != nil && !checked[r.Name] {
				cleared, err := cfg.Unfence(ctx, r.Name, func() bool {
					s, err := drbd.Observe(ctx, run, r)
					return err == nil && s.InSync()
				})
				if err != nil {
					log.Warn("could not check this copy's outdated mark; retrying", "resource", r.Name, "err", err.Error())
				} else {
					checked[r.Name] = true
				}
				if cleared {
					log.Info("cleared the Lease's outdated mark on this copy: it is in sync with its peer", "resource", r.Name)
				}
			}
			if rep.CreatedMD || rep.BroughtUp || rep.ConfigWritten {
				log.Info("drbd resource reconciled", "resource", r.Name, "createdMetadata", rep.CreatedMD,
					"broughtUp", rep.BroughtUp, "configWritten", rep.ConfigWritten, "adjusted", rep.Adjusted, "state", rep.State.String())
			}
			if rep.Pending {
				log.Warn("the resource file changed in ways a running resource does not take without risk to a serving Primary (disk, address or port); it applies when the resource is next brought up, or run drbdadm adjust on the node at a quiet moment",
					"resource", r.Name, "file", r.ConfPath())
			}
		}
		if len(errs) > 0 {
			st.Set(podstate.Failed, errors.Join(errs...).Error())
			return
		}
		st.Set(podstate.Ready, fmt.Sprintf("%d resource(s) up", len(res)))
	})
	st.Set(podstate.Stopping, "agent stopped; resources left up")
}

// watchPeers reports every Secondary that lost its link (cfg.PeerLost),
// once per loss: at this cadence, not the reconcile interval's, because
// the report starts the clock of a crashed holder's takeover.
func watchPeers(ctx context.Context, run host.Runner, res []drbd.Resource, cfg Config, log *slog.Logger) {
	reported := map[string]bool{} // this loss of the link was handled
	every(ctx, cfg.peerWatch(), func() {
		for _, r := range res {
			down, err := drbd.PeerLinkDown(ctx, run, r)
			if err != nil || !down {
				reported[r.Name] = false
				continue
			}
			if reported[r.Name] {
				continue
			}
			st, err := drbd.Observe(ctx, run, r)
			if err != nil {
				continue
			}
			if !st.LostPrimaryPeer() {
				// This node is the Primary, or its copy cannot serve: no
				// takeover from here during this loss.
				reported[r.Name] = true
				continue
			}
			cut, err := cfg.PeerLost(ctx, r.Name)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("lost the DRBD peer but could not report it on the target's Lease; retrying", "resource", r.Name, "err", err.Error())
				}
				continue
			}
			reported[r.Name] = true
			cfg.DRBDMetrics.PeerLost(r.Name)
			if cut {
				log.Warn("lost the DRBD link to the holder: cut its quiet Lease to one Lease duration, so a crashed holder is taken over then", "resource", r.Name, "drbd", st.String())
			}
		}
	})
}

// frozen looks for I/O a failed fence suspended, which only a Primary
// without its peer can have, and records it. With cfg.Refence it resumes
// it once the fence decision, asked again, records the peer's copy as
// outdated (this node holds the target's Lease): the API blip or agent
// restart that made the first fence fail must not freeze the target for
// good. Any other answer leaves I/O suspended: the peer may be the active
// side.
func frozen(ctx context.Context, run host.Runner, r drbd.Resource, st drbd.State, cfg Config, log *slog.Logger) error {
	if !st.Up || st.Role != "Primary" || st.CState == "Connected" || (cfg.Refence == nil && cfg.DRBDMetrics == nil) {
		cfg.DRBDMetrics.Suspended(r.Name, false)
		return nil
	}
	suspended, err := drbd.Suspended(ctx, run, r)
	if err != nil {
		return err
	}
	defer func() { cfg.DRBDMetrics.Suspended(r.Name, suspended) }()
	if !suspended || cfg.Refence == nil {
		return nil
	}
	code := cfg.Refence(ctx, r.Name)
	if code != failover.FencedOutdated {
		log.Warn("I/O suspended after a failed fence; the fence decision still does not allow resuming", "resource", r.Name, "fencePeer", code)
		return nil
	}
	if err := drbd.ResumeIO(ctx, run, r); err != nil {
		return err
	}
	suspended = false
	log.Warn("resumed I/O suspended by a failed fence: the peer's copy is now recorded outdated on the Lease", "resource", r.Name)
	return nil
}

// recordDRBD records one observation of r, with its resync progress:
// read only while it resyncs (1 in sync, nothing without a peer to
// compare with).
func recordDRBD(ctx context.Context, run host.Runner, r drbd.Resource, st drbd.State, m *metrics.DRBD) {
	if m == nil {
		return
	}
	m.Resource(r.Name, st.Up, st.Role, st.CState, st.Disk, st.PeerDisk)
	switch {
	case st.InSync():
		m.SyncDone(r.Name, 1, true)
	case st.Resyncing():
		done, err := drbd.SyncDone(ctx, run, r)
		m.SyncDone(r.Name, done, err == nil)
	default:
		m.SyncDone(r.Name, 0, false)
	}
}

// Gate is the target's Lease (failover.Lease). Only its holder may
// promote, import and mount, and only if the Lease does not mark this
// node's copy outdated (CheckNotOutdated: a *failover.OutdatedError).
type Gate interface {
	TryAcquire(ctx context.Context) error
	CheckNotOutdated(ctx context.Context) error
	// Verify clears the mark of a Lease with no history
	// (failover.Unverified) when inSync holds, and reports whether no
	// such mark is left.
	Verify(ctx context.Context, inSync func() bool) (bool, error)
	Hold(ctx context.Context, sleep func(context.Context, time.Duration) bool, serveOn func(context.Context) bool) error
	Release(ctx context.Context) error
	RenewInterval() time.Duration
	RenewDeadline() time.Duration
	// TookOverFrom names the node whose expired Lease was acquired ("" if
	// it was free or released); HandedOverFrom the node the failover
	// controller cleared from it first.
	TookOverFrom() string
	HandedOverFrom() string
	// LastRenewed is when this node last wrote the Lease (zero: not
	// held), read from the metrics server's goroutine.
	LastRenewed() time.Time
}

// recordedStatus is a Status that also records each state in the target's
// metrics.
type recordedStatus struct {
	Status
	m *metrics.Target
}

func (r recordedStatus) Set(state podstate.State, msg string) {
	r.m.State(string(state))
	r.Status.Set(state, msg)
}

// Target serves one target until ctx ends, then stops it. With a gate it
// first waits for the target's Lease, keeps renewing it while serving, and
// stops serving as soon as a renewal deadline passes (the Lease is then
// about to become the peer's); a clean stop releases the Lease so the peer
// need not wait for it to expire. The error is the stop's, or the lost
// Lease: the binary exits non-zero so the failure is seen and the pod
// restarts into waiting for the Lease again.
func Target(ctx context.Context, run host.Runner, s lustre.Server, gate Gate, st Status, log *slog.Logger, cfg Config) error {
	if cfg.TargetMetrics != nil {
		st = recordedStatus{Status: st, m: cfg.TargetMetrics}
	}
	if gate == nil {
		return serve(ctx, run, s, st, log, cfg, cfg.stopTimeout)
	}
	var observe func(context.Context) (drbd.State, error)
	if s.HasDRBD() {
		observe = func(ctx context.Context) (drbd.State, error) { return drbd.Observe(ctx, run, s.Resource) }
	}
	if !AwaitLease(ctx, gate, observe, func(err error) {
		if failover.IsOutdated(err) {
			st.Set(podstate.Starting, "not serving "+s.Target.Svname()+": "+err.Error())
		} else {
			st.Set(podstate.Starting, "waiting for the target's lease: "+err.Error())
		}
	}) {
		st.Set(podstate.Stopping, "stopped while waiting for the lease")
		return nil
	}
	log.Info("lease acquired", "target", s.Target.Svname())
	st.Set(podstate.Starting, "lease acquired; starting "+s.Target.Svname())
	cfg.TargetMetrics.LeaseAge(gate.LastRenewed)
	if from := cmp.Or(gate.TookOverFrom(), gate.HandedOverFrom()); from != "" {
		cfg.TargetMetrics.TookOver(from)
	}
	// Holding the Lease, taken only once the previous holder's expired,
	// is what makes taking over a crashed holder's pool safe.
	s.TakeOver = true
	// Taken from a node that stopped renewing: its pool is likely still
	// marked active by it, so import with -f straight away and wait for
	// the MMP activity check once, not twice (a plain import waits too).
	s.PreviousHolderGone = gate.TookOverFrom() != ""
	// The Lease is renewed while serving and through a clean stop: a busy
	// MDT's unmount may take minutes (failover.stopSeconds), and a holder
	// that stopped renewing at SIGTERM would have to cut its stop short
	// at the renew deadline, skip export and demote, and leave its peer
	// unable to promote.
	holding, stopHolding := context.WithCancel(context.Background())
	defer stopHolding()
	serving, stopServing := context.WithCancel(ctx)
	defer stopServing()
	var lost error
	var lostFlag atomic.Bool
	held := make(chan struct{})
	go func() {
		defer close(held)
		if err := gate.Hold(holding, failover.Sleep, DRBDGuard(run, s, log)); err != nil {
			lost = err
			lostFlag.Store(true)
			stopServing()
		}
	}()
	// After a lost Lease the stop must be done before the peer may take
	// over: what is left of the Lease once the renew deadline passed.
	budget := func() time.Duration {
		if lostFlag.Load() {
			return gate.RenewDeadline()
		}
		return cfg.stopTimeout()
	}
	stopErr := serve(serving, run, s, st, log, cfg, budget)
	stopHolding()
	<-held
	if lost != nil {
		log.Error("lease lost: stopped serving", "target", s.Target.Svname(), "err", lost.Error(), "stopErr", fmt.Sprint(stopErr))
		st.Set(podstate.Failed, "lease lost: "+lost.Error())
		return errors.Join(lost, stopErr)
	}
	if stopErr != nil {
		return stopErr // still serving: keep the Lease
	}
	rctx, cancel := context.WithTimeout(context.Background(), gate.RenewDeadline())
	defer cancel()
	if err := gate.Release(rctx); err != nil {
		log.Warn("could not release the lease; the peer waits for it to expire", "err", err.Error())
	}
	return nil
}

// DRBDGuard says whether DRBD alone keeps the peer from promoting: this
// node Primary with the peer connected. While it does, the holder renews
// quietly and serves on through an API outage (failover.Lease.Hold). A
// target without DRBD (shared or local disks) has no such guard, and both
// sides of a cut link lose it (docs/failover.md). It logs each change.
func DRBDGuard(run host.Runner, s lustre.Server, log *slog.Logger) func(context.Context) bool {
	if !s.HasDRBD() {
		return nil
	}
	last := ""
	return func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := drbd.Observe(ctx, run, s.Resource)
		ok := err == nil && st.KeepsPeerSecondary()
		now := fmt.Sprintf("%v %s %v", ok, st.String(), err)
		if now != last {
			switch {
			case ok:
				log.Info("DRBD's peer is connected: it cannot promote; renewing the Lease quietly, and serving on if the API server is away", "target", s.Target.Svname(), "drbd", st.String())
			case err != nil:
				// A loaded host can make drbdadm slower than the guard's
				// bound (failover.Lease.askGuard): not knowing is treated
				// as not connected, which is always safe.
				log.Warn("could not read DRBD's state within the guard's bound: renewing the Lease every Lease/5 as if the peer were gone, and stopping if that fails", "target", s.Target.Svname(), "err", err.Error())
			default:
				log.Warn("DRBD's peer is not connected: the Lease alone decides; renewing it every Lease/5, and stopping if that fails", "target", s.Target.Svname(), "drbd", st.String())
			}
			last = now
		}
		return ok
	}
}

// AwaitLease acquires the target's Lease (acquire), retrying until it
// succeeds or ctx ends (false), and tells waiting why each try failed.
// observe reads the target's DRBD state (nil without DRBD).
func AwaitLease(ctx context.Context, gate Gate, observe func(context.Context) (drbd.State, error), waiting func(error)) bool {
	for {
		err := acquire(ctx, gate, observe)
		if err == nil {
			return true
		}
		waiting(err)
		if !failover.Sleep(ctx, retryAfter(err, gate.RenewInterval())) {
			return false
		}
	}
}

// retryAfter is how long a pod waiting for its target's Lease sleeps
// before it tries again. A Lease held by another node is read every
// quarter of a renew interval (Lease/20) and once more at its expiry: the
// waiter times the Lease from when it saw the Lease's last change, so a
// peer's cut (failover.PeerLost) or the controller's handover seen a
// whole renew interval late would add up to that to a takeover. Those are
// GETs only, by pods waiting on a takeover. Anything else (a copy marked
// outdated, an API error) is tried again every renew interval.
func retryAfter(err error, renew time.Duration) time.Duration {
	var held *failover.HeldError
	if !errors.As(err, &held) {
		return renew
	}
	return max(min(renew/4, held.ExpiresIn), time.Millisecond)
}

// notOutdated is gate.CheckNotOutdated, except for a Lease with no
// history of which copy is stale (failover.Unverified). There DRBD decides:
// with the peer connected it has compared the two copies itself (a stale
// one is resynced, Inconsistent until then, and cannot be promoted; a new
// pair needs the connection for its first sync), so the node may go on,
// and the mark is cleared once the copies are seen in sync. Without the
// peer nothing says this copy is current, and the node waits. A target
// without DRBD (observe nil) has no second copy to doubt.
func notOutdated(ctx context.Context, gate Gate, observe func(context.Context) (drbd.State, error)) error {
	err := gate.CheckNotOutdated(ctx)
	var o *failover.OutdatedError
	switch {
	case !errors.As(err, &o) || !o.Unverified():
		return err
	case observe == nil:
		return nil
	}
	var st drbd.State
	verified, verr := gate.Verify(ctx, func() bool {
		var oerr error
		st, oerr = observe(ctx)
		return oerr == nil && st.InSync()
	})
	switch {
	case verr != nil:
		return errors.Join(err, verr)
	case verified || st.PeerConnected():
		return nil
	}
	return err
}

// acquire takes the Lease unless it marks this node's copy outdated. The
// check comes first so a stale node does not take the Lease only to give
// it back, and again under the Lease because the previous holder may have
// marked this node between the first check and the acquire (once this node
// holds the Lease, nobody else can write the mark).
func acquire(ctx context.Context, gate Gate, observe func(context.Context) (drbd.State, error)) error {
	if err := notOutdated(ctx, gate, observe); err != nil {
		return err
	}
	if err := gate.TryAcquire(ctx); err != nil {
		return err
	}
	err := notOutdated(ctx, gate, observe)
	if failover.IsOutdated(err) {
		if rerr := gate.Release(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// serve starts the target (retried until it succeeds, each step
// idempotent), watches the mount, and once ctx ends unmounts, exports and
// demotes within the budget it gives at that moment.
func serve(ctx context.Context, run host.Runner, s lustre.Server, st Status, log *slog.Logger, cfg Config, stopBudget func() time.Duration) error {
	started, paramsSet := false, false
	// setParams applies MGSParams once per start of the MGS; a failure
	// leaves the target serving (clients need the MGS more than quotas)
	// and is retried at the next interval.
	setParams := func() {
		if paramsSet || len(cfg.MGSParams) == 0 {
			return
		}
		if err := lustre.SetPermanent(ctx, run, cfg.MGSParams); err != nil {
			log.Warn("could not set the MGS's permanent parameters; retrying", "params", cfg.MGSParams, "err", err.Error())
			return
		}
		paramsSet = true
		log.Info("permanent parameters set on the MGS", "params", cfg.MGSParams)
	}
	// remember records the serving target (lustre.Remember) once per
	// start; a failure is retried at the next interval while it serves.
	recorded, lastRefusal := false, ""
	remember := func() {
		if recorded {
			return
		}
		if err := lustre.Remember(ctx, run, s); err != nil {
			log.Warn("could not record the target as created; retrying (until it is, nothing stops it being created again on blank disks)", "target", s.Target.Svname(), "err", err.Error())
			return
		}
		recorded = true
	}
	since := time.Now() // of the start, for the metrics
	every(ctx, cfg.interval(), func() {
		if started {
			mounted, err := lustre.IsMounted(ctx, run, s.Target.MountPoint)
			if err == nil && mounted {
				remember()
				setParams()
				st.Set(podstate.Ready, "serving "+s.Target.Svname())
				recordSpace(ctx, run, s, cfg, log)
				return
			}
			started, since = false, time.Now()
			st.Set(podstate.Failed, fmt.Sprintf("%s no longer mounted (err: %v); starting again", s.Target.MountPoint, err))
		}
		// Each attempt is bounded so a long wait (a resync, an Outdated
		// disk) shows in the status with its reason; the steps are
		// idempotent, so the next attempt goes on where this one stopped.
		actx, cancel := context.WithTimeout(ctx, cfg.startAttempt())
		rep, err := lustre.Start(actx, run, s)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				st.Set(podstate.Starting, "start: "+err.Error())
				var refused *lustre.RecreateError
				if errors.As(err, &refused) && err.Error() != lastRefusal {
					log.Error("refused to create a target that existed; retrying in case its disks come back", "target", s.Target.Svname(), "err", err.Error())
					lastRefusal = err.Error()
				}
			}
			return
		}
		started, paramsSet, recorded = true, false, false
		cfg.TargetMetrics.Started(time.Since(since))
		remember()
		setParams()
		log.Info("target started", "target", s.Target.Svname(), "initialSync", rep.InitialSync, "createdPool", rep.CreatedPool,
			"imported", rep.Imported, "tookOver", rep.TookOver, "formatted", rep.Formatted, "mounted", rep.Mounted, "drbd", rep.DRBD.String())
		st.Set(podstate.Ready, "serving "+s.Target.Svname())
	})
	st.Set(podstate.Stopping, "stopping "+s.Target.Svname())
	// ctx is done: the stop gets its own bounded context.
	sctx, cancel := context.WithTimeout(context.Background(), stopBudget())
	defer cancel()
	if err := lustre.Stop(sctx, run, s); err != nil {
		st.Set(podstate.Failed, "stop: "+err.Error())
		return err
	}
	log.Info("target stopped", "target", s.Target.Svname())
	return nil
}

// recordSpace records the served target's space in its metrics, within
// one interval: a slow or failed reading is logged and skipped, never
// allowed to delay the loop that watches the mount.
func recordSpace(ctx context.Context, run host.Runner, s lustre.Server, cfg Config, log *slog.Logger) {
	if cfg.TargetMetrics == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.interval())
	defer cancel()
	sp, err := zfs.GetSpace(ctx, run, s.Target.Name())
	if err != nil {
		log.Debug("could not read the target's space for its metrics", "dataset", s.Target.Name(), "err", err.Error())
		return
	}
	cfg.TargetMetrics.Space(sp.Used, sp.Available)
}

// Client keeps the filesystem mounted until ctx ends, then unmounts it only
// if nothing uses it: a busy mount stays, and the stop says so.
func Client(ctx context.Context, run host.Runner, c lustre.Client, networks []string, st Status, log *slog.Logger, cfg Config) error {
	every(ctx, cfg.interval(), func() {
		// LNet before lustre: loading lustre on an unconfigured LNet
		// brings it up on the first interface (lustre-facts.md).
		if err := lustre.EnsureModulesAndLNet(ctx, run, lustre.ClientModules, networks); err != nil {
			st.Set(podstate.Failed, err.Error())
			return
		}
		mounted, err := lustre.MountClient(ctx, run, c)
		if err != nil {
			if ctx.Err() == nil {
				cfg.ClientMetrics.Mounted(c.FSName, c.MountPoint, false, true)
				st.Set(podstate.Starting, "mount: "+err.Error())
			}
			return
		}
		cfg.ClientMetrics.Mounted(c.FSName, c.MountPoint, true, false)
		if mounted {
			log.Info("client mounted", "source", c.Source(), "mountPoint", c.MountPoint)
		}
		st.Set(podstate.Ready, "mounted "+c.Source()+" on "+c.MountPoint)
	})
	st.Set(podstate.Stopping, "unmounting "+c.MountPoint)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.stopTimeout())
	defer cancel()
	err := lustre.UnmountClient(sctx, run, c)
	if err == nil {
		cfg.ClientMetrics.Mounted(c.FSName, c.MountPoint, false, false)
	}
	if errors.Is(err, lustre.ErrBusy) {
		log.Warn("client mount is in use; left mounted", "mountPoint", c.MountPoint)
		return nil
	}
	return err
}
