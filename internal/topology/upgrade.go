package topology

import (
	"fmt"
	"slices"
	"strings"
)

// A target that exists has data on its disks under the names, devices and
// DRBD identity it was created with; the host steps find it again only
// under those. An upgrade that changes one of them does not move the data:
// it makes the steps look elsewhere (a blank disk, another minor), where
// they either refuse or, worse, find nothing running and report the live
// Primary down. So a running release's targets keep them.

// targetFact is one thing about a target an upgrade must not change, with
// why and what to do instead.
type targetFact struct {
	path string // under targets[i]
	of   func(v *Values, t Target, tp TargetPlan) string
	why  string
	how  string
}

var targetFacts = []targetFact{
	{"nodes", func(_ *Values, t Target, _ TargetPlan) string { return strings.Join(t.Nodes, ", ") },
		"its data is on those nodes' disks; the new nodes have none of it",
		"keep the nodes; moving a target to another pair is a host-side procedure (docs/operations.md)"},
	{"drbd.minor", func(_ *Values, t Target, _ TargetPlan) string {
		return drbdFact(t, func(d *DRBD) string { return fmt.Sprint(d.Minor) })
	},
		"DRBD 8.4 finds a running resource by its minor: the serving Primary would be reported down and never demoted",
		"keep the minor; it changes only with the target moved to a new pair"},
	{"drbd.port", func(_ *Values, t Target, _ TargetPlan) string {
		return drbdFact(t, func(d *DRBD) string { return fmt.Sprint(d.Port) })
	},
		"a running resource keeps its old port until it is brought down, so the pair does not reconnect after the next reboot of one side",
		"keep the port"},
	{"drbd.disk", func(_ *Values, t Target, _ TargetPlan) string {
		return drbdFact(t, func(d *DRBD) string {
			// By position: a node renamed onto the same disks is the
			// nodes fact's to report.
			var ds []string
			for _, n := range t.Nodes {
				ds = append(ds, d.Disk.For(n))
			}
			return strings.Join(ds, ", ")
		})
	}, "the target's data and DRBD metadata are on the old disk; a new, blank one would be given fresh metadata",
		"keep the disks; replacing a failed disk is a host-side procedure (docs/operations.md)"},
	{"zpool", func(_ *Values, t Target, tp TargetPlan) string {
		// The vdevs as given: a DRBD target's (/dev/drbdN) follow its
		// minor, which is reported as such.
		return strings.TrimSpace(tp.Pool + " " + strings.Join(t.ZPool.Vdevs, " "))
	}, "the pool is imported by its name from its devices; another name or vdev list finds no pool",
		"keep the pool name and devices"},
	{"sharedStorage", func(_ *Values, t Target, _ TargetPlan) string { return fmt.Sprint(t.SharedStorage) },
		"the target's disks are either shared or replicated, not both in turn",
		"keep it"},
}

func drbdFact(t Target, f func(*DRBD) string) string {
	if t.DRBD == nil {
		return "none"
	}
	return f(t.DRBD)
}

// UpgradeChanges lists what an upgrade from the running values to next
// would change under targets that exist: the fsname, or a target's nodes,
// disks, DRBD minor or port, pool, or replication, and targets left out of
// next. Targets are matched by name (type and index). Adding targets and
// clients, and every other value, is not listed. Targets named in allow
// are not checked: the operator followed a documented procedure for them.
func UpgradeChanges(running, next *Values, allow []string) Problems {
	var ps Problems
	if running.FSName != next.FSName && len(running.Targets) > 0 {
		ps = append(ps, Problem{Path: "fsname",
			Message: fmt.Sprintf("changes from %s to %s: every existing target is formatted and registered with the MGS under %s", running.FSName, next.FSName, running.FSName),
			Hint:    "keep fsname " + running.FSName + "; a new filesystem is a new release"})
		return ps
	}
	runPlan, nextPlan := running.Plan(), next.Plan()
	at := map[string]int{}
	for i, tp := range nextPlan.Targets {
		at[tp.Name] = i
	}
	for i, old := range runPlan.Targets {
		if slices.Contains(allow, old.Name) {
			continue
		}
		j, ok := at[old.Name]
		if !ok {
			ps = append(ps, Problem{Path: "targets",
				Message: fmt.Sprintf("%s (%s) is no longer listed: it exists and holds part of the filesystem; without it its data stays on its disks, unserved", old.Name, old.SVName),
				Hint:    fmt.Sprintf("keep %s in targets (docs/operations.md)", old.Name)})
			continue
		}
		for _, f := range targetFacts {
			was, is := f.of(running, running.Targets[i], old), f.of(next, next.Targets[j], nextPlan.Targets[j])
			if was == is {
				continue
			}
			ps = append(ps, Problem{Path: fmt.Sprintf("targets[%d].%s", j, f.path),
				Message: fmt.Sprintf("%s changes from %q to %q while %s exists: %s", old.Name, was, is, old.Name, f.why),
				Hint:    fmt.Sprintf("%s; if the hosts already match the new values, list %s in upgrade.allowChanges", f.how, old.Name)})
		}
	}
	return ps
}
