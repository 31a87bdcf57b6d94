package hostsim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// A new OST mounted while its MGS is down waits for it (62 s real time,
// scaled) and then fails with ETIMEDOUT, keeping its new label; once the
// MGS serves, the same mount registers it (lustre-facts.md).
func TestNewTargetMountWaitsForItsMGS(t *testing.T) {
	t.Parallel()
	w := stonithConfig(t)
	lustreReady(t, w)
	mkfsOST := []string{"mkfs.lustre", "--backfstype=zfs", "--fsname=lfs1", "--index=0", "--ost", "--mgsnode=10.0.0.1@tcp", "--servicenode=10.0.0.1@tcp", "--servicenode=10.0.0.2@tcp", "p0/ost0"}
	steps(t, w, "s1", mkfsMDT, mkfsOST, []string{"mkdir", "-p", "/mnt/ost0", "/mnt/mdt0"})
	mountOST := cmd("mount", "-t", "lustre", "p0/ost0", "/mnt/ost0")
	label := cmd("zfs", "get", "-H", "-o", "value", "lustre:svname", "p0/ost0")

	// Interrupted while it waits: nothing happened.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := w.Host("s1").Run(ctx, mountOST)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for its MGS") {
		t.Fatalf("mount interrupted while its MGS is down: %v, want an interrupted wait", err)
	}
	res, err := run(w, "s1", mountOST)
	checkResult(t, res, err, 110, "", "mount.lustre: mount p0/ost0 at /mnt/ost0 failed: Connection timed out", false)
	if out := mustRun(t, w, "s1", label); out.Stdout != "lfs1:OST0000\n" {
		t.Fatalf("label after the failed first mount %q, want lfs1:OST0000", out.Stdout)
	}

	steps(t, w, "s1", []string{"mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0"}, strings.Fields("mount -t lustre p0/ost0 /mnt/ost0"))
	if out := mustRun(t, w, "s1", label); out.Stdout != "lfs1-OST0000\n" {
		t.Fatalf("label after the first mount %q, want lfs1-OST0000", out.Stdout)
	}
	if out := mustRun(t, w, "s1", cmd("zfs", "get", "-H", "-o", "value", "lustre:flags", "p0/ost0")); out.Stdout != "4130\n" {
		t.Fatalf("flags after the first mount %q, want 4130", out.Stdout)
	}
	if out := mustRun(t, w, "s1", cmd("cat", "/proc/self/mountinfo")); !strings.Contains(out.Stdout, "rw,svname=lfs1-OST0000,mgsnode=10.0.0.1@tcp,osd=osd-zfs") {
		t.Fatalf("mountinfo %q", out.Stdout)
	}
}

// An import of a multihost pool another host left active waits for the
// MMP activity check, with and without -f, and an interrupted one imports
// nothing (make e2e-vm: 20 to 25 s at ZFS's defaults). The check's length
// follows the host's zfs module parameters.
func TestImportWaitsForTheMMPActivityCheck(t *testing.T) {
	t.Parallel()
	w := syncedUnfencedPair(t, DRBD84)
	steps(t, w, "s1", mkpool)
	must(t, w.Crash("s1"))
	steps(t, w, "s2", primary)
	must(t, w.SetTimeScale(1))
	for _, c := range []host.Cmd{cmd(importP...), cmd(append([]string{"zpool", "import", "-f"}, importP[2:]...)...)} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := w.Host("s2").Run(ctx, c)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "MMP activity check of p0") {
			t.Fatalf("%s of a pool s1 left active: %v, want an interrupted MMP wait", c, err)
		}
	}
	if res, err := run(w, "s2", cmd("zpool", "list", "-H", "-o", "name", "p0")); err == nil {
		t.Fatalf("an interrupted import imported: %q", res.Stdout)
	}
	// A short MMP interval makes the check short: -f then imports.
	mustRun(t, w, "s2", host.Cmd{Name: "tee", Args: []string{"/sys/module/zfs/parameters/zfs_multihost_interval"}, Stdin: []byte("10\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.Host("s2").Run(ctx, cmd(append([]string{"zpool", "import", "-f"}, importP[2:]...)...)); err != nil {
		t.Fatalf("zpool import -f after a 210 ms activity check: %v", err)
	}
}

// DRBD 8.4's tools find a resource through the minor its file gives now:
// a Primary running under the minor of an earlier file is "not allocated"
// to role and secondary, as on real 8.4 (drbdsetup-84 role MINOR).
func TestDRBD84FindsResourcesThroughTheFilesMinor(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD84)
	moved := strings.ReplaceAll(testRes, "minor 0;", "minor 5;")
	mustRun(t, w, "s1", host.Cmd{Name: "tee", Args: []string{"/etc/drbd.d/r0.res"}, Stdin: []byte(moved)})
	for _, sub := range []string{"role", "secondary"} {
		res, err := run(w, "s1", cmd("drbdadm", sub, "r0"))
		checkResult(t, res, err, 10, "", "5: Failure: (127) Device minor not allocated", false)
	}
	mustRun(t, w, "s1", host.Cmd{Name: "tee", Args: []string{"/etc/drbd.d/r0.res"}, Stdin: []byte(testRes)})
	if out := mustRun(t, w, "s1", cmd("drbdadm", "role", "r0")); out.Stdout != "Primary/Secondary\n" {
		t.Fatalf("role under the running minor: %q", out.Stdout)
	}
}

// World.Delay holds one command back (unscaled), then runs it; an
// interrupted one did nothing and stays pending.
func TestDelayFault(t *testing.T) {
	t.Parallel()
	w := stonithConfig(t)
	lustreReady(t, w)
	steps(t, w, "s1", mkfsMDT, []string{"mkdir", "-p", "/mnt/mdt0"})
	mount := cmd("mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0")
	must(t, w.Delay("s1", Match{Args: []string{"mount", "-t", "lustre", "p0/mdt0"}}, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := w.Host("s1").Run(ctx, mount)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed mount: %v, want interrupted", err)
	}
	if m, _ := w.Mounted("s1"); len(m) != 0 {
		t.Fatalf("an interrupted delayed mount mounted: %v", m)
	}
	must(t, w.ClearFaults())
	must(t, w.Delay("s1", Match{Args: []string{"mount", "-t", "lustre", "p0/mdt0"}}, 10*time.Millisecond))
	mustRun(t, w, "s1", mount)
	if m, _ := w.Mounted("s1"); len(m) != 1 {
		t.Fatalf("mounts after the delayed mount: %v", m)
	}
}
