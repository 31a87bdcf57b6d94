package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/report"
	"github.com/kube-lustre/kube-lustre/internal/simcluster"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

// `drbd status` on both nodes of a serving pair: the preferred node reports
// Primary and mounted, the peer Secondary and not mounted, both connected
// and UpToDate; it writes no status file (it must not disturb the probes of
// the agent it runs beside).
func TestStatusReportsBothSidesOfAPair(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/ha.yaml"}})
	if err != nil || len(ps) > 0 {
		t.Fatal(err, ps)
	}
	dir := t.TempDir()
	world := filepath.Join(dir, "world")
	c, err := simcluster.New(world, v)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Start(context.Background(), agent.Config{Interval: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	topo, err := os.ReadFile("../../examples/ha.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), topo, 0o644); err != nil {
		t.Fatal(err)
	}
	statusFile := filepath.Join(dir, "status.json")
	statusOf := func(node string) report.Resource {
		env := map[string]string{"NODE_NAME": node, "KUBE_LUSTRE_HOSTSIM": world,
			"KUBE_LUSTRE_TOPOLOGY": filepath.Join(dir, "values.yaml"), "KUBE_LUSTRE_STATUS": statusFile}
		var out, errb bytes.Buffer
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		if code := entry.Main("drbd", []string{"status"}, &out, &errb, lookup, map[string]entry.Command{"status": status}); code != 0 {
			t.Fatalf("drbd status on %s: exit %d\n%s", node, code, errb.String())
		}
		var rs []report.Resource
		if err := json.Unmarshal(out.Bytes(), &rs); err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v %q", node, err, out.String())
		}
		return rs[0]
	}
	s1, s2 := statusOf("s1"), statusOf("s2")
	if s1 != (report.Resource{Resource: "lfs1-mdt0", Target: "mdt0", Up: true, Role: "Primary", CState: "Connected", Disk: "UpToDate", PeerDisk: "UpToDate", Mounted: true}) {
		t.Errorf("s1: %+v", s1)
	}
	if s2.Role != "Secondary" || s2.Mounted || s2.Disk != "UpToDate" || s2.CState != "Connected" {
		t.Errorf("s2: %+v", s2)
	}
	if _, err := os.Stat(statusFile); !os.IsNotExist(err) {
		t.Errorf("status wrote the agent's status file (err %v)", err)
	}
}
