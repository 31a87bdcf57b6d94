package hostsim

import (
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/simhook"
)

// Linking hostsim is what lets an entrypoint run on simulated hosts
// (KUBE_LUSTRE_HOSTSIM): test binaries link it, and so do the test
// clusters' images (build tag hostsim); production binaries do not.
func init() {
	simhook.Register(simhook.Hooks{
		Open: func(dir, node string) (host.Runner, error) {
			w, err := Open(dir)
			if err != nil {
				return nil, err
			}
			return w.Host(node), nil
		},
		SetHandlerSockets: func(dir, node, sockets string) error {
			w, err := Open(dir)
			if err != nil {
				return err
			}
			return w.SetHandlerSockets(node, sockets)
		},
	})
}
