package hostsim

import (
	"context"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// TestGarbageArgumentsNeverPanic feeds odd argument lists to every
// simulated command, in a world with live DRBD, a pool and mounts, and
// checks that each one keeps the Runner contract.
func TestGarbageArgumentsNeverPanic(t *testing.T) {
	t.Parallel()
	w := syncedPair(t, DRBD9)
	steps(t, w, "s1", mkpool)
	argSets := [][]string{
		nil, {""}, {"-"}, {"--"}, {"-o"}, {"-d"}, {"-t"}, {"-q"}, {"-p"}, {"-e"}, {"--force"},
		{"x"}, {"x", "y", "z"}, {"create"}, {"import", "-d"}, {"get", "-H"}, {"up", "r0", "extra"},
		{"-t", "lustre"}, {"-t", "lustre", ":/", "/mnt"}, {"-t", "lustre", "p0", "/mnt"}, {"net", "add", "--net"},
		{"--backfstype=zfs", "--mgs", "p0"}, {"--dryrun"}, {"list_nids", "x"}, {"/proc/drbd"}, {"/dev/drbd0"},
		{"create", "p0/"}, {"set", "=", "p0"}, {"primary", "--force", "r0"},
	}
	names := sortedKeys(tools)
	names = append(names, "nonexistent")
	for _, name := range names {
		for _, args := range argSets {
			res, err := w.Host("s1").Run(context.Background(), host.Command(name, args...))
			if res.ExitCode < 0 || (err == nil) != (res.ExitCode == 0) {
				t.Fatalf("%s %q: exit %d err %v breaks the Runner contract", name, args, res.ExitCode, err)
			}
			if err != nil {
				if _, isExit := host.AsExit(err); !isExit {
					t.Fatalf("%s %q: non-exit error %v from a live host", name, args, err)
				}
			}
		}
	}
}
