package nodespec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

const doc = `
fsname: lfs1
lnet: {networks: ["o2ib0(ib0)"]}
nodes: {s1: {address: 192.168.1.1, nids: ["10.0.0.1@o2ib", "10.1.0.1@tcp"]}}
clients: {enabled: true, nodes: [c1], mountPoint: /lfs, mountOptions: [flock]}
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: {s1: /dev/sdb, s2: /dev/sdc}}, zpool: {properties: {ashift: "12"}}}
  - {type: ost, index: 3, nodes: [s3], zpool: {vdevs: [mirror, /dev/sdb, /dev/sdc]}}
`

func spec(t *testing.T, node string) Spec {
	t.Helper()
	v, ps, err := topology.CheckDocument([]byte(doc))
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	ips := map[string]string{"s2": "10.0.0.2", "s3": "10.0.0.3"}
	return Spec{Values: v, Plan: v.Plan(), Node: node, Resolve: func(_ context.Context, n string) (string, error) {
		if ip, ok := ips[n]; ok {
			return ip, nil
		}
		return "", errors.New("not found")
	}}
}

func TestDRBDResourcesUseConfiguredThenResolvedAddresses(t *testing.T) {
	res, err := spec(t, "s2").DRBDResources(context.Background())
	if err != nil || len(res) != 1 {
		t.Fatalf("%v %v", res, err)
	}
	r := res[0]
	if r.Name != "lfs1-mdt0" || r.Local.Name != "s2" || r.Local.Disk != "/dev/sdc" || r.Local.Address != "10.0.0.2" ||
		r.Peer.Name != "s1" || r.Peer.Disk != "/dev/sdb" || r.Peer.Address != "192.168.1.1" || r.Protocol != "C" {
		t.Fatalf("resource = %+v", r)
	}
	if res, err := spec(t, "c1").DRBDResources(context.Background()); err != nil || len(res) != 0 {
		t.Fatalf("client has DRBD resources: %v %v", res, err)
	}
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	s, err := spec(t, "s2").Server(ctx, "mdt0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("server spec does not validate: %v", err)
	}
	if s.Preferred || s.Pool.Device != "/dev/drbd0" || s.Pool.Properties["ashift"] != "12" || !s.Target.MGS ||
		strings.Join(s.Target.ServiceNodes, ":") != "10.0.0.1@o2ib,10.1.0.1@tcp:10.0.0.2@o2ib" || len(s.Target.MGSNodes) != 0 {
		t.Fatalf("server = %+v", s)
	}
	ost, err := spec(t, "s3").Server(ctx, "ost3")
	if err != nil {
		t.Fatal(err)
	}
	if err := ost.Validate(); err != nil || ost.HasDRBD() || strings.Join(ost.Pool.Vdevs, " ") != "mirror /dev/sdb /dev/sdc" ||
		strings.Join(ost.Target.MGSNodes, ":") != "10.0.0.1@o2ib,10.1.0.1@tcp:10.0.0.2@o2ib" || !ost.Preferred {
		t.Fatalf("ost3 = %+v (validate: %v)", ost, err)
	}
	if _, err := spec(t, "s3").Server(ctx, "mdt0"); err == nil || !strings.Contains(err.Error(), "may run only on s1,s2") {
		t.Fatalf("wrong node: %v", err)
	}
	if _, err := spec(t, "s1").Server(ctx, "ost9"); err == nil {
		t.Fatal("unknown target accepted")
	}
}

func TestClientAndResolutionFailure(t *testing.T) {
	c, err := spec(t, "c1").Client(context.Background())
	if err != nil || c.Source() != "10.0.0.1@o2ib,10.1.0.1@tcp:10.0.0.2@o2ib:/lfs1" || c.MountPoint != "/lfs" || c.Options[0] != "flock" {
		t.Fatalf("client = %+v %v", c, err)
	}
	s := spec(t, "s3")
	s.Resolve = func(context.Context, string) (string, error) { return "", errors.New("api down") }
	if _, err := s.Server(context.Background(), "ost3"); err == nil || !strings.Contains(err.Error(), "set nodes.s3.nids") {
		t.Fatalf("unresolvable MGS node: %v", err)
	}
}

// External mode: the client mounts the existing filesystem from the given
// MGS NIDs, asking the API for nothing.
func TestExternalClient(t *testing.T) {
	v, ps, err := topology.CheckDocument([]byte(`
external: {mgsNids: ["10.0.0.1@o2ib,10.1.0.1@tcp", "10.0.0.2@o2ib"], fsname: scratch}
clients: {enabled: true, nodes: [c1]}`))
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	s := Spec{Values: v, Plan: v.Plan(), Node: "c1", Resolve: func(context.Context, string) (string, error) {
		return "", errors.New("external mode must not resolve nodes")
	}}
	c, err := s.Client(context.Background())
	if err != nil || c.Source() != "10.0.0.1@o2ib,10.1.0.1@tcp:10.0.0.2@o2ib:/scratch" || c.MountPoint != "/mnt/scratch" {
		t.Fatalf("client = %+v %v", c, err)
	}
}

// What the MGS sets flows from the values: the identity upcall always
// (default NONE), project quota enforcement with the provisioner; nothing
// for an external filesystem.
func TestMGSParams(t *testing.T) {
	cases := []struct {
		name, extra string
		want        []string
	}{
		{"default", "", []string{"mdt.lfs1-MDT*.identity_upcall=NONE"}},
		{"l_getidentity", "lustre: {identityUpcall: /usr/sbin/l_getidentity}\n",
			[]string{"mdt.lfs1-MDT*.identity_upcall=/usr/sbin/l_getidentity"}},
		{"provisioner", "provisioner: {enabled: true, enforceForRoot: true}\n", []string{"mdt.lfs1-MDT*.identity_upcall=NONE",
			"osd-*.lfs1-*.quota_slave.enabled=p", "osd-*.lfs1-*.quota_slave.root_prj_enable=1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, ps, err := topology.CheckDocument([]byte(doc + c.extra))
			if err != nil || len(ps) > 0 {
				t.Fatalf("err=%v problems=%v", err, ps)
			}
			got := Spec{Values: v, Plan: v.Plan(), Node: "s1"}.MGSParams()
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("MGSParams %q, want %q", got, c.want)
			}
		})
	}
	v, _, _ := topology.CheckDocument([]byte("external: {mgsNids: [\"10.0.0.1@tcp\"], fsname: scratch}\nclients: {enabled: true, nodes: [c1]}\n"))
	if got := (Spec{Values: v, Plan: v.Plan(), Node: "c1"}).MGSParams(); got != nil {
		t.Fatalf("external mode MGSParams %q, want none", got)
	}
}

// failover.mmp and failover.drbd reach the agents: the start attempt is
// never shorter than one MMP-guarded import, and every resource file
// carries the DRBD timing.
func TestFailoverTiming(t *testing.T) {
	s := spec(t, "s1")
	if got, want := s.StartAttempt(), 21*time.Second+MinStartAttempt; got != want {
		t.Errorf("start attempt at ZFS's defaults %s, want %s", got, want)
	}
	v, ps, err := topology.CheckDocument([]byte(doc + "failover: {mmp: {intervalMs: 2000, importIntervals: 30, failIntervals: 10}, drbd: {pingIntSeconds: 3, pingTimeoutTenths: 10}}\n"))
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	s.Values, s.Plan = v, v.Plan()
	if got := s.StartAttempt(); got < s.MMP().ActivityCheck() || got != 62*time.Second+MinStartAttempt {
		t.Errorf("start attempt %s with a 62 s activity check", got)
	}
	res, err := s.DRBDResources(context.Background())
	if err != nil || len(res) != 1 || res[0].Timing != (drbd.Timing{PingIntSeconds: 3, PingTimeoutTenths: 10}) {
		t.Fatalf("resources %+v %v", res, err)
	}
}
