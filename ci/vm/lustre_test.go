package vm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A go test -v output of the VM suite without KUBE_LUSTRE_VM_LUSTRE: TestVM
// passed, TestVMLustre skipped with its one line.
const skippedRun = `=== RUN   TestVM
    vm_test.go:412: guest image /root/.cache/kube-lustre/vm/ff650a37b845b555:
        key=ff650a37b845b555
=== RUN   TestVM/1-bring-up
    vm_test.go:120: MEASURED vm1 boot to a ready agent: 40.1 s
--- PASS: TestVM (321.52s)
    --- PASS: TestVM/1-bring-up (60.00s)
=== RUN   TestVMLustre
    vmlustre_test.go:117: vm: Lustre cases did not run: set KUBE_LUSTRE_VM_LUSTRE to a directory with Lustre for guest kernel 6.1.0-50-amd64 (see docs/vm-lustre.md)
--- SKIP: TestVMLustre (0.02s)
PASS
ok  	github.com/kube-lustre/kube-lustre/test/vm	321.560s
`

// summary runs ci/vm/summary.sh on a go test output with a stage table.
func summary(t *testing.T, goTest string) (out, table string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "go-test.out")
	if err := os.WriteFile(log, []byte(goTest), 0o644); err != nil {
		t.Fatal(err)
	}
	stages := filepath.Join(dir, "stages")
	cmd := exec.Command("./summary.sh", log)
	cmd.Env = append(os.Environ(), "KUBE_LUSTRE_STAGES="+stages)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("summary.sh: %v\n%s", err, b)
	}
	tb, _ := os.ReadFile(stages)
	return string(b), string(tb)
}

// Without the Lustre directory the summary says in one line that the Lustre
// cases did not run, never that they passed, and make test's stage table
// gets a row saying so.
func TestSummarySaysTheLustreCasesDidNotRun(t *testing.T) {
	out, table := summary(t, skippedRun)
	want := "== make e2e-vm: each test\n" +
		"TestVM: passed (321.52 s)\n" +
		"vm: Lustre cases did not run: set KUBE_LUSTRE_VM_LUSTRE to a directory with Lustre for guest kernel 6.1.0-50-amd64 (see docs/vm-lustre.md)\n"
	if out != want {
		t.Errorf("summary:\n%s\nwant:\n%s", out, want)
	}
	lustreLines := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Lustre") {
			lustreLines++
		}
	}
	if strings.Contains(out, "passed") && strings.Contains(out, "TestVMLustre") || lustreLines != 1 {
		t.Errorf("the Lustre cases must take exactly one line, not a pass:\n%s", out)
	}
	wantRow := "TestVMLustre\t0\tdid not run: set KUBE_LUSTRE_VM_LUSTRE to a directory with Lustre for guest kernel 6.1.0-50-amd64 (see docs/vm-lustre.md)\n"
	if table != wantRow {
		t.Errorf("stage table %q, want %q", table, wantRow)
	}
}

// With the Lustre cases run, passed and failed are told as such, and
// nothing is added to the stage table.
func TestSummaryPassAndFail(t *testing.T) {
	run := strings.NewReplacer(
		"    vmlustre_test.go:117: vm: Lustre cases did not run: set KUBE_LUSTRE_VM_LUSTRE to a directory with Lustre for guest kernel 6.1.0-50-amd64 (see docs/vm-lustre.md)\n",
		"    vm_test.go:412: guest image /root/.cache/kube-lustre/vm/ff650a37b845b555-lustre-0123456789abcdef:\n",
		"--- SKIP: TestVMLustre (0.02s)", "--- FAIL: TestVMLustre (1500.10s)").Replace(skippedRun)
	out, table := summary(t, run)
	if want := "TestVM: passed (321.52 s)\nTestVMLustre: FAILED (1500.10 s)\n"; !strings.HasSuffix(out, want) {
		t.Errorf("summary:\n%s\nwant it to end with:\n%s", out, want)
	}
	if table != "" {
		t.Errorf("stage table %q, want no row", table)
	}
	out, _ = summary(t, "# github.com/kube-lustre/kube-lustre/test/vm\nvm_test.go:1:1: syntax error\nFAIL\n")
	if !strings.Contains(out, "no test result") {
		t.Errorf("summary of a build failure:\n%s", out)
	}
}

// imageLustre runs ci/vm/image-lustre.sh with args.
func imageLustre(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return run(t, ".", "./image-lustre.sh", args...)
}

// The Lustre image's key follows the directory's content: names, modes,
// bytes and link targets, not times; its mode says .deb packages or an
// installed tree.
func TestLustreDirectoryKey(t *testing.T) {
	dir := t.TempDir()
	if out, code := imageLustre(t, "--key", dir); code == 0 || !strings.Contains(out, "is empty") {
		t.Fatalf("an empty directory: exit %d, %s", code, out)
	}
	if out, code := imageLustre(t, "--key", filepath.Join(dir, "missing")); code == 0 || !strings.Contains(out, "not a directory") {
		t.Fatalf("a missing directory: exit %d, %s", code, out)
	}
	write := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	key := func() (mode, hash string) {
		t.Helper()
		out, code := imageLustre(t, "--key", dir)
		f := strings.Fields(out)
		if code != 0 || len(f) != 2 || len(f[1]) != 16 {
			t.Fatalf("--key: exit %d, %q", code, out)
		}
		return f[0], f[1]
	}
	write("usr/sbin/mkfs.lustre", "#!/bin/sh\n", 0o755)
	write("lib/modules/6.1.0-50-amd64/extra/lustre.ko", "module", 0o644)
	mode, h1 := key()
	if mode != "tree" {
		t.Errorf("mode %q for an installed tree, want tree", mode)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "usr/sbin/mkfs.lustre"), later, later); err != nil {
		t.Fatal(err)
	}
	if _, h := key(); h != h1 {
		t.Errorf("a changed time changed the key: %s, was %s", h, h1)
	}
	write("lib/modules/6.1.0-50-amd64/extra/lustre.ko", "module2", 0o644)
	_, h2 := key()
	if h2 == h1 {
		t.Error("changed bytes kept the key")
	}
	if err := os.Chmod(filepath.Join(dir, "usr/sbin/mkfs.lustre"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, h3 := key()
	if h3 == h2 {
		t.Error("a changed mode kept the key")
	}
	if err := os.Symlink("mkfs.lustre", filepath.Join(dir, "usr/sbin/mkfs.other")); err != nil {
		t.Fatal(err)
	}
	_, h4 := key()
	if h4 == h3 {
		t.Error("a new link kept the key")
	}
	write("lustre-client-utils_2.17.0-1_amd64.deb", "not really", 0o644)
	if mode, _ := key(); mode != "debs" {
		t.Errorf("mode %q with a .deb in the directory, want debs", mode)
	}
}

// A DKMS package would compile Lustre in the image: refused before
// anything is built, naming the kernel the modules must be built for.
func TestLustreDirectoryRefusesDKMS(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed (a Debian machine has it)")
	}
	tmp := t.TempDir()
	base := filepath.Join(tmp, "cache", "0123456789abcdef")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "manifest"), []byte("key=0123456789abcdef\nkernel=6.1.0-50-amd64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(tmp, "pkg")
	if err := os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	control := "Package: lustre-client-modules-dkms\nVersion: 2.17.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
	if err := os.WriteFile(filepath.Join(pkg, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	lustreDir := filepath.Join(tmp, "lustre")
	if err := os.MkdirAll(lustreDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, ".", "dpkg-deb", "--build", "--root-owner-group", pkg, filepath.Join(lustreDir, "lustre-client-modules-dkms_2.17.0-1_all.deb")); code != 0 {
		t.Fatalf("dpkg-deb: %s", out)
	}
	out, code := imageLustre(t, base, lustreDir)
	if code == 0 || !strings.Contains(out, "DKMS package") || !strings.Contains(out, "6.1.0-50-amd64") {
		t.Fatalf("a DKMS package: exit %d, %s", code, out)
	}
	if entries, _ := os.ReadDir(filepath.Dir(base)); len(entries) != 1 {
		t.Errorf("the refusal left files beside the base image: %v", entries)
	}
	if out, code := imageLustre(t, tmp, lustreDir); code == 0 || !strings.Contains(out, "not a guest image") {
		t.Errorf("a base without a manifest: exit %d, %s", code, out)
	}
}
