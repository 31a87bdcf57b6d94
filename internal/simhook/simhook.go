// Package simhook is the one seam through which simulated hosts reach the
// entrypoint binaries. Production binaries leave it empty: internal/hostsim
// fills it from its init, and it is linked only into test binaries and into
// the test clusters' images (build tag hostsim, internal/entry/hostsim.go),
// so a production binary carries no second, fake host (ci/check-deps.sh).
package simhook

import "github.com/kube-lustre/kube-lustre/internal/host"

// Hooks are what an entrypoint needs from a simulated world.
type Hooks struct {
	// Open returns the runner of the simulated host node in the world
	// stored in dir.
	Open func(dir, node string) (host.Runner, error)
	// SetHandlerSockets tells the world the directory of node's DRBD
	// fence handler sockets, one per release (relative to dir), as
	// installing the handler does on a real host.
	SetHandlerSockets func(dir, node, sockets string) error
}

var hooks *Hooks

// Register installs the simulated world's hooks; internal/hostsim calls it.
func Register(h Hooks) { hooks = &h }

// Get returns the hooks, or false in a binary built without simulated
// hosts.
func Get() (Hooks, bool) {
	if hooks == nil {
		return Hooks{}, false
	}
	return *hooks, true
}
