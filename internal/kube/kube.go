// Package kube is the small slice of the Kubernetes API the entrypoint
// binaries use, on a REST client that knows only the core, coordination
// and apps types. client-go's full clientset registers every API group and made
// each binary 27 MB; this keeps them near half that.
package kube

import (
	"context"
	"fmt"
	"net/url"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() {
	// Registration of three fixed groups cannot fail; a failure is a build bug.
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, coordinationv1.AddToScheme, appsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
}

// Config is the pod's ServiceAccount, or $KUBECONFIG when set (local runs
// and the test cluster).
func Config() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kube-lustre"
	return cfg, nil
}

func restClient(cfg *rest.Config, gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &gv
	c.APIPath = apiPath
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(c)
}

// Nodes reads and patches Node objects. Its methods have the signatures of
// client-go's typed NodeInterface, so callers can take either.
type Nodes struct{ c *rest.RESTClient }

// NewNodes returns a Nodes client for cfg.
func NewNodes(cfg *rest.Config) (*Nodes, error) {
	c, err := restClient(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	return &Nodes{c: c}, nil
}

// Get returns one node.
func (n *Nodes) Get(ctx context.Context, name string, _ metav1.GetOptions) (*corev1.Node, error) {
	out := &corev1.Node{}
	err := n.c.Get().Resource("nodes").Name(name).Do(ctx).Into(out)
	return out, err
}

// List returns the nodes matching opts' label selector.
func (n *Nodes) List(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	err := n.c.Get().Resource("nodes").Param("labelSelector", opts.LabelSelector).Do(ctx).Into(out)
	return out, err
}

// Patch applies a patch to a node.
func (n *Nodes) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, subresources ...string) (*corev1.Node, error) {
	if len(subresources) > 0 {
		return nil, fmt.Errorf("kube.Nodes.Patch: subresources are not supported")
	}
	out := &corev1.Node{}
	err := n.c.Patch(pt).Resource("nodes").Name(name).Body(data).Do(ctx).Into(out)
	return out, err
}

// Leases reads and writes coordination.k8s.io Leases in one namespace. Its
// methods have the signatures of client-go's typed LeaseInterface.
type Leases struct {
	c  *rest.RESTClient
	ns string
}

// NewLeases returns a Leases client for namespace ns.
func NewLeases(cfg *rest.Config, ns string) (*Leases, error) {
	c, err := restClient(cfg, coordinationv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &Leases{c: c, ns: ns}, nil
}

// Get returns one Lease.
func (l *Leases) Get(ctx context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.c.Get().Namespace(l.ns).Resource("leases").Name(name).Do(ctx).Into(out)
	return out, err
}

// Create creates a Lease.
func (l *Leases) Create(ctx context.Context, lease *coordinationv1.Lease, _ metav1.CreateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.c.Post().Namespace(l.ns).Resource("leases").Body(lease).Do(ctx).Into(out)
	return out, err
}

// Update replaces a Lease; the API server refuses it (Conflict) when the
// resourceVersion is not the current one.
func (l *Leases) Update(ctx context.Context, lease *coordinationv1.Lease, _ metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.c.Put().Namespace(l.ns).Resource("leases").Name(lease.Name).Body(lease).Do(ctx).Into(out)
	return out, err
}

// ConfigMaps reads and writes ConfigMaps in one namespace (the typed
// ConfigMapInterface's Get, Create and Update).
type ConfigMaps struct {
	c  *rest.RESTClient
	ns string
}

// NewConfigMaps returns a ConfigMaps client for namespace ns.
func NewConfigMaps(cfg *rest.Config, ns string) (*ConfigMaps, error) {
	c, err := restClient(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	return &ConfigMaps{c: c, ns: ns}, nil
}

// Get returns one ConfigMap.
func (m *ConfigMaps) Get(ctx context.Context, name string, _ metav1.GetOptions) (*corev1.ConfigMap, error) {
	out := &corev1.ConfigMap{}
	err := m.c.Get().Namespace(m.ns).Resource("configmaps").Name(name).Do(ctx).Into(out)
	return out, err
}

// List returns the ConfigMaps matching opts' label selector.
func (m *ConfigMaps) List(ctx context.Context, opts metav1.ListOptions) (*corev1.ConfigMapList, error) {
	out := &corev1.ConfigMapList{}
	err := m.c.Get().Namespace(m.ns).Resource("configmaps").Param("labelSelector", opts.LabelSelector).Do(ctx).Into(out)
	return out, err
}

// Create creates a ConfigMap.
func (m *ConfigMaps) Create(ctx context.Context, cm *corev1.ConfigMap, _ metav1.CreateOptions) (*corev1.ConfigMap, error) {
	out := &corev1.ConfigMap{}
	err := m.c.Post().Namespace(m.ns).Resource("configmaps").Body(cm).Do(ctx).Into(out)
	return out, err
}

// Update replaces a ConfigMap (Conflict unless its resourceVersion is the
// current one).
func (m *ConfigMaps) Update(ctx context.Context, cm *corev1.ConfigMap, _ metav1.UpdateOptions) (*corev1.ConfigMap, error) {
	out := &corev1.ConfigMap{}
	err := m.c.Put().Namespace(m.ns).Resource("configmaps").Name(cm.Name).Body(cm).Do(ctx).Into(out)
	return out, err
}

// Pods lists, updates and deletes Pods in one namespace (the typed
// PodInterface's signatures).
type Pods struct {
	c  *rest.RESTClient
	ns string
}

// NewPods returns a Pods client for namespace ns.
func NewPods(cfg *rest.Config, ns string) (*Pods, error) {
	c, err := restClient(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	return &Pods{c: c, ns: ns}, nil
}

// List returns the pods matching opts' label selector.
func (p *Pods) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	err := p.c.Get().Namespace(p.ns).Resource("pods").Param("labelSelector", opts.LabelSelector).Do(ctx).Into(out)
	return out, err
}

// ExecURL is where `kubectl exec` of cmd in a container of pod goes: the
// exec subresource with its options as query parameters. The caller
// streams it (remotecommand), which the entrypoint binaries never do.
func (p *Pods) ExecURL(pod, container string, cmd []string) *url.URL {
	return p.c.Post().Namespace(p.ns).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, runtime.NewParameterCodec(scheme)).URL()
}

// Update replaces a pod (conditioned on its resourceVersion: a pod changed
// meanwhile fails with Conflict).
func (p *Pods) Update(ctx context.Context, pod *corev1.Pod, _ metav1.UpdateOptions) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	err := p.c.Put().Namespace(p.ns).Resource("pods").Name(pod.Name).Body(pod).Do(ctx).Into(out)
	return out, err
}

// Delete deletes a pod with the given options (grace period, preconditions).
func (p *Pods) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
	return p.c.Delete().Namespace(p.ns).Resource("pods").Name(name).Body(&opts).Do(ctx).Error()
}

// StatefulSets lists StatefulSets in one namespace.
type StatefulSets struct {
	c  *rest.RESTClient
	ns string
}

// NewStatefulSets returns a StatefulSets client for namespace ns.
func NewStatefulSets(cfg *rest.Config, ns string) (*StatefulSets, error) {
	c, err := restClient(cfg, appsv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &StatefulSets{c: c, ns: ns}, nil
}

// List returns the StatefulSets matching opts' label selector.
func (s *StatefulSets) List(ctx context.Context, opts metav1.ListOptions) (*appsv1.StatefulSetList, error) {
	out := &appsv1.StatefulSetList{}
	err := s.c.Get().Namespace(s.ns).Resource("statefulsets").Param("labelSelector", opts.LabelSelector).Do(ctx).Into(out)
	return out, err
}

// PersistentVolumes lists PersistentVolumes (cluster-scoped).
type PersistentVolumes struct {
	c *rest.RESTClient
}

// NewPersistentVolumes returns a PersistentVolumes client.
func NewPersistentVolumes(cfg *rest.Config) (*PersistentVolumes, error) {
	c, err := restClient(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	return &PersistentVolumes{c: c}, nil
}

// List returns every PersistentVolume.
func (v *PersistentVolumes) List(ctx context.Context, _ metav1.ListOptions) (*corev1.PersistentVolumeList, error) {
	out := &corev1.PersistentVolumeList{}
	err := v.c.Get().Resource("persistentvolumes").Do(ctx).Into(out)
	return out, err
}

// Events records Events in one namespace.
type Events struct {
	c  *rest.RESTClient
	ns string
}

// NewEvents returns an Events client for namespace ns.
func NewEvents(cfg *rest.Config, ns string) (*Events, error) {
	c, err := restClient(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	return &Events{c: c, ns: ns}, nil
}

// Create records an Event.
func (e *Events) Create(ctx context.Context, ev *corev1.Event, _ metav1.CreateOptions) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := e.c.Post().Namespace(e.ns).Resource("events").Body(ev).Do(ctx).Into(out)
	return out, err
}
