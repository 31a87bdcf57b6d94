package topology

import (
	"encoding/json"
	"testing"
)

const examplesDir = "../../examples"

func TestPlanUsesConfiguredNIDs(t *testing.T) {
	t.Parallel()
	v, ps := check(t, base+`
nodes: {s1: {nids: ["10.0.0.1@tcp", "10.1.0.1@o2ib"]}, s2: {nids: ["10.0.0.2@tcp"]}}`)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	p := v.Plan()
	if got := NIDList(p.MGSNodes); got != "10.0.0.1@tcp,10.1.0.1@o2ib:10.0.0.2@tcp" {
		t.Errorf("mgsnode = %q", got)
	}
	ost, _ := p.Target("ost0")
	if got := NIDList(ost.ServiceNodes); got != "<s3>:<s4>" {
		t.Errorf("ost0 servicenode = %q", got)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	t.Parallel()
	v, _ := check(t, string(largeDoc()))
	first, _ := json.Marshal(v.Plan())
	for i := 0; i < 3; i++ {
		again, _ := json.Marshal(v.Plan())
		if string(again) != string(first) {
			t.Fatal("plan differs between runs")
		}
	}
}
