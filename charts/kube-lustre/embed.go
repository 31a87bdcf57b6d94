// Package kubelustre embeds the chart so the plugin, the labelling Job and the
// tests use the very files `helm install` reads (defaults, schema, templates).
package kubelustre

import "embed"

// Files holds Chart.yaml, values.yaml, values.schema.json, .helmignore and templates/.
//
//go:embed Chart.yaml values.yaml values.schema.json .helmignore templates
var Files embed.FS
