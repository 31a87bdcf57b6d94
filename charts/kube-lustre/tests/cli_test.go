package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// helmRun runs the pinned helm CLI with a private helm home.
func helmRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helmcli.Path(t), args...)
	cmd.Env = helmcli.Env(t.TempDir())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func cliArgs(in input) []string {
	var a []string
	for _, f := range in.Files {
		a = append(a, "-f", f)
	}
	for _, s := range in.Sets {
		a = append(a, "--set", s)
	}
	return a
}

// The CLI and the Go engine render the same objects, so everything the other
// tests check about the engine's output holds for `helm install` too.
func TestHelmTemplateMatchesEngine(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		args := append([]string{"template", in.release(), chartDir(t), "-n", namespace}, cliArgs(in)...)
		out, errOut, err := helmRun(t, args...)
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		var cli []string
		for _, part := range strings.Split(out, "\n---\n") {
			if norm := normalize(t, part); norm != "" {
				cli = append(cli, norm)
			}
		}
		var eng []string
		for _, d := range render(t, in).Docs {
			eng = append(eng, normalize(t, d.Raw))
		}
		sort.Strings(cli)
		sort.Strings(eng)
		if !reflect.DeepEqual(cli, eng) {
			t.Errorf("helm template and the Go engine differ:\ncli:\n%s\nengine:\n%s", strings.Join(cli, "\n"), strings.Join(eng, "\n"))
		}
	})
}

// normalize turns one YAML document into canonical JSON ("" if empty).
func normalize(t *testing.T, y string) string {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatalf("parse %q: %v", y, err)
	}
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHelmLintStrict(t *testing.T) {
	t.Parallel()
	forExamples(t, func(t *testing.T, in input) {
		args := append([]string{"lint", "--strict", chartDir(t), "-n", namespace}, cliArgs(in)...)
		out, errOut, err := helmRun(t, args...)
		if err != nil {
			t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint output:\n%s", out)
		}
	})
}

// Values the chart must refuse, with the message that says what to do.
func TestInvalidValuesFailToRender(t *testing.T) {
	t.Parallel()
	root := helmcli.RepoRoot(t)
	noTargets := filepath.Join(t.TempDir(), "no-targets.yaml")
	if err := os.WriteFile(noTargets, []byte("fsname: lfs1\ntargets: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		file string
		want []string
	}{
		// The schema (additionalProperties: false) names the unknown key.
		{"unknown-key", filepath.Join(root, "examples", "invalid", "unknown-key.yaml"),
			[]string{"values don't meet the specifications of the schema", "/targets/1", "drdb"}},
		// What the schema cannot see: the chart's own fail, pointing to the validator.
		{"no-targets", noTargets, []string{"targets is empty", "helm lustre validate"}},
		{"duplicate-index", filepath.Join(root, "examples", "invalid", "duplicate-index.yaml"),
			[]string{"would render the same StatefulSet", "helm lustre validate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := input{Files: []string{c.file}}
			_, errOut, err := helmRun(t, append([]string{"template", releaseName, chartDir(t), "-n", namespace}, cliArgs(in)...)...)
			if err == nil {
				t.Fatal("helm template succeeded")
			}
			_, engErr := renderErr(t, in)
			if engErr == nil {
				t.Fatal("the Go engine rendered it")
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("helm template stderr lacks %q:\n%s", w, errOut)
				}
				if !strings.Contains(engErr.Error(), w) {
					t.Errorf("engine error lacks %q: %v", w, engErr)
				}
			}
		})
	}
}
