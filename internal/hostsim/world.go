// Package hostsim simulates the nodes kube-lustre drives: block devices with
// signatures, DRBD resources replicating between two hosts, ZFS pools with
// multihost protection, Lustre targets and clients, LNet and kernel modules.
// Each simulated host is a host.Runner that prints what the real tools print
// and refuses what they refuse (see /work/shared/reference/*.md for the
// behaviour observed on real kernels).
//
// A World lives in a directory: one JSON state file guarded by flock(2),
// loaded and saved around every command, so that several processes (pods of
// one node, the two nodes of a DRBD pair) share one consistent world.
package hostsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// DRBD kernel flavours a world can simulate. drbd-utils 9 drives both, but
// `drbdadm status` and `drbdadm role` print differently.
const (
	DRBD84 = "8.4"
	DRBD9  = "9"
)

// ErrHostDown is returned by a crashed host, as a lost node would fail the
// command (the caller never learns whether it ran).
var ErrHostDown = errors.New("hostsim: host is down")

// World is a set of simulated hosts sharing one state directory.
type World struct {
	dir string

	// Decoding the state is most of a command's cost once a filesystem
	// holds thousands of CSI volumes, so the World keeps the state it last
	// saved, with the exact bytes it wrote. A load that reads those same
	// bytes back (no other process changed the world since) reuses it
	// instead of decoding them again. Byte equality, not a timestamp,
	// decides: the reused state is exactly what decoding would give.
	mu        sync.Mutex
	cached    *state
	cachedRaw []byte
}

// Open opens (creating if needed) the world stored in dir.
func Open(dir string) (*World, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w := &World{dir: dir}
	err := w.update(func(st *state) error { return nil })
	return w, err
}

// VerifyReadOnly makes every command hostsim treats as read-only prove
// that it changed nothing. It is on in every test binary, so the list in
// readOnly is checked by every test that runs a command.
var VerifyReadOnly = testing.Testing()

// hostOf returns the named host or an error naming it.
func (st *state) hostOf(name string) (*hostState, error) {
	h, ok := st.Hosts[name]
	if !ok {
		return nil, fmt.Errorf("hostsim: no host %q", name)
	}
	return h, nil
}

// HostConfig describes a host added to the world.
type HostConfig struct {
	// Interfaces maps interface name to IPv4 address, e.g. eth1 -> 10.0.0.1.
	Interfaces map[string]string
	// Modules available to modprobe; nil means every module kube-lustre
	// needs (drbd, zfs, lnet, lustre, osd_zfs and their dependencies).
	// These are the modules the kernel ships; installing a package adds
	// those PackageModules lists for it.
	Modules []string
	// OSRelease is the content of /etc/os-release; "" means Debian 12. It
	// decides which package tools exist: apt-get and dpkg-query on Debian
	// and Ubuntu, dnf and rpm on EL.
	OSRelease string
	// Repository is what the host's configured package repositories offer:
	// package -> available versions, oldest first (an unpinned install
	// takes the last). nil: nothing is available.
	Repository map[string][]string
	// Packages are installed from the start: package -> version. Their
	// PackageModules are available too.
	Packages map[string]string
	// Masked are systemd units masked from the start, as a provisioned
	// server masks the ZFS boot-time pool scan (the VM guests' image
	// does; a stock host has it enabled).
	Masked []string
}

// DefaultModules are the kernel modules a fully provisioned server has.
var DefaultModules = []string{"drbd", "lru_cache", "zfs", "spl", "libcfs", "lnet", "ksocklnd", "obdclass", "ptlrpc", "lustre", "osd_zfs", "mgs", "mdt", "ost"}

// AddHost adds a booted host with no disks.
func (w *World) AddHost(name string, cfg HostConfig) error {
	return w.update(func(st *state) error {
		if _, ok := st.Hosts[name]; ok {
			return fmt.Errorf("hostsim: host %q exists", name)
		}
		mods := cfg.Modules
		if mods == nil {
			mods = DefaultModules
		}
		h := newHost(name)
		h.Available = append([]string(nil), mods...)
		for k, v := range cfg.Interfaces {
			h.Interfaces[k] = v
		}
		osRelease := cfg.OSRelease
		if osRelease == "" {
			osRelease = OSReleaseDebian12
		}
		h.Files["/etc/os-release"] = []byte(osRelease)
		setRepository(h, cfg.Repository)
		for _, p := range sortedKeys(cfg.Packages) {
			h.install(p, cfg.Packages[p])
		}
		h.addZFSUnits()
		for _, u := range cfg.Masked {
			h.maskUnit(u)
		}
		st.Hosts[name] = h
		return nil
	})
}

// setRepository replaces what a host's repositories offer, copying repo
// and dropping packages without versions (apt and dnf know no such thing).
func setRepository(h *hostState, repo map[string][]string) {
	h.Repo = map[string][]string{}
	for p, vs := range repo {
		if len(vs) > 0 {
			h.Repo[p] = append([]string(nil), vs...)
		}
	}
}

// SetRepository replaces what a host's package repositories offer, as an
// administrator adding or removing a repository would.
func (w *World) SetRepository(hostName string, repo map[string][]string) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		setRepository(h, repo)
		return nil
	})
}

// Packages returns the packages installed on a host: package -> version.
func (w *World) Packages(hostName string) (map[string]string, error) {
	var out map[string]string
	err := w.view(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		out = copyProps(h.Packages)
		return nil
	})
	return out, err
}

// SetDRBDVersion selects the simulated DRBD kernel (DRBD84 or DRBD9).
func (w *World) SetDRBDVersion(v string) error {
	if v != DRBD84 && v != DRBD9 {
		return fmt.Errorf("hostsim: unknown DRBD version %q", v)
	}
	return w.update(func(st *state) error { st.DRBDVersion = v; return nil })
}

// SetSyncPolls makes every resync take n status queries (drbdadm
// status/dstate/cstate/role on either side) to finish; 0 means instant.
func (w *World) SetSyncPolls(n int) error {
	return w.update(func(st *state) error { st.SyncPolls = n; return nil })
}

// AddDisk adds a blank block device to a host. A path under /dev/disk/
// is a udev name: the disk gets the next kernel name (sdb, sdc, ...) and
// the path links to it.
func (w *World) AddDisk(hostName, path string, size int64) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		if _, ok := h.Disks[h.dev(path)]; ok {
			return fmt.Errorf("hostsim: %s already has %s", hostName, path)
		}
		if strings.HasPrefix(path, udevRoot) {
			k := h.kernelDiskName()
			h.Links[path] = k
			path = k
		}
		h.Disks[path] = &disk{Size: size}
		return nil
	})
}

// RemoveDisk takes a disk out of a host, as pulling it does: its
// partitions and udev names go with it. The host must be down (a
// running resource or pool on it would be left without its device).
func (w *World) RemoveDisk(hostName, path string) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		if !h.Down {
			return fmt.Errorf("hostsim: %s is up; crash it before pulling %s", hostName, path)
		}
		k := h.dev(path)
		if _, ok := h.Disks[k]; !ok {
			return fmt.Errorf("hostsim: %s has no disk %s", hostName, path)
		}
		for name, d := range h.Disks {
			if name == k || (d.Part != nil && d.Part.Disk == k) {
				delete(h.Disks, name)
			}
		}
		for l, to := range h.Links {
			if to == k {
				delete(h.Links, l)
			}
		}
		return nil
	})
}

// Signature kinds SetSignature accepts.
const (
	SigNone      = ""
	SigExt4      = "ext4"
	SigXFS       = "xfs"
	SigZFSMember = "zfs_member"
	SigDRBD      = "drbd"
)

// SetSignature writes a signature onto a disk as if a previous user had
// formatted it: a filesystem, a foreign ZFS pool label, or DRBD metadata.
func (w *World) SetSignature(hostName, path, sig string) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		d, ok := h.Disks[h.dev(path)]
		if !ok {
			return fmt.Errorf("hostsim: %s has no disk %s", hostName, path)
		}
		switch sig {
		case SigNone:
			d.Data, d.MD = data{}, nil
		case SigExt4, SigXFS:
			d.Data = data{Sig: sig, UUID: st.newUUID()}
		case SigZFSMember:
			d.Data = data{Sig: sig, UUID: st.newUUID(), Pool: &pool{Name: "oldpool", GUID: st.nextID(), HostID: "0badc0de", HostName: "elsewhere", Datasets: map[string]map[string]string{"oldpool": {}}}}
		case SigDRBD:
			d.MD = &drbdMeta{UUID: st.nextID(), Base: 0, Disk: "UpToDate"}
		default:
			return fmt.Errorf("hostsim: unknown signature %q", sig)
		}
		return nil
	})
}

// SetBusy marks a mount as in use (open files), so umount says "target is
// busy", or clears the mark.
func (w *World) SetBusy(hostName, mountPoint string, busy bool) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		for i := range h.Mounts {
			if h.Mounts[i].Target == mountPoint {
				h.Mounts[i].Busy = busy
				return nil
			}
		}
		return fmt.Errorf("hostsim: %s: %s is not mounted", hostName, mountPoint)
	})
}

func linkKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "|" + b
}

// CutLink partitions the network between two hosts (DRBD replication and
// LNet both stop).
func (w *World) CutLink(a, b string) error {
	return w.update(func(st *state) error { st.Cut[linkKey(a, b)] = true; return nil })
}

// HealLink restores the network between two hosts.
func (w *World) HealLink(a, b string) error {
	return w.update(func(st *state) error { delete(st.Cut, linkKey(a, b)); return nil })
}

// Crash stops a host: it loses every volatile state (DRBD down, pools not
// imported but still marked active on disk, mounts gone, modules unloaded,
// LNet unconfigured) and fails every command until Boot.
func (w *World) Crash(hostName string) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		h.crash()
		st.events = append(st.events, LogEntry{Host: h.Name, Argv: []string{"(kernel)", "crash"}, Event: "crash"})
		return nil
	})
}

// Boot starts a crashed host again, with nothing loaded or running.
func (w *World) Boot(hostName string) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		h.Down = false
		return nil
	})
}

// Host returns the Runner of one host.
func (w *World) Host(name string) host.Runner { return &simHost{w: w, name: name} }

// LogEntry is one command as the world saw it.
type LogEntry struct {
	Host  string   `json:"host"`
	Argv  []string `json:"argv"`
	Exit  int      `json:"exit"`
	Fault string   `json:"fault,omitempty"`
	// Event marks what the kernel did rather than a command: a DRBD
	// handler call ("helper fence-peer", Argv the handler and resource,
	// Exit its code) or an I/O freeze ("io-frozen", "io-resumed").
	Event string `json:"event,omitempty"`
}

// Log returns every command run in this world so far, in order.
func (w *World) Log() ([]LogEntry, error) {
	var out []LogEntry
	err := w.view(func(*state) error {
		f, err := os.Open(filepath.Join(w.dir, "log.jsonl"))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }() // read only
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var e LogEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return sc.Err()
	})
	return out, err
}

// flushEvents logs what the kernel did during a command or a world
// change, before the command itself (a handler runs inside the command
// that triggered it). Called with the lock held.
func (w *World) flushEvents(st *state) error {
	for _, e := range st.events {
		if err := w.appendLog(e); err != nil {
			return err
		}
	}
	st.events = nil
	return nil
}

// appendLog is called with the lock held.
func (w *World) appendLog(e LogEntry) error {
	f, err := os.OpenFile(filepath.Join(w.dir, "log.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	return errors.Join(err, f.Close())
}

// simHost is the Runner of one simulated host.
type simHost struct {
	w    *World
	name string
}

// Run implements host.Runner.
func (s *simHost) Run(ctx context.Context, c host.Cmd) (host.Result, error) {
	if err := ctx.Err(); err != nil {
		return host.Result{}, fmt.Errorf("%s: not started: %w", c, err)
	}
	var st *state
	var h *hostState
	var release func(bool) error
	start, waited := time.Now(), false
	for {
		var err error
		if st, release, err = s.w.lockAndLoad(); err != nil {
			return host.Result{}, err
		}
		if h, err = st.hostOf(s.name); err != nil {
			_ = release(false) // without saving it cannot fail
			return host.Result{}, err
		}
		// A command that takes time (timing.go) waits with the world
		// unlocked; its context ends the wait, and then it did nothing.
		d, why := time.Duration(0), ""
		if !h.Down {
			d, why = st.pause(h, c, waited)
		}
		if d == 0 {
			break
		}
		_ = release(false)
		if err := sleep(ctx, d); err != nil {
			return host.Result{}, &InterruptedError{Cmd: c.String(), Host: s.name, Why: why, After: time.Since(start),
				Frozen: strings.HasPrefix(why, frozenWhy), Err: err}
		}
		waited = true
	}
	argv := c.Argv()
	entry := LogEntry{Host: s.name, Argv: argv, Exit: -1}
	if h.Down {
		entry.Fault = "down"
		s.w.appendLog(entry) //nolint:errcheck // the log is best effort for a dead host
		_ = release(false)
		return host.Result{}, fmt.Errorf("%s on %s: %w", c, s.name, ErrHostDown)
	}
	f := st.takeFault(s.name, argv)
	var res host.Result
	var runErr error
	switch {
	case f == nil:
		// Settling after a command that only reads finds the state as the
		// last save left it, settled: nothing to write. What a read sets
		// up on first use clears the mark (targetDisk).
		st.unchanged = effectOf(c) == readsOnly
		res = runCommand(st, h, c)
	case f.Kind == faultDelay:
		// Waited in the pause above: now it runs.
		st.unchanged = false
		res = runCommand(st, h, c)
	case f.Kind == faultFail:
		entry.Fault = "fail"
		res = f.Result
	case f.Kind == faultHang:
		entry.Fault = "hang"
		logErr := s.w.appendLog(entry)
		if err := release(true); err != nil {
			return host.Result{}, err
		}
		<-ctx.Done()
		return host.Result{}, errors.Join(fmt.Errorf("%s: %w", c, ctx.Err()), logErr)
	case f.Kind == faultCrashBefore:
		entry.Fault = "crash-before"
		h.crash()
		runErr = fmt.Errorf("%s on %s: %w", c, s.name, ErrHostDown)
	case f.Kind == faultCrashAfter:
		entry.Fault = "crash-after"
		res = runCommand(st, h, c)
		st.settle()
		h.crash()
		runErr = fmt.Errorf("%s on %s: %w", c, s.name, ErrHostDown)
	}
	st.settle()
	if runErr == nil {
		entry.Exit = res.ExitCode
	}
	logErr := errors.Join(s.w.flushEvents(st), s.w.appendLog(entry))
	if err := release(true); err != nil {
		return host.Result{}, err
	}
	if logErr != nil {
		return host.Result{}, logErr
	}
	if runErr != nil {
		return host.Result{}, runErr
	}
	if res.ExitCode != 0 {
		return res, &host.ExitError{Cmd: c, Result: res}
	}
	return res, nil
}

// sortedKeys returns the keys of a map in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hasPrefix reports whether argv starts with prefix.
func hasPrefix(argv, prefix []string) bool {
	if len(prefix) > len(argv) {
		return false
	}
	for i, p := range prefix {
		if argv[i] != p {
			return false
		}
	}
	return true
}

// joinLines joins lines with a trailing newline (empty for no lines).
func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
