package helmvalues

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kubelustre "github.com/kube-lustre/kube-lustre/charts/kube-lustre"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/schemas"
)

const examplesDir = "../../../examples"

func TestExamplesAreValid(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("expected examples in %s, found %v", examplesDir, files)
	}
	for _, f := range files {
		_, ps, err := Check(Options{Files: []string{f}})
		if err != nil || len(ps) > 0 {
			t.Errorf("%s: err=%v problems:\n%v", f, err, ps)
		}
	}
}

// Every file in examples/invalid carries "# expect: <problem line>" comments;
// each must appear verbatim as the first line of one reported problem.
func TestInvalidExamples(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(examplesDir, "invalid", "*.yaml"))
	if len(files) < 20 {
		t.Fatalf("expected one invalid example per rule, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			expects := expectLines(t, f)
			if len(expects) == 0 {
				t.Fatalf("%s has no '# expect:' line", f)
			}
			_, ps, err := Check(Options{Files: []string{f}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, p := range ps {
				got[strings.SplitN(p.String(), "\n", 2)[0]] = true
			}
			for _, e := range expects {
				if !got[e] {
					t.Errorf("missing %q; got:\n%v", e, ps)
				}
			}
		})
	}
}

func expectLines(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			out = append(out, rest)
		}
	}
	return out
}

func TestChartSchemaIsTheSameFile(t *testing.T) {
	t.Parallel()
	chartCopy, err := fs.ReadFile(kubelustre.Files, "values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chartCopy, schemas.Values) {
		t.Fatal("charts/kube-lustre/values.schema.json differs from schemas/values.schema.json: run `make schema`")
	}
}

// Every property in the schema has a description (the chart README and every
// hint are made from them) and every object forbids unknown keys.
func TestSchemaDescribesEveryField(t *testing.T) {
	t.Parallel()
	var root any
	if err := json.Unmarshal(schemas.Values, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s any)
	walk = func(path string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		if _, ok := m["description"]; !ok {
			t.Errorf("%s: no description", path)
		}
		if m["type"] == "object" {
			if _, ok := m["additionalProperties"]; !ok {
				t.Errorf("%s: object without additionalProperties", path)
			}
		}
		for _, key := range []string{"properties", "$defs"} {
			if props, ok := m[key].(map[string]any); ok {
				for k, v := range props {
					walk(path+"."+k, v)
				}
			}
		}
		for _, key := range []string{"items", "additionalProperties", "propertyNames"} {
			if sub, ok := m[key].(map[string]any); ok {
				walk(path+"."+key, sub)
			}
		}
		if branches, ok := m["oneOf"].([]any); ok {
			for _, b := range branches {
				walk(path+".oneOf", b)
			}
		}
	}
	walk("$", root)
}

// The chart's own defaults must pass the schema: helm install validates them.
func TestChartDefaultsMatchSchema(t *testing.T) {
	t.Parallel()
	d, err := chartDefaults()
	if err != nil {
		t.Fatal(err)
	}
	_, ps, err := topology.Validate(d)
	if err != nil || hasSchemaProblems(ps) {
		t.Fatalf("chart defaults: err=%v problems:\n%v", err, ps)
	}
}

// hasSchemaProblems: the defaults alone have no targets, so only the
// cross-field rules (no MGS, ...) may complain about them, never the schema.
func hasSchemaProblems(ps topology.Problems) bool {
	for _, p := range ps {
		if p.Path != "targets" {
			return true
		}
	}
	return false
}
