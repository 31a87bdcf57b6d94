//go:build e2echart

package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// published is kube-lustre as a site gets it (issue 17): the release
// targets of the Makefile, run from this checkout into a registry the
// cluster's nodes pull from.
type published struct {
	chart, version string            // oci://REGISTRY/charts/kube-lustre, its version
	values         string            // the image-values.yaml make push wrote
	images         map[string]string // REF@DIGEST make push printed, by image name
}

// publish runs `make images push package push-chart` into a throwaway
// registry (ociimage serve: go-containerregistry's, in memory) on an
// address the nodes reach, and makes the nodes pull from it. nil when the
// provider's nodes reach no test registry (kind, for now).
//
// The images are the release's, built for this machine's architecture
// with the hostsim tag (TAGS=hostsim), as the cluster's own images are: a
// production binary on these simulated hosts would step into this
// machine's real DRBD and ZFS.
func (e *chartEnv) publish(t testing.TB) *published {
	t.Helper()
	host := e.nodes.RegistryHost()
	if host == "" {
		t.Logf("%s nodes pull from no test registry: installing the chart directory with the images the cluster holds", e.nodes.Name())
		return nil
	}
	dist := t.TempDir()
	env := append(os.Environ(), "HELM_BIN="+e.helm, "DIST="+dist, "ARCHES="+runtime.GOARCH, "TAGS=hostsim")
	mk := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
		cmd.Dir, cmd.Env = e.root, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	start := time.Now()
	mk("images")

	// The registry: ociimage (built by make images) prints its address.
	srv := exec.Command(filepath.Join(dist, "bin", "ociimage"), "serve", host+":0")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("ociimage serve printed no address: %v", err)
	}
	hostport := strings.TrimSpace(line)
	e.nodes.TrustRegistry(t, hostport)
	reg := hostport + "/hpc"

	out := mk("push", "package", "push-chart", "REGISTRY="+reg, "PLAIN_HTTP=1")
	t.Logf("TIMING make images push package push-chart (%s): %.1f s\n%s", runtime.GOARCH, time.Since(start).Seconds(), out)
	p := &published{chart: "oci://" + reg + "/charts/kube-lustre", version: chartVersion(t, e.root),
		values: filepath.Join(dist, "image-values.yaml"), images: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dist, "images.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range strings.Fields(string(b)) { // HOST:PORT/hpc/kube-lustre/NAME:VERSION@DIGEST
		repo, _, _ := strings.Cut(strings.TrimPrefix(ref, hostport+"/"), ":")
		p.images[path.Base(repo)] = ref
	}
	if len(p.images) != 7 {
		t.Fatalf("make push pushed %v, want the seven images", p.images)
	}
	return p
}

// chartVersion is Chart.yaml's version, the one make package archives.
func chartVersion(t testing.TB, root string) string {
	t.Helper()
	v, ok := lineValue(filepath.Join(root, "charts", "kube-lustre", "Chart.yaml"), "version:")
	if !ok {
		t.Fatal("charts/kube-lustre/Chart.yaml has no version")
	}
	return strings.Trim(strings.TrimSpace(v), `"`)
}

// fromRegistry makes the release install the published chart with the
// pinned images make push wrote, pulled as a site pulls them (the chart's
// default pull policy), instead of the chart directory and the images the
// cluster holds.
func (r *release) fromRegistry(p *published) {
	r.chart = p.chart
	r.opts.ValuesFiles = append([]string{p.values}, r.opts.ValuesFiles...)
	delete(r.opts.SetValues, "images.pullPolicy")
	r.opts.ExtraArgs["install"] = append(slices.Clone(r.opts.ExtraArgs["install"]), "--version", p.version, "--plain-http")
}

// checkPulled: every container of the release runs a published image,
// pinned by its digest, which its node pulled from the registry (the
// kubelet's "Successfully pulled" event, not "already present").
func (r *release) checkPulled(t testing.TB, p *published) {
	t.Helper()
	pushed := map[string]bool{}
	for _, ref := range p.images {
		pushed[ref] = true
	}
	ran := map[string]bool{}
	for _, pod := range r.e.pods(t, r.ns, r.selector("")) {
		for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
			if !pushed[c.Image] {
				t.Errorf("pod %s container %s runs %s, not an image make push published (%v)", pod.Name, c.Name, c.Image, p.images)
			}
			ran[c.Image] = true
		}
	}
	events, err := r.e.cs.CoreV1().Events(r.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=Pulled"})
	if err != nil {
		t.Fatal(err)
	}
	for ref := range ran {
		found := false
		for _, ev := range events.Items {
			found = found || strings.Contains(ev.Message, "Successfully pulled image \""+ref+"\"")
		}
		if !found {
			t.Errorf("no node pulled %s from the registry (no Successfully pulled event)", ref)
		}
	}
	if len(ran) < 3 {
		t.Errorf("the release runs %d published images (%v), want at least the installer, target and client", len(ran), ran)
	}
	t.Logf("pulled from the registry and running: %d images", len(ran))
}

// checkPreloadedStillRun: on a node that pulled the published images, a
// pod naming the image the cluster preloaded (same image ID, pullPolicy
// Never, as the other cases run) still starts: its container runs (here
// an unknown command, which exits 2 and touches nothing).
func (r *release) checkPreloadedStillRun(t testing.TB, node string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "preloaded-after-pull", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: node, RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "installer", Image: "kube-lustre/installer:" + r.e.tag, ImagePullPolicy: corev1.PullNever, Args: []string{"no-such-command"}}}},
	}
	if _, err := r.e.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.e.cs.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{}) }()
	why := "no container status"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		p, err := r.e.cs.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && len(p.Status.ContainerStatuses) > 0 {
			st := p.Status.ContainerStatuses[0].State
			if st.Terminated != nil || st.Running != nil {
				return
			}
			if st.Waiting != nil {
				why = st.Waiting.Reason + ": " + st.Waiting.Message
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("on %s, after its pull from the registry, the preloaded image kube-lustre/installer:%s does not run: %s", node, r.e.tag, why)
		}
	}
}
