package main

import (
	"strings"
	"testing"
)

const schema = `{
  "type": "object",
  "properties": {
    "b": {"description": "B | first in the file.", "type": "string"},
    "a": {"description": "A map.", "type": "object", "additionalProperties": {"type": "object", "properties": {
      "x": {"description": "X of <name>.", "enum": ["p", "q"]}}}},
    "res": {"description": "Resources.", "type": "object", "properties": {
      "one": {"$ref": "#/$defs/res", "description": "One."}}},
    "img": {"$ref": "#/$defs/img"}
  },
  "$defs": {
    "res": {"description": "R.", "type": "object", "properties": {"requests": {"$ref": "#/$defs/q"}}},
    "q": {"description": "Q.", "type": "object"},
    "img": {"description": "Image.", "type": "object", "properties": {"tag": {"description": "Tag.", "type": "string"}}}
  }
}`

func TestTable(t *testing.T) {
	got, err := Table([]byte(schema), []byte("b: hi\nres: {one: {requests: {cpu: 1m}}}\nimg: {tag: v1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"| Key | Type | Default | Description |",
		"|---|---|---|---|",
		// schema order, not alphabetical; | escaped
		"| `b` | string | `\"hi\"` | B \\| first in the file. |",
		// map members under <name>; <...> escaped; enum as type
		"| `a` | map |  | A map. |",
		"| `a.<name>.x` | p \\| q |  | X of &lt;name&gt;. |",
		// a referenced object made only of references is one row with its default
		"| `res` | object |  | Resources. |",
		"| `res.one` | object | `{\"requests\":{\"cpu\":\"1m\"}}` | One. |",
		// a $ref's description is used when the property has none; members expand
		"| `img` | object |  | Image. |",
		"| `img.tag` | string | `\"v1\"` | Tag. |",
	}, "\n") + "\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestTableNeedsDescriptions(t *testing.T) {
	_, err := Table([]byte(`{"properties": {"z": {"type": "string"}}}`), []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "z: no description") {
		t.Errorf("err = %v, want the undocumented key named", err)
	}
}

func TestSplice(t *testing.T) {
	doc := "intro\n" + beginMarker + "\nold\n" + endMarker + "\nend\n"
	got, err := splice(doc, "new\n")
	if err != nil || got != "intro\n"+beginMarker+"\nnew\n"+endMarker+"\nend\n" {
		t.Errorf("splice = %q, %v", got, err)
	}
	if _, err := splice("no markers", "x"); err == nil {
		t.Error("splice without markers succeeded")
	}
}
