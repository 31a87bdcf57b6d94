// Package podstate names the states a kube-lustre pod's main loop reports:
// the agent loops set them, the binaries write them to the status file,
// and the probes judge them. One type, so a loop cannot report a state the
// probes do not know.
package podstate

// State is what a pod's main loop is doing.
type State string

const (
	Starting State = "starting" // preparing: waiting for DRBD, the Lease, modules
	Ready    State = "ready"    // serving: the pod's readiness is true only here
	Stopping State = "stopping"
	Failed   State = "failed"
)
