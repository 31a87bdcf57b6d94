// Package labeler puts on nodes exactly the labels a release's plan wants and
// takes off the ones it no longer wants. The DaemonSets and StatefulSets
// select nodes by these labels, so this is what decides where kube-lustre
// runs. It needs only get, list and patch on nodes.
package labeler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// NodeClient is the part of client-go's typed NodeInterface the labeler
// uses: internal/kube implements it for the binary, the fake clientset's
// CoreV1().Nodes() for tests.
type NodeClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Node, error)
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.Node, error)
}

// Labeler applies a release's node labels.
type Labeler struct {
	Nodes NodeClient
	Log   *slog.Logger
}

// Change is what one node patch did.
type Change struct {
	Node    string   `json:"node"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Preflight checks that every node the plan names exists and is Ready, and
// names each one that is not. Apply runs it first so that a typo in a node
// name labels nothing rather than half the cluster.
func (l *Labeler) Preflight(ctx context.Context, p *topology.Plan) error {
	var errs []error
	for _, np := range p.Nodes {
		n, err := l.Nodes.Get(ctx, np.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("node %q (%s) does not exist: fix the name in the values or join the node", np.Name, roles(np)))
		case err != nil:
			errs = append(errs, fmt.Errorf("node %q: %w", np.Name, err))
		case !ready(n):
			errs = append(errs, fmt.Errorf("node %q (%s) is not Ready: %s", np.Name, roles(np), readyMessage(n)))
		}
	}
	return errors.Join(errs...)
}

func roles(np topology.NodePlan) string {
	var r []string
	if len(np.Targets) > 0 {
		r = append(r, "serves "+strings.Join(np.Targets, ","))
	}
	if np.Client {
		r = append(r, "client")
	}
	return strings.Join(r, ", ")
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyMessage(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return fmt.Sprintf("Ready=%s %s", c.Status, c.Message)
		}
	}
	return "no Ready condition reported yet"
}

// Apply makes every node carry exactly the labels the plan wants under this
// filesystem's prefix: missing ones are added, stale ones removed, labels of
// other filesystems and everything else left alone. Nodes already right are
// not patched.
func (l *Labeler) Apply(ctx context.Context, v *topology.Values, p *topology.Plan) ([]Change, error) {
	if err := l.Preflight(ctx, p); err != nil {
		return nil, fmt.Errorf("preflight, nothing labelled:\n%w", err)
	}
	want := map[string]map[string]string{}
	for _, np := range p.Nodes {
		want[np.Name] = np.Labels
	}
	var selector labels.Selector
	if v.Clients.Enabled && len(v.Clients.NodeSelector) > 0 {
		selector = labels.SelectorFromSet(v.Clients.NodeSelector)
	}
	server := v.RoleLabel("server")
	return l.reconcile(ctx, v.LabelSelectorPrefix(), func(n *corev1.Node) map[string]string {
		w := maps.Clone(want[n.Name])
		if selector != nil && selector.Matches(labels.Set(n.Labels)) {
			if w[server] != "" {
				// A client on a node that can take over a target of this
				// filesystem is evicted on failover and loses unsynced
				// writes; the chart keeps client pods off such nodes too.
				l.Log.Info("node matches clients.nodeSelector but serves this filesystem: not labelled as a client", "node", n.Name)
				return w
			}
			if w == nil {
				w = map[string]string{}
			}
			w[v.RoleLabel("client")] = "true"
		}
		return w
	})
}

// Remove takes every label of this filesystem off every node. It is the
// post-delete hook: uninstall stops the pods by unselecting the nodes, and
// touches no data.
func (l *Labeler) Remove(ctx context.Context, v *topology.Values) ([]Change, error) {
	return l.reconcile(ctx, v.LabelSelectorPrefix(), func(*corev1.Node) map[string]string { return nil })
}

func (l *Labeler) reconcile(ctx context.Context, prefix string, want func(*corev1.Node) map[string]string) ([]Change, error) {
	nodes, err := l.Nodes.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var changes []Change
	var errs []error
	for i := range nodes.Items {
		n := &nodes.Items[i]
		c, patch := diff(n, prefix, want(n))
		if patch == nil {
			continue
		}
		if _, err := l.Nodes.Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("patch node %s: %w", n.Name, err))
			continue
		}
		l.Log.Info("labelled node", "node", n.Name, "added", c.Added, "removed", c.Removed)
		changes = append(changes, c)
	}
	return changes, errors.Join(errs...)
}

// diff returns the change and the merge patch that brings n's labels under
// prefix to want; a nil patch means nothing to do.
func diff(n *corev1.Node, prefix string, want map[string]string) (Change, []byte) {
	c := Change{Node: n.Name}
	set := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if n.Labels[k] != want[k] {
			set[k] = want[k]
			c.Added = append(c.Added, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
		if _, keep := want[k]; strings.HasPrefix(k, prefix) && !keep {
			set[k] = nil // JSON merge patch: null deletes the key
			c.Removed = append(c.Removed, k)
		}
	}
	if len(set) == 0 {
		return c, nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": set}})
	return c, b
}

// ConfigMapGetter is the part of client-go's typed ConfigMapInterface the
// upgrade check uses.
type ConfigMapGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
}

// CheckUpgrade refuses next when it changes what existing targets are
// (topology.UpgradeChanges) against the topology the release runs now:
// the values.yaml of ConfigMap name, which a pre-upgrade hook still sees
// unchanged. No ConfigMap (a first install) checks nothing; one that
// cannot be read refuses, since an unchecked change may cost data. allow
// is upgrade.allowChanges: it reaches the Job apart from the topology, so
// that setting and clearing it does not change the running topology (and
// restart every pod).
func CheckUpgrade(ctx context.Context, cms ConfigMapGetter, name string, next *topology.Values, allow []string) error {
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the running topology (ConfigMap %s) to check the upgrade against it: %w", name, err)
	}
	running, ps, err := topology.CheckDocument([]byte(cm.Data["values.yaml"]))
	if err != nil || len(ps) > 0 {
		return fmt.Errorf("the running topology (ConfigMap %s) does not read back (%v %v): not upgrading over it", name, err, ps)
	}
	if ps := topology.UpgradeChanges(running, next, allow); len(ps) > 0 {
		return fmt.Errorf("%w: it changes %d thing(s) existing targets depend on (nothing was changed):\n%w", ErrRefused, len(ps), ps)
	}
	return nil
}

// ErrRefused marks CheckUpgrade's refusal, which no retry changes (the
// Job fails at once: labeler exits 3, podFailurePolicy FailJob).
var ErrRefused = errors.New("refusing the upgrade")
