package hostsim

import (
	"context"
	"fmt"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// SmallLustre describes a minimal filesystem for tests of what runs on
// clients: one server holding the MGS, MDT0 and one OST in one pool (no
// DRBD, no HA), and client hosts that mount it.
type SmallLustre struct {
	FSName     string   // default "lfs1"
	Server     string   // default "mds1"
	Clients    []string // hosts that mount the filesystem
	MountPoint string   // default /mnt/FSNAME
	// EnforceProjectQuota turns on project quota enforcement and makes it
	// apply to root (quota_slave.enabled=p, root_prj_enable=1), as an
	// administrator would with `lctl set_param -P` on the MGS.
	EnforceProjectQuota bool
}

func (s *SmallLustre) defaults() {
	if s.FSName == "" {
		s.FSName = "lfs1"
	}
	if s.Server == "" {
		s.Server = "mds1"
	}
	if s.MountPoint == "" {
		s.MountPoint = "/mnt/" + s.FSName
	}
}

// ServerNID is the NID clients mount from.
func (s SmallLustre) ServerNID() string { return "10.9.0.1@tcp" }

// Source is the client mount source, NID:/fsname.
func (s SmallLustre) Source() string {
	s.defaults()
	return s.ServerNID() + ":/" + s.FSName
}

// BuildSmallLustre adds the hosts and brings the filesystem up with the
// same commands an administrator (or kube-lustre's agents) would run.
func (w *World) BuildSmallLustre(s SmallLustre) error {
	s.defaults()
	ctx := context.Background()
	if err := w.AddHost(s.Server, HostConfig{Interfaces: map[string]string{"eth1": "10.9.0.1"}}); err != nil {
		return err
	}
	if err := w.AddDisk(s.Server, "/dev/sdb", 1<<30); err != nil {
		return err
	}
	pool := s.FSName + "-p0"
	server := [][]string{
		// LNet before lustre, which would bring it up from the module
		// defaults (see lnetDefaults).
		{"modprobe", "lnet"}, {"lnetctl", "lnet", "configure"},
		{"lnetctl", "net", "add", "--net", "tcp0", "--if", "eth1"},
		{"modprobe", "lustre"}, {"modprobe", "osd_zfs"}, {"zgenhostid"},
		{"zpool", "create", "-o", "multihost=on", "-o", "cachefile=none", "-O", "canmount=off", pool, "/dev/sdb"},
		{"mkfs.lustre", "--backfstype=zfs", "--fsname=" + s.FSName, "--index=0", "--mgs", "--mdt", pool + "/mdt0"},
		{"mkfs.lustre", "--backfstype=zfs", "--fsname=" + s.FSName, "--index=0", "--ost", "--mgsnode=" + s.ServerNID(), pool + "/ost0"},
		{"mkdir", "-p", "/mnt/mdt0"}, {"mkdir", "-p", "/mnt/ost0"},
		{"mount", "-t", "lustre", pool + "/mdt0", "/mnt/mdt0"},
		{"mount", "-t", "lustre", pool + "/ost0", "/mnt/ost0"},
	}
	if s.EnforceProjectQuota {
		server = append(server,
			[]string{"lctl", "set_param", "-P", "osd-*." + s.FSName + "-*.quota_slave.enabled=p"},
			[]string{"lctl", "set_param", "-P", "osd-*." + s.FSName + "-*.quota_slave.root_prj_enable=1"})
	}
	if err := runAll(ctx, w.Host(s.Server), server); err != nil {
		return err
	}
	for i, c := range s.Clients {
		if err := w.AddHost(c, HostConfig{Interfaces: map[string]string{"eth1": fmt.Sprintf("10.9.1.%d", i+1)}}); err != nil {
			return err
		}
		client := [][]string{
			{"modprobe", "lnet"}, {"lnetctl", "lnet", "configure"},
			{"lnetctl", "net", "add", "--net", "tcp0", "--if", "eth1"}, {"modprobe", "lustre"},
			{"mkdir", "-p", s.MountPoint},
			{"mount", "-t", "lustre", "-o", "flock", s.Source(), s.MountPoint},
		}
		if err := runAll(ctx, w.Host(c), client); err != nil {
			return err
		}
	}
	return nil
}

func runAll(ctx context.Context, r host.Runner, argvs [][]string) error {
	for _, a := range argvs {
		if _, err := r.Run(ctx, host.Command(a[0], a[1:]...)); err != nil {
			return err
		}
	}
	return nil
}
