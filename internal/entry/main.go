package entry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Command is one subcommand of an entrypoint binary.
type Command func(ctx context.Context, rt *Runtime, args []string) error

// Runtime is what a subcommand gets: its environment and logger.
type Runtime struct {
	Env    Env
	Log    *slog.Logger
	Stdout io.Writer
}

// HeartbeatMaxAge is how old a status file may be before probes fail.
const HeartbeatMaxAge = 30 * time.Second

// ExitCode is an answer a subcommand gives through its exit code rather
// than as a failure: DRBD reads a handler's exit code (fence-peer 4: the
// peer is outdated), so Main exits with it as is.
type ExitCode int

func (c ExitCode) Error() string { return fmt.Sprintf("exit code %d", int(c)) }

// Main runs the subcommand named by args[0] and returns the process exit
// code: 0 success, 1 the command failed, 2 usage, or the command's own
// ExitCode. Every binary has `health`.
func Main(component string, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool), cmds map[string]Command) int {
	env, err := FromEnv(lookup)
	log := Logger(stderr, component, env)
	if err != nil {
		log.Error("bad environment", "err", err)
		return 2
	}
	if _, ok := cmds["health"]; !ok {
		cmds["health"] = healthCommand
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: %s COMMAND (%s)\n", component, names(cmds))
		return 2
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q (want one of %s)\n", component, args[0], names(cmds))
		return 2
	}
	ctx, cancel := SignalContext()
	defer cancel()
	rt := &Runtime{Env: env, Log: log.With("command", args[0]), Stdout: stdout}
	if err := cmd(ctx, rt, args[1:]); err != nil {
		var code ExitCode
		if errors.As(err, &code) {
			return int(code)
		}
		rt.Log.Error("failed", "err", err.Error())
		return 1
	}
	return 0
}

func healthCommand(_ context.Context, rt *Runtime, args []string) error {
	fs := pflag.NewFlagSet("health", pflag.ContinueOnError)
	live := fs.Bool("live", false, "liveness: the main loop is alive, ready or not")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := Health(rt.Env.StatusFile, *live, HeartbeatMaxAge, time.Now()); err != nil {
		return err
	}
	fmt.Fprintln(rt.Stdout, "ok")
	return nil
}

func names(cmds map[string]Command) string {
	return strings.Join(slices.Sorted(maps.Keys(cmds)), ", ")
}

// OSMain is Main with the process's arguments, streams and environment.
func OSMain(component string, cmds map[string]Command) {
	os.Exit(Main(component, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, cmds))
}
