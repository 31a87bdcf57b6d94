package install

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Parts of a node's software; a role needs some of them.
const (
	PartDRBD          = "drbd"
	PartZFS           = "zfs"
	PartLustreServer  = "lustre-server"
	PartLustreClient  = "lustre-client"
	PartKernelHeaders = "kernel-headers"
)

// Role is what a node does, as the topology's plan says.
type Role struct {
	DRBD   bool // replicates a target's disk
	Server bool // serves a ZFS-backed Lustre target
}

// parts lists what a role needs. A server gets the server packages only:
// they contain the client (and on EL, lustre and lustre-client conflict).
func (r Role) parts() []string {
	var ps []string
	if r.DRBD {
		ps = append(ps, PartDRBD)
	}
	if r.Server {
		return append(ps, PartZFS, PartLustreServer)
	}
	return append(ps, PartLustreClient)
}

// Package is one distribution package pinned at an exact version.
type Package struct {
	Name string
	// Version is exactly what dpkg-query ${Version} or rpm
	// %{VERSION}-%{RELEASE} print for it. Empty only for the kernel
	// headers, whose name already pins the running kernel.
	Version string
	Part    string
	// From names the repository that carries it, for the message when the
	// node cannot find it.
	From string
	// DKMS packages build their modules at install time and need the
	// running kernel's headers.
	DKMS bool
}

// Key is the values key that overrides the version.
func (p Package) Key() string { return "install.packages." + p.Name }

func (p Package) String() string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + " " + p.Version
}

// table is one release's packages per part, and for each part it cannot
// install, what the administrator has to do instead.
type table struct {
	parts  map[string][]Package
	manual map[string]string
}

// Repository descriptions shared by several releases.
const (
	fromELRepo   = "ELRepo (dnf install elrepo-release)"
	fromZFSKmod  = "the OpenZFS kmod repository (zfs-release package, with zfs-kmod enabled and zfs disabled)"
	whamcloudURL = "https://downloads.whamcloud.com/public/lustre/lustre-2.15.6/"
)

// pkgs builds the packages of one part coming from one repository; nv is
// name, version, name, version...
func pkgs(part, from string, dkms bool, nv ...string) []Package {
	var out []Package
	for i := 0; i+1 < len(nv); i += 2 {
		out = append(out, Package{Name: nv[i], Version: nv[i+1], Part: part, From: from, DKMS: dkms})
	}
	return out
}

// elTable is EL8 and EL9: DRBD 9 from ELRepo (EL kernels ship no DRBD),
// ZFS as kABI-tracking kmods, Lustre 2.15 LTS from Whamcloud, whose
// kmod-lustre-osd-zfs is built against the ZFS 2.1 series.
func elTable(major, drbdUtils, kmodDRBD, zfs, lustre string) table {
	el := "el" + major
	server := fmt.Sprintf("the Whamcloud Lustre 2.15.6 %s server repository (under %s)", el, whamcloudURL)
	client := fmt.Sprintf("the Whamcloud Lustre 2.15.6 %s client repository (under %s)", el, whamcloudURL)
	return table{parts: map[string][]Package{
		PartDRBD:         pkgs(PartDRBD, fromELRepo, false, "drbd9x-utils", drbdUtils, "kmod-drbd9x", kmodDRBD),
		PartZFS:          pkgs(PartZFS, fromZFSKmod, false, "zfs", zfs, "kmod-zfs", zfs),
		PartLustreServer: pkgs(PartLustreServer, server, false, "lustre", lustre, "kmod-lustre", lustre, "kmod-lustre-osd-zfs", lustre),
		PartLustreClient: pkgs(PartLustreClient, client, false, "lustre-client", lustre, "kmod-lustre-client", lustre),
	}}
}

// Lustre has never been packaged by Debian, and Whamcloud builds Debian
// family packages for the Ubuntu client only. These say what to do instead.
const (
	manualServer = "%s has no Lustre server packages (Debian does not package Lustre; Whamcloud builds Lustre servers for EL only). " +
		"Install by hand: build Lustre 2.15.6 on this node from git://git.whamcloud.com/fs/lustre-release.git (tag v2_15_6; " +
		"sh autogen.sh && ./configure --with-zfs --disable-ldiskfs && make debs) and install the lustre-server-utils and server module packages it produces, " +
		"together with %s; then set install.mode: verify"
	manualDebianClient = "Debian 12 has no Lustre client packages (Debian does not package Lustre; Whamcloud builds Debian-family clients for Ubuntu only). " +
		"Build lustre-client-modules-dkms and lustre-client-utils from git://git.whamcloud.com/fs/lustre-release.git (tag v2_15_6; " +
		"sh autogen.sh && ./configure --disable-server && make debs) and either install them by hand and set install.mode: verify, " +
		"or publish them in an apt repository this node uses and pin both install.packages.lustre-client-modules-dkms and install.packages.lustre-client-utils"
)

// ubuntuTable is Ubuntu 22.04 and 24.04: DRBD 8.4 and ZFS are in the
// distribution kernel, so only their tools; the Lustre client from
// Whamcloud as DKMS.
func ubuntuTable(codename, drbdUtils, zfsUtils, lustre string) table {
	archive := "the Ubuntu " + codename + " archive"
	client := fmt.Sprintf("the Whamcloud Lustre 2.15.6 Ubuntu %s client repository (under %s)", codename, whamcloudURL)
	return table{
		parts: map[string][]Package{
			PartDRBD:         pkgs(PartDRBD, archive, false, "drbd-utils", drbdUtils),
			PartZFS:          pkgs(PartZFS, archive, false, "zfsutils-linux", zfsUtils),
			PartLustreClient: pkgs(PartLustreClient, client, true, "lustre-client-modules-dkms", lustre, "lustre-client-utils", lustre),
		},
		manual: map[string]string{PartLustreServer: manualServer},
	}
}

// tables holds the pinned versions, keyed family/release. Debian 12's
// kernel ships DRBD 8.4 in-tree, so DRBD needs only drbd-utils; ZFS comes
// from contrib as DKMS. Its Lustre client packages have no version here:
// Debian has none, and an administrator who builds them pins them in the
// values, which makes them installable.
var tables = map[string]table{
	"debian/12": {
		parts: map[string][]Package{
			PartDRBD:         pkgs(PartDRBD, "Debian bookworm main", false, "drbd-utils", "9.22.0-1"),
			PartZFS:          pkgs(PartZFS, "Debian bookworm contrib (add contrib to the apt sources)", true, "zfs-dkms", "2.1.11-1+deb12u1", "zfsutils-linux", "2.1.11-1+deb12u1"),
			PartLustreClient: pkgs(PartLustreClient, "your own apt repository (Debian has no Lustre packages)", true, "lustre-client-modules-dkms", "", "lustre-client-utils", ""),
		},
		manual: map[string]string{PartLustreServer: manualServer, PartLustreClient: manualDebianClient},
	},
	"ubuntu/22.04": ubuntuTable("22.04", "9.15.0-1ubuntu1", "2.1.5-1ubuntu6~22.04.7", "2.15.6-1"),
	"ubuntu/24.04": ubuntuTable("24.04", "9.22.0-1.1ubuntu1", "2.2.2-0ubuntu9.5", "2.15.6-1"),
	"el/8":         elTable("8", "9.28.0-1.el8.elrepo", "9.1.23-1.el8_10.elrepo", "2.1.16-1.el8", "2.15.6-1.el8"),
	"el/9":         elTable("9", "9.28.0-1.el9.elrepo", "9.1.23-1.el9_5.elrepo", "2.1.16-1.el9", "2.15.6-1.el9"),
}

// KnownPackages lists every package name any table pins, sorted: the keys
// install.packages accepts.
func KnownPackages() []string {
	var names []string
	for _, t := range tables {
		for _, ps := range t.parts {
			for _, p := range ps {
				if !slices.Contains(names, p.Name) {
					names = append(names, p.Name)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// versionRE is what a Debian or RPM version may look like; anything else
// in an override is a typo or an attempt to smuggle an option.
var versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~:_^-]*$`)

// ValidateOverrides checks install.packages: known package names, and
// versions a package manager could print.
func ValidateOverrides(overrides map[string]string) error {
	known := KnownPackages()
	var errs []string
	for _, name := range sortedKeys(overrides) {
		switch v := overrides[name]; {
		case !slices.Contains(known, name):
			errs = append(errs, fmt.Sprintf("install.packages.%s: unknown package (known: %s)", name, strings.Join(known, ", ")))
		case !versionRE.MatchString(v):
			errs = append(errs, fmt.Sprintf("install.packages.%s: %q is not a package version (want the exact version dpkg-query or rpm prints, e.g. 2.15.6-1.el9)", name, v))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// UnavailableError reports a part the distribution has no packages for,
// with what the administrator must install by hand.
type UnavailableError struct {
	Distro Distro
	Part   string
	Manual string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s on %s: nothing was installed: %s", e.Part, e.Distro, e.Manual)
}

// Packages returns the pinned packages role needs on d, with the values'
// overrides applied, in install order. kernel is `uname -r`, for the
// headers DKMS packages build against. A part the distribution cannot
// install fails the whole list, so that nothing is installed half.
func Packages(d Distro, role Role, kernel string, overrides map[string]string) ([]Package, error) {
	if err := ValidateOverrides(overrides); err != nil {
		return nil, err
	}
	t, ok := tables[d.Family+"/"+d.Release]
	if !ok {
		return nil, &UnsupportedError{Distro: d, Why: "no package table"}
	}
	var out []Package
	var unavailable []string
	for _, part := range role.parts() {
		ps := slices.Clone(t.parts[part])
		complete := len(ps) > 0
		for i := range ps {
			if v, set := overrides[ps[i].Name]; set {
				ps[i].Version = v
			}
			complete = complete && ps[i].Version != ""
		}
		if !complete {
			unavailable = append(unavailable, part)
			continue
		}
		out = append(out, ps...)
	}
	if slices.ContainsFunc(out, func(p Package) bool { return p.DKMS }) {
		if kernel == "" {
			return nil, fmt.Errorf("DKMS packages need the running kernel's release (uname -r)")
		}
		hdr := Package{Name: "linux-headers-" + kernel, Part: PartKernelHeaders, From: "the distribution archive (headers of the running kernel)"}
		out = append([]Package{hdr}, out...)
	}
	var errs []error
	for _, part := range unavailable {
		errs = append(errs, &UnavailableError{Distro: d, Part: part, Manual: manualText(t.manual[part], d, out)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// manualText fills in the distribution and the packages the administrator
// installs alongside the part that needs hand work.
func manualText(format string, d Distro, others []Package) string {
	if !strings.Contains(format, "%s") {
		return format
	}
	var specs []string
	for _, p := range others {
		if p.Version == "" {
			specs = append(specs, p.Name)
		} else {
			specs = append(specs, p.Name+"="+p.Version)
		}
	}
	with := "the DRBD and ZFS packages"
	if len(specs) > 0 {
		with = strings.Join(specs, " ")
	}
	return fmt.Sprintf(format, d, with)
}
