// Command chartcheck fails when the chart's default CSI sidecar images,
// provisioner.images.KEY.{repository,tag} in charts/kube-lustre/values.yaml,
// differ from the images ci/cluster/images.sh builds: IMAGE:VERSION of each
// line of ci/cluster/sidecars/sidecars.txt. It also checks that each sidecar's
// module (ci/cluster/sidecars/NAME/go.mod) pins that VERSION, so a bump of
// sidecars.txt without gen-gomod.sh is caught without building.
//
//	go run ./ci/cluster/sidecars/chartcheck     # from the repository root
//
// A sidecar the chart names but sidecars.txt does not build (one the Go
// module proxy does not serve) is reported as a note, not a failure: the
// chart may point at upstream's image, which the local cluster cannot have.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Sidecar is one line of sidecars.txt.
type Sidecar struct {
	Key, Image, Module, Version, Command string
}

// Name is the binary, the entrypoint /Name and the module directory Name/.
func (s Sidecar) Name() string { return s.Command[strings.LastIndex(s.Command, "/")+1:] }

func main() {
	table := flag.String("sidecars", "ci/cluster/sidecars/sidecars.txt", "the sidecars images.sh builds")
	values := flag.String("values", "charts/kube-lustre/values.yaml", "the chart's default values")
	flag.Parse()
	if err := run(*table, *values, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chartcheck:", err)
		os.Exit(1)
	}
}

func run(tablePath, valuesPath string, notes io.Writer) error {
	tb, err := os.ReadFile(tablePath)
	if err != nil {
		return err
	}
	sidecars, err := ParseTable(tb)
	if err != nil {
		return fmt.Errorf("%s: %w", tablePath, err)
	}
	vb, err := os.ReadFile(valuesPath)
	if err != nil {
		return err
	}
	var problems []string
	for _, s := range sidecars {
		gomod := filepath.Join(filepath.Dir(tablePath), s.Name(), "go.mod")
		if err := PinnedIn(gomod, s); err != nil {
			problems = append(problems, err.Error())
		}
	}
	p, extra, err := Compare(vb, sidecars)
	if err != nil {
		return fmt.Errorf("%s: %w", valuesPath, err)
	}
	problems = append(problems, p...)
	for _, e := range extra {
		fmt.Fprintf(notes, "chartcheck: note: %s is not checked: not one of the upstream sidecars ci/cluster/images.sh builds (%s)\n", e, tablePath)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s and %s disagree:\n  %s", valuesPath, tablePath, strings.Join(problems, "\n  "))
	}
	return nil
}

// ParseTable reads sidecars.txt: KEY IMAGE MODULE VERSION COMMAND a line,
// # comments.
func ParseTable(b []byte) ([]Sidecar, error) {
	var out []Sidecar
	keys := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d: want KEY IMAGE MODULE VERSION COMMAND, got %q", ln, line)
		}
		s := Sidecar{f[0], f[1], f[2], f[3], f[4]}
		if keys[s.Key] {
			return nil, fmt.Errorf("line %d: key %s twice", ln, s.Key)
		}
		keys[s.Key] = true
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sidecars")
	}
	return out, sc.Err()
}

// PinnedIn checks that go.mod requires s.Module at s.Version (the line
// gen-gomod.sh writes).
func PinnedIn(gomod string, s Sidecar) error {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return fmt.Errorf("%s: %v (run ci/cluster/sidecars/gen-gomod.sh %s)", s.Key, err, s.Name())
	}
	want := "require " + s.Module + " " + s.Version
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == want {
			return nil
		}
	}
	return fmt.Errorf("%s: %s does not say %q (run ci/cluster/sidecars/gen-gomod.sh %s)", s.Key, gomod, want, s.Name())
}

// Compare returns a line for each sidecar whose provisioner.images.KEY in the
// values differs from IMAGE:VERSION, and the references of the keys there
// that no sidecar has.
func Compare(values []byte, sidecars []Sidecar) (problems, extra []string, err error) {
	var v struct {
		Provisioner struct {
			Images map[string]*struct {
				Repository *string `json:"repository"`
				Tag        *string `json:"tag"`
			} `json:"images"`
		} `json:"provisioner"`
	}
	if err := yaml.Unmarshal(values, &v); err != nil {
		return nil, nil, err
	}
	imgs := v.Provisioner.Images
	str := func(p *string) string {
		if p == nil {
			return "<unset>"
		}
		return *p
	}
	seen := map[string]bool{}
	for _, s := range sidecars {
		seen[s.Key] = true
		k := "provisioner.images." + s.Key
		img := imgs[s.Key]
		if img == nil {
			problems = append(problems, fmt.Sprintf("%s is missing: want {repository: %s, tag: %s}", k, s.Image, s.Version))
			continue
		}
		if img.Repository == nil || *img.Repository != s.Image {
			problems = append(problems, fmt.Sprintf("%s.repository is %s, images.sh builds %s", k, str(img.Repository), s.Image))
		}
		if img.Tag == nil || *img.Tag != s.Version {
			problems = append(problems, fmt.Sprintf("%s.tag is %s, images.sh builds %s", k, str(img.Tag), s.Version))
		}
	}
	for k, img := range imgs {
		if seen[k] {
			continue
		}
		ref := "provisioner.images." + k
		if img != nil {
			ref += " (" + str(img.Repository) + ":" + str(img.Tag) + ")"
		}
		extra = append(extra, ref)
	}
	sort.Strings(extra)
	return problems, extra, nil
}
