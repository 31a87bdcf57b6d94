package topology

import (
	"fmt"
	"regexp"
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
	for i, t := range v.Targets {
		for _, d := range diskFields(i, t) {
			if unstableDiskRE.MatchString(d.dev) {
				ws = append(ws, Problem{Path: d.path,
					Message: fmt.Sprintf("%s is a kernel name: the kernel may give it to another disk after a reboot or when disks are added or removed", d.dev),
					Hint:    "name the disk by a stable path, e.g. /dev/disk/by-id/wwn-... or /dev/disk/by-id/nvme-... (ls -l /dev/disk/by-id on the node shows which points to " + strings.TrimPrefix(d.dev, "/dev/") + ")"})
			}
		}
	}
	return sortProblems(ws)
}
