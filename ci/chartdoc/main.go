// Command chartdoc writes the values table of charts/kube-lustre/README.md
// from schemas/values.schema.json (descriptions, types) and the chart's
// values.yaml (defaults), between the markers
//
//	<!-- values:begin -->
//	<!-- values:end -->
//
// so the README can never say something the schema does not. With -check it
// only reports whether the README is current (exit 1 if stale), for CI.
//
//	go run ./ci/chartdoc          # make chart-docs
//	go run ./ci/chartdoc -check   # make chart-docs-check
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	beginMarker = "<!-- values:begin -->"
	endMarker   = "<!-- values:end -->"
)

func main() {
	schemaPath := flag.String("schema", "schemas/values.schema.json", "JSON Schema of the values")
	valuesPath := flag.String("values", "charts/kube-lustre/values.yaml", "the chart's default values")
	readmePath := flag.String("readme", "charts/kube-lustre/README.md", "README to update between the markers")
	check := flag.Bool("check", false, "do not write; exit 1 if the README is stale")
	flag.Parse()
	if err := run(*schemaPath, *valuesPath, *readmePath, *check, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chartdoc:", err)
		os.Exit(1)
	}
}

func run(schemaPath, valuesPath, readmePath string, check bool, out io.Writer) error {
	schemaJSON, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	valuesYAML, err := os.ReadFile(valuesPath)
	if err != nil {
		return err
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	table, err := Table(schemaJSON, valuesYAML)
	if err != nil {
		return err
	}
	updated, err := splice(string(readme), table)
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	if updated == string(readme) {
		return nil
	}
	if check {
		return fmt.Errorf("%s is stale: run make chart-docs", readmePath)
	}
	if err := os.WriteFile(readmePath, []byte(updated), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(out, "wrote", readmePath)
	return nil
}

// splice replaces what lies between the markers.
func splice(doc, table string) (string, error) {
	b := strings.Index(doc, beginMarker)
	e := strings.Index(doc, endMarker)
	if b < 0 || e < b {
		return "", fmt.Errorf("want %s ... %s in this order", beginMarker, endMarker)
	}
	return doc[:b+len(beginMarker)] + "\n" + table + doc[e:], nil
}

// node is a schema object with its keys in file order: the table follows
// the schema's order (fsname, targets, ...), which is the order a reader
// needs, not the alphabet's.
type node struct {
	keys []string
	vals map[string]json.RawMessage
}

func (n *node) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want an object, got %s", b)
	}
	n.vals = map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		n.keys = append(n.keys, k)
		n.vals[k] = raw
	}
	return nil
}

func (n *node) str(k string) string {
	var s string
	_ = json.Unmarshal(n.vals[k], &s) // absent or not a string: ""
	return s
}

func (n *node) child(k string) (*node, bool) {
	raw, ok := n.vals[k]
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	c := &node{}
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, false
	}
	return c, true
}

// children are the members of an object-valued keyword (properties, $defs) in order.
func (n *node) children(k string) []struct {
	name string
	n    *node
} {
	obj, ok := n.child(k)
	if !ok {
		return nil
	}
	var out []struct {
		name string
		n    *node
	}
	for _, name := range obj.keys {
		if c, ok := obj.child(name); ok {
			out = append(out, struct {
				name string
				n    *node
			}{name, c})
		}
	}
	return out
}

type row struct{ key, typ, def, desc string }

type walker struct {
	defs     map[string]*node
	defaults map[string]any
	rows     []row
	errs     []error
}

// Table renders the values table.
func Table(schemaJSON, valuesYAML []byte) (string, error) {
	root := &node{}
	if err := json.Unmarshal(schemaJSON, root); err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	defaults := map[string]any{}
	if err := yaml.Unmarshal(valuesYAML, &defaults); err != nil {
		return "", fmt.Errorf("values: %w", err)
	}
	w := &walker{defs: map[string]*node{}, defaults: defaults}
	for _, d := range root.children("$defs") {
		w.defs["#/$defs/"+d.name] = d.n
	}
	for _, p := range root.children("properties") {
		w.walk(p.name, []string{p.name}, p.n, false)
	}
	if err := errors.Join(w.errs...); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	for _, r := range w.rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.key, cell(r.typ), cell(r.def), cell(r.desc))
	}
	return b.String(), nil
}

// walk adds the row of one value and descends into what it contains.
// path is the lookup path in values.yaml (nil under arrays and maps, which
// have no default per element).
func (w *walker) walk(key string, path []string, n *node, viaRef bool) {
	desc := n.str("description")
	if ref := n.str("$ref"); ref != "" {
		target, ok := w.defs[ref]
		if !ok {
			w.errs = append(w.errs, fmt.Errorf("%s: unknown $ref %s", key, ref))
			return
		}
		if desc == "" {
			desc = target.str("description")
		}
		n, viaRef = target, true
	}
	if desc == "" {
		w.errs = append(w.errs, fmt.Errorf("%s: no description in the schema", key))
	}
	props := n.children("properties")
	// A shared definition made only of other shared definitions (resources:
	// requests and limits of quantities) reads better as one row with its
	// default than as four rows of cpu and memory.
	if viaRef && allRefs(props) {
		props = nil
	}
	// An object whose members get rows of their own shows its default there.
	def := ""
	if len(props) == 0 {
		def = w.defaultAt(path)
	}
	w.rows = append(w.rows, row{key: key, typ: typeOf(n), def: def, desc: desc})
	for _, p := range props {
		w.walk(key+"."+p.name, appendPath(path, p.name), p.n, false)
	}
	if items, ok := n.child("items"); ok && len(items.children("properties")) > 0 {
		for _, p := range items.children("properties") {
			w.walk(key+"[]."+p.name, nil, p.n, false)
		}
	}
	if add, ok := n.child("additionalProperties"); ok && len(add.children("properties")) > 0 {
		for _, p := range add.children("properties") {
			w.walk(key+".<name>."+p.name, nil, p.n, false)
		}
	}
}

func allRefs(props []struct {
	name string
	n    *node
}) bool {
	for _, p := range props {
		if p.n.str("$ref") == "" {
			return false
		}
	}
	return len(props) > 0
}

func appendPath(path []string, k string) []string {
	if path == nil {
		return nil
	}
	return append(append([]string{}, path...), k)
}

func (w *walker) defaultAt(path []string) string {
	if path == nil {
		return ""
	}
	var cur any = w.defaults
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		if cur, ok = m[k]; !ok {
			return ""
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return ""
	}
	return "`" + string(b) + "`"
}

func typeOf(n *node) string {
	if _, ok := n.vals["enum"]; ok {
		var vals []any
		_ = json.Unmarshal(n.vals["enum"], &vals)
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, " | ")
	}
	if raw, ok := n.vals["oneOf"]; ok {
		var alts []map[string]any
		_ = json.Unmarshal(raw, &alts)
		parts := make([]string, 0, len(alts))
		for _, a := range alts {
			parts = append(parts, fmt.Sprint(a["type"]))
		}
		return strings.Join(parts, " or ")
	}
	var one string
	if json.Unmarshal(n.vals["type"], &one) == nil {
		if one == "array" {
			if items, ok := n.child("items"); ok {
				return typeOf(items) + "[]"
			}
		}
		if one == "object" {
			if _, ok := n.child("additionalProperties"); ok && len(n.children("properties")) == 0 {
				return "map"
			}
		}
		return one
	}
	var many []string
	if json.Unmarshal(n.vals["type"], &many) == nil {
		return strings.Join(many, " or ")
	}
	return ""
}

// cell makes text safe inside a Markdown table cell: no line breaks, no
// column separators, and <fsname> shown rather than taken for an HTML tag.
func cell(s string) string {
	return strings.NewReplacer("\n", " ", "|", "\\|", "<", "&lt;", ">", "&gt;").Replace(s)
}
