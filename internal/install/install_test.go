package install

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

var (
	client       = Role{}
	haServer     = Role{DRBD: true, Server: true}
	debianKernel = []string{"drbd", "lru_cache"} // DRBD 8.4 is in Debian's kernel
	elKernel     = []string{}                    // EL kernels ship neither DRBD nor ZFS
	debianClient = map[string]string{"lustre-client-modules-dkms": "2.15.6-1", "lustre-client-utils": "2.15.6-1"}
	headers      = "linux-headers-6.1.0-18-amd64" // hostsim's uname -r
)

// modules is what the installer verifies for a role.
func modules(r Role) []string {
	var mods []string
	if r.DRBD {
		mods = append(mods, "drbd")
	}
	if r.Server {
		return append(append(mods, "zfs"), lustre.ServerModules...)
	}
	return append(mods, lustre.ClientModules...)
}

// repoOf is a repository carrying exactly the pinned packages role needs
// on the distribution, plus the Debian client packages an administrator
// publishes; drop names packages the repository lacks.
func repoOf(t *testing.T, osRelease string, role Role, overrides map[string]string, drop ...string) map[string][]string {
	t.Helper()
	d, err := ParseOSRelease([]byte(osRelease))
	if err != nil {
		// No table for the distribution: a repository it cannot use.
		return map[string][]string{"bash": {"5.2-1"}}
	}
	ps, err := Packages(d, role, "6.1.0-18-amd64", overrides)
	if err != nil {
		// The role is not installable here; offer what the other parts need.
		ps, _ = Packages(d, Role{DRBD: role.DRBD}, "6.1.0-18-amd64", debianClient)
	}
	repo := map[string][]string{}
	for _, p := range ps {
		if !slices.Contains(drop, p.Name) {
			repo[p.Name] = []string{"0.0.1-1", p.Version}
		}
	}
	repo[headers] = []string{"6.1.76-1"}
	return repo
}

// installCommands counts the apt-get/dnf install transactions in the log.
func installCommands(t *testing.T, w *hostsim.World) int {
	t.Helper()
	log, err := w.Log()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range log {
		argv := strings.Join(e.Argv, " ")
		if strings.Contains(argv, "apt-get install") || strings.HasPrefix(argv, "dnf install") {
			n++
		}
	}
	return n
}

func TestEnsure(t *testing.T) {
	cases := []struct {
		name      string
		osRelease string
		kernel    []string
		role      Role
		overrides map[string]string
		drop      []string          // packages missing from the repository
		repoPins  map[string]string // what the repository carries, when not overrides
		installed map[string]string // packages already on the node
		// wantErr, when set, are substrings of the error; the node must
		// then have no package more than before.
		wantErr   []string
		wantNew   []string // packages this run installs
		wantAsErr any
	}{
		{
			name: "Debian 12 client-only node installs and verifies", osRelease: hostsim.OSReleaseDebian12, kernel: debianKernel,
			role: client, overrides: debianClient,
			wantNew: []string{headers, "lustre-client-modules-dkms", "lustre-client-utils"},
		},
		{
			name: "EL9 HA server installs everything pinned", osRelease: hostsim.OSReleaseRocky9, kernel: elKernel, role: haServer,
			wantNew: []string{"drbd9x-utils", "kmod-drbd9x", "zfs", "kmod-zfs", "lustre", "kmod-lustre", "kmod-lustre-osd-zfs"},
		},
		{
			name: "EL8 client", osRelease: hostsim.OSReleaseAlma8, kernel: elKernel, role: client,
			wantNew: []string{"lustre-client", "kmod-lustre-client"},
		},
		{
			name: "Ubuntu 22.04 HA server: DRBD and ZFS tools, no Lustre server packages", osRelease: hostsim.OSReleaseUbuntu2204,
			kernel: []string{"drbd", "lru_cache", "zfs", "spl"}, role: haServer,
			wantErr: []string{"lustre-server on Ubuntu 22.04.4 LTS: nothing was installed", "drbd-utils=9.15.0-1ubuntu1 zfsutils-linux="},
		},
		{
			name: "EL9 server with part of it already at the pinned version", osRelease: hostsim.OSReleaseRocky9, kernel: elKernel, role: haServer,
			installed: map[string]string{"zfs": "2.1.16-1.el9", "kmod-zfs": "2.1.16-1.el9"},
			wantNew:   []string{"drbd9x-utils", "kmod-drbd9x", "lustre", "kmod-lustre", "kmod-lustre-osd-zfs"},
		},
		{
			name: "override accepts the installed version", osRelease: hostsim.OSReleaseRocky9, kernel: elKernel, role: client,
			overrides: map[string]string{"kmod-lustre-client": "0.0.1-1"}, installed: map[string]string{"kmod-lustre-client": "0.0.1-1"},
			wantNew: []string{"lustre-client"},
		},
		{
			name: "wrong installed version fails and installs nothing", osRelease: hostsim.OSReleaseRocky9, kernel: elKernel, role: haServer,
			installed: map[string]string{"kmod-zfs": "2.1.15-1.el9"},
			wantErr: []string{"kmod-zfs is installed at 2.1.15-1.el9 but pinned at 2.1.16-1.el9",
				"`dnf install kmod-zfs-2.1.16-1.el9`", `install.packages.kmod-zfs: "2.1.15-1.el9"`, "nothing was installed"},
			wantAsErr: new(*ConflictError),
		},
		{
			name: "wrong installed version on Debian", osRelease: hostsim.OSReleaseDebian12, kernel: debianKernel, role: client, overrides: debianClient,
			installed: map[string]string{"lustre-client-utils": "2.15.5-1"},
			wantErr:   []string{"lustre-client-utils is installed at 2.15.5-1 but pinned at 2.15.6-1", "`apt-get install lustre-client-utils=2.15.6-1`"},
		},
		{
			name: "package missing from the apt repository surfaces apt's message", osRelease: hostsim.OSReleaseDebian12, kernel: debianKernel,
			role: client, overrides: debianClient, drop: []string{"lustre-client-utils"},
			wantErr:   []string{"E: Unable to locate package lustre-client-utils", "lustre-client-modules-dkms 2.15.6-1, lustre-client-utils 2.15.6-1 (from your own apt repository"},
			wantAsErr: new(*InstallError),
		},
		{
			name: "pinned version missing from the apt repository", osRelease: hostsim.OSReleaseDebian12, kernel: debianKernel,
			role: client, overrides: map[string]string{"lustre-client-modules-dkms": "2.15.7-1", "lustre-client-utils": "2.15.6-1"}, repoPins: debianClient,
			wantErr: []string{"E: Version '2.15.7-1' for 'lustre-client-modules-dkms' was not found"},
		},
		{
			name: "package missing from the dnf repositories surfaces dnf's message", osRelease: hostsim.OSReleaseRocky9, kernel: elKernel,
			role: haServer, drop: []string{"kmod-drbd9x"},
			wantErr: []string{"No match for argument: kmod-drbd9x-9.1.23-1.el9_5.elrepo", "Error: Unable to find a match: kmod-drbd9x-9.1.23-1.el9_5.elrepo",
				"drbd9x-utils 9.28.0-1.el9.elrepo, kmod-drbd9x 9.1.23-1.el9_5.elrepo (from ELRepo"},
		},
		{
			name: "Debian server: Lustre unavailable, manual instruction, nothing half-installed", osRelease: hostsim.OSReleaseDebian12, kernel: debianKernel,
			role: haServer,
			wantErr: []string{"lustre-server on Debian GNU/Linux 12 (bookworm): nothing was installed", "has no Lustre server packages",
				"git://git.whamcloud.com/fs/lustre-release.git", "--with-zfs --disable-ldiskfs",
				"drbd-utils=9.22.0-1 zfs-dkms=2.1.11-1+deb12u1 zfsutils-linux=2.1.11-1+deb12u1", "set install.mode: verify"},
			wantAsErr: new(*UnavailableError),
		},
		{
			name: "Debian client without pinned client packages", osRelease: hostsim.OSReleaseDebian12, kernel: debianKernel, role: client,
			wantErr: []string{"lustre-client on Debian GNU/Linux 12 (bookworm)", "Debian 12 has no Lustre client packages",
				"install.packages.lustre-client-modules-dkms and install.packages.lustre-client-utils"},
		},
		{
			name: "unknown distribution", osRelease: "ID=arch\nPRETTY_NAME=\"Arch Linux\"\n", kernel: debianKernel, role: client,
			wantErr:   []string{"unsupported distribution Arch Linux", `ID="arch"`, "debian/12, el/8, el/9, ubuntu/22.04, ubuntu/24.04", "set install.mode: verify"},
			wantAsErr: new(*UnsupportedError),
		},
		{
			name: "unsupported release of a known family", osRelease: "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"7.9\"\n", kernel: elKernel, role: client,
			wantErr: []string{"no package table for el 7"},
		},
		{
			name: "unknown override key", osRelease: hostsim.OSReleaseRocky9, kernel: elKernel, role: client,
			overrides: map[string]string{"kmod-zfs-dkms": "2.1.16-1.el9"},
			wantErr:   []string{"install.packages.kmod-zfs-dkms: unknown package"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w, err := hostsim.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			pins := tc.overrides
			if tc.repoPins != nil {
				pins = tc.repoPins
			}
			err = w.AddHost("n1", hostsim.HostConfig{OSRelease: tc.osRelease, Modules: tc.kernel, Packages: tc.installed,
				Repository: repoOf(t, tc.osRelease, tc.role, pins, tc.drop...)})
			if err != nil {
				t.Fatal(err)
			}
			run := w.Host("n1")
			rep, err := Ensure(ctx, run, tc.role, tc.overrides)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want error, got report %s", rep)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q:\n%v", want, err)
					}
				}
				if tc.wantAsErr != nil && !errors.As(err, tc.wantAsErr) {
					t.Errorf("error %T is not %T", err, tc.wantAsErr)
				}
				after, _ := w.Packages("n1")
				if !maps.Equal(after, tc.installed) && !(len(after) == 0 && len(tc.installed) == 0) {
					t.Errorf("a failed install changed the node: %v, before %v", after, tc.installed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range rep.Installed {
				got = append(got, p.Name)
			}
			if !slices.Equal(got, tc.wantNew) {
				t.Fatalf("installed %v, want %v", got, tc.wantNew)
			}
			if n := installCommands(t, w); n != 1 {
				t.Fatalf("%d install transactions, want one", n)
			}
			if err := lustre.EnsureModules(ctx, run, modules(tc.role)); err != nil {
				t.Fatalf("verify after install: %v", err)
			}
			// Second run: everything is observed present, nothing runs.
			rep, err = Ensure(ctx, run, tc.role, tc.overrides)
			if err != nil || len(rep.Installed) != 0 || len(rep.Present) != len(tc.wantNew)+len(tc.installed) {
				t.Fatalf("second run: %s, %v", rep, err)
			}
			if n := installCommands(t, w); n != 1 {
				t.Fatalf("second run ran an install transaction (%d in all)", n)
			}
		})
	}
}

// TestInstallCommandLines pins the exact argv the package managers get:
// apt through env with a noninteractive debconf, dnf with -y, both with
// every missing package in one transaction.
func TestInstallCommandLines(t *testing.T) {
	cases := []struct {
		name, osRelease string
		role            Role
		overrides       map[string]string
		want            []string
	}{
		{"apt", hostsim.OSReleaseDebian12, Role{DRBD: true}, debianClient, []string{
			"env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " + headers + " drbd-utils=9.22.0-1 lustre-client-modules-dkms=2.15.6-1 lustre-client-utils=2.15.6-1"}},
		{"dnf", hostsim.OSReleaseRocky9, client, nil, []string{"dnf install -y lustre-client-2.15.6-1.el9 kmod-lustre-client-2.15.6-1.el9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := hostsim.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddHost("n1", hostsim.HostConfig{OSRelease: tc.osRelease, Repository: repoOf(t, tc.osRelease, tc.role, tc.overrides)}); err != nil {
				t.Fatal(err)
			}
			if _, err := Ensure(context.Background(), w.Host("n1"), tc.role, tc.overrides); err != nil {
				t.Fatal(err)
			}
			log, _ := w.Log()
			var got []string
			for _, e := range log {
				if a := strings.Join(e.Argv, " "); strings.Contains(a, " install ") {
					got = append(got, a)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("install commands:\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestQueryErrorsAreNotAbsence: a package query that fails for any other
// reason than the tool's "not installed" stops the step instead of
// installing over an unknown state.
func TestQueryErrorsAreNotAbsence(t *testing.T) {
	w, err := hostsim.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddHost("n1", hostsim.HostConfig{OSRelease: hostsim.OSReleaseRocky9, Repository: repoOf(t, hostsim.OSReleaseRocky9, client, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := w.FailNext("n1", hostsim.Match{Args: []string{"rpm"}}, host.Result{Stderr: "error: rpmdb: BDB0113 Thread/process failed\n", ExitCode: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(context.Background(), w.Host("n1"), client, nil); err == nil || !strings.Contains(err.Error(), "rpmdb") {
		t.Fatalf("want the rpm failure, got %v", err)
	}
	if n := installCommands(t, w); n != 0 {
		t.Fatal("installed after a failed query")
	}
}
