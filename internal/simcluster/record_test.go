package simcluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/podstate"
)

// The issue this answers: both disks of a pair come up blank under the
// configured names (a values change, the kernel renaming /dev/sdX after
// disks were added). With the record the target pods write once they
// serve, the real loops refuse to create the target again: no forced
// sync, no pool, no mkfs; the pod says why; the other targets serve on.
func TestBlankDisksUnderARecordedTargetAreNotFormatted(t *testing.T) {
	c := haCluster(t)
	r := start(t, c)
	ctx := context.Background()
	for _, target := range []string{"mdt0", "ost0", "ost1"} {
		rec, err := c.Record(target).Lookup(ctx)
		if err != nil || rec == nil || rec.PoolGUID == "" || len(rec.Disks) != 2 {
			t.Fatalf("%s record after the first start: %+v %v", target, rec, err)
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	// ost0's pair (s3, s4) reboots with both disks blank.
	for _, n := range []string{"s3", "s4"} {
		for _, err := range []error{c.World.Crash(n), c.World.Boot(n), c.World.SetSignature(n, backingDisk(t, c, n), "")} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	before := destructive(t, c)
	r, err := c.Start(ctx, testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Stop() }()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.WaitFor(wctx, func(name string) bool { return name != "target-ost0@s3" }); err != nil {
		t.Fatal(err)
	}
	var state podstate.State
	var msg string
	for wctx.Err() == nil {
		st, _ := r.Pod("target-ost0@s3")
		if state, msg = st.Get(); strings.Contains(msg, "refusing to") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if state == podstate.Ready || !strings.Contains(msg, "refusing to force the initial sync of DRBD resource lfs1-ost0 for lfs1-OST0000") ||
		!strings.Contains(msg, "s3:"+backingDisk(t, c, "s3")+" s4:"+backingDisk(t, c, "s4")) || !strings.Contains(msg, "kube-lustre-record-lfs1-ost0") {
		t.Fatalf("ost0's pod: %s %q", state, msg)
	}
	// Only the blank disks got (harmless) new DRBD metadata.
	added := destructive(t, c)[len(before):] // the log only grows
	slices.Sort(added)
	if !slices.Equal(added, []string{"s3: drbdadm create-md", "s4: drbdadm create-md"}) {
		t.Fatalf("commands run on the blank pair: %v", added)
	}
}
