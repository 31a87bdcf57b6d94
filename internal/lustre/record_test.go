package lustre

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/drbd"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// memRegistry is a Registry in memory; the ConfigMap behind the real one
// is targetrecord's to test.
type memRegistry struct {
	rec       *Record
	err       error
	remembers int
}

func (m *memRegistry) Lookup(context.Context) (*Record, error) { return m.rec, m.err }
func (m *memRegistry) Remember(_ context.Context, r Record) error {
	if m.err != nil {
		return m.err
	}
	m.remembers++
	m.rec = &r
	return nil
}
func (m *memRegistry) Where() string { return "ConfigMap lustre/kube-lustre-record-lfs1-mdt0" }
func (m *memRegistry) Forget() string {
	return "kubectl -n lustre delete configmap kube-lustre-record-lfs1-mdt0"
}

var served = &Record{Target: "lfs1-MDT0000", Pool: "lfs1-mdt0", PoolGUID: "1234", Disks: []string{"s1:/dev/sdb", "s2:/dev/sdb"},
	Since: time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)}

// A target the cluster recorded as served is never created again on
// blank disks, at whichever creation step the blank storage shows: both
// DRBD disks new (the forced first sync), a synced pair without the pool
// (zpool create), a pool without the target (mkfs.lustre). The refusal
// names the target, its disks, the record and the way out.
func TestRecordedTargetIsNeverCreatedAgain(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		prepare func(t *testing.T, p *pair)
		step    string
		refused string // the destructive command that must not run
	}{
		{"both disks blank", func(*testing.T, *pair) {}, "force the initial sync of DRBD resource lfs1-mdt0", "s1: drbdadm primary --force"},
		{"no pool on the synced pair", func(t *testing.T, p *pair) {
			_, _, err := drbd.WaitUpToDate(context.Background(), p.host(0), p.srv[0].Resource, drbd.WaitOptions{Poll: time.Millisecond, InitialSync: true})
			must(t, err)
		}, "create pool lfs1-mdt0", "s1: zpool create"},
		{"pool without the target", func(t *testing.T, p *pair) {
			ctx := context.Background()
			_, _, err := drbd.WaitUpToDate(ctx, p.host(0), p.srv[0].Resource, drbd.WaitOptions{Poll: time.Millisecond, InitialSync: true})
			must(t, err)
			must(t, drbd.Promote(ctx, p.host(0), p.srv[0].Resource))
			_, err = zfs.EnsureHostID(ctx, p.host(0))
			must(t, err)
			must(t, zfs.Create(ctx, p.host(0), p.srv[0].Pool))
		}, "format lfs1-mdt0/mdt0", "s1: mkfs.lustre"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, hostsim.DRBD84)
			reg := &memRegistry{rec: served}
			p.srv[0].Registry = reg
			for i := range hosts {
				_, err := drbd.Ensure(context.Background(), p.host(i), p.srv[i].Resource)
				must(t, err)
			}
			tc.prepare(t, p)
			before := p.destructiveRuns()[tc.refused]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Start(ctx, p.host(0), p.srv[0])
			var refused *RecreateError
			if !errors.As(err, &refused) {
				t.Fatalf("start: %v, want a RecreateError", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("the refusal waited for the start's deadline: %v", err)
			}
			for _, want := range []string{"refusing to " + tc.step + " for lfs1-MDT0000", "s1:/dev/sdb s2:/dev/sdb", "ConfigMap lustre/kube-lustre-record-lfs1-mdt0",
				"2026-11-02T03:04:05Z", "/dev/disk/by-id/", "Replacing a lost target", "kubectl -n lustre delete configmap kube-lustre-record-lfs1-mdt0"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
			if n := p.destructiveRuns()[tc.refused]; n != before {
				t.Fatalf("%s ran for a recorded target", tc.refused)
			}
			if reg.remembers != 0 {
				t.Fatal("a refused start recorded the target")
			}
		})
	}
}

// A record that cannot be read is never "not recorded": creation waits
// for it, and goes on once it reads as absent.
func TestUnreadableRecordBlocksCreation(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD84)
	reg := &memRegistry{err: errors.New("the server is currently unable to handle the request")}
	p.srv[0].Registry = reg
	if err := p.bringUp(10 * time.Second); err == nil || !strings.Contains(err.Error(), "could not read whether it was created before (ConfigMap lustre/kube-lustre-record-lfs1-mdt0)") {
		t.Fatalf("bring-up with the record unreadable: %v", err)
	}
	if n := p.destructiveRuns()["s1: drbdadm primary --force"]; n != 0 {
		t.Fatal("forced the first sync without reading the record")
	}
	reg.err = nil
	p.mustBringUp()
	must(t, Remember(context.Background(), p.host(0), p.srv[0]))
	if reg.rec == nil || reg.rec.Target != "lfs1-MDT0000" || reg.rec.Pool != "lfs1-mdt0" || reg.rec.PoolGUID == "" ||
		strings.Join(reg.rec.Disks, " ") != "s1:/dev/sdb s2:/dev/sdb" {
		t.Fatalf("record after the first start: %+v", reg.rec)
	}
	// Recorded, the same target starts again as before: nothing is created.
	must(t, Stop(context.Background(), p.host(0), p.srv[0]))
	p.mustBringUp()
	if !p.mounted(0) {
		t.Fatal("a recorded target with its data did not start")
	}
}
