package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
)

type flags struct {
	opts   helmvalues.Options
	output string
}

// parse reads the flags shared by every command. Positional arguments are
// values files, taken before any -f so `validate a.yaml -f b.yaml` layers b
// over a as helm would for `-f a.yaml -f b.yaml`.
// code is the exit code when ok is false: 0 after --help (printed to
// stdout), exitUsage after a usage error (said on stderr).
func parse(cmd string, args []string, stdout, stderr io.Writer) (f *flags, code int, ok bool) {
	f = &flags{}
	fs := pflag.NewFlagSet("helm lustre "+cmd, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help: the command's help, below
	fs.StringArrayVarP(&f.opts.Files, "values", "f", nil, "values file (repeatable; later files win)")
	fs.StringArrayVar(&f.opts.Sets, "set", nil, "set a value: key=value (repeatable)")
	fs.StringArrayVar(&f.opts.StringSets, "set-string", nil, "set a string value: key=value (repeatable)")
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			fmt.Fprintf(stdout, "usage: helm lustre %s [-f FILE]... [--set K=V]... [--set-string K=V]... [-o text|json] [FILE]...\n%s", cmd, valuesFlags)
			return nil, exitOK, false
		}
		fmt.Fprintf(stderr, "helm lustre %s: %v\n", cmd, err)
		return nil, exitUsage, false
	}
	if f.output != "text" && f.output != "json" {
		fmt.Fprintf(stderr, "helm lustre %s: --output must be text or json, not %q\n", cmd, f.output)
		return nil, exitUsage, false
	}
	f.opts.Files = append(fs.Args(), f.opts.Files...)
	if len(f.opts.Files) == 0 && len(f.opts.Sets) == 0 && len(f.opts.StringSets) == 0 {
		fmt.Fprintf(stderr, "helm lustre %s: name a values file (helm lustre %s values.yaml)\n", cmd, cmd)
		return nil, exitUsage, false
	}
	return f, exitOK, true
}

// load parses flags and checks the values. ok is false when the command must
// exit with code.
func load(cmd string, args []string, stdout, stderr io.Writer) (f *flags, v *topology.Values, code int, ok bool) {
	if f, code, ok = parse(cmd, args, stdout, stderr); !ok {
		return nil, nil, code, false
	}
	v, problems, err := helmvalues.Check(f.opts)
	if err != nil {
		fmt.Fprintf(stderr, "helm lustre %s: %v\n", cmd, err)
		return nil, nil, exitUsage, false
	}
	if len(problems) > 0 {
		reportProblems(f, problems, stdout)
		return nil, nil, exitProblems, false
	}
	return f, v, exitOK, true
}

func source(o helmvalues.Options) string {
	s := strings.Join(o.Files, ", ")
	if s == "" {
		s = "--set values"
	}
	return s
}

type validateResult struct {
	Valid    bool               `json:"valid"`
	Source   string             `json:"source"`
	Summary  string             `json:"summary,omitempty"`
	Problems []topology.Problem `json:"problems"`
	// Warnings do not make the values invalid (topology.Values.Warnings).
	Warnings []topology.Problem `json:"warnings"`
}

func reportProblems(f *flags, ps topology.Problems, out io.Writer) {
	if f.output == "json" {
		writeJSON(out, validateResult{Source: source(f.opts), Problems: ps, Warnings: []topology.Problem{}})
		return
	}
	fmt.Fprintf(out, "%s: %d problem(s)\n", source(f.opts), len(ps))
	for _, p := range ps {
		fmt.Fprintln(out, p.String())
	}
}

func validate(args []string, stdout, stderr io.Writer) int {
	f, v, code, ok := load("validate", args, stdout, stderr)
	if !ok {
		return code
	}
	sum := summary(v.Plan())
	ws := v.Warnings()
	if f.output == "json" {
		writeJSON(stdout, validateResult{Valid: true, Source: source(f.opts), Summary: sum, Problems: []topology.Problem{}, Warnings: append([]topology.Problem{}, ws...)})
		return exitOK
	}
	fmt.Fprintf(stdout, "%s: valid: %s\n", source(f.opts), sum)
	if len(ws) > 0 {
		fmt.Fprintf(stdout, "%d warning(s):\n", len(ws))
		for _, w := range ws {
			fmt.Fprintln(stdout, w.String())
		}
	}
	return exitOK
}

func summary(p *topology.Plan) string {
	count := map[string]int{}
	mgs := ""
	for _, t := range p.Targets {
		count[t.Type]++
		if t.MGS {
			mgs = t.Name
		}
	}
	servers, clients := 0, 0
	for _, n := range p.Nodes {
		if len(n.Targets) > 0 {
			servers++
		}
		if n.Client {
			clients++
		}
	}
	if p.External {
		return fmt.Sprintf("external filesystem %s (MGS %s), %d named client nodes", p.FSName, topology.NIDList(p.MGSNodes), clients)
	}
	return fmt.Sprintf("filesystem %s, %d targets (%d MDT, %d OST, MGS on %s) on %d server nodes, %d named client nodes",
		p.FSName, len(p.Targets), count[topology.TypeMDT], count[topology.TypeOST], mgs, servers, clients)
}

func plan(args []string, stdout, stderr io.Writer) int {
	f, v, code, ok := load("plan", args, stdout, stderr)
	if !ok {
		return code
	}
	p := v.Plan()
	if f.output == "json" {
		writeJSON(stdout, p)
		return exitOK
	}
	writePlan(stdout, p)
	return exitOK
}

func writeJSON(out io.Writer, v any) {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
