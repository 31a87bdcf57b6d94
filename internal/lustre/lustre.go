// Package lustre holds the idempotent Lustre steps (format a ZFS dataset as
// a target, mount and unmount targets and clients, LNet, kernel modules)
// and the orchestration of one HA target on its node: Start and Stop.
package lustre

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/mountinfo"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Target types.
const (
	MGS = "mgs"
	MDT = "mdt"
	OST = "ost"
)

// Target is one Lustre server target on a ZFS dataset.
type Target struct {
	FSName string
	Type   string // mgs, mdt or ost
	// MGS co-locates the MGS with an MDT (--mgs --mdt).
	MGS        bool
	Index      int
	Pool       string
	Dataset    string // name inside the pool, e.g. mdt0
	MountPoint string
	// MGSNodes are the MGS's NIDs, one entry per node ("10.0.0.1@tcp",
	// several NIDs of one node joined by ','); not needed by the MGS.
	MGSNodes []string
	// ServiceNodes are the NIDs of every node that may serve the target.
	ServiceNodes []string
}

var (
	fsnameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,8}$`)
	nidRE     = regexp.MustCompile(`^[A-Za-z0-9.:-]+@[a-z][a-z0-9]*$`)
	datasetRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
)

func validNIDList(s string) bool {
	for _, nid := range strings.Split(s, ",") {
		if !nidRE.MatchString(nid) {
			return false
		}
	}
	return true
}

// Validate applies the limits from the Lustre manual (host-facts.md).
func (t Target) Validate() error {
	var errs []error
	if !fsnameRE.MatchString(t.FSName) {
		errs = append(errs, fmt.Errorf("fsname %q: 1 to 8 characters from [A-Za-z0-9_-]", t.FSName))
	}
	switch t.Type {
	case MGS, MDT, OST:
	default:
		errs = append(errs, fmt.Errorf("target type %q: want mgs, mdt or ost", t.Type))
	}
	if t.MGS && t.Type != MDT && t.Type != MGS {
		errs = append(errs, fmt.Errorf("only an MDT can also run the MGS"))
	}
	if t.Index < 0 || t.Index >= 65504 {
		errs = append(errs, fmt.Errorf("index %d: must be below 65504", t.Index))
	}
	if t.Pool == "" || !datasetRE.MatchString(t.Dataset) {
		errs = append(errs, fmt.Errorf("dataset %q/%q is not valid", t.Pool, t.Dataset))
	}
	if !path.IsAbs(t.MountPoint) || path.Clean(t.MountPoint) == "/" {
		errs = append(errs, fmt.Errorf("mount point %q must be an absolute path below /", t.MountPoint))
	}
	if !t.RunsMGS() && len(t.MGSNodes) == 0 {
		errs = append(errs, fmt.Errorf("%s needs the MGS NIDs", t.Svname()))
	}
	for _, n := range append(append([]string(nil), t.MGSNodes...), t.ServiceNodes...) {
		if !validNIDList(n) {
			errs = append(errs, fmt.Errorf("NID list %q is not valid", n))
		}
	}
	return errors.Join(errs...)
}

// RunsMGS reports whether the target is the MGS or an MDT that also runs it.
func (t Target) RunsMGS() bool { return t.Type == MGS || t.MGS }

// Name returns POOL/DATASET.
func (t Target) Name() string { return t.Pool + "/" + t.Dataset }

// Svname is the target label mkfs.lustre stores, e.g. lfs1-OST000a.
func (t Target) Svname() string {
	switch t.Type {
	case MDT:
		return fmt.Sprintf("%s-MDT%04x", t.FSName, t.Index)
	case OST:
		return fmt.Sprintf("%s-OST%04x", t.FSName, t.Index)
	}
	return "MGS"
}

// MkfsArgs returns the mkfs.lustre arguments: POOL/DATASET only, never
// vdevs (mkfs.lustre would create the pool itself with -f).
func (t Target) MkfsArgs() []string {
	args := []string{"--backfstype=zfs", "--fsname=" + t.FSName}
	if t.Type != MGS {
		args = append(args, "--index="+strconv.Itoa(t.Index))
	}
	if t.RunsMGS() {
		args = append(args, "--mgs")
	}
	if t.Type != MGS {
		args = append(args, "--"+t.Type)
	}
	if !t.RunsMGS() {
		args = append(args, "--mgsnode="+strings.Join(t.MGSNodes, ":"))
	}
	for _, n := range t.ServiceNodes {
		args = append(args, "--servicenode="+n)
	}
	return append(args, t.Name())
}

// NewSvname is the label mkfs.lustre writes before the target's first
// mount registers it with the MGS: lfs1:OST0000, a colon where the
// registered label (Svname) has a dash; MGS for a bare MGS
// (lustre-facts.md).
func (t Target) NewSvname() string {
	return strings.Replace(t.Svname(), "-", ":", 1)
}

// Formatted reports whether the dataset is already this Lustre target,
// from its lustre:svname property in either form real Lustre writes: new
// (lfs1:OST0000, formatted but never mounted) or registered
// (lfs1-OST0000). Only a dataset ZFS says does not exist, or one whose
// property is unset ('-'), counts as unformatted; a target with another
// label is an error (wrong dataset), and a failed probe is an error, never
// "unformatted". Never the lustre:flags bits: the 0x20 (virgin) bit stays
// set after registration.
func Formatted(ctx context.Context, run host.Runner, t Target) (bool, error) {
	_, formatted, err := label(ctx, run, t)
	return formatted, err
}

// label reads lustre:svname: the value, and whether it is this target.
func label(ctx context.Context, run host.Runner, t Target) (string, bool, error) {
	v, exists, err := zfs.Get(ctx, run, t.Name(), "lustre:svname")
	switch {
	case err != nil:
		return "", false, err
	case !exists || v == "-":
		return "", false, nil
	case v != t.Svname() && v != t.NewSvname():
		return v, false, fmt.Errorf("%s is already Lustre target %s, not %s", t.Name(), v, t.Svname())
	}
	return v, true, nil
}

// EnsureFormatted runs mkfs.lustre unless the dataset is already this
// target, and only if may (nil: always) allows it. It reports whether it
// formatted.
func EnsureFormatted(ctx context.Context, run host.Runner, t Target, may func(context.Context) error) (bool, error) {
	if err := t.Validate(); err != nil {
		return false, err
	}
	done, err := Formatted(ctx, run, t)
	if err != nil || done {
		return false, err
	}
	if may != nil {
		if err := may(ctx); err != nil {
			return false, err
		}
	}
	if _, err := host.Run(ctx, run, "mkfs.lustre", t.MkfsArgs()...); err != nil {
		return false, err
	}
	return true, nil
}

// IsMounted reports whether anything is mounted at dir, from the host's
// mount table (mountinfo.At); a dir that does not exist is not mounted.
func IsMounted(ctx context.Context, run host.Runner, dir string) (bool, error) {
	_, found, err := mountinfo.At(ctx, run, dir)
	return found, err
}

// mountSource mounts src on dir with -t lustre unless dir is mounted.
func mountSource(ctx context.Context, run host.Runner, src, dir string, opts []string) (bool, error) {
	mounted, err := IsMounted(ctx, run, dir)
	if err != nil || mounted {
		return false, err
	}
	if _, err := host.Run(ctx, run, "mkdir", "-p", dir); err != nil {
		return false, err
	}
	args := []string{"-t", "lustre"}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	if _, err := host.Run(ctx, run, "mount", append(args, src, dir)...); err != nil {
		return false, err
	}
	return true, nil
}

// ErrBusy means something still uses a mount, so it was left mounted.
var ErrBusy = errors.New("mount is busy")

// Unmount unmounts dir if mounted. It never uses lazy (-l) or forced (-f)
// unmounts: a busy mount stays, and ErrBusy says so.
func Unmount(ctx context.Context, run host.Runner, dir string) error {
	mounted, err := IsMounted(ctx, run, dir)
	if err != nil || !mounted {
		return err
	}
	_, err = host.Run(ctx, run, "umount", dir)
	if host.ExitedWith(err, 32, "target is busy") {
		return fmt.Errorf("unmount %s: %w: %w", dir, ErrBusy, err)
	}
	return err
}

// MountTarget mounts a formatted target on its mount point. The first
// mount of a new target registers it with the MGS and fails (after about
// a minute, ETIMEDOUT) while the MGS does not answer; the error then says
// so, and the caller retries: the target stays new until a mount succeeds.
func MountTarget(ctx context.Context, run host.Runner, t Target) (bool, error) {
	mounted, err := mountSource(ctx, run, t.Name(), t.MountPoint, nil)
	if err != nil && !t.RunsMGS() {
		// The attempt's context may be what ended the mount: ask anyway.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if v, _, lerr := label(lctx, run, t); lerr == nil && v == t.NewSvname() {
			return false, fmt.Errorf("first mount of %s registers it with the MGS at %s, which did not answer (is the MGS target up?): %w",
				t.Svname(), strings.Join(t.MGSNodes, ":"), err)
		}
	}
	return mounted, err
}

// Client is a client mount of a filesystem.
type Client struct {
	MGSNodes   []string
	FSName     string
	Subdir     string // optional fileset, without leading '/'
	MountPoint string
	Options    []string
}

// Source returns MGSNIDS:/fsname[/subdir].
func (c Client) Source() string {
	s := strings.Join(c.MGSNodes, ":") + ":/" + c.FSName
	if c.Subdir != "" {
		s += "/" + strings.Trim(c.Subdir, "/")
	}
	return s
}

// Validate checks the client parameters.
func (c Client) Validate() error {
	var errs []error
	if !fsnameRE.MatchString(c.FSName) {
		errs = append(errs, fmt.Errorf("fsname %q is not valid", c.FSName))
	}
	if len(c.MGSNodes) == 0 {
		errs = append(errs, errors.New("client needs the MGS NIDs"))
	}
	for _, n := range c.MGSNodes {
		if !validNIDList(n) {
			errs = append(errs, fmt.Errorf("NID list %q is not valid", n))
		}
	}
	if !path.IsAbs(c.MountPoint) || path.Clean(c.MountPoint) == "/" {
		errs = append(errs, fmt.Errorf("mount point %q must be an absolute path below /", c.MountPoint))
	}
	for _, o := range c.Options {
		if o == "" || strings.ContainsAny(o, ", \t") {
			errs = append(errs, fmt.Errorf("mount option %q is not valid", o))
		}
	}
	return errors.Join(errs...)
}

// MountClient mounts the filesystem unless already mounted.
func MountClient(ctx context.Context, run host.Runner, c Client) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	return mountSource(ctx, run, c.Source(), c.MountPoint, c.Options)
}

// UnmountClient unmounts the client only if nothing uses it (ErrBusy
// otherwise).
//
// Bind mounts of the filesystem's directories elsewhere (volumes the CSI
// driver published to pods) count as use too: umount(2) of the client
// mount would succeed and leave them working, but the node could publish
// no further volume until the client came back.
func UnmountClient(ctx context.Context, run host.Runner, c Client) error {
	ms, err := mountinfo.Read(ctx, run)
	if err != nil {
		return fmt.Errorf("unmount %s: reading the mount table: %w", c.MountPoint, err)
	}
	if top, found := mountinfo.Top(ms, c.MountPoint); found && top.FSType == "lustre" {
		var others []string
		for _, m := range ms {
			if m.FSType == "lustre" && m.Dev == top.Dev && m.MountPoint != c.MountPoint {
				others = append(others, m.MountPoint)
			}
		}
		if len(others) > 0 {
			return fmt.Errorf("unmount %s: %w: the filesystem is also mounted at %s (published volumes)",
				c.MountPoint, ErrBusy, strings.Join(others, ", "))
		}
	}
	return Unmount(ctx, run, c.MountPoint)
}

// IsLustreMount reports whether what a path at dir reaches is a Lustre
// mount (a directory that merely exists, or another filesystem mounted
// over the client, is not).
func IsLustreMount(ctx context.Context, run host.Runner, dir string) (bool, error) {
	m, found, err := mountinfo.At(ctx, run, dir)
	return found && m.FSType == "lustre", err
}
