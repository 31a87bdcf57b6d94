package simcluster

import (
	"context"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

// NewWithOptions gives the simulated hosts the addresses a real cluster's
// nodes carry: Resolve answers them, LNet on each host reports its NID from
// them, and the targets are formatted with them as service nodes. Nodes
// without a given address keep what New gives them; nodes the plan does not
// name are ignored.
func TestNewWithAddresses(t *testing.T) {
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/ha.yaml"}})
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	plain, err := New(t.TempDir(), v)
	if err != nil {
		t.Fatal(err)
	}
	given := map[string]string{
		"s1": "10.77.0.13", "s2": "10.77.0.14", "s3": "10.77.0.15", "s4": "10.77.0.16",
		"s5": "10.77.0.17", "s6": "10.77.0.18", "c1": "10.77.0.19",
		"not-planned": "10.77.0.99", // c2 left out
	}
	c, err := NewWithOptions(t.TempDir(), v, Options{Addresses: given})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range c.Plan.Nodes {
		got, err := c.Resolve(ctx, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := given[n.Name]
		if !ok {
			want, _ = plain.Resolve(ctx, n.Name)
		}
		if got != want {
			t.Errorf("%s resolves to %s, want %s", n.Name, got, want)
		}
	}
	if got, _ := plain.Resolve(ctx, "c2"); got == "" || strings.HasPrefix(got, "10.77.") {
		t.Errorf("c2 without a given address: %q, want New's generated address", got)
	}
	if _, err := c.Resolve(ctx, "not-planned"); err == nil {
		t.Error("a node the plan does not name was provisioned")
	}
	if hosts, _ := c.World.Summary(); strings.Contains(hosts, "not-planned") {
		t.Errorf("hostsim has a host for a node the plan does not name:\n%s", hosts)
	}

	r := start(t, c)
	defer func() {
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
	}()
	out, err := host.Run(ctx, c.World.Host("s3"), "lctl", "list_nids")
	if err != nil || strings.TrimSpace(out.Stdout) != "10.77.0.15@tcp" {
		t.Errorf("lctl list_nids on s3: %q %v, want 10.77.0.15@tcp", out.Stdout, err)
	}
	mkfs, _ := c.World.Ran("s1", "mkfs.lustre")
	if len(mkfs) != 1 || !strings.Contains(mkfs[0], "10.77.0.13@tcp") || !strings.Contains(mkfs[0], "10.77.0.14@tcp") {
		t.Errorf("mdt0 formatted with %v, want the service nodes 10.77.0.13@tcp and 10.77.0.14@tcp", mkfs)
	}
}
