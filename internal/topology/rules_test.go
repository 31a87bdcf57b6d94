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
	t.Parallel()
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
	t.Parallel()
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
		{"relative client mount point", servers + `
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
		// What the host tools refuse (hostrules.go).
		{"pool name reserved", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {name: spare2, vdevs: [/dev/sdb]}}`, want{"targets[2].zpool.name", `pool name "spare2" begins with "spare"`, ""}},
		{"pool name log", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {name: log, vdevs: [/dev/sdb]}}`, want{"targets[2].zpool.name", "reserved by zpool for log devices", ""}},
		{"pool name too long", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {name: p` + strings.Repeat("x", 239) + `, vdevs: [/dev/sdb]}}`, want{"targets[2].zpool.name", "has 240 characters, ZFS allows at most 239", ""}},
		{"derived pool name from a digit", strings.Replace(base, "fsname: lfs1", "fsname: 1lfs", 1), want{"fsname", "1lfs-mdt0, does not begin with a letter", ""}},
		{"derived pool name reserved", strings.Replace(base, "fsname: lfs1", "fsname: draid", 1), want{"fsname", `draid-mdt0, begins with "draid"`, ""}},
		{"disk path with ..", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: /dev/../etc/sdb}}`, want{"targets[2].drbd.disk", "is not a clean absolute path", ""}},
		{"disk path with a blank", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: {s5: /dev/sdb, s6: "/dev/sd b"}}}`, want{"targets[2].drbd.disk.s6", `contains " "`, ""}},
		{"disk path breaking the DRBD file", base + `
  - {type: ost, index: 1, nodes: [s5, s6], drbd: {minor: 0, port: 7788, disk: "/dev/sdb;"}}`, want{"targets[2].drbd.disk", `contains ";"`, ""}},
		{"vdev with trailing slash", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb/]}}`, want{"targets[2].zpool.vdevs[0]", "is not a clean absolute path", ""}},
		{"vdev is a DRBD device", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/drbd0]}}`, want{"targets[2].zpool.vdevs[0]", "is a DRBD device", ""}},
		{"vdev keyword without devices", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [mirror]}}`, want{"targets[2].zpool.vdevs[0]", "mirror has 0 device(s): zpool create requires at least 2", ""}},
		{"raidz3 too narrow", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [raidz3, /dev/sdb, /dev/sdc, /dev/sdd]}}`, want{"targets[2].zpool.vdevs[0]", "requires at least 4", ""}},
		{"plain disks and a mirror", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb, mirror, /dev/sdc, /dev/sdd]}}`, want{"targets[2].zpool.vdevs[1]", "mixes plain disks with a 2-device mirror", ""}},
		{"mirror and raidz", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [mirror, /dev/sdb, /dev/sdc, raidz, /dev/sdd, /dev/sde]}}`, want{"targets[2].zpool.vdevs[3]", "mixes a 2-device mirror with a 2-device raidz", ""}},
		{"target mounted on /", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}, mountPoint: /}`, want{"targets[2].mountPoint", "is the root directory", ""}},
		{"mount point with ..", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb]}, mountPoint: /lustre/lfs1/../lfs1/ost1}`, want{"targets[2].mountPoint", "is not a clean absolute path", ""}},
		{"client mount point with //", servers + `
clients: {nodes: [c1], mountPoint: //mnt/lfs1}`, want{"clients.mountPoint", "is not a clean absolute path", ""}},
		{"provisioner root with .", base + `
provisioner: {enabled: true, root: /mnt/lfs1/./vols}`, want{"provisioner.root", "is not a clean absolute path", ""}},
		{"DRBD node name too long", base + `
  - {type: ost, index: 1, nodes: [s5, n` + strings.Repeat("x", 63) + `], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}`, want{"targets[2].nodes[1]", "has 64 characters: DRBD's resource file", ""}},
		{"node name with an empty label", base + `
  - {type: ost, index: 1, nodes: [s5.-x], zpool: {vdevs: [/dev/sdb]}}`, want{"targets[2].nodes[0]", `"s5.-x" is not valid`, ""}},
		{"node facts keyed by a bad name", base + `
nodes: {"s1..x": {address: 10.0.0.9}}`, want{"nodes.s1..x", "is not a valid name here", ""}},
		{"pool property name, after other keys", base + `
  - {type: ost, index: 1, nodes: [s5], zpool: {vdevs: [/dev/sdb], properties: {Ashift: "12"}}}
lnet: {networks: ["tcp(eth0)"]}`, want{"targets[2].zpool.properties.Ashift", `"Ashift" is not a valid name here`, ""}},
		{"label prefix with an empty label", base + `
labelPrefix: example..com`, want{"labelPrefix", "is not valid", ""}},
		{"unknown LNet network type", base + `
lnet: {networks: ["eth0(eth0)"]}`, want{"lnet.networks[0]", "is not valid", ""}},
		{"LNet network number too large", base + `
lnet: {networks: ["tcp65536(eth0)"]}`, want{"lnet.networks[0]", "network number 65536 is above LNet's 65535", ""}},
		{"NID on no LNet network", base + `
nodes: {s1: {nids: ["10.0.0.1@ib0"]}}`, want{"nodes.s1.nids[0]", `"ib0" is not an LNet network`, ""}},
		{"NID with a bad IPv4 address", base + `
nodes: {s1: {nids: ["10.0.0.256@o2ib"]}}`, want{"nodes.s1.nids[0]", "neither an IPv4 address nor a host name", ""}},
		{"NID with the unspecified address", base + `
nodes: {s1: {nids: ["0.0.0.0@tcp"]}}`, want{"nodes.s1.nids[0]", "the unspecified address, which other nodes cannot reach", ""}},
		{"NID with a word on a numeric network", base + `
nodes: {s1: {nids: ["abc@kfi"]}}`, want{"nodes.s1.nids[0]", "the address on a kfi network is a number", ""}},
		{"NID of two nodes", base + `
nodes: {s1: {nids: ["10.0.0.1@o2ib"]}, s3: {nids: ["10.0.0.1@o2ib0"]}}`, want{"nodes.s3.nids[0]", "NID 10.0.0.1@o2ib is also node s1's", "nodes.s1.nids[0]"}},
		{"external MGS NID on no network", `
external: {mgsNids: ["10.0.0.1@tcp", "10.0.0.2@tcp,10.1.0.2@ethernet"], fsname: scratch}
clients: {nodes: [c1]}`, want{"external.mgsNids[1]", `"ethernet" is not an LNet network`, ""}},
		{"address of two nodes", base + `
nodes: {s1: {address: 10.0.0.1}, s4: {address: 10.0.0.1}}`, want{"nodes.s4.address", "address 10.0.0.1 is also node s1's", "nodes.s1.address"}},
		{"loopback address", base + `
nodes: {s1: {address: 127.0.0.2}}`, want{"nodes.s1.address", "127.0.0.2 is a loopback address", ""}},
		{"multicast address", base + `
nodes: {s1: {address: 239.1.1.1}}`, want{"nodes.s1.address", "is a multicast address", ""}},
		{"broadcast address", base + `
nodes: {s1: {address: 255.255.255.255}}`, want{"nodes.s1.address", "is the broadcast address", ""}},
		{"quantity with a wrong suffix", base + `
resources: {client: {limits: {memory: 1GB}}}`, want{"resources.client.limits.memory", `"1GB" is not a Kubernetes quantity`, ""}},
		{"cpu quantity that is a word", base + `
resources: {csi: {requests: {cpu: half}}}`, want{"resources.csi.requests.cpu", `"half" is not a Kubernetes quantity`, ""}},
		{"negative quantity", base + `
resources: {drbd: {requests: {cpu: -100m}}}`, want{"resources.drbd.requests.cpu", "-100m is negative", ""}},
		{"memory in millibytes", base + `
resources: {drbd: {requests: {memory: 64m}}}`, want{"resources.drbd.requests.memory", "64m is a fraction of a byte", ""}},
		{"request above limit", base + `
resources: {target: {requests: {cpu: "2"}, limits: {cpu: 1500m}}}`, want{"resources.target.requests.cpu", "request 2 is above the limit 1500m", "resources.target.limits.cpu"}},
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
		"what the host tools take": `
fsname: tools
labelPrefix: lustre.example.com
nodes:
  s1: {address: 10.0.0.1, nids: ["10.0.0.1@tcp", "10.1.0.1@o2ib1", "s1.example.com@tcp"]}
  s2: {address: 10.0.0.2, nids: ["0x1f@kfi", "42@gni"]}
  s3.rack-1.example.com: {nids: ["10.0.0.3@tcp"]}
lnet: {networks: ["tcp(eth0)", "o2ib1(ib0)", "kfi(cxi0)", "gni(ipogif0)", "gip65535(eth1)", "ptlf(eth2)"]}
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: {s1: /dev/disk/by-id/wwn-0x5000c500a1b2c3d4, s2: /dev/disk/by-path/pci-0000:00:1f.2-ata-1}}}
  - {type: ost, index: 0, nodes: [s3.rack-1.example.com], zpool: {name: Pool_1.a:b-c, vdevs: [raidz2, /dev/sdb, /dev/sdc, /dev/sdd, raidz2, /dev/sde, /dev/sdf, /dev/sdg]}}
  - {type: ost, index: 1, nodes: [s3.rack-1.example.com], zpool: {name: logs, vdevs: [mirror, /dev/sdh, /dev/sdi, mirror, /dev/sdj, /dev/sdk]}, mountPoint: /lustre/tools/ost1}
  - {type: ost, index: 2, nodes: [s3.rack-1.example.com], zpool: {name: amirror, vdevs: [/dev/sdl, /dev/sdm]}}
clients: {enabled: true, nodes: [c1], mountPoint: /mnt/tools}
provisioner: {enabled: true, root: /mnt/tools/volumes}
resources: {target: {requests: {cpu: 0.5, memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}, drbd: {requests: {memory: "67108864"}}}`,
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
	t.Parallel()
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
	t.Parallel()
	docs := []string{"", "null", "[]", "42", "targets: 3", "targets: [3, null, {}]", "targets: [{drbd: 3}]",
		"targets: [{drbd: {disk: [1]}}]", "nodes: [1]", "clients: null", "fsname: {a: b}", "targets: [{nodes: [[]]}]",
		"a: 1\na: 2", "? [a, b]\n: c\n? [a, b]\n: d", "x: &a [1]\ny: *a\nz: *a", "<<: {a: 1}\n<<: {b: 2}", ":", "{",
		"resources: {target: {requests: {cpu: [1]}}}", "resources: 3", "resources: {target: {limits: {memory: null}}}",
		"nodes: {s1: {nids: ['@', 'a@', '@tcp', '1@tcp@tcp', '0x@gni', '99999999999@kfi']}}",
		"targets: [{zpool: {vdevs: [raidz, mirror, raidz2]}}]", "lnet: {networks: ['tcp(', '(eth0)', 'tcp99999999999999999999(eth0)']}",
		strings.Repeat("[", 5000) + strings.Repeat("]", 5000)}
	for _, d := range docs {
		if _, _, err := CheckDocument([]byte(d)); err != nil {
			continue // a parse error is an I/O-class error, reported as such
		}
		vals, err := Parse([]byte(d))
		if err != nil {
			continue
		}
		if _, _, err := Validate(vals); err != nil {
			t.Fatalf("%q: %v", d, err)
		}
	}
}

// The document itself: keys given twice, nothing at all, a list or a
// scalar at the top level. Each is named exactly; anchors, aliases and
// merge keys are no duplicates.
func TestDocumentProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc, file string
		want            []string // first lines of the problems, in order
		empty           bool
	}{
		{"empty", "", "", nil, true},
		{"comments only", "# nothing yet\n\n", "", nil, true},
		{"null", "~\n", "", nil, true},
		{"list", "- fsname: lfs1\n", "", []string{"top level must be a mapping of values, got a list"}, false},
		{"number", "42\n", "", []string{"top level must be a mapping of values, got a number"}, false},
		{"string", "fsname lfs1\n", "", []string{"top level must be a mapping of values, got a string"}, false},
		{"boolean", "true\n", "", []string{"top level must be a mapping of values, got a boolean"}, false},
		{"named file", "[]\n", "b.yaml", []string{"top level of b.yaml must be a mapping of values, got a list"}, false},
		{"top-level key twice", "fsname: a\nclients: {}\nfsname: b\n", "",
			[]string{"fsname: is given twice, on lines 1 and 3: YAML keeps only the last one, silently"}, false},
		{"nested in a list", "targets:\n  - {type: mdt}\n  - type: ost\n    nodes: [s1]\n    nodes: [s2]\n", "b.yaml",
			[]string{"targets[1].nodes: is given twice, on lines 4 and 5 of b.yaml: YAML keeps only the last one, silently"}, false},
		{"three times, two problems", "lnet:\n  networks: []\n  networks: []\n  networks: []\n", "",
			[]string{"lnet.networks: is given twice, on lines 2 and 3: YAML keeps only the last one, silently",
				"lnet.networks: is given twice, on lines 2 and 4: YAML keeps only the last one, silently"}, false},
		{"anchors, aliases and merge keys", "d: &d {minor: 0, port: 7788}\ntargets:\n  - drbd: {<<: *d, port: 7789}\n  - drbd: *d\n", "", nil, false},
		{"syntax error is Parse's", "a: [\n", "", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps, empty := DocumentProblems([]byte(c.doc), c.file)
			var got []string
			for _, p := range ps {
				got = append(got, strings.SplitN(p.String(), "\n", 2)[0])
				if p.Hint == "" {
					t.Errorf("no fix: %v", p)
				}
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") || empty != c.empty {
				t.Fatalf("got %q empty=%v, want %q empty=%v", got, empty, c.want, c.empty)
			}
		})
	}
	if _, ps, err := CheckDocument(nil); err != nil || len(ps) != 1 || !strings.HasPrefix(ps[0].String(), "values file is empty: ") {
		t.Fatalf("empty document: err=%v problems:\n%v", err, ps)
	}
}

// External mode: the effective name and the MGS NIDs reach the plan; no
// targets, no server labels.
func TestExternalPlan(t *testing.T) {
	t.Parallel()
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
