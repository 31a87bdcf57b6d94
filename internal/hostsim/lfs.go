package hostsim

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// lfs project, setquota and quota as lustre/utils (lfs.c, lfs_project.c)
// implement them, on paths of a mounted Lustre client; dd as the writer
// whose usage the quotas account. Usage mistakes exit 22 (EINVAL) here;
// real lfs prints its help and exits non-zero.

type getoptResult struct {
	opts map[rune]string // option -> value ("" for flags)
	pos  []string
}

// getopt parses POSIX short options (combined flags, "-p1" or "-p 1");
// spec lists the letters, a ':' after one that takes a value.
func getopt(args []string, spec string) (getoptResult, string) {
	r := getoptResult{opts: map[rune]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			r.pos = append(r.pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			r.pos = append(r.pos, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := rune(a[j])
			k := strings.IndexRune(spec, c)
			if k < 0 || c == ':' {
				return r, fmt.Sprintf("invalid option -- '%c'", c)
			}
			if k+1 < len(spec) && spec[k+1] == ':' {
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return r, fmt.Sprintf("option requires an argument -- '%c'", c)
					}
					i++
					v = args[i]
				}
				r.opts[c] = v
				break
			}
			r.opts[c] = ""
		}
	}
	return r, ""
}

func cmdLfs(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) == 0 {
		return fail(22, "lfs: only `lfs project`, `lfs setquota -p` and `lfs quota -p` are simulated")
	}
	switch c.Args[0] {
	case "project":
		return st.lfsProject(h, c.Args[1:])
	case "setquota":
		return st.lfsSetquota(h, c.Args[1:])
	case "quota":
		return st.lfsQuota(h, c.Args[1:])
	}
	return fail(22, "lfs: %s is not simulated", c.Args[0])
}

// parseProjectID parses a 32-bit project ID. (lfs project itself uses
// strtoul and would take "x" as 0; the simulator refuses it.)
func parseProjectID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// projectOpts are the options of `lfs project`.
type projectOpts struct {
	setID, setInherit, clear, keep, dirOnly, recursive bool
	id                                                 uint32
}

// projectArgs parses `lfs project`'s arguments into its options and
// targets; bad is lfs's answer to arguments it refuses.
func projectArgs(args []string) (projectOpts, []string, *host.Result) {
	refuse := func(format string, a ...any) (projectOpts, []string, *host.Result) {
		res := fail(22, format, a...)
		return projectOpts{}, nil, &res
	}
	g, msg := getopt(args, "p:sdrCk")
	if msg != "" {
		return refuse("lfs project: %s", msg)
	}
	if len(g.pos) == 0 {
		return refuse("lfs project: missing file or directory target(s)")
	}
	var o projectOpts
	for flag, set := range map[rune]*bool{'p': &o.setID, 's': &o.setInherit, 'C': &o.clear, 'k': &o.keep, 'd': &o.dirOnly, 'r': &o.recursive} {
		_, *set = g.opts[flag]
	}
	id, valid := parseProjectID(g.opts['p'])
	if o.setID && !valid {
		return refuse("lfs project: invalid project ID '%s'", g.opts['p'])
	}
	if o.clear && (o.setID || o.setInherit) {
		return refuse("lfs project: cannot specify '-c' '-C' '-s' together")
	}
	o.id = id
	return o, g.pos, nil
}

// changes: the invocation sets or clears rather than lists.
func (o projectOpts) changes() bool { return o.setID || o.setInherit || o.clear }

// apply makes the invocation's change to one inode.
func (o projectOpts) apply(n *lnode) {
	if o.clear {
		n.Inherit = false
		if !o.keep {
			n.Proj = 0
		}
		return
	}
	n.Inherit = n.Inherit || o.setInherit
	if o.setID {
		n.Proj = o.id
	}
}

// lfsProject: list (-d: the directory itself, otherwise its entries; -r
// recursively), set (-p ID and/or -s: the directory and its entries, -r
// recursively) or clear (-C, -k keeps the ID) project IDs and the inherit
// flag.
func (st *state) lfsProject(h *hostState, args []string) host.Result {
	o, pos, bad := projectArgs(args)
	if bad != nil {
		return *bad
	}
	change, dirOnly, recursive := o.changes(), o.dirOnly, o.recursive
	apply := o.apply
	var out strings.Builder
	for _, p := range pos {
		l, errno := st.resolve(h, p)
		if errno != "" {
			return fail(1, "lfs: failed to stat '%s': %s", p, errno)
		}
		isDir, exists := st.kind(h, l)
		switch {
		case !exists:
			return fail(1, "lfs: failed to stat '%s': No such file or directory", p)
		case l.lustre == nil && change:
			return fail(1, "lfs: failed to set xattr for '%s': Operation not supported", p)
		case l.ro && change:
			return fail(1, "lfs: failed to set xattr for '%s': %s", p, eROFS)
		case l.lustre == nil:
			// Other filesystems answer FS_IOC_FSGETXATTR with project 0.
			fmt.Fprintf(&out, "%5d - %s\n", 0, p)
			continue
		}
		d := l.lustre.disk
		visit := func(inner, shown string) {
			n := d.Nodes[inner]
			if n == nil {
				// The filesystem root has no inode of its own here.
				fmt.Fprintf(&out, "%5d - %s\n", 0, shown)
				return
			}
			if change {
				apply(n)
				return
			}
			flag := '-'
			if n.Inherit {
				flag = 'P'
			}
			fmt.Fprintf(&out, "%5d %c %s\n", n.Proj, flag, shown)
		}
		// Listing skips the top directory unless -d; changes include it.
		if !isDir || dirOnly || change {
			visit(l.p, p)
		}
		if isDir && !dirOnly {
			st.walk(d, l.p, p, recursive, visit)
		}
		if change {
			l.lustre.commit()
		}
	}
	return ok(out.String())
}

// walk visits the entries of directory inner (shown under the name
// shown), and with recursive those of every subdirectory, breadth first as
// lfs does.
func (st *state) walk(d *lustreDisk, inner, shown string, recursive bool, visit func(inner, shown string)) {
	type item struct{ inner, shown string }
	queue := []item{{inner, shown}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, name := range d.children(it.inner) {
			ci, cs := path.Join(it.inner, name), it.shown+"/"+name
			visit(ci, cs)
			if recursive && d.Nodes[ci].Dir {
				queue = append(queue, item{ci, cs})
			}
		}
	}
}

// parseLimit parses an lfs setquota limit: a number with an optional
// binary suffix (k, M, G, T, P, E); without one, block limits are in KiB
// and inode limits a count. It returns KiB for blocks.
func parseLimit(s string, blocks bool) (uint64, bool) {
	num, unit := s, uint64(1)
	if blocks {
		unit = 1024
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num = s[:i]
		switch strings.ToLower(s[i:]) {
		case "k":
			unit = 1 << 10
		case "m":
			unit = 1 << 20
		case "g":
			unit = 1 << 30
		case "t":
			unit = 1 << 40
		case "p":
			unit = 1 << 50
		case "e":
			unit = 1 << 60
		default:
			return 0, false
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (n != 0 && unit > math.MaxUint64/n) {
		return 0, false
	}
	if blocks {
		return n * unit >> 10, true
	}
	return n * unit, true
}

// clientPath resolves the MOUNT argument of lfs quota and setquota: any
// path on a mounted Lustre client.
func (st *state) clientPath(h *hostState, cmd, p string) (*lustreView, host.Result, bool) {
	l, errno := st.resolve(h, p)
	switch {
	case errno != "":
		return nil, fail(5, "Unexpected quotactl error: %s", errno), false
	case l.lustre == nil:
		return nil, fail(19, "lfs %s: '%s' not on a mounted Lustre filesystem", cmd, p), false
	}
	if _, exists := st.kind(h, l); !exists {
		return nil, fail(2, "lfs %s: '%s' not on a mounted Lustre filesystem", cmd, p), false
	}
	return l.lustre, host.Result{}, true
}

func (st *state) lfsSetquota(h *hostState, args []string) host.Result {
	g, msg := getopt(args, "p:b:B:i:I:")
	if msg != "" {
		return fail(22, "lfs setquota: %s", msg)
	}
	idArg, isProject := g.opts['p']
	if !isProject || len(g.pos) != 1 {
		return fail(22, "lfs setquota: only `lfs setquota -p ID [-b N] [-B N] [-i N] [-I N] MOUNT` is simulated")
	}
	id, valid := parseProjectID(idArg)
	if !valid {
		return fail(1, "lfs setquota: invalid id '%s'", idArg)
	}
	if id == 0 {
		return fail(1, "lfs setquota: can't set quota for root usr/group/project.")
	}
	type setting struct {
		flag   rune
		blocks bool
		name   string
		dst    func(*limits) *uint64
	}
	settings := []setting{
		{'b', true, "block softlimit", func(l *limits) *uint64 { return &l.BSoft }},
		{'B', true, "block hardlimit", func(l *limits) *uint64 { return &l.BHard }},
		{'i', false, "inode softlimit", func(l *limits) *uint64 { return &l.ISoft }},
		{'I', false, "inode hardlimit", func(l *limits) *uint64 { return &l.IHard }},
	}
	v, res, found := st.clientPath(h, "setquota", g.pos[0])
	if !found {
		return res
	}
	// Limits not given keep their current value, as lfs reads them first.
	lim := v.disk.limitsOf(id)
	var warn strings.Builder
	given := false
	for _, s := range settings {
		arg, set := g.opts[s.flag]
		if !set {
			continue
		}
		n, valid := parseLimit(arg, s.blocks)
		if !valid {
			return fail(22, "lfs setquota: invalid limit '%s'", arg)
		}
		if n != 0 && n <= 1024 {
			fmt.Fprintf(&warn, "lfs setquota: warning: %s '%d' smaller than minimum qunit size\nSee 'lfs help setquota' or Lustre manual for details\n", s.name, n)
		}
		*s.dst(&lim) = n
		given = true
	}
	if !given {
		return fail(22, "lfs setquota: at least one limit must be specified")
	}
	// New limits make the quota master grant again: a project refused a
	// write (limits.Full) may write again.
	lim.Full, lim.FullAt = false, 0
	if lim == (limits{}) {
		delete(v.disk.Limits, id)
	} else {
		v.disk.Limits[id] = &lim
	}
	v.commit()
	return host.Result{Stderr: warn.String()}
}

func (st *state) lfsQuota(h *hostState, args []string) host.Result {
	g, msg := getopt(args, "p:")
	if msg != "" {
		return fail(22, "lfs quota: %s", msg)
	}
	idArg, isProject := g.opts['p']
	if !isProject || len(g.pos) != 1 {
		return fail(22, "lfs quota: only `lfs quota -p ID MOUNT` is simulated")
	}
	id, valid := parseProjectID(idArg)
	if !valid {
		return fail(22, "lfs quota: invalid project ID '%s'", idArg)
	}
	v, res, found := st.clientPath(h, "quota", g.pos[0])
	if !found {
		return res
	}
	kib, inodes := v.disk.usage(id)
	lim := v.disk.limitsOf(id)
	var b strings.Builder
	fmt.Fprintf(&b, "Disk quotas for prj %s (pid %d):\n", idArg, id)
	fmt.Fprintf(&b, "%15s%8s %7s%8s%8s%8s %7s%8s%8s\n", "Filesystem", "kbytes", "quota", "limit", "grace", "files", "quota", "limit", "grace")
	mnt := g.pos[0]
	if len(mnt) > 15 {
		fmt.Fprintf(&b, "%s\n%15s", mnt, "")
	} else {
		fmt.Fprintf(&b, "%15s", mnt)
	}
	// '*' marks usage at or over the hard limit, or over the soft one.
	// Grace timers are not simulated ("-").
	over := func(used, soft, hard uint64) byte {
		if (hard != 0 && used >= hard) || (soft != 0 && used > soft) {
			return '*'
		}
		return ' '
	}
	fmt.Fprintf(&b, " %7d%c %6d %7d %7s", kib, over(kib, lim.BSoft, lim.BHard), lim.BSoft, lim.BHard, "-")
	fmt.Fprintf(&b, " %7d%c %6d %7d %7s\n", inodes, over(inodes, lim.ISoft, lim.IHard), lim.ISoft, lim.IHard, "-")
	return ok(b.String())
}

// parseDdSize parses dd's bs=: digits with K, M, G (powers of 1024) or
// KB, MB, GB (powers of 1000).
func parseDdSize(s string) (int64, bool) {
	mult := map[string]int64{"": 1, "c": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "KB": 1000, "MB": 1000000, "GB": 1000000000}
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	m, known := mult[s[i:]]
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if !known || err != nil || n <= 0 || n > math.MaxInt64/m {
		return 0, false
	}
	return n * m, true
}

// Project quota overrun as Lustre 2.17 showed it (shared/reference/
// lustre-facts.md, "Project quotas"; ci/vm/HOSTSIM-CORRECTIONS.md
// L-quota): past the hard limit the write call does not fail at once.
//
//   - A buffered 2 MiB write into a 1024 KiB project (33 KiB used by its
//     empty directory): dd and sync succeeded, the usage stayed 33 KiB.
//   - The same with conv=fsync: `dd: fsync failed for '...': Input/output
//     error`.
//   - After that, and with oflag=direct: `dd: error writing '...': Disk
//     quota exceeded`, `0+0 records out`.
//   - An 8192 KiB limit and a 16 MiB write: `8+0 records out`, then
//     EDQUOT.
//
// The model, deterministic and consistent with all four:
//
//   - write(2) of a buffered record copies it into the client's cache and
//     succeeds. The client sends dirty data to the OST in bulk RPCs of
//     ddRPCSize: one as soon as a whole RPC is dirty, while dd writes; the
//     rest when dd fsyncs, or after it exits (writeback, sync), which the
//     simulator does at the end of the command.
//   - The OST takes an RPC only if the project's usage with it stays
//     within the hard limit; otherwise it refuses the whole RPC: its data
//     is dropped and not accounted, and fsync reports EIO.
//   - A refusal the writer is there to learn of (an RPC sent while dd
//     writes or by its fsync, an O_DIRECT write) marks the project full
//     (limits.Full): from then on every write call of the project fails
//     with EDQUOT at once, until lfs setquota sets its limits again or its
//     usage drops. Write-back after dd exited without fsync drops the data
//     and marks nothing: in the facts' order, the run after the silent
//     one, with conv=fsync, got EIO from fsync, not EDQUOT.
//   - oflag=direct writes each record at once: a record that does not fit
//     is refused whole, EDQUOT.
//
// So: 1024 KiB, 2 x 1 MiB buffered: 2 MiB dirty, less than an RPC, sent
// after dd exits and refused; exit 0, usage 33 KiB. With conv=fsync the
// fsync sends it: EIO, the project full; the next write: EDQUOT, 0+0
// records out. 8192 KiB, 16 x 1 MiB: the RPC of records 1-4 fits (4129
// KiB), that of records 5-8 (8225 KiB) is refused while dd writes, so the
// 9th write fails: `9+0 records in`, `8+0 records out`.
//
// Left open by the facts, and chosen here: the RPC size (Lustre's
// default, not observed) and dd's bs (the model answers alike for 2 x 1
// MiB and 1 x 2 MiB). dd (coreutils) returns before its fsync after a
// write error, so the fsync EIO the 8 MiB run also met came from a later
// fsync of the file, which keeps its write-back error until one reports
// it; the simulated sync(1) ignores its arguments and reports nothing. The
// full mark is the project's on the servers, so every client sees it,
// where a real client learns it from the OSTs' replies. A file's size is
// the data the OSTs took (a real client shows the size written, without
// the blocks). tee, which writes the driver's small files, is refused at
// once past the limit (grow).

// ddRPCSize is the bulk RPC a Lustre client writes back: 1024 pages of 4
// KiB (osc max_pages_per_rpc's default).
const ddRPCSize = 4 << 20

// cmdDd models `dd if=/dev/zero of=FILE bs=N count=M [conv=fsync]
// [oflag=direct]` on a Lustre client: the file is truncated and written,
// with quota overrun as described above.
func cmdDd(st *state, h *hostState, c host.Cmd) host.Result {
	kv := map[string]string{}
	for _, a := range c.Args {
		k, v, found := strings.Cut(a, "=")
		if !found {
			return fail(1, "dd: unrecognized operand '%s'", a)
		}
		kv[k] = v
	}
	bs, bsOK := parseDdSize(kv["bs"])
	count, err := strconv.ParseInt(kv["count"], 10, 64)
	supported := true
	for k, v := range kv {
		switch k {
		case "if", "of", "bs", "count":
		case "conv":
			supported = supported && v == "fsync"
		case "oflag":
			supported = supported && v == "direct"
		default:
			supported = false
		}
	}
	fsync, direct := kv["conv"] != "", kv["oflag"] != ""
	if !supported || kv["if"] != "/dev/zero" || kv["of"] == "" || !bsOK || err != nil || count < 0 || count > math.MaxInt64/bs {
		return fail(1, "dd: only `dd if=/dev/zero of=FILE bs=N count=M [conv=fsync] [oflag=direct]` is simulated")
	}
	of := kv["of"]
	l, errno := st.resolve(h, of)
	if errno == "" && l.lustre == nil {
		return fail(1, "dd: only writes to a Lustre client mount are simulated")
	}
	if errno == "" {
		if isDir, exists := st.kind(h, l); isDir {
			errno = eISDIR
		} else if !exists {
			errno = st.create(h, l, false)
		} else if l.ro {
			errno = eROFS
		}
	}
	if errno != "" {
		return fail(1, "dd: failed to open '%s': %s", of, errno)
	}
	n := l.lustre.disk.Nodes[l.p]
	n.Size, n.Data = 0, nil // O_TRUNC
	out, writeErr, syncErr := ddWrite(l.lustre, n, bs, count, fsync, direct)
	l.lustre.commit()
	var b strings.Builder
	in, code := out, 0
	switch {
	case writeErr != "":
		// dd read the record it failed to write, and returns before its
		// fsync.
		in, code = out+1, 1
		fmt.Fprintf(&b, "dd: error writing '%s': %s\n", of, writeErr)
	case syncErr != "":
		code = 1
		fmt.Fprintf(&b, "dd: fsync failed for '%s': %s\n", of, syncErr)
	}
	fmt.Fprintf(&b, "%d+0 records in\n%d+0 records out\n%d bytes copied\n", in, out, out*bs)
	return host.Result{Stderr: b.String(), ExitCode: code}
}

// ddWrite writes count records of bs bytes to the truncated file n and
// returns how many write calls succeeded, the errno of the one that
// failed, and fsync's errno (cmdDd's model).
func ddWrite(v *lustreView, n *lnode, bs, count int64, fsync, direct bool) (out int64, writeErr, syncErr string) {
	if count == 0 {
		return 0, "", ""
	}
	if !v.ostUp {
		// A real client waits for an OST; the simulator fails at once.
		return 0, eIO, ""
	}
	d := v.disk
	lim := d.limitsOf(n.Proj)
	if n.Proj == 0 || !v.enforce.blocks || lim.BHard == 0 {
		n.Size = bs * count
		return count, "", ""
	}
	if d.full(n.Proj) {
		return 0, eDQUOT, ""
	}
	// What the project's other files leave: bytes in whole 4 KiB blocks.
	used, _ := d.usage(n.Proj)
	var room int64
	if lim.BHard > used {
		room = int64(lim.BHard-used) / (blockSize / 1024) * blockSize
	}
	if direct {
		fit := min(room/bs, count)
		n.Size = fit * bs
		if fit < count {
			d.markFull(n.Proj)
			return fit, eDQUOT, ""
		}
		return count, "", ""
	}
	total := bs * count
	rpcs := total / ddRPCSize // whole RPCs, sent while dd writes
	fit := min(room/ddRPCSize, rpcs)
	n.Size = fit * ddRPCSize
	if fit < rpcs {
		// RPC fit+1 is refused: the record that completed it was taken
		// into the cache, the next write call fails.
		d.markFull(n.Proj)
		sentBy := ((fit+1)*ddRPCSize + bs - 1) / bs
		if sentBy < count {
			return sentBy, eDQUOT, ""
		}
		if fsync {
			return count, "", eIO
		}
		return count, "", ""
	}
	// The rest, less than an RPC, goes at fsync or after dd exits.
	rest := total - n.Size
	if rest == 0 {
		return count, "", ""
	}
	if n.Size+(rest+blockSize-1)/blockSize*blockSize <= room {
		n.Size = total
		return count, "", ""
	}
	if fsync {
		d.markFull(n.Proj)
		return count, "", eIO
	}
	return count, "", ""
}
