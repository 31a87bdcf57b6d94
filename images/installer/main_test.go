package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// topologyDoc has an HA pair s1/s2 serving both targets and a client c1;
// it pins kmod-zfs away from the table's default.
const topologyDoc = `fsname: lfs1
targets:
  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}
  - {type: ost, index: 0, nodes: [s1, s2], drbd: {minor: 1, port: 7789, disk: /dev/sdc}}
clients: {nodes: [c1]}
install:
  mode: install
  packages: {kmod-zfs: "2.1.15-1.el9", zfs: "2.1.15-1.el9"}
`

// elRepo is what an EL9 node with ELRepo, OpenZFS and Whamcloud configured
// offers; note that it carries the overridden ZFS version.
var elRepo = map[string][]string{
	"drbd9x-utils": {"9.28.0-1.el9.elrepo"}, "kmod-drbd9x": {"9.1.23-1.el9_5.elrepo"},
	"zfs": {"2.1.15-1.el9"}, "kmod-zfs": {"2.1.15-1.el9"},
	"lustre": {"2.15.6-1.el9"}, "kmod-lustre": {"2.15.6-1.el9"}, "kmod-lustre-osd-zfs": {"2.15.6-1.el9"},
}

// runInstaller runs the binary's Main as the chart would, against a
// simulated node.
func runInstaller(t *testing.T, dir, node string, args ...string) (int, string) {
	t.Helper()
	env := map[string]string{
		"NODE_NAME": node, "KUBE_LUSTRE_TOPOLOGY": filepath.Join(dir, "values.yaml"),
		"KUBE_LUSTRE_STATUS": filepath.Join(dir, node+".status"), "KUBE_LUSTRE_HOSTSIM": filepath.Join(dir, "world"),
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var stdout, stderr bytes.Buffer
	code := entry.Main("installer", args, &stdout, &stderr, lookup, commands())
	return code, stderr.String()
}

// TestInstallerSubcommands runs `installer install` and `installer verify`
// end to end on simulated EL9 and Debian 12 nodes.
func TestInstallerSubcommands(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(topologyDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := hostsim.Open(filepath.Join(dir, "world"))
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]hostsim.HostConfig{
		"s1": {OSRelease: hostsim.OSReleaseRocky9, Modules: []string{}, Repository: elRepo},
		"s2": {OSRelease: hostsim.OSReleaseDebian12, Modules: []string{"drbd", "lru_cache"}},
		"c1": {OSRelease: hostsim.OSReleaseRocky9, Modules: []string{}},
	} {
		if err := w.AddHost(name, cfg); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		node, cmd string
		code      int
		stderr    string
	}{
		{"s1", "verify", 1, "kernel modules missing: drbd"},
		{"s1", "install", 0, ""},
		{"s1", "verify", 0, ""},
		{"s1", "install", 0, "installed none"},
		{"s2", "install", 1, "has no Lustre server packages"},
		{"c1", "install", 1, "No match for argument: lustre-client-2.15.6-1.el9"},
	}
	for _, s := range steps {
		code, stderr := runInstaller(t, dir, s.node, s.cmd)
		if code != s.code || !strings.Contains(stderr, s.stderr) {
			t.Fatalf("installer %s on %s: exit %d, want %d with %q; stderr:\n%s", s.cmd, s.node, code, s.code, s.stderr, stderr)
		}
	}
	pkgs, err := w.Packages("s1")
	if err != nil || pkgs["kmod-zfs"] != "2.1.15-1.el9" || len(pkgs) != 7 {
		t.Fatalf("s1 packages %v (%v): the override must win", pkgs, err)
	}
	if pkgs, _ := w.Packages("s2"); len(pkgs) != 0 {
		t.Fatalf("s2 got packages although Lustre cannot be installed there: %v", pkgs)
	}
}

// A stock Debian server imports every pool it finds at boot
// (zfs-import-scan), which on a DRBD node means the target's pool from its
// backing disk, around DRBD: verify refuses and names the unit; install
// masks it. A cache file naming a target pool is refused in either mode.
func TestInstallerRefusesBootImportOnDRBDNodes(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	dir := t.TempDir()
	doc := "fsname: lfs1\ninstall: {packages: {kmod-zfs: \"2.1.15-1.el9\", zfs: \"2.1.15-1.el9\"}}\ntargets:\n  - {type: mdt, index: 0, mgs: true, nodes: [s1, s2], drbd: {minor: 0, port: 7788, disk: /dev/sdb}}\n" +
		"  - {type: ost, index: 0, nodes: [s1, s2], drbd: {minor: 1, port: 7789, disk: /dev/sdc}}\n"
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := hostsim.Open(filepath.Join(dir, "world"))
	if err != nil {
		t.Fatal(err)
	}
	for n, cfg := range map[string]hostsim.HostConfig{
		"s1": {OSRelease: hostsim.OSReleaseDebian12},
		"s2": {OSRelease: hostsim.OSReleaseRocky9, Modules: []string{}, Repository: elRepo},
	} {
		if err := w.AddHost(n, cfg); err != nil {
			t.Fatal(err)
		}
	}
	unit := func(n string) string {
		res, err := host.Run(context.Background(), w.Host(n), "systemctl", "show", zfs.ScanUnit, "-p", "LoadState")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(res.Stdout)
	}
	code, stderr := runInstaller(t, dir, "s1", "verify")
	if code != 1 || !strings.Contains(stderr, "zfs-import-scan.service is enabled") || !strings.Contains(stderr, "systemctl mask zfs-import-scan.service") {
		t.Fatalf("verify on a stock Debian DRBD node: exit %d\n%s", code, stderr)
	}
	if got := unit("s1"); got != "LoadState=loaded" {
		t.Fatalf("verify changed the unit: %s", got)
	}
	// An admin masks it by hand: verify passes.
	if _, err := host.Run(context.Background(), w.Host("s1"), "systemctl", "mask", zfs.ScanUnit); err != nil {
		t.Fatal(err)
	}
	if code, stderr := runInstaller(t, dir, "s1", "verify"); code != 0 {
		t.Fatalf("verify with the scan masked: exit %d\n%s", code, stderr)
	}
	// s2 (EL, packages from the repository, whose preset leaves the scan
	// disabled) has a cache file naming the target's pool (imported by
	// hand once).
	if _, err := host.Run(context.Background(), w.Host("s2"), "mkdir", "-p", "/etc/zfs"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Host("s2").Run(context.Background(), host.Cmd{Name: "tee", Args: []string{zfs.CacheFile}, Stdin: []byte("\x00\x00\x00\x09lfs1-mdt0\x00")}); err != nil {
		t.Fatal(err)
	}
	code, stderr = runInstaller(t, dir, "s2", "install")
	if code != 1 || !strings.Contains(stderr, "/etc/zfs/zpool.cache names target pool(s) lfs1-mdt0") || strings.Contains(stderr, "zfs-import-scan.service is") {
		t.Fatalf("install on a node whose cache names the pool: exit %d\n%s", code, stderr)
	}
	if got := unit("s2"); got != "LoadState=masked" {
		t.Fatalf("install left the scan unit %s, want it masked", got)
	}
}
