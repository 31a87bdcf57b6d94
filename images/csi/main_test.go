package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

// On simulated hosts a published volume's real target directory exists
// after the simulated bind mount, for the container runtime to bind into
// the pod; nothing else makes real directories.
func TestSimTargetsMakeTheRealDirectory(t *testing.T) {
	w, err := hostsim.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.BuildSmallLustre(hostsim.SmallLustre{Clients: []string{"c1"}}); err != nil {
		t.Fatal(err)
	}
	run := simTargets{w.Host("c1")}
	target := filepath.Join(t.TempDir(), "pods", "p1", "mount")
	ctx := context.Background()
	for _, argv := range [][]string{{"mkdir", "-p", "/mnt/lfs1/vol", target}, {"mount", "--bind", "/mnt/lfs1/vol", target}} {
		if _, err := host.Run(ctx, run, argv[0], argv[1:]...); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(target); (err == nil) != (argv[0] == "mount") {
			t.Fatalf("after %v: real target directory: %v", argv, err)
		}
	}
	if _, err := host.Run(ctx, run, "mount", "--bind", "/mnt/lfs1/missing", target+"2"); err == nil {
		t.Fatal("bind mount of a missing directory succeeded")
	}
	if _, err := os.Stat(target + "2"); !os.IsNotExist(err) {
		t.Fatalf("a failed bind mount made the real directory: %v", err)
	}
}
