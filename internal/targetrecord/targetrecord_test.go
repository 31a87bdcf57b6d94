package targetrecord

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

func TestRecordLifecycle(t *testing.T) {
	cs := fake.NewClientset()
	s := &Store{Client: cs.CoreV1().ConfigMaps("lustre"), Namespace: "lustre", Name: "kube-lustre-record-lfs1-ost0"}
	ctx := context.Background()
	if r, err := s.Lookup(ctx); r != nil || err != nil {
		t.Fatalf("lookup before any record: %+v %v", r, err)
	}
	first := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec := lustre.Record{Target: "lfs1-OST0000", Pool: "lfs1-ost0", PoolGUID: "77", Disks: []string{"a:/dev/sdb", "b:/dev/sdb"}, Since: first}
	if err := s.Remember(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("lustre").Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil || len(cm.OwnerReferences) != 0 || cm.Data["disks"] != "a:/dev/sdb b:/dev/sdb" || cm.Data["since"] != "2026-12-01T00:00:00Z" {
		t.Fatalf("record object: %+v %v", cm, err)
	}
	// The same record again writes nothing; new disk paths update it and
	// keep the first date.
	writes := len(cs.Actions())
	rec.Since = first.Add(time.Hour)
	if err := s.Remember(ctx, rec); err != nil || countWrites(cs.Actions()[writes:]) != 0 {
		t.Fatalf("same record rewritten: %v %v", err, cs.Actions()[writes:])
	}
	rec.Disks = []string{"a:/dev/disk/by-id/x", "b:/dev/disk/by-id/y"}
	if err := s.Remember(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx)
	if err != nil || got == nil || !got.Since.Equal(first) || got.Disks[0] != "a:/dev/disk/by-id/x" || got.PoolGUID != "77" {
		t.Fatalf("after the update: %+v %v", got, err)
	}
	// A record edited down to nothing still says the target existed.
	cm, _ = cs.CoreV1().ConfigMaps("lustre").Get(ctx, s.Name, metav1.GetOptions{})
	cm.Data = nil
	if _, err := cs.CoreV1().ConfigMaps("lustre").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lookup(ctx); err != nil || got == nil {
		t.Fatalf("emptied record reads as %+v %v, want a record", got, err)
	}
}

func countWrites(as []k8stesting.Action) int {
	n := 0
	for _, a := range as {
		if a.GetVerb() != "get" {
			n++
		}
	}
	return n
}

// A failed read is an error, never "not recorded".
func TestLookupErrorIsNotAbsence(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	s := &Store{Client: cs.CoreV1().ConfigMaps("lustre"), Namespace: "lustre", Name: "r"}
	if r, err := s.Lookup(context.Background()); err == nil || r != nil {
		t.Fatalf("lookup through a failing API: %+v %v", r, err)
	}
	if s.Where() != "ConfigMap lustre/r" || s.Forget() != "kubectl -n lustre delete configmap r" {
		t.Fatalf("names: %q %q", s.Where(), s.Forget())
	}
}
