// Command helm-lustre is the `helm lustre` plugin: it validates a kube-lustre
// values file and shows the placement derived from it, using the same
// topology package as the chart's labelling Job and the entrypoints.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes: 0 valid, 1 problems found, 2 usage or I/O error.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: helm lustre validate|plan [-f FILE]... [--set K=V]... [--set-string K=V]... [-o text|json] [FILE]...
       helm lustre status RELEASE [-n NAMESPACE] [-o text|json]

commands:
  validate   check a values file; every problem with its field path and fix
  plan       show which node gets which labels, DRBD resources and targets
  status     RELEASE [-n NAMESPACE]: each target's pod, Lease holder and age,
             DRBD role/disk/connection on both nodes, mounted (exit 1 if any
             target is not ready or something could not be read)
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "plan":
		return plan(args[1:], stdout, stderr)
	case "status":
		return status(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "helm lustre: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}
