package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-lustre/kube-lustre/internal/report"
	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/zfs"
)

// Executor runs a command in a container of a pod of the release's
// namespace (the one it was made for) and returns its stdout.
type Executor interface {
	Exec(ctx context.Context, pod, container string, cmd []string) ([]byte, error)
}

// TargetStatus is one target as `helm lustre status` shows it.
type TargetStatus struct {
	Target      string                     `json:"target"`
	Pod         string                     `json:"pod,omitempty"`
	PodNode     string                     `json:"podNode,omitempty"`
	Ready       bool                       `json:"ready"`
	LeaseHolder string                     `json:"leaseHolder,omitempty"`
	LeaseAge    string                     `json:"leaseRenewedAgo,omitempty"`
	Nodes       []string                   `json:"nodes"`
	DRBD        map[string]report.Resource `json:"drbd,omitempty"` // node -> what its DRBD agent reports
	// Space is the target's ZFS dataset's, read by its serving pod
	// (`lustre-target space`); absent while no pod is Ready.
	Space    *zfs.Space `json:"space,omitempty"`
	Problems []string   `json:"problems,omitempty"`
}

// Status is what `helm lustre status` shows of a release.
type Status struct {
	Release   string         `json:"release"`
	Namespace string         `json:"namespace"`
	Targets   []TargetStatus `json:"targets"`
	Clients   []ClientStatus `json:"clients"`
	// Versions are the images each component's pods run: more than one
	// while an upgrade rolls through them.
	Versions []ComponentVersion `json:"versions"`
}

// ClientStatus is one client node: its pod is Ready only while the
// filesystem is mounted there (agent.Client).
type ClientStatus struct {
	Node    string `json:"node"`
	Pod     string `json:"pod"`
	Mounted bool   `json:"mounted"`
}

// ComponentVersion is the chart version and the images of one component's
// pods.
type ComponentVersion struct {
	Component string   `json:"component"`
	Chart     []string `json:"chart"`
	Images    []string `json:"images"`
}

// releaseSelector selects every object of a release by its instance label
// alone, as the chart sets it: nameOverride and fullnameOverride change
// the other labels and the names, never this one.
func releaseSelector(release string) string {
	return "app.kubernetes.io/instance=" + strings.TrimSuffix(truncate(release, 63), "-")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// collectStatus reads the release's topology, target pods, Leases and, from
// the DRBD agent on each node of each pair, the resource states; the
// client pods and the images every component runs.
func collectStatus(ctx context.Context, api statusAPI, ex Executor, ns, release string, now time.Time) (*Status, error) {
	sel := releaseSelector(release)
	cms, err := api.configMaps.List(ctx, metav1.ListOptions{LabelSelector: sel + ",app.kubernetes.io/component=topology"})
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
	pods, err := api.pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	out := &Status{Release: release, Namespace: ns, Targets: []TargetStatus{}, Clients: []ClientStatus{}}
	targets := map[string]*corev1.Pod{}
	agents := map[string]*corev1.Pod{} // node -> DRBD agent pod
	for i := range pods.Items {
		p := &pods.Items[i]
		switch p.Labels["app.kubernetes.io/component"] {
		case "target":
			targets[p.Labels["kube-lustre.io/target"]] = p
		case "drbd":
			agents[p.Spec.NodeName] = p
		case "client":
			out.Clients = append(out.Clients, ClientStatus{Node: p.Spec.NodeName, Pod: p.Name, Mounted: podReady(p)})
		}
	}
	sort.Slice(out.Clients, func(i, j int) bool { return out.Clients[i].Node < out.Clients[j].Node })
	out.Versions = versions(pods.Items)
	reports := map[string][]report.Resource{} // node -> reports
	for _, tp := range plan.Targets {
		st := TargetStatus{Target: tp.Name, Nodes: tp.Nodes}
		p := targets[tp.Name]
		if p == nil {
			st.Problems = append(st.Problems, "no pod")
		} else {
			st.Pod, st.PodNode, st.Ready = p.Name, p.Spec.NodeName, podReady(p)
			st.LeaseHolder, st.LeaseAge = lease(ctx, api, p, now, &st.Problems)
			if st.Ready {
				if sp, err := targetSpace(ctx, ex, p); err != nil {
					st.Problems = append(st.Problems, err.Error())
				} else {
					st.Space = &sp
				}
			}
		}
		if tp.DRBDResource != "" {
			st.DRBD = map[string]report.Resource{}
			for _, n := range tp.Nodes {
				rs, err := nodeReports(ctx, ex, agents[n], n, reports)
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
		out.Targets = append(out.Targets, st)
	}
	return out, nil
}

// versions lists, per component, the chart versions and images its pods
// run (the first container: the kube-lustre binary), sorted.
func versions(pods []corev1.Pod) []ComponentVersion {
	charts, images := map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, p := range pods {
		c := p.Labels["app.kubernetes.io/component"]
		if c == "" || len(p.Spec.Containers) == 0 {
			continue
		}
		if charts[c] == nil {
			charts[c], images[c] = map[string]bool{}, map[string]bool{}
		}
		if v := p.Labels["helm.sh/chart"]; v != "" {
			charts[c][v] = true
		}
		images[c][p.Spec.Containers[0].Image] = true
	}
	out := []ComponentVersion{}
	for _, c := range slices.Sorted(maps.Keys(images)) {
		out = append(out, ComponentVersion{Component: c, Chart: slices.Sorted(maps.Keys(charts[c])), Images: slices.Sorted(maps.Keys(images[c]))})
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func lease(ctx context.Context, api statusAPI, p *corev1.Pod, now time.Time, problems *[]string) (string, string) {
	name := ""
	for _, c := range p.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "KUBE_LUSTRE_LEASE" {
				name = e.Value
			}
		}
	}
	l, err := api.leases.Get(ctx, name, metav1.GetOptions{})
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

// targetSpace asks a serving target pod for its dataset's space: only
// there is the pool imported.
func targetSpace(ctx context.Context, ex Executor, p *corev1.Pod) (zfs.Space, error) {
	b, err := ex.Exec(ctx, p.Name, "target", []string{"/usr/local/bin/lustre-target", "space"})
	if err != nil {
		return zfs.Space{}, fmt.Errorf("space: %w", err)
	}
	var r report.Space
	if err := json.Unmarshal(b, &r); err != nil {
		return zfs.Space{}, fmt.Errorf("space: lustre-target space printed %q: %w", b, err)
	}
	return r.Space, nil
}

// nodeReports asks a node's DRBD agent once (cached per node).
func nodeReports(ctx context.Context, ex Executor, p *corev1.Pod, node string, cache map[string][]report.Resource) ([]report.Resource, error) {
	if rs, ok := cache[node]; ok {
		return rs, nil
	}
	if p == nil {
		return nil, fmt.Errorf("%s: no DRBD agent pod", node)
	}
	b, err := ex.Exec(ctx, p.Name, "drbd", []string{"/usr/local/bin/drbd", "status"})
	if err != nil {
		return nil, fmt.Errorf("%s: drbd status: %w", node, err)
	}
	var rs []report.Resource
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: drbd status printed %q: %w", node, b, err)
	}
	cache[node] = rs
	return rs, nil
}

func writeStatus(out io.Writer, st *Status) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tPOD\tLEASE\tSPACE (used / size)\tDRBD (node: role disk connection [resync done], mounted)\tPROBLEMS")
	for _, s := range st.Targets {
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
				sync := ""
				if r.SyncDone != nil {
					sync = fmt.Sprintf(" %.1f%%", 100**r.SyncDone)
				}
				drbd = append(drbd, fmt.Sprintf("%s: %s %s/%s %s%s%s", n, r.Role, r.Disk, r.PeerDisk, r.CState, sync, m))
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
		space := "-"
		if s.Space != nil {
			size := s.Space.Used + s.Space.Available
			space = fmt.Sprintf("%s / %s (%.0f%%)", iec(s.Space.Used), iec(size), 100*float64(s.Space.Used)/float64(max(size, 1)))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Target, pod, leaseCol, space, strings.Join(drbd, " | "), probs)
	}
	if len(st.Clients) > 0 {
		mounted := 0
		for _, c := range st.Clients {
			if c.Mounted {
				mounted++
			}
		}
		fmt.Fprintf(w, "\nCLIENT (%d of %d mounted)\tPOD\tMOUNTED\n", mounted, len(st.Clients))
		for _, c := range st.Clients {
			fmt.Fprintf(w, "%s\t%s\t%s\n", c.Node, c.Pod, yesNo(c.Mounted))
		}
	}
	fmt.Fprintln(w, "\nCOMPONENT\tCHART\tIMAGES")
	for _, v := range st.Versions {
		fmt.Fprintf(w, "%s\t%s\t%s\n", v.Component, strings.Join(v.Chart, ", "), strings.Join(v.Images, ", "))
	}
	_ = w.Flush()
}

// iec writes bytes in binary units, as df -h does: 1.5G, 300M, 96K.
func iec(b uint64) string {
	const units = "KMGTPE"
	if b < 1024 {
		return fmt.Sprintf("%dB", b)
	}
	v, i := float64(b)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v, i = v/1024, i+1
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%c", v, units[i])
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// status is `helm lustre status RELEASE [-n NS] [-o text|json] [--watch]`.
// It uses the caller's kubeconfig (and helm's context and namespace) and
// only reads: get/list on the release's objects and exec of `drbd status`
// in the DRBD agents.
func status(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("helm lustre status", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help: below
	namespace := fs.StringP("namespace", "n", "", "namespace of the release (default: helm's, then the kubeconfig's)")
	output := fs.StringP("output", "o", "text", "output format: text or json (with --watch: one JSON document per line)")
	watch := fs.BoolP("watch", "w", false, "show the status again every --interval until interrupted (a failover, a resync)")
	interval := fs.Duration("interval", 2*time.Second, "with --watch: how often")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			fmt.Fprintf(stdout, "usage: helm lustre status RELEASE [-n NAMESPACE] [-o text|json] [--watch [--interval 2s]]\n%s", fs.FlagUsages())
			return exitOK
		}
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "helm lustre status: --output must be text or json, not %q\n", *output)
		return exitUsage
	}
	if *interval < 100*time.Millisecond {
		fmt.Fprintf(stderr, "helm lustre status: --interval %s is too short: at least 100ms\n", *interval)
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
	api, ex, err := newAPI(cfg, ns)
	if err != nil {
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	collect := func(ctx context.Context) (*Status, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return collectStatus(ctx, api, ex, ns, fs.Arg(0), time.Now())
	}
	write := writeStatus
	if *output == "json" {
		write = func(w io.Writer, st *Status) { writeJSON(w, st) }
	}
	if *watch {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		watchStatus(ctx, collect, write, *output == "json", *interval, stdout, stderr)
		return exitOK
	}
	st, err := collect(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "helm lustre status: %v\n", err)
		return exitUsage
	}
	write(stdout, st)
	for _, s := range st.Targets {
		if len(s.Problems) > 0 || !s.Ready {
			return exitProblems
		}
	}
	return exitOK
}

// watchStatus shows the status every interval until ctx ends: each text
// view under a line with the time, each JSON view on a line of its own. A
// round that fails (the API server away during an upgrade) is said and the
// watch goes on.
func watchStatus(ctx context.Context, collect func(context.Context) (*Status, error), write func(io.Writer, *Status), jsonLines bool, interval time.Duration, stdout, stderr io.Writer) {
	for {
		st, err := collect(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fmt.Fprintf(stderr, "helm lustre status: %s: %v\n", time.Now().Format(time.TimeOnly), err)
		case jsonLines:
			b, _ := json.Marshal(st)
			fmt.Fprintf(stdout, "%s\n", b)
		default:
			fmt.Fprintf(stdout, "--- %s  %s (every %s; Ctrl-C ends)\n", time.Now().Format(time.TimeOnly), st.Release, interval)
			write(stdout, st)
			fmt.Fprintln(stdout)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
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

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
