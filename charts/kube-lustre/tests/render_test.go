// Package tests renders the kube-lustre chart the way `helm install` does
// (Helm's own loader, values coalescing, schema check and template engine, in
// strict mode) and with the pinned helm CLI, decodes every document strictly
// into the Kubernetes API types and checks what the chart promises: placement,
// RBAC, privilege, labels, names and the contract with the entrypoint binaries.
package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/getter"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kube-lustre/kube-lustre/internal/topology"
	"github.com/kube-lustre/kube-lustre/internal/topology/helmvalues"
	"github.com/kube-lustre/kube-lustre/internal/topology/topotest"
	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

const (
	releaseName = "lfs1"
	namespace   = "lustre"
	// kubeMinor is the Kubernetes version the pinned helm CLI assumes
	// (ci/helm.sh sets it with ldflags); the Go engine gets the same, so both
	// render the same thing.
	kubeMinor = "37"
)

// strictDecoder fails on unknown and duplicate fields: a typo in a template
// (or a field the API does not have) is an error here, not a silently
// dropped setting on the cluster.
// Besides the Kubernetes API's own kinds it knows the Prometheus
// Operator's (the optional ServiceMonitor).
var strictDecoder = serializer.NewCodecFactory(decodeScheme(), serializer.EnableStrict).UniversalDeserializer()

func decodeScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(scheme.AddToScheme(s))
	utilruntime.Must(monitoringv1.AddToScheme(s))
	return s
}

// doc is one rendered Kubernetes object.
type doc struct {
	Source string        // template path, e.g. kube-lustre/templates/targets.yaml
	Raw    string        // the YAML as rendered
	Hook   *release.Hook // nil for release objects
	Obj    runtime.Object
	Meta   metav1.Object
	Kind   string
}

// rendered is one chart rendering.
type rendered struct {
	Files map[string]string // engine output, path -> text (NOTES.txt included)
	Docs  []doc
	Notes string
}

var (
	chartOnce sync.Once
	chartVal  *chart.Chart
	chartErr  error
)

func chartDir(t testing.TB) string {
	return filepath.Join(helmcli.RepoRoot(t), "charts", "kube-lustre")
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	dir := chartDir(t)
	chartOnce.Do(func() { chartVal, chartErr = loader.Load(dir) })
	if chartErr != nil {
		t.Fatalf("load chart: %v", chartErr)
	}
	return chartVal
}

// examples are the valid values files users start from.
func examples(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(helmcli.RepoRoot(t), "examples", "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("examples/*.yaml: %v %v", files, err)
	}
	return files
}

func exampleName(f string) string { return strings.TrimSuffix(filepath.Base(f), ".yaml") }

// input is what a test renders: values files and --set flags, as helm takes them.
type input struct {
	Files   []string
	Sets    []string
	Release string // default releaseName
}

func (in input) release() string {
	if in.Release == "" {
		return releaseName
	}
	return in.Release
}

func (in input) values() (map[string]any, error) {
	o := values.Options{ValueFiles: in.Files, Values: in.Sets}
	return o.MergeValues(getter.Providers{})
}

// renderErr renders with Helm's engine in strict mode (a missing key is an
// error) after the same coalescing and schema validation as helm install.
func renderErr(t testing.TB, in input) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	vals, err := in.values()
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = common.KubeVersion{Version: "v1." + kubeMinor + ".0", Major: "1", Minor: kubeMinor}
	opts := common.ReleaseOptions{Name: in.release(), Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := util.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.RenderWithContext(context.Background(), ch, rv)
}

// render renders and strictly decodes every document; any failure fails t.
func render(t testing.TB, in input) *rendered {
	t.Helper()
	files, err := renderErr(t, in)
	if err != nil {
		t.Fatalf("render %v: %v", in, err)
	}
	r := &rendered{Files: files}
	manifests := map[string]string{}
	for path, text := range files {
		if strings.HasSuffix(path, "NOTES.txt") {
			r.Notes = text
			continue
		}
		manifests[path] = text
	}
	hooks, plain, err := releaseutil.SortManifests(manifests, nil, releaseutil.InstallOrder)
	if err != nil {
		t.Fatalf("split manifests: %v", err)
	}
	for _, h := range hooks {
		r.Docs = append(r.Docs, decode(t, h.Path, h.Manifest, h))
	}
	for _, m := range plain {
		r.Docs = append(r.Docs, decode(t, m.Name, m.Content, nil))
	}
	if len(r.Docs) == 0 {
		t.Fatalf("render %v: no objects", in)
	}
	return r
}

func decode(t testing.TB, source, raw string, h *release.Hook) doc {
	t.Helper()
	obj, gvk, err := strictDecoder.Decode([]byte(raw), nil, nil)
	if err != nil {
		t.Fatalf("%s: strict decode: %v\n%s", source, err, raw)
	}
	m, err := metaOf(obj)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	return doc{Source: source, Raw: raw, Hook: h, Obj: obj, Meta: m, Kind: gvk.Kind}
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}

// ofKind returns the documents of one kind, sorted by name.
func (r *rendered) ofKind(kind string) []doc {
	var out []doc
	for _, d := range r.Docs {
		if d.Kind == kind {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Meta.GetName() < out[j].Meta.GetName() })
	return out
}

// find returns the one object of kind named name.
func (r *rendered) find(t testing.TB, kind, name string) doc {
	t.Helper()
	for _, d := range r.Docs {
		if d.Kind == kind && d.Meta.GetName() == name {
			return d
		}
	}
	t.Fatalf("no %s %q rendered", kind, name)
	return doc{}
}

// podTemplate is a pod spec and its labels, from whatever object holds one.
type podTemplate struct {
	Owner  doc
	Labels map[string]string
	Spec   *corev1.PodSpec
}

func (r *rendered) pods() []podTemplate {
	var out []podTemplate
	for _, d := range r.Docs {
		switch o := d.Obj.(type) {
		case *appsv1.DaemonSet:
			out = append(out, podTemplate{d, o.Spec.Template.Labels, &o.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			out = append(out, podTemplate{d, o.Spec.Template.Labels, &o.Spec.Template.Spec})
		case *appsv1.Deployment:
			out = append(out, podTemplate{d, o.Spec.Template.Labels, &o.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, podTemplate{d, o.Spec.Template.Labels, &o.Spec.Template.Spec})
		case *corev1.Pod:
			out = append(out, podTemplate{d, o.Labels, &o.Spec})
		}
	}
	return out
}

func (p podTemplate) component() string { return p.Labels["app.kubernetes.io/component"] }

func (p podTemplate) String() string {
	return p.Owner.Kind + "/" + p.Owner.Meta.GetName()
}

// plan validates values the way the binaries do and derives the placement.
func plan(t testing.TB, in input) (*topology.Values, *topology.Plan) {
	t.Helper()
	v, ps, err := helmvalues.Check(helmvalues.Options{Files: in.Files, Sets: in.Sets})
	if err != nil || len(ps) > 0 {
		t.Fatalf("topology %v: err=%v problems:\n%v", in, err, ps)
	}
	return v, v.Plan()
}

// forExamples runs f on every example and on variants that switch on the
// paths the examples leave off, each as a subtest.
func forExamples(t *testing.T, f func(t *testing.T, in input)) {
	for _, in := range cases(t) {
		t.Run(in.name, func(t *testing.T) { f(t, in.input) })
	}
}

type namedInput struct {
	name string
	input
}

func cases(t testing.TB) []namedInput {
	var out []namedInput
	for _, f := range examples(t) {
		out = append(out, namedInput{exampleName(f), input{Files: []string{f}}})
	}
	ha := filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")
	out = append(out,
		// Every DRBD node has an address: the DRBD agent needs no API access.
		namedInput{"ha-addresses", input{Files: []string{ha, testdata(t, "addresses.yaml")}}},
		// No clients: no client DaemonSet and no test pod.
		namedInput{"ha-no-clients", input{Files: []string{ha}, Sets: []string{"clients.enabled=false"}}},
		// Dynamic volumes on the managed filesystem, default StorageClass
		// with an inode limit.
		namedInput{"ha-provisioner", input{Files: []string{ha}, Sets: []string{"provisioner.enabled=true",
			"provisioner.storageClass.isDefault=true", "provisioner.storageClass.inodeLimit=100000"}}},
		// The longest release name helm accepts: every name is truncated.
		namedInput{"ha-long-release", input{Files: []string{ha}, Release: strings.Repeat("r", 53)}},
		// Many targets per DRBD pair, MDTs beyond index 0, OSTs with
		// multi-digit indexes (examples/large at a tenth of its size).
		namedInput{"large-200", input{Files: []string{large(t)}}},
	)
	return out
}

func large(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "large.yaml")
	if err := os.WriteFile(p, topotest.Large(200, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testdata(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(helmcli.RepoRoot(t), "charts", "kube-lustre", "tests", "testdata", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}
