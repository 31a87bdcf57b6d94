package hostsim

import (
	"math/bits"
	"path"
	"strconv"
	"strings"
)

// ZFS's space accounting, as `zfs get -p used,available` reports it
// (OpenZFS 2.1, one vdev):
//   - a vdev loses 4 MiB at its start and 512 KiB at its end to labels
//     and the boot region, and what is left is cut into whole metaslabs
//     of 2^max(24, highbit(asize/16)) bytes on a vdev of under 16
//     default (512 MiB) metaslabs, 2^29 up to 200 of them, more beyond;
//   - of that, the slop space is kept from every dataset: 1/32 of the
//     pool, but at least 128 MiB or half the pool, whichever is less;
//   - a new pool's root dataset uses 96768 bytes, an empty child dataset
//     24576, and each child adds 7680 to its parent's own use (measured:
//     ZFS 2.1.11, HOSTSIM-CORRECTIONS S-space).
//
// File data in hostsim's Lustre is not placed on OST objects, so a
// dataset's use does not grow with what clients write.
const (
	zfsLabelStart = 4 << 20
	zfsLabelEnd   = 512 << 10
	zfsMinSlop    = 128 << 20
	zfsRootUse    = 96768
	zfsDatasetUse = 24576
	zfsChildMeta  = 7680
)

// zfsSpace is the space usable by datasets on a vdev of size bytes.
func zfsSpace(size int64) int64 {
	asize := size - zfsLabelStart - zfsLabelEnd
	if asize <= 0 {
		return 0
	}
	shift := 29
	if n := asize >> 29; n < 16 {
		shift = bits.Len64(uint64(asize/16)) - 1
	} else if n > 200 {
		shift = bits.Len64(uint64(asize/200)) - 1
	}
	shift = max(shift, 24)
	dspace := asize >> shift << shift
	slop := max(dspace/32, min(zfsMinSlop, dspace/2))
	return dspace - slop
}

// devSize is the size in bytes of the device a pool is created on: a
// disk or partition, partition 1 of a whole disk ZFS labels itself, or
// a DRBD device (its backing disk less the internal metadata).
func (h *hostState) devSize(dev string) int64 {
	dev = path.Clean(dev)
	if d, found := h.Disks[dev]; found {
		if d.Parted || d.Part == nil && d.Table == nil {
			// Created on the whole disk: the pool is in partition 1.
			return zfsPartSize(d.Size)
		}
		return d.Size
	}
	if d, _, isPart := h.partition(dev); isPart {
		return zfsPartSize(d.Size)
	}
	if r := h.drbdByDevice(dev); r != nil {
		if d := h.Disks[r.Disk]; d != nil {
			return d.Size - drbdInternalMD(d.Size)
		}
	}
	return 0
}

// drbdInternalMD is the size of DRBD 8.4's internal metadata at the end
// of a backing disk: 4 KiB superblock, 32 KiB activity log and one bitmap
// bit per 4 KiB of data, 4 KiB aligned.
func drbdInternalMD(disk int64) int64 {
	bitmap := (disk/4096 + 7) / 8
	return (4096 + 32768 + bitmap + 4095) / 4096 * 4096
}

// zfsGetSpace answers a dataset's `used` and `available`: what the
// datasets under it (itself included) use, and what the pool has left,
// which every dataset sees.
func zfsGetSpace(p *pool, ds, prop string) (string, bool) {
	if prop != "used" && prop != "available" {
		return "", false
	}
	var used, all int64
	for name := range p.Datasets {
		use := int64(zfsDatasetUse)
		if name == p.Name {
			use = zfsRootUse
		}
		for child := range p.Datasets {
			if path.Dir(child) == name && child != name {
				use += zfsChildMeta
			}
		}
		all += use
		if name == ds || strings.HasPrefix(name, ds+"/") {
			used += use
		}
	}
	if prop == "used" {
		return strconv.FormatInt(used, 10), true
	}
	return strconv.FormatInt(max(zfsSpace(p.Size)-all, 0), 10), true
}
