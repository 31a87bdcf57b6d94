package helmvalues

import (
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"sigs.k8s.io/yaml"

	kubelustre "github.com/kube-lustre/kube-lustre/charts/kube-lustre"
)

// helmLoad is what helm install computes from the same options: its own
// values.Options and CoalesceValues over the chart's values.yaml.
func helmLoad(o Options) (map[string]any, error) {
	vo := values.Options{ValueFiles: o.Files, Values: o.Sets, StringValues: o.StringSets}
	user, err := vo.MergeValues(getter.Providers{})
	if err != nil {
		return nil, err
	}
	d, err := chartDefaults()
	if err != nil {
		return nil, err
	}
	v, err := util.CoalesceValues(&chart.Chart{Metadata: &chart.Metadata{Name: "kube-lustre"}, Values: d}, user)
	if err != nil {
		return nil, err
	}
	return v.AsMap(), nil
}

// FuzzLoadIsHelms: Load gives exactly what Helm's code gives for two
// values files and a --set, or both fail. The seeds are the examples and
// the cases where Helm's layering is subtle (nulls at each depth, a table
// over a value and a value over a table, several documents in a file).
func FuzzLoadIsHelms(f *testing.F) {
	log.SetOutput(io.Discard) // Helm's coalesce warns through log
	examples, _ := filepath.Glob("../../../examples/*.yaml")
	for _, e := range examples {
		b, err := os.ReadFile(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "", "")
	}
	for _, c := range [][3]string{
		{"failover: null\n", "", ""},                 // a default removed
		{"failover: {leaseSeconds: null}\n", "", ""}, // a nested default removed
		{"failover: {leaseSeconds: 20}\n", "failover: {leaseSeconds: null}\n", ""},
		{"extra: null\nfailover: {nothing: null}\n", "", ""}, // nulls without a default stay
		{"failover: 3\n", "", ""},                            // a value over a table
		{"fsname: {a: 1}\n", "", ""},                         // a table over a value
		{"images: {drbd: {tag: x}}\n", "images: {drbd: null}\n", "images.labeler.tag=y"},
		{"a: 1\n---\nb: {c: 2}\n---\nb: {d: 3}", "a: null", "b.c=null"},
		{"clients: {nodes: [c1]}\n", "clients: {nodes: [c2, c3]}\n", "clients.nodes[0]=z"},
		{"fsname: a\nfsname: b\n", "", ""},
		{"- a\n", "", ""},
		{"", "", "targets[0].zpool.vdevs[1]=/dev/sdb"},
		{"{", "", ""},
		{"", "", "a.b[0=1"},
	} {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, a, b, set string) {
		dir := t.TempDir()
		o := Options{Files: []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}}
		for i, body := range []string{a, b} {
			if err := os.WriteFile(o.Files[i], []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if set != "" {
			o.Sets = []string{set}
			o.StringSets = []string{set}
		}
		got, err := Load(o)
		want, herr := helmLoad(o)
		if (err == nil) != (herr == nil) {
			t.Fatalf("Load: %v; helm: %v", err, herr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Load gave\n%#v\nhelm gave\n%#v", got, want)
		}
	})
}

// FuzzWithDefaultsIsHelms: withDefaults gives what Helm's CoalesceValues
// gives for any user values over any chart defaults, nulls among both
// included (the chart's own values.yaml has no null to try).
func FuzzWithDefaultsIsHelms(f *testing.F) {
	log.SetOutput(io.Discard)
	for _, c := range [][2]string{
		{"a: null\n", "a: null\n"},
		{"a: null\nb: 1\n", "a: {x: null, y: 2}\nb: null\nc: null\n"},
		{"a: {x: null, z: null}\n", "a: {x: 1, y: null, w: {q: null, r: 1}}\n"},
		{"a: {x: {y: null}}\n", "a: {x: 3}\n"},
		{"a: 3\n", "a: {x: 1}\n"},
		{"a: [1, null]\n", "a: [2]\nb: [null]\n"},
		{"", "a: {b: {c: null}}\n"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, user, defaults string) {
		u, d := map[string]any{}, map[string]any{}
		if yaml.Unmarshal([]byte(user), &u) != nil || yaml.Unmarshal([]byte(defaults), &d) != nil {
			return
		}
		want, err := util.CoalesceValues(&chart.Chart{Metadata: &chart.Metadata{Name: "c"}, Values: d}, u)
		if err != nil {
			t.Fatal(err)
		}
		if got := withDefaults(u, d); !reflect.DeepEqual(got, want.AsMap()) {
			t.Fatalf("withDefaults gave\n%#v\nhelm gave\n%#v", got, want.AsMap())
		}
	})
}

// withDefaults layers values as Helm does for a chart without subcharts:
// a dependency (whose values Helm coalesces under its own key, with
// globals) would need more than it does.
func TestTheChartHasNoSubcharts(t *testing.T) {
	b, err := fs.ReadFile(kubelustre.Files, "Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c chart.Metadata
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Dependencies) > 0 {
		t.Fatalf("Chart.yaml declares dependencies %v: helmvalues.withDefaults does not coalesce subcharts' values", c.Dependencies)
	}
	if _, err := os.Stat("../../../charts/kube-lustre/charts"); err == nil {
		t.Fatal("the chart has a charts/ directory: helmvalues.withDefaults does not coalesce subcharts' values")
	}
}
