package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/simcluster"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

func runHealth(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var out, errb bytes.Buffer
	code := entry.Main("lustre-client", append([]string{"health"}, args...), &out, &errb, lookup,
		map[string]entry.Command{"run": run, "health": health})
	return code, out.String(), errb.String()
}

// `health --mounted` (the chart's helm test) passes on a client that has
// the filesystem mounted and fails where it is not, on simulated hosts and
// on a real directory (the process's own mount table: not Lustre).
func TestHealthMounted(t *testing.T) {
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/minimal.yaml"}})
	if err != nil || len(ps) > 0 {
		t.Fatal(err, ps)
	}
	world := t.TempDir()
	c, err := simcluster.New(world, v)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Start(context.Background(), agent.Config{Interval: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Stop() }()

	sim := func(node string) map[string]string {
		return map[string]string{"NODE_NAME": node, "KUBE_LUSTRE_HOSTSIM": world}
	}
	if code, out, errs := runHealth(t, sim("client1"), "--mounted=/mnt/lfs1"); code != 0 || !strings.Contains(out, "is a Lustre mount") {
		t.Fatalf("client1: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := runHealth(t, sim("server1"), "--mounted=/mnt/lfs1"); code != 1 || !strings.Contains(errs, "is not a Lustre mount") {
		t.Fatalf("server1 has no client mount: exit %d %s", code, errs)
	}
	dir := t.TempDir()
	if code, _, errs := runHealth(t, map[string]string{}, "--mounted="+dir); code != 1 || !strings.Contains(errs, "is not a Lustre mount") {
		t.Fatalf("plain directory: exit %d %s", code, errs)
	}
	// Without --mounted, health is the status-file probe.
	status := filepath.Join(t.TempDir(), "status.json")
	if code, _, _ := runHealth(t, map[string]string{"KUBE_LUSTRE_STATUS": status}); code != 1 {
		t.Fatalf("probe without a status file: exit %d", code)
	}
}
