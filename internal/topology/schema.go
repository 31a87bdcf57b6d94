package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/kube-lustre/kube-lustre/schemas"
)

const schemaURL = "https://kube-lustre.io/schemas/values.schema.json"

var (
	schemaOnce sync.Once
	compiled   *jsonschema.Schema
	rawSchema  map[string]any
	schemaErr  error
	printer    = message.NewPrinter(language.English)
)

func loadSchema() (*jsonschema.Schema, map[string]any, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Values))
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if err = c.AddResource(schemaURL, doc); err != nil {
			schemaErr = err
			return
		}
		compiled, schemaErr = c.Compile(schemaURL)
		if schemaErr == nil {
			schemaErr = json.Unmarshal(schemas.Values, &rawSchema)
		}
	})
	return compiled, rawSchema, schemaErr
}

// schemaProblems validates the shape of vals and turns every failure into a
// Problem whose hint is the field's own description from the schema.
// doc is vals as JSON (the caller has it already).
func schemaProblems(doc []byte) ([]Problem, error) {
	sch, raw, err := loadSchema()
	if err != nil {
		return nil, fmt.Errorf("values schema: %w", err)
	}
	b := doc
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	verr := sch.Validate(inst)
	if verr == nil {
		return nil, nil
	}
	ve, ok := verr.(*jsonschema.ValidationError)
	if !ok {
		return nil, verr
	}
	t := translator{inst: inst, raw: raw}
	t.walk(ve)
	return t.out, nil
}

type translator struct {
	inst any
	raw  map[string]any
	out  []Problem
}

func (t *translator) walk(e *jsonschema.ValidationError) {
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		for _, c := range preferredBranches(e) {
			t.walk(c)
		}
		return
	case *kind.PropertyNames:
		// The cause is a pattern error on the key itself: report it once, here.
		t.leaf(e)
		return
	}
	if len(e.Causes) == 0 {
		t.leaf(e)
		return
	}
	for _, c := range e.Causes {
		t.walk(c)
	}
}

// preferredBranches drops the alternatives of a oneOf that failed only on
// type: for `disk: /dev/sdb` that is the map branch, whose "got string, want
// object" would only confuse.
func preferredBranches(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var keep []*jsonschema.ValidationError
	for _, c := range e.Causes {
		if _, isType := c.ErrorKind.(*kind.Type); isType && len(c.Causes) == 0 {
			continue
		}
		keep = append(keep, c)
	}
	if len(keep) == 0 {
		return e.Causes
	}
	return keep
}

func (t *translator) leaf(e *jsonschema.ValidationError) {
	loc := e.InstanceLocation
	if k, ok := e.ErrorKind.(*kind.PropertyNames); ok {
		loc = t.propertyNamesLoc(loc, k.Property)
	}
	path := renderPath(t.inst, loc)
	desc := "expected: " + describe(t.schemaAt(loc))
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := t.allowedKeys(loc)
		for _, p := range k.Properties {
			t.add(Problem{Path: join(path, p), Message: "unknown key",
				Hint: "remove it or fix its spelling; keys allowed here: " + strings.Join(allowed, ", ")})
		}
	case *kind.Required:
		for _, m := range k.Missing {
			sub := slices.Concat(loc, []string{m})
			t.add(Problem{Path: join(path, m), Message: "is required", Hint: "set it: " + describe(t.schemaAt(sub))})
		}
	case *kind.PropertyNames:
		t.add(Problem{Path: join(path, k.Property), Message: fmt.Sprintf("%q is not a valid name here", k.Property),
			Hint: describe(t.propertyNamesAt(loc))})
	case *kind.Pattern:
		t.add(Problem{Path: path, Message: fmt.Sprintf("%q is not valid", k.Got), Hint: desc})
	case *kind.Type:
		t.add(Problem{Path: path, Message: fmt.Sprintf("is %s, must be %s", k.Got, strings.Join(k.Want, " or ")), Hint: desc})
	case *kind.Enum:
		t.add(Problem{Path: path, Message: fmt.Sprintf("%v is not allowed: %s", display(k.Got), k.LocalizedString(printer)), Hint: desc})
	case *kind.Minimum:
		t.add(Problem{Path: path, Message: fmt.Sprintf("%s is below the minimum %s", k.Got.RatString(), k.Want.RatString()), Hint: desc})
	case *kind.MaxItems:
		t.add(Problem{Path: path, Message: fmt.Sprintf("has %d items, at most %d allowed", k.Got, k.Want), Hint: desc})
	case *kind.MinItems:
		t.add(Problem{Path: path, Message: fmt.Sprintf("has %d items, at least %d needed", k.Got, k.Want), Hint: desc})
	case *kind.Maximum:
		t.add(Problem{Path: path, Message: fmt.Sprintf("%s is above the maximum %s", k.Got.RatString(), k.Want.RatString()), Hint: desc})
	default:
		t.add(Problem{Path: path, Message: e.ErrorKind.LocalizedString(printer), Hint: desc})
	}
}

func (t *translator) add(p Problem) { t.out = append(t.out, p) }

func display(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// renderPath turns ["targets","2","drbd"] into "targets[2].drbd", using the
// instance to tell list indices from map keys that look like numbers.
func renderPath(inst any, loc []string) string {
	var b strings.Builder
	cur := inst
	for _, seg := range loc {
		switch c := cur.(type) {
		case []any:
			b.WriteString("[" + seg + "]")
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(c) {
				cur = c[i]
			} else {
				cur = nil
			}
		case map[string]any:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
			cur = c[seg]
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
			cur = nil
		}
	}
	return b.String()
}

// schemaAt finds the (raw) subschema describing the instance at loc.
func (t *translator) schemaAt(loc []string) map[string]any {
	s := t.raw
	cur := t.inst
	for _, seg := range loc {
		s = t.deref(s)
		if s == nil {
			return nil
		}
		switch c := cur.(type) {
		case []any:
			s, _ = s["items"].(map[string]any)
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(c) {
				cur = c[i]
			}
		default:
			m, _ := cur.(map[string]any)
			cur = m[seg]
			s = t.child(s, seg)
		}
	}
	return t.deref(s)
}

// child returns the subschema of key in an object schema, looking into oneOf
// branches for the object form (drbd.disk may be a string or a map).
func (t *translator) child(s map[string]any, key string) map[string]any {
	if props, ok := s["properties"].(map[string]any); ok {
		if p, ok := props[key].(map[string]any); ok {
			return p
		}
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		return ap
	}
	if branches, ok := s["oneOf"].([]any); ok {
		for _, br := range branches {
			if bm, ok := br.(map[string]any); ok && bm["type"] == "object" {
				return t.child(bm, key)
			}
		}
	}
	return nil
}

func (t *translator) deref(s map[string]any) map[string]any {
	for s != nil {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name := strings.TrimPrefix(ref, "#/$defs/")
		defs, _ := t.raw["$defs"].(map[string]any)
		target, _ := defs[name].(map[string]any)
		if target == nil {
			return s
		}
		// Keep the referring field's own description: it is the more specific one.
		merged := map[string]any{}
		for k, v := range target {
			merged[k] = v
		}
		if d, ok := s["description"]; ok {
			merged["description"] = d
		}
		s = merged
	}
	return nil
}

func (t *translator) allowedKeys(loc []string) []string {
	props, _ := t.schemaAt(loc)["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// propertyNamesLoc finds the object whose key broke propertyNames.
// jsonschema v6.0.3 hands that error its validator's location slice
// without copying it (validator.go: InstanceLocation = vd.vloc), so
// validating a later sibling overwrites it: "nodes" comes back as
// "targets". Its length stays right; the object is the one at that depth
// that has the key and whose schema has propertyNames.
func (t *translator) propertyNamesLoc(loc []string, key string) []string {
	var found []string
	var walk func(cur any, at []string) bool
	walk = func(cur any, at []string) bool {
		if len(at) == len(loc) {
			m, ok := cur.(map[string]any)
			if _, has := m[key]; ok && has && t.propertyNamesAt(at) != nil {
				if slices.Equal(at, loc) {
					found = loc // the reported one, if right, wins
					return true
				}
				if found == nil {
					found = slices.Clone(at)
				}
			}
			return false
		}
		switch c := cur.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(c)) {
				if walk(c[k], append(at, k)) {
					return true
				}
			}
		case []any:
			for i, v := range c {
				if walk(v, append(at, strconv.Itoa(i))) {
					return true
				}
			}
		}
		return false
	}
	walk(t.inst, nil)
	if found == nil {
		return loc
	}
	return found
}

func (t *translator) propertyNamesAt(loc []string) map[string]any {
	pn, _ := t.schemaAt(loc)["propertyNames"].(map[string]any)
	return pn
}

func describe(s map[string]any) string {
	if d, ok := s["description"].(string); ok {
		return d
	}
	return "see the chart's values.yaml"
}
