package hostsim

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

const testRes = `resource r0 {
  net {
    protocol C;
    after-sb-0pri disconnect;
  }
  disk {
    fencing resource-only;
  }
  on s1 {
    device /dev/drbd0 minor 0;
    disk /dev/sdb;
    address 10.0.0.1:7788;
    meta-disk internal;
  }
  on s2 {
    device /dev/drbd0 minor 0;
    disk /dev/sdb;
    address 10.0.0.2:7788;
    meta-disk internal;
  }
}
`

// unfencedRes is testRes without fencing (DRBD's default, dont-care): a
// disconnected Secondary may promote, as in the split brain vm-facts.md
// shows. Under resource-only without a fence-peer handler real DRBD
// refuses that (TestResourceOnlyWithoutHandlerRefusesPromotion).
var unfencedRes = strings.Replace(testRes, "  disk {\n    fencing resource-only;\n  }\n", "", 1)

// unfenced rewrites r0's file on both hosts without fencing; the resource
// must not be up yet (the kernel takes the file at up).
func unfenced(t *testing.T, w *World) {
	t.Helper()
	for _, n := range []string{"s1", "s2"} {
		mustRun(t, w, n, host.Cmd{Name: "tee", Args: []string{"/etc/drbd.d/r0.res"}, Stdin: []byte(unfencedRes)})
	}
}

// newPair builds two hosts s1 and s2 with a blank /dev/sdb each and the
// r0 resource file written on both.
func newPair(t *testing.T, version string) *World {
	t.Helper()
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.SetDRBDVersion(version))
	for i, name := range []string{"s1", "s2"} {
		must(t, w.AddHost(name, HostConfig{Interfaces: map[string]string{"eth1": "10.0.0." + string(rune('1'+i))}}))
		must(t, w.AddDisk(name, "/dev/sdb", 1<<30))
		mustRun(t, w, name, host.Cmd{Name: "tee", Args: []string{"/etc/drbd.d/r0.res"}, Stdin: []byte(testRes)})
	}
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(w *World, hostName string, c host.Cmd) (host.Result, error) {
	return w.Host(hostName).Run(context.Background(), c)
}

func mustRun(t *testing.T, w *World, hostName string, c host.Cmd) host.Result {
	t.Helper()
	res, err := run(w, hostName, c)
	if err != nil {
		t.Fatalf("%s on %s: %v", c, hostName, err)
	}
	return res
}

func cmd(argv ...string) host.Cmd { return host.Command(argv[0], argv[1:]...) }

// steps runs commands that must all succeed.
func steps(t *testing.T, w *World, hostName string, argvs ...[]string) {
	t.Helper()
	for _, a := range argvs {
		mustRun(t, w, hostName, cmd(a...))
	}
}

var (
	createMD  = []string{"drbdadm", "create-md", "--force", "r0"}
	up        = []string{"drbdadm", "up", "r0"}
	forcePrim = []string{"drbdadm", "primary", "--force", "r0"}
	primary   = []string{"drbdadm", "primary", "r0"}
	secondary = []string{"drbdadm", "secondary", "r0"}
	hostid    = []string{"zgenhostid"}
	mkpool    = []string{"zpool", "create", "-o", "multihost=on", "-o", "cachefile=none", "-O", "canmount=off", "p0", "/dev/drbd0"}
	importP   = []string{"zpool", "import", "-d", "/dev/drbd0", "-o", "cachefile=none", "p0"}
	exportP   = []string{"zpool", "export", "p0"}
)

// syncedPair brings r0 up on both hosts with s1 Primary and UpToDate.
func syncedPair(t *testing.T, version string) *World {
	t.Helper()
	return syncUp(t, newPair(t, version))
}

// syncedUnfencedPair is syncedPair without fencing.
func syncedUnfencedPair(t *testing.T, version string) *World {
	t.Helper()
	w := newPair(t, version)
	unfenced(t, w)
	return syncUp(t, w)
}

func syncUp(t *testing.T, w *World) *World {
	t.Helper()
	for _, n := range []string{"s1", "s2"} {
		steps(t, w, n, createMD, up, hostid)
	}
	steps(t, w, "s1", forcePrim)
	return w
}

type tcase struct {
	name     string
	version  string
	setup    func(t *testing.T, w *World)
	host     string
	cmd      host.Cmd
	exit     int
	stdout   string // substring; "" = must be empty when exact is set
	stderr   string
	exactOut bool
}

func runCases(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.version
			if v == "" {
				v = DRBD84
			}
			w := newPair(t, v)
			if tc.setup != nil {
				tc.setup(t, w)
			}
			h := tc.host
			if h == "" {
				h = "s1"
			}
			res, err := run(w, h, tc.cmd)
			checkResult(t, res, err, tc.exit, tc.stdout, tc.stderr, tc.exactOut)
		})
	}
}

func sig(s string) func(t *testing.T, w *World) {
	return func(t *testing.T, w *World) { must(t, w.SetSignature("s1", "/dev/sdb", s)) }
}

// TestProbes covers the device probes the blank proof relies on. blkid's
// exit codes follow blkid(8): 2 when nothing is identified (also for a
// missing device, with a message), 8 for an ambivalent low-level probe.
func TestProbes(t *testing.T) {
	t.Parallel()
	runCases(t, []tcase{
		{name: "wipefs blank prints nothing", cmd: cmd("wipefs", "--no-act", "/dev/sdb"), exactOut: true},
		{name: "wipefs ext4 prints header and row", setup: sig(SigExt4), cmd: cmd("wipefs", "--no-act", "/dev/sdb"), stdout: "DEVICE OFFSET"},
		{name: "wipefs sees drbd metadata", setup: sig(SigDRBD), cmd: cmd("wipefs", "--no-act", "/dev/sdb"), stdout: " drbd "},
		{name: "wipefs missing device", cmd: cmd("wipefs", "--no-act", "/dev/sdx"), exit: 1, stderr: "wipefs: error: /dev/sdx: probing initialization failed: No such file or directory"},
		{name: "wipefs never erases", cmd: cmd("wipefs", "-a", "/dev/sdb"), exit: 1},
		{name: "blkid blank exits 2 silently", cmd: cmd("blkid", "-p", "/dev/sdb"), exit: 2, exactOut: true},
		{name: "blkid missing device also exits 2 but says why", cmd: cmd("blkid", "-p", "/dev/sdx"), exit: 2, stderr: "No such file or directory"},
		{name: "blkid xfs", setup: sig(SigXFS), cmd: cmd("blkid", "-p", "/dev/sdb"), stdout: `TYPE="xfs"`},
		{name: "blkid zfs label", setup: sig(SigZFSMember), cmd: cmd("blkid", "-p", "/dev/sdb"), stdout: `TYPE="zfs_member"`},
		{name: "test -e of a DRBD device that is down", cmd: cmd("test", "-e", "/dev/drbd0"), exit: 1},
		{name: "unknown command", cmd: cmd("sh", "-c", "true"), exit: 127, stderr: "sh: command not found"},
		{name: "cat missing file", cmd: cmd("cat", "/etc/hostid"), exit: 1, stderr: "No such file or directory"},
		{name: "hostid without /etc/hostid falls back", cmd: cmd("hostid"), stdout: "007f0101"},
		{name: "zgenhostid refuses to overwrite", setup: func(t *testing.T, w *World) { steps(t, w, "s1", hostid) }, cmd: cmd("zgenhostid"), exit: 1, stderr: "exists"},
		{name: "modprobe of a missing module", setup: func(t *testing.T, w *World) {
			must(t, w.AddHost("c1", HostConfig{Modules: []string{"zfs", "spl"}}))
		}, host: "c1", cmd: cmd("modprobe", "lustre"), exit: 1, stderr: "modprobe: FATAL: Module lustre not found in directory /lib/modules/"},
		{name: "lsmod lists loaded modules", setup: func(t *testing.T, w *World) { steps(t, w, "s1", []string{"modprobe", "osd_zfs"}) }, cmd: cmd("lsmod"), stdout: "osd_zfs"},
		{name: "rmmod refuses a module in use", setup: func(t *testing.T, w *World) { steps(t, w, "s1", []string{"modprobe", "lustre"}) }, cmd: cmd("rmmod", "lnet"), exit: 1, stderr: "is in use"},
		{name: "tee into a missing directory", cmd: host.Cmd{Name: "tee", Args: []string{"/nope/x"}, Stdin: []byte("x")}, exit: 1},
	})
}

// TestDRBDCommands: status formats per host-facts.md ("8.4: cs:Connected
// ro:Primary/Secondary ds:UpToDate/UpToDate"), the refusal to promote
// beside a connected Primary per vm-facts.md ("State change failed: (-1)
// Multiple primaries not allowed by config" (exit 11)), and create-md's
// confirmation prompt per host-facts.md ("on a device with a filesystem it
// asks before overwriting").
func TestDRBDCommands(t *testing.T) {
	t.Parallel()
	upBoth := func(t *testing.T, w *World) {
		for _, n := range []string{"s1", "s2"} {
			steps(t, w, n, createMD, up)
		}
	}
	runCases(t, []tcase{
		// Real answer (make e2e-vm, ci/vm/HOSTSIM-CORRECTIONS.md): exit 1.
		{name: "dump-md on a blank disk", cmd: cmd("drbdadm", "dump-md", "r0"), exit: 1, stderr: "No valid meta data found"},
		{name: "dump-md on a blank disk, DRBD 9", version: DRBD9, cmd: cmd("drbdadm", "dump-md", "r0"), exit: 1, stderr: "No valid meta data found"},
		{name: "dump-md with metadata", setup: func(t *testing.T, w *World) { steps(t, w, "s1", createMD) }, cmd: cmd("drbdadm", "dump-md", "r0"), stdout: "# DRBD meta data dump"},
		// Real answer (make e2e-vm): the attached resource holds the disk.
		{name: "dump-md while up", setup: upBoth, cmd: cmd("drbdadm", "dump-md", "r0"), exit: 20, stdout: "Operation canceled.", stderr: "open(/dev/sdb) failed: Device or resource busy\n\nExclusive open failed. Do it anyways?"},
		{name: "create-md without force on ext4 asks and cancels", setup: sig(SigExt4), cmd: cmd("drbdadm", "create-md", "r0"), exit: 1, stdout: "Found ext4 filesystem"},
		{name: "create-md without force over metadata asks and cancels", setup: sig(SigDRBD), cmd: cmd("drbdadm", "create-md", "r0"), exit: 1, stdout: "Do you really want to overwrite the existing meta-data?"},
		{name: "create-md does not notice a ZFS label (why the steps probe first)", setup: sig(SigZFSMember), cmd: cmd("drbdadm", "create-md", "r0"), stdout: "New drbd meta data block successfully created."},
		{name: "unknown resource", cmd: cmd("drbdadm", "up", "r9"), exit: 10, stderr: "'r9' not defined in your config (for this host)."},
		{name: "up without metadata", cmd: cmd("drbdadm", "up", "r0"), exit: 255, stderr: "No valid meta data found"},
		{name: "up twice", setup: upBoth, cmd: cmd("drbdadm", "up", "r0"), exit: 10, stderr: "(161) Minor or volume exists already"},
		{name: "role of a down resource 8.4", cmd: cmd("drbdadm", "role", "r0"), exit: 10, stderr: "Device minor not allocated"},
		{name: "role of a down resource 9", version: DRBD9, cmd: cmd("drbdadm", "role", "r0"), exit: 10, stderr: "r0: No such resource"},
		{name: "role 8.4", setup: upBoth, cmd: cmd("drbdadm", "role", "r0"), stdout: "Secondary/Secondary\n", exactOut: true},
		{name: "role 9", version: DRBD9, setup: upBoth, cmd: cmd("drbdadm", "role", "r0"), stdout: "Secondary\n", exactOut: true},
		{name: "dstate just created", setup: upBoth, cmd: cmd("drbdadm", "dstate", "r0"), stdout: "Inconsistent/Inconsistent\n", exactOut: true},
		{name: "cstate waiting 8.4", setup: func(t *testing.T, w *World) { steps(t, w, "s1", createMD, up) }, cmd: cmd("drbdadm", "cstate", "r0"), stdout: "WFConnection\n", exactOut: true},
		{name: "cstate waiting 9", version: DRBD9, setup: func(t *testing.T, w *World) { steps(t, w, "s1", createMD, up) }, cmd: cmd("drbdadm", "cstate", "r0"), stdout: "Connecting\n", exactOut: true},
		{name: "status 8.4 as in host-facts", setup: func(t *testing.T, w *World) { upBoth(t, w); steps(t, w, "s1", forcePrim) }, cmd: cmd("drbdadm", "status", "r0"), stdout: "cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate"},
		{name: "status 9", version: DRBD9, setup: func(t *testing.T, w *World) { upBoth(t, w); steps(t, w, "s1", forcePrim) }, cmd: cmd("drbdadm", "status", "r0"), stdout: "r0 role:Primary\n  disk:UpToDate\n  s2 role:Secondary\n    peer-disk:UpToDate\n"},
		{name: "get-gi just created", setup: func(t *testing.T, w *World) { steps(t, w, "s1", createMD) }, cmd: cmd("drbdadm", "get-gi", "r0"), stdout: "0000000000000004:"},
		{name: "primary without UpToDate data", setup: upBoth, cmd: cmd("drbdadm", "primary", "r0"), exit: 17, stderr: "(-2) Need access to UpToDate data"},
		{name: "primary while the peer is Primary (vm-facts)", setup: func(t *testing.T, w *World) { upBoth(t, w); steps(t, w, "s1", forcePrim) }, host: "s2", cmd: cmd("drbdadm", "primary", "r0"), exit: 11, stderr: "State change failed: (-1) Multiple primaries not allowed by config"},
		{name: "down while a pool is imported", setup: func(t *testing.T, w *World) {
			upBoth(t, w)
			steps(t, w, "s1", forcePrim, hostid, mkpool)
		}, cmd: cmd("drbdadm", "down", "r0"), exit: 11, stderr: "(-12) Device is held open by someone"},
		{name: "secondary while a pool is imported", setup: func(t *testing.T, w *World) {
			upBoth(t, w)
			steps(t, w, "s1", forcePrim, hostid, mkpool)
		}, cmd: cmd("drbdadm", "secondary", "r0"), exit: 11, stderr: "(-12) Device is held open by someone"},
	})
}

// TestZFSCommands: import through /dev/drbdN, multihost and cachefile per
// host-facts.md ("Import with -o cachefile=none and -d /dev/drbdN ... with
// internal DRBD metadata the backing disk carries the same ZFS labels"),
// and the unclean import that needs -f after a crash (vm-facts.md: the
// survivor's `zpool import -f`).
func TestZFSCommands(t *testing.T) {
	t.Parallel()
	prim := func(t *testing.T, w *World) {
		for _, n := range []string{"s1", "s2"} {
			steps(t, w, n, createMD, up, hostid)
		}
		steps(t, w, "s1", forcePrim)
	}
	withPool := func(t *testing.T, w *World) { prim(t, w); steps(t, w, "s1", mkpool) }
	runCases(t, []tcase{
		{name: "create on a Secondary", setup: prim, host: "s2", cmd: cmd(mkpool...), exit: 1, stderr: "cannot open '/dev/drbd0': Wrong medium type"},
		{name: "create on the backing disk DRBD holds", setup: prim, cmd: cmd("zpool", "create", "p0", "/dev/sdb"), exit: 1, stderr: "Device or resource busy"},
		{name: "create without hostid", setup: func(t *testing.T, w *World) {
			for _, n := range []string{"s1", "s2"} {
				steps(t, w, n, createMD, up)
			}
			steps(t, w, "s1", forcePrim)
		}, cmd: cmd(mkpool...), exit: 1, stderr: "requires a non-zero system hostid"},
		{name: "create over a filesystem", setup: func(t *testing.T, w *World) { sig(SigExt4)(t, w); prim(t, w) }, cmd: cmd(mkpool...), exit: 1, stderr: "/dev/drbd0 contains a filesystem of type 'ext4'"},
		{name: "create over an old pool", setup: func(t *testing.T, w *World) { sig(SigZFSMember)(t, w); prim(t, w) }, cmd: cmd(mkpool...), exit: 1, stderr: "is part of exported pool 'oldpool'"},
		{name: "list", setup: withPool, cmd: cmd("zpool", "list", "-H", "-o", "name"), stdout: "p0\n", exactOut: true},
		{name: "list absent", setup: prim, cmd: cmd("zpool", "list", "-H", "-o", "name", "p0"), exit: 1, stderr: "cannot open 'p0': no such pool"},
		{name: "get multihost", setup: withPool, cmd: cmd("zpool", "get", "-H", "-o", "value", "multihost", "p0"), stdout: "on\n", exactOut: true},
		{name: "get cachefile", setup: withPool, cmd: cmd("zpool", "get", "-H", "-o", "value", "cachefile", "p0"), stdout: "none\n", exactOut: true},
		{name: "import list mode", setup: func(t *testing.T, w *World) { withPool(t, w); steps(t, w, "s1", exportP) }, cmd: cmd("zpool", "import"), stdout: "   pool: p0\n"},
		{name: "import nothing", setup: prim, cmd: cmd("zpool", "import"), exit: 1, stderr: "no pools available to import"},
		{name: "import no such pool", setup: prim, cmd: cmd(importP...), exit: 1, stderr: "cannot import 'p0': no such pool available"},
		{name: "import twice", setup: withPool, cmd: cmd(importP...), exit: 1, stderr: "a pool with that name already exists"},
		{name: "import of an uncleanly released pool elsewhere", setup: func(t *testing.T, w *World) {
			unfenced(t, w)
			withPool(t, w)
			must(t, w.Crash("s1"))
			steps(t, w, "s2", primary)
		}, host: "s2", cmd: cmd(importP...), exit: 1, stderr: "pool was previously in use from another system.\nLast accessed by s1"},
		// 1 GiB disk, DRBD 8.4 internal metadata 68 KiB: 31 metaslabs of
		// 32 MiB, less 128 MiB slop, less the root dataset's 96768 bytes.
		{name: "zfs get space", setup: withPool, cmd: cmd("zfs", "get", "-Hp", "-o", "property,value", "used,available", "p0"), stdout: "used\t96768\navailable\t905872896\n", exactOut: true},
		{name: "zfs get space rounded", setup: withPool, cmd: cmd("zfs", "get", "-H", "-o", "value", "used", "p0"), exit: 2, stderr: "without -p"},
		{name: "zfs get two properties", setup: withPool, cmd: cmd("zfs", "get", "-H", "-o", "value", "canmount,lustre:x", "p0"), stdout: "off\n-\n", exactOut: true},
		{name: "zfs get unset user property", setup: func(t *testing.T, w *World) { withPool(t, w); steps(t, w, "s1", []string{"zfs", "create", "p0/mdt0"}) }, cmd: cmd("zfs", "get", "-H", "-o", "value", "lustre:svname", "p0/mdt0"), stdout: "-\n", exactOut: true},
		{name: "zfs get missing dataset", setup: withPool, cmd: cmd("zfs", "get", "-H", "-o", "value", "lustre:svname", "p0/mdt0"), exit: 1, stderr: "cannot open 'p0/mdt0': dataset does not exist"},
		{name: "zfs create twice", setup: func(t *testing.T, w *World) { withPool(t, w); steps(t, w, "s1", []string{"zfs", "create", "p0/x"}) }, cmd: cmd("zfs", "create", "p0/x"), exit: 1, stderr: "dataset already exists"},
		{name: "backing disk shows the pool label and DRBD metadata", setup: func(t *testing.T, w *World) {
			withPool(t, w)
			steps(t, w, "s1", exportP, secondary, []string{"drbdadm", "down", "r0"})
		}, cmd: cmd("wipefs", "--no-act", "/dev/sdb"), stdout: "zfs_member"},
	})
}

// lustreReady builds a pool on s1 with LNet and modules up.
func lustreReady(t *testing.T, w *World) {
	for _, n := range []string{"s1", "s2"} {
		steps(t, w, n, createMD, up, hostid, []string{"modprobe", "lnet"}, []string{"lnetctl", "lnet", "configure"},
			[]string{"lnetctl", "net", "add", "--net", "tcp0", "--if", "eth1"}, []string{"modprobe", "lustre"}, []string{"modprobe", "osd_zfs"},
			[]string{"mkdir", "-p", "/mnt/mdt0"}, []string{"mkdir", "-p", "/mnt/lfs1"})
	}
	steps(t, w, "s1", forcePrim, mkpool)
}

// What lnetctl 2.17 prints (shared/reference/lustre-facts.md): libyaml's
// dash and five blanks, no interfaces without -v; an NI added twice is
// errno -17 on stderr, exit 234.
const (
	netShowS1 = `net:
-     net type: lo
      local NI(s):
      -     nid: 0@lo
            status: up
-     net type: tcp
      local NI(s):
      -     nid: 10.0.0.1@tcp
            status: up
`
	netAddExists = "---\nadd:\n-     net:\n      errno: -17\n      descr: ! \"cannot add LNet NI\"\n...\n"
)

// TestLustreModuleStartsLNet: loading lustre while LNet is not configured
// brings it up from the module defaults, tcp on the first interface, as
// `lnetctl lnet configure --all` does (Lustre 2.17 on a real kernel);
// LNet configured first keeps exactly its NIs.
func TestLustreModuleStartsLNet(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		before []string
		nids   string
	}{
		"unconfigured":     {nil, "10.0.5.1@tcp\n"},
		"configured first": {[]string{"lnetctl lnet configure", "lnetctl net add --net tcp0 --if eth1"}, "10.0.6.1@tcp\n"},
	} {
		t.Run(name, func(t *testing.T) {
			w, err := Open(t.TempDir())
			must(t, err)
			must(t, w.AddHost("n1", HostConfig{Interfaces: map[string]string{"eth0": "10.0.5.1", "eth1": "10.0.6.1"}}))
			steps(t, w, "n1", []string{"modprobe", "lnet"})
			for _, c := range tc.before {
				steps(t, w, "n1", strings.Fields(c))
			}
			steps(t, w, "n1", []string{"modprobe", "lustre"})
			if res := mustRun(t, w, "n1", cmd("lctl", "list_nids")); res.Stdout != tc.nids {
				t.Fatalf("NIDs %q, want %q", res.Stdout, tc.nids)
			}
		})
	}
	w, err := Open(t.TempDir())
	must(t, err)
	must(t, w.AddHost("n1", HostConfig{Interfaces: map[string]string{"eth0": "10.0.5.1"}}))
	steps(t, w, "n1", []string{"modprobe", "osd_zfs"})
	res, err := run(w, "n1", cmd("lnetctl", "net", "add", "--net", "tcp0", "--if", "eth0"))
	checkResult(t, res, err, 234, "", netAddExists, false)
}

var mkfsMDT = []string{"mkfs.lustre", "--backfstype=zfs", "--fsname=lfs1", "--index=0", "--mgs", "--mdt", "--servicenode=10.0.0.1@tcp", "--servicenode=10.0.0.2@tcp", "p0/mdt0"}

// TestLustreCommands: mkfs.lustre's dataset properties and the svname
// probe per host-facts.md ("zfs get -H -o value lustre:svname POOL/DATASET
// tells whether a dataset is already a target"), LNet commands per the same
// file, and umount's "target is busy" (exit 32, umount(8)).
func TestLustreCommands(t *testing.T) {
	t.Parallel()
	formatted := func(t *testing.T, w *World) { lustreReady(t, w); steps(t, w, "s1", mkfsMDT) }
	mounted := func(t *testing.T, w *World) {
		formatted(t, w)
		steps(t, w, "s1", []string{"mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0"})
	}
	runCases(t, []tcase{
		{name: "lctl list_nids", setup: lustreReady, cmd: cmd("lctl", "list_nids"), stdout: "10.0.0.1@tcp\n", exactOut: true},
		{name: "lctl without LNet", cmd: cmd("lctl", "list_nids"), exit: 1, stderr: "IOC_LIBCFS_GET_NI error 19"},
		{name: "net show", setup: lustreReady, cmd: cmd("lnetctl", "net", "show"), stdout: netShowS1, exactOut: true},
		{name: "net add twice", setup: lustreReady, cmd: cmd("lnetctl", "net", "add", "--net", "tcp0", "--if", "eth1"), exit: 234, stderr: netAddExists},
		{name: "net add twice, tcp for tcp0", setup: lustreReady, cmd: cmd("lnetctl", "net", "add", "--net", "tcp", "--if", "eth1"), exit: 234, stderr: netAddExists},
		{name: "net add missing interface", setup: lustreReady, cmd: cmd("lnetctl", "net", "add", "--net", "tcp1", "--if", "ib0"), exit: 234, stderr: "errno: -19"},
		{name: "net show before the lnet module", cmd: cmd("lnetctl", "net", "show"), exit: 234, stderr: "Writer error: failed to resolve Netlink family id\n"},
		{name: "net show with LNet not configured", setup: func(t *testing.T, w *World) { steps(t, w, "s1", []string{"modprobe", "lnet"}) },
			cmd: cmd("lnetctl", "net", "show"), exit: 234, stderr: `descr: ! "Unspecific failure"`},
		{name: "mkfs sets target properties", setup: formatted, cmd: cmd("zfs", "get", "-H", "-o", "value", "lustre:svname", "p0/mdt0"), stdout: "lfs1:MDT0000\n", exactOut: true},
		{name: "first mount registers the label", setup: mounted, cmd: cmd("zfs", "get", "-H", "-o", "value", "lustre:svname", "p0/mdt0"), stdout: "lfs1-MDT0000\n", exactOut: true},
		{name: "registered flags keep the 0x20 bit", setup: mounted, cmd: cmd("zfs", "get", "-H", "-o", "value", "lustre:flags", "p0/mdt0"), stdout: "4133\n", exactOut: true},
		{name: "mkfs refuses an existing dataset", setup: formatted, cmd: cmd(mkfsMDT...), exit: 1, stderr: "dataset already exists"},
		{name: "mkfs needs an MGS", setup: lustreReady, cmd: cmd("mkfs.lustre", "--backfstype=zfs", "--fsname=lfs1", "--index=0", "--ost", "p0/ost0"), exit: 22, stderr: "Must specify --mgs or --mgsnode"},
		{name: "mkfs bad fsname", setup: lustreReady, cmd: cmd("mkfs.lustre", "--backfstype=zfs", "--fsname=waytoolongname", "--index=0", "--mgs", "--mdt", "p0/mdt0"), exit: 22},
		{name: "tunefs dryrun", setup: formatted, cmd: cmd("tunefs.lustre", "--dryrun", "p0/mdt0"), stdout: "Target:     lfs1:MDT0000"},
		{name: "tunefs dryrun unformatted", setup: lustreReady, cmd: cmd("tunefs.lustre", "--dryrun", "p0/mdt0"), exit: 19, stderr: "has not been formatted with mkfs.lustre"},
		{name: "mount needs modules", setup: func(t *testing.T, w *World) {
			for _, n := range []string{"s1", "s2"} {
				steps(t, w, n, createMD, up, hostid)
			}
			steps(t, w, "s1", forcePrim, mkpool, mkfsMDT, []string{"mkdir", "-p", "/mnt/mdt0"})
		}, cmd: cmd("mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0"), exit: 19, stderr: "Are the lustre modules loaded?"},
		{name: "mount target", setup: mounted, cmd: cmd("cat", "/proc/self/mountinfo"), stdout: " / /mnt/mdt0 rw,relatime - lustre p0/mdt0 rw,svname=lfs1-MDT0000,mgs,osd=osd-zfs\n"},
		{name: "export while mounted", setup: mounted, cmd: cmd(exportP...), exit: 1, stderr: "cannot export 'p0': pool is busy"},
		{name: "client mount", setup: mounted, host: "s2", cmd: cmd("mount", "-t", "lustre", "-o", "flock", "10.0.0.1@tcp:10.0.0.2@tcp:/lfs1", "/mnt/lfs1")},
		{name: "client mount of an unknown filesystem", setup: mounted, host: "s2", cmd: cmd("mount", "-t", "lustre", "10.0.0.1@tcp:/other", "/mnt/lfs1"), exit: 2, stderr: "Is the filesystem name correct?"},
		{name: "client mount without MGS", setup: formatted, host: "s2", cmd: cmd("mount", "-t", "lustre", "10.0.0.1@tcp:/lfs1", "/mnt/lfs1"), exit: 5, stderr: "Is the MGS running?"},
		{name: "umount busy", setup: func(t *testing.T, w *World) { mounted(t, w); must(t, w.SetBusy("s1", "/mnt/mdt0", true)) }, cmd: cmd("umount", "/mnt/mdt0"), exit: 32, stderr: "umount: /mnt/mdt0: target is busy."},
		{name: "umount not mounted", setup: formatted, cmd: cmd("umount", "/mnt/mdt0"), exit: 32, stderr: "not mounted"},
	})
}

// TestReplicationAndSplitBrain follows vm-facts.md: a cut link lets the
// Secondary promote; both write; on reconnect DRBD refuses to pick a side.
func TestReplicationAndSplitBrain(t *testing.T) {
	t.Parallel()
	for _, v := range []string{DRBD84, DRBD9} {
		t.Run(v, func(t *testing.T) {
			w := syncedUnfencedPair(t, v)
			steps(t, w, "s1", mkpool)
			// The peer's copy already carries the pool (protocol C).
			steps(t, w, "s1", exportP, secondary)
			steps(t, w, "s2", primary, importP, exportP, secondary)
			steps(t, w, "s1", primary, importP)
			must(t, w.CutLink("s1", "s2"))
			steps(t, w, "s1", []string{"zfs", "create", "p0/a"})
			steps(t, w, "s2", primary)
			res, err := run(w, "s2", cmd(importP...))
			if !host.ExitedWith(err, 1, "previously in use from another system") {
				t.Fatalf("unclean import without -f: %+v %v", res, err)
			}
			steps(t, w, "s2", []string{"zpool", "import", "-f", "-d", "/dev/drbd0", "p0"})
			must(t, w.HealLink("s1", "s2"))
			for _, n := range []string{"s1", "s2"} {
				_, cs, _, _, _, err := w.DRBDState(n, "r0")
				must(t, err)
				if cs != "StandAlone" {
					t.Fatalf("%s: cstate %s after split brain, want StandAlone", n, cs)
				}
				out := mustRun(t, w, n, cmd("dmesg"))
				if !strings.Contains(out.Stdout, "Split-Brain detected but unresolved, dropping connection!") {
					t.Fatalf("%s: no split brain message in %q", n, out.Stdout)
				}
			}
		})
	}
}

func TestResyncAfterFailover(t *testing.T) {
	t.Parallel()
	w := syncedUnfencedPair(t, DRBD9)
	must(t, w.SetSyncPolls(2))
	steps(t, w, "s1", mkpool)
	must(t, w.Crash("s1"))
	steps(t, w, "s2", primary, []string{"zpool", "import", "-f", "-d", "/dev/drbd0", "p0"}, []string{"zfs", "create", "p0/new"})
	must(t, w.Boot("s1"))
	steps(t, w, "s1", up)
	out := mustRun(t, w, "s1", cmd("drbdadm", "dstate", "r0"))
	if out.Stdout != "Inconsistent/UpToDate\n" {
		t.Fatalf("returning node during resync: %q", out.Stdout)
	}
	mustRun(t, w, "s1", cmd("drbdadm", "dstate", "r0"))
	if out := mustRun(t, w, "s1", cmd("drbdadm", "dstate", "r0")); out.Stdout != "UpToDate/UpToDate\n" {
		t.Fatalf("after resync: %q", out.Stdout)
	}
	s, err := w.Summary()
	must(t, err)
	if strings.Count(s, "dataset p0/new") != 2 {
		t.Fatalf("the returning node did not receive the new dataset:\n%s", s)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	must(t, w.FailNext("s1", Match{Args: []string{"wipefs"}}, host.Result{Stderr: "wipefs: boom\n", ExitCode: 1}))
	if _, err := run(w, "s1", cmd("wipefs", "--no-act", "/dev/sdb")); !host.ExitedWith(err, 1, "boom") {
		t.Fatalf("FailNext did not fire: %v", err)
	}
	mustRun(t, w, "s1", cmd("wipefs", "--no-act", "/dev/sdb"))

	must(t, w.FailAlways("s1", Match{Args: []string{"blkid"}, Skip: 1}, host.Result{ExitCode: 4}))
	if _, err := run(w, "s1", cmd("blkid", "-p", "/dev/sdb")); !host.ExitedWith(err, 2, "") {
		t.Fatalf("Skip ignored: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := run(w, "s1", cmd("blkid", "-p", "/dev/sdb")); !host.ExitedWith(err, 4, "") {
			t.Fatalf("FailAlways did not fire: %v", err)
		}
	}

	must(t, w.Hang("s1", Match{Args: []string{"zpool"}}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := w.Host("s1").Run(ctx, cmd("zpool", "import")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hang: %v", err)
	}

	steps(t, w, "s1", createMD, up)
	must(t, w.CrashAt("s1", Match{Args: []string{"drbdadm", "primary"}}, After))
	if _, err := run(w, "s1", cmd(forcePrim...)); !errors.Is(err, ErrHostDown) {
		t.Fatalf("CrashAt: %v", err)
	}
	if _, err := run(w, "s1", cmd("true")); !errors.Is(err, ErrHostDown) {
		t.Fatalf("crashed host ran a command: %v", err)
	}
	must(t, w.Boot("s1"))
	if _, err := run(w, "s1", cmd("test", "-e", "/dev/drbd0")); !host.ExitedWith(err, 1, "") {
		t.Fatalf("DRBD survived a crash: %v", err)
	}
	out := mustRun(t, w, "s1", cmd("drbdadm", "get-gi", "r0"))
	if strings.HasPrefix(out.Stdout, "0000000000000004") {
		t.Fatal("a command that ran before the crash lost its effect on disk")
	}
	log, err := w.Log()
	must(t, err)
	var faults []string
	for _, e := range log {
		if e.Fault != "" {
			faults = append(faults, e.Fault)
		}
	}
	if strings.Join(faults, ",") != "fail,fail,fail,hang,crash-after,down" {
		t.Fatalf("faults logged: %v", faults)
	}
}

// TestSharedAcrossProcesses opens the same directory twice, as two pods
// would, and runs commands from both concurrently.
func TestSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := Open(dir)
	must(t, err)
	must(t, a.AddHost("s1", HostConfig{}))
	b, err := Open(dir)
	must(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(2)
		for _, w := range []*World{a, b} {
			go func() {
				defer wg.Done()
				_, _ = w.Host("s1").Run(context.Background(), host.Command("mkdir", "-p", "/d"))
			}()
		}
	}
	wg.Wait()
	log, err := b.Log()
	must(t, err)
	if len(log) != 20 {
		t.Fatalf("log has %d entries, want 20", len(log))
	}
	if _, err := a.Host("nope").Run(context.Background(), host.Command("true")); err == nil {
		t.Fatal("unknown host ran a command")
	}
}

// drbdadm outdate: refused while connected or on a Primary; on a
// disconnected Secondary it marks the data Outdated, which then refuses
// promotion (what a fence-peer handler leaves the peer in).
func TestOutdate(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD84)
	if _, err := run(w, "s2", cmd("drbdadm", "outdate", "r0")); !host.ExitedWith(err, 11, "Refusing to be Outdated while Connected") {
		t.Fatalf("outdate while connected: %v", err)
	}
	must(t, w.CutLink("s1", "s2"))
	if _, err := run(w, "s1", cmd("drbdadm", "outdate", "r0")); !host.ExitedWith(err, 17, "") {
		t.Fatalf("outdate on the Primary: %v", err)
	}
	mustRun(t, w, "s2", cmd("drbdadm", "outdate", "r0"))
	if out := mustRun(t, w, "s2", cmd("drbdadm", "dstate", "r0")); out.Stdout != "Outdated/DUnknown\n" {
		t.Fatalf("dstate after outdate: %q", out.Stdout)
	}
	if _, err := run(w, "s2", cmd("drbdadm", "primary", "r0")); !host.ExitedWith(err, 17, "Need access to UpToDate data") {
		t.Fatalf("promote of Outdated data: %v", err)
	}
}

// checkResult asserts a table case's outcome: the exit code (0: no error),
// stdout and stderr containing the expected text, or stdout exactly.
func checkResult(t *testing.T, res host.Result, err error, exit int, stdout, stderr string, exact bool) {
	t.Helper()
	if exit == 0 && err != nil {
		t.Fatalf("unexpected error %v (stderr %q)", err, res.Stderr)
	}
	if exit != 0 && !host.ExitedWith(err, exit, "") {
		t.Fatalf("want exit %d, got %+v err %v", exit, res, err)
	}
	if exact && res.Stdout != stdout {
		t.Fatalf("stdout %q, want exactly %q", res.Stdout, stdout)
	}
	if !strings.Contains(res.Stdout, stdout) || !strings.Contains(res.Stderr, stderr) {
		t.Fatalf("got stdout %q stderr %q; want %q / %q", res.Stdout, res.Stderr, stdout, stderr)
	}
}
