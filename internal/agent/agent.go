// Package agent holds the long-running loops of the entrypoint binaries:
// keep DRBD resources up, serve a target, keep a client mount. Each loop
// acts only through host steps on a host.Runner and reports through a
// Status, so tests run them unchanged against hostsim.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

// Status receives state changes (entry.Reporter in the binaries).
type Status interface {
	Set(state, msg string)
}

// States, as the entry package names them.
const (
	Starting = "starting"
	Ready    = "ready"
	Stopping = "stopping"
	Failed   = "failed"
)

// Config tunes the loops; zero values take the defaults.
type Config struct {
	Interval    time.Duration // between reconciles / health checks; default 10s
	StopTimeout time.Duration // bound on the stop sequence after SIGTERM; default 100s
}

func (c Config) interval() time.Duration {
	if c.Interval <= 0 {
		return 10 * time.Second
	}
	return c.Interval
}

func (c Config) stopTimeout() time.Duration {
	if c.StopTimeout <= 0 {
		return 100 * time.Second
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
	every(ctx, cfg.interval(), func() {
		var errs []error
		for _, r := range res {
			rep, err := drbd.Ensure(ctx, run, r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
				continue
			}
			if rep.CreatedMD || rep.BroughtUp || rep.ConfigWritten {
				log.Info("drbd resource reconciled", "resource", r.Name, "createdMetadata", rep.CreatedMD,
					"broughtUp", rep.BroughtUp, "configWritten", rep.ConfigWritten, "state", rep.State.String())
			}
		}
		if len(errs) > 0 {
			st.Set(Failed, errors.Join(errs...).Error())
			return
		}
		st.Set(Ready, fmt.Sprintf("%d resource(s) up", len(res)))
	})
	st.Set(Stopping, "agent stopped; resources left up")
}

// Target serves one target until ctx ends, then stops it: start (retried
// until it succeeds, each step idempotent), watch the mount, and on
// cancellation unmount, export and demote. The error is the stop's: the
// binary exits non-zero when any stop step failed, so the failure is seen.
func Target(ctx context.Context, run host.Runner, s lustre.Server, st Status, log *slog.Logger, cfg Config) error {
	started := false
	every(ctx, cfg.interval(), func() {
		if started {
			mounted, err := lustre.IsMounted(ctx, run, s.Target.MountPoint)
			if err == nil && mounted {
				st.Set(Ready, "serving "+s.Target.Svname())
				return
			}
			started = false
			st.Set(Failed, fmt.Sprintf("%s no longer mounted (err: %v); starting again", s.Target.MountPoint, err))
		}
		rep, err := lustre.Start(ctx, run, s)
		if err != nil {
			if ctx.Err() == nil {
				st.Set(Starting, "start: "+err.Error())
			}
			return
		}
		started = true
		log.Info("target started", "target", s.Target.Svname(), "initialSync", rep.InitialSync, "createdPool", rep.CreatedPool,
			"imported", rep.Imported, "formatted", rep.Formatted, "mounted", rep.Mounted, "drbd", rep.DRBD.String())
		st.Set(Ready, "serving "+s.Target.Svname())
	})
	st.Set(Stopping, "stopping "+s.Target.Svname())
	// ctx is done: the stop gets its own bounded context.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.stopTimeout())
	defer cancel()
	if err := lustre.Stop(sctx, run, s); err != nil {
		st.Set(Failed, "stop: "+err.Error())
		return err
	}
	log.Info("target stopped", "target", s.Target.Svname())
	return nil
}

// Client keeps the filesystem mounted until ctx ends, then unmounts it only
// if nothing uses it: a busy mount stays, and the stop says so.
func Client(ctx context.Context, run host.Runner, c lustre.Client, networks []string, st Status, log *slog.Logger, cfg Config) error {
	every(ctx, cfg.interval(), func() {
		if err := lustre.EnsureModules(ctx, run, lustre.ClientModules); err != nil {
			st.Set(Failed, err.Error())
			return
		}
		if err := lustre.ConfigureLNet(ctx, run, networks); err != nil {
			st.Set(Failed, err.Error())
			return
		}
		mounted, err := lustre.MountClient(ctx, run, c)
		if err != nil {
			if ctx.Err() == nil {
				st.Set(Starting, "mount: "+err.Error())
			}
			return
		}
		if mounted {
			log.Info("client mounted", "source", c.Source(), "mountPoint", c.MountPoint)
		}
		st.Set(Ready, "mounted "+c.Source()+" on "+c.MountPoint)
	})
	st.Set(Stopping, "unmounting "+c.MountPoint)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.stopTimeout())
	defer cancel()
	err := lustre.UnmountClient(sctx, run, c)
	if errors.Is(err, lustre.ErrBusy) {
		log.Warn("client mount is in use; left mounted", "mountPoint", c.MountPoint)
		return nil
	}
	return err
}
