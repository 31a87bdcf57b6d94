// Package kubelustre embeds the chart so the plugin, the labelling Job and the
// tests use the very files `helm install` reads (defaults, schema, templates).
package kubelustre

import "embed"

// Files holds Chart.yaml, values.yaml, values.schema.json, .helmignore and
// templates/ (all: so the _helpers.tpl partials are in it too) and the
// Grafana dashboard the chart ships.
//
//go:embed Chart.yaml values.yaml values.schema.json .helmignore all:templates dashboards
var Files embed.FS
