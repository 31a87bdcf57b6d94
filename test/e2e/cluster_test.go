//go:build e2e

// Package e2e runs kube-lustre on the local Kubernetes cluster of
// ci/cluster: a real control plane and real kubelets (containerd, runc) in
// network namespaces of this machine, running our own images; or, with
// E2E_PROVIDER=kind, on a kind cluster in Docker (ci/kind, nodes_test.go).
//
//	go test -tags e2e -count=1 -v ./test/e2e
//
// It starts the cluster (ci/cluster/up.sh; ci/kind/e2e.sh up) unless one is
// already up in $STATE (default /tmp/kube-lustre-cluster; with kind
// /tmp/kube-lustre-kind), and stops only what it started. E2E_NODES names
// the nodes it starts (default "server1 client1 n3"; kind's cluster always
// has its own ten); E2E_KEEP=1 leaves a cluster it started running.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type cluster struct {
	root, state, kubectl, kubeconfig string
	nodes                            []string
	p                                nodeProvider
}

func (c *cluster) run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (c *cluster) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := c.run(t, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// setup returns the cluster, starting it when none is up.
func setup(t *testing.T) *cluster {
	p := newNodeProvider(t)
	c := &cluster{root: nodesRepoRoot(), state: p.State(), kubeconfig: p.Kubeconfig(), kubectl: p.Kubectl(), p: p}
	if _, err := os.Stat(c.kubectl); err == nil {
		if _, err := c.run(t, "", "get", "--raw", "/readyz"); err == nil {
			// Not a control-plane node (kind has one): never a test node.
			out := c.must(t, "", "get", "nodes", "-l", "!node-role.kubernetes.io/control-plane", "-o", "jsonpath={.items[*].metadata.name}")
			c.nodes = strings.Fields(out)
			if len(c.nodes) == 0 {
				t.Fatalf("the cluster up in %s has no nodes: ci/cluster/down.sh, then rerun", c.state)
			}
			t.Logf("using the cluster already up in %s: nodes %v", c.state, c.nodes)
			return c
		}
	}
	var want []string // nil: the provider's default nodes
	if v := os.Getenv("E2E_NODES"); v != "" {
		want = strings.Fields(v)
	}
	start := time.Now()
	c.nodes = p.StartCluster(t, want)
	t.Logf("TIMING cluster up (%s: control plane + %d nodes Ready): %.1f s", p.Name(), len(c.nodes), time.Since(start).Seconds())
	if os.Getenv("E2E_KEEP") != "1" {
		t.Cleanup(func() { p.StopCluster(t) })
	}
	return c
}

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	} `json:"items"`
}

func (c *cluster) readyStatus(t *testing.T) map[string]string {
	var l nodeList
	out := c.must(t, "", "get", "nodes", "-o", "json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, n := range l.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" {
				m[n.Metadata.Name] = cond.Status
			}
		}
	}
	return m
}

func (c *cluster) podPhase(t *testing.T, ns, pod string) string {
	out, _ := c.run(t, "", "get", "pod", "-n", ns, pod, "-o", "jsonpath={.status.phase}")
	return out
}

const labelerManifest = `apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: labeler, namespace: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[1]s-labeler}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get, list, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[1]s-labeler}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[1]s-labeler}
subjects: [{kind: ServiceAccount, name: labeler, namespace: %[1]s}]
`

const podManifest = `apiVersion: v1
kind: Pod
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  serviceAccountName: labeler
  restartPolicy: Never
  nodeName: %[4]s
  containers:
  - name: labeler
    image: kube-lustre/labeler:%[5]s
    imagePullPolicy: Never
    args: [apply]
    env:
    - {name: KUBE_LUSTRE_TOPOLOGY, value: /etc/kube-lustre/values.yaml}
    - name: NODE_NAME
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    volumeMounts: [{name: topology, mountPath: /etc/kube-lustre}]
  volumes:
  - name: topology
    configMap: {name: %[3]s}
`

// TestSmoke: nodes Ready, our labeler image runs as a pod (in-cluster
// config through the kubernetes Service, ConfigMap volume, downward API),
// its logs are readable through the API server, a bad topology makes it exit
// 1, and a crashed node goes NotReady (Unknown).
func TestSmoke(t *testing.T) {
	c := setup(t)
	tag := strings.TrimSpace(string(must1(os.ReadFile(filepath.Join(c.state, "images", "tag")))))

	d := poll(t, 2*time.Minute, "all nodes Ready", func() bool {
		st := c.readyStatus(t)
		for _, n := range c.nodes {
			if st[n] != "True" {
				return false
			}
		}
		return len(st) >= len(c.nodes)
	})
	t.Logf("nodes Ready: %v (waited %.1f s)", c.nodes, d.Seconds())

	ns := "e2e-smoke"
	c.must(t, fmt.Sprintf(labelerManifest, ns), "apply", "-f", "-")
	t.Cleanup(func() {
		c.run(t, "", "delete", "namespace", ns, "--wait=false")
		c.run(t, "", "delete", "clusterrole,clusterrolebinding", ns+"-labeler", "--ignore-not-found")
	})
	minimal := filepath.Join(c.root, "examples", "minimal.yaml")
	c.must(t, "", "create", "configmap", "-n", ns, "good", "--from-file=values.yaml="+minimal)
	c.must(t, "", "create", "configmap", "-n", ns, "bad", "--from-literal=values.yaml=fsname: this-name-is-far-too-long\n")
	node := c.nodes[0]

	t.Run("labeler applies the plan", func(t *testing.T) {
		if !hasNodes(c.nodes, "server1", "client1") {
			t.Skipf("examples/minimal.yaml names server1 and client1; nodes are %v", c.nodes)
		}
		start := time.Now()
		c.must(t, fmt.Sprintf(podManifest, ns, "labeler-good", "good", node, tag), "apply", "-f", "-")
		running := poll(t, time.Minute, "labeler-good started", func() bool {
			p := c.podPhase(t, ns, "labeler-good")
			return p == "Running" || p == "Succeeded" || p == "Failed"
		})
		t.Logf("TIMING pod created to running: %.1f s", running.Seconds())
		poll(t, time.Minute, "labeler-good finished", func() bool {
			p := c.podPhase(t, ns, "labeler-good")
			return p == "Succeeded" || p == "Failed"
		})
		t.Logf("TIMING pod created to completed: %.1f s", time.Since(start).Seconds())
		logs := c.must(t, "", "logs", "-n", ns, "labeler-good")
		t.Logf("labeler logs:\n%s", logs)
		if p := c.podPhase(t, ns, "labeler-good"); p != "Succeeded" {
			t.Fatalf("labeler-good: phase %s, want Succeeded", p)
		}
		if !strings.Contains(logs, `"component":"labeler"`) || !strings.Contains(logs, "labels reconciled") {
			t.Errorf("labeler logs do not show our binary reconciling labels")
		}
		labels := c.must(t, "", "get", "node", "server1", "-o", "jsonpath={.metadata.labels}")
		if !strings.Contains(labels, "lfs1") {
			t.Errorf("server1 carries no lfs1 label after labeler apply: %s", labels)
		}
		t.Logf("server1 labels: %s", labels)
	})

	t.Run("bad topology exits 1", func(t *testing.T) {
		c.must(t, fmt.Sprintf(podManifest, ns, "labeler-bad", "bad", node, tag), "apply", "-f", "-")
		poll(t, time.Minute, "labeler-bad finished", func() bool {
			p := c.podPhase(t, ns, "labeler-bad")
			return p == "Succeeded" || p == "Failed"
		})
		code := c.must(t, "", "get", "pod", "-n", ns, "labeler-bad", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}")
		logs := c.must(t, "", "logs", "-n", ns, "labeler-bad")
		t.Logf("exit code %s, logs:\n%s", code, logs)
		if code != "1" {
			t.Errorf("exit code %q, want 1", code)
		}
		if !strings.Contains(logs, "fsname") {
			t.Errorf("logs do not name the bad field fsname")
		}
	})

	t.Run("node crash is NotReady", func(t *testing.T) {
		victim := c.nodes[len(c.nodes)-1]
		crashed := time.Now()
		c.p.Crash(t, victim)
		poll(t, 2*time.Minute, victim+" not Ready", func() bool { return c.readyStatus(t)[victim] != "True" })
		t.Logf("TIMING node crash to Ready=%s: %.1f s", c.readyStatus(t)[victim], time.Since(crashed).Seconds())
		restart := time.Now()
		c.p.Up(t, victim)
		poll(t, 2*time.Minute, victim+" Ready again", func() bool { return c.readyStatus(t)[victim] == "True" })
		t.Logf("TIMING node restart to Ready: %.1f s", time.Since(restart).Seconds())
	})
}

func hasNodes(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
