package topology

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheckDocument: no input makes load+validate+plan panic, and a document
// judged valid always plans.
func FuzzCheckDocument(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	invalid, _ := filepath.Glob(filepath.Join(examplesDir, "invalid", "*.yaml"))
	for _, s := range append(seeds, invalid...) {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Add(largeDocSmall())
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, ps, err := CheckDocument(doc)
		if err != nil || len(ps) > 0 {
			return
		}
		p := v.Plan()
		if len(p.Targets) != len(v.Targets) {
			t.Fatalf("plan lost targets: %d vs %d", len(p.Targets), len(v.Targets))
		}
	})
}
