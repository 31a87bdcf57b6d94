package hostsim

import (
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Disks named by udev (/dev/disk/by-id/...) are links to the kernel's
// devices: lsblk answers with the kernel names, blkid with the name it was
// given, ZFS's partitions are reachable as "-partN", and a disk pulled and
// replaced leaves its old name dangling while the new one may take the
// freed kernel name.
func TestUdevDiskNames(t *testing.T) {
	t.Parallel()
	const wwn, nvme = "/dev/disk/by-id/wwn-0x5000c500a1b2c301", "/dev/disk/by-id/nvme-SAMSUNG_MZQL2960HCJR_S64FNE0R800001"
	w, err := Open(t.TempDir())
	must(t, err)
	must(t, w.AddHost("s1", HostConfig{}))
	must(t, w.AddDisk("s1", wwn, 1<<30))
	must(t, w.AddDisk("s1", nvme, 1<<30))
	if err := w.AddDisk("s1", "/dev/sdb", 1<<30); err == nil {
		t.Fatal("a second disk under the kernel name the first link points to")
	}
	lsblk := func(dev string) string {
		return mustRun(t, w, "s1", cmd("lsblk", "-lnpo", "NAME,TYPE", dev)).Stdout
	}
	if got := lsblk(wwn); got != "/dev/sdb disk\n" {
		t.Fatalf("lsblk %s: %q", wwn, got)
	}
	if got := lsblk(nvme); got != "/dev/sdc disk\n" {
		t.Fatalf("lsblk %s: %q", nvme, got)
	}
	if res, err := run(w, "s1", cmd("blkid", "-p", wwn)); !host.ExitedWith(err, 2, "") || res.Stdout != "" {
		t.Fatalf("blkid on a blank disk: %+v %v", res, err)
	}
	steps(t, w, "s1", []string{"zgenhostid"}, []string{"zpool", "create", "-o", "multihost=on", "p0", wwn})
	if got := lsblk(wwn); got != "/dev/sdb disk\n/dev/sdb1 part\n/dev/sdb9 part\n" {
		t.Fatalf("lsblk after zpool create: %q", got)
	}
	got := mustRun(t, w, "s1", cmd("blkid", "-p", wwn+"-part1")).Stdout
	if want := wwn + `-part1: LABEL="p0"`; len(got) < len(want) || got[:len(want)] != want {
		t.Fatalf("blkid -p %s-part1: %q", wwn, got)
	}
	must(t, w.SetSignature("s1", nvme, SigExt4))
	if got := mustRun(t, w, "s1", cmd("wipefs", "--no-act", "/dev/sdc")).Stdout; got == "" {
		t.Fatal("a signature written through the link is not on the kernel device")
	}

	if err := w.RemoveDisk("s1", wwn); err == nil {
		t.Fatal("pulled a disk from a running host")
	}
	must(t, w.Crash("s1"))
	must(t, w.RemoveDisk("s1", wwn))
	must(t, w.Boot("s1"))
	if _, err := run(w, "s1", cmd("lsblk", "-lnpo", "NAME,TYPE", wwn+"-part1")); !host.ExitedWith(err, 32, "not a block device") {
		t.Fatalf("lsblk on a pulled disk's partition: %v", err)
	}
	const replacement = "/dev/disk/by-id/wwn-0x5000c500a1b2c399"
	must(t, w.AddDisk("s1", replacement, 1<<30)) // hot-plugged
	if got := lsblk(replacement); got != "/dev/sdb disk\n" {
		t.Fatalf("the replacement disk: %q", got)
	}
}
