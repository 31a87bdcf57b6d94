// Package mountinfo reads a host's /proc/self/mountinfo (proc(5)). Unlike
// /proc/mounts it tells which directory of a filesystem a mount shows
// (root), so a bind mount of a subdirectory can be told from the
// filesystem's own mount, and which mounts share a filesystem (device).
//
// It is the only way kube-lustre asks what is mounted where (At): one
// parser, read through a host.Runner, so the answer is the same through
// nsenter, on a VM agent and on simulated hosts, and no probe (mountpoint,
// /proc/mounts, statfs) can disagree with another.
package mountinfo

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Mount is one line of mountinfo.
type Mount struct {
	ID, Parent int
	Dev        string // major:minor of the filesystem
	Root       string // directory of the filesystem shown at MountPoint
	MountPoint string
	Options    string // per-mount options (ro/rw, ...)
	FSType     string
	Source     string
	SuperOpts  string
}

// ReadOnly reports whether the mount itself is read-only.
func (m Mount) ReadOnly() bool {
	for _, o := range strings.Split(m.Options, ",") {
		if o == "ro" {
			return true
		}
	}
	return false
}

// Read returns the host's mount table. Through nsenter, cat runs in the
// host's mount namespace, so /proc/self is the host's view.
func Read(ctx context.Context, run host.Runner) ([]Mount, error) {
	res, err := host.Run(ctx, run, "cat", "/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return Parse(res.Stdout)
}

// At returns the mount a path at mountPoint reaches (the topmost of those
// stacked there), and whether there is one. The mount table answers even
// when the filesystem does not (a Lustre client whose servers are gone
// still shows, so it can be unmounted); a path that does not exist is
// simply not mounted. An error means the table could not be read: the
// answer is unknown, never "not mounted".
func At(ctx context.Context, run host.Runner, mountPoint string) (Mount, bool, error) {
	ms, err := Read(ctx, run)
	if err != nil {
		return Mount{}, false, err
	}
	m, found := Top(ms, path.Clean(mountPoint))
	return m, found, nil
}

// Parse parses mountinfo text.
func Parse(text string) ([]Mount, error) {
	var out []Mount
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+3 > len(f) {
			return nil, fmt.Errorf("mountinfo: malformed line %q", line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo: malformed line %q", line)
		}
		m := Mount{ID: id, Parent: parent, Dev: f[2], Root: unescape(f[3]), MountPoint: unescape(f[4]), Options: f[5],
			FSType: f[sep+1], Source: unescape(f[sep+2])}
		if sep+3 < len(f) {
			m.SuperOpts = f[sep+3]
		}
		out = append(out, m)
	}
	return out, nil
}

// unescape undoes the kernel's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Top returns the topmost mount at mountPoint: the one a path there
// reaches when several are stacked.
func Top(ms []Mount, mountPoint string) (Mount, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].MountPoint == mountPoint {
			return ms[i], true
		}
	}
	return Mount{}, false
}
