package agent

import (
	"context"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// ResourceReport is what one node says about one of its DRBD resources and
// the target on it: what `drbd status` prints and `helm lustre status`
// collects from both nodes of every pair.
type ResourceReport struct {
	Resource string `json:"resource"`
	Target   string `json:"target"`
	Up       bool   `json:"up"`
	Role     string `json:"role,omitempty"`
	CState   string `json:"cstate,omitempty"`
	Disk     string `json:"disk,omitempty"`
	PeerDisk string `json:"peerDisk,omitempty"`
	// SyncDone is the share in sync (0 to 1) while the resource resyncs;
	// nil otherwise, or when it could not be read.
	SyncDone *float64 `json:"syncDone,omitempty"`
	Mounted  bool     `json:"mounted"`
	Error    string   `json:"error,omitempty"`
}

// SpaceReport is what `lustre-target space` prints and `helm lustre
// status` collects from each serving target pod: the target's ZFS
// dataset and its space, read where its pool is imported.
type SpaceReport struct {
	Target  string `json:"target"`
	Dataset string `json:"dataset"`
	zfs.Space
}

// Watched is one resource of the node with its target's mount point.
type Watched struct {
	Resource   drbd.Resource
	Target     string
	MountPoint string
}

// Report observes each resource and mount; a failed probe is reported
// as such, never guessed.
func Report(ctx context.Context, run host.Runner, ws []Watched) []ResourceReport {
	out := make([]ResourceReport, 0, len(ws))
	for _, w := range ws {
		r := ResourceReport{Resource: w.Resource.Name, Target: w.Target}
		st, err := drbd.Observe(ctx, run, w.Resource)
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Up, r.Role, r.CState, r.Disk, r.PeerDisk = st.Up, st.Role, st.CState, st.Disk, st.PeerDisk
			if st.Resyncing() {
				if done, err := drbd.SyncDone(ctx, run, w.Resource); err == nil {
					r.SyncDone = &done
				}
			}
		}
		mounted, err := lustre.IsMounted(ctx, run, w.MountPoint)
		if err != nil && r.Error == "" {
			r.Error = err.Error()
		}
		r.Mounted = mounted
		out = append(out, r)
	}
	return out
}
