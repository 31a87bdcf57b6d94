package tests

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kube-lustre/kube-lustre/test/helmcli"
)

// Registry, tag, pull policy and secrets, priority class and resources reach
// every pod they are meant for.
func TestImagesAndPodSettings(t *testing.T) {
	t.Parallel()
	in := input{
		Files: []string{filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")},
		Sets: []string{
			"images.registry=registry.example.com:5000/", "images.target.tag=2.0.0", "images.pullPolicy=Always",
			"images.pullSecrets={regcred}", "priorityClassName=lustre-critical", "resources.target.limits.memory=1Gi",
			"install.mode=install",
		},
	}
	r := render(t, in)
	for _, p := range r.pods() {
		// The failover controller keeps failover working when nodes are
		// short of resources, so it shares the servers' priority.
		critical := hostComponents[p.component()] || p.component() == "failover"
		if got := p.Spec.PriorityClassName; (got == "lustre-critical") != critical {
			t.Errorf("%s: priorityClassName %q (server, client and failover pods only)", p, got)
		}
		if !slices.Equal(p.Spec.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "regcred"}}) {
			t.Errorf("%s: imagePullSecrets %v", p, p.Spec.ImagePullSecrets)
		}
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			if !strings.HasPrefix(c.Image, "registry.example.com:5000/kube-lustre/") || strings.Contains(c.Image, "//") {
				t.Errorf("%s container %s: image %s", p, c.Name, c.Image)
			}
			wantTag := ":0.1.0"
			if c.Name == "target" {
				wantTag = ":2.0.0"
			}
			if !strings.HasSuffix(c.Image, wantTag) {
				t.Errorf("%s container %s: image %s, want tag %s", p, c.Name, c.Image, wantTag)
			}
			if c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("%s container %s: pull policy %s", p, c.Name, c.ImagePullPolicy)
			}
			if c.Name == "installer" && !slices.Equal(c.Command, []string{"/usr/local/bin/installer", "install"}) {
				t.Errorf("%s: installer runs %v", p, c.Command)
			}
			if c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s container %s: no memory request", p, c.Name)
			}
			if c.Name == "target" && !c.Resources.Limits.Memory().Equal(resource.MustParse("1Gi")) {
				t.Errorf("%s: target memory limit %v, want 1Gi", p, c.Resources.Limits.Memory())
			}
		}
	}
}

// Issue 17: images.registry is where every image comes from, the CSI
// sidecars included (their registry.k8s.io replaced), and a digest pins
// an image as REPOSITORY:TAG@DIGEST.
func TestRegistryAndDigestsReachEveryImage(t *testing.T) {
	t.Parallel()
	const d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	in := input{
		Files: []string{filepath.Join(helmcli.RepoRoot(t), "examples", "ha.yaml")},
		Sets: []string{
			"images.registry=mirror.example.com/hpc", "provisioner.enabled=true",
			"images.drbd.digest=" + d1, "provisioner.images.provisioner.digest=" + d2,
		},
	}
	r := render(t, in)
	seen := map[string]bool{}
	for _, p := range r.pods() {
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			seen[c.Image] = true
			if !strings.HasPrefix(c.Image, "mirror.example.com/hpc/") || strings.Contains(c.Image, "registry.k8s.io") {
				t.Errorf("%s container %s: image %s, want it from mirror.example.com/hpc", p, c.Name, c.Image)
			}
		}
	}
	for _, want := range []string{
		"mirror.example.com/hpc/kube-lustre/drbd:0.1.0@" + d1,
		"mirror.example.com/hpc/sig-storage/csi-provisioner:v6.4.0@" + d2,
		"mirror.example.com/hpc/sig-storage/csi-node-driver-registrar:v2.17.0",
		"mirror.example.com/hpc/kube-lustre/csi:0.1.0",
	} {
		if !seen[want] {
			t.Errorf("no container runs %s; images: %v", want, slices.Sorted(maps.Keys(seen)))
		}
	}
	// Without a registry the sidecars keep upstream's.
	in.Sets = []string{"provisioner.enabled=true"}
	found := false
	for _, p := range render(t, in).pods() {
		for _, c := range p.Spec.Containers {
			found = found || c.Image == "registry.k8s.io/sig-storage/csi-provisioner:v6.4.0"
		}
	}
	if !found {
		t.Error("without images.registry the provisioner is not registry.k8s.io/sig-storage/csi-provisioner:v6.4.0")
	}
	// A digest that is not one is refused by the schema, naming the field.
	in.Sets = []string{"images.drbd.digest=latest"}
	if _, err := renderErr(t, in); err == nil || !strings.Contains(err.Error(), "/images/drbd/digest") {
		t.Errorf("a bad digest: %v, want the schema to name /images/drbd/digest", err)
	}
}
