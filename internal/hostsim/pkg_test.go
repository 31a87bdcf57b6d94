package hostsim

import (
	"testing"
)

// debRepo and rpmRepo are what the package tests' hosts can install.
var (
	debRepo = map[string][]string{"drbd-utils": {"9.15.0-1", "9.22.0-1"}, "zfs-dkms": {"2.1.11-1+deb12u1"}}
	rpmRepo = map[string][]string{"kmod-zfs": {"2.1.16-1.el9"}, "kmod-lustre-osd-zfs": {"2.15.6-1.el9"}, "kmod-lustre": {"2.15.6-1.el9"}}
)

// debHost gives s1 a repository and one installed package.
func debHost(t *testing.T, w *World) {
	must(t, w.SetRepository("s1", debRepo))
	steps(t, w, "s1", []string{"apt-get", "install", "-y", "drbd-utils=9.22.0-1"})
}

// elHost adds e1, a Rocky 9 host with kmod-zfs installed.
func elHost(t *testing.T, w *World) {
	must(t, w.AddHost("e1", HostConfig{OSRelease: OSReleaseRocky9, Repository: rpmRepo, Packages: map[string]string{"kmod-zfs": "2.1.16-1.el9"}, Modules: []string{}}))
}

// TestPackageCommands: apt-get's resolution errors (exit 100, "E: Unable
// to locate package", "E: Version '...' for '...' was not found"),
// dpkg-query's "no packages found matching" (exit 1), dnf's "No match for
// argument" / "Error: Unable to find a match" (exit 1) and rpm's "package
// X is not installed" on stdout; and that each tool exists only on its
// distribution family.
func TestPackageCommands(t *testing.T) {
	t.Parallel()
	runCases(t, []tcase{
		{name: "os-release defaults to Debian 12", cmd: cmd("cat", "/etc/os-release"), stdout: `VERSION_ID="12"`},
		{name: "os-release per host", setup: elHost, host: "e1", cmd: cmd("cat", "/etc/os-release"), stdout: `ID="rocky"`},
		{name: "uname -r", cmd: cmd("uname", "-r"), stdout: kernelRelease + "\n", exactOut: true},
		{name: "env runs the command", setup: debHost, cmd: cmd("env", "DEBIAN_FRONTEND=noninteractive", "dpkg-query", "-W", "drbd-utils"), stdout: "drbd-utils\t9.22.0-1\n", exactOut: true},
		{name: "env of an unknown command", cmd: cmd("env", "A=b", "sh", "-c", "x"), exit: 127, stderr: "env: 'sh': No such file or directory"},
		{name: "env without a command prints the assignments", cmd: cmd("env", "A=b"), stdout: "A=b\n", exactOut: true},
		{name: "apt-get install pinned", setup: debHost, cmd: cmd("apt-get", "install", "-y", "zfs-dkms=2.1.11-1+deb12u1"), stdout: "Setting up zfs-dkms (2.1.11-1+deb12u1) ..."},
		{name: "apt-get install already there", setup: debHost, cmd: cmd("apt-get", "install", "-y", "drbd-utils=9.22.0-1"), stdout: "drbd-utils is already the newest version (9.22.0-1)."},
		{name: "apt-get unknown version", setup: debHost, cmd: cmd("apt-get", "install", "-y", "zfs-dkms=2.2.7-1"), exit: 100, stderr: "E: Version '2.2.7-1' for 'zfs-dkms' was not found\n"},
		{name: "apt-get unknown package", setup: debHost, cmd: cmd("apt-get", "install", "-y", "zfs-dkms", "lustre-client-utils=2.15.6-1"), exit: 100, stderr: "E: Unable to locate package lustre-client-utils\n"},
		{name: "apt-get refuses a downgrade under -y", setup: debHost, cmd: cmd("apt-get", "install", "-y", "drbd-utils=9.15.0-1"), exit: 100, stderr: "--allow-downgrades"},
		{name: "apt-get without -y aborts at the prompt", setup: debHost, cmd: cmd("apt-get", "install", "zfs-dkms"), exit: 1, stdout: "Do you want to continue? [Y/n] Abort."},
		{name: "apt-get update", cmd: cmd("apt-get", "update"), stdout: "Reading package lists..."},
		{name: "apt-get on EL", setup: elHost, host: "e1", cmd: cmd("apt-get", "update"), exit: 127, stderr: "apt-get: command not found"},
		{name: "dpkg-query format", setup: debHost, cmd: cmd("dpkg-query", "-W", "-f=${db:Status-Status} ${Version}\\n", "drbd-utils"), stdout: "installed 9.22.0-1\n", exactOut: true},
		{name: "dpkg-query not installed", setup: debHost, cmd: cmd("dpkg-query", "-W", "-f=${Version}", "zfs-dkms"), exit: 1, stderr: "dpkg-query: no packages found matching zfs-dkms\n"},
		{name: "dpkg-query on EL", setup: elHost, host: "e1", cmd: cmd("dpkg-query", "-W", "zfs"), exit: 127},
		{name: "dnf install pinned", setup: elHost, host: "e1", cmd: cmd("dnf", "install", "-y", "kmod-lustre-2.15.6-1.el9", "kmod-lustre-osd-zfs-2.15.6"), stdout: "  kmod-lustre-osd-zfs-2.15.6-1.el9.x86_64\n"},
		{name: "dnf install already there", setup: elHost, host: "e1", cmd: cmd("dnf", "install", "-y", "kmod-zfs-2.1.16-1.el9"), stdout: "Nothing to do."},
		{name: "dnf no match", setup: elHost, host: "e1", cmd: cmd("dnf", "install", "-y", "kmod-lustre-2.15.6-1.el9", "lustre-2.15.6-1.el9"), exit: 1, stderr: "No match for argument: lustre-2.15.6-1.el9\nError: Unable to find a match: lustre-2.15.6-1.el9\n"},
		{name: "dnf wrong version", setup: elHost, host: "e1", cmd: cmd("dnf", "install", "-y", "kmod-lustre-2.15.5-1.el9"), exit: 1, stderr: "No match for argument: kmod-lustre-2.15.5-1.el9"},
		{name: "dnf without -y aborts", setup: elHost, host: "e1", cmd: cmd("dnf", "install", "kmod-lustre"), exit: 1, stderr: "Operation aborted."},
		{name: "dnf on Debian", cmd: cmd("dnf", "install", "-y", "zfs"), exit: 127, stderr: "dnf: command not found"},
		{name: "rpm -q installed", setup: elHost, host: "e1", cmd: cmd("rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\\n", "kmod-zfs"), stdout: "2.1.16-1.el9\n", exactOut: true},
		{name: "rpm -q default format", setup: elHost, host: "e1", cmd: cmd("rpm", "-q", "kmod-zfs"), stdout: "kmod-zfs-2.1.16-1.el9.x86_64\n", exactOut: true},
		{name: "rpm -q not installed", setup: elHost, host: "e1", cmd: cmd("rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\\n", "kmod-lustre", "kmod-zfs"), exit: 1, stdout: "package kmod-lustre is not installed\n2.1.16-1.el9\n", exactOut: true},
		{name: "rpm on Debian", cmd: cmd("rpm", "-q", "zfs"), exit: 127},
	})
}

// TestInstallMakesModulesLoadable: a package's kernel modules become
// loadable when it is installed, not before; preinstalled packages count.
func TestInstallMakesModulesLoadable(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	elHost(t, w)
	steps(t, w, "e1", []string{"modprobe", "zfs"})
	if _, err := run(w, "e1", cmd("modprobe", "osd_zfs")); err == nil {
		t.Fatal("osd_zfs loaded before kmod-lustre-osd-zfs was installed")
	}
	steps(t, w, "e1", []string{"dnf", "install", "-y", "kmod-lustre-2.15.6-1.el9", "kmod-lustre-osd-zfs-2.15.6-1.el9"}, []string{"modprobe", "osd_zfs"}, []string{"modprobe", "mdt"})
	pkgs, err := w.Packages("e1")
	must(t, err)
	if len(pkgs) != 3 || pkgs["kmod-lustre"] != "2.15.6-1.el9" {
		t.Fatalf("installed packages: %v", pkgs)
	}
	// A failed transaction installs nothing, as apt and dnf resolve first.
	if _, err := run(w, "e1", cmd("dnf", "install", "-y", "kmod-drbd9x", "kmod-zfs")); err == nil {
		t.Fatal("dnf installed a package the repository lacks")
	}
	if after, _ := w.Packages("e1"); len(after) != 3 {
		t.Fatalf("failed transaction changed packages: %v", after)
	}
}
