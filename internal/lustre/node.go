package lustre

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
		why := err.Error()
		if ee, ok := host.AsExit(err); ok {
			why = strings.TrimSpace(ee.Result.Stderr)
		} else {
			// Not a modprobe answer (timeout, lost node): unknown, not missing.
			return err
		}
		missing.Missing[m] = why
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

// configuredNets parses `lnetctl net show`: net type -> interfaces.
// ok is false when LNet is not configured (errno -100).
func configuredNets(ctx context.Context, run host.Runner) (map[string][]string, bool, error) {
	res, err := host.Run(ctx, run, "lnetctl", "net", "show")
	if host.ExitedWith(err, 1, "Network is down") {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	nets := map[string][]string{}
	cur, inIfaces := "", false
	for _, line := range strings.Split(res.Stdout, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "- net type:"):
			cur, inIfaces = strings.TrimSpace(strings.TrimPrefix(t, "- net type:")), false
			nets[cur] = nets[cur][:0:0]
		case t == "interfaces:":
			inIfaces = true
		case inIfaces && cur != "" && strings.Contains(t, ": "):
			_, iface, _ := strings.Cut(t, ": ")
			nets[cur] = append(nets[cur], strings.TrimSpace(iface))
		case strings.HasSuffix(t, ":") || strings.HasPrefix(t, "- "):
			inIfaces = false
		}
	}
	return nets, true, nil
}

// ConfigureLNet configures LNet and adds each network not present yet.
// With no networks given it brings LNet up with its module defaults
// (lnetctl lnet configure --all: tcp on the first interface), which is what
// a mount would otherwise find missing.
func ConfigureLNet(ctx context.Context, run host.Runner, networks []string) error {
	var wanted []Network
	var errs []error
	for _, s := range networks {
		n, err := ParseNetwork(s)
		errs = append(errs, err)
		wanted = append(wanted, n)
	}
	if err := errors.Join(errs...); err != nil {
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
		nets = map[string][]string{}
	}
	for _, n := range wanted {
		have := false
		for _, iface := range nets[netType(n.Net)] {
			have = have || iface == n.Interface
		}
		if have {
			continue
		}
		if _, err := host.Run(ctx, run, "lnetctl", "net", "add", "--net", n.Net, "--if", n.Interface); err != nil {
			return err
		}
	}
	return nil
}

// NIDs returns what `lctl list_nids` prints.
func NIDs(ctx context.Context, run host.Runner) ([]string, error) {
	res, err := host.Run(ctx, run, "lctl", "list_nids")
	if err != nil {
		return nil, err
	}
	return strings.Fields(res.Stdout), nil
}
