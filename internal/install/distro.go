// Package install installs the distribution packages a node's role needs
// (DRBD, ZFS, Lustre server or client) at pinned versions, through the
// host.Runner like every other host step. It observes first: a package
// already installed at its pinned version is left alone, one installed at
// another version is an error (never a silent upgrade or downgrade), and
// everything missing is installed in one apt-get or dnf transaction, so a
// package the repositories lack fails the step before anything changes.
package install

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Distribution families the package tables cover.
const (
	FamilyDebian = "debian"
	FamilyUbuntu = "ubuntu"
	FamilyEL     = "el"
)

// Distro is what /etc/os-release says about the node.
type Distro struct {
	ID        string   // ID, e.g. rocky
	IDLike    []string // ID_LIKE, e.g. rhel centos fedora
	VersionID string   // VERSION_ID, e.g. 9.4
	Pretty    string   // PRETTY_NAME, for messages
	// Family is FamilyDebian, FamilyUbuntu or FamilyEL; Release is the
	// key of the package table inside it: the major version for Debian and
	// EL (whose minor releases keep the kernel ABI), the full VERSION_ID
	// for Ubuntu (22.04 and 22.10 are different releases).
	Family  string
	Release string
}

// String names the distribution for messages.
func (d Distro) String() string {
	if d.Pretty != "" {
		return d.Pretty
	}
	return strings.TrimSpace(d.ID + " " + d.VersionID)
}

// UnsupportedError reports a distribution without a package table.
type UnsupportedError struct {
	Distro Distro
	Why    string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("unsupported distribution %s (ID=%q ID_LIKE=%q VERSION_ID=%q): %s; install mode knows %s; "+
		"install DRBD, ZFS and Lustre by hand and set install.mode: verify",
		e.Distro, e.Distro.ID, strings.Join(e.Distro.IDLike, " "), e.Distro.VersionID, e.Why, supportedList())
}

// ParseOSRelease reads os-release(5) content and picks the package table
// family. ID decides before ID_LIKE, so Ubuntu (ID_LIKE=debian) keeps its
// own table; a derivative that names only ID_LIKE gets its parent's.
func ParseOSRelease(b []byte) (Distro, error) {
	var d Distro
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		k, v, found := strings.Cut(line, "=")
		if !found || strings.HasPrefix(line, "#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "ID":
			d.ID = strings.ToLower(v)
		case "ID_LIKE":
			d.IDLike = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			d.VersionID = v
		case "PRETTY_NAME":
			d.Pretty = v
		}
	}
	for _, id := range append([]string{d.ID}, d.IDLike...) {
		switch id {
		case "debian":
			d.Family = FamilyDebian
		case "ubuntu":
			d.Family = FamilyUbuntu
		case "rhel", "centos", "rocky", "almalinux":
			d.Family = FamilyEL
		}
		if d.Family != "" {
			break
		}
	}
	switch {
	case d.Family == "":
		return d, &UnsupportedError{Distro: d, Why: "neither ID nor ID_LIKE names Debian, Ubuntu or an EL distribution"}
	case d.VersionID == "":
		return d, &UnsupportedError{Distro: d, Why: "no VERSION_ID (a testing or rolling release has no pinned packages)"}
	case d.Family == FamilyUbuntu:
		d.Release = d.VersionID
	default:
		d.Release, _, _ = strings.Cut(d.VersionID, ".")
	}
	if _, ok := tables[d.Family+"/"+d.Release]; !ok {
		return d, &UnsupportedError{Distro: d, Why: fmt.Sprintf("no package table for %s %s", d.Family, d.Release)}
	}
	return d, nil
}

// Detect reads /etc/os-release on the host.
func Detect(ctx context.Context, r host.Runner) (Distro, error) {
	b, err := host.ReadFile(ctx, r, "/etc/os-release")
	if err != nil {
		return Distro{}, fmt.Errorf("detect distribution: %w", err)
	}
	return ParseOSRelease(b)
}

// supportedList names every release with a table, for messages.
func supportedList() string {
	var out []string
	for k := range tables {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
