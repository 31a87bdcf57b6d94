package topology

import (
	"strings"
	"testing"
)

// base is a valid HA topology each rule case breaks in one place.
const base = `
fsname: lfs1
clients: {nodes: [c1]}
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s3, s4], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
`

// servers is base without its clients section.
var servers = strings.Replace(base, "clients: {nodes: [c1]}\n", "", 1)

func check(t *testing.T, doc string) (*Values, Problems) {
	t.Helper()
	v, ps, err := CheckDocument([]byte(doc))
	if err != nil {
		t.Fatalf("CheckDocument: %v", err)
	}
	return v, ps
}

func TestBaseIsValid(t *testing.T) {
	if _, ps := check(t, base); len(ps) != 0 {
		t.Fatalf("base topology has problems:\n%v", ps)
	}
}

// want is one problem a case must produce; empty fields are not compared.
type want struct{ path, msg, conflict string }

func hasProblem(ps Problems, w want) bool {
	for _, p := range ps {
		if p.Path == w.path && strings.Contains(p.Message, w.msg) && (w.conflict == "" || p.Conflict == w.conflict) && p.Hint != "" {
			return true
		}
	}
	return false
}

func TestRules(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want want
	}{
		{"fsname too long", `fsname: lustre123`, want{"fsname", `"lustre123" is not valid`, ""}},
		{"fsname bad char", `fsname: "lf/s"`, want{"fsname", "is not valid", ""}},
		{"external without a name", `
external: {mgsNids: ["10.0.0.1@tcp"]}
clients: {nodes: [c1]}`, want{"external.fsname", "has no name", ""}},
		{"external named twice", `
fsname: lfs1
external: {mgsNids: ["10.0.0.1@tcp"], fsname: scratch}
clients: {nodes: [c1]}`, want{"external.fsname", `external.fsname "scratch" and fsname "lfs1" differ`, "fsname"}},
		{"external with targets", base + `
external: {mgsNids: ["10.0.0.1@tcp"]}`, want{"targets", "external mode serves an existing filesystem", ""}},
		{"external without clients", `
external: {mgsNids: ["10.0.0.1@tcp"], fsname: scratch}
clients: {enabled: false}`, want{"clients.enabled", "installs nothing", ""}},
		{"external bad NID", `
external: {mgsNids: ["10.0.0.1"], fsname: scratch}
clients: {nodes: [c1]}`, want{"external.mgsNids[0]", "is not valid", ""}},
		{"external no MGS", `
external: {mgsNids: [], fsname: scratch}
clients: {nodes: [c1]}`, want{"external.mgsNids", "", ""}},
		{"provisioner without clients", `
external: {mgsNids: ["10.0.0.1@tcp"], fsname: scratch}
clients: {enabled: false}
provisioner: {enabled: true}`, want{"provisioner.enabled", "clients are disabled", "clients.enabled"}},
		{"provisioner root outside the mount", base + `
provisioner: {enabled: true, root: /mnt/lfs10/vols}`, want{"provisioner.root", "is not inside the client mount point /mnt/lfs1", ""}},
		{"provisioner empty ID range", base + `
provisioner: {enabled: true, projectIDs: {min: 10, max: 9}}`, want{"provisioner.projectIDs.min", "the range 10-9 is empty", "provisioner.projectIDs.max"}},
		{"provisioner unknown key", base + `
provisioner: {enabled: true, storageClass: {onDelete: shred}}`, want{"provisioner.storageClass.onDelete", "", ""}},
		{"no MGS", `
fsname: a
targets:
  - {type: mdt, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdb]}}
  - {type: ost, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdc]}}`, want{"targets", "no MGS", ""}},
		{"two MGS", `
fsname: a
targets:
  - {type: mgs, nodes: [s1], zpool: {vdevs: [/dev/sdd]}}
  - {type: mdt, index: 0, mgs: true, nodes: [s1], zpool: {vdevs: [/dev/sdb]}}
  - {type: ost, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdc]}}`, want{"targets[1].mgs", "second MGS", "targets[0].type"}},
		{"mgs flag on ost", `
fsname: a
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1], zpool: {vdevs: [/dev/sdb]}}
  - {type: ost, index: 0, mgs: true, nodes: [s1], zpool: {vdevs: [/dev/sdc]}}`, want{"targets[1].mgs", "only an MDT", ""}},
		{"mgs target with index", `
fsname: a
targets:
  - {type: mgs, index: 3, nodes: [s1], zpool: {vdevs: [/dev/sdd]}}
  - {type: mdt, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdb]}}
  - {type: ost, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdc]}}`, want{"targets[0].index", "no index", ""}},
		{"no MDT0", `
fsname: a
targets:
  - {type: mdt, index: 1, mgs: true, nodes: [s1], zpool: {vdevs: [/dev/sdb]}}
  - {type: ost, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdc]}}`, want{"targets", "no MDT with index 0", ""}},
		{"no OST", `
fsname: a
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1], zpool: {vdevs: [/dev/sdb]}}`, want{"targets", "no OST", ""}},
		{"duplicate type+index", base + `
  - {type: ost, index: 0, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].index", "ost index 0 is defined twice", "targets[1].index"}},
		{"index too large", base + `
  - {type: ost, index: 65504, nodes: [s5], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].index", "above the maximum 65503", ""}},
		{"negative index", base + `
  - {type: ost, index: -1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].index", "below the minimum 0", ""}},
		{"node twice", base + `
  - {type: ost, index: 1, nodes: [s5, s5], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].nodes[1]", `node "s5" is listed twice`, "targets[2].nodes[0]"}},
		{"three nodes", base + `
  - {type: ost, index: 1, nodes: [s5, s6, s7], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].nodes", "at most 2", ""}},
		{"no nodes", base + `
  - {type: ost, index: 1, nodes: [], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].nodes", "at least 1", ""}},
		{"pair without drbd or shared storage", base + `
  - {type: ost, index: 1, nodes: [s5, s6], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].nodes", "no shared data", ""}},
		{"drbd and shared storage", base + `
  - {type: ost, index: 1, nodes: [s5, s6], sharedStorage: true, drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].sharedStorage", "both set", "targets[2].drbd"}},
		{"drbd on one node", base + `
  - {type: ost, index: 1, nodes: [s5], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].drbd", "needs two nodes", "targets[2].nodes"}},
		{"disk map misses a node", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: {s5: /dev/sdb}}}`, want{"targets[2].drbd.disk", `no disk for node "s6"`, "targets[2].nodes"}},
		{"disk map names a stranger", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: {s5: /dev/sdb, s6: /dev/sdb, s7: /dev/sdc}}}`, want{"targets[2].drbd.disk.s7", `"s7" is not a node of this target`, "targets[2].nodes"}},
		{"minor twice on a node", base + `
  - {type: ost, index: 1, nodes: [s3, s4], drbd: {minor: 0, port: 7789, disk: /dev/sdc}}`, want{"targets[2].drbd.minor", "DRBD minor 0 is used twice on node s3", "targets[1].drbd.minor"}},
		{"port twice on a node", base + `
  - {type: ost, index: 1, nodes: [s3, s4], drbd: {minor: 1, port: 7788, disk: /dev/sdc}}`, want{"targets[2].drbd.port", "DRBD port 7788 is used twice on node s3", "targets[1].drbd.port"}},
		{"disk twice on a node", base + `
  - {type: ost, index: 1, nodes: [s4, s9], drbd: {minor: 1, port: 7789, disk: {s4: /dev/sdb, s9: /dev/sdb}}}`, want{"targets[2].drbd.disk.s4", "disk /dev/sdb is used twice on node s4", "targets[1].drbd.disk"}},
		{"vdev and drbd disk clash", base + `
  - {type: ost, index: 1, nodes: [s3], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].zpool.vdevs[0]", "disk /dev/sdb is used twice on node s3", "targets[1].drbd.disk"}},
		{"pool name twice on a node", base + `
  - {type: ost, index: 1, nodes: [s3, s4], zpool: {name: lfs1-ost0}, drbd: {minor: 1, port: 7789, disk: /dev/sdc}}`, want{"targets[2].zpool.name", "pool name lfs1-ost0 is used twice on node s3", "targets[1].type"}},
		{"mount point twice on a node", base + `
  - {type: ost, index: 1, nodes: [s3, s4], mountPoint: /lustre/lfs1/ost0, drbd: {minor: 1, port: 7789, disk: /dev/sdc}}`, want{"targets[2].mountPoint", "mount point /lustre/lfs1/ost0 is used twice on node s3", "targets[1].type"}},
		{"client mount point clashes with a target", `
fsname: lfs1
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1], zpool: {vdevs: [/dev/sdb]}, mountPoint: /mnt/x}
  - {type: ost, index: 0, nodes: [s1], zpool: {vdevs: [/dev/sdc]}}
clients: {enabled: true, nodes: [s1], mountPoint: /mnt/x}`, want{"clients.mountPoint", "mount point /mnt/x is used twice on node s1", "targets[0].mountPoint"}},
		{"client on a server node", servers + `
clients: {enabled: true, nodes: [c1, s2]}`, want{"clients.nodes[1]", `node "s2" is a client and serves mdt0 (targets[0].nodes[1]) of this filesystem`, "targets[0].nodes[1]"}},
		{"client on a node serving two targets", `
fsname: lfs1
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s2, s1], drbd: {minor: 1, port: 7789, disk: /dev/sdc}}
clients: {enabled: true, nodes: [s1]}`, want{"clients.nodes[0]", `serves mdt0 (targets[0].nodes[0]), ost0 (targets[1].nodes[1])`, "targets[0].nodes[0]"}},
		{"port zero", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 0, disk: /dev/sdb}}`, want{"targets[2].drbd.port", "below the minimum 1", ""}},
		{"port too large", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 70000, disk: /dev/sdb}}`, want{"targets[2].drbd.port", "above the maximum 65535", ""}},
		{"relative disk", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: sdb}}`, want{"targets[2].drbd.disk", `"sdb" is not valid`, ""}},
		{"relative disk in map", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: {s5: /dev/sdb, s6: sdb}}}`, want{"targets[2].drbd.disk.s6", `"sdb" is not valid`, ""}},
		{"relative mount point", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}, mountPoint: lustre/x}`, want{"targets[2].mountPoint", "is not valid", ""}},
		{"relative client mount point", base + `
clients: {nodes: [c1], mountPoint: mnt}`, want{"clients.mountPoint", "is not valid", ""}},
		{"no vdevs without drbd", base + `
  - {type: ost, index: 1, nodes: [s5]}`, want{"targets[2].zpool.vdevs", "is required for a target without drbd", ""}},
		{"vdevs with drbd", base + `
  - {type: ost, index: 1, nodes: [s5, s6], zpool: {vdevs: [/dev/sdc]}, drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].zpool.vdevs", "pool lives on the DRBD device", "targets[2].drbd"}},
		{"unknown key", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}, mountpoint: /x}`, want{"targets[2].mountpoint", "unknown key", ""}},
		{"unknown top-level key", base + `
fsnmae: x`, want{"fsnmae", "unknown key", ""}},
		{"missing type", base + `
  - {index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].type", "is required", ""}},
		{"bad type", base + `
  - {type: oss, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].type", `"oss" is not allowed`, ""}},
		{"wrong value type", base + `
  - {type: ost, index: "one", nodes: [s5], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].index", "is string, must be integer", ""}},
		{"node facts for an unknown node", base + `
nodes: {s9: {address: 10.0.0.9}}`, want{"nodes.s9", "serves no target", ""}},
		{"bad address", base + `
nodes: {s1: {address: 10.0.0.300}}`, want{"nodes.s1.address", "is not valid", ""}},
		{"bad lnet network", base + `
lnet: {networks: [eth1]}`, want{"lnet.networks[0]", "is not valid", ""}},
		{"identity upcall neither NONE nor a path", base + `
lustre: {identityUpcall: l_getidentity}`, want{"lustre.identityUpcall", `"l_getidentity" is not valid`, ""}},
		{"identity upcall lower-case none", base + `
lustre: {identityUpcall: none}`, want{"lustre.identityUpcall", `"none" is not valid`, ""}},
		{"lease too short", base + `
failover: {leaseSeconds: 1}`, want{"failover.leaseSeconds", "below the minimum 5", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ps := check(t, c.doc)
			if !hasProblem(ps, c.want) {
				t.Fatalf("want problem %+v, got:\n%v", c.want, ps)
			}
		})
	}
}

// Problems about a field the schema rejected are not repeated by rules: the
// decoded value means nothing.
func TestRuleFindingsUnderSchemaProblemsAreDropped(t *testing.T) {
	_, ps := check(t, base+`
  - {type: ost, index: 1, nodes: [s3, s4], drbd: {minor: 1, port: "x", disk: /dev/sdc}}`)
	for _, p := range ps {
		if p.Path == "targets[2].drbd.port" && !strings.Contains(p.Message, "must be integer") {
			t.Fatalf("unexpected rule finding on a mistyped field: %v", p)
		}
	}
	if len(ps) != 1 {
		t.Fatalf("want exactly the type problem, got:\n%v", ps)
	}
}

func TestAllProblemsAtOnceInStableOrder(t *testing.T) {
	doc := `
fsname: waytoolongname
targets:
  - {type: ost, index: 0, nodes: [b, a, c], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [a, b], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 10, nodes: [a, b], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 2, nodes: [a, b], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
`
	_, first := check(t, doc)
	if len(first) < 8 {
		t.Fatalf("want many problems, got %d:\n%v", len(first), first)
	}
	for i := 0; i < 20; i++ {
		_, again := check(t, doc)
		if again.Error() != first.Error() {
			t.Fatalf("order changed:\n%v\n---\n%v", first, again)
		}
	}
	// targets[2] sorts before targets[10]-style paths numerically, never as strings.
	for i := 1; i < len(first); i++ {
		if comparePaths(first[i-1].Path, first[i].Path) > 0 {
			t.Fatalf("not sorted at %d: %s before %s", i, first[i-1].Path, first[i].Path)
		}
	}
}

func TestValidTopologies(t *testing.T) {
	cases := map[string]string{
		"separate MGS": `
fsname: lfs2
targets:
  - {type: mgs, nodes: [m1, m2], drbd: {minor: 9, port: 7800, disk: /dev/sdz}}
  - {type: mdt, index: 0, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s3, s4], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`,
		"DNE with several MDTs on one pair": `
fsname: dne
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: mdt, index: 1, nodes: [s2, s1], drbd: {minor: 1, port: 7789, disk: /dev/sdc}}
  - {type: mdt, index: 2, nodes: [s1, s2], drbd: {minor: 2, port: 7790, disk: /dev/sdd}}
  - {type: ost, index: 0, nodes: [s3, s4], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`,
		"per-node disk maps": `
fsname: maps
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: {s1: /dev/sdb, s2: /dev/nvme0n1}}}
  - {type: ost, index: 0, nodes: [s1, s2], drbd: {minor: 1, port: 7789, disk: {s1: /dev/sdc, s2: /dev/nvme1n1}}}`,
		"HA and non-HA mixed, shared storage": `
fsname: mix
nodes: {s1: {address: 10.0.0.1, nids: ["10.0.0.1@tcp", "10.1.0.1@o2ib"]}, s2: {nids: ["10.0.0.2@tcp"]}}
lnet: {networks: ["tcp0(eth1)", "o2ib0(ib0)"]}
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s3], zpool: {vdevs: [mirror, /dev/sdb, /dev/sdc], properties: {ashift: "12"}}}
  - {type: ost, index: 1, nodes: [s4, s5], sharedStorage: true, zpool: {name: jbod1, vdevs: [raidz2, /dev/sdb, /dev/sdc, /dev/sdd, /dev/sde]}}
clients: {nodes: [c2, c1], nodeSelector: {role: compute}, mountPoint: /lustre, mountOptions: [flock, user_xattr]}
failover: {mode: manual, leaseSeconds: 30}
install: {mode: install}`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			v, ps := check(t, doc)
			if len(ps) != 0 {
				t.Fatalf("valid topology rejected:\n%v", ps)
			}
			if p := v.Plan(); len(p.Targets) != len(v.Targets) {
				t.Fatalf("plan has %d targets, values %d", len(p.Targets), len(v.Targets))
			}
		})
	}
}

// A client node that serves no target, and clients of an external
// filesystem (no targets here), are fine; the rule names every clash.
func TestClientsOffServers(t *testing.T) {
	if _, ps := check(t, servers+`
clients: {enabled: true, nodes: [c1, c2]}`); len(ps) != 0 {
		t.Fatalf("clients off the servers rejected:\n%v", ps)
	}
	if _, ps := check(t, servers+`
clients: {enabled: false, nodes: [s1]}`); len(ps) != 0 {
		t.Fatalf("disabled clients on a server rejected:\n%v", ps)
	}
	_, ps := check(t, servers+`
clients: {enabled: true, nodes: [s1, c1, s3]}`)
	var got []string
	for _, p := range ps {
		got = append(got, p.Path+" ~ "+p.Conflict)
		if !strings.Contains(p.Message, "evicts the local client") || !strings.Contains(p.Hint, "serves no target") {
			t.Errorf("message or hint does not say why and how to fix: %v", p)
		}
	}
	if want := []string{"clients.nodes[0] ~ targets[0].nodes[0]", "clients.nodes[2] ~ targets[1].nodes[0]"}; strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("problems %q, want %q", got, want)
	}
}

func TestNoPanicOnOddDocuments(t *testing.T) {
	docs := []string{"", "null", "[]", "42", "targets: 3", "targets: [3, null, {}]", "targets: [{drbd: 3}]",
		"targets: [{drbd: {disk: [1]}}]", "nodes: [1]", "clients: null", "fsname: {a: b}", "targets: [{nodes: [[]]}]"}
	for _, d := range docs {
		vals, err := Parse([]byte(d))
		if err != nil {
			continue // a parse error is an I/O-class error, reported as such
		}
		if _, _, err := Validate(vals); err != nil {
			t.Fatalf("%q: %v", d, err)
		}
	}
}

// External mode: the effective name and the MGS NIDs reach the plan; no
// targets, no server labels.
func TestExternalPlan(t *testing.T) {
	v, ps := check(t, `
external: {mgsNids: ["10.0.0.1@o2ib,10.1.0.1@tcp", "10.0.0.2@o2ib"], fsname: scratch}
clients: {enabled: true, nodes: [c1, c2]}
provisioner: {enabled: true}`)
	if len(ps) != 0 {
		t.Fatalf("problems:\n%v", ps)
	}
	p := v.Plan()
	if p.FSName != "scratch" || !p.External || len(p.Targets) != 0 {
		t.Fatalf("plan: fsname %q external %v targets %d", p.FSName, p.External, len(p.Targets))
	}
	if got := NIDList(p.MGSNodes); got != "10.0.0.1@o2ib,10.1.0.1@tcp:10.0.0.2@o2ib" {
		t.Fatalf("MGS NIDs %q", got)
	}
	if got := v.ClientMountPoint(); got != "/mnt/scratch" {
		t.Fatalf("client mount point %q", got)
	}
	for _, n := range p.Nodes {
		if len(n.Labels) != 1 || n.Labels["kube-lustre.io/scratch.client"] != "true" {
			t.Fatalf("node %s labels %v", n.Name, n.Labels)
		}
	}
	if v, _ := check(t, base[strings.Index(base, "clients"):]); v.FSName != DefaultFSName {
		t.Fatalf("no fsname: effective name %q, want %q", v.FSName, DefaultFSName)
	}
}
