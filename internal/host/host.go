// Package host is the single path by which kube-lustre runs commands on a
// node. Every step (DRBD, ZFS, Lustre) talks to the node through a Runner so
// that the same code runs against the real host (through nsenter into PID 1's
// namespaces), a VM agent, or the hostsim simulator in tests.
package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Cmd is one command to run: argv[0] is Name, the rest are Args. There is
// deliberately no shell: steps must spell out every argument so that what
// is logged is exactly what ran.
type Cmd struct {
	Name  string
	Args  []string
	Stdin []byte
}

// Command builds a Cmd without stdin; it keeps call sites short.
func Command(name string, args ...string) Cmd {
	return Cmd{Name: name, Args: args}
}

// Argv returns Name followed by Args.
func (c Cmd) Argv() []string {
	return append([]string{c.Name}, c.Args...)
}

// String renders the command for logs and error messages.
func (c Cmd) String() string {
	return strings.Join(c.Argv(), " ")
}

// Result is what a command printed and how it exited.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Runner runs one command. The contract every implementation keeps:
// err != nil when the command could not be started, timed out, was
// cancelled through ctx, or exited non-zero. A non-zero exit is reported as
// an *ExitError carrying the Result so callers can look at the exit code and
// stderr. A step must treat any error as "state unknown": it is never proof
// that a disk is blank, a resource is down or a pool is absent, unless the
// step checks for the specific exit code and message the real tool uses for
// that answer.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// RunnerFunc adapts a function to the Runner interface.
type RunnerFunc func(ctx context.Context, c Cmd) (Result, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, c Cmd) (Result, error) { return f(ctx, c) }

// ExitError reports a command that ran and exited non-zero.
type ExitError struct {
	Cmd    Cmd
	Result Result
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Result.Stderr)
	if msg == "" {
		msg = strings.TrimSpace(e.Result.Stdout)
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if msg == "" {
		return fmt.Sprintf("%s: exit %d", e.Cmd, e.Result.ExitCode)
	}
	return fmt.Sprintf("%s: exit %d: %s", e.Cmd, e.Result.ExitCode, msg)
}

// AsExit returns the *ExitError inside err, if any. Callers use it to
// recognise the one specific exit code and message a tool uses for a
// definite answer; anything else stays an error.
func AsExit(err error) (*ExitError, bool) {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee, true
	}
	return nil, false
}

// ExitedWith reports whether err is an *ExitError with the given exit code
// whose stdout or stderr contains want (want == "" matches any output).
func ExitedWith(err error, code int, want string) bool {
	ee, ok := AsExit(err)
	if !ok || ee.Result.ExitCode != code {
		return false
	}
	return want == "" || strings.Contains(ee.Result.Stderr, want) || strings.Contains(ee.Result.Stdout, want)
}

// Run is a convenience for r.Run(ctx, Command(name, args...)).
func Run(ctx context.Context, r Runner, name string, args ...string) (Result, error) {
	return r.Run(ctx, Command(name, args...))
}
