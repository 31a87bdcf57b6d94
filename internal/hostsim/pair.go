package hostsim

import "fmt"

// PairAddress returns the eth1 address OpenPair gives the i-th host
// (10.0.0.1, 10.0.0.2, ...).
func PairAddress(i int) string { return fmt.Sprintf("10.0.0.%d", i+1) }

// OpenPair opens a world in dir with the named hosts (two for an HA pair),
// each with eth1 at PairAddress(i), a blank 1 GiB /dev/sdb and every
// module kube-lustre needs, on the given DRBD version. It is the common
// starting point of the step packages' tests.
func OpenPair(dir, drbdVersion string, names ...string) (*World, error) {
	w, err := Open(dir)
	if err != nil {
		return nil, err
	}
	if err := w.SetDRBDVersion(drbdVersion); err != nil {
		return nil, err
	}
	for i, n := range names {
		if err := w.AddHost(n, HostConfig{Interfaces: map[string]string{"eth1": PairAddress(i)}}); err != nil {
			return nil, err
		}
		if err := w.AddDisk(n, "/dev/sdb", 1<<30); err != nil {
			return nil, err
		}
	}
	return w, nil
}
