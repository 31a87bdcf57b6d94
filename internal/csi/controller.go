package csi

import (
	"context"
	"fmt"
	"path"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

// ControllerServer provisions volumes. It runs on one client node (the
// sidecars elect a leader); the allocation file makes a restart, on any
// node, carry on where it stopped.
type ControllerServer struct {
	csi.UnimplementedControllerServer
	d *Driver
}

// Controller returns the Controller service.
func (d *Driver) Controller() *ControllerServer { return &ControllerServer{d: d} }

// Volume context keys returned by CreateVolume, for people reading PVs;
// the node derives everything from the volume ID and its own root.
const (
	ContextPath      = "path"
	ContextProjectID = "projectID"
)

func (s *ControllerServer) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (s *ControllerServer) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	d := s.d
	name := req.GetName()
	if name == "" {
		return nil, invalid("the volume name is missing")
	}
	if !validName(name) {
		return nil, invalid("volume name %q cannot be a directory name: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'", name)
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource() != nil {
		return nil, invalid("volume content sources (snapshots, clones) are not supported")
	}
	params, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	capacity, err := capacityFor(req.GetCapacityRange(), d.cfg.DefaultCapacity)
	if err != nil {
		return nil, err
	}
	ar := d.enqueue(name, params)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ar.done {
		d.allocateQueued(ctx)
	} else if err := d.stillRecorded(ctx, ar); err != nil {
		return nil, err
	}
	if ar.err != nil {
		return nil, ar.err
	}
	v := ar.v
	// From here on the same steps create the volume or finish one whose
	// creation stopped half-way: each only does what is missing.
	q, err := d.ensureVolume(ctx, name, v, capacity, ar.fresh)
	if err != nil {
		return nil, err
	}
	got := int64(q.BlockHardKiB) * kib
	if !fits(got, req.GetCapacityRange()) {
		return nil, status.Errorf(codes.AlreadyExists, "volume %s exists with %d bytes, outside the requested range %d-%d", name, got, req.GetCapacityRange().GetRequiredBytes(), req.GetCapacityRange().GetLimitBytes())
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      name,
		CapacityBytes: got,
		VolumeContext: map[string]string{ContextPath: d.volDir(name), ContextProjectID: strconv.FormatUint(uint64(v.ProjectID), 10)},
	}}, nil
}

// allocRequest is one CreateVolume's wait for its allocation record.
type allocRequest struct {
	name   string
	params volumeParams
	// Set by allocateQueued, with mu held.
	done  bool
	v     *volume
	err   error
	fresh bool // allocated by this batch: the directory did not exist
}

func (d *Driver) enqueue(name string, p volumeParams) *allocRequest {
	r := &allocRequest{name: name, params: p}
	d.qmu.Lock()
	d.queue = append(d.queue, r)
	d.qmu.Unlock()
	return r
}

// allocateQueued, with mu held, gives every queued request its record: an
// existing one, or a new one with the next free project ID. The new
// records are saved in one write of the allocation file before any
// request uses its ID: a crash after it leaves records the retries
// complete, never an ID handed out twice. A storm of claims thus costs one
// rewrite of the file per batch, not one per claim.
func (d *Driver) allocateQueued(ctx context.Context) {
	d.qmu.Lock()
	batch := d.queue
	d.queue = nil
	d.qmu.Unlock()
	defer func() {
		for _, r := range batch {
			r.done = true
		}
	}()
	a, err := d.clientAndLoad(ctx, "creating volumes")
	if err != nil {
		for _, r := range batch {
			r.err = err
		}
		return
	}
	var fresh []*allocRequest
	for _, r := range batch {
		v := a.Volumes[r.name]
		switch {
		case v == nil:
			if r.v, r.err = d.allocate(ctx, a, r.name, r.params); r.err == nil {
				r.fresh = true
				fresh = append(fresh, r)
			}
		case v.OnDelete != r.params.OnDelete || v.InodeLimit != r.params.InodeLimit:
			r.err = status.Errorf(codes.AlreadyExists, "volume %s exists with %s=%s %s=%d, not %s=%s %s=%d", r.name,
				ParamOnDelete, v.OnDelete, ParamInodeLimit, v.InodeLimit, ParamOnDelete, r.params.OnDelete, ParamInodeLimit, r.params.InodeLimit)
		default:
			r.v = v
		}
	}
	if len(fresh) == 0 {
		return
	}
	if err := d.save(ctx, a); err != nil {
		for _, r := range fresh {
			r.v, r.fresh, r.err = nil, false, hostErr("recording volume "+r.name, err)
		}
		return
	}
	for _, r := range fresh {
		d.log.Info("allocated a project ID", "volume", r.name, "projectID", r.v.ProjectID, "batch", len(fresh))
	}
}

// stillRecorded: a request another call's batch allocated waited for mu
// since; its record must still be in the file (a deletion in between
// would otherwise leave a directory nobody knows).
func (d *Driver) stillRecorded(ctx context.Context, r *allocRequest) error {
	if r.err != nil {
		return nil
	}
	a, err := d.clientAndLoad(ctx, "creating volume "+r.name)
	if err != nil {
		return err
	}
	if v := a.Volumes[r.name]; v == nil || v.ProjectID != r.v.ProjectID {
		return status.Errorf(codes.Aborted, "volume %s changed while its creation waited: retry", r.name)
	}
	return nil
}

// allocate adds a record for a new volume to a with the next free project
// ID; the caller saves it.
func (d *Driver) allocate(ctx context.Context, a *allocation, name string, p volumeParams) (*volume, error) {
	dir := d.volDir(name)
	exists, err := host.Exists(ctx, d.run, dir)
	if err != nil {
		return nil, hostErr("checking "+dir, err)
	}
	if exists {
		return nil, status.Errorf(codes.AlreadyExists, "%s exists but is not a volume this driver created (or one it retained): move it away or choose another name", dir)
	}
	id, err := d.freeProjectID(ctx, a)
	if err != nil {
		return nil, err
	}
	v := &volume{ProjectID: id, OnDelete: p.OnDelete, InodeLimit: p.InodeLimit, Created: d.cfg.Now().UTC()}
	a.Volumes[name] = v
	a.Next = id + 1
	return v, nil
}

// freeProjectID returns the first ID from a.Next on that the filesystem
// does not use yet (no usage, no limits), skipping IDs an administrator,
// another tool or a lost allocation file left in use.
func (d *Driver) freeProjectID(ctx context.Context, a *allocation) (uint32, error) {
	const maxProbes = 1000
	for id, probes := a.Next, 0; probes < maxProbes; id, probes = id+1, probes+1 {
		if id < d.cfg.FirstProjectID || id > d.cfg.LastProjectID {
			return 0, status.Errorf(codes.ResourceExhausted, "project IDs %d-%d are all used: widen the range (--project-ids)", d.cfg.FirstProjectID, d.cfg.LastProjectID)
		}
		q, err := lustre.ProjectQuota(ctx, d.run, d.cfg.MountPoint, id)
		if err != nil {
			return 0, hostErr(fmt.Sprintf("checking that project ID %d is unused", id), err)
		}
		if q == (lustre.Quota{}) {
			return id, nil
		}
		d.log.Warn("skipping a project ID in use outside this driver", "projectID", id, "usedKiB", q.UsedKiB, "inodes", q.Inodes)
		a.Next = id + 1
	}
	return 0, status.Errorf(codes.ResourceExhausted, "the next %d project IDs from %d are in use on the filesystem: move the range (--project-ids)", maxProbes, a.Next)
}

// ensureVolume makes the volume's directory, tags it with its project ID
// and sets its limits, each only if not done yet; a limit already set
// (possibly raised by an expansion since) is kept. It returns the quota
// as the filesystem reports it. fresh says the record was made by this
// call, after checking that the directory did not exist and the project
// ID was unused: then there is nothing half-done to look for.
func (d *Driver) ensureVolume(ctx context.Context, name string, v *volume, capacity int64, fresh bool) (lustre.Quota, error) {
	dir := d.volDir(name)
	isDir := false
	if !fresh {
		// Saving the allocation made the root for a fresh volume.
		if _, err := host.Run(ctx, d.run, "mkdir", "-p", d.cfg.Root); err != nil {
			return lustre.Quota{}, hostErr("creating the volume root", err)
		}
		var err error
		if isDir, err = d.isDir(ctx, dir); err != nil {
			return lustre.Quota{}, err
		}
	}
	if !isDir {
		// Without -p: a directory that appeared meanwhile is an error.
		if _, err := host.Run(ctx, d.run, "mkdir", dir); err != nil {
			return lustre.Quota{}, hostErr("creating "+dir, err)
		}
	}
	id, inherit, err := lustre.ProjectOf(ctx, d.run, dir)
	if err != nil {
		return lustre.Quota{}, hostErr("reading the project of "+dir, err)
	}
	if id != v.ProjectID || !inherit {
		if id != 0 && id != v.ProjectID {
			if rootID, rootInherit, err := lustre.ProjectOf(ctx, d.run, d.cfg.Root); err == nil && rootInherit && rootID == id {
				return lustre.Quota{}, status.Errorf(codes.FailedPrecondition, "the volume root %s has project ID %d with the inherit flag, so new volumes start in that project: clear it (lfs project -C %s)", d.cfg.Root, id, d.cfg.Root)
			}
			return lustre.Quota{}, status.Errorf(codes.Internal, "%s carries project ID %d, but the allocation file says %d: check who changed it (lfs project -d %s)", dir, id, v.ProjectID, dir)
		}
		if err := lustre.SetProject(ctx, d.run, dir, v.ProjectID); err != nil {
			return lustre.Quota{}, hostErr("tagging "+dir+" with its project ID", err)
		}
	}
	if fresh {
		// The ID had neither usage nor limits when it was allocated.
		return d.setLimits(ctx, v.ProjectID, lustre.Limits{BlockHardKiB: uint64(capacity / kib), InodeHard: v.InodeLimit})
	}
	q, err := lustre.ProjectQuota(ctx, d.run, d.cfg.MountPoint, v.ProjectID)
	if err != nil {
		return lustre.Quota{}, hostErr("reading the quota of "+name, err)
	}
	if q.BlockHardKiB != 0 && q.InodeHard == v.InodeLimit {
		return q, nil
	}
	if q.BlockHardKiB == 0 {
		q.BlockHardKiB = uint64(capacity / kib)
	}
	q.InodeHard = v.InodeLimit
	return d.setLimits(ctx, v.ProjectID, q.Limits)
}

// setLimits sets a project's limits and reads them back: the volume's
// capacity is what the filesystem enforces, not what was asked.
func (d *Driver) setLimits(ctx context.Context, id uint32, l lustre.Limits) (lustre.Quota, error) {
	if err := lustre.SetProjectQuota(ctx, d.run, d.cfg.MountPoint, id, l); err != nil {
		return lustre.Quota{}, hostErr(fmt.Sprintf("setting the quota of project %d", id), err)
	}
	q, err := lustre.ProjectQuota(ctx, d.run, d.cfg.MountPoint, id)
	if err != nil {
		return lustre.Quota{}, hostErr(fmt.Sprintf("reading back the quota of project %d", id), err)
	}
	if q.Limits != l {
		return lustre.Quota{}, status.Errorf(codes.Internal, "project %d: set limits %+v but lfs quota reports %+v", id, l, q.Limits)
	}
	return q, nil
}

func (s *ControllerServer) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	d := s.d
	name := req.GetVolumeId()
	if name == "" {
		return nil, invalid("the volume ID is missing")
	}
	if !validName(name) {
		// No volume of this driver has such an ID: nothing to delete.
		return &csi.DeleteVolumeResponse{}, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.clientAndLoad(ctx, "deleting volume "+name)
	if err != nil {
		return nil, err
	}
	v := a.Volumes[name]
	if v == nil {
		// Deleted already, or never created: a directory of that name
		// that the allocation file does not know is not ours to touch.
		return &csi.DeleteVolumeResponse{}, nil
	}
	var kept string
	switch v.OnDelete {
	case OnDeleteRetain:
		kept = d.volDir(name)
	case OnDeleteArchive:
		kept, err = d.archive(ctx, a, name, v)
	default:
		err = d.remove(ctx, name, v)
	}
	if err != nil {
		return nil, err
	}
	delete(a.Volumes, name)
	if kept != "" {
		a.Released = append(a.Released, released{Name: name, ProjectID: v.ProjectID, OnDelete: v.OnDelete, Path: kept, At: d.cfg.Now().UTC()})
	}
	if err := d.save(ctx, a); err != nil {
		return nil, hostErr("recording the deletion of "+name, err)
	}
	d.log.Info("deleted a volume", "volume", name, "onDelete", v.OnDelete, "projectID", v.ProjectID, "kept", kept)
	return &csi.DeleteVolumeResponse{}, nil
}

// remove deletes a volume's directory and lifts its limits. rm -rf runs on
// <root>/<valid name> only; it does not stop at mount points, but nothing
// is mounted inside a volume's directory on the controller's node.
func (d *Driver) remove(ctx context.Context, name string, v *volume) error {
	dir := d.volDir(name)
	if path.Dir(dir) != d.cfg.Root {
		return status.Errorf(codes.Internal, "refusing to delete %s: not directly below %s", dir, d.cfg.Root)
	}
	if _, err := host.Run(ctx, d.run, "rm", "-rf", dir); err != nil {
		return hostErr("deleting "+dir, err)
	}
	if _, err := d.setLimits(ctx, v.ProjectID, lustre.Limits{}); err != nil {
		return err
	}
	return nil
}

// archive moves a volume's directory to <root>/.archive/<name>-<time>.
// The target is recorded first, so a retry after a crash finds the move
// done (or does it) instead of archiving twice.
func (d *Driver) archive(ctx context.Context, a *allocation, name string, v *volume) (string, error) {
	if v.ArchivePath == "" {
		v.ArchivePath = path.Join(archiveDir, fmt.Sprintf("%s-%s", name, d.cfg.Now().UTC().Format("20060102T150405Z")))
		if err := d.save(ctx, a); err != nil {
			return "", hostErr("recording where "+name+" is archived", err)
		}
	}
	from, to := d.volDir(name), path.Join(d.cfg.Root, v.ArchivePath)
	if _, err := host.Run(ctx, d.run, "mkdir", "-p", path.Dir(to)); err != nil {
		return "", hostErr("creating the archive directory", err)
	}
	moved, err := d.isDir(ctx, to)
	if err != nil || moved {
		return to, err
	}
	if _, err := host.Run(ctx, d.run, "mv", from, to); err != nil {
		return "", hostErr(fmt.Sprintf("archiving %s as %s", from, to), err)
	}
	return to, nil
}

func (s *ControllerServer) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	d := s.d
	name := req.GetVolumeId()
	if name == "" {
		return nil, invalid("the volume ID is missing")
	}
	if req.GetCapacityRange() == nil {
		return nil, invalid("the capacity range is missing")
	}
	if c := req.GetVolumeCapability(); c != nil {
		if why := checkCapability(c); why != "" {
			return nil, invalid("%s", why)
		}
	}
	want, err := capacityFor(req.GetCapacityRange(), MinCapacity)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	q, err := lustre.ProjectQuota(ctx, d.run, d.cfg.MountPoint, v.ProjectID)
	if err != nil {
		return nil, hostErr("reading the quota of "+name, err)
	}
	// Quotas are only ever raised: lowering one below the usage would
	// make every write fail.
	if wantKiB := uint64(want / kib); q.BlockHardKiB < wantKiB {
		l := q.Limits
		l.BlockHardKiB = wantKiB
		if q, err = d.setLimits(ctx, v.ProjectID, l); err != nil {
			return nil, err
		}
		d.log.Info("expanded a volume", "volume", name, "bytes", want)
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(q.BlockHardKiB) * kib, NodeExpansionRequired: false}, nil
}

// lookup returns a live volume's record, NotFound if there is none.
func (d *Driver) lookup(ctx context.Context, name string) (*volume, error) {
	if !validName(name) {
		return nil, status.Errorf(codes.NotFound, "volume %q does not exist: no volume of this driver has such an ID", name)
	}
	a, err := d.clientAndLoad(ctx, "looking up volume "+name)
	if err != nil {
		return nil, err
	}
	v := a.Volumes[name]
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist (deleted, or never created by this driver)", name)
	}
	return v, nil
}

func (s *ControllerServer) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	d := s.d
	if req.GetVolumeId() == "" {
		return nil, invalid("the volume ID is missing")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("volume capabilities are missing")
	}
	d.mu.Lock()
	_, err := d.lookup(ctx, req.GetVolumeId())
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, c := range req.GetVolumeCapabilities() {
		if why := checkCapability(c); why != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: why}, nil
		}
	}
	if _, err := parseParams(req.GetParameters()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}
