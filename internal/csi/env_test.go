package csi

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

// env is a small Lustre filesystem on simulated hosts with the controller
// on client c1 and the node plugin on client c2: the two share nothing but
// the filesystem, as on a real cluster.
type env struct {
	t    *testing.T
	w    *hostsim.World
	cfg  Config
	ctrl *Driver
	node *Driver
	now  time.Time
}

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("CSI_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T, enforce bool) *env {
	t.Helper()
	w, err := hostsim.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.BuildSmallLustre(hostsim.SmallLustre{Clients: []string{"c1", "c2"}, EnforceProjectQuota: enforce}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, w: w, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.cfg = Config{
		Name: "lfs1.lustre.csi.kube-lustre.io", Version: "test", MountPoint: "/mnt/lfs1", Root: "/mnt/lfs1/csi",
		FirstProjectID: 1000, LastProjectID: 1999999, DefaultCapacity: 1 << 30,
		Now: func() time.Time { return e.now },
	}
	e.ctrl = e.driver("c1")
	e.node = e.driver("c2")
	return e
}

// driver starts a driver process on a client host.
func (e *env) driver(hostName string) *Driver {
	e.t.Helper()
	cfg := e.cfg
	cfg.NodeID = hostName
	d, err := New(cfg, e.w.Host(hostName), testLog(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// sh runs a command on a host and returns its result and error.
func (e *env) sh(hostName string, argv ...string) (host.Result, error) {
	return e.w.Host(hostName).Run(context.Background(), host.Command(argv[0], argv[1:]...))
}

func (e *env) mustSh(hostName string, argv ...string) string {
	e.t.Helper()
	res, err := e.sh(hostName, argv...)
	if err != nil {
		e.t.Fatalf("%s on %s: %v", strings.Join(argv, " "), hostName, err)
	}
	return res.Stdout
}

// exists asks a host whether a path exists.
func (e *env) exists(hostName, p string) bool {
	e.t.Helper()
	ok, err := host.Exists(context.Background(), e.w.Host(hostName), p)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}
