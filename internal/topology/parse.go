package topology

import (
	"fmt"

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
	vals, err := Parse(doc)
	if err != nil {
		return nil, nil, err
	}
	return Validate(vals)
}
