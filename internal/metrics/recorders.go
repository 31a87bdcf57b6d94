package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DRBD records what a DRBD agent sees of its node's resources.
type DRBD struct {
	up, role, connection, disk, peerDisk, suspended, syncDone *prometheus.GaugeVec
	errors, peerLost                                          *prometheus.CounterVec
}

// NewDRBD registers the DRBD agent's metrics (nil: metrics are off, and
// so is the recorder; the same for every New).
func NewDRBD(reg prometheus.Registerer) *DRBD {
	if reg == nil {
		return nil
	}
	return &DRBD{
		up:         gaugeVec(reg, "drbd", "resource_up", "1 while the DRBD resource is configured and up on this node.", "resource"),
		role:       gaugeVec(reg, "drbd", "role", "This node's DRBD role of the resource (1 for the current one): Primary serves the target.", "resource", "role"),
		connection: gaugeVec(reg, "drbd", "connection_state", "The resource's connection to its peer (1 for the current state): Connected, WFConnection, StandAlone, SyncSource, SyncTarget, ...", "resource", "state"),
		disk:       gaugeVec(reg, "drbd", "disk_state", "This node's copy of the resource (1 for the current state): UpToDate, Inconsistent, Outdated, ...", "resource", "state"),
		peerDisk:   gaugeVec(reg, "drbd", "peer_disk_state", "The peer's copy as this node knows it (1 for the current state); DUnknown without a connection.", "resource", "state"),
		suspended:  gaugeVec(reg, "drbd", "io_suspended", "1 while the resource's I/O is frozen: a Primary waiting for its fence-peer decision acknowledges no write.", "resource"),
		syncDone:   gaugeVec(reg, "drbd", "sync_done_ratio", "Share of the resource in sync with its peer, 0 to 1: below 1 during a resync (absent while unknown).", "resource"),
		errors:     counterVec(reg, "drbd", "reconcile_errors_total", "Reconciles of the resource that failed (the pod's status says why).", "resource"),
		peerLost:   counterVec(reg, "drbd", "peer_lost_total", "Times this node, a Secondary, lost its link to the Primary and reported it on the target's Lease.", "resource"),
	}
}

// Resource records one observation of a resource.
func (m *DRBD) Resource(resource string, up bool, role, cstate, disk, peerDisk string) {
	if m == nil {
		return
	}
	fixed := prometheus.Labels{"resource": resource}
	m.up.With(fixed).Set(boolValue(up))
	if !up {
		role, cstate, disk, peerDisk = "Down", "Down", "Down", "DUnknown"
	}
	oneOf(m.role, fixed, "role", role)
	oneOf(m.connection, fixed, "state", cstate)
	oneOf(m.disk, fixed, "state", disk)
	oneOf(m.peerDisk, fixed, "state", peerDisk)
}

// Suspended records whether the resource's I/O is frozen.
func (m *DRBD) Suspended(resource string, frozen bool) {
	if m == nil {
		return
	}
	m.suspended.WithLabelValues(resource).Set(boolValue(frozen))
}

// SyncDone records the resource's share in sync (0 to 1); known false
// removes the series (no connection, or the progress could not be read).
func (m *DRBD) SyncDone(resource string, ratio float64, known bool) {
	if m == nil {
		return
	}
	if !known {
		m.syncDone.DeleteLabelValues(resource)
		return
	}
	m.syncDone.WithLabelValues(resource).Set(ratio)
}

// ReconcileError counts a failed reconcile of the resource.
func (m *DRBD) ReconcileError(resource string) {
	if m != nil {
		m.errors.WithLabelValues(resource).Inc()
	}
}

// PeerLost counts a lost link to the Primary, reported on the Lease.
func (m *DRBD) PeerLost(resource string) {
	if m != nil {
		m.peerLost.WithLabelValues(resource).Inc()
	}
}

// Target records what a target pod does, for the one target it serves.
type Target struct {
	target         string // the label: the target's short name (mdt0, ost1), as the failover controller's
	state, serving *prometheus.GaugeVec
	used, avail    *prometheus.GaugeVec
	takeovers      *prometheus.CounterVec
	start          *prometheus.HistogramVec
	leases         *leaseAges
}

// takeoverBuckets are seconds, around the takeover times measured
// (docs/failover.md): 10 to 30 s, with room for MMP imports and resyncs.
var takeoverBuckets = []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600}

// NewTarget registers a target pod's metrics for target (its short name).
func NewTarget(reg prometheus.Registerer, target string) *Target {
	if reg == nil {
		return nil
	}
	l := &leaseAges{desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "target", "lease_age_seconds"),
		"Seconds since this node last renewed the target's Lease (present only while it holds it): over failover.leaseSeconds/2 it stops serving.", []string{"target"}, nil),
		ages: map[string]func() time.Time{}}
	reg.MustRegister(l)
	return &Target{
		target:    target,
		state:     gaugeVec(reg, "target", "state", "The target pod's state (1 for the current one): starting, ready, stopping, failed.", "target", "state"),
		serving:   gaugeVec(reg, "target", "serving", "1 while this node serves the target (mounted, under its Lease).", "target"),
		used:      gaugeVec(reg, "target", "used_bytes", "Bytes the target's ZFS dataset uses (zfs get -p used), reported by the node serving it.", "target"),
		avail:     gaugeVec(reg, "target", "available_bytes", "Bytes left for the target's ZFS dataset to write (zfs get -p available: the pool's free space less ZFS's slop), reported by the node serving it.", "target"),
		takeovers: counterVec(reg, "target", "takeovers_total", "Times this node took the target over from a node whose Lease had expired (from: that node).", "target", "from"),
		start:     histogramVec(reg, "target", "start_seconds", "Seconds from acquiring the target's Lease to serving it: promote, import, mount.", takeoverBuckets, "target"),
		leases:    l,
	}
}

// State records the target pod's state; ready means serving.
func (m *Target) State(state string) {
	if m == nil {
		return
	}
	oneOf(m.state, prometheus.Labels{"target": m.target}, "state", state)
	m.serving.WithLabelValues(m.target).Set(boolValue(state == "ready"))
	if state != "ready" {
		// Only the serving node reports the target's space: a node that
		// stopped must not leave its last reading beside the new one.
		m.used.DeleteLabelValues(m.target)
		m.avail.DeleteLabelValues(m.target)
	}
}

// Space records the served target's space in bytes.
func (m *Target) Space(used, available uint64) {
	if m != nil {
		m.used.WithLabelValues(m.target).Set(float64(used))
		m.avail.WithLabelValues(m.target).Set(float64(available))
	}
}

// TookOver counts a takeover from the node named from.
func (m *Target) TookOver(from string) {
	if m != nil {
		m.takeovers.WithLabelValues(m.target, from).Inc()
	}
}

// Started records how long the start took once the Lease was held.
func (m *Target) Started(d time.Duration) {
	if m != nil {
		m.start.WithLabelValues(m.target).Observe(d.Seconds())
	}
}

// LeaseAge exports the age of the target's Lease from lastRenewed (zero:
// not held, nothing exported), read at each scrape.
func (m *Target) LeaseAge(lastRenewed func() time.Time) {
	if m != nil {
		m.leases.mu.Lock()
		m.leases.ages[m.target] = lastRenewed
		m.leases.mu.Unlock()
	}
}

// leaseAges is a collector: the age is computed when scraped, so it grows
// between renewals as the real age does.
type leaseAges struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	ages map[string]func() time.Time
}

func (l *leaseAges) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *leaseAges) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for target, last := range l.ages {
		if t := last(); !t.IsZero() {
			ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, time.Since(t).Seconds(), target)
		}
	}
}

// Client records a Lustre client's mount.
type Client struct {
	mounted  *prometheus.GaugeVec
	failures *prometheus.CounterVec
}

// NewClient registers a client pod's metrics.
func NewClient(reg prometheus.Registerer) *Client {
	if reg == nil {
		return nil
	}
	return &Client{
		mounted:  gaugeVec(reg, "client", "mounted", "1 while the filesystem is mounted on this node.", "fsname", "mount_point"),
		failures: counterVec(reg, "client", "mount_failures_total", "Attempts to mount the filesystem that failed (the pod's status says why).", "fsname", "mount_point"),
	}
}

// Mounted records whether the filesystem is mounted; a failed attempt
// counts too.
func (m *Client) Mounted(fsname, mountPoint string, mounted, failed bool) {
	if m == nil {
		return
	}
	m.mounted.WithLabelValues(fsname, mountPoint).Set(boolValue(mounted))
	if failed {
		m.failures.WithLabelValues(fsname, mountPoint).Inc()
	}
}

// Failover records the failover controller's decisions.
type Failover struct {
	leader                          prometheus.Gauge
	releases, failovers, placements *prometheus.CounterVec
	duration                        *prometheus.HistogramVec
	inProgress                      *prometheus.GaugeVec
}

// NewFailover registers the failover controller's metrics.
func NewFailover(reg prometheus.Registerer) *Failover {
	if reg == nil {
		return nil
	}
	leader := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "failover", Name: "leader", Help: "1 while this replica is the acting failover controller (the others wait)."})
	reg.MustRegister(leader)
	return &Failover{
		leader:     leader,
		releases:   counterVec(reg, "failover", "releases_total", "Target pods released from a dead node so their StatefulSet starts them on the peer (reason: node_not_ready, peer_lost).", "target", "reason"),
		failovers:  counterVec(reg, "failover", "completed_total", "Failovers that ended with the target served on another node (reason as in releases_total).", "target", "reason"),
		duration:   histogramVec(reg, "failover", "duration_seconds", "Seconds from the last sign of life of the old node (its last Lease renewal, or its peer's report of the lost link, as the controller saw them) to the target's pod Ready on the new node.", takeoverBuckets, "reason"),
		inProgress: gaugeVec(reg, "failover", "in_progress", "1 while a released target is not yet served on another node.", "target"),
		placements: counterVec(reg, "failover", "placements_total", "New target pods released to the scheduler (where: preferred, or the node with the good data).", "target", "where"),
	}
}

// Leader records whether this replica acts.
func (m *Failover) Leader(held bool) {
	if m != nil {
		m.leader.Set(boolValue(held))
	}
}

// Released counts a released pod and marks its failover in progress.
func (m *Failover) Released(target, reason string) {
	if m == nil {
		return
	}
	m.releases.WithLabelValues(target, reason).Inc()
	m.inProgress.WithLabelValues(target).Set(1)
}

// Completed records a failover that ended after d.
func (m *Failover) Completed(target, reason string, d time.Duration) {
	if m == nil {
		return
	}
	m.failovers.WithLabelValues(target, reason).Inc()
	m.duration.WithLabelValues(reason).Observe(d.Seconds())
	m.inProgress.WithLabelValues(target).Set(0)
}

// Placed counts a gated pod released to the scheduler.
func (m *Failover) Placed(target, where string) {
	if m != nil {
		m.placements.WithLabelValues(target, where).Inc()
	}
}

// CSI records the CSI driver's calls.
type CSI struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewCSI registers the CSI driver's metrics.
func NewCSI(reg prometheus.Registerer) *CSI {
	if reg == nil {
		return nil
	}
	return &CSI{
		calls:    counterVec(reg, "csi", "operations_total", "CSI calls by method and gRPC status code (OK, NotFound, ResourceExhausted, ...).", "method", "code"),
		duration: histogramVec(reg, "csi", "operation_duration_seconds", "Seconds a CSI call took, by method.", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "method"),
	}
}

// Call records one CSI call.
func (m *CSI) Call(method, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(method, code).Inc()
	m.duration.WithLabelValues(method).Observe(d.Seconds())
}
