package entry

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeClient connects with the pod's ServiceAccount, or with $KUBECONFIG
// when set (local runs and the test cluster's process-based nodes).
func KubeClient() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kube-lustre"
	return kubernetes.NewForConfig(cfg)
}

// NodeIPResolver resolves a node name to its InternalIP through the API.
func NodeIPResolver(cs kubernetes.Interface) func(ctx context.Context, node string) (string, error) {
	return func(ctx context.Context, node string) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
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
