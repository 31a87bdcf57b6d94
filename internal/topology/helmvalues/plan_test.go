package helmvalues

import (
	"reflect"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// TestPlanHA plans examples/ha.yaml as a user's helm install would see it
// (chart defaults included: clients are enabled by default).
func TestPlanHA(t *testing.T) {
	t.Parallel()
	v, ps, err := Check(Options{Files: []string{examplesDir + "/ha.yaml"}})
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	p := v.Plan()
	s4, ok := p.Node("s4")
	if !ok {
		t.Fatal("no plan for s4")
	}
	wantLabels := map[string]string{
		"kube-lustre.io/lfs1.server": "true", "kube-lustre.io/lfs1.drbd": "true", "kube-lustre.io/lfs1.ost0": "true",
	}
	if !reflect.DeepEqual(s4.Labels, wantLabels) {
		t.Errorf("s4 labels = %v, want %v", s4.Labels, wantLabels)
	}
	wantRes := topology.DRBDResource{Name: "lfs1-ost0", Device: "/dev/drbd0", Minor: 0, Port: 7788, Protocol: "C",
		Disk: "/dev/disk/by-id/nvme-SAMSUNG_MZQL21T9HCJR-00A07_S64GNE0T400004", Peer: "s3", PeerDisk: "/dev/disk/by-id/wwn-0x5000c500a1b2c303", Target: "ost0"}
	if len(s4.DRBD) != 1 || s4.DRBD[0] != wantRes {
		t.Errorf("s4 drbd = %+v, want %+v", s4.DRBD, wantRes)
	}
	mdt, _ := p.Target("mdt0")
	if mdt.SVName != "lfs1-MDT0000" || !mdt.MGS || mdt.Dataset != "lfs1-mdt0/mdt0" || mdt.Preferred != "s1" ||
		mdt.MountPoint != "/lustre/lfs1/mdt0" || !reflect.DeepEqual(mdt.PoolProps, []string{"ashift=12"}) {
		t.Errorf("mdt0 plan = %+v", mdt)
	}
	if got := topology.NIDList(p.MGSNodes); got != "<s1>:<s2>" {
		t.Errorf("mgs NIDs = %q, want both nodes marked to resolve", got)
	}
	c1, _ := p.Node("c1")
	if !c1.Client || c1.Labels["kube-lustre.io/lfs1.client"] != "true" || len(c1.Targets) != 0 {
		t.Errorf("c1 plan = %+v", c1)
	}
}
