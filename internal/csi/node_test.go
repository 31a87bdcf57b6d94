package csi

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

const target = "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pv1/mount"

func publishReq(name, at string, readOnly bool) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{VolumeId: name, TargetPath: at, VolumeCapability: mountCap, Readonly: readOnly}
}

func (e *env) publish(name, at string, readOnly bool) {
	e.t.Helper()
	if _, err := e.node.Node().NodePublishVolume(context.Background(), publishReq(name, at, readOnly)); err != nil {
		e.t.Fatalf("NodePublishVolume %s at %s: %v", name, at, err)
	}
}

func (e *env) unpublish(name, at string) {
	e.t.Helper()
	if _, err := e.node.Node().NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: name, TargetPath: at}); err != nil {
		e.t.Fatalf("NodeUnpublishVolume %s at %s: %v", name, at, err)
	}
}

// TestPublishIsABindMount: the volume appears on the node as a bind mount
// of its directory from the node's client mount (never a Lustre mount of
// its own), and disappears on unpublish, target directory included, with
// the data left in the volume.
func TestPublishIsABindMount(t *testing.T) {
	e := newEnv(t, true)
	e.create("pvc-1", 4*mib, nil)
	for range 2 { // idempotent
		e.publish("pvc-1", target, false)
	}
	if mi := e.mustSh("c2", "cat", "/proc/self/mountinfo"); !strings.Contains(mi, " /csi/pvc-1 "+target+" rw,relatime - lustre 10.9.0.1@tcp:/lfs1 ") {
		t.Fatalf("mountinfo:\n%s", mi)
	}
	if ran, _ := e.w.Ran("c2", "mount -t lustre"); len(ran) != 1 {
		t.Fatalf("the node plugin mounted Lustre itself: %v", ran)
	}
	e.mustSh("c2", "dd", "if=/dev/zero", "of="+target+"/written-by-pod", "bs=4K", "count=1")
	for range 2 {
		e.unpublish("pvc-1", target)
	}
	if m := e.mustSh("c2", "cat", "/proc/self/mountinfo"); strings.Contains(m, target) {
		t.Fatalf("still mounted:\n%s", m)
	}
	if e.exists("c2", target) || !e.exists("c1", "/mnt/lfs1/csi/pvc-1/written-by-pod") {
		t.Fatal("want the target removed and the data kept in the volume")
	}
}

// TestQuotaThroughThePublishedVolume: a pod writing past the capacity
// meets Lustre's quota overrun as hostsim models it (L-quota in
// ci/vm/HOSTSIM-CORRECTIONS.md): a buffered write succeeds and its data is
// dropped, fsync reports EIO, then writes fail with EDQUOT; the stats
// report the usage against the capacity.
func TestQuotaThroughThePublishedVolume(t *testing.T) {
	e := newEnv(t, true)
	e.create("pvc-1", 2*mib, map[string]string{ParamInodeLimit: "100"})
	e.publish("pvc-1", target, false)
	e.mustSh("c2", "dd", "if=/dev/zero", "of="+target+"/a", "bs=1M", "count=1")
	if res, err := e.sh("c2", "dd", "if=/dev/zero", "of="+target+"/b", "bs=1M", "count=2"); err != nil {
		t.Fatalf("buffered write past the capacity: %+v %v; want success (the data is dropped)", res, err)
	}
	res, err := e.sh("c2", "dd", "if=/dev/zero", "of="+target+"/b", "bs=1M", "count=2", "conv=fsync")
	if err == nil || !strings.Contains(res.Stderr, "fsync failed for '"+target+"/b': Input/output error") {
		t.Fatalf("fsync of a write past the capacity: %+v %v; want EIO", res, err)
	}
	res, err = e.sh("c2", "dd", "if=/dev/zero", "of="+target+"/c", "bs=4K", "count=1")
	if err == nil || !strings.Contains(res.Stderr, "Disk quota exceeded") {
		t.Fatalf("write after the EIO: %+v %v; want EDQUOT", res, err)
	}
	stats, err := e.node.Node().NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: "pvc-1", VolumePath: target})
	if err != nil {
		t.Fatal(err)
	}
	u := stats.GetUsage()
	// The directory (33 KiB) and a; nothing of b.
	used := int64(33+1024) * 1024
	if len(u) != 2 || u[0].GetUnit() != csi.VolumeUsage_BYTES || u[0].GetTotal() != 2*mib || u[0].GetUsed() != used || u[0].GetAvailable() != 2*mib-used ||
		u[1].GetUnit() != csi.VolumeUsage_INODES || u[1].GetUsed() != 4 || u[1].GetTotal() != 100 {
		t.Fatalf("stats %v", u)
	}
	// Without root_prj_enable a root writer is not limited: the driver
	// cannot do better than the servers enforce.
	e2 := newEnv(t, false)
	e2.create("pvc-1", 2*mib, nil)
	e2.publish("pvc-1", target, false)
	e2.mustSh("c2", "dd", "if=/dev/zero", "of="+target+"/a", "bs=1M", "count=3")
}

// TestReadOnlyPublish: readonly (or a reader-only access mode) gives a
// read-only bind mount.
func TestReadOnlyPublish(t *testing.T) {
	e := newEnv(t, true)
	e.create("pvc-1", 4*mib, nil)
	e.publish("pvc-1", target, true)
	res, err := e.sh("c2", "dd", "if=/dev/zero", "of="+target+"/a", "bs=4K", "count=1")
	if err == nil || !strings.Contains(res.Stderr, "Read-only file system") {
		t.Fatalf("write to a read-only volume: %+v %v", res, err)
	}
	// The same target asked rw is another publication: refused.
	_, err = e.node.Node().NodePublishVolume(context.Background(), publishReq("pvc-1", target, false))
	wantCode(t, err, codes.AlreadyExists, "unpublish it first")
	reader := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY}, AccessType: mountCap.AccessType}
	other := "/var/lib/kubelet/pods/p2/volumes/kubernetes.io~csi/pv1/mount"
	if _, err := e.node.Node().NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{VolumeId: "pvc-1", TargetPath: other, VolumeCapability: reader}); err != nil {
		t.Fatal(err)
	}
	if mi := e.mustSh("c2", "cat", "/proc/self/mountinfo"); !strings.Contains(mi, " /csi/pvc-1 "+other+" ro,") {
		t.Fatalf("reader-only mode not mounted read-only:\n%s", mi)
	}
}

// TestNodeRefusals: what the node plugin will not do.
func TestNodeRefusals(t *testing.T) {
	e := newEnv(t, true)
	e.create("pvc-1", 4*mib, nil)
	e.create("pvc-2", 4*mib, nil)
	n := e.node.Node()
	ctx := context.Background()
	e.publish("pvc-1", target, false)
	_, err := n.NodePublishVolume(ctx, publishReq("pvc-2", target, false))
	wantCode(t, err, codes.AlreadyExists, "already a mount point")
	_, err = n.NodePublishVolume(ctx, publishReq("gone", target+"2", false))
	wantCode(t, err, codes.NotFound, "does not exist")
	_, err = n.NodePublishVolume(ctx, publishReq("pvc-2", "relative/path", false))
	wantCode(t, err, codes.InvalidArgument, "clean absolute path")
	_, err = n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "pvc-2", VolumePath: target})
	wantCode(t, err, codes.NotFound, "not published at")
	// Something else mounted on a target is not ours to unmount.
	e.mustSh("c2", "mkdir", "-p", "/srv/foreign", "/var/lib/kubelet/pods/p3/mount")
	e.mustSh("c2", "mount", "--bind", "/srv/foreign", "/var/lib/kubelet/pods/p3/mount")
	_, err = n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "pvc-2", TargetPath: "/var/lib/kubelet/pods/p3/mount"})
	wantCode(t, err, codes.Internal, "not a volume of this driver")
	// A node without the client mount refuses to publish.
	e.mustSh("c2", "umount", target)
	e.mustSh("c2", "umount", "/mnt/lfs1")
	_, err = n.NodePublishVolume(ctx, publishReq("pvc-1", target, false))
	wantCode(t, err, codes.FailedPrecondition, "no Lustre client is mounted")
}
