// Package helmcli finds the pinned helm CLI for tests, building it with
// ci/helm.sh (cached outside the repo) when HELM_BIN is not set.
package helmcli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot is the directory holding go.mod, found from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Path returns the helm binary to run.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HELM_BIN"); p != "" {
		return p
	}
	out, err := exec.Command(filepath.Join(RepoRoot(t), "ci", "helm.sh")).Output()
	if err != nil {
		t.Fatalf("building the pinned helm CLI with ci/helm.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Env returns an environment in which helm keeps its plugins, config, cache
// and data under dir, so tests never touch the user's helm setup.
func Env(dir string) []string {
	env := os.Environ()
	for _, kv := range [][2]string{
		{"HELM_PLUGINS", filepath.Join(dir, "plugins")},
		{"HELM_CONFIG_HOME", filepath.Join(dir, "config")},
		{"HELM_CACHE_HOME", filepath.Join(dir, "cache")},
		{"HELM_DATA_HOME", filepath.Join(dir, "data")},
	} {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}
