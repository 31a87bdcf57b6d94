// DRBD's replication state model: roles, connections, metadata and
// generation identifiers, the handshake that decides sync direction or
// split brain, and resync progress. The command line is drbdadm.go, the
// configuration drbdconf.go.

package hostsim

// drbdByDevice returns the up resource exposing /dev/drbdN on this host.
func (h *hostState) drbdByDevice(dev string) *drbdRun {
	for _, name := range sortedKeys(h.DRBD) {
		if r := h.DRBD[name]; r.Device == dev {
			return r
		}
	}
	return nil
}

// held reports whether a DRBD device is open (a pool imported on it), the
// condition under which the kernel refuses down and secondary.
func (h *hostState) held(r *drbdRun) bool {
	for _, dev := range h.Imported {
		if dev == r.Device {
			return true
		}
	}
	return false
}

func (h *hostState) meta(r *drbdRun) *drbdMeta {
	if d, found := h.Disks[r.Disk]; found && d.MD != nil {
		return d.MD
	}
	return &drbdMeta{Disk: "Diskless"}
}

// peerOf returns the peer's host and run state when both have the resource
// up; the link may still be cut.
func (st *state) peerOf(h *hostState, name string) (*hostState, *drbdRun) {
	r := h.DRBD[name]
	if r == nil {
		return nil, nil
	}
	p, found := st.Hosts[r.Peer]
	if !found || p.Down {
		return nil, nil
	}
	return p, p.DRBD[name]
}

// canConnect reports whether two up resources can talk to each other.
func (st *state) canConnect(h *hostState, name string) bool {
	r := h.DRBD[name]
	p, pr := st.peerOf(h, name)
	return r != nil && pr != nil && !r.StandAlone && !pr.StandAlone && pr.Peer == h.Name && !st.Cut[linkKey(h.Name, p.Name)]
}

// settle runs the DRBD connection state machine after every change:
// handshakes for newly possible connections (resync or split brain) and
// disconnects for lost ones.
func (st *state) settle() {
	for _, hn := range sortedKeys(st.Hosts) {
		h := st.Hosts[hn]
		if h.Down {
			continue
		}
		for _, name := range sortedKeys(h.DRBD) {
			r := h.DRBD[name]
			p, pr := st.peerOf(h, name)
			switch {
			case !st.canConnect(h, name):
				if r.Connected {
					st.unchanged = false
					r.Connected, r.SyncLeft, r.SyncSource = false, 0, false
					h.kernelLog("drbd %s: conn( Connected -> NetworkFailure )", name)
					st.lostPeer(h, r, name)
				}
			case !r.Connected && hn < p.Name:
				st.unchanged = false
				st.handshake(h, r, p, pr, name)
			}
		}
	}
}

// handshake compares the two sides' generations the way DRBD's UUID
// handshake does: equal data connects, one side that moved on (or a side
// just created) becomes the sync target, two sides that both moved on since
// they last agreed are a split brain, and anything else is unrelated data.
func (st *state) handshake(a *hostState, ar *drbdRun, b *hostState, br *drbdRun, name string) {
	am, bm := a.meta(ar), b.meta(br)
	connect := func() {
		ar.Connected, br.Connected = true, true
		a.kernelLog("drbd %s: conn( WFConnection -> Connected )", name)
		b.kernelLog("drbd %s: conn( WFConnection -> Connected )", name)
		st.reconnected(a, ar, name)
		st.reconnected(b, br, name)
	}
	drop := func(msg string) {
		ar.StandAlone, br.StandAlone = true, true
		ar.Connected, br.Connected = false, false
		a.kernelLog("drbd %s: %s", name, msg)
		b.kernelLog("drbd %s: %s", name, msg)
	}
	aChanged, bChanged := am.UUID != am.Base, bm.UUID != bm.Base
	switch {
	case am.Disk == "Diskless" || bm.Disk == "Diskless":
		connect()
	case am.UUID == bm.UUID:
		connect()
		if am.Disk == "UpToDate" || bm.Disk == "UpToDate" {
			am.Disk, bm.Disk = "UpToDate", "UpToDate"
		}
	case bm.UUID == uuidJustCreated && am.Disk == "UpToDate":
		connect()
		st.startSync(a, ar, b, br)
	case am.UUID == uuidJustCreated && bm.Disk == "UpToDate":
		connect()
		st.startSync(b, br, a, ar)
	case am.Base == bm.Base && aChanged && bChanged:
		drop("Split-Brain detected but unresolved, dropping connection!")
	case am.Base == bm.Base && aChanged && am.Disk == "UpToDate" && br.Role != "Primary":
		connect()
		st.startSync(a, ar, b, br)
	case am.Base == bm.Base && bChanged && bm.Disk == "UpToDate" && ar.Role != "Primary":
		connect()
		st.startSync(b, br, a, ar)
	default:
		drop("Unrelated data, aborting!")
	}
}

// startSync makes dst a copy of src. The data is copied at once; the disk
// state stays Inconsistent for SyncPolls status queries so that waiting for
// UpToDate can be tested.
func (st *state) startSync(src *hostState, sr *drbdRun, dst *hostState, dr *drbdRun) {
	sm, dm := src.meta(sr), dst.meta(dr)
	dst.Disks[dr.Disk].Data = src.Disks[sr.Disk].Data.clone()
	dm.UUID, dm.Base, sm.Base = sm.UUID, sm.UUID, sm.UUID
	if st.SyncPolls > 0 {
		dm.Disk = "Inconsistent"
		dr.SyncLeft, sr.SyncLeft = st.SyncPolls, st.SyncPolls
		sr.SyncSource = true
		return
	}
	dm.Disk = "UpToDate"
	st.runHelper(dst, dr.Name, "after-resync-target")
}

// pollSync advances a running resync by one status query.
func (st *state) pollSync(h *hostState, name string) {
	r := h.DRBD[name]
	p, pr := st.peerOf(h, name)
	if r == nil || pr == nil || !r.Connected || r.SyncLeft == 0 {
		return
	}
	r.SyncLeft--
	pr.SyncLeft = r.SyncLeft
	if r.SyncLeft > 0 {
		return
	}
	target := h
	if r.SyncSource {
		target = p
	}
	r.SyncSource, pr.SyncSource = false, false
	h.meta(r).Disk, p.meta(pr).Disk = "UpToDate", "UpToDate"
	st.runHelper(target, name, "after-resync-target")
}

// writeDRBD records a write through /dev/drbdN: a Primary without its peer
// starts a new data generation (that is what makes a later split brain
// detectable); a connected peer receives the same data (protocol C).
func (st *state) writeDRBD(h *hostState, r *drbdRun, name string) {
	m := h.meta(r)
	if r.Connected {
		p, pr := st.peerOf(h, name)
		if pr != nil && p.Disks[pr.Disk] != nil {
			p.Disks[pr.Disk].Data = h.Disks[r.Disk].Data.clone()
		}
		return
	}
	if m.UUID == m.Base {
		m.UUID = st.nextID()
	}
}

// drbdStates returns local role, peer role, connection state, local disk
// and peer disk in the kernel's vocabulary.
func (st *state) drbdStates(h *hostState, name string, r *drbdRun) (role, peerRole, cs, ds, pds string) {
	role, peerRole, pds = r.Role, "Unknown", "DUnknown"
	ds = h.meta(r).Disk
	cs = "Connecting"
	if st.DRBDVersion == DRBD84 {
		cs = "WFConnection"
	}
	if r.PeerDisk != "" {
		pds = r.PeerDisk
	}
	switch {
	case r.StandAlone:
		cs = "StandAlone"
	case r.Connected:
		p, pr := st.peerOf(h, name)
		peerRole, pds, cs = pr.Role, p.meta(pr).Disk, "Connected"
		if r.SyncLeft > 0 && st.DRBDVersion == DRBD84 {
			cs = "SyncTarget"
			if r.SyncSource {
				cs = "SyncSource"
			}
		}
	}
	return role, peerRole, cs, ds, pds
}

// drbdByMinor returns the running resource with that minor, nil if none.
func (h *hostState) drbdByMinor(minor int) *drbdRun {
	for _, name := range sortedKeys(h.DRBD) {
		if r := h.DRBD[name]; r.Minor == minor {
			return r
		}
	}
	return nil
}
