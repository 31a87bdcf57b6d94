package csi

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// TestSanity runs the kubernetes-csi sanity suite against the driver: the
// controller on client c1 and the node plugin on client c2, each behind
// its own unix socket, and every path the suite creates or checks on c2's
// simulated host, where the node plugin mounts.
//
// The suite skips what a driver does not claim; a skip for any other
// reason (a capability claimed but a case not run) fails the test.
func TestSanity(t *testing.T) {
	e := newEnv(t, true)
	dir := t.TempDir()
	ctrlSock, nodeSock := filepath.Join(dir, "controller.sock"), filepath.Join(dir, "node.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, s := range []struct {
		d          *Driver
		mode, sock string
	}{{e.ctrl, ModeController, ctrlSock}, {e.node, ModeNode, nodeSock}} {
		go func() {
			if err := Serve(ctx, s.d, s.mode, "unix://"+s.sock, time.Second); err != nil {
				t.Errorf("serving %s: %v", s.mode, err)
			}
		}()
	}
	c2 := e.w.Host("c2")
	onC2 := func(argv ...string) error {
		_, err := c2.Run(context.Background(), host.Command(argv[0], argv[1:]...))
		return err
	}
	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + nodeSock
	cfg.ControllerAddress = "unix://" + ctrlSock
	cfg.TargetPath = "/var/lib/kubelet/pods/sanity/volumes/target"
	cfg.StagingPath = "/var/lib/kubelet/plugins/sanity/staging"
	cfg.TestVolumeExpandSize = cfg.TestVolumeSize * 2
	mkdir := func(p string) (string, error) { return p, onC2("mkdir", "-p", p) }
	// The driver removes what it created below these; rmdir fails if it
	// left anything behind.
	rmdir := func(p string) error { return onC2("rmdir", p) }
	cfg.CreateTargetDir, cfg.CreateStagingDir = mkdir, mkdir
	cfg.RemoveTargetPath, cfg.RemoveStagingPath = rmdir, rmdir
	cfg.CheckPath = func(p string) (sanity.PathKind, error) {
		for _, k := range []struct {
			test string
			kind sanity.PathKind
		}{{"-f", sanity.PathIsFile}, {"-d", sanity.PathIsDir}, {"-e", sanity.PathIsOther}} {
			err := onC2("test", k.test, p)
			if err == nil {
				return k.kind, nil
			}
			if !host.ExitedWith(err, 1, "") {
				return "", err
			}
		}
		return sanity.PathIsNotFound, nil
	}
	start := time.Now()
	sanity.Test(t, cfg)
	t.Logf("sanity suite took %s: %d specs passed, %d skipped (capabilities not claimed)", time.Since(start).Round(time.Millisecond), sanityPassed, len(sanitySkips))
	for _, s := range sanitySkips {
		if !strings.HasSuffix(s, "not supported") {
			t.Errorf("sanity skipped a case for a reason other than an unclaimed capability: %s", s)
		}
	}
	if sanityPassed == 0 {
		t.Error("no sanity spec passed")
	}
}

// What the suite ran, collected once it finished.
var (
	sanitySkips  []string
	sanityPassed int
)

var _ = ginkgo.ReportAfterSuite("sanity skips", func(r ginkgo.Report) {
	for _, s := range r.SpecReports {
		switch s.State {
		case types.SpecStateSkipped:
			sanitySkips = append(sanitySkips, s.FullText()+": "+s.Failure.Message)
		case types.SpecStatePassed:
			sanityPassed++
		}
	}
})
