package hostsim

import (
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Users. Every simulated command runs as root, except under setpriv, which
// is how a test runs what a pod's process (runAsUser, runAsGroup,
// supplementary groups) would do. The only place the identity matters is
// a Lustre client's metadata request: the MDT resolves the uid with its
// identity upcall (identity_upcall, Lustre's default
// /usr/sbin/l_getidentity) from the passwd database of the node that
// serves it, and denies a uid it does not know, whatever the mode bits say
// (lustre-facts.md, "Identity and permissions"); with identity_upcall=NONE
// it trusts what the client sends. Mode bits and ownership are not
// modelled: a known uid may do what root may.

// identity is who runs a command: what setpriv set.
type identity struct {
	UID, GID int
	Groups   []int
}

// defaultIdentityUpcall is an MDT's identity_upcall until the MGS sets
// another one (Lustre 2.17).
const defaultIdentityUpcall = "/usr/sbin/l_getidentity"

// eACCES is EACCES as strerror(3) spells it.
const eACCES = "Permission denied"

// basePasswd are the uids a Debian 12 base system has in /etc/passwd, the
// database of a host whose /etc/passwd no command wrote.
var basePasswd = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 33, 34, 38, 39, 42, 65534}

// knowsUID reports whether uid has an entry in the host's /etc/passwd
// (name:password:uid:gid:gecos:home:shell per line).
func (h *hostState) knowsUID(uid int) bool {
	b, found := h.Files["/etc/passwd"]
	if !found {
		for _, u := range basePasswd {
			if u == uid {
				return true
			}
		}
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[2] == strconv.Itoa(uid) {
			return true
		}
	}
	return false
}

// identityDenied is the errno an MDT (served by mdtHost, with identity
// upcall upcall) answers a metadata request of the command's caller:
// eACCES for a non-root uid the upcall cannot resolve, "" otherwise.
func (st *state) identityDenied(mdtHost *hostState, upcall string) string {
	c := st.caller
	if c == nil || c.UID == 0 || upcall == "NONE" || mdtHost.knowsUID(c.UID) {
		return ""
	}
	return eACCES
}

// userCommands are what hostsim runs as a non-root user: the file tools a
// pod's process would use. Anything else (mount, lctl, ...) needs root,
// which the simulator does not check, so it refuses rather than pretend.
var userCommands = map[string]bool{
	"cat": true, "tee": true, "mkdir": true, "rm": true, "rmdir": true, "mv": true,
	"dd": true, "test": true, "true": true, "sync": true,
}

// cmdSetpriv models `setpriv --reuid=UID --regid=GID --clear-groups|
// --groups=G[,G...] [--] PROGRAM [ARGS...]` (util-linux): PROGRAM runs with
// that identity.
func cmdSetpriv(st *state, h *hostState, c host.Cmd) host.Result {
	usage := func() host.Result {
		return fail(1, "setpriv: only `setpriv --reuid=UID --regid=GID --clear-groups|--groups=G,... [--] PROGRAM [ARGS]` is simulated")
	}
	id := identity{UID: -1, GID: -1}
	groups := false
	args := c.Args
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "--reuid":
			id.UID, err = strconv.Atoi(v)
		case "--regid":
			id.GID, err = strconv.Atoi(v)
		case "--clear-groups":
			groups, id.Groups = true, nil
		case "--groups":
			groups = true
			for _, g := range strings.Split(v, ",") {
				n, gerr := strconv.Atoi(g)
				if gerr != nil {
					err = gerr
				}
				id.Groups = append(id.Groups, n)
			}
		default:
			return usage()
		}
		if err != nil {
			return usage()
		}
	}
	if len(args) == 0 || id.UID < 0 || id.GID < 0 || !groups {
		return usage()
	}
	if id.UID != 0 && !userCommands[args[0]] {
		return fail(1, "setpriv: running %s as uid %d is not simulated (hostsim runs only file tools as a user)", args[0], id.UID)
	}
	prev := st.caller
	st.caller = &id
	defer func() { st.caller = prev }()
	return runCommand(st, h, host.Cmd{Name: args[0], Args: args[1:], Stdin: c.Stdin})
}
