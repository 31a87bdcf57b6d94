package hostsim

import (
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// ptable is a DOS partition table (MBR) written by AddPartition.
type ptable struct {
	Type string `json:"type"` // "dos"
	UUID string `json:"uuid"` // the disk identifier, 8 hex digits
}

// partEntry places a partition in its disk's table; sizes are in 512-byte
// sectors, as blkid reports them.
type partEntry struct {
	Disk    string `json:"disk"`
	Number  int    `json:"number"`
	Start   int64  `json:"start"`
	Sectors int64  `json:"sectors"`
}

// AddPartition partitions a disk as fdisk would: a DOS table on the disk
// (written on first use; the disk must be blank then) and primary
// partition number (1-4) of size bytes, 1 MiB aligned after the partitions
// before it. The partition is a block device of its own (partPath names
// it): SetSignature writes on it, wipefs and blkid probe it, and `blkid -p`
// reports its place in the table (PART_ENTRY_*) even when it is blank, as
// util-linux does; the disk itself shows only the table.
func (w *World) AddPartition(hostName, diskPath string, number int, size int64) error {
	return w.update(func(st *state) error {
		h, err := st.hostOf(hostName)
		if err != nil {
			return err
		}
		diskPath = h.dev(diskPath)
		d, found := h.Disks[diskPath]
		switch {
		case !found:
			return fmt.Errorf("hostsim: %s has no disk %s", hostName, diskPath)
		case d.Part != nil:
			return fmt.Errorf("hostsim: %s is a partition", diskPath)
		case d.Parted:
			return fmt.Errorf("hostsim: ZFS partitioned %s", diskPath)
		case number < 1 || number > 4:
			return fmt.Errorf("hostsim: partition number %d: only primary partitions (1-4) are simulated", number)
		case d.Table == nil && (d.Data.Sig != "" || d.MD != nil):
			return fmt.Errorf("hostsim: %s is not blank", diskPath)
		}
		p := partPath(diskPath, number)
		if _, taken := h.Disks[p]; taken {
			return fmt.Errorf("hostsim: %s exists", p)
		}
		start := int64(2048)
		for _, q := range h.partitionsOf(diskPath) {
			e := h.Disks[q].Part
			start = max(start, (e.Start+e.Sectors+2047)/2048*2048)
		}
		sectors := size / 512
		if sectors <= 0 || start+sectors > d.Size/512 {
			return fmt.Errorf("hostsim: %d bytes at sector %d do not fit on %s", size, start, diskPath)
		}
		if d.Table == nil {
			d.Table = &ptable{Type: "dos", UUID: fmt.Sprintf("%08x", uint32(st.nextID()))}
		}
		h.Disks[p] = &disk{Size: sectors * 512, Part: &partEntry{Disk: diskPath, Number: number, Start: start, Sectors: sectors}}
		return nil
	})
}

// partitionsOf lists the AddPartition partitions of a disk by number.
func (h *hostState) partitionsOf(diskPath string) []string {
	var out []string
	for name, d := range h.Disks {
		if d.Part != nil && d.Part.Disk == diskPath {
			out = append(out, name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return h.Disks[out[i]].Part.Number < h.Disks[out[j]].Part.Number })
	return out
}

// devNumber is a disk's major:minor as the kernel numbers the first
// disks of a kind (virtio 254, SCSI 8, 16 minors each).
func devNumber(diskPath string) string {
	base := path.Base(diskPath)
	if len(base) == 3 && base[2] >= 'a' && base[2] <= 'z' {
		switch base[:2] {
		case "vd":
			return fmt.Sprintf("254:%d", int(base[2]-'a')*16)
		case "sd":
			return fmt.Sprintf("8:%d", int(base[2]-'a')*16)
		}
	}
	return "259:0"
}

// hashHex is a stable pseudo-random hex string for identifiers the
// simulator does not store.
func hashHex(n int, parts ...string) string {
	var out string
	for i := 0; len(out) < n; i++ {
		hf := fnv.New64a()
		fmt.Fprint(hf, i, parts)
		out += fmt.Sprintf("%016x", hf.Sum64())
	}
	return out[:n]
}

// partEntryFields are the PART_ENTRY_* fields `blkid -p` adds for a
// partition, in libblkid's order; nil for any other device. A blank
// partition answers only these, exit 0 (util-linux on a real kernel):
// `PART_ENTRY_SCHEME="dos" PART_ENTRY_UUID="4b4c4143-01"
// PART_ENTRY_TYPE="0x83" PART_ENTRY_NUMBER="1" PART_ENTRY_OFFSET="2048"
// PART_ENTRY_SIZE="2095104" PART_ENTRY_DISK="254:0"`.
func (h *hostState) partEntryFields(p string) []string {
	p = path.Clean(p)
	if d, found := h.Disks[p]; found && d.Part != nil {
		e, parent := d.Part, h.Disks[d.Part.Disk]
		uuid := ""
		if parent != nil && parent.Table != nil {
			uuid = parent.Table.UUID
		}
		return []string{`PART_ENTRY_SCHEME="dos"`, fmt.Sprintf("PART_ENTRY_UUID=\"%s-%02x\"", uuid, e.Number), `PART_ENTRY_TYPE="0x83"`,
			fmt.Sprintf("PART_ENTRY_NUMBER=\"%d\"", e.Number), fmt.Sprintf("PART_ENTRY_OFFSET=\"%d\"", e.Start),
			fmt.Sprintf("PART_ENTRY_SIZE=\"%d\"", e.Sectors), fmt.Sprintf("PART_ENTRY_DISK=\"%s\"", devNumber(e.Disk))}
	}
	if d, name, isPart := h.partition(p); isPart {
		// Partition 1 of a disk ZFS labelled: GPT, ZFS's partition type
		// and name. ZFS starts it at 1 MiB and leaves 8 MiB (partition 9)
		// and the backup GPT at the end; the size here is that, 1 MiB
		// aligned, not ZFS's exact arithmetic.
		sectors := zfsPartSize(d.Size) / 512
		u := hashHex(32, h.Name, name)
		return []string{`PART_ENTRY_SCHEME="gpt"`, fmt.Sprintf("PART_ENTRY_NAME=\"zfs-%s\"", hashHex(16, h.Name, name, "name")),
			fmt.Sprintf("PART_ENTRY_UUID=\"%s-%s-%s-%s-%s\"", u[:8], u[8:12], u[12:16], u[16:20], u[20:]),
			`PART_ENTRY_TYPE="6a898cc3-1dd2-11b2-99a6-080020736631"`, `PART_ENTRY_NUMBER="1"`, `PART_ENTRY_OFFSET="2048"`,
			fmt.Sprintf("PART_ENTRY_SIZE=\"%d\"", sectors), fmt.Sprintf("PART_ENTRY_DISK=\"%s\"", devNumber(name))}
	}
	return nil
}

// zfsPartSize is the size of partition 1 on a whole disk ZFS labelled:
// from 1 MiB to 8 MiB (partition 9) and the backup GPT before the end,
// 1 MiB aligned.
func zfsPartSize(disk int64) int64 {
	return (disk/512 - 2048 - 16384 - 34) / 2048 * 2048 * 512
}

// udevRoot holds udev's persistent names of block devices
// (/dev/disk/by-id/wwn-..., by-path/...): symlinks to the kernel's device
// node, one per disk and one per partition, the disk's name with
// "-partN". Sites name disks there because the kernel's own names (sdb)
// follow discovery order.
const udevRoot = "/dev/disk/"

// dev resolves a device path as opening it does: a udev name to the
// kernel device it links to, its "-partN" form to partition N of that
// device; anything else is only cleaned.
func (h *hostState) dev(p string) string {
	p = path.Clean(p)
	if !strings.HasPrefix(p, udevRoot) {
		return p
	}
	if k, found := h.Links[p]; found {
		return k
	}
	if i := strings.LastIndex(p, "-part"); i > 0 {
		if n, err := strconv.Atoi(p[i+len("-part"):]); err == nil && n > 0 {
			if k, found := h.Links[p[:i]]; found {
				return partPath(k, n)
			}
		}
	}
	return p
}

// openArgs resolves the udev names among a command's arguments, alone or
// as the value of KEY=VALUE (dd's of=).
func (h *hostState) openArgs(args []string) []string {
	var out []string
	for i, a := range args {
		k, v, isKV := strings.Cut(a, "=")
		if !isKV {
			k, v = "", a
		}
		if !strings.HasPrefix(v, udevRoot) {
			continue
		}
		if out == nil {
			out = slices.Clone(args)
		}
		if isKV {
			out[i] = k + "=" + h.dev(v)
		} else {
			out[i] = h.dev(v)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// kernelDiskName is the next SCSI disk name the kernel would give: sdb
// on (sda being the system disk), the first free one.
func (h *hostState) kernelDiskName() string {
	for i := 1; ; i++ {
		name := "/dev/sd"
		if i >= 26 {
			name += string(rune('a' + i/26 - 1))
		}
		name += string(rune('a' + i%26))
		if _, taken := h.Disks[name]; !taken {
			return name
		}
	}
}

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
// partitions ZFS (1 and 9) or AddPartition made on it, as util-linux 2.38
// printed them.
func cmdLsblk(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) != 3 || c.Args[0] != "-lnpo" || c.Args[1] != "NAME,TYPE" {
		return fail(1, "lsblk: only `lsblk -lnpo NAME,TYPE DEVICE` is simulated")
	}
	dev := path.Clean(c.Args[2])
	if d, found := h.Disks[dev]; found {
		if d.Part != nil {
			return ok(dev + " part\n")
		}
		lines := []string{dev + " disk"}
		if d.Parted {
			lines = append(lines, partPath(dev, 1)+" part", partPath(dev, 9)+" part")
		}
		for _, p := range h.partitionsOf(dev) {
			lines = append(lines, p+" part")
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
	d, found := h.Disks[dev]
	if !found || d.Part != nil {
		if _, _, isPart := h.partition(dev); isPart || found || h.drbdByDevice(dev) != nil {
			return fail(1, "blockdev: ioctl error on BLKRRPART: Invalid argument")
		}
		return fail(1, "blockdev: cannot open %s: No such file or directory", dev)
	}
	for _, r := range h.DRBD {
		if r.Disk == dev || (h.Disks[r.Disk] != nil && h.Disks[r.Disk].Part != nil && h.Disks[r.Disk].Part.Disk == dev) {
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
