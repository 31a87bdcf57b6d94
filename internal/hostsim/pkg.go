package hostsim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// /etc/os-release of the distributions the installer knows, as those
// releases ship them (trimmed to the keys a reader uses).
const (
	OSReleaseDebian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`
	OSReleaseUbuntu2204 = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
`
	OSReleaseRocky9 = `NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
`
	OSReleaseAlma8 = `NAME="AlmaLinux"
VERSION="8.10 (Cerulean Leopard)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.10"
PLATFORM_ID="platform:el8"
PRETTY_NAME="AlmaLinux 8.10 (Cerulean Leopard)"
`
)

// PackageModules maps a distribution package to the kernel modules it
// installs, so that installing it makes them loadable. Packages not listed
// install only tools. The in-tree modules of a distribution kernel (DRBD 8.4
// on Debian and Ubuntu, ZFS on Ubuntu) come from HostConfig.Modules instead.
var PackageModules = map[string][]string{
	"kmod-drbd9x":                {"drbd", "lru_cache"},
	"zfs-dkms":                   {"zfs", "spl"},
	"kmod-zfs":                   {"zfs", "spl"},
	"kmod-lustre":                {"libcfs", "lnet", "ksocklnd", "obdclass", "ptlrpc", "lustre", "mgs", "mdt", "ost"},
	"kmod-lustre-osd-zfs":        {"osd_zfs"},
	"kmod-lustre-client":         {"libcfs", "lnet", "ksocklnd", "obdclass", "ptlrpc", "lustre"},
	"lustre-client-modules-dkms": {"libcfs", "lnet", "ksocklnd", "obdclass", "ptlrpc", "lustre"},
}

// osFamily tells which package tools a host has from its /etc/os-release:
// "deb" (dpkg, apt-get), "rpm" (rpm, dnf) or "" for neither.
func (h *hostState) osFamily() string {
	ids := map[string]bool{}
	for _, line := range strings.Split(string(h.Files["/etc/os-release"]), "\n") {
		k, v, found := strings.Cut(strings.TrimSpace(line), "=")
		if found && (k == "ID" || k == "ID_LIKE") {
			for _, id := range strings.Fields(strings.Trim(v, `"'`)) {
				ids[id] = true
			}
		}
	}
	switch {
	case ids["debian"] || ids["ubuntu"]:
		return "deb"
	case ids["rhel"] || ids["fedora"] || ids["centos"]:
		return "rpm"
	}
	return ""
}

// install records pkg at version and makes its kernel modules loadable.
func (h *hostState) install(pkg, version string) {
	h.Packages[pkg] = version
	for _, m := range PackageModules[pkg] {
		if !slices.Contains(h.Available, m) {
			h.Available = append(h.Available, m)
		}
	}
	h.addZFSUnits()
}

// needFamily returns the shell's answer for a tool the host's distribution
// does not have, or nil when it has it.
func needFamily(h *hostState, family, tool string) *host.Result {
	if h.osFamily() == family {
		return nil
	}
	r := fail(127, "%s: command not found", tool)
	return &r
}

// unescape applies the backslash escapes dpkg-query and rpm accept in a
// format string.
func unescape(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\\`, `\`).Replace(s)
}

// cmdEnv models env(1) as the steps use it: NAME=VALUE assignments, then a
// command, which runs as if called directly (the simulated tools read no
// environment).
func cmdEnv(st *state, h *hostState, c host.Cmd) host.Result {
	args := c.Args
	var assigns []string
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		assigns, args = append(assigns, args[0]), args[1:]
	}
	switch {
	case len(args) == 0:
		return ok(joinLines(assigns))
	case strings.HasPrefix(args[0], "-"):
		return fail(125, "env: option %s not simulated", args[0])
	}
	if _, found := tools[args[0]]; !found {
		return fail(127, "env: '%s': No such file or directory", args[0])
	}
	return runCommand(st, h, host.Cmd{Name: args[0], Args: args[1:], Stdin: c.Stdin})
}

func cmdUname(st *state, h *hostState, c host.Cmd) host.Result {
	if slices.Equal(c.Args, []string{"-r"}) {
		return ok(kernelRelease + "\n")
	}
	return ok("Linux\n")
}

// installArgs splits a package manager's install arguments into options
// and package specs.
func installArgs(args []string) (opts map[string]bool, specs []string) {
	opts = map[string]bool{}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			opts[a] = true
		} else if a != "" {
			specs = append(specs, a)
		}
	}
	return opts, specs
}

const aptHeader = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"

// cmdAptGet models `apt-get update` and `apt-get install [-y]
// [--no-install-recommends] PKG[=VERSION]...` against the host's simulated
// repository. Like apt, it resolves every package before touching any, so a
// failed install installs nothing; errors are apt's own lines with exit
// 100.
func cmdAptGet(st *state, h *hostState, c host.Cmd) host.Result {
	if r := needFamily(h, "deb", "apt-get"); r != nil {
		return *r
	}
	if len(c.Args) == 0 {
		return fail(100, "E: Invalid operation")
	}
	switch c.Args[0] {
	case "update":
		return ok("Hit:1 http://deb.debian.org/debian stable InRelease\nReading package lists...\n")
	case "install":
	default:
		return fail(100, "E: Invalid operation %s", c.Args[0])
	}
	opts, specs := installArgs(c.Args[1:])
	var errs []string
	want := map[string]string{}
	var order []string
	for _, s := range specs {
		name, version, pinned := strings.Cut(s, "=")
		versions, known := h.Repo[name]
		switch {
		case !known:
			errs = append(errs, fmt.Sprintf("E: Unable to locate package %s", name))
			continue
		case !pinned:
			version = versions[len(versions)-1]
		case !slices.Contains(versions, version):
			errs = append(errs, fmt.Sprintf("E: Version '%s' for '%s' was not found", version, name))
			continue
		}
		if old, installed := h.Packages[name]; installed && old != version &&
			slices.Index(versions, old) > slices.Index(versions, version) && !opts["--allow-downgrades"] {
			errs = append(errs, "E: Packages were downgraded and -y was used without --allow-downgrades.")
			continue
		}
		want[name] = version
		order = append(order, name)
	}
	if len(errs) > 0 {
		return host.Result{Stdout: aptHeader, Stderr: joinLines(errs), ExitCode: 100}
	}
	out := []string{strings.TrimSuffix(aptHeader, "\n")}
	var todo []string
	for _, name := range order {
		if h.Packages[name] == want[name] {
			out = append(out, fmt.Sprintf("%s is already the newest version (%s).", name, want[name]))
			continue
		}
		todo = append(todo, name)
	}
	if len(todo) > 0 && !opts["-y"] && !opts["--yes"] && !opts["--assume-yes"] {
		// No terminal to answer the prompt: apt reads EOF and aborts.
		return host.Result{Stdout: joinLines(append(out, "Do you want to continue? [Y/n] Abort.")), ExitCode: 1}
	}
	if len(todo) > 0 {
		out = append(out, "The following NEW packages will be installed:", "  "+strings.Join(todo, " "))
	}
	out = append(out, fmt.Sprintf("0 upgraded, %d newly installed, 0 to remove and 0 not upgraded.", len(todo)))
	for _, name := range todo {
		h.install(name, want[name])
		out = append(out, fmt.Sprintf("Setting up %s (%s) ...", name, want[name]))
	}
	return ok(joinLines(out))
}

// cmdDpkgQuery models `dpkg-query -W [-f=FORMAT] PKG...`: one formatted
// record per installed package; "no packages found matching" and exit 1
// for a package dpkg has never heard of.
func cmdDpkgQuery(st *state, h *hostState, c host.Cmd) host.Result {
	if r := needFamily(h, "deb", "dpkg-query"); r != nil {
		return *r
	}
	format := `${binary:Package}\t${Version}\n`
	show := false
	var names []string
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case a == "-W" || a == "--show":
			show = true
		case strings.HasPrefix(a, "-f=") || strings.HasPrefix(a, "--showformat="):
			_, format, _ = strings.Cut(a, "=")
		case a == "-f" && i+1 < len(c.Args):
			i++
			format = c.Args[i]
		case strings.HasPrefix(a, "-"):
			return fail(2, "dpkg-query: error: unknown option %s", a)
		default:
			names = append(names, a)
		}
	}
	if !show {
		return fail(2, "dpkg-query: error: only -W/--show is simulated")
	}
	if len(names) == 0 {
		return fail(2, "dpkg-query: error: --show needs at least one package name argument")
	}
	var out strings.Builder
	var errs []string
	for _, name := range names {
		v, installed := h.Packages[name]
		if !installed {
			errs = append(errs, "dpkg-query: no packages found matching "+name)
			continue
		}
		out.WriteString(strings.NewReplacer(
			"${Package}", name, "${binary:Package}", name, "${Version}", v,
			"${Status}", "install ok installed", "${db:Status-Status}", "installed", "${db:Status-Abbrev}", "ii ",
		).Replace(unescape(format)))
	}
	if len(errs) > 0 {
		return host.Result{Stdout: out.String(), Stderr: joinLines(errs), ExitCode: 1}
	}
	return ok(out.String())
}

// dnfMatch finds the repository package and version a dnf argument names:
// NAME (newest), NAME-VERSION or NAME-VERSION-RELEASE.
func dnfMatch(repo map[string][]string, arg string) (name, version string, found bool) {
	for _, n := range sortedKeys(repo) {
		versions := repo[n]
		if arg == n {
			return n, versions[len(versions)-1], true
		}
		rest, cut := strings.CutPrefix(arg, n+"-")
		if !cut {
			continue
		}
		for _, v := range versions {
			if rest == v || strings.HasPrefix(v, rest+"-") {
				return n, v, true
			}
		}
	}
	return "", "", false
}

// cmdDnf models `dnf install [-y] SPEC...` against the host's simulated
// repository. dnf (strict by default) fails the whole transaction when one
// argument matches nothing, with "No match for argument" per argument and
// a closing "Error: Unable to find a match", exit 1.
func cmdDnf(st *state, h *hostState, c host.Cmd) host.Result {
	if r := needFamily(h, "rpm", "dnf"); r != nil {
		return *r
	}
	if len(c.Args) == 0 || c.Args[0] != "install" {
		sub := ""
		if len(c.Args) > 0 {
			sub = c.Args[0]
		}
		return fail(1, "No such command: %s. Please use /usr/bin/dnf --help", sub)
	}
	opts, specs := installArgs(c.Args[1:])
	if len(specs) == 0 {
		return fail(1, "Error: Need to pass a list of pkgs to install")
	}
	var missing, out, todo []string
	want := map[string]string{}
	for _, s := range specs {
		name, version, found := dnfMatch(h.Repo, s)
		if !found {
			missing = append(missing, s)
			continue
		}
		if h.Packages[name] == version {
			out = append(out, fmt.Sprintf("Package %s-%s.x86_64 is already installed.", name, version))
			continue
		}
		want[name] = version
		todo = append(todo, name)
	}
	if len(missing) > 0 {
		var lines []string
		for _, m := range missing {
			lines = append(lines, "No match for argument: "+m)
		}
		lines = append(lines, "Error: Unable to find a match: "+strings.Join(missing, " "))
		return host.Result{Stderr: joinLines(lines), ExitCode: 1}
	}
	out = append(out, "Dependencies resolved.")
	if len(todo) == 0 {
		return ok(joinLines(append(out, "Nothing to do.", "Complete!")))
	}
	if !opts["-y"] && !opts["--assumeyes"] {
		return host.Result{Stdout: joinLines(out), Stderr: "Is this ok [y/N]: Operation aborted.\n", ExitCode: 1}
	}
	out = append(out, "Installed:")
	for _, name := range todo {
		h.install(name, want[name])
		out = append(out, fmt.Sprintf("  %s-%s.x86_64", name, want[name]))
	}
	return ok(joinLines(append(out, "", "Complete!")))
}

// cmdRpm models `rpm -q [--qf FORMAT] PKG...`: "package X is not
// installed" on stdout for each missing package, and as many failures as
// the exit code.
func cmdRpm(st *state, h *hostState, c host.Cmd) host.Result {
	if r := needFamily(h, "rpm", "rpm"); r != nil {
		return *r
	}
	format := `%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n`
	query := false
	var names []string
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case a == "-q" || a == "--query":
			query = true
		case strings.HasPrefix(a, "--qf=") || strings.HasPrefix(a, "--queryformat="):
			_, format, _ = strings.Cut(a, "=")
		case (a == "--qf" || a == "--queryformat") && i+1 < len(c.Args):
			i++
			format = c.Args[i]
		case strings.HasPrefix(a, "-"):
			return fail(1, "rpm: %s: unknown option", a)
		default:
			names = append(names, a)
		}
	}
	if !query || len(names) == 0 {
		return fail(1, "rpm: no arguments given for query")
	}
	var out strings.Builder
	missing := 0
	for _, name := range names {
		vr, installed := h.Packages[name]
		if !installed {
			fmt.Fprintf(&out, "package %s is not installed\n", name)
			missing++
			continue
		}
		// rpm versions and releases cannot contain '-'.
		v, r, _ := strings.Cut(vr, "-")
		out.WriteString(strings.NewReplacer("%{NAME}", name, "%{VERSION}", v, "%{RELEASE}", r, "%{ARCH}", "x86_64").Replace(unescape(format)))
	}
	return host.Result{Stdout: out.String(), ExitCode: missing}
}
