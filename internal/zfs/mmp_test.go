package zfs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

func TestMMPValidateAndActivityCheck(t *testing.T) {
	t.Parallel()
	if d := (MMP{}).ActivityCheck(); d != 21*time.Second {
		t.Errorf("default activity check %s, want 21 s (ZFS's defaults)", d)
	}
	if d := (MMP{IntervalMS: 500, ImportIntervals: 20, FailIntervals: 10}).ActivityCheck(); d != 10500*time.Millisecond {
		t.Errorf("activity check %s, want 10.5 s", d)
	}
	for _, m := range []MMP{{ImportIntervals: 10, FailIntervals: 10}, {IntervalMS: 50}, {ImportIntervals: 5}} {
		if err := m.Validate(); err == nil {
			t.Errorf("%+v: accepted", m)
		}
	}
}

// EnsureMMP sets what differs, nothing the second time, and the import's
// activity check follows the parameters it set.
func TestEnsureMMP(t *testing.T) {
	t.Parallel()
	w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD84, "s1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := w.Host("s1")
	m := MMP{IntervalMS: 500, ImportIntervals: 20, FailIntervals: 10}
	changed, err := EnsureMMP(ctx, r, m)
	if err != nil || strings.Join(changed, " ") != "zfs_multihost_interval=500" {
		t.Fatalf("first EnsureMMP: %v %v", changed, err)
	}
	if changed, err := EnsureMMP(ctx, r, m); err != nil || len(changed) != 0 {
		t.Fatalf("second EnsureMMP: %v %v", changed, err)
	}
	if b, err := host.ReadFile(ctx, r, "/sys/module/zfs/parameters/zfs_multihost_interval"); err != nil || string(b) != "500\n" {
		t.Fatalf("zfs_multihost_interval %q %v", b, err)
	}
	if _, err := EnsureMMP(ctx, r, MMP{ImportIntervals: 3}); err == nil {
		t.Fatal("EnsureMMP applied an unsound timing")
	}
}
