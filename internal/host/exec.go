package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// ExecRunner runs commands with os/exec, either directly or through
// nsenter into the namespaces of PID 1 (the pod runs with hostPID, so PID 1
// is the host's init and its mount namespace is the host's).
type ExecRunner struct {
	// Nsenter selects `nsenter -t 1 -m -u -i -n -p -- NAME ARGS...`.
	Nsenter bool
}

// NewNsenter returns the runner the node pods use.
func NewNsenter() *ExecRunner { return &ExecRunner{Nsenter: true} }

// NewLocal returns a runner that executes commands in the current
// namespaces, for an agent already running on the host (the VM agent) and
// for tests.
func NewLocal() *ExecRunner { return &ExecRunner{} }

// argv returns the program and arguments actually executed.
func (r *ExecRunner) argv(c Cmd) (string, []string) {
	if !r.Nsenter {
		return c.Name, c.Args
	}
	args := append([]string{"-t", "1", "-m", "-u", "-i", "-n", "-p", "--", c.Name}, c.Args...)
	return "nsenter", args
}

// Run implements Runner.
func (r *ExecRunner) Run(ctx context.Context, c Cmd) (Result, error) {
	if c.Name == "" {
		return Result{}, errors.New("host: empty command name")
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%s: not started: %w", c, err)
	}
	name, args := r.argv(c)
	cmd := exec.CommandContext(ctx, name, args...)
	// A killed command's children may keep its pipes open; do not let
	// them hold the step past its deadline.
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	// A killed process reports exit -1 and an *exec.ExitError; the cause
	// that matters to the caller is the context, so report that first.
	if ctxErr := ctx.Err(); ctxErr != nil {
		return res, fmt.Errorf("%s: %w", c, ctxErr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return res, &ExitError{Cmd: c, Result: res}
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", c, err)
	}
	return res, nil
}
