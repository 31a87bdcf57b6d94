package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
	"github.com/kube-lustre/kube-lustre/internal/fencesock"
)

// `drbd fence-peer` and `drbd unfence` exit with the agent's answer, read
// the resource from DRBD_RESOURCE as DRBD passes it, and exit 1 when the
// agent's socket is not there.
func TestHandlerSubcommands(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := leasetest.New()
	api := store.Client(nil)
	if err := (&failover.Lease{Client: api, Name: "r-mdt0", Identity: "s1", Duration: 10 * time.Second}).TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "fence.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &failover.Fencer{Leases: api, Node: "s1", Resources: map[string]failover.Fenced{"lfs1-mdt0": {Lease: "r-mdt0", Peer: "s2"}}}
	go func() { _ = fencesock.Serve(ctx, l, f) }()

	cmds := map[string]entry.Command{"fence-peer": handler(fencesock.OpFencePeer), "unfence": handler(fencesock.OpUnfence)}
	runCmd := func(args ...string) int {
		var out, errb bytes.Buffer
		return entry.Main("drbd", args, &out, &errb, func(string) (string, bool) { return "", false }, cmds)
	}
	t.Setenv("KUBE_LUSTRE_FENCE_SOCKET", sock)
	t.Setenv("DRBD_RESOURCE", "lfs1-mdt0")
	if code := runCmd("fence-peer"); code != failover.FencedOutdated {
		t.Fatalf("fence-peer: exit %d", code)
	}
	if code := runCmd("unfence", "lfs1-mdt0"); code != 0 {
		t.Fatalf("unfence: exit %d", code)
	}
	t.Setenv("KUBE_LUSTRE_FENCE_SOCKET", filepath.Join(t.TempDir(), "absent.sock"))
	if code := runCmd("fence-peer"); code != failover.FenceFailed {
		t.Fatalf("fence-peer without the agent: exit %d", code)
	}
}
