// Command installer is the init container of every kube-lustre pod that
// touches a host; the chart runs `installer <install.mode>`.
//
// `installer verify` loads the kernel modules the node's role needs (DRBD,
// ZFS, Lustre server or client) and names each one that is missing, so the
// pod fails with the reason instead of half-starting. It configures LNet
// (lnet.networks) after the lnet module and before lustre, which would
// otherwise bring LNet up with its module defaults. On a DRBD node it
// refuses while the host would import a target's pool at boot
// (zfs.CheckBootImport): from the backing disk, that import bypasses DRBD.
//
// `installer install` first installs the distribution packages for the
// node's role at pinned versions (install.packages in the values overrides
// them), acting only on what is missing, masks the boot-time pool scan on
// a DRBD node, then verifies exactly as `verify` does.
package main

import (
	"context"
	"fmt"

	"github.com/kube-lustre/kube-lustre/internal/entry"
	"github.com/kube-lustre/kube-lustre/internal/install"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
	"github.com/kube-lustre/kube-lustre/internal/podstate"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// commands are the subcommands; the chart picks one with install.mode.
func commands() map[string]entry.Command {
	return map[string]entry.Command{"verify": verifyCommand, "install": installCommand}
}

func main() {
	entry.OSMain("installer", commands())
}

func verifyCommand(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.SetupNode(ctx, rt)
	if err != nil {
		return err
	}
	return verify(ctx, rt, n, "install the Lustre, ZFS and DRBD packages for this kernel")
}

func installCommand(ctx context.Context, rt *entry.Runtime, _ []string) error {
	n, err := entry.SetupNode(ctx, rt)
	if err != nil {
		return err
	}
	n.Status.Set(podstate.Starting, "installing pinned packages")
	rep, err := install.Ensure(ctx, n.Runner, roleFor(n), n.Values.Install.Packages)
	if err != nil {
		return n.Fail(fmt.Errorf("node %s: %w", rt.Env.Node, err))
	}
	rt.Log.Info("packages", "report", rep.String())
	if roleFor(n).DRBD {
		masked, err := zfs.MaskBootImportScan(ctx, n.Runner)
		if err != nil {
			return n.Fail(fmt.Errorf("node %s: masking %s: %w", rt.Env.Node, zfs.ScanUnit, err))
		}
		if masked {
			rt.Log.Warn("masked the boot-time pool scan: it would import the targets' pools from their backing disks, around DRBD", "unit", zfs.ScanUnit)
		}
	}
	// The packages are pinned and present, so a module that still does not
	// load is a kernel mismatch (kmod built for another kABI, DKMS build
	// failure), not a missing package.
	return verify(ctx, rt, n, "the pinned packages are installed ("+rep.String()+"): check that their modules match the running kernel")
}

// verify loads the role's modules; hint ends the message when some are
// missing. LNet is configured with the values' networks before lustre is
// loaded: lustre would otherwise bring it up from the module defaults
// (tcp on the first interface), a NID the agents could not take back.
func verify(ctx context.Context, rt *entry.Runtime, n *entry.Node, hint string) error {
	mods := modulesFor(n)
	if err := lustre.EnsureModulesAndLNet(ctx, n.Runner, mods, n.Values.LNet.Networks); err != nil {
		return n.Fail(fmt.Errorf("node %s: %w; %s", rt.Env.Node, err, hint))
	}
	if roleFor(n).DRBD {
		if err := zfs.CheckBootImport(ctx, n.Runner, drbdPools(n)); err != nil {
			return n.Fail(fmt.Errorf("node %s: %w", rt.Env.Node, err))
		}
	}
	n.Status.Set(podstate.Ready, fmt.Sprintf("modules present: %v", mods))
	return nil
}

// drbdPools are the pools on this node's DRBD resources: those whose
// labels its backing disks carry.
func drbdPools(n *entry.Node) []string {
	np, _ := n.Plan.Node(n.Spec.Node)
	var pools []string
	for _, r := range np.DRBD {
		if tp, ok := n.Plan.Target(r.Target); ok {
			pools = append(pools, tp.Pool)
		}
	}
	return pools
}

// roleFor is the node's role in the plan: a node with DRBD resources
// replicates, a node with targets serves them; any other node is a client.
func roleFor(n *entry.Node) install.Role {
	np, _ := n.Plan.Node(n.Spec.Node)
	return install.Role{DRBD: len(np.DRBD) > 0, Server: len(np.Targets) > 0}
}

// modulesFor is what the node's role needs: a server loads the DRBD and ZFS
// modules and Lustre's server side; a client only LNet and the client.
func modulesFor(n *entry.Node) []string {
	role := roleFor(n)
	var mods []string
	if role.DRBD {
		mods = append(mods, "drbd")
	}
	if role.Server {
		mods = append(mods, "zfs")
		return append(mods, lustre.ServerModules...)
	}
	return append(mods, lustre.ClientModules...)
}
