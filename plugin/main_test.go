package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"valid", []string{"validate", "../examples/ha.yaml"}, exitOK, "../examples/ha.yaml: valid: filesystem lfs1, 3 targets"},
		{"valid with -f", []string{"validate", "-f", "../examples/minimal.yaml"}, exitOK, "valid"},
		{"kernel disk names warn", []string{"validate", "../examples/ha.yaml", "--set", "targets[1].drbd.disk.s4=/dev/nvme1n1"}, exitOK,
			"targets[1].drbd.disk.s4: /dev/nvme1n1 is a kernel name: the kernel may give it to another disk after a reboot or when disks are added or removed\n  fix: name the disk by a stable path"},
		{"problems", []string{"validate", "../examples/invalid/drbd-port-clash.yaml"}, exitProblems,
			"targets[2].drbd.port: DRBD port 7788 is used twice on node s2 (clashes with targets[1].drbd.port)\n  fix: "},
		{"set breaks it", []string{"validate", "../examples/ha.yaml", "--set", "targets[1].drbd.port=0"}, exitProblems, "targets[1].drbd.port: 0 is below the minimum 1"},
		{"missing file", []string{"validate", "nope.yaml"}, exitUsage, ""},
		{"no file", []string{"validate"}, exitUsage, ""},
		{"bad output", []string{"validate", "-o", "yaml", "../examples/ha.yaml"}, exitUsage, ""},
		{"bad flag", []string{"plan", "--bogus"}, exitUsage, ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, ""},
		{"no command", nil, exitUsage, ""},
		{"help", []string{"--help"}, exitOK, "commands:\n  validate"},
		{"validate --help", []string{"validate", "--help"}, exitOK, "--set-string K=V"},
		{"plan -h", []string{"plan", "-h"}, exitOK, "usage: helm lustre plan"},
		{"status --help", []string{"status", "--help"}, exitOK, "--namespace"},
		{"help command", []string{"help", "validate"}, exitOK, "check a values file"},
		{"version", []string{"version"}, exitOK, "helm-lustre " + version + " (go"},
		{"completion", []string{"completion", "bash"}, exitOK, "bash completion V2 for helm-lustre"},
		{"plan", []string{"plan", "../examples/ha.yaml"}, exitOK, "TARGET  SVNAME        NODES  DEVICE"},
		{"plan of invalid", []string{"plan", "../examples/invalid/no-ost.yaml"}, exitProblems, "no OST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out, errs)
			}
			if !strings.Contains(out, c.out) {
				t.Fatalf("stdout lacks %q:\n%s", c.out, out)
			}
			if c.code == exitUsage && errs == "" {
				t.Fatal("a usage error must say why on stderr")
			}
		})
	}
}

// Positional files come first and -f files layer over them, as helm layers -f.
func TestPositionalThenValuesFlagLayering(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI("plan", "-o", "json", "../examples/ha.yaml", "-f", "../examples/minimal.yaml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	var p struct {
		Targets []struct{ Nodes []string } `json:"targets"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Targets) != 2 || p.Targets[0].Nodes[0] != "server1" {
		t.Fatalf("minimal.yaml's targets should replace ha.yaml's list: %+v", p.Targets)
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI("validate", "-o", "json", "../examples/invalid/two-mgs.yaml")
	if code != exitProblems {
		t.Fatalf("exit %d", code)
	}
	var r validateResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Valid || len(r.Problems) != 1 || r.Problems[0].Path != "targets[1].mgs" || r.Problems[0].Conflict != "targets[0].type" || r.Problems[0].Hint == "" {
		t.Fatalf("unexpected result: %+v", r)
	}
	code, out, _ = runCLI("validate", "-o", "json", "../examples/ha.yaml", "--set", "targets[2].drbd.disk.s6=/dev/sdb")
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitOK || !r.Valid || r.Problems == nil || len(r.Warnings) != 1 || r.Warnings[0].Path != "targets[2].drbd.disk.s6" {
		t.Fatalf("exit %d, %+v, %v", code, r, err)
	}
	// The examples name disks by stable paths: no warning.
	code, out, _ = runCLI("validate", "-o", "json", "../examples/ha.yaml")
	r = validateResult{}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitOK || r.Warnings == nil || len(r.Warnings) != 0 {
		t.Fatalf("by-id paths: exit %d, %+v, %v", code, r, err)
	}
}

// The version the plugin prints is the one plugin.yaml gives Helm.
func TestVersionIsPluginYAMLs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nversion: "+version+"\n") {
		t.Fatalf("plugin.yaml does not say version: %s", version)
	}
}
