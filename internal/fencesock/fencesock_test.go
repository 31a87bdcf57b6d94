package fencesock

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/failover"
	"github.com/kube-lustre/kube-lustre/internal/failover/leasetest"
)

// The handler's questions reach the Lease through the agent: the holder
// fences its peer, the peer is refused, an unknown resource fails, and an
// agent that is not there fails the fence.
func TestAskAndServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := leasetest.New()
	api := store.Client(nil)
	holder := &failover.Lease{Client: api, Name: "r-mdt0", Identity: "s1", Duration: 10 * time.Second}
	if err := holder.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	serve := func(node, peer string) string {
		path := filepath.Join(dir, node+".sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		f := &failover.Fencer{Leases: api, Node: node, Resources: map[string]failover.Fenced{"lfs1-mdt0": {Lease: "r-mdt0", Peer: peer}}}
		go func() { _ = Serve(ctx, l, f) }()
		return path
	}
	s1, s2 := serve("s1", "s2"), serve("s2", "s1")
	for _, tc := range []struct {
		path, op, res string
		want          int
	}{
		{s2, OpFencePeer, "lfs1-mdt0", failover.FenceRefused},
		{s1, OpFencePeer, "lfs1-mdt0", failover.FencedOutdated},
		{s1, OpFencePeer, "other", failover.FenceFailed},
		{s1, "reboot", "lfs1-mdt0", failover.FenceFailed},
		{s1, OpUnfence, "lfs1-mdt0", 0},
		{filepath.Join(dir, "absent.sock"), OpFencePeer, "lfs1-mdt0", failover.FenceFailed},
	} {
		got, err := Ask(ctx, tc.path, tc.op, tc.res)
		if got != tc.want {
			t.Errorf("%s %s %s: exit %d (%v), want %d", filepath.Base(tc.path), tc.op, tc.res, got, err, tc.want)
		}
	}
	if m, _ := failover.Outdated(ctx, api, "r-mdt0"); m != "s2" {
		t.Fatalf("mark %q, want s2", m)
	}
	if got, _ := Ask(ctx, s2, OpUnfence, "lfs1-mdt0"); got != 0 {
		t.Fatalf("unfence on s2: %d", got)
	}
	if m, _ := failover.Outdated(ctx, api, "r-mdt0"); m != "" {
		t.Fatalf("mark %q after s2's unfence", m)
	}
	if got, err := Ask(ctx, s1, OpFencePeer, "bad name"); got != failover.FenceFailed || err == nil {
		t.Fatalf("bad name: %d %v", got, err)
	}
}

// Each release has its own socket, found from the resource name
// (<fsname>-<target>, an fsname may contain '-'); a resource whose release
// has no socket, or a name of another form, is asked at the node-wide
// socket of earlier versions.
func TestSocketFor(t *testing.T) {
	for res, want := range map[string]string{"lfs1-mdt0": "lfs1", "my-fs-ost12": "my-fs", "r0": "", "-mgs": "", "lfs1-": ""} {
		if got := FSNameOf(res); got != want {
			t.Errorf("FSNameOf(%q) = %q, want %q", res, got, want)
		}
	}
	dir := t.TempDir()
	legacy := filepath.Join(dir, filepath.Base(DefaultPath))
	for _, fsname := range []string{"lfsa", "my-fs"} {
		l, err := net.Listen("unix", Socket(dir, fsname))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	for res, want := range map[string]string{
		"lfsa-mdt0":    Socket(dir, "lfsa"),
		"my-fs-ost12":  Socket(dir, "my-fs"),
		"lfsb-mdt0":    legacy,
		"r0":           legacy,
		"fence-mdt0":   legacy,
		"lfsa-ost0":    Socket(dir, "lfsa"),
		"my-fs-x-ost0": legacy,
	} {
		if got := SocketFor(dir, res); got != want {
			t.Errorf("SocketFor(%q) = %s, want %s", res, got, want)
		}
	}
}

// Start serves a release's own socket, readable by root only, and refuses
// resources the handler would not find it by.
func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "run")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &failover.Fencer{Node: "s1", Resources: map[string]failover.Fenced{}}
	path, err := Start(ctx, dir, "lfs1", []string{"lfs1-mdt0", "lfs1-ost0"}, f, log)
	if err != nil || path != Socket(dir, "lfs1") {
		t.Fatalf("Start = %s, %v", path, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	if got, _ := Ask(ctx, path, OpFencePeer, "lfs1-mdt0"); got != failover.FenceFailed {
		t.Fatalf("a resource the decider does not know: exit %d", got)
	}
	if _, err := Start(ctx, dir, "lfs2", []string{"lfs2-mdt0", "other-mdt0"}, f, log); err == nil || !strings.Contains(err.Error(), "other-mdt0") {
		t.Fatalf("a resource of another name: %v", err)
	}
	if _, err := os.Lstat(Socket(dir, "lfs2")); err == nil {
		t.Fatal("a refused release got a socket")
	}
}
