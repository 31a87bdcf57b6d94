package hostsim

import (
	"fmt"
	"path"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// partPath names partition n of a disk as the kernel does: sdb1, but
// nvme0n1p1 after a name that ends in a digit.
func partPath(diskPath string, n int) string {
	if last := diskPath[len(diskPath)-1]; last >= '0' && last <= '9' {
		return fmt.Sprintf("%sp%d", diskPath, n)
	}
	return fmt.Sprintf("%s%d", diskPath, n)
}

// partition returns the partitioned disk whose partition 1 (where ZFS put
// the pool) is p.
func (h *hostState) partition(p string) (*disk, string, bool) {
	p = path.Clean(p)
	for name, d := range h.Disks {
		if d.Parted && partPath(name, 1) == p {
			return d, name, true
		}
	}
	return nil, "", false
}

// cmdLsblk models `lsblk -lnpo NAME,TYPE DEV`: the device, then the
// partitions ZFS made on it (1 and 9), as util-linux 2.38 printed them.
func cmdLsblk(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) != 3 || c.Args[0] != "-lnpo" || c.Args[1] != "NAME,TYPE" {
		return fail(1, "lsblk: only `lsblk -lnpo NAME,TYPE DEVICE` is simulated")
	}
	dev := path.Clean(c.Args[2])
	if d, found := h.Disks[dev]; found {
		lines := []string{dev + " disk"}
		if d.Parted {
			lines = append(lines, partPath(dev, 1)+" part", partPath(dev, 9)+" part")
		}
		return ok(joinLines(lines))
	}
	if _, _, isPart := h.partition(dev); isPart {
		return ok(dev + " part\n")
	}
	if h.drbdByDevice(dev) != nil {
		return ok(dev + " disk\n")
	}
	return fail(32, "lsblk: %s: not a block device", dev)
}

// cmdBlockdev models `blockdev --rereadpt DISK`; the simulator's kernel
// always knows the current table, so there is nothing to re-read.
func cmdBlockdev(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) != 2 || c.Args[0] != "--rereadpt" {
		return fail(1, "blockdev: only `blockdev --rereadpt DEVICE` is simulated")
	}
	dev := path.Clean(c.Args[1])
	if _, found := h.Disks[dev]; !found {
		if _, _, isPart := h.partition(dev); isPart || h.drbdByDevice(dev) != nil {
			return fail(1, "blockdev: ioctl error on BLKRRPART: Invalid argument")
		}
		return fail(1, "blockdev: cannot open %s: No such file or directory", dev)
	}
	for _, r := range h.DRBD {
		if r.Disk == dev {
			return fail(1, "blockdev: ioctl error on BLKRRPART: Device or resource busy")
		}
	}
	for name, where := range h.Imported {
		if strings.HasPrefix(where, dev) {
			return fail(1, "blockdev: ioctl error on BLKRRPART: Device or resource busy (pool %s)", name)
		}
	}
	return ok("")
}
