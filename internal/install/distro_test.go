package install

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/schemas"
)

func TestParseOSRelease(t *testing.T) {
	cases := []struct {
		name, content   string
		family, release string
		err             string
	}{
		{"Debian 12", hostsim.OSReleaseDebian12, FamilyDebian, "12", ""},
		{"Ubuntu keeps its own table despite ID_LIKE=debian", hostsim.OSReleaseUbuntu2204, FamilyUbuntu, "22.04", ""},
		{"Rocky 9.4 is EL 9", hostsim.OSReleaseRocky9, FamilyEL, "9", ""},
		{"AlmaLinux 8.10 is EL 8", hostsim.OSReleaseAlma8, FamilyEL, "8", ""},
		{"RHEL with quotes and comments", "# os-release\nID=\"rhel\"\nVERSION_ID='9.5'\n", FamilyEL, "9", ""},
		{"EL derivative known by ID_LIKE only", "ID=\"ol\"\nID_LIKE=\"fedora rhel\"\nVERSION_ID=\"8.9\"\n", FamilyEL, "8", ""},
		{"Debian testing has no VERSION_ID", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n", FamilyDebian, "", "no VERSION_ID"},
		{"Ubuntu release without a table", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"23.10\"\n", FamilyUbuntu, "23.10", "no package table for ubuntu 23.10"},
		{"Fedora is not EL", "ID=fedora\nVERSION_ID=40\n", "", "", "neither ID nor ID_LIKE"},
		{"empty file", "", "", "", "neither ID nor ID_LIKE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseOSRelease([]byte(tc.content))
			if d.Family != tc.family || d.Release != tc.release {
				t.Fatalf("got %s/%s, want %s/%s", d.Family, d.Release, tc.family, tc.release)
			}
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestSchemaListsEveryPackage keeps install.packages in the values schema
// and the package tables naming the same packages, so that every pinned
// package can be overridden and no key is accepted that overrides nothing.
func TestSchemaListsEveryPackage(t *testing.T) {
	var doc struct {
		Properties struct {
			Install struct {
				Properties struct {
					Packages struct {
						AdditionalProperties *bool                     `json:"additionalProperties"`
						Properties           map[string]map[string]any `json:"properties"`
					} `json:"packages"`
				} `json:"properties"`
			} `json:"install"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(schemas.Values, &doc); err != nil {
		t.Fatal(err)
	}
	pk := doc.Properties.Install.Properties.Packages
	var names []string
	for n, p := range pk.Properties {
		names = append(names, n)
		if d, _ := p["description"].(string); d == "" {
			t.Errorf("install.packages.%s has no description", n)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, KnownPackages()) {
		t.Fatalf("schema install.packages: %v\ntables: %v", names, KnownPackages())
	}
	if pk.AdditionalProperties == nil || *pk.AdditionalProperties {
		t.Fatal("install.packages must refuse unknown package names")
	}
}

// TestValuesCarryOverrides: install.packages reaches the topology model,
// and the schema refuses a misspelt package or a version with a space.
func TestValuesCarryOverrides(t *testing.T) {
	base := "fsname: lfs1\ntargets:\n" +
		"  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}\n" +
		"  - {type: ost, index: 0, nodes: [s1, s2], drbd: {minor: 1, port: 7789, disk: /dev/sdc}}\n"
	v, ps, err := topology.CheckDocument([]byte(base + "install: {mode: install, packages: {kmod-zfs: \"2.1.15-1.el9\"}}\n"))
	if err != nil || len(ps) != 0 {
		t.Fatalf("valid values rejected: %v %v", err, ps)
	}
	if v.Install.Mode != "install" || v.Install.Packages["kmod-zfs"] != "2.1.15-1.el9" {
		t.Fatalf("install: %+v", v.Install)
	}
	for _, bad := range []string{`{kmod-zfz: "2.1.15-1.el9"}`, `{kmod-zfs: "2.1.15 --force"}`, `{kmod-zfs: ""}`} {
		_, ps, err := topology.CheckDocument([]byte(base + "install: {mode: install, packages: " + bad + "}\n"))
		if err != nil || len(ps) == 0 {
			t.Errorf("packages %s accepted (%v)", bad, err)
		}
	}
}
