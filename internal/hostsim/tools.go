package hostsim

import (
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// handler runs one command on a host with the world lock held.
type handler func(st *state, h *hostState, c host.Cmd) host.Result

// effect is what one invocation of a tool does to the simulated host,
// decided from its arguments before it runs.
type effect uint8

const (
	// changes: may change the state; saved after it runs.
	changes effect = iota
	// readsOnly: changes nothing, so the state is not written back (and
	// VerifyReadOnly proves it in tests).
	readsOnly
	// writesStorage: writes to the device under its pool, dataset or
	// mount point, so it cannot proceed while that DRBD device's I/O is
	// frozen by fencing.
	writesStorage
)

// tool is one simulated program: everything hostsim knows about it in one
// place. A new command is one entry here, its handler beside its layer.
type tool struct {
	run handler
	// effect classifies an invocation; nil means changes.
	effect func(args []string) effect
	// wait, when set, says how long (real time) an invocation takes
	// before it acts, and why (timing.go); 0 runs it at once.
	wait func(st *state, h *hostState, c host.Cmd) (time.Duration, string)
	// asGiven: the program prints the device paths it was given (blkid),
	// so its handler resolves udev names itself; every other program gets
	// them resolved to the kernel's devices before it runs, as opening
	// them would (blockdev.go, openArgs).
	asGiven bool
}

func always(e effect) func([]string) effect { return func([]string) effect { return e } }

// subcommand classifies by the first argument: the listed ones get e, the
// rest changes.
func subcommand(e effect, subs ...string) func([]string) effect {
	return func(args []string) effect {
		for _, s := range subs {
			if len(args) > 0 && args[0] == s {
				return e
			}
		}
		return changes
	}
}

var tools map[string]tool

func init() {
	// Built in init because some handlers (env) refer back to the table.
	tools = map[string]tool{
		"true": {run: func(*state, *hostState, host.Cmd) host.Result { return ok("") }},
		"sync": {run: func(*state, *hostState, host.Cmd) host.Result { return ok("") },
			effect: func(args []string) effect {
				if len(args) == 0 {
					return readsOnly
				}
				return changes
			}},
		"cat":   {run: cmdCat, effect: always(readsOnly)},
		"tee":   {run: cmdTee},
		"mv":    {run: cmdMv},
		"mkdir": {run: cmdMkdir},
		"rm":    {run: cmdRm},
		"rmdir": {run: cmdRmdir},
		"lfs": {run: cmdLfs, effect: func(args []string) effect {
			switch {
			case len(args) >= 2 && args[0] == "quota":
				return readsOnly
			case len(args) == 3 && args[0] == "project" && args[1] == "-d":
				return readsOnly
			}
			return changes
		}},
		"dd":            {run: cmdDd},
		"chmod":         {run: cmdChmod},
		"test":          {run: cmdTest, effect: always(readsOnly)},
		"hostid":        {run: cmdHostid},
		"zgenhostid":    {run: cmdZgenhostid},
		"modprobe":      {run: cmdModprobe},
		"lsmod":         {run: cmdLsmod},
		"rmmod":         {run: cmdRmmod},
		"wipefs":        {run: cmdWipefs},
		"blkid":         {run: cmdBlkid, asGiven: true},
		"lsblk":         {run: cmdLsblk},
		"blockdev":      {run: cmdBlockdev},
		"dmesg":         {run: cmdDmesg},
		"drbdadm":       {run: cmdDrbdadm},
		"zpool":         {run: cmdZpool, effect: subcommand(writesStorage, "create", "export", "set"), wait: zpoolWait},
		"zfs":           {run: cmdZfs, effect: subcommand(writesStorage, "set", "create")},
		"mkfs.lustre":   {run: cmdMkfsLustre, effect: always(writesStorage)},
		"tunefs.lustre": {run: cmdTunefsLustre},
		"mount":         {run: cmdMount, wait: mountWait},
		"umount":        {run: cmdUmount, effect: always(writesStorage), wait: umountWait},
		"lnetctl":       {run: cmdLnetctl},
		"lctl":          {run: cmdLctl},
		"env":           {run: cmdEnv},
		"setpriv":       {run: cmdSetpriv},
		"uname":         {run: cmdUname},
		"apt-get":       {run: cmdAptGet},
		"dpkg-query":    {run: cmdDpkgQuery},
		"dnf":           {run: cmdDnf},
		"rpm":           {run: cmdRpm},
		"systemctl":     {run: cmdSystemctl, effect: subcommand(readsOnly, "show")},
	}
}

// effectOf classifies an invocation; an unknown program changes nothing
// but is saved like any other command.
func effectOf(c host.Cmd) effect {
	t, found := tools[c.Name]
	if !found || t.effect == nil {
		return changes
	}
	return t.effect(c.Args)
}

// runCommand dispatches a command. The steps must not need a shell, so
// sh/bash are as unknown as any other program.
func runCommand(st *state, h *hostState, c host.Cmd) host.Result {
	t, found := tools[c.Name]
	if !found {
		return fail(127, "%s: command not found", c.Name)
	}
	if !t.asGiven {
		c.Args = h.openArgs(c.Args)
	}
	return t.run(st, h, c)
}
