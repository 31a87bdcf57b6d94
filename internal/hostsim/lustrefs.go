package hostsim

import (
	"path"
	"sort"
	"strings"
)

// A Lustre filesystem's namespace lives on its MDT0, and the quota master
// (which keeps every limit) runs there too; permanent parameters
// (`lctl set_param -P`) live on the MGS. The simulator keeps each of those
// with the target's dataset, inside the pool on disk, so that everything a
// client sees survives client unmounts, moves with the pool on failover and
// is replicated by DRBD like any other write. Block usage really lives on
// the OSTs; it is accounted on MDT0 here, but data writes still need a
// reachable OST, as they would on a real filesystem.

// Errno texts the simulated commands print, as strerror(3) spells them.
const (
	eNOENT    = "No such file or directory"
	eEXIST    = "File exists"
	eNOTDIR   = "Not a directory"
	eISDIR    = "Is a directory"
	eNOTEMPTY = "Directory not empty"
	eBUSY     = "Device or resource busy"
	eROFS     = "Read-only file system"
	eDQUOT    = "Disk quota exceeded"
	eIO       = "Input/output error"
)

// lustreDisk is what a Lustre target keeps on its dataset beyond the
// properties mkfs.lustre writes: MDT0 holds Nodes and Limits, the MGS holds
// Params.
type lustreDisk struct {
	// Nodes maps a path inside the filesystem ("/", "/csi/vol") to its
	// inode. The root is implicit.
	Nodes map[string]*lnode `json:"nodes,omitempty"`
	// Limits maps a project ID to its quota limits.
	Limits map[uint32]*limits `json:"limits,omitempty"`
	// Params are `lctl set_param -P` settings in the order they were
	// given; a later one wins.
	Params []param `json:"params,omitempty"`
}

// lnode is one inode: a directory or a regular file. Data is kept only
// for files written through tee (small configuration files); dd records
// the size alone.
type lnode struct {
	Dir     bool   `json:"dir,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Data    []byte `json:"data,omitempty"`
	Proj    uint32 `json:"proj,omitempty"`
	Inherit bool   `json:"inherit,omitempty"`
}

// limits are one project's quota limits: blocks in KiB, inodes in count.
// 0 means no limit, as in lfs setquota.
type limits struct {
	BSoft uint64 `json:"bsoft,omitempty"`
	BHard uint64 `json:"bhard,omitempty"`
	ISoft uint64 `json:"isoft,omitempty"`
	IHard uint64 `json:"ihard,omitempty"`
	// Full is set when an OST refused a write of the project for lack of
	// quota while its writer waited for the answer (cmdDd's model);
	// FullAt is the project's usage (KiB) then. While Full holds and the
	// usage has not dropped below FullAt, every write call of the project
	// fails with EDQUOT at once. lfs setquota clears it.
	Full   bool   `json:"full,omitempty"`
	FullAt uint64 `json:"fullAt,omitempty"`
}

// full reports whether writes of project id fail at once (limits.Full),
// and forgets the mark once the usage dropped (files removed, truncated
// or moved to another project): every write asks before it adds usage.
func (d *lustreDisk) full(id uint32) bool {
	l := d.Limits[id]
	if l == nil || !l.Full {
		return false
	}
	if used, _ := d.usage(id); used < l.FullAt {
		l.Full, l.FullAt = false, 0
		return false
	}
	return true
}

// markFull records that an OST refused a write of project id that its
// writer waited for.
func (d *lustreDisk) markFull(id uint32) {
	if l := d.Limits[id]; l != nil {
		l.Full = true
		l.FullAt, _ = d.usage(id)
	}
}

type param struct {
	Pattern string `json:"pattern"`
	Value   string `json:"value"`
}

func (d *lustreDisk) clone() *lustreDisk {
	if d == nil {
		return nil
	}
	out := &lustreDisk{Params: append([]param(nil), d.Params...)}
	if d.Nodes != nil {
		out.Nodes = make(map[string]*lnode, len(d.Nodes))
		for k, n := range d.Nodes {
			c := *n
			c.Data = append([]byte(nil), n.Data...)
			out.Nodes[k] = &c
		}
	}
	if d.Limits != nil {
		out.Limits = make(map[uint32]*limits, len(d.Limits))
		for k, l := range d.Limits {
			c := *l
			out.Limits[k] = &c
		}
	}
	return out
}

// node returns the inode at p, the root included.
func (d *lustreDisk) node(p string) *lnode {
	if p == "/" {
		return &lnode{Dir: true}
	}
	return d.Nodes[p]
}

// Space accounting, close to what Lustre on ZFS reports: a directory
// accounts 33 KiB (an empty directory's usage in `lfs quota -p` on
// Lustre 2.17, shared/reference/lustre-facts.md "Project quotas"), a
// file its size rounded up to 4 KiB blocks.
const (
	blockSize = 4096
	dirKiB    = 33
)

func (n *lnode) kib() uint64 {
	if n.Dir {
		return dirKiB
	}
	return uint64((n.Size+blockSize-1)/blockSize) * (blockSize / 1024)
}

// usage returns the blocks (KiB) and inodes accounted to a project.
func (d *lustreDisk) usage(id uint32) (kib, inodes uint64) {
	for _, n := range d.Nodes {
		if n.Proj == id {
			kib += n.kib()
			inodes++
		}
	}
	return kib, inodes
}

func (d *lustreDisk) limitsOf(id uint32) limits {
	if l := d.Limits[id]; l != nil {
		return *l
	}
	return limits{}
}

// children lists the names directly inside directory p, sorted.
func (d *lustreDisk) children(p string) []string {
	prefix := strings.TrimSuffix(p, "/") + "/"
	var out []string
	for k := range d.Nodes {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out
}

// enforcement says which quotas the filesystem enforces for the writer:
// root, who runs every simulated command but those under setpriv
// (users.go), or that user.
type enforcement struct {
	blocks, inodes bool
}

// lustreView is a client's view of one filesystem for one command: the
// MDT0 data it reaches, what to call after changing it, and the
// enforcement the MGS configured.
type lustreView struct {
	disk    *lustreDisk
	commit  func()
	enforce enforcement
	// ostUp is false when no OST of the filesystem is reachable: metadata
	// works, data writes do not.
	ostUp bool
}

// paramValue returns the last permanent parameter matching name, "" if
// none does.
func paramValue(params []param, name string) string {
	v := ""
	for _, p := range params {
		if ok, _ := path.Match(p.Pattern, name); ok {
			v = p.Value
		}
	}
	return v
}

// enforcementFor derives what is enforced for the writer from the MGS
// parameters: project quota enforcement on the OSTs (blocks) and MDTs
// (inodes) per quota_slave.enabled, and for root, who has
// CAP_SYS_RESOURCE, only where quota_slave.root_prj_enable=1 (Lustre
// 2.16+; before that root is never limited by project quotas).
func enforcementFor(params []param, fsname string, root bool) enforcement {
	on := func(target string) bool {
		base := "osd-zfs." + fsname + "-" + target + ".quota_slave."
		return strings.Contains(paramValue(params, base+"enabled"), "p") && (!root || paramValue(params, base+"root_prj_enable") == "1")
	}
	return enforcement{blocks: on("OST0000"), inodes: on("MDT0000")}
}

// targetDisk returns the lustreDisk of a mounted server target.
func (st *state) targetDisk(h *hostState, m mount) (*lustreDisk, func(), bool) {
	_, p, commit, exists := st.dataset(h, m.Source)
	if !exists {
		return nil, nil, false
	}
	if p.Lustre == nil {
		p.Lustre = map[string]*lustreDisk{}
	}
	d := p.Lustre[m.Source]
	if d == nil {
		d = &lustreDisk{}
		p.Lustre[m.Source] = d
		st.unchanged = false // a new entry, even if the command only reads
	}
	if d.Nodes == nil {
		d.Nodes = map[string]*lnode{}
	}
	if d.Limits == nil {
		d.Limits = map[uint32]*limits{}
	}
	return d, commit, true
}

// view connects a client mount to its filesystem, as every operation on
// it does. A real client blocks while MDT0 is unreachable and fails with
// EIO once evicted; the simulator fails at once.
func (st *state) view(h *hostState, m mount) (*lustreView, string) {
	nids, fsname := clientSource(m.Source)
	mdtHost, mdt := st.locateTarget(h, nids, func(t mount) bool { return t.Svname == fsname+"-MDT0000" })
	if mdt == nil {
		return nil, eIO
	}
	disk, commit, found := st.targetDisk(mdtHost, *mdt)
	if !found {
		return nil, eIO
	}
	v := &lustreView{disk: disk, commit: commit}
	upcall := defaultIdentityUpcall
	if mgsHost, mgs := st.locateTarget(h, nids, func(t mount) bool { return t.MGS }); mgs != nil {
		if md, _, ok := st.targetDisk(mgsHost, *mgs); ok {
			v.enforce = enforcementFor(md.Params, fsname, st.caller == nil || st.caller.UID == 0)
			if u := paramValue(md.Params, "mdt."+fsname+"-MDT0000.identity_upcall"); u != "" {
				upcall = u
			}
		}
	}
	// Every request names its caller; the MDT resolves it first.
	if errno := st.identityDenied(mdtHost, upcall); errno != "" {
		return nil, errno
	}
	for _, hn := range sortedKeys(st.Hosts) {
		other := st.Hosts[hn]
		for _, t := range other.Mounts {
			if st.reachable(h, other) && strings.HasPrefix(t.Svname, fsname+"-OST") {
				v.ostUp = true
			}
		}
	}
	return v, ""
}

// clientSource splits a client mount source "NIDS:/fsname[/fileset]".
func clientSource(src string) (nids []string, fsname string) {
	i := strings.Index(src, ":/")
	if i < 0 {
		return nil, ""
	}
	fsname, _, _ = strings.Cut(src[i+2:], "/")
	return splitNIDs(src[:i]), fsname
}

// isClient reports whether m is a Lustre client mount (or a bind mount of
// one), as opposed to a server target.
func (m mount) isClient() bool { return m.FSType == "lustre" && strings.Contains(m.Source, ":/") }

// ---- resolving host paths ----

// loc is where a host path leads: the host's own tree, or a path inside a
// Lustre filesystem reached through a client mount.
type loc struct {
	lustre *lustreView // nil: the host's own files
	p      string      // path in that tree, clean and absolute
	ro     bool        // reached through a read-only mount
	mnt    *mount      // the mount the path is in, nil for the root fs
}

// namespaceMount is the mount whose namespace p is in: the deepest mount
// point containing p, the last mounted one when several are stacked.
// Server targets are not browsable and resolve to the host's own tree.
func (h *hostState) namespaceMount(p string) (*mount, string) {
	best, bestLen := -1, -1
	for i, m := range h.Mounts {
		if !m.isClient() && !m.Bind {
			continue
		}
		if p == m.Target || strings.HasPrefix(p, strings.TrimSuffix(m.Target, "/")+"/") {
			if len(m.Target) >= bestLen {
				best, bestLen = i, len(m.Target)
			}
		}
	}
	if best < 0 {
		return nil, ""
	}
	m := &h.Mounts[best]
	rest := strings.TrimPrefix(p, m.Target)
	root := m.Root
	if root == "" {
		root = "/"
	}
	return m, path.Join(root, rest)
}

// resolve maps a host path to where it leads. errno is set when the
// filesystem behind it cannot be reached.
func (st *state) resolve(h *hostState, p string) (loc, string) {
	p = path.Clean(p)
	if !path.IsAbs(p) {
		p = "/" + p
	}
	m, inner := h.namespaceMount(p)
	if m == nil {
		return loc{p: p}, ""
	}
	if !m.isClient() {
		// A bind mount of a directory of the root filesystem.
		return loc{p: inner, ro: m.ReadOnly, mnt: m}, ""
	}
	v, errno := st.view(h, *m)
	if errno != "" {
		return loc{}, errno
	}
	return loc{lustre: v, p: inner, ro: m.ReadOnly, mnt: m}, ""
}

// ---- the operations file commands need, on either tree ----

func (st *state) kind(h *hostState, l loc) (isDir, exists bool) {
	if l.lustre == nil {
		if h.isDir(l.p) {
			return true, true
		}
		_, found := h.Files[l.p]
		return false, found
	}
	n := l.lustre.disk.node(l.p)
	return n != nil && n.Dir, n != nil
}

func (st *state) list(h *hostState, l loc) []string {
	if l.lustre != nil {
		return l.lustre.disk.children(l.p)
	}
	prefix := strings.TrimSuffix(l.p, "/") + "/"
	seen := map[string]bool{}
	for _, keys := range [][]string{sortedKeys(h.Dirs), sortedKeys(h.Files)} {
		for _, k := range keys {
			if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
				seen[rest] = true
			}
		}
	}
	return sortedKeys(seen)
}

// create makes a new inode at l.p: the parent must be a directory; a
// Lustre inode takes the parent's project ID when the parent has the
// inherit flag, and is refused past the project's inode limit.
func (st *state) create(h *hostState, l loc, dir bool) string {
	if l.ro {
		return eROFS
	}
	if parentDir, _ := st.kind(h, loc{lustre: l.lustre, p: path.Dir(l.p)}); !parentDir {
		return eNOENT
	}
	if l.lustre == nil {
		if dir {
			h.Dirs[l.p] = true
		} else {
			h.Files[l.p] = nil
		}
		return ""
	}
	d := l.lustre.disk
	n := &lnode{Dir: dir}
	if parent := d.node(path.Dir(l.p)); parent.Inherit {
		n.Proj, n.Inherit = parent.Proj, true
	}
	if n.Proj != 0 && l.lustre.enforce.inodes {
		_, used := d.usage(n.Proj)
		if lim := d.limitsOf(n.Proj); lim.IHard != 0 && used >= lim.IHard {
			return eDQUOT
		}
	}
	d.Nodes[l.p] = n
	l.lustre.commit()
	return ""
}

// writeFile replaces a file's content, creating it if needed.
func (st *state) writeFile(h *hostState, l loc, data []byte) string {
	if l.ro {
		return eROFS
	}
	if isDir, exists := st.kind(h, l); isDir {
		return eISDIR
	} else if !exists {
		if errno := st.create(h, l, false); errno != "" {
			return errno
		}
	}
	if l.lustre == nil {
		h.Files[l.p] = append([]byte(nil), data...)
		return ""
	}
	n := l.lustre.disk.Nodes[l.p]
	if written, errno := st.grow(l, n, int64(len(data))); errno != "" {
		n.Size = written
		l.lustre.commit()
		return errno
	}
	n.Data = append([]byte(nil), data...)
	l.lustre.commit()
	return ""
}

// grow sets a Lustre file to size bytes, as far as the project's block
// limit allows when it is enforced, and returns the size reached. Data
// needs an OST. tee, which writes the driver's small files, uses it and
// is refused at once; dd models the client's write-back (cmdDd).
func (st *state) grow(l loc, n *lnode, size int64) (int64, string) {
	n.Size, n.Data = 0, nil
	if size == 0 {
		return 0, ""
	}
	if !l.lustre.ostUp {
		return 0, eIO
	}
	d := l.lustre.disk
	lim := d.limitsOf(n.Proj)
	if n.Proj == 0 || !l.lustre.enforce.blocks || lim.BHard == 0 {
		n.Size = size
		return size, ""
	}
	if d.full(n.Proj) {
		return 0, eDQUOT
	}
	used, _ := d.usage(n.Proj)
	room := int64(0)
	if lim.BHard > used {
		room = int64(lim.BHard-used) * 1024 / blockSize * blockSize
	}
	if size > room {
		n.Size = room
		return room, eDQUOT
	}
	n.Size = size
	return size, ""
}

// removeOne removes a file or an empty directory (not a mount point).
func (st *state) removeOne(h *hostState, hostPath string, l loc) string {
	isDir, exists := st.kind(h, l)
	switch {
	case !exists:
		return eNOENT
	case h.mountAt(hostPath) >= 0:
		return eBUSY
	case l.ro:
		return eROFS
	case isDir && len(st.list(h, l)) > 0:
		return eNOTEMPTY
	}
	if l.lustre == nil {
		delete(h.Dirs, l.p)
		delete(h.Files, l.p)
		return ""
	}
	delete(l.lustre.disk.Nodes, l.p)
	l.lustre.commit()
	return ""
}

// rename moves a file or directory tree within one filesystem (the caller
// checked that it is one). Moving into a directory with the project
// inherit flag and another project ID is EXDEV in the kernel; mv then
// copies, so the copy takes the new project, which is what the simulator
// does directly.
func (st *state) rename(h *hostState, from, to loc) string {
	if from.ro || to.ro {
		return eROFS
	}
	if from.lustre == nil {
		return st.renameLocal(h, from.p, to.p)
	}
	d := from.lustre.disk
	top := d.Nodes[from.p]
	if top == nil {
		return eBUSY // the filesystem root
	}
	parent := d.node(path.Dir(to.p))
	retag := parent.Inherit && top.Proj != parent.Proj
	var moving []string
	for k := range d.Nodes {
		if k == from.p || strings.HasPrefix(k, from.p+"/") {
			moving = append(moving, k)
		}
	}
	for _, k := range moving {
		n := d.Nodes[k]
		delete(d.Nodes, k)
		if retag {
			n.Proj, n.Inherit = parent.Proj, true
		}
		d.Nodes[to.p+strings.TrimPrefix(k, from.p)] = n
	}
	from.lustre.commit()
	return ""
}

func (st *state) renameLocal(h *hostState, from, to string) string {
	if b, isFile := h.Files[from]; isFile {
		delete(h.Files, from)
		h.Files[to] = b
		return ""
	}
	prefix := from + "/"
	for _, k := range sortedKeys(h.Dirs) {
		if k == from || strings.HasPrefix(k, prefix) {
			delete(h.Dirs, k)
			h.Dirs[to+strings.TrimPrefix(k, from)] = true
		}
	}
	for _, k := range sortedKeys(h.Files) {
		if strings.HasPrefix(k, prefix) {
			h.Files[to+strings.TrimPrefix(k, from)] = h.Files[k]
			delete(h.Files, k)
		}
	}
	return ""
}
