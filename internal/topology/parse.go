package topology

import (
	"fmt"
	"strconv"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Parse reads one values document. It applies no chart defaults: the
// binaries read the topology Helm rendered, which has them already; the
// plugin layers files and defaults with package helmvalues first.
func Parse(doc []byte) (map[string]any, error) {
	vals := map[string]any{}
	if err := yaml.Unmarshal(doc, &vals); err != nil {
		return nil, fmt.Errorf("parse values: %w", err)
	}
	return vals, nil
}

// CheckDocument parses and validates one rendered values document.
func CheckDocument(doc []byte) (*Values, Problems, error) {
	ps, empty := DocumentProblems(doc, "")
	if empty {
		ps = append(ps, EmptyValues(1))
	}
	if len(ps) > 0 {
		return nil, ps, nil
	}
	vals, err := Parse(doc)
	if err != nil {
		return nil, nil, err
	}
	return Validate(vals)
}

// DocumentProblems finds what Helm's YAML reading lets through silently or
// turns into an unhelpful decoding error: a key given twice in one mapping
// (the parser keeps the last one, so the file does not say what it seems
// to) and a top level that is a list or a scalar. empty reports a document
// with no values at all (nothing, only comments, or null), which is fine
// as one of several layered files but not alone: the caller decides.
// name, when not "", is how messages tell several files apart. A YAML
// syntax error yields nothing here: Parse reports it.
func DocumentProblems(doc []byte, name string) (ps Problems, empty bool) {
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(doc, &root); err != nil {
		return nil, false
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, true
	}
	top := root.Content[0]
	of := ""
	if name != "" {
		of = " of " + name
	}
	switch {
	case top.Kind == yamlv3.ScalarNode && top.Tag == "!!null":
		return nil, true
	case top.Kind == yamlv3.SequenceNode:
		return Problems{topLevel(of, "a list")}, false
	case top.Kind == yamlv3.ScalarNode:
		return Problems{topLevel(of, kindOfScalar(top.Tag))}, false
	}
	duplicateKeys(top, "", of, &ps)
	return sortProblems(ps), false
}

// EmptyValues is the problem of values files that hold nothing at all.
func EmptyValues(files int) Problem {
	what := "values file is empty"
	if files > 1 {
		what = "values files are all empty"
	}
	return Problem{Message: what + ": there is no filesystem to validate",
		Hint: "describe the filesystem: fsname, targets and clients (see examples/minimal.yaml), or external for an existing one"}
}

func topLevel(of, got string) Problem {
	return Problem{Message: fmt.Sprintf("top level%s must be a mapping of values, got %s", of, got),
		Hint: "write the values as key: value lines at the left margin (fsname: lfs1, targets: ...), see examples/minimal.yaml"}
}

func kindOfScalar(tag string) string {
	switch tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a string"
}

// duplicateKeys walks the parsed tree (aliases are not followed: their
// anchor is checked where it is defined) and reports every key given a
// second time in one mapping, at its path, with both lines.
func duplicateKeys(n *yamlv3.Node, at, of string, ps *Problems) {
	switch n.Kind {
	case yamlv3.MappingNode:
		first := map[string]int{} // key -> line
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(at, k.Value)
			if k.Kind == yamlv3.ScalarNode && k.Value != "<<" {
				if line, dup := first[k.Value]; dup {
					*ps = append(*ps, Problem{Path: p,
						Message: fmt.Sprintf("is given twice, on lines %d and %d%s: YAML keeps only the last one, silently", line, k.Line, of),
						Hint:    "keep one of the two: remove or merge the other"})
				} else {
					first[k.Value] = k.Line
				}
			}
			duplicateKeys(val, p, of, ps)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			duplicateKeys(c, at+"["+strconv.Itoa(i)+"]", of, ps)
		}
	}
}
