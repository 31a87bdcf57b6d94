package zfs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

const resFile = `resource r0 {
  on s1 { device /dev/drbd0 minor 0; disk /dev/sdb; address 10.0.0.1:7788; meta-disk internal; }
  on s2 { device /dev/drbd0 minor 0; disk /dev/sdb; address 10.0.0.2:7788; meta-disk internal; }
}
`

var testPool = Pool{Name: "p0", Device: "/dev/drbd0", Properties: map[string]string{"ashift": "12"}}

// primaryPair returns a world where r0 is synced with s1 Primary. The raw
// commands stand in for the drbd package, which has its own tests.
func primaryPair(t *testing.T, sig string) *hostsim.World {
	t.Helper()
	w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD9, "s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if sig != "" {
		if err := w.SetSignature("s1", "/dev/sdb", sig); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, n := range []string{"s1", "s2"} {
		steps := []host.Cmd{
			{Name: "tee", Args: []string{"/etc/drbd.d/r0.res"}, Stdin: []byte(resFile)},
			host.Command("drbdadm", "create-md", "--force", "r0"),
			host.Command("drbdadm", "up", "r0"),
		}
		for _, c := range steps {
			if _, err := w.Host(n).Run(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := EnsureHostID(ctx, w.Host(n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := host.Run(ctx, w.Host("s1"), "drbdadm", "primary", "--force", "r0"); err != nil {
		t.Fatal(err)
	}
	return w
}

func logged(t *testing.T, w *hostsim.World, prefix string) []string {
	t.Helper()
	out, err := w.Ran("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEnsureHostID(t *testing.T) {
	t.Parallel()
	w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD84, "s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := map[string]bool{}
	for _, n := range []string{"s1", "s2"} {
		for i, want := range []bool{true, false} {
			created, err := EnsureHostID(ctx, w.Host(n))
			if err != nil || created != want {
				t.Fatalf("%s run %d: created=%v err=%v", n, i, created, err)
			}
		}
		res, err := host.Run(ctx, w.Host(n), "hostid")
		if err != nil {
			t.Fatal(err)
		}
		ids[res.Stdout] = true
	}
	if len(ids) != 2 {
		t.Fatalf("hostids not unique: %v", ids)
	}
	if got := logged(t, w, "zgenhostid"); len(got) != 2 {
		t.Fatalf("zgenhostid ran %v", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		p    Pool
		want string
	}{
		{"ok", testPool, ""},
		{"backing disk", Pool{Name: "p0", Device: "/dev/sdb"}, "not a DRBD device"},
		{"name", Pool{Name: "mirror1", Device: "/dev/drbd0"}, "pool name"},
		{"fixed property", Pool{Name: "p0", Device: "/dev/drbd0", Properties: map[string]string{"multihost": "off"}}, "fixed"},
		{"property injection", Pool{Name: "p0", Device: "/dev/drbd0", Properties: map[string]string{"ashift": "12 -f"}}, "bad property"},
	}
	for _, tc := range cases {
		err := tc.p.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCreateImportExport(t *testing.T) {
	t.Parallel()
	w := primaryPair(t, "")
	ctx := context.Background()
	s1, s2 := w.Host("s1"), w.Host("s2")
	if _, err := Import(ctx, s1, testPool); !errors.Is(err, ErrNoPool) {
		t.Fatalf("import before create: %v", err)
	}
	if err := Create(ctx, s1, testPool); err != nil {
		t.Fatal(err)
	}
	if err := Create(ctx, s1, testPool); err == nil {
		t.Fatal("second create succeeded: the device is no longer blank")
	}
	if imported, err := Import(ctx, s1, testPool); err != nil || imported {
		t.Fatalf("import of an imported pool: %v %v", imported, err)
	}
	// A DRBD pool: no multihost protection (Pool.Multihost), no cache file.
	for prop, want := range map[string]string{"multihost": "off", "cachefile": "none"} {
		res, err := host.Run(ctx, s1, "zpool", "get", "-H", "-o", "value", prop, "p0")
		if err != nil || strings.TrimSpace(res.Stdout) != want {
			t.Fatalf("%s = %q, %v", prop, res.Stdout, err)
		}
	}
	if err := Export(ctx, s1, "p0"); err != nil {
		t.Fatal(err)
	}
	if err := Export(ctx, s1, "p0"); err != nil {
		t.Fatalf("second export: %v", err)
	}
	for _, c := range []host.Cmd{host.Command("drbdadm", "secondary", "r0")} {
		if _, err := s1.Run(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := host.Run(ctx, s2, "drbdadm", "primary", "r0"); err != nil {
		t.Fatal(err)
	}
	if imported, err := Import(ctx, s2, testPool); err != nil || !imported {
		t.Fatalf("import on the peer after a clean export: %v %v", imported, err)
	}
	for _, c := range logged(t, w, "zpool import") {
		if !strings.Contains(c, "-d /dev/drbd0") || strings.Contains(c, " -f") {
			t.Fatalf("import not through the DRBD device or forced: %s", c)
		}
	}
}

func TestImportAfterCrashIsNotForced(t *testing.T) {
	t.Parallel()
	w := primaryPair(t, "")
	ctx := context.Background()
	if err := Create(ctx, w.Host("s1"), testPool); err != nil {
		t.Fatal(err)
	}
	if err := w.Crash("s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Run(ctx, w.Host("s2"), "drbdadm", "primary", "r0"); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, w.Host("s2"), testPool); !errors.Is(err, ErrPreviouslyInUse) {
		t.Fatalf("import of a pool s1 never exported: %v", err)
	}
	if got := logged(t, w, "zpool import -f"); len(got) != 0 {
		t.Fatalf("forced: %v", got)
	}
}

func TestCreateRefusesSignatures(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{hostsim.SigExt4, hostsim.SigXFS, hostsim.SigZFSMember} {
		t.Run(sig, func(t *testing.T) {
			w := primaryPair(t, sig)
			err := Create(context.Background(), w.Host("s1"), testPool)
			var nb *host.NotBlankError
			if !errors.As(err, &nb) {
				t.Fatalf("Create on %s: %v", sig, err)
			}
			if got := logged(t, w, "zpool create"); len(got) != 0 {
				t.Fatalf("zpool create issued: %v", got)
			}
		})
	}
}

func TestCreateRefusesFailedProbe(t *testing.T) {
	t.Parallel()
	w := primaryPair(t, "")
	if err := w.FailNext("s1", hostsim.Match{Args: []string{"blkid", "-p", "/dev/drbd0"}}, host.Result{ExitCode: 4}); err != nil {
		t.Fatal(err)
	}
	if err := Create(context.Background(), w.Host("s1"), testPool); err == nil {
		t.Fatal("created a pool although blkid failed")
	}
	if got := logged(t, w, "zpool create"); len(got) != 0 {
		t.Fatalf("zpool create issued: %v", got)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	w := primaryPair(t, "")
	ctx := context.Background()
	if err := Create(ctx, w.Host("s1"), testPool); err != nil {
		t.Fatal(err)
	}
	if _, exists, err := Get(ctx, w.Host("s1"), "p0/x", "lustre:svname"); err != nil || exists {
		t.Fatalf("missing dataset: %v %v", exists, err)
	}
	if v, exists, err := Get(ctx, w.Host("s1"), "p0", "lustre:svname"); err != nil || !exists || v != "-" {
		t.Fatalf("unset property: %q %v %v", v, exists, err)
	}
	if err := w.FailNext("s1", hostsim.Match{Args: []string{"zfs", "get"}}, host.Result{Stderr: "internal error\n", ExitCode: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Get(ctx, w.Host("s1"), "p0/x", "lustre:svname"); err == nil {
		t.Fatal("a failed zfs get was taken as an answer")
	}
}

// GetSpace reads exact bytes; a dataset takes space from the pool's
// available and adds to its parent's used.
func TestGetSpace(t *testing.T) {
	t.Parallel()
	w := primaryPair(t, "")
	ctx := context.Background()
	run := w.Host("s1")
	if err := Create(ctx, run, testPool); err != nil {
		t.Fatal(err)
	}
	root, err := GetSpace(ctx, run, "p0")
	if err != nil || root.Used == 0 || root.Available == 0 || root.Used+root.Available >= 1<<30 {
		t.Fatalf("space of a new pool on a 1 GiB disk: %+v %v", root, err)
	}
	if _, err := host.Run(ctx, run, "zfs", "create", "p0/ost0"); err != nil {
		t.Fatal(err)
	}
	ost, err := GetSpace(ctx, run, "p0/ost0")
	if err != nil || ost.Available >= root.Available || ost.Used == 0 {
		t.Fatalf("space of p0/ost0: %+v %v (the pool had %+v)", ost, err, root)
	}
	if after, err := GetSpace(ctx, run, "p0"); err != nil || after.Used < root.Used+ost.Used || after.Available != ost.Available {
		t.Fatalf("p0 after a child: %+v %v, want used at least %d and the child's available %d", after, err, root.Used+ost.Used, ost.Available)
	}
	if _, err := GetSpace(ctx, run, "p0/none"); err == nil {
		t.Fatal("space of a missing dataset: no error")
	}
	for _, out := range []string{"", "used\t1\n", "used\t1\navailable\t1.2G\n", "used 1\navailable 2\n", "used\t1\navailable\t2\nreferenced\t3\n", "used\t-1\navailable\t2\n"} {
		if s, err := parseSpace("p0", out); err == nil {
			t.Errorf("parseSpace(%q) = %+v, want an error", out, s)
		}
	}
	if s, err := parseSpace("p0", "available\t2\nused\t1\n"); err != nil || s != (Space{Used: 1, Available: 2}) {
		t.Errorf("parseSpace in either order: %+v %v", s, err)
	}
}

// A pool without DRBD (a single-node target) lives on its vdevs: creation
// proves every device blank and import searches only those devices.
func TestPoolOnVdevs(t *testing.T) {
	t.Parallel()
	w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD9, "s1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := w.Host("s1")
	if _, err := EnsureHostID(ctx, run); err != nil {
		t.Fatal(err)
	}
	p := Pool{Name: "local", Vdevs: []string{"/dev/sdb"}}
	if _, err := Import(ctx, run, p); !errors.Is(err, ErrNoPool) {
		t.Fatalf("import before create: %v, want ErrNoPool", err)
	}
	if err := Create(ctx, run, p); err != nil {
		t.Fatal(err)
	}
	if err := Export(ctx, run, "local"); err != nil {
		t.Fatal(err)
	}
	if imported, err := Import(ctx, run, p); err != nil || !imported {
		t.Fatalf("import: %v %v", imported, err)
	}
	imports := logged(t, w, "zpool import")
	for _, c := range imports {
		if !strings.Contains(c, "-d /dev/sdb") || strings.Contains(c, " -f") {
			t.Errorf("import not limited to the pool's device or forced: %s", c)
		}
	}
	// Given the whole disk, ZFS put the pool in partition 1 (real
	// kernels, make e2e-vm): the import must search it.
	if last := imports[len(imports)-1]; !strings.Contains(last, "-d /dev/sdb1") {
		t.Errorf("import after export does not search partition 1: %s", last)
	}
	// Disks another host may see keep multihost protection.
	if res, err := host.Run(ctx, run, "zpool", "get", "-H", "-o", "value", "multihost", "local"); err != nil || res.Stdout != "on\n" {
		t.Fatalf("multihost of a pool on disks = %q, %v", res.Stdout, err)
	}
	// The same device now carries the pool: a second create must refuse.
	if err := Create(ctx, run, Pool{Name: "other", Vdevs: []string{"/dev/sdb"}}); err == nil {
		t.Fatal("create over an existing pool's device succeeded")
	}
}

func TestPoolVdevValidation(t *testing.T) {
	t.Parallel()
	bad := map[string]Pool{
		"device and vdevs": {Name: "p", Device: "/dev/drbd0", Vdevs: []string{"/dev/sdb"}},
		"drbd among vdevs": {Name: "p", Vdevs: []string{"/dev/drbd1"}},
		"keyword only":     {Name: "p", Vdevs: []string{"mirror"}},
		"relative path":    {Name: "p", Vdevs: []string{"sdb"}},
		"neither":          {Name: "p"},
	}
	for name, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: %+v validated", name, p)
		}
	}
	good := Pool{Name: "p", Vdevs: []string{"mirror", "/dev/sdb", "/dev/sdc"}}
	if err := good.Validate(); err != nil {
		t.Errorf("mirror pool rejected: %v", err)
	}
	if got := good.Devices(); len(got) != 2 || got[0] != "/dev/sdb" || got[1] != "/dev/sdc" {
		t.Errorf("Devices() = %v", got)
	}
}

// ZFS 2.1 refuses an import of a pool another host holds (MMP) in two
// wordings, with and without -f (make e2e-vm); both mean the same.
func TestImportedElsewhereBothWordings(t *testing.T) {
	t.Parallel()
	for name, stderr := range map[string]string{
		"without -f": "cannot import 'p0': pool is imported on s2 (hostid: 0x53372bdc)\nExport the pool on the other system, then run 'zpool import'.\n",
		"with -f":    "cannot import 'p0': pool is imported on host 's2' (hostid=53372bdc).\nExport the pool on the other system, then run 'zpool import'.\n",
	} {
		t.Run(name, func(t *testing.T) {
			w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD84, "s1")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := EnsureHostID(ctx, w.Host("s1")); err != nil {
				t.Fatal(err)
			}
			if err := w.FailNext("s1", hostsim.Match{Args: []string{"zpool", "import"}}, host.Result{Stderr: stderr, ExitCode: 1}); err != nil {
				t.Fatal(err)
			}
			_, err = ForceImport(ctx, w.Host("s1"), Pool{Name: "p0", Vdevs: []string{"/dev/sdb"}})
			if !errors.Is(err, ErrImportedElsewhere) {
				t.Fatalf("import refused by MMP: %v, want ErrImportedElsewhere", err)
			}
		})
	}
}

// A pool on a partition: a blank partition answers `blkid -p` with its
// place in the table only (PART_ENTRY_*, exit 0, util-linux on a real
// kernel), which is blank; a partition holding ext4 is not. ZFS does not
// repartition a partition: the pool is on it, and the import finds it
// there.
func TestPoolOnAPartition(t *testing.T) {
	t.Parallel()
	w, err := hostsim.OpenPair(t.TempDir(), hostsim.DRBD9, "s1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := w.Host("s1")
	if _, err := EnsureHostID(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		if err := w.AddPartition("s1", "/dev/sdb", n, 256<<20); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SetSignature("s1", "/dev/sdb2", hostsim.SigExt4); err != nil {
		t.Fatal(err)
	}
	p := Pool{Name: "part", Vdevs: []string{"/dev/sdb1"}}
	if err := Create(ctx, run, p); err != nil {
		t.Fatalf("pool on a blank partition: %v", err)
	}
	if err := Export(ctx, run, "part"); err != nil {
		t.Fatal(err)
	}
	if imported, err := Import(ctx, run, p); err != nil || !imported {
		t.Fatalf("import from the partition: %v %v", imported, err)
	}
	var nb *host.NotBlankError
	for _, dev := range []string{"/dev/sdb2", "/dev/sdb"} {
		err := Create(ctx, run, Pool{Name: "other", Vdevs: []string{dev}})
		if !errors.As(err, &nb) {
			t.Errorf("create on %s: %v, want a NotBlankError", dev, err)
		}
	}
	if got := logged(t, w, "zpool create"); len(got) != 1 || !strings.HasSuffix(got[0], " part /dev/sdb1") {
		t.Fatalf("zpool create ran %v, want once on /dev/sdb1", got)
	}
}

// A DRBD pool created with multihost=on (by a release before
// Pool.Multihost) loses it once imported, in one `zpool set`; a second
// call changes nothing. A takeover of it then waits for no MMP activity
// check.
func TestEnsureMultihostTurnsItOffOnDRBDPools(t *testing.T) {
	t.Parallel()
	w := primaryPair(t, "")
	ctx := context.Background()
	s1 := w.Host("s1")
	if _, err := host.Run(ctx, s1, "zpool", "create", "-o", "multihost=on", "-o", "cachefile=none", "-O", "canmount=off", "p0", "/dev/drbd0"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		if changed, err := EnsureMultihost(ctx, s1, testPool); err != nil || changed != want {
			t.Fatalf("call %d: changed=%v %v, want %v", i+1, changed, err, want)
		}
	}
	if got := logged(t, w, "zpool set"); len(got) != 1 || got[0] != "s1: zpool set multihost=off p0" {
		t.Fatalf("zpool set runs: %v", got)
	}
	if err := w.Crash("s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Run(ctx, w.Host("s2"), "drbdadm", "primary", "r0"); err != nil {
		t.Fatal(err)
	}
	// An MMP activity check (21 s at ZFS's defaults, hostsim/timing.go)
	// would outlast this bound and interrupt the import.
	bounded, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if imported, err := ForceImport(bounded, w.Host("s2"), testPool); err != nil || !imported {
		t.Fatalf("takeover import: %v %v", imported, err)
	}
}
