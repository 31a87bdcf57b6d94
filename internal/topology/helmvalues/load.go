// Package helmvalues layers values the way `helm install` does (several -f
// files, --set, --set-string, then the chart's own values.yaml underneath),
// for the plugin. It is kept apart from package topology so that the
// entrypoint binaries, which read values Helm already rendered, link none
// of it.
//
// --set is parsed by Helm's own strvals. The layering itself (merging the
// files, then the chart defaults under them, with null deleting a
// default) is written here: Helm's packages for it link client-go's
// scheme of every API group, which alone kept the plugin binary over
// 20 MB (issue 17). FuzzLoadIsHelms holds it to Helm's result on every
// input; the test links Helm, the plugin does not.
package helmvalues

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/strvals"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

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
		defaults = map[string]any{}
		defaultsErr = yaml.Unmarshal(b, &defaults)
	})
	return defaults, defaultsErr
}

// Load merges the chart defaults, the files and the --set values as helm
// install does, and returns the result. A file that cannot be read or
// parsed is an I/O error, not a Problem.
func Load(o Options) (map[string]any, error) {
	user := map[string]any{}
	for _, f := range o.Files {
		b, err := readValues(f)
		if err != nil {
			return nil, err
		}
		m, err := parseValues(b)
		if err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", f, err)
		}
		user = mergeMaps(user, m)
	}
	for _, s := range o.Sets {
		if err := strvals.ParseInto(s, user); err != nil {
			return nil, fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	for _, s := range o.StringSets {
		if err := strvals.ParseIntoString(s, user); err != nil {
			return nil, fmt.Errorf("failed parsing --set-string data: %w", err)
		}
	}
	return coalesce(user)
}

// readValues reads a values file as helm does without its URL getters: "-"
// is stdin; any other name, a URL too, is a local path.
func readValues(name string) ([]byte, error) {
	if strings.TrimSpace(name) == "-" {
		return io.ReadAll(os.Stdin)
	}
	if _, err := url.Parse(name); err != nil {
		return nil, err
	}
	return os.ReadFile(name)
}

// parseValues reads every YAML document of a values file, each merged
// over the one before, as helm does.
func parseValues(b []byte) (map[string]any, error) {
	// A last line without a newline can be dropped by the document
	// reader; helm appends one too.
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	out := map[string]any{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("error reading yaml document: %w", err)
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("cannot unmarshal yaml document: %w", err)
		}
		out = mergeMaps(out, m)
	}
}

// mergeMaps lays b over a: tables merge key by key, anything else in b
// replaces what a had (null included: it is dealt with under the chart
// defaults, by withDefaults).
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		bt, bIsTable := v.(map[string]any)
		at, aIsTable := out[k].(map[string]any)
		if bIsTable && aIsTable {
			out[k] = mergeMaps(at, bt)
			continue
		}
		out[k] = v
	}
	return out
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
	return withDefaults(user, d), nil
}

// withDefaults lays the user's values over the chart's defaults as helm
// install does for a chart without subcharts. Both are copied first (the
// defaults are cached, and the caller keeps its map). A null the user
// gives for a key the chart has removes the key (at the top level, also
// where the chart's value is null); the chart's own nulls are dropped; a
// table on one side and a value on the other keeps the user's side; the
// user's other nulls stay.
func withDefaults(user, defaults map[string]any) map[string]any {
	out := deepCopy(user).(map[string]any)
	d := deepCopy(defaults).(map[string]any)
	for k, v := range d {
		if uv, set := out[k]; v == nil && set && uv == nil {
			delete(out, k)
		}
	}
	dropNulls(d)
	fillTables(out, d)
	return out
}

// fillTables fills dst (the user's values) from src (the chart's, without
// nulls): a key dst lacks takes src's value, a key dst sets to null is
// removed, tables merge down, and dst's value wins over any other.
func fillTables(dst, src map[string]any) {
	for k, sv := range src {
		dv, set := dst[k]
		switch {
		case !set:
			dst[k] = sv
		case dv == nil:
			delete(dst, k)
		default:
			st, sIsTable := sv.(map[string]any)
			dt, dIsTable := dv.(map[string]any)
			if sIsTable && dIsTable {
				fillTables(dt, st)
			}
		}
	}
}

func dropNulls(m map[string]any) {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		} else if t, ok := v.(map[string]any); ok {
			dropNulls(t)
		}
	}
}

// deepCopy copies what YAML and --set produce: tables, lists, scalars.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}
