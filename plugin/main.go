// Command helm-lustre is the `helm lustre` plugin: it validates a kube-lustre
// values file and shows the placement derived from it, using the same
// topology package as the chart's labelling Job and the entrypoints.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// Exit codes: 0 valid, 1 problems found, 2 usage or I/O error.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

// version is the plugin's release; plugin.yaml says the same
// (TestVersionIsPluginYAMLs).
const version = "0.1.0"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: helm lustre validate|plan [-f FILE]... [--set K=V]... [--set-string K=V]... [-o text|json] [FILE]...
       helm lustre status RELEASE [-n NAMESPACE] [-o text|json] [--watch]
       helm lustre version | completion SHELL | help [COMMAND]

commands:
  validate   check a values file; every problem with its field path and fix
  plan       show which node gets which labels, DRBD resources and targets
  status     RELEASE [-n NAMESPACE]: each target's pod, Lease holder and age,
             space (ZFS used / size, read by its serving pod),
             DRBD role/disk/connection and resync progress on both nodes,
             mounted; the clients that have the filesystem mounted; the
             images each component runs (exit 1 if any target is not ready
             or something could not be read; --watch: again every 2 s)
  version    the plugin's version
  completion bash|zsh|fish|powershell: a shell completion script

exit codes: 0 valid (or done), 1 problems found, 2 usage or I/O error
`

const valuesFlags = `
Flags:
  -f, --values FILE      values file (repeatable; later files win; positional
                         files come first)
      --set K=V          set a value (repeatable)
      --set-string K=V   set a string value (repeatable)
  -o, --output FORMAT    text (default) or json
  -h, --help             this help
`

// run is the CLI on cobra (help, the help command, shell completion). The
// verbs parse their own flags (parse, status): cobra only dispatches, so
// their flags, exit codes and messages stay one implementation.
func run(args []string, stdout, stderr io.Writer) int {
	code := exitOK
	verb := func(use, short, long string, fn func([]string, io.Writer, io.Writer) int) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Long: short + "\n" + long, DisableFlagParsing: true,
			RunE: func(_ *cobra.Command, a []string) error {
				code = fn(a, stdout, stderr)
				return nil
			}}
	}
	// Named as the binary: `helm-lustre completion bash` completes the
	// binary's own verbs, not helm's.
	root := &cobra.Command{Use: "helm-lustre", Short: "validate, plan and inspect kube-lustre filesystems", Long: usage,
		SilenceUsage: true, SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprint(stderr, usage)
			code = exitUsage
			return nil
		}}
	root.AddCommand(
		verb("validate [FILE]...", "check a values file; every problem with its field path and fix", valuesFlags, validate),
		verb("plan [FILE]...", "show which node gets which labels, DRBD resources and targets", valuesFlags, plan),
		verb("status RELEASE", "each target's pod, Lease holder and age, space (ZFS used / size), DRBD state and resync on both nodes, mounted; clients; versions",
			"\nExit 1 if any target is not ready or something could not be read.\n\nFlags:\n  -n, --namespace NS     the release's namespace (default: helm's, then the kubeconfig's)\n  -o, --output FORMAT    text (default) or json (with --watch: one JSON document per line)\n  -w, --watch            show it again every --interval until interrupted (a failover, a resync)\n      --interval D       with --watch: how often (default 2s)\n  -h, --help             this help\n", status),
		&cobra.Command{Use: "version", Short: "the plugin's version", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				fmt.Fprintf(c.OutOrStdout(), "helm-lustre %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}},
	)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "helm lustre: %v\n%s", err, usage)
		return exitUsage
	}
	return code
}
