package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// apiReader is what status reads from the API server.
type apiReader interface {
	ConfigMaps(ctx context.Context, ns, selector string) ([]corev1.ConfigMap, error)
	Pods(ctx context.Context, ns, selector string) ([]corev1.Pod, error)
	Lease(ctx context.Context, ns, name string) (*coordinationv1.Lease, error)
}

// The plugin reads through client-go's dynamic client and converts to the
// typed objects itself. client-go's typed clients register every API
// group's types (k8s.io/client-go/kubernetes/scheme): that alone put the
// plugin binary over 20 MB (issue 17). Only the types used here are
// linked.
var (
	configMapsResource = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	podsResource       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	leasesResource     = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
)

type dynamicReader struct{ dyn dynamic.Interface }

func (r dynamicReader) ConfigMaps(ctx context.Context, ns, selector string) ([]corev1.ConfigMap, error) {
	return list[corev1.ConfigMap](ctx, r.dyn, configMapsResource, ns, selector)
}

func (r dynamicReader) Pods(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	return list[corev1.Pod](ctx, r.dyn, podsResource, ns, selector)
}

func (r dynamicReader) Lease(ctx context.Context, ns, name string) (*coordinationv1.Lease, error) {
	u, err := r.dyn.Resource(leasesResource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var l coordinationv1.Lease
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &l); err != nil {
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	return &l, nil
}

func list[T any](ctx context.Context, dyn dynamic.Interface, res schema.GroupVersionResource, ns, selector string) ([]T, error) {
	l, err := dyn.Resource(res).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := make([]T, len(l.Items))
	for i := range l.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, &out[i]); err != nil {
			return nil, fmt.Errorf("%s %s: %w", res.Resource, l.Items[i].GetName(), err)
		}
	}
	return out, nil
}

// newAPI connects status to the API server: a reader, and an Executor
// for the agents' reports.
func newAPI(cfg *rest.Config) (apiReader, Executor, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	sch := runtime.NewScheme()
	if err := corev1.AddToScheme(sch); err != nil {
		return nil, nil, err
	}
	core := rest.CopyConfig(cfg)
	core.APIPath, core.GroupVersion = "/api", &corev1.SchemeGroupVersion
	core.NegotiatedSerializer = serializer.NewCodecFactory(sch).WithoutConversion()
	rc, err := rest.RESTClientFor(core)
	if err != nil {
		return nil, nil, err
	}
	return dynamicReader{dyn}, &podExec{cfg: cfg, rc: rc, params: runtime.NewParameterCodec(sch)}, nil
}

// podExec runs commands in pods through the API server (kubectl exec).
type podExec struct {
	cfg    *rest.Config
	rc     rest.Interface
	params runtime.ParameterCodec
}

func (e *podExec) Exec(ctx context.Context, ns, pod, container string, cmd []string) ([]byte, error) {
	req := e.rc.Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, e.params)
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb}); err != nil {
		return nil, errors.Join(err, errors.New(lastLine(errb.String())))
	}
	return out.Bytes(), nil
}
