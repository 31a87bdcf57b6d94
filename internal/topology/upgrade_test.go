package topology

import (
	"os"
	"strings"
	"testing"
)

func haValues(t *testing.T, edit func(string) string) *Values {
	t.Helper()
	b, err := os.ReadFile("../../examples/ha.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, ps, err := CheckDocument([]byte(edit(string(b))))
	if err != nil || len(ps) > 0 {
		t.Fatalf("%v %v", err, ps)
	}
	return v
}

func same(s string) string { return s }

// Each change under an existing target is refused with the field that
// changed, its old and new value, and what to do instead; everything an
// upgrade may change passes.
func TestUpgradeChanges(t *testing.T) {
	t.Parallel()
	running := haValues(t, same)
	for _, c := range []struct {
		name, from, to string
		path           string // "" = allowed
		says           string
	}{
		{name: "nothing", from: "", to: ""},
		{name: "a new OST", from: "clients:", to: "  - {type: ost, index: 2, nodes: [s7, s8], drbd: {minor: 0, port: 7788, disk: {s7: /dev/disk/by-id/wwn-7, s8: /dev/disk/by-id/wwn-8}}}\nclients:"},
		{name: "a new client", from: "[c1, c2]", to: "[c1, c2, c3]"},
		{name: "the Lease", from: "leaseSeconds: 10", to: "leaseSeconds: 20"},
		{name: "the minor", from: "minor: 0\n      port: 7788\n      disk:\n        s5", to: "minor: 4\n      port: 7788\n      disk:\n        s5",
			path: "targets[2].drbd.minor", says: `ost1 changes from "0" to "4" while ost1 exists: DRBD 8.4 finds a running resource by its minor`},
		{name: "the port", from: "port: 7788\n      disk:\n        s3", to: "port: 7790\n      disk:\n        s3",
			path: "targets[1].drbd.port", says: `ost0 changes from "7788" to "7790"`},
		{name: "one node's disk", from: "s4: /dev/disk/by-id/nvme-SAMSUNG_MZQL21T9HCJR-00A07_S64GNE0T400004", to: "s4: /dev/disk/by-id/nvme-new",
			path: "targets[1].drbd.disk", says: `ost0 changes from "/dev/disk/by-id/wwn-0x5000c500a1b2c303, /dev/disk/by-id/nvme-SAMSUNG_MZQL21T9HCJR-00A07_S64GNE0T400004" to "/dev/disk/by-id/wwn-0x5000c500a1b2c303, /dev/disk/by-id/nvme-new"`},
		{name: "a node", from: "nodes: [s5, s6]\n    drbd:\n      minor: 0\n      port: 7788\n      disk:\n        s5: /dev/disk/by-id/wwn-0x5000c500a1b2c305\n        s6", to: "nodes: [s5, s7]\n    drbd:\n      minor: 0\n      port: 7788\n      disk:\n        s5: /dev/disk/by-id/wwn-0x5000c500a1b2c305\n        s7",
			path: "targets[2].nodes", says: "its data is on those nodes' disks"},
		{name: "the pool", from: `zpool: {properties: {ashift: "12"}}`, to: `zpool: {name: pool0, properties: {ashift: "12"}}`,
			path: "targets[0].zpool", says: `mdt0 changes from "lfs1-mdt0" to "pool0"`},
		{name: "a target left out", from: "  - type: ost\n    index: 1\n    nodes: [s5, s6]\n    drbd:\n      minor: 0\n      port: 7788\n      disk:\n        s5: /dev/disk/by-id/wwn-0x5000c500a1b2c305\n        s6: /dev/disk/by-id/wwn-0x5000c500a1b2c306\n", to: "",
			path: "targets", says: "ost1 (lfs1-OST0001) is no longer listed"},
		{name: "the fsname", from: "fsname: lfs1", to: "fsname: lfs2",
			path: "fsname", says: "changes from lfs1 to lfs2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			next := haValues(t, func(s string) string {
				if c.from == "" {
					return s
				}
				if !strings.Contains(s, c.from) {
					t.Fatalf("examples/ha.yaml has no %q", c.from)
				}
				return strings.Replace(s, c.from, c.to, 1)
			})
			ps := UpgradeChanges(running, next, nil)
			if c.path == "" {
				if len(ps) > 0 {
					t.Fatalf("refused: %v", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].Path != c.path || !strings.Contains(ps[0].Message, c.says) || ps[0].Hint == "" {
				t.Fatalf("got %v, want one problem at %s saying %q", ps, c.path, c.says)
			}
			if name := strings.Fields(ps[0].Message)[0]; c.path != "fsname" && len(UpgradeChanges(running, next, []string{name})) != 0 {
				t.Fatalf("still refused with %s in upgrade.allowChanges", name)
			}
		})
	}
}
