package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"

	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// nextCommands: the commands of NOTES.txt's "Next:" section, comments left out.
func nextCommands(t *testing.T, notes string) []string {
	t.Helper()
	_, next, ok := strings.Cut(notes, "\nNext:\n")
	if !ok {
		t.Fatalf("NOTES.txt has no Next: section:\n%s", notes)
	}
	var out []string
	for _, line := range strings.Split(next, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// The first steps NOTES.txt prints work as printed: `helm get values ...
// > FILE` run by the pinned helm CLI against the installed release (Helm's
// memory storage driver, loaded with the release helm install would have
// stored: the user's values, the chart, these NOTES), then `helm lustre
// plan FILE` (the plugin's own loading, helmvalues.Check) gives the plan of
// the values installed. The table output of plain `helm get values`, which
// NOTES.txt used to print, begins with USER-SUPPLIED VALUES: and plan
// refuses it; --all works too. The kubectl lines need a cluster: only their
// presence is checked.
func TestNotesCommandsWorkAsPrinted(t *testing.T) {
	t.Parallel()
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	// The values a user installs, new chart-only values included: plan must
	// accept the whole of what helm get values gives back.
	in := input{Files: []string{ha, schedulingValues(t)}, Sets: []string{"provisioner.enabled=true"}}
	_, want := plan(t, in)
	r := render(t, in)
	user, err := in.values()
	if err != nil {
		t.Fatal(err)
	}
	rel := &release.Release{
		Name: releaseName, Namespace: namespace, Version: 1, Chart: loadChart(t), Config: user,
		Info: &release.Info{Status: rcommon.StatusDeployed, Notes: r.Notes},
	}
	dir := t.TempDir()
	stored := filepath.Join(dir, "releases.yaml")
	b, err := yaml.Marshal([]*release.Release{rel})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(helmcli.Path(t), filepath.Join(bin, "helm")); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	shell := func(line string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = work
		cmd.Env = append(helmcli.Env(filepath.Join(dir, "helm")),
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"HELM_DRIVER=memory", "HELM_MEMORY_DRIVER_DATA="+stored,
			"KUBECONFIG="+filepath.Join(dir, "no-kubeconfig"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, stderr.String())
		}
	}
	planOf := func(file string) error {
		t.Helper()
		v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{filepath.Join(work, file)}})
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			return ps
		}
		if got := v.Plan(); !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, want)) {
			t.Errorf("plan of %s differs from the installed values':\n%s\n%s", file, jsonOf(t, got), jsonOf(t, want))
		}
		return nil
	}

	cmds := nextCommands(t, r.Notes)
	var get, planFile string
	for i, c := range cmds {
		if strings.HasPrefix(c, "helm get values ") {
			get = c
			if i+1 < len(cmds) {
				planFile, _ = strings.CutPrefix(cmds[i+1], "helm lustre plan ")
			}
		}
	}
	getArgs, file, ok := strings.Cut(get, " > ")
	if !ok || planFile != strings.TrimSpace(file) || strings.ContainsAny(planFile, " ><|;") {
		t.Fatalf("want `helm get values ... > FILE` then `helm lustre plan FILE` in:\n%s", strings.Join(cmds, "\n"))
	}
	shell(get)
	if err := planOf(planFile); err != nil {
		t.Errorf("helm lustre plan after `%s`: %v", get, err)
	}

	// The other form helm prints, computed values included, works too.
	shell(getArgs + " --all > all-values.yaml")
	if err := planOf("all-values.yaml"); err != nil {
		t.Errorf("helm lustre plan after `%s --all`: %v", getArgs, err)
	}
	// What the old NOTES printed (no -o yaml): helm's table output, which
	// plan refuses. Without this, the test would not show it tests anything.
	table := strings.NewReplacer(" -o yaml", "", " --output yaml", "", " --output=yaml", "").Replace(getArgs)
	shell(table + " > table-values.yaml")
	head, _ := os.ReadFile(filepath.Join(work, "table-values.yaml"))
	if !strings.HasPrefix(string(head), "USER-SUPPLIED VALUES:") {
		t.Errorf("`%s` printed %.80q, want helm's table header", table, head)
	}
	if err := planOf("table-values.yaml"); err == nil {
		t.Errorf("helm lustre plan accepts the table output of `%s`", table)
	}

	for _, w := range []string{
		"kubectl label namespace " + namespace + " pod-security.kubernetes.io/enforce=privileged",
		"kubectl get pods -n " + namespace,
		"helm lustre status " + releaseName + " -n " + namespace,
	} {
		if !strings.Contains(r.Notes, w) {
			t.Errorf("NOTES.txt lacks %q", w)
		}
	}
}
