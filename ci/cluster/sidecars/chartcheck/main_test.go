package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const table = `# comment
# KEY IMAGE MODULE VERSION COMMAND
provisioner  reg.example/csi-provisioner  example.com/ext-provisioner/v6 v6.4.0 cmd/csi-provisioner

resizer      reg.example/csi-resizer      example.com/ext-resizer/v2     v2.3.0 cmd/csi-resizer
#   registrar  reg.example/csi-node-driver-registrar  (not built)
`

func sidecars(t *testing.T) []Sidecar {
	t.Helper()
	s, err := ParseTable([]byte(table))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseTable(t *testing.T) {
	want := []Sidecar{
		{"provisioner", "reg.example/csi-provisioner", "example.com/ext-provisioner/v6", "v6.4.0", "cmd/csi-provisioner"},
		{"resizer", "reg.example/csi-resizer", "example.com/ext-resizer/v2", "v2.3.0", "cmd/csi-resizer"},
	}
	if got := sidecars(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if n := want[0].Name(); n != "csi-provisioner" {
		t.Fatalf("Name() = %s", n)
	}
	for _, bad := range []string{"", "# only\n", "a b c d\n", "a b c d e\na f g h i\n"} {
		if _, err := ParseTable([]byte(bad)); err == nil {
			t.Errorf("ParseTable(%q): no error", bad)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		problems     []string // substrings, one a problem
		extra        []string
	}{
		{name: "equal", values: `
provisioner:
  images:
    provisioner: {repository: reg.example/csi-provisioner, tag: v6.4.0}
    resizer: {repository: reg.example/csi-resizer, tag: v2.3.0}
    registrar: {repository: reg.example/csi-node-driver-registrar, tag: v2.15.0}
`, extra: []string{"provisioner.images.registrar (reg.example/csi-node-driver-registrar:v2.15.0)"}},
		{name: "tag and repository differ", values: `
provisioner:
  images:
    provisioner: {repository: reg.example/csi-provisioner, tag: v6.3.0}
    resizer: {repository: other.example/csi-resizer, tag: v2.3.0}
`, problems: []string{"provisioner.images.provisioner.tag is v6.3.0, images.sh builds v6.4.0",
			"provisioner.images.resizer.repository is other.example/csi-resizer, images.sh builds reg.example/csi-resizer"}},
		{name: "missing", values: `
provisioner:
  images:
    provisioner: {repository: reg.example/csi-provisioner}
`, problems: []string{"provisioner.images.provisioner.tag is <unset>", "provisioner.images.resizer is missing"}},
		{name: "no section", values: "fsname: x\n",
			problems: []string{"provisioner.images.provisioner is missing", "provisioner.images.resizer is missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, extra, err := Compare([]byte(tc.values), sidecars(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("problems %q, want %d", problems, len(tc.problems))
			}
			for i, p := range tc.problems {
				if !strings.Contains(problems[i], p) {
					t.Errorf("problem %d: %q does not contain %q", i, problems[i], p)
				}
			}
			if !reflect.DeepEqual(extra, tc.extra) && len(extra)+len(tc.extra) > 0 {
				t.Errorf("extra %q, want %q", extra, tc.extra)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tab := write("sidecars.txt", table)
	write("csi-provisioner/go.mod", "module m\n\ngo 1.26.0\n\nrequire example.com/ext-provisioner/v6 v6.4.0\n")
	write("csi-resizer/go.mod", "module m\n\ngo 1.26.0\n\nrequire example.com/ext-resizer/v2 v2.2.0\n")
	values := write("values.yaml", `
provisioner:
  images:
    provisioner: {repository: reg.example/csi-provisioner, tag: v6.4.0}
    resizer: {repository: reg.example/csi-resizer, tag: v2.3.0}
`)
	var notes strings.Builder
	err := run(tab, values, &notes)
	if err == nil || !strings.Contains(err.Error(), "gen-gomod.sh csi-resizer") {
		t.Fatalf("stale csi-resizer/go.mod: err = %v", err)
	}
	write("csi-resizer/go.mod", "module m\n\nrequire example.com/ext-resizer/v2 v2.3.0\n")
	if err := run(tab, values, &notes); err != nil {
		t.Fatal(err)
	}
}

// The repository's own table parses and names modules whose go.mod pins it.
func TestRepositoryTable(t *testing.T) {
	b, err := os.ReadFile("../sidecars.txt")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ParseTable(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if err := PinnedIn(filepath.Join("..", s.Name(), "go.mod"), s); err != nil {
			t.Error(err)
		}
	}
}
