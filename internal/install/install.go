package install

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// manager is the distribution's package tool pair: a query that says
// which versions of a package are installed, and one transaction that
// installs a set of pinned packages.
type manager interface {
	// installed returns the installed versions of name; none when it is
	// not installed. Any answer but the tool's own "not installed" is an
	// error, never "absent".
	installed(ctx context.Context, r host.Runner, name string) ([]string, error)
	install(ctx context.Context, r host.Runner, pkgs []Package) error
	// spec is how the tool names a package at its pinned version.
	spec(p Package) string
	// byHand is the command an administrator runs to change a package.
	byHand(p Package) string
}

func managerFor(d Distro) manager {
	if d.Family == FamilyEL {
		return dnf{}
	}
	return apt{}
}

type apt struct{}

// installed asks dpkg for the package's state as well as its version: a
// removed package whose configuration files remain still reports its old
// version, and must count as not installed.
func (apt) installed(ctx context.Context, r host.Runner, name string) ([]string, error) {
	res, err := host.Run(ctx, r, "dpkg-query", "-W", `-f=${db:Status-Status} ${Version}\n`, name)
	if host.ExitedWith(err, 1, "no packages found matching") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var versions []string
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if status, v, found := strings.Cut(line, " "); found && status == "installed" {
			versions = append(versions, v)
		}
	}
	return versions, nil
}

func (apt) spec(p Package) string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + "=" + p.Version
}

func (a apt) byHand(p Package) string {
	return "apt-get install " + a.spec(p)
}

// install refreshes the package lists first (a node's lists may predate
// the pinned versions) and runs one apt-get transaction. debconf must not
// wait for an answer no one can give (zfs-dkms shows a licence note), so
// the frontend is noninteractive; --no-install-recommends keeps the
// install to what is pinned and what it depends on.
func (a apt) install(ctx context.Context, r host.Runner, pkgs []Package) error {
	if _, err := host.Run(ctx, r, "apt-get", "update"); err != nil {
		return err
	}
	args := []string{"DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends"}
	for _, p := range pkgs {
		args = append(args, a.spec(p))
	}
	_, err := host.Run(ctx, r, "env", args...)
	return err
}

type dnf struct{}

// installed prints one VERSION-RELEASE per line: a package may be
// installed in more than one version (kernel-bound kmods).
func (dnf) installed(ctx context.Context, r host.Runner, name string) ([]string, error) {
	res, err := host.Run(ctx, r, "rpm", "-q", "--qf", `%{VERSION}-%{RELEASE}\n`, name)
	if host.ExitedWith(err, 1, "package "+name+" is not installed") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(res.Stdout), nil
}

func (dnf) spec(p Package) string { return p.Name + "-" + p.Version }

func (d dnf) byHand(p Package) string { return "dnf install " + d.spec(p) }

func (d dnf) install(ctx context.Context, r host.Runner, pkgs []Package) error {
	args := []string{"install", "-y"}
	for _, p := range pkgs {
		args = append(args, d.spec(p))
	}
	_, err := host.Run(ctx, r, "dnf", args...)
	return err
}

// Conflict is a package installed at a version other than the pinned one.
type Conflict struct {
	Package   Package
	Installed []string
}

// ConflictError lists every conflict; nothing was installed.
type ConflictError struct {
	Conflicts []Conflict
	byHand    func(Package) string
}

func (e *ConflictError) Error() string {
	var parts []string
	for _, c := range e.Conflicts {
		have := strings.Join(c.Installed, ", ")
		parts = append(parts, fmt.Sprintf("%s is installed at %s but pinned at %s (change it by hand with `%s`, or set %s: %q to keep the installed version)",
			c.Package.Name, have, c.Package.Version, e.byHand(c.Package), c.Package.Key(), c.Installed[0]))
	}
	return "installed packages differ from the pinned versions and kube-lustre never replaces or downgrades a package; nothing was installed: " +
		strings.Join(parts, "; ")
}

// InstallError is a failed apt-get or dnf transaction, with the tool's
// own messages and where each package was expected to come from.
type InstallError struct {
	Err      error
	Output   string
	Packages []Package
}

func (e *InstallError) Error() string {
	// Group by repository: the fix is usually one repository to add.
	var froms []string
	byFrom := map[string][]string{}
	for _, p := range e.Packages {
		if _, seen := byFrom[p.From]; !seen {
			froms = append(froms, p.From)
		}
		byFrom[p.From] = append(byFrom[p.From], p.String())
	}
	var carry []string
	for _, f := range froms {
		carry = append(carry, fmt.Sprintf("%s (from %s)", strings.Join(byFrom[f], ", "), f))
	}
	msg := e.Err.Error()
	if e.Output != "" {
		msg = strings.ReplaceAll(e.Output, "\n", "; ")
	}
	return fmt.Sprintf("installing %d package(s) failed: %s; check that the node's repositories carry %s", len(e.Packages), msg, strings.Join(carry, "; "))
}

func (e *InstallError) Unwrap() error { return e.Err }

// Report says what Ensure found and did.
type Report struct {
	Distro    Distro
	Present   []Package // already installed at the pinned version
	Installed []Package // installed by this run
}

func (r Report) String() string {
	names := func(ps []Package) string {
		if len(ps) == 0 {
			return "none"
		}
		var s []string
		for _, p := range ps {
			s = append(s, p.String())
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s: installed %s; already present %s", r.Distro, names(r.Installed), names(r.Present))
}

// Ensure installs what role needs on the host at the pinned versions
// (the table's, or overrides' from install.packages). It observes every
// package before acting, fails without installing anything when a part is
// unavailable or a package is installed at another version, installs the
// rest in one transaction and checks the versions that landed.
func Ensure(ctx context.Context, r host.Runner, role Role, overrides map[string]string) (Report, error) {
	d, err := Detect(ctx, r)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Distro: d}
	kernel := ""
	if d.Family != FamilyEL {
		res, err := host.Run(ctx, r, "uname", "-r")
		if err != nil {
			return rep, err
		}
		kernel = strings.TrimSpace(res.Stdout)
	}
	pkgs, err := Packages(d, role, kernel, overrides)
	if err != nil {
		return rep, err
	}
	m := managerFor(d)
	var missing []Package
	conflicts := &ConflictError{byHand: m.byHand}
	for _, p := range pkgs {
		have, err := m.installed(ctx, r, p.Name)
		switch {
		case err != nil:
			return rep, fmt.Errorf("query %s: %w", p.Name, err)
		case len(have) == 0:
			missing = append(missing, p)
		case p.Version == "" || slices.Contains(have, p.Version):
			rep.Present = append(rep.Present, p)
		default:
			conflicts.Conflicts = append(conflicts.Conflicts, Conflict{Package: p, Installed: have})
		}
	}
	if len(conflicts.Conflicts) > 0 {
		return rep, conflicts
	}
	if len(missing) == 0 {
		return rep, nil
	}
	if err := m.install(ctx, r, missing); err != nil {
		ie := &InstallError{Err: err, Packages: missing}
		if ee, ok := host.AsExit(err); ok {
			ie.Output = strings.TrimSpace(ee.Result.Stderr)
		}
		return rep, ie
	}
	// Observe again: a transaction that exits 0 is not proof that the
	// pinned versions are what landed.
	for _, p := range missing {
		have, err := m.installed(ctx, r, p.Name)
		if err != nil {
			return rep, fmt.Errorf("query %s after install: %w", p.Name, err)
		}
		if len(have) == 0 || (p.Version != "" && !slices.Contains(have, p.Version)) {
			return rep, fmt.Errorf("%s: after installing %s the node reports %q", p.Name, m.spec(p), have)
		}
		rep.Installed = append(rep.Installed, p)
	}
	return rep, nil
}

// sortedKeys returns the keys of a map in order, for stable messages.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
