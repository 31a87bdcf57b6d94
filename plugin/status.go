package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kube-lustre/kube-lustre/internal/agent"
	"github.com/kube-lustre/kube-lustre/internal/topology"
)

// Executor runs a command in a container and returns its stdout.
type Executor interface {
	Exec(ctx context.Context, ns, pod, container string, cmd []string) ([]byte, error)
}

// TargetStatus is one target as `helm lustre status` shows it.
type TargetStatus struct {
	Target      string                          `json:"target"`
	Pod         string                          `json:"pod,omitempty"`
	PodNode     string                          `json:"podNode,omitempty"`
	Ready       bool                            `json:"ready"`
	LeaseHolder string                          `json:"leaseHolder,omitempty"`
	LeaseAge    string                          `json:"leaseRenewedAgo,omitempty"`
	Nodes       []string                        `json:"nodes"`
	DRBD        map[string]agent.ResourceReport `json:"drbd,omitempty"` // node -> what its DRBD agent reports
	Problems    []string                        `json:"problems,omitempty"`
}

// collectStatus reads the release's topology, target pods, Leases and, from
// the DRBD agent on each node of each pair, the resource states.
func collectStatus(ctx context.Context, cs kubernetes.Interface, ex Executor, ns, release string, now time.Time) ([]TargetStatus, error) {
	sel := "app.kubernetes.io/name=kube-lustre,app.kubernetes.io/instance=" + release
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: sel + ",app.kubernetes.io/component=topology"})
	if err != nil {
		return nil, fmt.Errorf("find the release's topology: %w", err)
	}
	if len(cms.Items) != 1 {
		return nil, fmt.Errorf("release %s in namespace %s: found %d topology ConfigMaps, want 1 (is it installed here? try -n)", release, ns, len(cms.Items))
	}
	v, ps, err := topology.CheckDocument([]byte(cms.Items[0].Data["values.yaml"]))
	if err != nil || len(ps) > 0 {
		return nil, fmt.Errorf("the release's topology does not validate: %v%v", err, ps)
	}
	plan := v.Plan()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	targets := map[string]*corev1.Pod{}
	agents := map[string]*corev1.Pod{} // node -> DRBD agent pod
	for i := range pods.Items {
		p := &pods.Items[i]
		switch p.Labels["app.kubernetes.io/component"] {
		case "target":
			targets[p.Labels["kube-lustre.io/target"]] = p
		case "drbd":
			agents[p.Spec.NodeName] = p
		}
	}
	reports := map[string][]agent.ResourceReport{} // node -> reports
	var out []TargetStatus
	for _, tp := range plan.Targets {
		st := TargetStatus{Target: tp.Name, Nodes: tp.Nodes}
		p := targets[tp.Name]
		if p == nil {
			st.Problems = append(st.Problems, "no pod")
		} else {
			st.Pod, st.PodNode, st.Ready = p.Name, p.Spec.NodeName, podReady(p)
			st.LeaseHolder, st.LeaseAge = lease(ctx, cs, ns, p, now, &st.Problems)
		}
		if tp.DRBDResource != "" {
			st.DRBD = map[string]agent.ResourceReport{}
			for _, n := range tp.Nodes {
				rs, err := nodeReports(ctx, ex, ns, agents[n], n, reports)
				if err != nil {
					st.Problems = append(st.Problems, err.Error())
					continue
				}
				for _, r := range rs {
					if r.Resource == tp.DRBDResource {
						st.DRBD[n] = r
					}
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func lease(ctx context.Context, cs kubernetes.Interface, ns string, p *corev1.Pod, now time.Time, problems *[]string) (string, string) {
	name := ""
	for _, c := range p.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "KUBE_LUSTRE_LEASE" {
				name = e.Value
			}
		}
	}
	l, err := cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		*problems = append(*problems, fmt.Sprintf("lease %s: %v", name, err))
		return "", ""
	}
	holder, age := "", ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if l.Spec.RenewTime != nil {
		age = now.Sub(l.Spec.RenewTime.Time).Round(100 * time.Millisecond).String()
	}
	return holder, age
}

// nodeReports asks a node's DRBD agent once (cached per node).
func nodeReports(ctx context.Context, ex Executor, ns string, p *corev1.Pod, node string, cache map[string][]agent.ResourceReport) ([]agent.ResourceReport, error) {
	if rs, ok := cache[node]; ok {
		return rs, nil
	}
	if p == nil {
		return nil, fmt.Errorf("%s: no DRBD agent pod", node)
	}
	b, err := ex.Exec(ctx, ns, p.Name, "drbd", []string{"/usr/local/bin/drbd", "status"})
	if err != nil {
		return nil, fmt.Errorf("%s: drbd status: %w", node, err)
	}
	var rs []agent.ResourceReport
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: drbd status printed %q: %w", node, b, err)
	}
	cache[node] = rs
	return rs, nil
}

func writeStatus(out io.Writer, sts []TargetStatus) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tPOD\tLEASE\tDRBD (node: role disk connection, mounted)\tPROBLEMS")
	for _, s := range sts {
		pod := "-"
		if s.Pod != "" {
			pod = fmt.Sprintf("%s ready=%v", s.PodNode, s.Ready)
		}
		leaseCol := "-"
		if s.LeaseHolder != "" {
			leaseCol = fmt.Sprintf("%s (renewed %s ago)", s.LeaseHolder, s.LeaseAge)
		}
		var drbd []string
		for _, n := range s.Nodes {
			r, ok := s.DRBD[n]
			switch {
			case s.DRBD == nil:
			case !ok:
				drbd = append(drbd, n+": ?")
			case !r.Up:
				drbd = append(drbd, n+": down")
			default:
				m := ""
				if r.Mounted {
					m = ", mounted"
				}
				drbd = append(drbd, fmt.Sprintf("%s: %s %s/%s %s%s", n, r.Role, r.Disk, r.PeerDisk, r.CState, m))
			}
		}
		if s.DRBD == nil {
			drbd = []string{"no DRBD"}
		}
		probs := "-"
		if len(s.Problems) > 0 {
			sort.Strings(s.Problems)
			probs = strings.Join(s.Problems, "; ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Target, pod, leaseCol, strings.Join(drbd, " | "), probs)
	}
	_ = w.Flush()
}

// status is `helm lustre status RELEASE [-n NS] [-o text|json]`. It uses
// the caller's kubeconfig (and helm's context and namespace) and only reads:
// get/list on the release's objects and exec of `drbd status` in the DRBD
// agents.
func status(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("helm lustre status", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help: below
	namespace := fs.StringP("namespace", "n", "", "namespace of the release (default: helm's, then the kubeconfig's)")
	output := fs.StringP("output", "o", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			fmt.Fprintf(stdout, "usage: helm lustre status RELEASE [-n NAMESPACE] [-o text|json]\n%s", fs.FlagUsages())
			return exitOK
		}
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "helm lustre status: --output must be text or json, not %q\n", *output)
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "helm lustre status: name the release: helm lustre status RELEASE [-n NAMESPACE]")
		return exitUsage
	}
	cfg, ns, err := kubeConfig(*namespace)
	if err != nil {
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sts, err := collectStatus(ctx, cs, &podExec{cfg: cfg, cs: cs}, ns, fs.Arg(0), time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	if *output == "json" {
		writeJSON(stdout, sts)
	} else {
		writeStatus(stdout, sts)
	}
	for _, s := range sts {
		if len(s.Problems) > 0 || !s.Ready {
			return exitProblems
		}
	}
	return exitOK
}

// kubeConfig honours KUBECONFIG and the context and namespace helm passes
// to plugins (HELM_KUBECONTEXT, HELM_NAMESPACE); -n wins over both.
func kubeConfig(namespace string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	over := &clientcmd.ConfigOverrides{CurrentContext: os.Getenv("HELM_KUBECONTEXT")}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns := namespace
	if ns == "" {
		ns = os.Getenv("HELM_NAMESPACE")
	}
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", err
		}
	}
	return cfg, ns, nil
}

// podExec runs commands in pods through the API server (kubectl exec).
type podExec struct {
	cfg *rest.Config
	cs  kubernetes.Interface
}

func (e *podExec) Exec(ctx context.Context, ns, pod, container string, cmd []string) ([]byte, error) {
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
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

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
