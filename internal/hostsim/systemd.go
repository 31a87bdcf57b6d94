package hostsim

import (
	"slices"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// The ZFS units that import pools at boot, as the distributions ship
// them with the ZFS userland: Debian's packaging enables every unit it
// installs, while EL applies OpenZFS's systemd preset, which enables the
// cache import and disables the scan.
var zfsBootUnits = map[string]map[string]string{
	"deb": {"zfs-import-scan.service": "enabled", "zfs-import-cache.service": "enabled"},
	"rpm": {"zfs-import-scan.service": "disabled", "zfs-import-cache.service": "enabled"},
}

// addZFSUnits installs the boot import units the first time the host gets
// ZFS (a unit state an admin or the installer set is kept).
func (h *hostState) addZFSUnits() {
	if !slices.Contains(h.Available, "zfs") {
		return
	}
	if h.Units == nil {
		h.Units = map[string]string{}
	}
	for u, s := range zfsBootUnits[h.osFamily()] {
		if _, ok := h.Units[u]; !ok {
			h.Units[u] = s
		}
	}
}

// maskUnit masks unit, as systemctl mask (a link to /dev/null) does
// whether or not the unit is installed.
func (h *hostState) maskUnit(unit string) {
	if h.Units == nil {
		h.Units = map[string]string{}
	}
	h.Units[unit] = "masked"
}

// cmdSystemctl models the systemctl calls the steps make: show with -p
// LoadState / UnitFileState (one unit), mask and unmask.
func cmdSystemctl(_ *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) < 2 {
		return fail(1, "systemctl: too few arguments")
	}
	switch c.Args[0] {
	case "show":
		unit := c.Args[1]
		st, found := h.Units[unit]
		load := "loaded"
		switch {
		case st == "masked":
			load = "masked"
		case !found:
			load = "not-found"
		}
		out := ""
		for i := 2; i+1 < len(c.Args); i += 2 {
			if c.Args[i] != "-p" {
				return fail(1, "systemctl: unexpected %q", c.Args[i])
			}
			switch c.Args[i+1] {
			case "LoadState":
				out += "LoadState=" + load + "\n"
			case "UnitFileState":
				out += "UnitFileState=" + st + "\n"
			}
		}
		return ok(out)
	case "mask", "unmask":
		for _, u := range c.Args[1:] {
			if c.Args[0] == "mask" {
				h.maskUnit(u)
			} else if h.Units[u] == "masked" {
				delete(h.Units, u)
				if s, ok := zfsBootUnits[h.osFamily()][u]; ok {
					h.Units[u] = s
				}
			}
		}
		return ok("")
	}
	return fail(1, "systemctl: unknown command %q", c.Args[0])
}
