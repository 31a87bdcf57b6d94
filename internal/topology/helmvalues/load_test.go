package helmvalues

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Layered files merge as helm does: maps deep-merge, lists are replaced
// whole, later files and then --set win, and chart defaults fill the rest.
func TestLoadMergesLikeHelm(t *testing.T) {
	t.Parallel()
	a := writeFile(t, "a.yaml", `
fsname: aaa
clients: {nodes: [c1, c2], mountOptions: [flock]}
failover: {leaseSeconds: 20}
`)
	b := writeFile(t, "b.yaml", `
fsname: bbb
clients: {nodes: [c3]}
`)
	vals, err := Load(Options{Files: []string{a, b}, Sets: []string{"failover.mode=manual", "targets[0].type=ost"}, StringSets: []string{"nodes.c3.address=10.0.0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if vals["fsname"] != "bbb" {
		t.Errorf("fsname = %v, want the later file's bbb", vals["fsname"])
	}
	clients := vals["clients"].(map[string]any)
	if !reflect.DeepEqual(clients["nodes"], []any{"c3"}) {
		t.Errorf("clients.nodes = %v, want the later list whole", clients["nodes"])
	}
	if !reflect.DeepEqual(clients["mountOptions"], []any{"flock"}) {
		t.Errorf("clients.mountOptions = %v, want kept from a.yaml", clients["mountOptions"])
	}
	if clients["enabled"] != true {
		t.Errorf("clients.enabled = %v, want the chart default true", clients["enabled"])
	}
	fo := vals["failover"].(map[string]any)
	if fo["mode"] != "manual" || fo["leaseSeconds"] != float64(20) && fo["leaseSeconds"] != int64(20) {
		t.Errorf("failover = %v", fo)
	}
	tg := vals["targets"].([]any)[0].(map[string]any)
	if tg["type"] != "ost" {
		t.Errorf("--set targets[0].type not applied: %v", tg)
	}
	if vals["nodes"].(map[string]any)["c3"].(map[string]any)["address"] != "10.0.0.3" {
		t.Errorf("--set-string not applied: %v", vals["nodes"])
	}
}

func TestLoadErrorsAreIOErrors(t *testing.T) {
	t.Parallel()
	if _, err := Load(Options{Files: []string{"/nonexistent/values.yaml"}}); err == nil {
		t.Fatal("missing file: want an error")
	}
	bad := writeFile(t, "bad.yaml", "fsname: [unclosed\n")
	if _, err := Load(Options{Files: []string{bad}}); err == nil {
		t.Fatal("unparsable file: want an error")
	}
	if _, err := Load(Options{Sets: []string{"a[x]=1"}}); err == nil {
		t.Fatal("bad --set: want an error")
	}
}

// Each file is checked as YAML before Helm merges it: a key given twice is
// named with its file when there are several; an empty file is fine as a
// layer but not as all there is.
func TestCheckReadsEachFileAsYAML(t *testing.T) {
	t.Parallel()
	ha := "../../../examples/ha.yaml"
	empty := writeFile(t, "empty.yaml", "# nothing\n")
	dup := writeFile(t, "dup.yaml", "fsname: a\nfsname: b\n")
	list := writeFile(t, "list.yaml", "- a\n")
	cases := []struct {
		name string
		o    Options
		want string // first line of the only problem; "" for none
	}{
		{"empty layer", Options{Files: []string{ha, empty}}, ""},
		{"empty with --set", Options{Files: []string{empty}, Sets: []string{"fsname=x"}}, "targets: no MDT with index 0: the filesystem root lives there"},
		{"all empty", Options{Files: []string{empty, empty}}, "values files are all empty: there is no filesystem to validate"},
		{"one empty", Options{Files: []string{empty}}, "values file is empty: there is no filesystem to validate"},
		{"key twice, one file", Options{Files: []string{dup}}, "fsname: is given twice, on lines 1 and 2: YAML keeps only the last one, silently"},
		{"key twice, named", Options{Files: []string{ha, dup}}, "fsname: is given twice, on lines 1 and 2 of " + dup + ": YAML keeps only the last one, silently"},
		{"list", Options{Files: []string{list}}, "top level must be a mapping of values, got a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ps, err := Check(c.o)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(ps) > 0 {
				got = strings.SplitN(ps[0].String(), "\n", 2)[0]
			}
			if got != c.want {
				t.Fatalf("got %q, want %q; all:\n%v", got, c.want, ps)
			}
		})
	}
}
