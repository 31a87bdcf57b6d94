package hostsim

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// The real tools take time where it matters to the steps: an import of a
// multihost pool another host used waits for the MMP activity check, a
// mount of a new target waits for its MGS before it times out. hostsim
// makes a command wait the real duration times the world's TimeScale, with
// the world unlocked (other commands, on this host or others, go on), and
// a command's context ends the wait as a killed process would end it:
// nothing happens. A writer on frozen DRBD I/O blocks (polling) until I/O
// resumes or its context ends, as the real writer sits in D state.

// DefaultTimeScale is a new world's: a minute of real time takes 0.6 s.
const DefaultTimeScale = 0.01

// Real durations from the reference facts.
const (
	// mount.lustre of a new target whose MGS does not answer fails with
	// ETIMEDOUT after about 62 s (lustre-facts.md).
	mgsMountTimeout = 62 * time.Second
	// umount of a server target (an MDT, lustre-facts.md): Lustre flushes
	// and disconnects its clients first.
	targetUmount = 10 * time.Second
	// ZFS's default zfs_multihost_interval (ms) and
	// zfs_multihost_import_intervals.
	defaultMMPIntervalMS   = 1000
	defaultImportIntervals = 20
	// frozenPoll is how often a blocked writer looks again.
	frozenPoll = 10 * time.Millisecond
	frozenWhy  = "I/O suspended by DRBD fencing on "
)

// SetTimeScale sets how fast modelled durations pass: 1 is real time, 0
// makes every command immediate.
func (w *World) SetTimeScale(f float64) error {
	if f < 0 {
		return fmt.Errorf("hostsim: time scale %v: must be 0 or more", f)
	}
	return w.update(func(st *state) error { st.TimeScale = f; return nil })
}

// scaled converts a real duration to the world's time.
func (st *state) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * st.TimeScale)
}

// moduleParam reads a module parameter the host has set
// (/sys/module/MOD/parameters/NAME), or def when unset or not a number.
func (h *hostState) moduleParam(mod, name string, def int) int {
	b, found := h.Files["/sys/module/"+mod+"/parameters/"+name]
	if !found {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v <= 0 {
		return def
	}
	return v
}

// zfsParamDir is where the zfs module shows its parameters.
const zfsParamDir = "/sys/module/zfs/parameters"

// zfsParamDefaults is what loading the zfs module shows: the MMP
// parameters at ZFS's defaults (they reset with every load, so at boot).
func (h *hostState) zfsParamDefaults() {
	for d := zfsParamDir; d != "/"; d = path.Dir(d) {
		h.Dirs[d] = true
	}
	for name, v := range map[string]int{
		"zfs_multihost_interval": defaultMMPIntervalMS, "zfs_multihost_import_intervals": defaultImportIntervals,
		"zfs_multihost_fail_intervals": 10,
	} {
		h.Files[zfsParamDir+"/"+name] = []byte(strconv.Itoa(v) + "\n")
	}
}

// mmpActivityCheck is how long `zpool import` of a multihost pool that
// another host left active watches for that host's MMP writes: the import
// intervals times the interval, plus one interval of slack (the VM suite
// measured 20 to 25 s at the defaults).
func (h *hostState) mmpActivityCheck() time.Duration {
	iv := h.moduleParam("zfs", "zfs_multihost_interval", defaultMMPIntervalMS)
	n := h.moduleParam("zfs", "zfs_multihost_import_intervals", defaultImportIntervals)
	return time.Duration(iv*(n+1)) * time.Millisecond
}

// pause says, with the world locked, whether c must wait before it runs,
// how long (scaled) and why. A frozen-device block is re-checked after
// each poll; a timed wait happens once (waited).
func (st *state) pause(h *hostState, c host.Cmd, waited bool) (time.Duration, string) {
	t, found := tools[c.Name]
	if !found {
		return 0, ""
	}
	if effectOf(c) == writesStorage {
		if dev := st.frozenDevice(h, c); dev != "" {
			return frozenPoll, frozenWhy + dev
		}
	}
	if waited {
		return 0, ""
	}
	if d := st.delayFor(h.Name, c.Argv()); d > 0 {
		return d, "delayed by a test (World.Delay)"
	}
	if t.wait == nil || st.TimeScale == 0 {
		return 0, ""
	}
	d, why := t.wait(st, h, c)
	return st.scaled(d), why
}

// InterruptedError is a command whose context ended while it waited
// (timing.go): it did nothing. Frozen says it was a writer blocked on
// frozen DRBD I/O, which on a real host sits in D state until I/O resumes.
type InterruptedError struct {
	Cmd, Host, Why string
	After          time.Duration
	Frozen         bool
	Err            error // the context's
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%s on %s: interrupted after %s (%s): %v", e.Cmd, e.Host, e.After.Round(time.Millisecond), e.Why, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// BlockedOnFrozenIO reports whether err is a writer that was still blocked
// on frozen DRBD I/O when its context ended.
func BlockedOnFrozenIO(err error) bool {
	var ie *InterruptedError
	return errors.As(err, &ie) && ie.Frozen
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// zpoolWait: `zpool import [-f] POOL` of a multihost pool that another
// host left active (it crashed, or still runs it) first watches the pool
// for that host's MMP writes, with or without -f (make e2e-vm measured 20
// to 25 s at ZFS's defaults).
func zpoolWait(st *state, h *hostState, c host.Cmd) (time.Duration, string) {
	if len(c.Args) < 2 || c.Args[0] != "import" {
		return 0, ""
	}
	z, msg := parseZfsArgs(c.Args[1:], "oOdmR")
	if msg != "" || len(z.pos) == 0 {
		return 0, ""
	}
	dev, found := st.scan(h, z.d)[z.pos[0]]
	if !found {
		return 0, ""
	}
	d, _, _ := st.openDev(h, dev)
	if d == nil || d.Pool == nil || !d.Pool.Multihost || !d.Pool.Active || d.Pool.HostID == h.hostID() {
		return 0, ""
	}
	return h.mmpActivityCheck(), "MMP activity check of " + z.pos[0]
}

// mountWait: mount.lustre of a server target waits for its MGS; one that
// does not answer fails with ETIMEDOUT after about 62 s (lustre-facts.md).
// A target that runs the MGS itself does not wait.
func mountWait(st *state, h *hostState, c host.Cmd) (time.Duration, string) {
	if src, isTarget := targetMountSource(c); isTarget {
		props, _, _, exists := st.dataset(h, src)
		if exists && props["lustre:svname"] != "" && !st.mgsAnswers(h, props) {
			return mgsMountTimeout, "mount of " + src + " waiting for its MGS"
		}
	}
	return 0, ""
}

// umountWait: unmounting a server target takes time (10 s for an MDT
// under emulation, lustre-facts.md); a busy mount fails at once.
func umountWait(st *state, h *hostState, c host.Cmd) (time.Duration, string) {
	if len(c.Args) != 1 {
		return 0, ""
	}
	if i := h.mountAt(c.Args[0]); i >= 0 && h.Mounts[i].Svname != "" && !h.Mounts[i].Busy {
		return targetUmount, "unmount of " + h.Mounts[i].Svname
	}
	return 0, ""
}
