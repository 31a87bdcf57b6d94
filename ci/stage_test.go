package ci_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sh runs a command line in the repository root with extra environment;
// it returns the combined output and the exit code.
func sh(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return string(out), 0
}

// ci/stage.sh accounts for each stage: built, cached, ran or failed, with
// the command's own exit status.
func TestStageTable(t *testing.T) {
	table := filepath.Join(t.TempDir(), "stages")
	env := []string{"KUBE_LUSTRE_STAGES=" + table}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"ci/stage.sh", "b", "bash", "-c", ". ci/built.sh; stage_did built; stage_did cached"}, 0},
		{[]string{"ci/stage.sh", "c", "bash", "-c", ". ci/built.sh; stage_did cached"}, 0},
		{[]string{"ci/stage.sh", "--test", "t", "bash", "-c", ". ci/built.sh; stage_did built"}, 0},
		{[]string{"ci/stage.sh", "f", "bash", "-c", "exit 3"}, 3},
	} {
		if out, code := sh(t, env, c.args...); code != c.code {
			t.Fatalf("%v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
	}
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("row %q: want NAME, SECONDS, STATUS", line)
		}
		got = append(got, f[0]+" "+f[2])
	}
	if want := "b built|c cached|t ran|f FAILED (exit 3)"; strings.Join(got, "|") != want {
		t.Fatalf("stages %q, want %q", strings.Join(got, "|"), want)
	}
}

// Once the build stages passed (KUBE_LUSTRE_PREBUILT=1), a build script
// that finds its tool missing fails at once instead of building under a
// test's timeout.
func TestNoBuildUnderATestTimeout(t *testing.T) {
	cache := t.TempDir()
	env := []string{"KUBE_LUSTRE_PREBUILT=1", "KUBE_LUSTRE_CACHE=" + cache}
	for _, script := range []string{"ci/helm.sh", "ci/cluster/build.sh", "ci/cluster/sidecars/build.sh"} {
		out, code := sh(t, env, script)
		if code == 0 || !strings.Contains(out, "is not built although the build stages passed") {
			t.Errorf("%s with nothing built and KUBE_LUSTRE_PREBUILT=1: exit %d\n%s", script, code, out)
		}
	}
}
