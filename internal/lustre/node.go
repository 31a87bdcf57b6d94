package lustre

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// ServerModules are the modules a ZFS-backed server needs; ClientModules
// those a client needs.
var (
	ServerModules = []string{"lnet", "lustre", "osd_zfs"}
	ClientModules = []string{"lnet", "lustre"}
)

// MissingModulesError lists each module that could not be loaded, with
// modprobe's reason.
type MissingModulesError struct {
	Missing map[string]string
	Order   []string
}

func (e *MissingModulesError) Error() string {
	var parts []string
	for _, m := range e.Order {
		parts = append(parts, fmt.Sprintf("%s (%s)", m, e.Missing[m]))
	}
	return "kernel modules missing: " + strings.Join(parts, "; ")
}

// loadedModules parses lsmod.
func loadedModules(ctx context.Context, run host.Runner) (map[string]bool, error) {
	res, err := host.Run(ctx, run, "lsmod")
	if err != nil {
		return nil, err
	}
	loaded := map[string]bool{}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Module") {
		return nil, fmt.Errorf("lsmod: unexpected output %q", res.Stdout)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			loaded[f[0]] = true
		}
	}
	return loaded, nil
}

// EnsureModules loads each module that lsmod does not list, and reports
// exactly which ones could not be loaded and why.
func EnsureModules(ctx context.Context, run host.Runner, modules []string) error {
	loaded, err := loadedModules(ctx, run)
	if err != nil {
		return err
	}
	missing := &MissingModulesError{Missing: map[string]string{}}
	for _, m := range modules {
		if loaded[m] {
			continue
		}
		_, err := host.Run(ctx, run, "modprobe", m)
		if err == nil {
			continue
		}
		ee, ok := host.AsExit(err)
		if !ok {
			// Not a modprobe answer (timeout, lost node): unknown, not missing.
			return err
		}
		missing.Missing[m] = strings.TrimSpace(ee.Result.Stderr)
		missing.Order = append(missing.Order, m)
	}
	if len(missing.Order) > 0 {
		return missing
	}
	return nil
}

// Network is one LNet network on one interface, "tcp0(eth1)".
type Network struct {
	Net       string
	Interface string
}

var networkRE = regexp.MustCompile(`^([a-z][a-z0-9]*)\(([A-Za-z0-9_.:-]+)\)$`)

// ParseNetwork parses "tcp0(eth1)".
func ParseNetwork(s string) (Network, error) {
	m := networkRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Network{}, fmt.Errorf("LNet network %q: want NET(INTERFACE), e.g. tcp0(eth1)", s)
	}
	return Network{Net: m[1], Interface: m[2]}, nil
}

// netType is the name lnetctl shows ("tcp0" and "tcp" are the same net).
func netType(n string) string {
	if t := strings.TrimRight(n, "0123456789"); n == t+"0" {
		return t
	}
	return n
}

// lnetNet is one net of `lnetctl net show`: the NIDs of its local NIs and
// the interfaces where lnetctl lists them.
type lnetNet struct {
	NIDs       []string
	Interfaces []string
}

// parseNetShow reads `lnetctl net show` into net type -> its NIs. lnetctl
// indents as libyaml does, a sequence item being a dash and five spaces
// (`-     net type: tcp`, Lustre 2.17 on a real kernel), older versions
// `    - net type: tcp`: any blanks around the dash are accepted. The
// non-verbose output of 2.17 names no interfaces (only `nid:` and
// `status:` under `local NI(s):`); an `interfaces:` list, where present,
// is read too.
func parseNetShow(out string) map[string]*lnetNet {
	nets := map[string]*lnetNet{}
	var cur *lnetNet
	ifacesAt := -1 // column of the current `interfaces:` key
	for _, line := range strings.Split(out, "\n") {
		col := strings.IndexFunc(line, func(r rune) bool { return r != ' ' && r != '-' })
		if col < 0 {
			continue
		}
		key, value, found := strings.Cut(line[col:], ": ")
		if !found {
			key = strings.TrimSuffix(line[col:], ":")
		}
		value = strings.TrimSpace(value)
		if ifacesAt >= 0 && col > ifacesAt {
			if cur != nil && value != "" {
				cur.Interfaces = append(cur.Interfaces, value)
			}
			continue
		}
		ifacesAt = -1
		switch key {
		case "net type":
			if nets[value] == nil {
				nets[value] = &lnetNet{}
			}
			cur = nets[value]
		case "nid":
			if cur != nil {
				cur.NIDs = append(cur.NIDs, value)
			}
		case "interfaces":
			ifacesAt = col
		}
	}
	return nets
}

// lnetNotConfigured tells the answers of `lnetctl net show` that mean LNet
// is not up. Lustre 2.17 (real kernel): before the lnet module is loaded,
// "Writer error: failed to resolve Netlink family id"; loaded but not
// configured, the kernel's -ENETDOWN, which libnl words "Unspecific
// failure"; both exit 234. lnetctl before its Netlink interface (2.15,
// still what EL9 packages install) said "cannot get networks: Network is
// down".
func lnetNotConfigured(err error) bool {
	ee, ok := host.AsExit(err)
	if !ok {
		return false
	}
	out := ee.Result.Stderr + ee.Result.Stdout
	switch {
	case ee.Result.ExitCode == 234:
		return strings.Contains(out, "failed to resolve Netlink family id") || strings.Contains(out, `descr: ! "Unspecific failure"`)
	case ee.Result.ExitCode != 0:
		return strings.Contains(out, "cannot get networks: Network is down")
	}
	return false
}

// lnetErrno reports whether a failed lnetctl command answered the given
// errno in its YAML error report (`errno: -17`).
func lnetErrno(err error, errno int) bool {
	ee, ok := host.AsExit(err)
	if !ok {
		return false
	}
	want := fmt.Sprintf("errno: %d", errno)
	for _, line := range strings.Split(ee.Result.Stderr+"\n"+ee.Result.Stdout, "\n") {
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}

// errnoEEXIST is what `lnetctl net add` answers for an NI that is there
// already (exit 234, `errno: -17`, "cannot add LNet NI").
const errnoEEXIST = -17

// configuredNets parses `lnetctl net show`: net type -> its NIs. ok is
// false when LNet is not configured (lnetNotConfigured).
func configuredNets(ctx context.Context, run host.Runner) (map[string]*lnetNet, bool, error) {
	res, err := host.Run(ctx, run, "lnetctl", "net", "show")
	if lnetNotConfigured(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return parseNetShow(res.Stdout), true, nil
}

// configured reports whether the wanted network is there. lnetctl 2.17
// does not list interfaces in `net show`, so a net of the wanted type
// counts as configured; where the interfaces are listed, the wanted one
// must be among them.
func (n Network) configured(nets map[string]*lnetNet) bool {
	have := nets[netType(n.Net)]
	if have == nil {
		return false
	}
	if len(have.Interfaces) == 0 {
		return true
	}
	for _, iface := range have.Interfaces {
		if iface == n.Interface {
			return true
		}
	}
	return false
}

// ConfigureLNet configures LNet and adds each network not present yet.
// With no networks given it brings LNet up with its module defaults
// (lnetctl lnet configure --all: tcp on the first interface), which is what
// a mount would otherwise find missing. An NI that lnetctl says exists
// already (errno -17) counts as added; any other refusal is an error.
//
// It must run before any module that starts LNet is loaded (lustre,
// osd_zfs: anything on ptlrpc): those bring LNet up from the module
// defaults when it is not configured, and a net of the wanted type on
// another interface then looks configured. EnsureModulesAndLNet keeps that
// order.
func ConfigureLNet(ctx context.Context, run host.Runner, networks []string) error {
	wanted, err := parseNetworks(networks)
	if err != nil {
		return err
	}
	nets, up, err := configuredNets(ctx, run)
	if err != nil {
		return err
	}
	if !up {
		args := []string{"lnet", "configure"}
		if len(wanted) == 0 {
			args = append(args, "--all")
		}
		if _, err := host.Run(ctx, run, "lnetctl", args...); err != nil {
			return err
		}
		nets = nil
	}
	for _, n := range wanted {
		if n.configured(nets) {
			continue
		}
		_, err := host.Run(ctx, run, "lnetctl", "net", "add", "--net", n.Net, "--if", n.Interface)
		if err != nil && !lnetErrno(err, errnoEEXIST) {
			return err
		}
	}
	return nil
}

func parseNetworks(networks []string) ([]Network, error) {
	var wanted []Network
	var errs []error
	for _, s := range networks {
		n, err := ParseNetwork(s)
		errs = append(errs, err)
		wanted = append(wanted, n)
	}
	return wanted, errors.Join(errs...)
}

// EnsureModulesAndLNet brings a node's Lustre stack up in the one order
// that leaves LNet with exactly the given networks: the lnet module, then
// LNet configured (ConfigureLNet), then the other modules. Loading lustre
// or osd_zfs while LNet is not configured brings LNet up from the module
// defaults, tcp on the first interface (Lustre 2.17 on a real kernel), a
// NID nobody asked for. Every step is idempotent, so a restart only checks.
// A module that cannot be loaded is reported with the others, in the order
// of modules, as EnsureModules does.
func EnsureModulesAndLNet(ctx context.Context, run host.Runner, modules, networks []string) error {
	if _, err := parseNetworks(networks); err != nil {
		return err
	}
	var missing []*MissingModulesError
	err := EnsureModules(ctx, run, []string{"lnet"})
	var mm *MissingModulesError
	switch {
	case errors.As(err, &mm):
		// LNet cannot be configured; the rest still tells what else is
		// missing (whatever needs lnet fails without starting LNet).
		missing = append(missing, mm)
	case err != nil:
		return err
	default:
		if err := ConfigureLNet(ctx, run, networks); err != nil {
			return err
		}
	}
	var rest []string
	for _, m := range modules {
		if m != "lnet" {
			rest = append(rest, m)
		}
	}
	err = EnsureModules(ctx, run, rest)
	switch {
	case errors.As(err, &mm):
		missing = append(missing, mm)
	case err != nil:
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	out := &MissingModulesError{Missing: map[string]string{}}
	for _, m := range missing {
		for k, v := range m.Missing {
			out.Missing[k] = v
		}
	}
	order := modules
	if !slices.Contains(modules, "lnet") {
		order = append([]string{"lnet"}, modules...)
	}
	for _, m := range order {
		if _, found := out.Missing[m]; found && !slices.Contains(out.Order, m) {
			out.Order = append(out.Order, m)
		}
	}
	return out
}

// NIDs returns what `lctl list_nids` prints.
func NIDs(ctx context.Context, run host.Runner) ([]string, error) {
	res, err := host.Run(ctx, run, "lctl", "list_nids")
	if err != nil {
		return nil, err
	}
	return strings.Fields(res.Stdout), nil
}
