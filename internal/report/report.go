// Package report holds what the agents print for `helm lustre status` to
// read (through kubectl exec): the JSON both sides agree on, apart from the
// agents' code, so that the plugin links neither the agents' API clients
// nor their metrics.
package report

import "github.com/kube-lustre/kube-lustre/internal/zfs"

// Resource is what one node says about one of its DRBD resources and
// the target on it: what `drbd status` prints and `helm lustre status`
// collects from both nodes of every pair.
type Resource struct {
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

// Space is what `lustre-target space` prints and `helm lustre
// status` collects from each serving target pod: the target's ZFS
// dataset and its space, read where its pool is imported.
type Space struct {
	Target  string `json:"target"`
	Dataset string `json:"dataset"`
	zfs.Space
}
