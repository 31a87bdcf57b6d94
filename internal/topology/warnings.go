package topology

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// unstableDiskRE matches kernel disk names: the kernel numbers them in the
// order it finds the disks, so /dev/sdb can name another disk after a
// reboot or once a disk is added or removed. A target pointed at the wrong
// disk finds it blank (and is refused: its record says it existed) or,
// worse, finds another target's data.
var unstableDiskRE = regexp.MustCompile(`^/dev/(sd[a-z]+|vd[a-z]+|hd[a-z]+|xvd[a-z]+|nvme[0-9]+n[0-9]+)(p?[0-9]+)?$`)

// Warnings are what validate reports without refusing: values that work
// today and may cost a target tomorrow. Same shape as Problems.
func (v *Values) Warnings() []Problem {
	var ws []Problem
	warn := func(field, dev string) {
		if unstableDiskRE.MatchString(dev) {
			ws = append(ws, Problem{Path: field,
				Message: fmt.Sprintf("%s is a kernel name: the kernel may give it to another disk after a reboot or when disks are added or removed", dev),
				Hint:    "name the disk by a stable path, e.g. /dev/disk/by-id/wwn-... or /dev/disk/by-id/nvme-... (ls -l /dev/disk/by-id on the node shows which points to " + strings.TrimPrefix(dev, "/dev/") + ")"})
		}
	}
	for i, t := range v.Targets {
		if d := t.DRBD; d != nil {
			if d.Disk.PerNode == nil {
				warn(tpath(i, "drbd.disk"), d.Disk.All)
			}
			for _, n := range slices.Sorted(maps.Keys(d.Disk.PerNode)) {
				warn(tpath(i, "drbd.disk."+n), d.Disk.PerNode[n])
			}
		}
		for j, dev := range t.ZPool.Vdevs {
			warn(tpath(i, fmt.Sprintf("zpool.vdevs[%d]", j)), dev)
		}
	}
	return sortProblems(ws)
}
