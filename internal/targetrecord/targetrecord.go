// Package targetrecord keeps the record that a Lustre target was created
// (lustre.Registry) in a ConfigMap of its own in the release namespace.
// Nothing owns that ConfigMap: Helm did not render it, so `helm uninstall`,
// a renamed release and a deleted Lease all leave it, and its name comes
// from the filesystem and the target, not the release (the chart's
// kube-lustre.recordName renders it into the target pod's environment).
package targetrecord

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

// ConfigMaps is the part of the typed ConfigMapInterface the Store uses
// (kube.ConfigMaps in the binaries).
type ConfigMaps interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
	Create(ctx context.Context, cm *corev1.ConfigMap, opts metav1.CreateOptions) (*corev1.ConfigMap, error)
	Update(ctx context.Context, cm *corev1.ConfigMap, opts metav1.UpdateOptions) (*corev1.ConfigMap, error)
}

// Store is one target's record.
type Store struct {
	Client    ConfigMaps
	Namespace string
	Name      string
}

// Data keys, readable with kubectl get -o yaml.
const (
	keyTarget = "target"
	keyPool   = "pool"
	keyGUID   = "poolGUID"
	keyDisks  = "disks"
	keySince  = "since"
)

// Lookup implements lustre.Registry.
func (s *Store) Lookup(ctx context.Context) (*lustre.Record, error) {
	cm, err := s.Client.Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := decode(cm.Data)
	return &r, nil
}

// decode reads what it can: a record whose fields were edited away still
// says the target existed.
func decode(d map[string]string) lustre.Record {
	r := lustre.Record{Target: d[keyTarget], Pool: d[keyPool], PoolGUID: d[keyGUID], Disks: strings.Fields(d[keyDisks])}
	r.Since, _ = time.Parse(time.RFC3339, d[keySince])
	return r
}

func encode(r lustre.Record) map[string]string {
	return map[string]string{keyTarget: r.Target, keyPool: r.Pool, keyGUID: r.PoolGUID,
		keyDisks: strings.Join(r.Disks, " "), keySince: r.Since.UTC().Format(time.RFC3339)}
}

func same(a, b lustre.Record) bool {
	return a.Target == b.Target && a.Pool == b.Pool && a.PoolGUID == b.PoolGUID && slices.Equal(a.Disks, b.Disks)
}

// Remember implements lustre.Registry: it creates the record, or updates
// one that differs (new disk paths, a pool restored under a new GUID),
// keeping the first Since.
func (s *Store) Remember(ctx context.Context, r lustre.Record) error {
	cm, err := s.Client.Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = s.Client.Create(ctx, s.object(r), metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	old := decode(cm.Data)
	if same(old, r) {
		return nil
	}
	if !old.Since.IsZero() {
		r.Since = old.Since
	}
	next := cm.DeepCopy()
	next.Data = encode(r)
	_, err = s.Client.Update(ctx, next, metav1.UpdateOptions{})
	return err
}

func (s *Store) object(r lustre.Record) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.Name,
			Namespace: s.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/part-of":   "kube-lustre",
				"app.kubernetes.io/component": "target-record",
			},
			Annotations: map[string]string{
				"kube-lustre.io/note": "Records that this Lustre target was created and served. While it exists, the target is never created again on blank disks. Delete it only as docs/operations.md, Replacing a lost target, says.",
			},
		},
		Data: encode(r),
	}
}

// Where implements lustre.Registry.
func (s *Store) Where() string { return fmt.Sprintf("ConfigMap %s/%s", s.Namespace, s.Name) }

// Forget implements lustre.Registry.
func (s *Store) Forget() string {
	return fmt.Sprintf("kubectl -n %s delete configmap %s", s.Namespace, s.Name)
}
