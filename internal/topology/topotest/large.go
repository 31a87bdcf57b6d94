// Package topotest builds topologies for tests, benchmarks and examples.
package topotest

import (
	"fmt"
	"strings"
)

// Large renders a valid values file with nTargets targets on nNodes nodes
// (nNodes even, nTargets a multiple of nNodes): nodes form DRBD pairs, each
// pair serves 2*nTargets/nNodes targets, half preferring each node. The
// first target is MDT0 with the MGS, the next 15 are further MDTs (DNE), the
// rest OSTs.
func Large(nTargets, nNodes int) []byte {
	var b strings.Builder
	b.WriteString("fsname: big\nlnet: {networks: [\"o2ib0(ib0)\"]}\ntargets:\n")
	perPair := 2 * nTargets / nNodes
	mdts := 0
	osts := 0
	for i := 0; i < nTargets; i++ {
		pair := i / perPair
		slot := i % perPair
		a, c := fmt.Sprintf("n%04d", 2*pair), fmt.Sprintf("n%04d", 2*pair+1)
		if slot%2 == 1 {
			a, c = c, a
		}
		var head string
		switch {
		case i == 0:
			head = "  - {type: mdt, index: 0, mgs: true"
			mdts++
		case mdts < 16:
			head = fmt.Sprintf("  - {type: mdt, index: %d", mdts)
			mdts++
		default:
			head = fmt.Sprintf("  - {type: ost, index: %d", osts)
			osts++
		}
		fmt.Fprintf(&b, "%s, nodes: [%s, %s], drbd: {minor: %d, port: %d, disk: /dev/disk/by-id/d%d}}\n",
			head, a, c, slot, 7788+slot, slot)
	}
	b.WriteString("clients: {nodeSelector: {lustre-client: \"true\"}}\n")
	return []byte(b.String())
}
