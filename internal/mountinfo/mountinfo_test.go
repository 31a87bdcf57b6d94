package mountinfo

import (
	"context"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

func TestParse(t *testing.T) {
	text := `21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
1001 21 0:41 / /mnt/lfs1 rw,relatime - lustre 10.9.0.1@tcp:/lfs1 rw,flock,lazystatfs
1002 21 0:41 /csi/pvc-1 /var/lib/kubelet/pods/a\040b/mount ro,relatime master:3 - lustre 10.9.0.1@tcp:/lfs1 rw,flock,lazystatfs
`
	ms, err := Parse(text)
	if err != nil || len(ms) != 3 {
		t.Fatalf("%v %v", ms, err)
	}
	b := ms[2]
	if b.ID != 1002 || b.Dev != "0:41" || b.Root != "/csi/pvc-1" || b.MountPoint != "/var/lib/kubelet/pods/a b/mount" || !b.ReadOnly() ||
		b.FSType != "lustre" || b.Source != "10.9.0.1@tcp:/lfs1" || b.SuperOpts != "rw,flock,lazystatfs" {
		t.Fatalf("bind mount parsed as %+v", b)
	}
	if m, ok := Top(ms, "/mnt/lfs1"); !ok || m.ID != 1001 || m.ReadOnly() {
		t.Fatalf("Top = %+v %v", m, ok)
	}
	if _, ok := Top(ms, "/nope"); ok {
		t.Fatal("Top found a mount that is not there")
	}
	for _, bad := range []string{"1 2 3\n", "x 1 0:1 / / rw - ext4 /dev/x rw\n", "1 1 0:1 / / rw shared:1 ext4\n"} {
		if _, err := Parse(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

// At answers from the table through the Runner: the topmost of stacked
// mounts, an escaped path, a bind mount's root; a table it cannot read is
// an error, never "not mounted".
func TestAt(t *testing.T) {
	table := `21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
1001 21 0:41 / /mnt/lfs1 rw,relatime - lustre 10.9.0.1@tcp:10.9.0.2@tcp:/lfs1 rw,flock
1002 21 254:1 /srv/x /var/lib/kubelet/pods/a\040b/mount rw,relatime - ext4 /dev/vda1 rw
1003 21 0:41 /csi/pvc-1 /var/lib/kubelet/pods/a\040b/mount ro,relatime - lustre 10.9.0.1@tcp:10.9.0.2@tcp:/lfs1 rw,flock
`
	var asked []string
	run := host.RunnerFunc(func(_ context.Context, c host.Cmd) (host.Result, error) {
		asked = append(asked, c.String())
		return host.Result{Stdout: table}, nil
	})
	ctx := context.Background()
	m, found, err := At(ctx, run, "/mnt/lfs1/")
	if err != nil || !found || m.FSType != "lustre" || m.Source != "10.9.0.1@tcp:10.9.0.2@tcp:/lfs1" || m.Root != "/" {
		t.Fatalf("client: %+v %v %v", m, found, err)
	}
	m, found, err = At(ctx, run, "/var/lib/kubelet/pods/a b/mount")
	if err != nil || !found || m.ID != 1003 || m.Root != "/csi/pvc-1" || m.Dev != "0:41" || !m.ReadOnly() {
		t.Fatalf("bind mount on top of another: %+v %v %v", m, found, err)
	}
	for _, p := range []string{"/var/lib/kubelet/pods/a", `/var/lib/kubelet/pods/a\040b/mount`, "/mnt", "/nope"} {
		if m, found, err := At(ctx, run, p); found || err != nil {
			t.Fatalf("%s: %+v %v", p, m, err)
		}
	}
	if len(asked) == 0 || asked[0] != "cat /proc/self/mountinfo" {
		t.Fatalf("asked %v", asked)
	}
	broken := host.RunnerFunc(func(_ context.Context, c host.Cmd) (host.Result, error) {
		return host.Result{ExitCode: 1}, &host.ExitError{Cmd: c, Result: host.Result{ExitCode: 1, Stderr: "cat: not found"}}
	})
	if _, found, err := At(ctx, broken, "/mnt/lfs1"); err == nil || found {
		t.Fatalf("unreadable table: found %v err %v", found, err)
	}
}
