package simcluster

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/kube-lustre/kube-lustre/internal/csi"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

// podWrite is what a pod running as uid 1000 (runAsUser, runAsGroup,
// fsGroup 1000) does in its volume, published on client1 by the CSI
// driver: the volume is made and published by the driver's own code
// against the filesystem the agent loops of examples/minimal.yaml serve.
func podWrite(t *testing.T, sets ...string) (*Cluster, host.Result, error) {
	t.Helper()
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/minimal.yaml"},
		Sets: append([]string{"provisioner.enabled=true"}, sets...)})
	if err != nil || len(ps) > 0 {
		t.Fatalf("err=%v problems=%v", err, ps)
	}
	c, err := New(t.TempDir(), v)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	t.Cleanup(func() { _ = r.Stop() })

	d, err := csi.New(csi.Config{Name: "lfs1.lustre.csi.kube-lustre.io", Version: "test", NodeID: "client1",
		MountPoint: "/mnt/lfs1", Root: "/mnt/lfs1/csi-volumes", FirstProjectID: 1000000, LastProjectID: 1999999,
		DefaultCapacity: 1 << 30}, c.World.Host("client1"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mount := &csispec.VolumeCapability{
		AccessMode: &csispec.VolumeCapability_AccessMode{Mode: csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
		AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}},
	}
	if _, err := d.Controller().CreateVolume(ctx, &csispec.CreateVolumeRequest{Name: "pvc-1",
		CapacityRange: &csispec.CapacityRange{RequiredBytes: 8 << 20}, VolumeCapabilities: []*csispec.VolumeCapability{mount}}); err != nil {
		t.Fatal(err)
	}
	const target = "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount"
	if _, err := d.Node().NodePublishVolume(ctx, &csispec.NodePublishVolumeRequest{VolumeId: "pvc-1", TargetPath: target,
		VolumeCapability: mount}); err != nil {
		t.Fatal(err)
	}
	res, err := c.World.Host("client1").Run(ctx, host.Command("setpriv", "--reuid=1000", "--regid=1000", "--groups=1000", "--",
		"dd", "if=/dev/zero", "of="+target+"/data", "bs=4K", "count=1"))
	return c, res, err
}

// With the chart's default (lustre.identityUpcall: NONE) the MGS pod sets
// identity_upcall=NONE on every MDT, and a pod running as a uid the
// server nodes do not know writes to its volume.
func TestVolumeWritableByAPodUIDTheServersDoNotKnow(t *testing.T) {
	c, res, err := podWrite(t)
	if err != nil {
		t.Fatalf("uid 1000 could not write to its volume: %v (%s)", err, res.Stderr)
	}
	ran, err := c.World.Ran("server1", "lctl set_param -P mdt.lfs1-MDT*.identity_upcall=NONE")
	if err != nil || len(ran) != 1 {
		t.Fatalf("the MGS set identity_upcall %d times (%v), want once", len(ran), err)
	}
}

// With the MDS resolving identities itself (Lustre's default upcall), the
// same pod is refused, as on a real MDS whose passwd lacks the uid.
func TestVolumeDeniedToUnknownUIDWithLGetidentity(t *testing.T) {
	c, res, err := podWrite(t, "lustre.identityUpcall=/usr/sbin/l_getidentity")
	if err == nil || !strings.Contains(res.Stderr, "Permission denied") {
		t.Fatalf("uid 1000 unknown to the MDS wrote with l_getidentity: err=%v stderr=%q", err, res.Stderr)
	}
	if ran, _ := c.World.Ran("server1", "lctl set_param -P mdt.lfs1-MDT*.identity_upcall=/usr/sbin/l_getidentity"); len(ran) != 1 {
		t.Fatalf("the MGS did not set the configured upcall: %v", ran)
	}
}
