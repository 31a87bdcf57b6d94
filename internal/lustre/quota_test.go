package lustre

import (
	"strings"
	"testing"
)

// TestParseProjectQuota: lfs quota output as lfs.c prints it, including
// the forms seen on real systems (a long path on its own line, usage
// starred at the limit, lines about default quotas after the table).
func TestParseProjectQuota(t *testing.T) {
	t.Parallel()
	head := "Disk quotas for prj 1001 (pid 1001):\n     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace\n"
	cases := []struct {
		name string
		out  string
		want Quota
		err  string
	}{
		{"short path", head + "      /mnt/lfs1       4       0 1048576       -       1       0     500       -\n",
			Quota{UsedKiB: 4, Inodes: 1, Limits: Limits{BlockHardKiB: 1048576, InodeHard: 500}}, ""},
		{"long path wraps", head + "/mnt/lfs1/csi/pvc-0123456789\n                   2048*      0    2048       -       3       0       0       -\npid 1001 is using default file quota setting\n",
			Quota{UsedKiB: 2048, Inodes: 3, Limits: Limits{BlockHardKiB: 2048}}, ""},
		{"soft limits", head + "      /mnt/lfs1      10     100     200      6d      2       5       9       -\n",
			Quota{UsedKiB: 10, Inodes: 2, Limits: Limits{BlockSoftKiB: 100, BlockHardKiB: 200, InodeSoft: 5, InodeHard: 9}}, ""},
		{"inaccurate", head + "      /mnt/lfs1  [4]       0    1024       -       1       0       0       -\nSome errors happened when getting quota info.\n", Quota{}, "inaccurate"},
		{"no table", "lfs quota: '/tmp' not on a mounted Lustre filesystem\n", Quota{}, "no project quota table"},
		{"short row", head + "      /mnt/lfs1       4\n", Quota{}, "short"},
		{"garbage", head + "      /mnt/lfs1       x       0    1024       -       1       0       0       -\n", Quota{}, "unexpected value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseProjectQuota(tc.out)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || q != tc.want {
				t.Fatalf("got %+v %v, want %+v", q, err, tc.want)
			}
		})
	}
}
