//go:build hostsim

package entry

// The test clusters' images are built with -tags hostsim (ci/cluster/images.sh):
// they run their host steps on the simulated hosts of testing.hostsimDir.
import _ "github.com/kube-lustre/kube-lustre/internal/hostsim"
