package main

import (
	"bytes"
	"context"
	"errors"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kube-lustre/kube-lustre/internal/kube"
)

// statusAPI is what status reads from the API server, in the release's
// namespace, through internal/kube's small clients (the typed clients'
// signatures, so client-go's fake serves the tests). client-go's own typed
// clients register every API group's types, which put the plugin binary
// over 20 MB (issue 17).
type statusAPI struct {
	configMaps interface {
		List(ctx context.Context, opts metav1.ListOptions) (*corev1.ConfigMapList, error)
	}
	pods interface {
		List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	}
	leases interface {
		Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	}
}

// newAPI connects status to the API server in namespace ns: the reader,
// and an Executor for the agents' reports.
func newAPI(cfg *rest.Config, ns string) (statusAPI, Executor, error) {
	cms, err := kube.NewConfigMaps(cfg, ns)
	if err != nil {
		return statusAPI{}, nil, err
	}
	pods, err := kube.NewPods(cfg, ns)
	if err != nil {
		return statusAPI{}, nil, err
	}
	leases, err := kube.NewLeases(cfg, ns)
	if err != nil {
		return statusAPI{}, nil, err
	}
	return statusAPI{configMaps: cms, pods: pods, leases: leases}, &podExec{cfg: cfg, pods: pods}, nil
}

// podExec runs commands in pods through the API server (kubectl exec).
type podExec struct {
	cfg  *rest.Config
	pods *kube.Pods
}

func (e *podExec) Exec(ctx context.Context, pod, container string, cmd []string) ([]byte, error) {
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", e.pods.ExecURL(pod, container, cmd))
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb}); err != nil {
		return nil, errors.Join(err, errors.New(lastLine(errb.String())))
	}
	return out.Bytes(), nil
}
