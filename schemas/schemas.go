// Package schemas embeds values.schema.json, the single source of truth for
// the shape of a kube-lustre values file. The chart carries a byte-identical
// copy (make schema) because Helm reads it from the chart directory.
package schemas

import _ "embed"

// Values is the JSON Schema (2020-12) of the chart's values.
//
//go:embed values.schema.json
var Values []byte
