package vm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run runs a command in dir and returns its output; a failure other than
// exit 1 of should-run.sh (its "no") fails the test.
func run(t *testing.T, dir string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out), 0
}

// TestShouldRunFollowsWhatTheSuiteLinks: the covered code is what test/vm
// and the binaries it builds link, so a change to the fencing client
// (internal/failover, linked through images/drbd) runs the suite, and a
// change to a document does not.
func TestShouldRunFollowsWhatTheSuiteLinks(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	if out, code := run(t, root, "git", "clone", "-q", root, repo); code != 0 {
		t.Fatalf("git clone: %s", out)
	}
	// The script under test is the working tree's, committed into the clone.
	sr := filepath.Join(repo, "ci/vm/should-run.sh")
	script, err := os.ReadFile(filepath.Join(root, "ci/vm/should-run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sr, script, 0o755); err != nil {
		t.Fatal(err)
	}
	commit := func(msg string) {
		if out, code := run(t, repo, "git", "commit", "-q", "--allow-empty", "-am", msg); code != 0 {
			t.Fatalf("git commit: %s", out)
		}
	}
	commit("the script under test")
	paths, code := run(t, repo, sr, "--paths")
	if code != 0 {
		t.Fatalf("should-run.sh --paths: exit %d\n%s", code, paths)
	}
	covered := map[string]bool{}
	for _, p := range strings.Fields(paths) {
		covered[p] = true
	}
	for _, p := range []string{"internal/failover/fence.go", "internal/lustre/server.go", "internal/drbd", "go.mod", "ci/vm"} {
		if !covered[p] && !covered[p+"/"] && !anyUnder(covered, p+"/") {
			t.Errorf("should-run.sh does not cover %s although the suite links it", p)
		}
	}
	if covered["README.md"] || anyUnder(covered, "docs/") {
		t.Errorf("should-run.sh covers documents: %v", paths)
	}

	// Mark the clone's code as verified, then change a document and the
	// fencing client in turn.
	hash, _ := run(t, repo, sr, "--hash")
	verified := "content " + strings.TrimSpace(hash) + "\npassed test on HEAD\n"
	if err := os.WriteFile(filepath.Join(repo, "ci/vm/verified"), []byte(verified), 0o644); err != nil {
		t.Fatal(err)
	}
	commit("verified")
	if out, code := run(t, repo, sr); code != 1 {
		t.Fatalf("verified code: want exit 1 (no), got %d: %s", code, out)
	}
	appendTo(t, filepath.Join(repo, "README.md"), "\nmore words\n")
	commit("docs")
	if out, code := run(t, repo, sr); code != 1 {
		t.Fatalf("a README change: want exit 1 (no), got %d: %s", code, out)
	}
	appendTo(t, filepath.Join(repo, "internal/failover/fence.go"), "\n// a change\n")
	if out, code := run(t, repo, sr); code != 0 || !strings.Contains(out, "uncommitted") {
		t.Fatalf("an uncommitted fence.go change: want yes, got exit %d: %s", code, out)
	}
	commit("fence")
	if out, code := run(t, repo, sr); code != 0 || !strings.Contains(out, "changed since") {
		t.Fatalf("a committed fence.go change: want yes, got exit %d: %s", code, out)
	}
}

func anyUnder(set map[string]bool, prefix string) bool {
	for p := range set {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
