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

const usage = `usage: helm lustre COMMAND [-f FILE]... [--set K=V]... [--set-string K=V]... [-o text|json] [FILE]...

commands:
  validate   check a values file; every problem with its field path and fix
  plan       show which node gets which labels, DRBD resources and targets
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
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "helm lustre: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}
