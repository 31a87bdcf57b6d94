package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func gather(t *testing.T, reg *prometheus.Registry) Families {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func value(t *testing.T, fs Families, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	v, found, err := fs.Value(name, labels)
	if err != nil {
		t.Fatal(err)
	}
	return v, found
}

// Metrics off: every recorder is nil and every method a no-op, so the
// loops need no checks of their own.
func TestNilRecordersRecordNothing(t *testing.T) {
	t.Parallel()
	if NewDRBD(nil) != nil || NewTarget(nil, "mdt0") != nil || NewClient(nil) != nil || NewFailover(nil) != nil || NewCSI(nil) != nil {
		t.Fatal("a recorder without a registerer")
	}
	var d *DRBD
	d.Resource("r", true, "Primary", "Connected", "UpToDate", "UpToDate")
	d.Suspended("r", true)
	d.SyncDone("r", 0.5, true)
	d.ReconcileError("r")
	d.PeerLost("r")
	var tg *Target
	tg.State("ready")
	tg.TookOver("s1")
	tg.Started(time.Second)
	tg.LeaseAge(time.Now)
	var c *Client
	c.Mounted("lfs1", "/mnt/lfs1", true, false)
	var f *Failover
	f.Leader(true)
	f.Released("mdt0", "peer_lost")
	f.Completed("mdt0", "peer_lost", time.Second)
	f.Placed("mdt0", "scheduler")
	var cs *CSI
	cs.Call("CreateVolume", "OK", time.Second)
}

// A state is one series: the previous value's series goes, so a dashboard
// summing role="Primary" never counts a node twice.
func TestStatesAreOneSeries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	d := NewDRBD(reg)
	d.Resource("lfs1-mdt0", true, "Secondary", "Connected", "UpToDate", "UpToDate")
	d.Resource("lfs1-mdt0", true, "Primary", "WFConnection", "UpToDate", "DUnknown")
	fs := gather(t, reg)
	for _, c := range []struct {
		name, key, val string
		want           float64
		found          bool
	}{
		{"kube_lustre_drbd_role", "role", "Primary", 1, true},
		{"kube_lustre_drbd_role", "role", "Secondary", 0, false},
		{"kube_lustre_drbd_connection_state", "state", "WFConnection", 1, true},
		{"kube_lustre_drbd_connection_state", "state", "Connected", 0, false},
		{"kube_lustre_drbd_peer_disk_state", "state", "DUnknown", 1, true},
	} {
		v, found := value(t, fs, c.name, map[string]string{"resource": "lfs1-mdt0", c.key: c.val})
		if v != c.want || found != c.found {
			t.Errorf("%s{%s=%s} = %v (found %v), want %v (found %v)", c.name, c.key, c.val, v, found, c.want, c.found)
		}
	}
	// Down: every state says so, the resource is not up.
	d.Resource("lfs1-mdt0", false, "", "", "", "")
	fs = gather(t, reg)
	if v, _ := value(t, fs, "kube_lustre_drbd_resource_up", map[string]string{"resource": "lfs1-mdt0"}); v != 0 {
		t.Errorf("resource_up = %v after down", v)
	}
	if v, found := value(t, fs, "kube_lustre_drbd_role", map[string]string{"resource": "lfs1-mdt0", "role": "Down"}); v != 1 || !found {
		t.Errorf("role Down = %v %v", v, found)
	}

	tg := NewTarget(reg, "mdt0")
	tg.State("starting")
	tg.State("ready")
	fs = gather(t, reg)
	if v, _ := value(t, fs, "kube_lustre_target_serving", map[string]string{"target": "mdt0"}); v != 1 {
		t.Errorf("serving = %v when ready", v)
	}
	if _, found := value(t, fs, "kube_lustre_target_state", map[string]string{"target": "mdt0", "state": "starting"}); found {
		t.Error("the old state starting is still exported")
	}
	// The space is the serving node's: gone once it stops serving.
	tg.Space(3<<20, 1<<30)
	if v, _ := value(t, gather(t, reg), "kube_lustre_target_available_bytes", map[string]string{"target": "mdt0"}); v != 1<<30 {
		t.Errorf("available = %v", v)
	}
	tg.State("stopping")
	if _, found := value(t, gather(t, reg), "kube_lustre_target_used_bytes", map[string]string{"target": "mdt0"}); found {
		t.Error("a stopped target still exports its space")
	}
}

// The Lease age is computed at each scrape from the last renewal, and is
// absent while the target does not hold its Lease.
func TestLeaseAgeOnlyWhileHeld(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	tg := NewTarget(reg, "ost0")
	var last time.Time
	tg.LeaseAge(func() time.Time { return last })
	if _, found := value(t, gather(t, reg), "kube_lustre_target_lease_age_seconds", map[string]string{"target": "ost0"}); found {
		t.Fatal("lease age exported while not held")
	}
	last = time.Now().Add(-3 * time.Second)
	if v, found := value(t, gather(t, reg), "kube_lustre_target_lease_age_seconds", map[string]string{"target": "ost0"}); !found || v < 3 || v > 60 {
		t.Fatalf("lease age %v (found %v), want about 3 s", v, found)
	}
}

// Serve answers /metrics in the text format, with the registry's constant
// labels, and a port already taken is an error that names the setting.
func TestServe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, rec := NewRegistry(prometheus.Labels{"node": "s1"})
	NewClient(rec).Mounted("lfs1", "/mnt/lfs1", true, false)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr, err := Serve(ctx, "127.0.0.1:0", reg, log)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fs, err := Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v, found := value(t, fs, "kube_lustre_client_mounted", map[string]string{"node": "s1", "fsname": "lfs1", "mount_point": "/mnt/lfs1"}); v != 1 || !found {
		t.Fatalf("client_mounted = %v (found %v)", v, found)
	}
	if _, found := value(t, fs, "go_goroutines", nil); !found {
		t.Fatal("no Go runtime metrics")
	}
	if _, err := Serve(ctx, addr.String(), reg, log); err == nil || !strings.Contains(err.Error(), "metrics.ports") {
		t.Fatalf("second server on %s: %v, want an error naming metrics.ports", addr, err)
	}
}
