package hostsim

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// The coreutils the steps use, on the host's own files or, through a
// client mount or a bind mount of one, on a Lustre filesystem's namespace.
// Messages and exit codes are coreutils'.

// plainArgs drops options such as -f/-p that the simulator treats as always
// given.
func plainArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			out = append(out, path.Clean(a))
		}
	}
	return out
}

// flagSet reports which single-letter options appear in args, combined
// (-rf) or not.
func flagSet(args []string) map[rune]bool {
	out := map[rune]bool{}
	for _, a := range args {
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			for _, r := range a[1:] {
				out[r] = true
			}
		}
	}
	return out
}

// exists reports whether p is a file, directory or device on the host. A
// DRBD device node exists only while its resource is up. A path on an
// unreachable filesystem does not exist as far as test(1) can tell.
func (st *state) exists(h *hostState, p string) bool {
	p = path.Clean(p)
	if p == "/proc/self/mountinfo" {
		return true
	}
	if _, found := h.Disks[p]; found || h.drbdByDevice(p) != nil {
		return true
	}
	l, errno := st.resolve(h, p)
	if errno != "" {
		return false
	}
	_, exists := st.kind(h, l)
	return exists
}

func cmdCat(st *state, h *hostState, c host.Cmd) host.Result {
	var out strings.Builder
	for _, p := range c.Args {
		switch p {
		case "/proc/self/mountinfo":
			out.WriteString(h.mountinfo())
			continue
		case "/proc/drbd":
			if !h.Modules["drbd"] {
				return fail(1, "cat: /proc/drbd: No such file or directory")
			}
			out.WriteString(st.procDRBD(h))
			continue
		}
		l, errno := st.resolve(h, p)
		if errno != "" {
			return fail(1, "cat: %s: %s", p, errno)
		}
		isDir, exists := st.kind(h, l)
		switch {
		case isDir:
			return fail(1, "cat: %s: Is a directory", p)
		case !exists:
			return fail(1, "cat: %s: No such file or directory", p)
		case l.lustre == nil:
			out.Write(h.Files[l.p])
			continue
		}
		n := l.lustre.disk.Nodes[l.p]
		if int64(len(n.Data)) != n.Size {
			return fail(1, "cat: %s: hostsim keeps the size of files written by dd, not their content", p)
		}
		out.Write(n.Data)
	}
	return ok(out.String())
}

func cmdTee(st *state, h *hostState, c host.Cmd) host.Result {
	for _, p := range c.Args {
		if strings.HasPrefix(p, "-") {
			return fail(1, "tee: option %s not simulated", p)
		}
		l, errno := st.resolve(h, p)
		if errno == "" {
			errno = st.writeFile(h, l, c.Stdin)
		}
		if errno != "" {
			return host.Result{Stdout: string(c.Stdin), Stderr: fmt.Sprintf("tee: %s: %s\n", p, errno), ExitCode: 1}
		}
	}
	return ok(string(c.Stdin))
}

func cmdMkdir(st *state, h *hostState, c host.Cmd) host.Result {
	parents := flagSet(c.Args)['p']
	for _, p := range plainArgs(c.Args) {
		if errno := st.mkdir(h, p, parents); errno != "" {
			return fail(1, "mkdir: cannot create directory '%s': %s", p, errno)
		}
	}
	return ok("")
}

// mkdir creates p, and with parents every missing directory above it,
// each resolved on its own so that the walk crosses mount points.
func (st *state) mkdir(h *hostState, p string, parents bool) string {
	var todo []string
	if parents {
		for q := p; q != "/" && q != "."; q = path.Dir(q) {
			todo = append(todo, q)
		}
		slices.Reverse(todo)
	} else {
		todo = []string{p}
	}
	for _, q := range todo {
		l, errno := st.resolve(h, q)
		if errno != "" {
			return errno
		}
		isDir, exists := st.kind(h, l)
		switch {
		case exists && isDir && parents:
			continue
		case exists && q == p:
			return eEXIST
		case exists:
			return eNOTDIR
		}
		if errno := st.create(h, l, true); errno != "" {
			return errno
		}
	}
	return ""
}

func cmdRm(st *state, h *hostState, c host.Cmd) host.Result {
	f := flagSet(c.Args)
	force, recursive := f['f'], f['r'] || f['R'] || slices.Contains(c.Args, "--recursive")
	var errs []string
	for _, p := range plainArgs(c.Args) {
		if recursive && p == "/" {
			return fail(1, "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe")
		}
		l, errno := st.resolve(h, p)
		if errno != "" {
			errs = append(errs, fmt.Sprintf("rm: cannot remove '%s': %s", p, errno))
			continue
		}
		isDir, exists := st.kind(h, l)
		switch {
		case !exists && force:
		case !exists:
			errs = append(errs, fmt.Sprintf("rm: cannot remove '%s': %s", p, eNOENT))
		case isDir && !recursive:
			errs = append(errs, fmt.Sprintf("rm: cannot remove '%s': %s", p, eISDIR))
		default:
			errs = append(errs, st.removeTree(h, p)...)
		}
	}
	if len(errs) > 0 {
		return fail(1, "%s", strings.Join(errs, "\n"))
	}
	return ok("")
}

// removeTree removes p and everything below it, like rm -r: it descends
// into whatever is mounted below p (rm does not stop at mount points) and
// fails only on the mount points themselves.
func (st *state) removeTree(h *hostState, p string) []string {
	l, errno := st.resolve(h, p)
	if errno != "" {
		return []string{fmt.Sprintf("rm: cannot remove '%s': %s", p, errno)}
	}
	var errs []string
	if isDir, _ := st.kind(h, l); isDir {
		for _, name := range st.list(h, l) {
			errs = append(errs, st.removeTree(h, path.Join(p, name))...)
		}
	}
	if len(errs) > 0 {
		// The directory is not empty; rm reports only what blocked it.
		return errs
	}
	if errno := st.removeOne(h, p, l); errno != "" {
		return []string{fmt.Sprintf("rm: cannot remove '%s': %s", p, errno)}
	}
	return nil
}

func cmdRmdir(st *state, h *hostState, c host.Cmd) host.Result {
	for _, p := range plainArgs(c.Args) {
		l, errno := st.resolve(h, p)
		if errno == "" {
			if isDir, exists := st.kind(h, l); exists && !isDir {
				errno = eNOTDIR
			} else {
				errno = st.removeOne(h, p, l)
			}
		}
		if errno != "" {
			return fail(1, "rmdir: failed to remove '%s': %s", p, errno)
		}
	}
	return ok("")
}

func cmdMv(st *state, h *hostState, c host.Cmd) host.Result {
	a := plainArgs(c.Args)
	if len(a) != 2 {
		return fail(1, "mv: missing file operand")
	}
	src, dst := a[0], a[1]
	from, errno := st.resolve(h, src)
	if errno != "" {
		return fail(1, "mv: cannot stat '%s': %s", src, errno)
	}
	srcDir, srcExists := st.kind(h, from)
	if !srcExists {
		return fail(1, "mv: cannot stat '%s': No such file or directory", src)
	}
	to, errno := st.resolve(h, dst)
	if dstDir, _ := st.kind(h, to); errno == "" && dstDir {
		// mv SRC DIR moves SRC into DIR.
		dst = path.Join(dst, path.Base(src))
		to, errno = st.resolve(h, dst)
	}
	failed := func(errno string) host.Result {
		return fail(1, "mv: cannot move '%s' to '%s': %s", src, dst, errno)
	}
	if errno != "" {
		return failed(errno)
	}
	if dst == src || strings.HasPrefix(dst, src+"/") {
		return fail(1, "mv: cannot move '%s' to a subdirectory of itself, '%s'", src, dst)
	}
	if h.mountAt(src) >= 0 {
		return failed(eBUSY)
	}
	if parentDir, _ := st.kind(h, loc{lustre: to.lustre, p: path.Dir(to.p)}); !parentDir {
		return failed(eNOENT)
	}
	dstDir, dstExists := st.kind(h, to)
	switch {
	case dstExists && srcDir && !dstDir:
		return fail(1, "mv: cannot overwrite non-directory '%s' with directory '%s'", dst, src)
	case dstExists && !srcDir && dstDir:
		return fail(1, "mv: cannot overwrite directory '%s' with non-directory '%s'", dst, src)
	case dstExists:
		// rename(2) replaces a file, or an empty directory.
		if errno := st.removeOne(h, dst, to); errno != "" {
			return failed(errno)
		}
	}
	if (from.lustre == nil) != (to.lustre == nil) || (from.lustre != nil && from.lustre.disk != to.lustre.disk) {
		// rename(2) says EXDEV; mv would then copy and delete.
		return fail(1, "mv: moving '%s' to another filesystem is not simulated (mv would copy it)", src)
	}
	if errno := st.rename(h, from, to); errno != "" {
		return failed(errno)
	}
	return ok("")
}

func cmdChmod(st *state, h *hostState, c host.Cmd) host.Result {
	a := plainArgs(c.Args)
	if len(a) < 2 {
		return fail(1, "chmod: missing operand")
	}
	for _, p := range a[1:] {
		l, errno := st.resolve(h, p)
		if _, exists := st.kind(h, l); errno != "" || !exists {
			return fail(1, "chmod: cannot access '%s': No such file or directory", p)
		}
		if l.ro {
			return fail(1, "chmod: changing permissions of '%s': %s", p, eROFS)
		}
	}
	return ok("")
}

func cmdTest(st *state, h *hostState, c host.Cmd) host.Result {
	if len(c.Args) != 2 {
		return fail(2, "test: expected -e|-f|-s|-b|-d PATH")
	}
	p := path.Clean(c.Args[1])
	var yes bool
	switch c.Args[0] {
	case "-e":
		yes = st.exists(h, p)
	case "-f", "-d":
		// test(1) says "no" for a path it cannot stat, whatever the reason.
		if l, errno := st.resolve(h, p); errno == "" {
			isDir, exists := st.kind(h, l)
			yes = exists && isDir == (c.Args[0] == "-d")
		}
	case "-s":
		// Exists with a size above zero (the ZFS cache file check).
		if l, errno := st.resolve(h, p); errno == "" {
			if isDir, exists := st.kind(h, l); exists && !isDir && l.lustre == nil {
				yes = len(h.Files[l.p]) > 0
			}
		}
	case "-b":
		_, yes = h.Disks[p]
		yes = yes || h.drbdByDevice(p) != nil
	default:
		return fail(2, "test: %s: unary operator expected", c.Args[0])
	}
	if yes {
		return ok("")
	}
	return host.Result{ExitCode: 1}
}
