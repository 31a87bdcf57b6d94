package hostsim

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Each test here pins one answer the real tools gave in the VM suite (make
// e2e-vm: Debian 12, DRBD 8.4.11, drbd-utils 9.22, ZFS 2.1.11,
// util-linux 2.38) where the simulator used to answer otherwise; the list
// is ci/vm/HOSTSIM-CORRECTIONS.md.

// A DRBD Secondary refuses to be opened, so the signature probes fail on
// it instead of showing the data area.
func TestProbesFailOnASecondary(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD84)
	res, err := run(w, "s2", cmd("wipefs", "--no-act", "/dev/drbd0"))
	checkResult(t, res, err, 1, "", "wipefs: error: /dev/drbd0: probing initialization failed: Wrong medium type", false)
	res, err = run(w, "s2", cmd("blkid", "-p", "/dev/drbd0"))
	checkResult(t, res, err, 2, "", "blkid: error: /dev/drbd0: Wrong medium type", false)
	// The Primary's device still probes.
	res, err = run(w, "s1", cmd("wipefs", "--no-act", "/dev/drbd0"))
	checkResult(t, res, err, 0, "", "", true)
}

// libblkid reports internal DRBD 8.4 metadata as a raid member with its
// version, the magic 60 bytes into the last 4 KiB.
func TestBackingDiskShowsDRBDMetadataAsRaid(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	steps(t, w, "s1", createMD)
	res, err := run(w, "s1", cmd("blkid", "-p", "/dev/sdb"))
	checkResult(t, res, err, 0, `VERSION="v08" TYPE="drbd" USAGE="raid"`, "", false)
	res, err = run(w, "s1", cmd("wipefs", "--no-act", "/dev/sdb"))
	checkResult(t, res, err, 0, "0x3ffff03c drbd", "", false)
}

// create-md prints the bitmap line on stderr, the rest on stdout.
func TestCreateMDStreams(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	res, err := run(w, "s1", cmd(createMD...))
	checkResult(t, res, err, 0, "initializing activity log\nWriting meta data...\nNew drbd meta data block successfully created.\n", "initializing bitmap (32 KB) to all zero", true)
}

// get-gi on 8.4: four UUIDs and seven flags.
func TestGetGI84Format(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	steps(t, w, "s1", createMD, up)
	res, err := run(w, "s1", cmd("drbdadm", "get-gi", "r0"))
	checkResult(t, res, err, 0, "0000000000000004:0000000000000004:0000000000000000:0000000000000000:0:0:0:1:0:1:0\n", "", true)
}

// Under resource-only DRBD also asks fence-peer before promoting a
// disconnected Secondary; with no handler in the file drbdadm answers 0,
// which the kernel calls "helper broken", and the promotion is refused.
func TestResourceOnlyWithoutHandlerRefusesPromotion(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD84) // testRes: fencing resource-only, no handlers
	steps(t, w, "s1", mkpool)
	must(t, w.Crash("s1"))
	res, err := run(w, "s2", cmd(primary...))
	checkResult(t, res, err, 11, "", "State change failed: (-7) Refusing to be Primary while peer is not outdated", false)
	// Without fencing (DRBD's default) the same promotion goes through:
	// that is how the split brain of vm-facts.md happened.
	u := syncedUnfencedPair(t, DRBD84)
	must(t, u.Crash("s1"))
	steps(t, u, "s2", primary)
}

// Given a whole disk, zpool create writes a GPT and puts the pool in
// partition 1: the disk shows a partition table, lsblk lists the
// partitions, and an import that searches only the disk finds nothing.
func TestWholeDiskPoolLivesInPartitionOne(t *testing.T) {
	t.Parallel()
	w := newPair(t, DRBD84)
	must(t, w.AddDisk("s1", "/dev/sdc", 256<<20))
	steps(t, w, "s1", hostid, []string{"zpool", "create", "-o", "multihost=on", "-o", "cachefile=none", "lp", "/dev/sdc"})
	res, err := run(w, "s1", cmd("wipefs", "--no-act", "/dev/sdc"))
	checkResult(t, res, err, 0, "0x200      gpt", "", false)
	if !strings.Contains(res.Stdout, "PMBR") || strings.Contains(res.Stdout, "zfs_member") {
		t.Errorf("wipefs of the disk: %q, want the GPT rows and no ZFS label", res.Stdout)
	}
	res, err = run(w, "s1", cmd("blkid", "-p", "/dev/sdc"))
	checkResult(t, res, err, 0, `PTTYPE="gpt"`, "", false)
	res, err = run(w, "s1", cmd("lsblk", "-lnpo", "NAME,TYPE", "/dev/sdc"))
	checkResult(t, res, err, 0, "/dev/sdc disk\n/dev/sdc1 part\n/dev/sdc9 part\n", "", true)
	res, err = run(w, "s1", cmd("wipefs", "--no-act", "/dev/sdc1"))
	checkResult(t, res, err, 0, "zfs_member", "", false)
	steps(t, w, "s1", []string{"zpool", "export", "lp"})
	res, err = run(w, "s1", cmd("zpool", "import", "-d", "/dev/sdc", "-o", "cachefile=none", "lp"))
	checkResult(t, res, err, 1, "", "cannot import 'lp': no such pool available", false)
	steps(t, w, "s1", []string{"blockdev", "--rereadpt", "/dev/sdc"},
		[]string{"zpool", "import", "-d", "/dev/sdc", "-d", "/dev/sdc1", "-o", "cachefile=none", "lp"},
		[]string{"zpool", "list", "-H", "-o", "name", "lp"})
	// Re-reading the table of a disk whose partition is in use is refused.
	res, err = run(w, "s1", cmd("blockdev", "--rereadpt", "/dev/sdc"))
	checkResult(t, res, err, 1, "", "Device or resource busy", false)
	// A missing device is no block device at all.
	res, err = run(w, "s1", host.Command("lsblk", "-lnpo", "NAME,TYPE", "/dev/sdz"))
	checkResult(t, res, err, 32, "", "not a block device", false)
}

// The metadata of a resource that was Primary when its host crashed is
// "unclean" until `drbdadm up` applies the activity log; dump-md says so
// with exit 1, and it is still metadata.
func TestUncleanMetadataAfterACrashedPrimary(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD84)
	must(t, w.Crash("s1"))
	must(t, w.Boot("s1"))
	res, err := run(w, "s1", cmd("drbdadm", "dump-md", "r0"))
	checkResult(t, res, err, 1, "", `Found meta data is "unclean", please apply-al first`, false)
	// The Secondary's metadata stayed clean.
	must(t, w.Crash("s2"))
	must(t, w.Boot("s2"))
	steps(t, w, "s2", []string{"drbdadm", "dump-md", "r0"})
	steps(t, w, "s1", up, []string{"drbdadm", "down", "r0"}, []string{"drbdadm", "dump-md", "r0"})
}

// A blank partition is a block device of its own: `blkid -p` answers its
// place in the table, exit 0, and nothing else (util-linux on a real
// kernel, shared/reference/lustre-facts.md: `/dev/vda1:
// PART_ENTRY_SCHEME="dos" PART_ENTRY_UUID="4b4c4143-01"
// PART_ENTRY_TYPE="0x83" PART_ENTRY_NUMBER="1" PART_ENTRY_OFFSET="2048"
// PART_ENTRY_SIZE="2095104" PART_ENTRY_DISK="254:0"`); the disk holding
// only the MBR answers `PTUUID="…" PTTYPE="dos"`, exit 0.
func TestBlankPartitionShowsItsTableEntry(t *testing.T) {
	t.Parallel()
	w, err := Open(t.TempDir())
	must(t, err)
	must(t, w.AddHost("n1", HostConfig{}))
	must(t, w.AddDisk("n1", "/dev/vda", 2<<30))
	must(t, w.AddPartition("n1", "/dev/vda", 1, 2095104*512))
	must(t, w.AddPartition("n1", "/dev/vda", 2, 64<<20))
	res := mustRun(t, w, "n1", cmd("blkid", "-p", "/dev/vda"))
	disk := regexp.MustCompile(`^/dev/vda: PTUUID="([0-9a-f]{8})" PTTYPE="dos"\n$`).FindStringSubmatch(res.Stdout)
	if disk == nil {
		t.Fatalf("blkid -p of the disk: %q", res.Stdout)
	}
	res = mustRun(t, w, "n1", cmd("blkid", "-p", "/dev/vda1"))
	want := `/dev/vda1: PART_ENTRY_SCHEME="dos" PART_ENTRY_UUID="` + disk[1] + `-01" PART_ENTRY_TYPE="0x83" PART_ENTRY_NUMBER="1" PART_ENTRY_OFFSET="2048" PART_ENTRY_SIZE="2095104" PART_ENTRY_DISK="254:0"` + "\n"
	if res.Stdout != want || res.Stderr != "" {
		t.Fatalf("blkid -p of a blank partition:\n%q\nwant\n%q", res.Stdout, want)
	}
	res = mustRun(t, w, "n1", cmd("blkid", "-p", "/dev/vda2"))
	if !strings.Contains(res.Stdout, `PART_ENTRY_NUMBER="2" PART_ENTRY_OFFSET="2097152" PART_ENTRY_SIZE="131072"`) {
		t.Errorf("second partition: %q, want it 1 MiB aligned after the first", res.Stdout)
	}
	res, err = run(w, "n1", cmd("wipefs", "--no-act", "/dev/vda1"))
	checkResult(t, res, err, 0, "", "", true)
	res, err = run(w, "n1", cmd("wipefs", "--no-act", "/dev/vda"))
	checkResult(t, res, err, 0, "0x1fe      dos", "", false)
	res, err = run(w, "n1", cmd("lsblk", "-lnpo", "NAME,TYPE", "/dev/vda"))
	checkResult(t, res, err, 0, "/dev/vda disk\n/dev/vda1 part\n/dev/vda2 part\n", "", true)
	res, err = run(w, "n1", cmd("lsblk", "-lnpo", "NAME,TYPE", "/dev/vda1"))
	checkResult(t, res, err, 0, "/dev/vda1 part\n", "", true)
	res, err = run(w, "n1", cmd("blockdev", "--rereadpt", "/dev/vda1"))
	checkResult(t, res, err, 1, "", "Invalid argument", false)
	// What the partition holds comes first, its table entry after it.
	must(t, w.SetSignature("n1", "/dev/vda1", SigExt4))
	res = mustRun(t, w, "n1", cmd("blkid", "-p", "/dev/vda1"))
	if !regexp.MustCompile(`^/dev/vda1: UUID="[^"]+" TYPE="ext4" USAGE="filesystem" PART_ENTRY_SCHEME="dos" .*PART_ENTRY_DISK="254:0"\n$`).MatchString(res.Stdout) {
		t.Errorf("blkid -p of a partition with ext4: %q", res.Stdout)
	}
	// ZFS's own partition 1 on a whole disk is a GPT partition.
	must(t, w.AddDisk("n1", "/dev/vdb", 256<<20))
	steps(t, w, "n1", hostid, []string{"zpool", "create", "lp", "/dev/vdb"})
	res = mustRun(t, w, "n1", cmd("blkid", "-p", "/dev/vdb1"))
	if !regexp.MustCompile(`^/dev/vdb1: LABEL="lp" UUID="[^"]+" TYPE="zfs_member" USAGE="filesystem" PART_ENTRY_SCHEME="gpt" PART_ENTRY_NAME="zfs-[0-9a-f]{16}" .*PART_ENTRY_TYPE="6a898cc3-1dd2-11b2-99a6-080020736631" PART_ENTRY_NUMBER="1" .*PART_ENTRY_DISK="254:16"\n$`).MatchString(res.Stdout) {
		t.Errorf("blkid -p of ZFS's partition 1: %q", res.Stdout)
	}
	// Partitions are made on blank disks only, and fit on them.
	must(t, w.AddDisk("n1", "/dev/vdc", 64<<20))
	must(t, w.SetSignature("n1", "/dev/vdc", SigXFS))
	if err := w.AddPartition("n1", "/dev/vdc", 1, 1<<20); err == nil {
		t.Error("partitioned a disk holding xfs")
	}
	if err := w.AddPartition("n1", "/dev/vda", 3, 4<<30); err == nil {
		t.Error("a partition larger than its disk")
	}
}

// A new pool on a 128 MiB DRBD 8.4 disk: real ZFS 2.1.11 answered
// `zfs get -Hp used,available` with 96768 and 58623488 bytes; the space
// accounting (labels, 16 MiB metaslabs, half the pool as slop) gives the
// same. With an empty child dataset it said 24576 and 58591232 for the
// child.
func TestSpaceOfANewPoolOnTheVMDisk(t *testing.T) {
	t.Parallel()
	const disk = 128 << 20
	p := &pool{Name: "klvm-mdt0", Size: disk - drbdInternalMD(disk), Datasets: map[string]map[string]string{"klvm-mdt0": {}}}
	check := func(ds string, want map[string]string) {
		t.Helper()
		for prop, v := range want {
			if got, ok := zfsGetSpace(p, ds, prop); !ok || got != v {
				t.Errorf("%s %s = %s, real ZFS said %s", ds, prop, got, v)
			}
		}
	}
	check("klvm-mdt0", map[string]string{"used": "96768", "available": "58623488"})
	p.Datasets["klvm-mdt0/space-probe"] = map[string]string{}
	check("klvm-mdt0/space-probe", map[string]string{"used": "24576", "available": "58591232"})
}
