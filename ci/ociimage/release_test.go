//go:build release

package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The release path, as a site's release job runs it (issue 17): from this
// checkout, `make images push package push-chart` into a registry (here an
// in-process one), then the chart installed from that registry renders
// every image pinned to the digest that was pushed, and each image holds
// the binary of its architecture. HELM_BIN is the pinned helm CLI.
func TestReleaseToARegistry(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	helm := os.Getenv("HELM_BIN")
	if helm == "" {
		t.Fatal("HELM_BIN is not set: make release-test sets it to the pinned helm CLI")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://") + "/hpc"
	dist := t.TempDir()
	mk := exec.Command("make", "--no-print-directory", "images", "push", "package", "push-chart", "dist", "REGISTRY="+reg, "PLAIN_HTTP=1", "DIST="+dist)
	mk.Dir = root
	mk.Env = append(os.Environ(), "HELM_BIN="+helm)
	out, err := mk.CombinedOutput()
	t.Logf("make images push package push-chart dist:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}

	// What make push printed and wrote: one REF@DIGEST per image.
	pushed := map[string]string{} // image name -> digest
	b, err := os.ReadFile(filepath.Join(dist, "images.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		ref, digest, ok := strings.Cut(sc.Text(), "@")
		n := strings.TrimSuffix(strings.TrimPrefix(ref, reg+"/kube-lustre/"), ":0.1.0")
		if !ok || n == ref || !bytes.Contains(out, sc.Bytes()) {
			t.Errorf("images.txt line %q: want %s/kube-lustre/NAME:0.1.0@DIGEST, printed by make push", sc.Text(), reg)
		}
		pushed[n] = digest
	}
	images, _ := filepath.Glob(filepath.Join(root, "images", "*", "main.go"))
	if len(pushed) != len(images) || len(images) != 7 {
		t.Fatalf("pushed %v, want the %d images of images/", pushed, len(images))
	}
	for n, digest := range pushed {
		checkImage(t, reg, n, digest)
	}

	// The chart from the registry, with the values make push wrote: every
	// kube-lustre image is the pushed one, pinned by its digest.
	tmpl := exec.Command(helm, "template", "lfs1", "oci://"+reg+"/charts/kube-lustre", "--version", "0.1.0", "--plain-http",
		"-f", filepath.Join(root, "examples", "ha.yaml"), "-f", filepath.Join(dist, "image-values.yaml"), "--set", "provisioner.enabled=true")
	manifests, err := tmpl.Output()
	if err != nil {
		t.Fatalf("helm template from the registry: %v\n%s", err, stderr(err))
	}
	used := map[string]bool{}
	for _, line := range strings.Split(string(manifests), "\n") {
		if img, ok := strings.CutPrefix(strings.TrimSpace(line), "image: "); ok {
			used[strings.Trim(img, `"`)] = true
		}
	}
	for n, digest := range pushed {
		want := reg + "/kube-lustre/" + n + ":0.1.0@" + digest
		if !used[want] { // helm template renders the labelling hook Job too
			t.Errorf("no container runs %s; images: %v", want, used)
		}
	}
	for img := range used {
		if !strings.HasPrefix(img, reg+"/") {
			t.Errorf("image %s does not come from %s", img, reg)
		}
	}

	// The plugin from its release archive, served over HTTP as a release
	// page serves it, on Helm 3 and on Helm 4.
	helm4 := os.Getenv("HELM4_BIN")
	if helm4 == "" {
		t.Fatal("HELM4_BIN is not set: make release-test sets it to the pinned Helm 4 CLI")
	}
	// As a release page serves them; Helm 3 takes a URL for an archive
	// only when the server calls it gzip (GitHub says octet-stream: Helm 3
	// users extract the archive and install the directory, tested below).
	fs := http.FileServer(http.Dir(dist))
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		fs.ServeHTTP(w, r)
	}))
	defer files.Close()
	here := fmt.Sprintf("%s/helm-lustre-0.1.0-linux-%s.tgz", files.URL, runtime.GOARCH)
	other := files.URL + "/helm-lustre-0.1.0-darwin-arm64.tgz"
	for _, h := range []struct {
		name, bin string
		flags     []string
	}{{"helm 3", helm, nil}, {"helm 4", helm4, []string{"--verify=false"}}} {
		t.Run(h.name, func(t *testing.T) { pluginFromArchive(t, root, h.bin, h.flags, here, other) })
	}
	// Helm 3 from an archive a server calls octet-stream: extracted, then
	// installed as a directory (README).
	t.Run("helm 3 extracted", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "helm-lustre")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		x := exec.Command("tar", "-xzf", filepath.Join(dist, fmt.Sprintf("helm-lustre-0.1.0-linux-%s.tgz", runtime.GOARCH)), "-C", dir)
		if out, err := x.CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, out)
		}
		pluginFromArchive(t, root, helm, nil, dir, "")
	})
}

// pluginFromArchive installs the plugin from a release archive (a URL, or
// a directory it was extracted into) and runs it; an archive for another
// OS (other, unless empty) fails its install and leaves no plugin
// registered.
func pluginFromArchive(t *testing.T, root, helm string, flags []string, here, other string) {
	home := t.TempDir()
	// Helm 4 installs into HELM_DATA_HOME/plugins whatever HELM_PLUGINS
	// says (helm/helm#32646): point both there.
	env := append(os.Environ(), "HELM_DATA_HOME="+filepath.Join(home, "data"), "HELM_PLUGINS="+filepath.Join(home, "data", "plugins"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "PATH=/usr/bin:/bin")
	run := func(args ...string) (string, error) {
		c := exec.Command(helm, args...)
		c.Env, c.Dir = env, root
		b, err := c.CombinedOutput()
		return string(b), err
	}
	if other != "" {
		out, err := run(append([]string{"plugin", "install", other}, flags...)...)
		if err == nil {
			t.Errorf("installing the darwin/arm64 archive here succeeded:\n%s", out)
		}
		t.Logf("the darwin/arm64 archive: %s", out)
		if list, _ := run("plugin", "list"); strings.Contains(list, "lustre") {
			t.Fatalf("a failed install left the plugin registered:\n%s", list)
		}
	}
	if out, err := run(append([]string{"plugin", "install", here}, flags...)...); err != nil {
		t.Fatalf("helm plugin install %s: %v\n%s", here, err, out)
	}
	if out, err := run("lustre", "version"); err != nil || !strings.HasPrefix(out, "helm-lustre 0.1.0 ") {
		t.Errorf("helm lustre version: %v\n%s", err, out)
	}
	if out, err := run("lustre", "validate", "examples/ha.yaml"); err != nil || !strings.Contains(out, "examples/ha.yaml: valid: ") {
		t.Errorf("helm lustre validate: %v\n%s", err, out)
	}
	if out, err := run("lustre", "validate", "--help"); err != nil {
		t.Errorf("helm lustre validate --help: %v\n%s", err, out)
	}
}

// checkImage: the pushed index has linux/amd64 and linux/arm64, and each
// holds its binary built for that architecture, busybox's nsenter where
// the image touches the host, and runs as 65532 where it does not.
func checkImage(t *testing.T, reg, n, digest string) {
	t.Helper()
	ref, err := name.NewDigest(reg+"/kube-lustre/"+n+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("%s: %v", n, err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	images := platforms(t, idx)
	if len(images) != len(machines) {
		t.Errorf("%s: %d platforms, want %d", n, len(images), len(machines))
	}
	apiOnly := n == "labeler" || n == "failover-controller"
	for arch, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "65532:65532", false: ""}[apiOnly]; cf.Config.User != want {
			t.Errorf("%s/%s: user %q, want %q", n, arch, cf.Config.User, want)
		}
		files := layerFiles(t, img)
		for path, want := range map[string]bool{"usr/local/bin/" + n: true, "usr/bin/nsenter": !apiOnly} {
			bin, ok := files[path]
			if ok != want {
				t.Errorf("%s/%s: %s present %v, want %v", n, arch, path, ok, want)
				continue
			}
			if !ok {
				continue
			}
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil || f.Machine != machines[arch] {
				t.Errorf("%s/%s: %s is not a %s binary (%v)", n, arch, path, machines[arch], err)
			}
		}
	}
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
