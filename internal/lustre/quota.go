package lustre

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Project quotas on a client mount: a directory tree tagged with a project
// ID (and the inherit flag, so that everything created below it gets the
// same ID) is accounted to that ID, and the quota master enforces the
// limits set with lfs setquota -p, once enforcement is enabled on the
// servers (quota_slave.enabled containing "p"; for root also
// quota_slave.root_prj_enable=1, Lustre 2.16+).

// ProjectOf returns the project ID of dir and whether it has the inherit
// flag, from `lfs project -d DIR` (" 1001 P /mnt/lfs1/vol").
func ProjectOf(ctx context.Context, run host.Runner, dir string) (id uint32, inherit bool, err error) {
	res, err := host.Run(ctx, run, "lfs", "project", "-d", dir)
	if err != nil {
		return 0, false, err
	}
	f := strings.Fields(res.Stdout)
	if len(f) < 3 || (f[1] != "P" && f[1] != "-") {
		return 0, false, fmt.Errorf("lfs project -d %s: unexpected output %q", dir, res.Stdout)
	}
	n, perr := strconv.ParseUint(f[0], 10, 32)
	if perr != nil {
		return 0, false, fmt.Errorf("lfs project -d %s: unexpected project ID %q", dir, f[0])
	}
	return uint32(n), f[1] == "P", nil
}

// SetProject tags dir (and what is directly in it) with project id and the
// inherit flag.
func SetProject(ctx context.Context, run host.Runner, dir string, id uint32) error {
	_, err := host.Run(ctx, run, "lfs", "project", "-p", strconv.FormatUint(uint64(id), 10), "-s", dir)
	return err
}

// Limits are a project's quota limits; 0 is "no limit".
type Limits struct {
	BlockSoftKiB, BlockHardKiB uint64
	InodeSoft, InodeHard       uint64
}

// Quota is a project's usage and limits as lfs quota reports them.
type Quota struct {
	UsedKiB, Inodes uint64
	Limits
}

// SetProjectQuota sets all four limits of project id on the filesystem
// mounted at mount. Sizes are passed in KiB, lfs's unit for block limits.
func SetProjectQuota(ctx context.Context, run host.Runner, mount string, id uint32, l Limits) error {
	if id == 0 {
		return fmt.Errorf("project 0 is the default project of every file: refusing to limit it")
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	_, err := host.Run(ctx, run, "lfs", "setquota", "-p", u(uint64(id)),
		"-b", u(l.BlockSoftKiB), "-B", u(l.BlockHardKiB), "-i", u(l.InodeSoft), "-I", u(l.InodeHard), mount)
	return err
}

// ProjectQuota reads project id's usage and limits with `lfs quota -p ID
// MOUNT`.
func ProjectQuota(ctx context.Context, run host.Runner, mount string, id uint32) (Quota, error) {
	res, err := host.Run(ctx, run, "lfs", "quota", "-p", strconv.FormatUint(uint64(id), 10), mount)
	if err != nil {
		return Quota{}, err
	}
	q, err := ParseProjectQuota(res.Stdout)
	if err != nil {
		return Quota{}, fmt.Errorf("lfs quota -p %d %s: %w", id, mount, err)
	}
	return q, nil
}

// ParseProjectQuota reads the output of lfs quota without -h:
//
//	Disk quotas for prj 1001 (pid 1001):
//	     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
//	      /mnt/lfs1       4       0 1048576       -       1       0       0       -
//
// A filesystem name longer than 15 characters is printed on its own line
// with the numbers on the next. A '*' after a usage marks it over a limit.
// A value in brackets is one lfs could not read from every target: that
// is an error here, since a capacity must never be guessed.
func ParseProjectQuota(out string) (Quota, error) {
	lines := strings.Split(out, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "Disk quotas for prj ") {
			start = i
			break
		}
	}
	if start < 0 || start+1 >= len(lines) || !strings.Contains(lines[start+1], "Filesystem") {
		return Quota{}, fmt.Errorf("no project quota table in %q", out)
	}
	var tok []string
	for _, l := range lines[start+2:] {
		tok = append(tok, strings.Fields(l)...)
		if len(tok) >= 9 {
			break
		}
	}
	if len(tok) < 9 {
		return Quota{}, fmt.Errorf("short project quota row in %q", out)
	}
	var n [8]uint64
	for i, s := range tok[1:9] {
		if i == 3 || i == 7 {
			continue // grace
		}
		if strings.HasPrefix(s, "[") {
			return Quota{}, fmt.Errorf("lfs could not read every target (value %s is inaccurate): check that all MDTs and OSTs are up", s)
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(s, "*"), 10, 64)
		if err != nil {
			return Quota{}, fmt.Errorf("unexpected value %q in %q", s, out)
		}
		n[i] = v
	}
	return Quota{UsedKiB: n[0], Inodes: n[4], Limits: Limits{BlockSoftKiB: n[1], BlockHardKiB: n[2], InodeSoft: n[5], InodeHard: n[6]}}, nil
}

// ProjectQuotaParams are the permanent parameters (lctl set_param -P on the
// MGS) that make the servers of fsname enforce project quotas: on every OST
// (blocks) and MDT (inodes), and with forRoot also for root, which is
// otherwise exempt (CAP_SYS_RESOURCE; root_prj_enable is Lustre 2.16+).
func ProjectQuotaParams(fsname string, forRoot bool) []string {
	base := "osd-*." + fsname + "-*.quota_slave."
	ps := []string{base + "enabled=p"}
	if forRoot {
		ps = append(ps, base+"root_prj_enable=1")
	}
	return ps
}

// SetPermanent records NAME=VALUE parameters in the MGS configuration with
// `lctl set_param -P`; it runs on the MGS node while the MGS is mounted.
// Setting a parameter again replaces its value, so repeating it on every
// MGS start is harmless.
func SetPermanent(ctx context.Context, run host.Runner, params []string) error {
	for _, p := range params {
		if _, err := host.Run(ctx, run, "lctl", "set_param", "-P", p); err != nil {
			return fmt.Errorf("lctl set_param -P %s: %w", p, err)
		}
	}
	return nil
}
