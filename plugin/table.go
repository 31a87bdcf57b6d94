package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// writePlan prints the plan as two tables: per node, then per target.
func writePlan(out io.Writer, p *topology.Plan) {
	fmt.Fprintf(out, "filesystem %s, MGS NIDs %s\n\nNODES\n", p.FSName, topology.NIDList(p.MGSNodes))
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tTARGETS\tDRBD (resource minor port disk -> peer)\tLABELS")
	for _, n := range p.Nodes {
		var drbd []string
		for _, r := range n.DRBD {
			drbd = append(drbd, fmt.Sprintf("%s %d %d %s -> %s", r.Name, r.Minor, r.Port, r.Disk, r.Peer))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n.Name, dash(strings.Join(n.Targets, ",")), dash(strings.Join(drbd, "; ")), labels(n.Labels))
	}
	_ = w.Flush()
	fmt.Fprintln(out, "\nTARGETS")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tSVNAME\tNODES\tDEVICE\tDATASET\tMOUNT\tSERVICENODE")
	for _, t := range p.Targets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.SVName, strings.Join(t.Nodes, ","),
			strings.Join(t.Vdevs, " "), t.Dataset, t.MountPoint, topology.NIDList(t.ServiceNodes))
	}
	_ = w.Flush()
	c := p.Clients
	if !c.Enabled {
		fmt.Fprintln(out, "\nCLIENTS disabled")
		return
	}
	fmt.Fprintf(out, "\nCLIENTS mount %s on nodes [%s]", c.MountPoint, strings.Join(c.Nodes, ","))
	if len(c.NodeSelector) > 0 {
		fmt.Fprintf(out, " and nodes matching %s", labels(c.NodeSelector))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "\n<node> in a NID list: resolved at run time with lctl list_nids on that node.")
}

func labels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
