package entry

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-lustre/kube-lustre/internal/kube"
)

// NodeClient connects to the API with the pod's ServiceAccount, or with
// $KUBECONFIG when set.
func NodeClient() (*kube.Nodes, error) {
	cfg, err := kube.Config()
	if err != nil {
		return nil, err
	}
	return kube.NewNodes(cfg)
}

// NodeIPResolver resolves a node name to its InternalIP through the API.
func NodeIPResolver(nodes *kube.Nodes) func(ctx context.Context, node string) (string, error) {
	return func(ctx context.Context, node string) (string, error) {
		n, err := nodes.Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				return a.Address, nil
			}
		}
		return "", fmt.Errorf("node %s reports no InternalIP", node)
	}
}
