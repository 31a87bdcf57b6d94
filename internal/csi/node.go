package csi

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/mountinfo"
)

// NodeServer publishes volumes on a client node: a bind mount of the
// volume's directory from the node's Lustre client mount onto the target
// path. There is no staging: the filesystem is mounted once per node,
// by the kube-lustre client, not once per volume.
type NodeServer struct {
	csi.UnimplementedNodeServer
	d *Driver
}

// Node returns the Node service.
func (d *Driver) Node() *NodeServer { return &NodeServer{d: d} }

func (s *NodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (s *NodeServer) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	if s.d.cfg.NodeID == "" {
		return nil, status.Error(codes.FailedPrecondition, "the node ID is not set: pass the node name (NODE_NAME from the downward API)")
	}
	return &csi.NodeGetInfoResponse{NodeId: s.d.cfg.NodeID}, nil
}

func (s *NodeServer) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	d := s.d
	name, target := req.GetVolumeId(), req.GetTargetPath()
	if name == "" {
		return nil, invalid("the volume ID is missing")
	}
	if err := checkTarget("target path", target); err != nil {
		return nil, err
	}
	c := req.GetVolumeCapability()
	if c == nil {
		return nil, invalid("the volume capability is missing")
	}
	if why := checkCapability(c); why != "" {
		return nil, invalid("%s", why)
	}
	readOnly := req.GetReadonly() || readOnlyMode(c)
	d.mu.Lock()
	defer d.mu.Unlock()
	cl, src, inner, err := d.published(ctx, name)
	if err != nil {
		return nil, err
	}
	if top, found := mountinfo.Top(cl.all, target); found {
		if top.Dev == cl.mount.Dev && top.Root == inner && top.ReadOnly() == readOnly {
			return &csi.NodePublishVolumeResponse{}, nil
		}
		return nil, status.Errorf(codes.AlreadyExists, "%s is already a mount point (%s %s, read-only %v), not volume %s with read-only %v: unpublish it first", target, top.Source, top.Root, top.ReadOnly(), name, readOnly)
	}
	if c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		if others := cl.bindsOf(inner); len(others) > 0 {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is single-writer and already published at %s on this node", name, others[0].MountPoint)
		}
	}
	if err := d.bind(ctx, src, target, readOnly); err != nil {
		return nil, err
	}
	d.log.Info("published a volume", "volume", name, "target", target, "readOnly", readOnly)
	return &csi.NodePublishVolumeResponse{}, nil
}

// published checks that the client is mounted and the volume's directory
// exists; it returns the directory on the host and inside the filesystem.
func (d *Driver) published(ctx context.Context, name string) (*client, string, string, error) {
	if !validName(name) {
		return nil, "", "", status.Errorf(codes.NotFound, "volume %q does not exist: no volume of this driver has such an ID", name)
	}
	cl, err := d.client(ctx)
	if err != nil {
		return nil, "", "", err
	}
	src := d.volDir(name)
	isDir, err := d.isDir(ctx, src)
	if err != nil {
		return nil, "", "", err
	}
	if !isDir {
		return nil, "", "", status.Errorf(codes.NotFound, "volume %s does not exist: %s is not a directory on this node's Lustre client mount", name, src)
	}
	return cl, src, cl.inner(d.cfg.MountPoint, src), nil
}

// bind mounts src on target, read-only if asked, and checks the result in
// the mount table. The read-only flag is applied by a remount, which
// every util-linux supports; if it fails the rw mount is taken down again
// rather than left writable.
func (d *Driver) bind(ctx context.Context, src, target string, readOnly bool) error {
	if _, err := host.Run(ctx, d.run, "mkdir", "-p", target); err != nil {
		return hostErr("creating the target path", err)
	}
	if _, err := host.Run(ctx, d.run, "mount", "--bind", src, target); err != nil {
		return hostErr(fmt.Sprintf("bind mounting %s on %s", src, target), err)
	}
	undo := func(cause error) error {
		if _, err := host.Run(ctx, d.run, "umount", target); err != nil {
			d.log.Error("could not undo a bind mount", "target", target, "err", err.Error())
		}
		return cause
	}
	if readOnly {
		if _, err := host.Run(ctx, d.run, "mount", "-o", "remount,bind,ro", target); err != nil {
			return undo(hostErr("making "+target+" read-only", err))
		}
	}
	top, found, err := mountinfo.At(ctx, d.run, target)
	if err != nil {
		return undo(hostErr("reading the mount table", err))
	}
	if !found || top.ReadOnly() != readOnly {
		return undo(status.Errorf(codes.Internal, "after mounting, %s does not show up as a bind mount with read-only %v", target, readOnly))
	}
	return nil
}

func (s *NodeServer) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	d := s.d
	target := req.GetTargetPath()
	if req.GetVolumeId() == "" {
		return nil, invalid("the volume ID is missing")
	}
	if err := checkTarget("target path", target); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Unmount every layer stacked on the target: each must be a mount of
	// the Lustre filesystem (something else there is not ours to touch).
	for layer := 0; ; layer++ {
		all, err := mountinfo.Read(ctx, d.run)
		if err != nil {
			return nil, hostErr("reading the mount table", err)
		}
		top, found := mountinfo.Top(all, target)
		if !found {
			break
		}
		client, hasClient := mountinfo.Top(all, d.cfg.MountPoint)
		ours := top.FSType == "lustre" && (!hasClient || top.Dev == client.Dev)
		if !ours || layer >= 8 {
			return nil, status.Errorf(codes.Internal, "%s has %s (%s) mounted, which is not a volume of this driver: not unmounting it; check the node", target, top.Source, top.FSType)
		}
		if _, err := host.Run(ctx, d.run, "umount", target); err != nil {
			return nil, hostErr("unmounting "+target, err)
		}
	}
	// The SP removes what it created; rmdir only removes an empty
	// directory, so nothing a failed unmount left visible is deleted.
	if _, err := host.Run(ctx, d.run, "rmdir", target); err != nil && !host.ExitedWith(err, 1, "No such file or directory") {
		return nil, hostErr("removing "+target, err)
	}
	d.log.Info("unpublished a volume", "volume", req.GetVolumeId(), "target", target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (s *NodeServer) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	d := s.d
	name, at := req.GetVolumeId(), req.GetVolumePath()
	if name == "" {
		return nil, invalid("the volume ID is missing")
	}
	if at == "" {
		return nil, invalid("the volume path is missing")
	}
	cl, src, inner, err := d.published(ctx, name)
	if err != nil {
		return nil, err
	}
	top, found := mountinfo.Top(cl.all, at)
	if !found || top.Dev != cl.mount.Dev || top.Root != inner {
		return nil, status.Errorf(codes.NotFound, "volume %s is not published at %s on this node", name, at)
	}
	id, _, err := lustre.ProjectOf(ctx, d.run, src)
	if err != nil {
		return nil, hostErr("reading the project of "+src, err)
	}
	if id == 0 {
		return nil, status.Errorf(codes.Internal, "%s has no project ID, so its usage is not accounted: recreate the volume", src)
	}
	q, err := lustre.ProjectQuota(ctx, d.run, d.cfg.MountPoint, id)
	if err != nil {
		return nil, hostErr("reading the quota of "+name, err)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: usage(q)}, nil
}

// usage reports bytes against the hard block limit (the capacity) and,
// when there is an inode limit, inodes against it.
func usage(q lustre.Quota) []*csi.VolumeUsage {
	u := func(unit csi.VolumeUsage_Unit, used, total uint64) *csi.VolumeUsage {
		avail := int64(0)
		if total > used {
			avail = int64(total - used)
		}
		return &csi.VolumeUsage{Unit: unit, Used: int64(used), Total: int64(total), Available: avail}
	}
	out := []*csi.VolumeUsage{u(csi.VolumeUsage_BYTES, q.UsedKiB*uint64(kib), q.BlockHardKiB*uint64(kib))}
	if q.InodeHard != 0 {
		out = append(out, u(csi.VolumeUsage_INODES, q.Inodes, q.InodeHard))
	}
	return out
}
