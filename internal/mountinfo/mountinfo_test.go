package mountinfo

import "testing"

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
