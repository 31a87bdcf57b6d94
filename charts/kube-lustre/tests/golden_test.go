package tests

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// Every example's full rendering (NOTES.txt included) is checked in under
// testdata/<example>.golden.yaml, so a review shows what a template change
// does to real output. `make chart-golden` rewrites them (UPDATE_GOLDEN=1).
func TestGolden(t *testing.T) {
	t.Parallel()
	update := os.Getenv("UPDATE_GOLDEN") == "1"
	for _, f := range examples(t) {
		name := exampleName(f)
		t.Run(name, func(t *testing.T) {
			got := goldenText(render(t, input{Files: []string{f}}).Files)
			path := filepath.Join(helmcli.RepoRoot(t), "charts", "kube-lustre", "tests", "testdata", name+".golden.yaml")
			if update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run make chart-golden)", err)
			}
			if string(want) != got {
				t.Errorf("%s is stale: run make chart-golden and review the diff\n%s", path, firstDiff(string(want), got))
			}
		})
	}
}

func goldenText(files map[string]string) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		text := strings.TrimSpace(files[p])
		if text == "" {
			continue
		}
		b.WriteString("---\n# Source: " + p + "\n" + text + "\n")
	}
	return b.String()
}

// firstDiff shows the first differing line with a little context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl
		}
	}
	return ""
}
