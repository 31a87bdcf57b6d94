// Package helmvalues layers values the way `helm install` does (several -f
// files, --set, --set-string, then the chart's own values.yaml underneath)
// with Helm's own code, for the plugin. It is kept apart from package
// topology so that the entrypoint binaries, which read values Helm already
// rendered, do not link Helm.
package helmvalues

import (
	"fmt"
	"io/fs"
	"os"
	"sync"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"

	kubelustre "github.com/kube-lustre/kube-lustre/charts/kube-lustre"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// Options names the user's values the way helm install takes them.
type Options struct {
	Files      []string // -f/--values, in order; later files win
	Sets       []string // --set k=v
	StringSets []string // --set-string k=v
}

var (
	defaultsOnce sync.Once
	defaults     map[string]any
	defaultsErr  error
)

// chartDefaults returns the chart's own values.yaml, which Helm coalesces
// under the user's values: validating without it would judge a file Helm
// never sees.
func chartDefaults() (map[string]any, error) {
	defaultsOnce.Do(func() {
		b, err := fs.ReadFile(kubelustre.Files, "values.yaml")
		if err != nil {
			defaultsErr = err
			return
		}
		defaults, defaultsErr = common.ReadValues(b)
	})
	return defaults, defaultsErr
}

// Load merges the chart defaults, the files and the --set values exactly as
// helm install does (helm's own merge code), and returns the result.
// A file that cannot be read or parsed is an I/O error, not a Problem.
func Load(o Options) (map[string]any, error) {
	vo := values.Options{ValueFiles: o.Files, Values: o.Sets, StringValues: o.StringSets}
	user, err := vo.MergeValues(getter.Providers{})
	if err != nil {
		return nil, err
	}
	return coalesce(user)
}

// LoadBytes is Load for one values document held in memory.
func LoadBytes(doc []byte) (map[string]any, error) {
	user, err := topology.Parse(doc)
	if err != nil {
		return nil, err
	}
	return coalesce(user)
}

// Check loads and validates: the plugin's edge. err is an I/O or parse
// failure (exit 2); problems are mistakes in the values (exit 1).
func Check(o Options) (*topology.Values, topology.Problems, error) {
	if ps := fileProblems(o); len(ps) > 0 {
		return nil, ps, nil
	}
	vals, err := Load(o)
	if err != nil {
		return nil, nil, err
	}
	return topology.Validate(vals)
}

// CheckBytes is Check for one document in memory, chart defaults included.
func CheckBytes(doc []byte) (*topology.Values, topology.Problems, error) {
	ps, empty := topology.DocumentProblems(doc, "")
	if empty {
		ps = append(ps, topology.EmptyValues(1))
	}
	if len(ps) > 0 {
		return nil, ps, nil
	}
	vals, err := LoadBytes(doc)
	if err != nil {
		return nil, nil, err
	}
	return topology.Validate(vals)
}

// fileProblems checks each values file as YAML before Helm reads it:
// Helm keeps the last of two equal keys without a word and answers a list
// at the top level with a JSON decoding error. An empty file is fine among
// others (it layers nothing), not as all there is. A file it cannot read
// ("-", which is stdin, or a missing one) is left to Load to report.
func fileProblems(o Options) topology.Problems {
	var ps topology.Problems
	allEmpty := len(o.Sets) == 0 && len(o.StringSets) == 0
	for _, f := range o.Files {
		b, err := os.ReadFile(f)
		if f == "-" || err != nil {
			allEmpty = false
			continue
		}
		name := ""
		if len(o.Files) > 1 {
			name = f // tell the files apart
		}
		found, empty := topology.DocumentProblems(b, name)
		ps = append(ps, found...)
		allEmpty = allEmpty && empty
	}
	if allEmpty && len(o.Files) > 0 {
		ps = append(ps, topology.EmptyValues(len(o.Files)))
	}
	return ps
}

func coalesce(user map[string]any) (map[string]any, error) {
	d, err := chartDefaults()
	if err != nil {
		return nil, fmt.Errorf("chart defaults: %w", err)
	}
	// CoalesceValues copies the defaults, so the cached map stays pristine.
	ch := &chart.Chart{Metadata: &chart.Metadata{Name: "kube-lustre"}, Values: d}
	v, err := util.CoalesceValues(ch, user)
	if err != nil {
		return nil, err
	}
	return v.AsMap(), nil
}
