package agent

import (
	"context"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/report"
)

// Watched is one resource of the node with its target's mount point.
type Watched struct {
	Resource   drbd.Resource
	Target     string
	MountPoint string
}

// Report observes each resource and mount; a failed probe is reported
// as such, never guessed.
func Report(ctx context.Context, run host.Runner, ws []Watched) []report.Resource {
	out := make([]report.Resource, 0, len(ws))
	for _, w := range ws {
		r := report.Resource{Resource: w.Resource.Name, Target: w.Target}
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
