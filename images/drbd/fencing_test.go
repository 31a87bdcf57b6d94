package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

func TestParseLeases(t *testing.T) {
	got, err := parseLeases("mdt0=lfs-kube-lustre-mdt0, ost0=lfs-kube-lustre-ost0,")
	if err != nil || len(got) != 2 || got["mdt0"] != "lfs-kube-lustre-mdt0" || got["ost0"] != "lfs-kube-lustre-ost0" {
		t.Fatalf("parseLeases = %v, %v", got, err)
	}
	for _, bad := range []string{"mdt0", "=x", "mdt0="} {
		if _, err := parseLeases(bad); err == nil {
			t.Errorf("parseLeases(%q) accepted", bad)
		}
	}
}

// The handler binary lands whole, executable, replacing an older one.
func TestCopyExecutable(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "drbd")
	if err := os.WriteFile(src, []byte("new binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyExecutable(src, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	fi, _ := os.Stat(dst)
	if err != nil || !bytes.Equal(b, []byte("new binary")) || fi.Mode().Perm() != 0o755 {
		t.Fatalf("copied %q %v mode %v", b, err, fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".drbd-*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// The handler finds a release's socket from the resource name alone: every
// planned DRBD resource is named <fsname>-<target>, whatever the fsname.
func TestResourceNamesLeadToTheirReleasesSocket(t *testing.T) {
	for _, fsname := range []string{"lfs1", "my-fs", "a_b-c"} {
		v, ps, err := helmvalues.Check(helmvalues.Options{Files: []string{"../../examples/ha.yaml"}, StringSets: []string{"fsname=" + fsname}})
		if err != nil || len(ps) > 0 {
			t.Fatal(err, ps)
		}
		n := 0
		for _, np := range v.Plan().Nodes {
			for _, r := range np.DRBD {
				n++
				if got := fencesock.FSNameOf(r.Name); got != fsname {
					t.Errorf("resource %s: release %q, want %q", r.Name, got, fsname)
				}
			}
		}
		if n == 0 {
			t.Fatal("examples/ha.yaml plans no DRBD resource")
		}
	}
}
