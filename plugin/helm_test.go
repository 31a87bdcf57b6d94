package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// TestHelmPluginInstallAndRun installs ./plugin into a private HELM_PLUGINS
// with the pinned helm CLI (the install hook builds the binary) and runs
// `helm lustre validate` and `plan` on every example, the way a user does.
func TestHelmPluginInstallAndRun(t *testing.T) {
	t.Parallel()
	helm := helmcli.Path(t)
	root := helmcli.RepoRoot(t)
	env := helmcli.Env(t.TempDir())
	helmRun := func(args ...string) (int, string) {
		cmd := exec.Command(helm, args...)
		cmd.Env = env
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatalf("helm %v: %v", args, err)
		}
		return 0, string(out)
	}
	if code, out := helmRun("plugin", "install", filepath.Join(root, "plugin")); code != 0 {
		t.Fatalf("helm plugin install: exit %d\n%s", code, out)
	}
	if code, out := helmRun("plugin", "list"); code != 0 || !strings.Contains(out, "lustre") {
		t.Fatalf("plugin not listed: %s", out)
	}
	if code, out := helmRun("lustre", "validate", "examples/ha.yaml"); code != 0 || !strings.Contains(out, "examples/ha.yaml: valid: ") {
		t.Fatalf("validate ha.yaml: exit %d\n%s", code, out)
	}
	valid, _ := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	for _, f := range valid {
		rel, _ := filepath.Rel(root, f)
		for _, cmd := range []string{"validate", "plan"} {
			if code, out := helmRun("lustre", cmd, rel); code != 0 {
				t.Errorf("helm lustre %s %s: exit %d\n%s", cmd, rel, code, out)
			}
		}
	}
	invalid, _ := filepath.Glob(filepath.Join(root, "examples", "invalid", "*.yaml"))
	for _, f := range invalid {
		rel, _ := filepath.Rel(root, f)
		code, out := helmRun("lustre", "validate", "-f", rel)
		if code != exitProblems {
			t.Errorf("%s: exit %d, want %d\n%s", rel, code, exitProblems, out)
		}
		for _, want := range expectations(t, f) {
			if !strings.Contains(out, want+"\n  fix: ") {
				t.Errorf("%s: output lacks %q with its fix:\n%s", rel, want, out)
			}
		}
	}
	if code, _ := helmRun("lustre", "validate", "does-not-exist.yaml"); code != exitUsage {
		t.Errorf("missing file: exit %d, want %d", code, exitUsage)
	}
}

func expectations(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// A checkout without Go cannot build the plugin: the install fails, says
// why, and leaves no plugin registered (Helm itself keeps a plugin whose
// install hook failed); the checkout stays as it was.
func TestHelmPluginInstallWithoutGoLeavesNothingRegistered(t *testing.T) {
	t.Parallel()
	helm := helmcli.Path(t)
	root := helmcli.RepoRoot(t)
	env := append(helmcli.Env(t.TempDir()), "PATH=/usr/bin:/bin")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(helm, args...)
		cmd.Env, cmd.Dir = env, root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("plugin", "install", filepath.Join(root, "plugin"))
	if err == nil || !strings.Contains(out, "building from a checkout needs Go") {
		t.Fatalf("install without Go: %v\n%s", err, out)
	}
	if list, _ := run("plugin", "list"); strings.Contains(list, "lustre") {
		t.Fatalf("the failed install left the plugin registered:\n%s", list)
	}
	if _, err := os.Stat(filepath.Join(root, "plugin", "plugin.yaml")); err != nil {
		t.Fatalf("the checkout lost its plugin: %v", err)
	}
}
