package vm

// This file has no build tag: the switch of the Lustre cases is decided and
// tested without qemu, in plain go test (make unit).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LustreEnv names the directory with a Lustre for the guest kernel: .deb
// packages or an installed tree (docs/vm-lustre.md). The project does not
// build Lustre; without the directory the Lustre cases do not run.
const LustreEnv = "KUBE_LUSTRE_VM_LUSTRE"

// notRunPrefix starts the one line that says the Lustre cases did not run;
// ci/vm/summary.sh finds it in the suite's output and repeats it in the
// run's summary (and in make test's stage table), never as a pass.
const notRunPrefix = "vm: Lustre cases did not run: "

// lustreCases decides whether the Lustre cases run: dir is the directory
// KUBE_LUSTRE_VM_LUSTRE names (value is the variable's value, "" when
// unset). Unset or empty: they do not run, and notRun is the one line
// saying so, naming the guest kernel the Lustre must be built for (kernel,
// from the image's manifest). Set to anything but a directory: an error,
// since the user asked for the Lustre cases.
func lustreCases(value, kernel string) (dir, notRun string, err error) {
	value = strings.TrimSpace(value)
	if value == "" {
		if kernel == "" {
			kernel = "(the kernel= line of the guest image's manifest)"
		}
		return "", fmt.Sprintf("%sset %s to a directory with Lustre for guest kernel %s (see docs/vm-lustre.md)",
			notRunPrefix, LustreEnv, kernel), nil
	}
	abs, err := filepath.Abs(value)
	if err != nil {
		return "", "", fmt.Errorf("%s=%s: %w", LustreEnv, value, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("%s=%s: %w", LustreEnv, value, err)
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("%s=%s is not a directory: give the directory holding the Lustre packages or installed tree (docs/vm-lustre.md)", LustreEnv, value)
	}
	return abs, "", nil
}

// manifestKernel is the kernel= line of an image's manifest (ci/vm/image.sh).
func manifestKernel(manifest string) string {
	for _, line := range strings.Split(manifest, "\n") {
		if k, ok := strings.CutPrefix(line, "kernel="); ok {
			return strings.TrimSpace(k)
		}
	}
	return ""
}

func TestLustreSwitch(t *testing.T) {
	const kernel = "6.1.0-50-amd64"
	manifest := "key=ff650a37b845b555\nkernel=" + kernel + "\nbuilt=2026-12-03T11:43:43Z\n"
	if got := manifestKernel(manifest); got != kernel {
		t.Fatalf("manifestKernel: %q, want %q", got, kernel)
	}
	want := "vm: Lustre cases did not run: set KUBE_LUSTRE_VM_LUSTRE to a directory with Lustre for guest kernel 6.1.0-50-amd64 (see docs/vm-lustre.md)"
	for _, unset := range []string{"", "  "} {
		dir, notRun, err := lustreCases(unset, manifestKernel(manifest))
		if dir != "" || err != nil || notRun != want {
			t.Errorf("%s=%q: dir %q, err %v, line %q; want not run, with %q", LustreEnv, unset, dir, err, notRun, want)
		}
		if strings.Contains(notRun, "\n") {
			t.Errorf("the not-run message is more than one line: %q", notRun)
		}
	}
	if _, notRun, _ := lustreCases("", ""); !strings.HasPrefix(notRun, notRunPrefix) || !strings.Contains(notRun, "manifest") {
		t.Errorf("with no kernel known: %q", notRun)
	}

	tmp := t.TempDir()
	file := filepath.Join(tmp, "lustre.deb")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(tmp, "missing"), file} {
		dir, notRun, err := lustreCases(bad, kernel)
		if err == nil || dir != "" || notRun != "" {
			t.Errorf("%s=%s: dir %q, line %q, err %v; want an error (asked for, not runnable)", LustreEnv, bad, dir, notRun, err)
		}
	}
	dir, notRun, err := lustreCases(tmp, kernel)
	if err != nil || dir != tmp || notRun != "" {
		t.Errorf("%s=%s: dir %q, line %q, err %v; want the cases to run on %s", LustreEnv, tmp, dir, notRun, err, tmp)
	}
}
