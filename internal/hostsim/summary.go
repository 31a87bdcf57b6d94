package hostsim

import (
	"fmt"
	"strings"
)

// Summary describes the whole world in stable text: per host its DRBD
// states, imported pools, mounts, and per disk its signature, DRBD disk
// state and datasets with their properties. Generated identifiers (DRBD
// UUIDs) are left out so that two runs reaching the same state compare
// equal.
func (w *World) Summary() (string, error) {
	var b strings.Builder
	err := w.view(func(st *state) error {
		for _, hn := range sortedKeys(st.Hosts) {
			h := st.Hosts[hn]
			fmt.Fprintf(&b, "host %s down=%v hostid=%v lnet=%v nets=%v\n", hn, h.Down, h.hostID() != "", h.LNetUp, h.nids())
			for _, name := range sortedKeys(h.DRBD) {
				role, peerRole, cs, ds, pds := st.drbdStates(h, name, h.DRBD[name])
				fmt.Fprintf(&b, "  drbd %s %s/%s %s %s/%s\n", name, role, peerRole, cs, ds, pds)
			}
			for _, p := range sortedKeys(h.Imported) {
				fmt.Fprintf(&b, "  imported %s on %s\n", p, h.Imported[p])
			}
			for _, m := range sortedMounts(h.Mounts) {
				fmt.Fprintf(&b, "  mount %s\n", m)
			}
			for _, dp := range sortedKeys(h.Disks) {
				d := h.Disks[dp]
				md := "none"
				if d.MD != nil {
					md = d.MD.Disk
				}
				fmt.Fprintf(&b, "  disk %s sig=%q md=%s\n", dp, d.Data.Sig, md)
				if d.Data.Pool != nil {
					p := d.Data.Pool
					fmt.Fprintf(&b, "    pool %s active=%v host=%s multihost=%v props=%v\n", p.Name, p.Active, p.HostName, p.Multihost, p.Props)
					for _, ds := range sortedKeys(p.Datasets) {
						fmt.Fprintf(&b, "    dataset %s %v\n", ds, p.Datasets[ds])
					}
				}
			}
		}
		return nil
	})
	return b.String(), err
}

// DRBDState returns role, connection state and local/peer disk states of
// a resource as the kernel sees them; up is false when it is down.
func (w *World) DRBDState(hostName, res string) (role, cstate, disk, peerDisk string, up bool, err error) {
	err = w.view(func(st *state) error {
		h, herr := st.hostOf(hostName)
		if herr != nil {
			return herr
		}
		r := h.DRBD[res]
		if r == nil {
			return nil
		}
		up = true
		role, _, cstate, disk, peerDisk = st.drbdStates(h, res, r)
		return nil
	})
	return role, cstate, disk, peerDisk, up, err
}

// Imported returns the pools imported on a host, mapped to their device.
func (w *World) Imported(hostName string) (map[string]string, error) {
	out := map[string]string{}
	err := w.view(func(st *state) error {
		h, herr := st.hostOf(hostName)
		if herr != nil {
			return herr
		}
		for k, v := range h.Imported {
			out[k] = v
		}
		return nil
	})
	return out, err
}

// Mounted returns the mount points of a host.
func (w *World) Mounted(hostName string) ([]string, error) {
	var out []string
	err := w.view(func(st *state) error {
		h, herr := st.hostOf(hostName)
		if herr != nil {
			return herr
		}
		for _, m := range h.Mounts {
			out = append(out, m.Target)
		}
		return nil
	})
	return out, err
}

// Ran returns the commands (argv joined by spaces) that hostName ran ("" =
// any host) starting with prefix, in order, each prefixed by its host, as
// "s1: drbdadm up r0". Tests use it to assert what was, or was never, run.
func (w *World) Ran(hostName, prefix string) ([]string, error) {
	log, err := w.Log()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range log {
		s := strings.Join(e.Argv, " ")
		if (hostName == "" || e.Host == hostName) && strings.HasPrefix(s, prefix) {
			out = append(out, e.Host+": "+s)
		}
	}
	return out, nil
}

// MostPrimaries replays the command log for DRBD resource res: the most
// hosts that were Primary at once, counting all of them (byRole) and only
// those whose I/O was not frozen by a failed fence (writable: a frozen
// Primary acknowledges no write). Two writable Primaries is a split brain.
// A host stops being Primary when it demotes, takes the resource down or
// crashes (Crash, or a crash fault on a command).
func (w *World) MostPrimaries(res string) (writable, byRole int, err error) {
	log, err := w.Log()
	if err != nil {
		return 0, 0, err
	}
	primary, frozen := map[string]bool{}, map[string]bool{}
	for _, e := range log {
		cmd := strings.Join(e.Argv, " ")
		switch {
		case e.Event == "crash":
		case e.Exit != 0:
		case strings.HasPrefix(cmd, "drbdadm primary") && strings.HasSuffix(cmd, " "+res):
			primary[e.Host] = true
		case cmd == "drbdadm secondary "+res || cmd == "drbdadm down "+res:
			delete(primary, e.Host)
		case cmd == "(kernel) drbd "+res+" io-frozen":
			frozen[e.Host] = true
		case cmd == "(kernel) drbd "+res+" io-resumed":
			delete(frozen, e.Host)
		}
		if e.Event == "crash" || strings.HasPrefix(e.Fault, "crash") {
			delete(primary, e.Host)
			delete(frozen, e.Host)
		}
		n := 0
		for h := range primary {
			if !frozen[h] {
				n++
			}
		}
		writable, byRole = max(writable, n), max(byRole, len(primary))
	}
	return writable, byRole, nil
}
