package hostsim

import (
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

func as(uid string, argv ...string) []string {
	return append([]string{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--"}, argv...)
}

var upcallNone = []string{"lctl", "set_param", "-P", "mdt.lfs1-MDT*.identity_upcall=NONE"}

func onMDS(argvs ...[]string) func(t *testing.T, w *World) {
	return func(t *testing.T, w *World) { steps(t, w, "mds1", argvs...) }
}

func passwd(hostName, content string) func(t *testing.T, w *World) {
	return func(t *testing.T, w *World) {
		mustRun(t, w, hostName, host.Cmd{Name: "tee", Args: []string{"/etc/passwd"}, Stdin: []byte(content)})
	}
}

const appUser = "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n"

// TestIdentityUpcall: an MDT with Lustre's default identity upcall
// (l_getidentity) resolves every caller on the MDS node and refuses a
// non-root uid its passwd lacks, for any request (lustre-facts.md); with
// identity_upcall=NONE set on the MGS it trusts the client's uid.
func TestIdentityUpcall(t *testing.T) {
	t.Parallel()
	runLustreCases(t, []lcase{
		{name: "unknown uid cannot create", cmd: as("1000", dd("/mnt/lfs1/f", "4K", "1")...),
			exit: 1, stderr: "dd: failed to open '/mnt/lfs1/f': Permission denied"},
		{name: "unknown uid cannot mkdir", cmd: as("1000", "mkdir", "/mnt/lfs1/d"),
			exit: 1, stderr: "mkdir: cannot create directory '/mnt/lfs1/d': Permission denied"},
		{name: "unknown uid cannot read", extra: func(t *testing.T, w *World) {
			mustRun(t, w, "c1", host.Cmd{Name: "tee", Args: []string{"/mnt/lfs1/state.json"}, Stdin: []byte("{}\n")})
		}, cmd: as("1000", "cat", "/mnt/lfs1/state.json"), exit: 1, stderr: "cat: /mnt/lfs1/state.json: Permission denied"},
		{name: "unknown uid cannot even look", cmd: as("1000", "test", "-d", "/mnt/lfs1"), exit: 1},
		{name: "through a bind mount too", setup: [][]string{mkVol, targetDir, bindVol},
			cmd: as("1000", dd("/var/lib/kubelet/pods/p1/volumes/v/f", "4K", "1")...), exit: 1, stderr: "Permission denied"},
		{name: "nobody is in the MDS's passwd", cmd: as("65534", dd("/mnt/lfs1/f", "4K", "1")...)},
		{name: "uid added to the MDS's passwd", extra: passwd("mds1", appUser), cmd: as("1000", dd("/mnt/lfs1/f", "4K", "1")...)},
		{name: "the client's passwd does not count", extra: passwd("c1", appUser),
			cmd: as("1000", dd("/mnt/lfs1/f", "4K", "1")...), exit: 1, stderr: "Permission denied"},
		{name: "root is always known", extra: passwd("mds1", "app:x:1000:1000::/home/app:/bin/sh\n"), cmd: as("0", dd("/mnt/lfs1/f", "4K", "1")...)},
		{name: "NONE trusts the client's uid", extra: onMDS(upcallNone), cmd: as("1000", dd("/mnt/lfs1/f", "4K", "1")...)},
		{name: "NONE then back to l_getidentity", extra: onMDS(upcallNone,
			[]string{"lctl", "set_param", "-P", "mdt.lfs1-MDT*.identity_upcall=/usr/sbin/l_getidentity"}),
			cmd: as("1000", dd("/mnt/lfs1/f", "4K", "1")...), exit: 1, stderr: "Permission denied"},
		{name: "another filesystem's upcall does not count", extra: onMDS([]string{"lctl", "set_param", "-P", "mdt.lfs2-MDT*.identity_upcall=NONE"}),
			cmd: as("1000", dd("/mnt/lfs1/f", "4K", "1")...), exit: 1, stderr: "Permission denied"},
		{name: "the client's local files are not Lustre's", cmd: as("1000", "mkdir", "-p", "/tmp/x")},
	})
}

// A user's writes are limited by project quotas wherever enforcement is
// on, without root_prj_enable, which only concerns root.
func TestUserQuotaWithoutRootEnforcement(t *testing.T) {
	t.Parallel()
	runLustreCases(t, []lcase{
		{name: "user limited", noQuota: true, setup: [][]string{mkVol, projVol, limitVol},
			extra: onMDS(upcallNone, []string{"lctl", "set_param", "-P", "osd-*.lfs1-*.quota_slave.enabled=p"}),
			cmd:   as("1000", append(dd("/mnt/lfs1/csi/vol/f", "1M", "2"), "oflag=direct")...), exit: 1, stderr: "Disk quota exceeded"},
		{name: "root not limited", noQuota: true, setup: [][]string{mkVol, projVol, limitVol},
			extra: onMDS(upcallNone, []string{"lctl", "set_param", "-P", "osd-*.lfs1-*.quota_slave.enabled=p"}),
			cmd:   dd("/mnt/lfs1/csi/vol/f", "1M", "2")},
	})
}

func TestSetprivArguments(t *testing.T) {
	t.Parallel()
	runLustreCases(t, []lcase{
		{name: "groups must be said", cmd: []string{"setpriv", "--reuid=1000", "--regid=1000", "true"}, exit: 1, stderr: "is simulated"},
		{name: "no program", cmd: []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"}, exit: 1, stderr: "is simulated"},
		{name: "unknown option", cmd: []string{"setpriv", "--init-groups", "--reuid=1000", "--regid=1000", "true"}, exit: 1, stderr: "is simulated"},
		{name: "supplementary groups", cmd: []string{"setpriv", "--reuid=65534", "--regid=65534", "--groups=1000,2000", "true"}},
		{name: "a user cannot mount", cmd: as("1000", "mount", "-t", "lustre", "10.9.0.1@tcp:/lfs1", "/mnt/x"), exit: 1, stderr: "not simulated"},
		{name: "unknown program", cmd: as("0", "frobnicate"), exit: 127, stderr: "frobnicate: command not found"},
	})
}
