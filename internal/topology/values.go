// Package topology is the one model of a kube-lustre filesystem: the values
// file as Helm merges it, its validation (schema shape plus cross-field
// rules) and the placement derived from it. The helm plugin, the chart's
// labelling Job and every entrypoint binary read topology through this
// package, so they cannot disagree.
package topology

import (
	"encoding/json"
	"fmt"
)

// Target kinds.
const (
	TypeMGS = "mgs"
	TypeMDT = "mdt"
	TypeOST = "ost"
)

// Values is the part of the chart's values that describes the filesystem.
// Chart-only keys (images, resources, ...) are checked by the schema and not
// modelled here.
type Values struct {
	// FSName is the effective name after Validate: fsname, else
	// external.fsname, else DefaultFSName.
	FSName      string          `json:"fsname"`
	External    *External       `json:"external"`
	LabelPrefix string          `json:"labelPrefix"`
	LNet        LNet            `json:"lnet"`
	Lustre      Lustre          `json:"lustre"`
	Nodes       map[string]Node `json:"nodes"`
	Targets     []Target        `json:"targets"`
	Clients     Clients         `json:"clients"`
	Failover    Failover        `json:"failover"`
	Install     Install         `json:"install"`
	Provisioner Provisioner     `json:"provisioner"`
	Upgrade     Upgrade         `json:"upgrade"`
	Metrics     Metrics         `json:"metrics"`
}

// Metrics are the ports the components serve Prometheus metrics on. The
// DRBD agents, target pods and clients use the node's network, where
// their ports must not clash with each other, with DRBD's replication
// ports or with the kubelet's (checkMetricsPorts).
type Metrics struct {
	Enabled bool         `json:"enabled"`
	Ports   MetricsPorts `json:"ports"`
}

// MetricsPorts: target i of targets serves on TargetsFrom+i, so no two
// target pods ever claim one host port (the scheduler would refuse to
// place a target on its peer); Pod is the pod-network components'.
type MetricsPorts struct {
	DRBD        int `json:"drbd"`
	Client      int `json:"client"`
	TargetsFrom int `json:"targetsFrom"`
	Pod         int `json:"pod"`
}

// Upgrade relaxes the upgrade check (UpgradeChanges) for targets an
// operator moved or re-disked with a documented procedure.
type Upgrade struct {
	AllowChanges []string `json:"allowChanges"`
}

// DefaultFSName names a managed filesystem whose values give no fsname.
const DefaultFSName = "lfs1"

// External is an existing Lustre filesystem kube-lustre only mounts.
type External struct {
	// MGSNIDs has one entry per MGS node: its NIDs, comma-separated.
	MGSNIDs []string `json:"mgsNids"`
	FSName  string   `json:"fsname"`
}

// Provisioner is the part of the CSI settings host steps and rules need;
// the rest is the chart's.
type Provisioner struct {
	Enabled        bool    `json:"enabled"`
	Root           string  `json:"root"`
	ProjectIDs     IDRange `json:"projectIDs"`
	EnforceForRoot bool    `json:"enforceForRoot"`
}

// IDRange is an inclusive range of Lustre project IDs.
type IDRange struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// LNet is what lnetctl configures on servers and clients.
type LNet struct {
	Networks []string `json:"networks"`
}

// Lustre holds server settings the MGS applies as permanent parameters.
type Lustre struct {
	// IdentityUpcall is mdt.<fsname>-MDT*.identity_upcall: NONE (the MDS
	// trusts the identity clients send) or the path of an upcall that
	// resolves it on the MDS. Empty: DefaultIdentityUpcall.
	IdentityUpcall string `json:"identityUpcall"`
}

// DefaultIdentityUpcall is the chart's default: pods run as uids the
// server nodes do not know, and with Lustre's own default
// (/usr/sbin/l_getidentity) every such uid is denied.
const DefaultIdentityUpcall = "NONE"

// IdentityUpcall is the identity upcall the MGS sets, given or default.
func (v *Values) IdentityUpcall() string {
	if v.Lustre.IdentityUpcall != "" {
		return v.Lustre.IdentityUpcall
	}
	return DefaultIdentityUpcall
}

// Node holds optional facts about one node; missing ones are resolved at run time.
type Node struct {
	Address string   `json:"address"`
	NIDs    []string `json:"nids"`
}

// Target is one Lustre target and the nodes that may serve it.
type Target struct {
	Type          string   `json:"type"`
	Index         int      `json:"index"`
	MGS           bool     `json:"mgs"`
	Nodes         []string `json:"nodes"`
	DRBD          *DRBD    `json:"drbd"`
	SharedStorage bool     `json:"sharedStorage"`
	ZPool         ZPool    `json:"zpool"`
	MountPoint    string   `json:"mountPoint"`
}

// DRBD replicates a target's disk between its two nodes.
type DRBD struct {
	Minor    int      `json:"minor"`
	Port     int      `json:"port"`
	Disk     DiskSpec `json:"disk"`
	Protocol string   `json:"protocol"`
}

// DiskSpec is either one device path for every node or a map node -> path.
type DiskSpec struct {
	All     string
	PerNode map[string]string
}

// UnmarshalJSON accepts a string or an object, as the schema does.
func (d *DiskSpec) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = DiskSpec{All: s}
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("disk must be a device path or a map of node name to device path")
	}
	*d = DiskSpec{PerNode: m}
	return nil
}

// MarshalJSON writes the form it was read from.
func (d DiskSpec) MarshalJSON() ([]byte, error) {
	if d.PerNode != nil {
		return json.Marshal(d.PerNode)
	}
	return json.Marshal(d.All)
}

// For returns the backing disk of node, or "" when the map does not name it.
func (d DiskSpec) For(node string) string {
	if d.PerNode != nil {
		return d.PerNode[node]
	}
	return d.All
}

// ZPool is the ZFS pool that holds a target.
type ZPool struct {
	Name       string            `json:"name"`
	Vdevs      []string          `json:"vdevs"`
	Properties map[string]string `json:"properties"`
}

// Clients selects the nodes that mount the filesystem.
type Clients struct {
	Enabled      bool              `json:"enabled"`
	Nodes        []string          `json:"nodes"`
	NodeSelector map[string]string `json:"nodeSelector"`
	MountPoint   string            `json:"mountPoint"`
	MountOptions []string          `json:"mountOptions"`
}

// Failover configures how targets move to their peer.
type Failover struct {
	Mode         string `json:"mode"`
	LeaseSeconds int    `json:"leaseSeconds"`
	// QuietLeaseSeconds is the Lease's duration while the holder's DRBD
	// peer is connected (failover.Lease.Quiet); 0 turns it off.
	QuietLeaseSeconds int `json:"quietLeaseSeconds"`
	// StopSeconds bounds a target's clean stop (and, plus 15 s, its pod's
	// terminationGracePeriodSeconds); 0 means DefaultStopSeconds.
	StopSeconds int `json:"stopSeconds"`
	// MMP is ZFS multihost protection's timing, applied as zfs module
	// parameters on every server node; the start-attempt bound of a
	// target pod follows from it (zfs.MMP).
	MMP FailoverMMP `json:"mmp"`
	// DRBD is how fast DRBD notices a lost peer (drbd.Timing).
	DRBD FailoverDRBD `json:"drbd"`
}

// DefaultLeaseSeconds is the chart's failover.leaseSeconds.
const DefaultLeaseSeconds = 10

// DefaultStopSeconds is the chart's failover.stopSeconds.
const DefaultStopSeconds = 120

// FailoverMMP is failover.mmp; zero fields take ZFS's defaults.
type FailoverMMP struct {
	IntervalMS      int `json:"intervalMs"`
	ImportIntervals int `json:"importIntervals"`
	FailIntervals   int `json:"failIntervals"`
}

// FailoverDRBD is failover.drbd; zero fields take DRBD's defaults.
type FailoverDRBD struct {
	PingIntSeconds    int `json:"pingIntSeconds"`
	PingTimeoutTenths int `json:"pingTimeoutTenths"`
	ConnectIntSeconds int `json:"connectIntSeconds"`
}

// Install configures the module install/verify step.
type Install struct {
	Mode string `json:"mode"`
	// Packages overrides the pinned version of a distribution package
	// (package name -> exact version) in install mode.
	Packages map[string]string `json:"packages"`
}
