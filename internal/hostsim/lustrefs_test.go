package hostsim

import (
	"context"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/mountinfo"
)

// smallWorld is a filesystem lfs1 served by mds1 and mounted on c1 and
// c2 at /mnt/lfs1, with project quotas enforced for root unless told
// otherwise.
func smallWorld(t *testing.T, enforce bool) *World {
	t.Helper()
	w, err := Open(t.TempDir())
	must(t, err)
	must(t, w.BuildSmallLustre(SmallLustre{Clients: []string{"c1", "c2"}, EnforceProjectQuota: enforce}))
	return w
}

// lcase is one command on a client of a small filesystem. setup runs
// first (on c1 unless it names another host).
type lcase struct {
	name     string
	noQuota  bool // leave project quota enforcement off
	setup    [][]string
	extra    func(t *testing.T, w *World)
	host     string
	cmd      []string
	exit     int
	stdout   string
	stderr   string
	exactOut bool
}

func runLustreCases(t *testing.T, cases []lcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := smallWorld(t, !tc.noQuota)
			steps(t, w, "c1", tc.setup...)
			if tc.extra != nil {
				tc.extra(t, w)
			}
			h := tc.host
			if h == "" {
				h = "c1"
			}
			res, err := run(w, h, cmd(tc.cmd...))
			checkResult(t, res, err, tc.exit, tc.stdout, tc.stderr, tc.exactOut)
		})
	}
}

var (
	mkVol      = []string{"mkdir", "-p", "/mnt/lfs1/csi/vol"}
	projVol    = []string{"lfs", "project", "-p", "1001", "-s", "/mnt/lfs1/csi/vol"}
	limitVol   = []string{"lfs", "setquota", "-p", "1001", "-b", "0", "-B", "1M", "-i", "0", "-I", "0", "/mnt/lfs1"}
	quotaVol   = []string{"lfs", "quota", "-p", "1001", "/mnt/lfs1"}
	targetDir  = []string{"mkdir", "-p", "/var/lib/kubelet/pods/p1/volumes/v"}
	bindVol    = []string{"mount", "--bind", "/mnt/lfs1/csi/vol", "/var/lib/kubelet/pods/p1/volumes/v"}
	quotaTitle = "Disk quotas for prj 1001 (pid 1001):\n     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace\n"
)

func dd(of string, bs string, count string) []string {
	return []string{"dd", "if=/dev/zero", "of=" + of, "bs=" + bs, "count=" + count}
}

// TestLustreNamespace: the namespace is the filesystem's, seen alike from
// every client; coreutils answer as on any filesystem.
func TestLustreNamespace(t *testing.T) {
	t.Parallel()
	runLustreCases(t, []lcase{
		{name: "mkdir on one client is seen on another", setup: [][]string{mkVol}, host: "c2", cmd: []string{"test", "-d", "/mnt/lfs1/csi/vol"}},
		{name: "not on the client's root filesystem", setup: [][]string{mkVol}, extra: func(t *testing.T, w *World) {
			steps(t, w, "c1", []string{"umount", "/mnt/lfs1"})
		}, cmd: []string{"test", "-e", "/mnt/lfs1/csi"}, exit: 1},
		{name: "mkdir without -p needs the parent", cmd: []string{"mkdir", "/mnt/lfs1/a/b"}, exit: 1, stderr: "mkdir: cannot create directory '/mnt/lfs1/a/b': No such file or directory"},
		{name: "mkdir existing", setup: [][]string{mkVol}, cmd: []string{"mkdir", "/mnt/lfs1/csi/vol"}, exit: 1, stderr: "File exists"},
		{name: "tee then cat on another client", extra: func(t *testing.T, w *World) {
			mustRun(t, w, "c1", host.Cmd{Name: "tee", Args: []string{"/mnt/lfs1/state.json"}, Stdin: []byte("{}\n")})
		}, host: "c2", cmd: []string{"cat", "/mnt/lfs1/state.json"}, stdout: "{}\n", exactOut: true},
		{name: "cat a dd file", setup: [][]string{mkVol, dd("/mnt/lfs1/csi/vol/f", "4K", "1")}, cmd: []string{"cat", "/mnt/lfs1/csi/vol/f"}, exit: 1, stderr: "not their content"},
		{name: "rm dir without -r", setup: [][]string{mkVol}, cmd: []string{"rm", "-f", "/mnt/lfs1/csi/vol"}, exit: 1, stderr: "rm: cannot remove '/mnt/lfs1/csi/vol': Is a directory"},
		{name: "rm -rf a tree", setup: [][]string{mkVol, dd("/mnt/lfs1/csi/vol/f", "4K", "1")}, extra: func(t *testing.T, w *World) {
			steps(t, w, "c1", []string{"rm", "-rf", "/mnt/lfs1/csi"})
		}, host: "c2", cmd: []string{"test", "-e", "/mnt/lfs1/csi"}, exit: 1},
		{name: "rm -rf / refused", cmd: []string{"rm", "-rf", "/"}, exit: 1, stderr: "dangerous to operate recursively"},
		{name: "rmdir not empty", setup: [][]string{mkVol}, cmd: []string{"rmdir", "/mnt/lfs1/csi"}, exit: 1, stderr: "rmdir: failed to remove '/mnt/lfs1/csi': Directory not empty"},
		{name: "rmdir a file", setup: [][]string{mkVol, dd("/mnt/lfs1/csi/vol/f", "4K", "1")}, cmd: []string{"rmdir", "/mnt/lfs1/csi/vol/f"}, exit: 1, stderr: "Not a directory"},
		{name: "rmdir the mount point", cmd: []string{"rmdir", "/mnt/lfs1"}, exit: 1, stderr: "Device or resource busy"},
		{name: "mv a directory aside", setup: [][]string{mkVol, projVol, {"mkdir", "-p", "/mnt/lfs1/csi/.archive"}, {"mv", "/mnt/lfs1/csi/vol", "/mnt/lfs1/csi/.archive/vol-1"}},
			cmd: []string{"lfs", "project", "-d", "/mnt/lfs1/csi/.archive/vol-1"}, stdout: " 1001 P /mnt/lfs1/csi/.archive/vol-1\n", exactOut: true},
		{name: "mv into a subdirectory of itself", setup: [][]string{mkVol}, cmd: []string{"mv", "/mnt/lfs1/csi", "/mnt/lfs1/csi/vol/x"}, exit: 1, stderr: "subdirectory of itself"},
		{name: "mv onto a missing parent", setup: [][]string{mkVol}, cmd: []string{"mv", "/mnt/lfs1/csi/vol", "/mnt/lfs1/nope/vol"}, exit: 1, stderr: "No such file or directory"},
		{name: "mv into another project's inherit directory takes its project", setup: [][]string{mkVol, projVol, {"mkdir", "/mnt/lfs1/other"}, {"lfs", "project", "-p", "7", "-s", "/mnt/lfs1/other"}, {"mv", "/mnt/lfs1/csi/vol", "/mnt/lfs1/other"}},
			cmd: []string{"lfs", "project", "-d", "/mnt/lfs1/other/vol"}, stdout: "    7 P /mnt/lfs1/other/vol\n", exactOut: true},
		{name: "metadata fails while MDT0 is down", extra: func(t *testing.T, w *World) {
			steps(t, w, "mds1", []string{"umount", "/mnt/mdt0"})
		}, cmd: mkVol, exit: 1, stderr: "Input/output error"},
		{name: "test says no while MDT0 is down", setup: [][]string{mkVol}, extra: func(t *testing.T, w *World) {
			steps(t, w, "mds1", []string{"umount", "/mnt/mdt0"})
		}, cmd: []string{"test", "-d", "/mnt/lfs1/csi/vol"}, exit: 1},
		{name: "the client mount is still in the mount table while MDT0 is down", extra: func(t *testing.T, w *World) {
			steps(t, w, "mds1", []string{"umount", "/mnt/mdt0"})
		}, cmd: []string{"cat", "/proc/self/mountinfo"}, stdout: " / /mnt/lfs1 rw,relatime - lustre 10.9.0.1@tcp:/lfs1 "},
		{name: "writes fail without an OST", setup: [][]string{mkVol}, extra: func(t *testing.T, w *World) {
			steps(t, w, "mds1", []string{"umount", "/mnt/ost0"})
		}, cmd: dd("/mnt/lfs1/csi/vol/f", "4K", "1"), exit: 1, stderr: "dd: error writing '/mnt/lfs1/csi/vol/f': Input/output error"},
		{name: "fileset mount shows the subdirectory", setup: [][]string{mkVol, {"mkdir", "-p", "/mnt/sub"}, {"mount", "-t", "lustre", "10.9.0.1@tcp:/lfs1/csi", "/mnt/sub"}},
			cmd: []string{"test", "-d", "/mnt/sub/vol"}},
		{name: "fileset mount of a missing directory", setup: [][]string{{"mkdir", "-p", "/mnt/sub"}}, cmd: []string{"mount", "-t", "lustre", "10.9.0.1@tcp:/lfs1/nope", "/mnt/sub"}, exit: 2, stderr: "No such file or directory"},
	})
}

// TestLustreProjectQuota: lfs project, setquota and quota as lfs.c and
// lfs_project.c print them; quota overrun is TestProjectQuotaOverrun's.
func TestLustreProjectQuota(t *testing.T) {
	t.Parallel()
	runLustreCases(t, []lcase{
		{name: "project -d", setup: [][]string{mkVol, projVol}, cmd: []string{"lfs", "project", "-d", "/mnt/lfs1/csi/vol"}, stdout: " 1001 P /mnt/lfs1/csi/vol\n", exactOut: true},
		{name: "project lists entries, new ones inherit", setup: [][]string{mkVol, projVol, {"mkdir", "/mnt/lfs1/csi/vol/d"}, dd("/mnt/lfs1/csi/vol/f", "4K", "1")},
			cmd: []string{"lfs", "project", "/mnt/lfs1/csi/vol"}, stdout: " 1001 P /mnt/lfs1/csi/vol/d\n 1001 P /mnt/lfs1/csi/vol/f\n", exactOut: true},
		{name: "without inherit new entries get project 0", setup: [][]string{mkVol, {"lfs", "project", "-p", "1001", "/mnt/lfs1/csi/vol"}, {"mkdir", "/mnt/lfs1/csi/vol/d"}},
			cmd: []string{"lfs", "project", "/mnt/lfs1/csi/vol"}, stdout: "    0 - /mnt/lfs1/csi/vol/d\n", exactOut: true},
		{name: "project -C clears", setup: [][]string{mkVol, projVol, {"lfs", "project", "-C", "/mnt/lfs1/csi/vol"}}, cmd: []string{"lfs", "project", "-d", "/mnt/lfs1/csi/vol"}, stdout: "    0 - /mnt/lfs1/csi/vol\n", exactOut: true},
		{name: "project of a missing path", cmd: []string{"lfs", "project", "-d", "/mnt/lfs1/nope"}, exit: 1, stderr: "lfs: failed to stat '/mnt/lfs1/nope': No such file or directory"},
		{name: "project outside Lustre", cmd: []string{"lfs", "project", "-p", "5", "-s", "/tmp"}, exit: 1, stderr: "lfs: failed to set xattr for '/tmp': Operation not supported"},
		{name: "project bad ID", setup: [][]string{mkVol}, cmd: []string{"lfs", "project", "-p", "x", "/mnt/lfs1/csi/vol"}, exit: 22, stderr: "invalid project ID"},
		{name: "project -C with -s", setup: [][]string{mkVol}, cmd: []string{"lfs", "project", "-C", "-s", "/mnt/lfs1/csi/vol"}, exit: 22},
		{name: "quota with no usage", cmd: quotaVol, stdout: quotaTitle + "      /mnt/lfs1       0       0       0       -       0       0       0       -\n", exactOut: true},
		{name: "quota of a volume", setup: [][]string{mkVol, projVol, limitVol, dd("/mnt/lfs1/csi/vol/f", "1K", "10")},
			cmd: quotaVol, stdout: quotaTitle + "      /mnt/lfs1      45       0    1024       -       2       0       0       -\n", exactOut: true},
		{name: "quota with a long path wraps", setup: [][]string{mkVol, projVol},
			cmd: []string{"lfs", "quota", "-p", "1001", "/mnt/lfs1/csi/vol"}, stdout: quotaTitle + "/mnt/lfs1/csi/vol\n                     33       0       0       -       1       0       0       -\n", exactOut: true},
		{name: "quota outside Lustre", cmd: []string{"lfs", "quota", "-p", "1001", "/tmp"}, exit: 19, stderr: "lfs quota: '/tmp' not on a mounted Lustre filesystem"},
		{name: "setquota keeps limits it is not given", setup: [][]string{{"lfs", "setquota", "-p", "1001", "-I", "100", "/mnt/lfs1"}, {"lfs", "setquota", "-p", "1001", "-B", "2G", "/mnt/lfs1"}},
			cmd: quotaVol, stdout: "      /mnt/lfs1       0       0 2097152       -       0       0     100       -\n"},
		{name: "setquota without a suffix is KiB", setup: [][]string{{"lfs", "setquota", "-p", "1001", "-B", "4096", "/mnt/lfs1"}}, cmd: quotaVol, stdout: "       0       0    4096       -"},
		{name: "setquota small limit warns", cmd: []string{"lfs", "setquota", "-p", "1001", "-B", "1000", "/mnt/lfs1"}, stderr: "block hardlimit '1000' smaller than minimum qunit size"},
		{name: "setquota root project", cmd: []string{"lfs", "setquota", "-p", "0", "-B", "1G", "/mnt/lfs1"}, exit: 1, stderr: "can't set quota for root usr/group/project."},
		{name: "setquota bad limit", cmd: []string{"lfs", "setquota", "-p", "1001", "-B", "10Q", "/mnt/lfs1"}, exit: 22, stderr: "invalid limit '10Q'"},
		{name: "setquota no limit", cmd: []string{"lfs", "setquota", "-p", "1001", "/mnt/lfs1"}, exit: 22, stderr: "at least one limit"},
		{name: "setquota outside Lustre", cmd: []string{"lfs", "setquota", "-p", "1001", "-B", "1G", "/tmp"}, exit: 19, stderr: "not on a mounted Lustre filesystem"},
		{name: "dd within the limit", setup: [][]string{mkVol, projVol, limitVol, dd("/mnt/lfs1/csi/vol/f", "1K", "900")},
			cmd: quotaVol, stdout: "      /mnt/lfs1     933       0    1024"},
		{name: "usage over the limit is starred", setup: [][]string{mkVol, projVol, dd("/mnt/lfs1/csi/vol/f", "1M", "2"), limitVol},
			cmd: quotaVol, stdout: "    2081*      0    1024"},
		{name: "not enforced unless enabled", noQuota: true, setup: [][]string{mkVol, projVol, limitVol}, cmd: dd("/mnt/lfs1/csi/vol/f", "1M", "2"), stderr: "2097152 bytes copied"},
		{name: "root is exempt without root_prj_enable", noQuota: true, setup: [][]string{mkVol, projVol, limitVol}, extra: func(t *testing.T, w *World) {
			steps(t, w, "mds1", []string{"lctl", "set_param", "-P", "osd-*.lfs1-*.quota_slave.enabled=p"})
		}, cmd: dd("/mnt/lfs1/csi/vol/f", "1M", "2"), stderr: "2097152 bytes copied"},
		{name: "inode hard limit", setup: [][]string{mkVol, projVol, {"lfs", "setquota", "-p", "1001", "-I", "2", "/mnt/lfs1"}, {"mkdir", "/mnt/lfs1/csi/vol/a"}},
			cmd: []string{"mkdir", "/mnt/lfs1/csi/vol/b"}, exit: 1, stderr: "mkdir: cannot create directory '/mnt/lfs1/csi/vol/b': Disk quota exceeded"},
		{name: "rm -rf returns the usage", setup: [][]string{mkVol, projVol, limitVol, dd("/mnt/lfs1/csi/vol/f", "1K", "10"), {"rm", "-rf", "/mnt/lfs1/csi/vol"}},
			cmd: quotaVol, stdout: "      /mnt/lfs1       0       0    1024       -       0"},
		{name: "quota bad ID", cmd: []string{"lfs", "quota", "-p", "-1", "/mnt/lfs1"}, exit: 22, stderr: "invalid project ID"},
		{name: "lfs subcommand not simulated", cmd: []string{"lfs", "df"}, exit: 22, stderr: "lfs: df is not simulated"},
		{name: "setquota of users not simulated", cmd: []string{"lfs", "setquota", "-u", "bob", "-B", "1G", "/mnt/lfs1"}, exit: 22, stderr: "invalid option -- 'u'"},
		{name: "dd usage", cmd: []string{"dd", "if=/dev/urandom", "of=/mnt/lfs1/f", "bs=1", "count=1"}, exit: 1, stderr: "only `dd if=/dev/zero"},
		{name: "dd outside Lustre", cmd: dd("/tmp/f", "1K", "1"), exit: 1, stderr: "only writes to a Lustre client mount"},
		{name: "dd into a missing directory", cmd: dd("/mnt/lfs1/nope/f", "1K", "1"), exit: 1, stderr: "dd: failed to open '/mnt/lfs1/nope/f': No such file or directory"},
		{name: "set_param -P away from the MGS", cmd: []string{"lctl", "set_param", "-P", "osd-*.lfs1-*.quota_slave.enabled=p"}, exit: 1, stderr: "must be run on the MGS"},
	})
}

// TestProjectQuotaOverrun pins what Lustre 2.17 did past a project's hard
// block limit (shared/reference/lustre-facts.md "Project quotas",
// ci/vm/HOSTSIM-CORRECTIONS.md L-quota; the model is cmdDd's): buffered
// writes succeed and the data is dropped unless fsync reports EIO; the
// write call fails with EDQUOT with O_DIRECT and once the project is known
// to be full.
func TestProjectQuotaOverrun(t *testing.T) {
	t.Parallel()
	const f = "/mnt/lfs1/csi/vol/f"
	vol := [][]string{mkVol, projVol, limitVol} // 1024 KiB, 33 KiB used
	vol8M := [][]string{mkVol, projVol, {"lfs", "setquota", "-p", "1001", "-B", "8M", "/mnt/lfs1"}}
	fsync := func(argv []string) []string { return append(argv, "conv=fsync") }
	direct := func(argv []string) []string { return append(argv, "oflag=direct") }
	usage := func(kib string) string { return "      /mnt/lfs1 " + kib }
	// fails runs a command that must fail, as a setup step.
	fails := func(argv ...[]string) func(t *testing.T, w *World) {
		return func(t *testing.T, w *World) {
			for _, a := range argv {
				if _, err := run(w, "c1", cmd(a...)); err == nil {
					t.Fatalf("%v succeeded", a)
				}
			}
		}
	}
	overrun := "dd: error writing '" + f + "': Disk quota exceeded\n1+0 records in\n0+0 records out\n0 bytes copied\n"
	runLustreCases(t, []lcase{
		// Fact: a buffered 2 MiB write into a 1024 KiB project: dd and sync
		// succeed, the usage stays 33 KiB.
		{name: "buffered write past the limit succeeds", setup: vol, cmd: dd(f, "1M", "2"),
			stderr: "2+0 records in\n2+0 records out\n2097152 bytes copied\n", exactOut: true},
		{name: "and sync succeeds", setup: append(vol, dd(f, "1M", "2")), cmd: []string{"sync"}},
		{name: "and its data was dropped", setup: append(vol, dd(f, "1M", "2"), []string{"sync"}), cmd: quotaVol, stdout: usage("     33       0    1024")},
		{name: "one 2 MiB record alike", setup: append(vol, dd(f, "2M", "1")), cmd: quotaVol, stdout: usage("     33       0    1024")},
		// Fact: with conv=fsync, `dd: fsync failed for '...': Input/output error`.
		{name: "fsync reports EIO", setup: vol, cmd: fsync(dd(f, "1M", "2")), exit: 1,
			stderr: "dd: fsync failed for '" + f + "': Input/output error\n2+0 records in\n2+0 records out\n2097152 bytes copied\n"},
		{name: "fsync after a buffered overrun still reports EIO", setup: append(vol, dd(f, "1M", "2")), cmd: fsync(dd(f, "1M", "2")), exit: 1,
			stderr: "dd: fsync failed for '" + f + "': Input/output error"},
		{name: "nothing accounted after the EIO", setup: vol, extra: fails(fsync(dd(f, "1M", "2"))), cmd: quotaVol, stdout: usage("     33       0    1024")},
		// Fact: after that, and with O_DIRECT: EDQUOT, 0+0 records out.
		{name: "after the EIO a write fails with EDQUOT", setup: vol, extra: fails(fsync(dd(f, "1M", "2"))), cmd: dd(f, "1M", "2"), exit: 1, stderr: overrun},
		{name: "also in another file", setup: vol, extra: fails(fsync(dd(f, "1M", "2"))), cmd: dd("/mnt/lfs1/csi/vol/g", "4K", "1"), exit: 1,
			stderr: "dd: error writing '/mnt/lfs1/csi/vol/g': Disk quota exceeded\n1+0 records in\n0+0 records out\n"},
		{name: "and from another client", setup: vol, extra: fails(fsync(dd(f, "1M", "2"))), host: "c2", cmd: dd(f, "4K", "1"), exit: 1, stderr: "Disk quota exceeded"},
		{name: "and with tee", setup: vol, extra: func(t *testing.T, w *World) {
			fails(fsync(dd(f, "1M", "2")))(t, w)
			if _, err := run(w, "c1", host.Cmd{Name: "tee", Args: []string{"/mnt/lfs1/csi/vol/t"}, Stdin: []byte("x\n")}); err == nil {
				t.Fatal("tee into a full project succeeded")
			}
		}, cmd: quotaVol, stdout: usage("     33       0    1024")},
		{name: "O_DIRECT past the limit fails with EDQUOT", setup: vol, cmd: direct(dd(f, "1M", "2")), exit: 1, stderr: overrun},
		{name: "O_DIRECT keeps the records that fit", setup: vol, cmd: direct(dd(f, "256K", "4")), exit: 1,
			stderr: "dd: error writing '" + f + "': Disk quota exceeded\n4+0 records in\n3+0 records out\n786432 bytes copied\n"},
		{name: "O_DIRECT within the limit", setup: vol, cmd: direct(dd(f, "256K", "3"))},
		// Fact: an 8192 KiB limit and a 16 MiB write: 8+0 records out, then
		// EDQUOT. The first 4 MiB RPC was taken, the second refused.
		{name: "8 MiB limit, 16 MiB write", setup: vol8M, cmd: dd(f, "1M", "16"), exit: 1,
			stderr: "dd: error writing '" + f + "': Disk quota exceeded\n9+0 records in\n8+0 records out\n8388608 bytes copied\n"},
		{name: "with conv=fsync alike: dd does not fsync after a write error", setup: vol8M, cmd: fsync(dd(f, "1M", "16")), exit: 1,
			stderr: "dd: error writing '" + f + "': Disk quota exceeded\n9+0 records in\n8+0 records out\n8388608 bytes copied\n"},
		{name: "the first RPC is accounted", setup: vol8M, extra: fails(dd(f, "1M", "16")), cmd: quotaVol, stdout: usage("   4129       0    8192")},
		{name: "a record that completes a refused RPC is taken", setup: vol8M, cmd: dd(f, "8M", "1"), stderr: "1+0 records in\n1+0 records out\n"},
		{name: "and makes the project full", setup: append(vol8M, dd(f, "8M", "1")), cmd: dd("/mnt/lfs1/csi/vol/g", "4K", "1"), exit: 1, stderr: "Disk quota exceeded"},
		// What clears the full mark.
		{name: "raising the limit", setup: vol, extra: func(t *testing.T, w *World) {
			fails(fsync(dd(f, "1M", "2")))(t, w)
			steps(t, w, "c1", []string{"lfs", "setquota", "-p", "1001", "-B", "4M", "/mnt/lfs1"})
		}, cmd: fsync(dd(f, "1M", "2"))},
		{name: "freeing space", setup: vol8M, extra: func(t *testing.T, w *World) {
			fails(dd(f, "1M", "16"))(t, w)
			steps(t, w, "c1", []string{"rm", "-f", f})
		}, cmd: fsync(dd(f, "1M", "7"))},
		{name: "a truncated empty file frees nothing", setup: vol, extra: fails(fsync(dd(f, "1M", "2"))), cmd: dd(f, "4K", "1"), exit: 1, stderr: "Disk quota exceeded"},
		{name: "buffered within the limit with fsync", setup: vol, cmd: fsync(dd(f, "1K", "900"))},
		{name: "dd options not simulated", cmd: []string{"dd", "if=/dev/zero", "of=/mnt/lfs1/f", "bs=1", "count=1", "conv=notrunc"}, exit: 1, stderr: "[conv=fsync] [oflag=direct]"},
	})
}

// TestMountTable: mountinfo.At, the one question "what is mounted here"
// every step asks, reads the simulated mount table as it reads the
// kernel's: a client mount whose source is NIDs:/fsname, a target, a bind
// mount of a volume directory whose path has a blank (escaped \040 in
// the table), a client whose MDT is down, and paths with nothing mounted.
func TestMountTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := smallWorld(t, true)
	at := func(hostName, p string) (mountinfo.Mount, bool) {
		t.Helper()
		m, found, err := mountinfo.At(ctx, w.Host(hostName), p)
		if err != nil {
			t.Fatal(err)
		}
		return m, found
	}
	client, found := at("c1", "/mnt/lfs1/")
	if !found || client.FSType != "lustre" || client.Source != "10.9.0.1@tcp:/lfs1" || client.Root != "/" || client.MountPoint != "/mnt/lfs1" {
		t.Fatalf("client mount: %+v %v", client, found)
	}
	if m, found := at("mds1", "/mnt/mdt0"); !found || m.FSType != "lustre" || m.Source != "lfs1-p0/mdt0" {
		t.Fatalf("target mount: %+v %v", m, found)
	}
	target := "/var/lib/kubelet/pods/a b/volumes/v"
	steps(t, w, "c1", mkVol, []string{"mkdir", "-p", target}, []string{"mount", "--bind", "/mnt/lfs1/csi/vol", target})
	if raw := mustRun(t, w, "c1", cmd("cat", "/proc/self/mountinfo")).Stdout; !strings.Contains(raw, " /csi/vol /var/lib/kubelet/pods/a\\040b/volumes/v rw,") {
		t.Fatalf("the blank is not escaped as the kernel does:\n%s", raw)
	}
	bind, found := at("c1", target)
	if !found || bind.MountPoint != target || bind.Root != "/csi/vol" || bind.Dev != client.Dev || bind.ID == client.ID || bind.FSType != "lustre" {
		t.Fatalf("bind mount: %+v %v (client %+v)", bind, found, client)
	}
	if _, found := at("c1", "/var/lib/kubelet/pods/a"); found {
		t.Fatal("a path that is a prefix of the escaped one shows as mounted")
	}
	steps(t, w, "mds1", []string{"umount", "/mnt/mdt0"})
	if _, found := at("c1", "/mnt/lfs1"); !found {
		t.Fatal("the client mount must stay in the table while its MDT is down, so it can be unmounted")
	}
	steps(t, w, "c1", []string{"umount", target}, []string{"umount", "/mnt/lfs1"})
	for _, p := range []string{"/mnt/lfs1", target, "/no/such/dir"} {
		if m, found := at("c1", p); found {
			t.Fatalf("%s: %+v after unmounting", p, m)
		}
	}
}

// TestBindMounts: mount --bind of a Lustre directory shows the filesystem
// and the subdirectory in /proc/self/mountinfo; writes through it are the
// volume's; read-only and unmount behave as in Linux.
func TestBindMounts(t *testing.T) {
	t.Parallel()
	bound := [][]string{mkVol, projVol, limitVol, targetDir, bindVol}
	ro := append(append([][]string{}, bound...), []string{"mount", "-o", "remount,bind,ro", "/var/lib/kubelet/pods/p1/volumes/v"})
	runLustreCases(t, []lcase{
		{name: "mountinfo names the subdirectory", setup: bound, cmd: []string{"cat", "/proc/self/mountinfo"}, stdout: " /csi/vol /var/lib/kubelet/pods/p1/volumes/v rw,relatime - lustre 10.9.0.1@tcp:/lfs1 rw,flock,lazystatfs\n"},
		{name: "writes land in the volume", setup: append(bound, dd("/var/lib/kubelet/pods/p1/volumes/v/f", "4K", "1")), host: "c2", cmd: []string{"test", "-f", "/mnt/lfs1/csi/vol/f"}},
		{name: "quota applies through the bind mount", setup: bound, cmd: append(dd("/var/lib/kubelet/pods/p1/volumes/v/f", "1M", "2"), "oflag=direct"), exit: 1, stderr: "Disk quota exceeded"},
		{name: "read-only remount", setup: ro, cmd: dd("/var/lib/kubelet/pods/p1/volumes/v/f", "4K", "1"), exit: 1, stderr: "dd: failed to open '/var/lib/kubelet/pods/p1/volumes/v/f': Read-only file system"},
		{name: "read-only shows in mountinfo", setup: ro, cmd: []string{"cat", "/proc/self/mountinfo"}, stdout: " /csi/vol /var/lib/kubelet/pods/p1/volumes/v ro,relatime - lustre 10.9.0.1@tcp:/lfs1 rw,flock,lazystatfs\n"},
		{name: "umount then the target is empty again", setup: append(bound, dd("/var/lib/kubelet/pods/p1/volumes/v/f", "4K", "1"), []string{"umount", "/var/lib/kubelet/pods/p1/volumes/v"}),
			cmd: []string{"rmdir", "/var/lib/kubelet/pods/p1/volumes/v"}},
		{name: "rmdir of the bind target", setup: bound, cmd: []string{"rmdir", "/var/lib/kubelet/pods/p1/volumes/v"}, exit: 1, stderr: "Device or resource busy"},
		{name: "rm -rf descends into the bind mount", setup: append(bound, dd("/var/lib/kubelet/pods/p1/volumes/v/f", "4K", "1")), extra: func(t *testing.T, w *World) {
			_, _ = run(w, "c1", cmd("rm", "-rf", "/var/lib/kubelet/pods/p1"))
		}, host: "c2", cmd: []string{"test", "-e", "/mnt/lfs1/csi/vol/f"}, exit: 1},
		{name: "bind of a missing source", setup: [][]string{targetDir}, cmd: bindVol, exit: 32, stderr: "special device /mnt/lfs1/csi/vol does not exist"},
		{name: "bind onto a missing target", setup: [][]string{mkVol}, cmd: bindVol, exit: 32, stderr: "mount point does not exist"},
		{name: "remount of something not mounted", setup: [][]string{targetDir}, cmd: []string{"mount", "-o", "remount,bind,ro", "/var/lib/kubelet/pods/p1/volumes/v"}, exit: 32},
		{name: "mkdir in a read-only mount", setup: ro, cmd: []string{"mkdir", "/var/lib/kubelet/pods/p1/volumes/v/d"}, exit: 1, stderr: "Read-only file system"},
		{name: "tee into a read-only mount", setup: ro, cmd: []string{"tee", "/var/lib/kubelet/pods/p1/volumes/v/f"}, exit: 1, stderr: "tee: /var/lib/kubelet/pods/p1/volumes/v/f: Read-only file system"},
		{name: "rm in a read-only mount", setup: append(append([][]string{}, bound...), dd("/mnt/lfs1/csi/vol/f", "4K", "1"), []string{"mount", "-o", "remount,bind,ro", "/var/lib/kubelet/pods/p1/volumes/v"}),
			cmd: []string{"rm", "-f", "/var/lib/kubelet/pods/p1/volumes/v/f"}, exit: 1, stderr: "Read-only file system"},
		{name: "mv across filesystems", setup: [][]string{mkVol, {"mkdir", "/tmp/x"}}, cmd: []string{"mv", "/tmp/x", "/mnt/lfs1/csi/x"}, exit: 1, stderr: "to another filesystem is not simulated"},
		{name: "rmdir missing", cmd: []string{"rmdir", "/mnt/lfs1/nope"}, exit: 1, stderr: "rmdir: failed to remove '/mnt/lfs1/nope': No such file or directory"},
		{name: "bind survives the client unmount", setup: append(bound, []string{"umount", "/mnt/lfs1"}), cmd: dd("/var/lib/kubelet/pods/p1/volumes/v/f", "4K", "1")},
	})
}

// TestNamespaceFollowsFailover: the namespace is on MDT0's pool, so it is
// replicated by DRBD and served by the peer after a failover.
func TestNamespaceFollowsFailover(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	lustreReady(t, w)
	steps(t, w, "s1", mkfsMDT, []string{"mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0"})
	client := []string{"mount", "-t", "lustre", "10.0.0.1@tcp:10.0.0.2@tcp:/lfs1", "/mnt/lfs1"}
	steps(t, w, "s2", client, []string{"mkdir", "/mnt/lfs1/kept"}, []string{"umount", "/mnt/lfs1"})
	steps(t, w, "s1", []string{"umount", "/mnt/mdt0"}, exportP, secondary)
	steps(t, w, "s2", primary, importP, []string{"mount", "-t", "lustre", "p0/mdt0", "/mnt/mdt0"}, client, []string{"test", "-d", "/mnt/lfs1/kept"})
}
