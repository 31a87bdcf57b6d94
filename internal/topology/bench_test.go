package topology

import (
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/topology/topotest"
)

func largeDoc() []byte { return topotest.Large(2000, 1000) }

func largeDocSmall() []byte { return topotest.Large(40, 20) }

func TestLargeExampleIsValid(t *testing.T) {
	t.Parallel()
	v, ps := check(t, string(largeDoc()))
	if len(ps) > 0 {
		t.Fatalf("large example has problems:\n%v", ps)
	}
	p := v.Plan()
	if len(p.Targets) != 2000 || len(p.Nodes) != 1000 {
		t.Fatalf("plan has %d targets on %d nodes, want 2000 on 1000", len(p.Targets), len(p.Nodes))
	}
}

// BenchmarkValidatePlan2000 measures what `helm lustre validate` and `plan`
// do after reading the file: schema, rules and placement of 2,000 targets.
func BenchmarkValidatePlan2000(b *testing.B) {
	vals, err := Parse(largeDoc())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, ps, err := Validate(vals)
		if err != nil || len(ps) > 0 {
			b.Fatal(err, ps)
		}
		_ = v.Plan()
	}
}

// BenchmarkLoadValidatePlan2000 includes parsing the YAML.
func BenchmarkLoadValidatePlan2000(b *testing.B) {
	doc := largeDoc()
	for i := 0; i < b.N; i++ {
		v, ps, err := CheckDocument(doc)
		if err != nil || len(ps) > 0 {
			b.Fatal(err, ps)
		}
		_ = v.Plan()
	}
}
