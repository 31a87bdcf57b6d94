package main

import (
	"archive/tar"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A layout over two architectures, pushed to an in-process registry, comes
// back as one index whose images each hold their own architecture's files
// and the entrypoint; the printed digest is the index's.
func TestLayoutPushedToARegistry(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		if err := os.WriteFile(filepath.Join(dir, "drbd-"+arch), []byte("binary for "+arch), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "layout")
	sp := spec{files: []string{filepath.Join(dir, "drbd-{arch}") + "=/usr/local/bin/drbd"}, entry: []string{"/usr/local/bin/drbd"}, cmd: []string{"run"}}
	if err := writeLayout("kube-lustre/drbd:0.1.0", out, []string{"amd64", "arm64"}, sp); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	pushed, err := push(out, host+"/kl/drbd:0.1.0", true)
	if err != nil {
		t.Fatal(err)
	}
	ref, digest, ok := strings.Cut(pushed, "@")
	if !ok || ref != host+"/kl/drbd:0.1.0" || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("push printed %q, want REF@sha256:...", pushed)
	}
	byDigest, err := name.NewDigest(host+"/kl/drbd@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(byDigest)
	if err != nil {
		t.Fatal(err)
	}
	images := platforms(t, idx)
	if len(images) != 2 {
		t.Fatalf("index has %d platforms, want 2", len(images))
	}
	for arch, img := range images {
		cf, err := img.ConfigFile()
		if err != nil || cf.OS != "linux" || strings.Join(cf.Config.Entrypoint, " ") != "/usr/local/bin/drbd" {
			t.Fatalf("%s config: %+v %v", arch, cf, err)
		}
		if got := string(layerFiles(t, img)["usr/local/bin/drbd"]); got != "binary for "+arch {
			t.Errorf("%s image holds %q", arch, got)
		}
	}
	// The same inputs give the same digest: a release can be rebuilt and checked.
	if err := writeLayout("kube-lustre/drbd:0.1.0", out, []string{"amd64", "arm64"}, sp); err != nil {
		t.Fatal(err)
	}
	if again, err := push(out, host+"/kl/drbd:0.1.0", true); err != nil || again != pushed {
		t.Errorf("rebuilt and pushed again: %q %v, want %q", again, err, pushed)
	}
}

// platforms returns an index's images by architecture, each checked to
// say in its config the architecture the index gives it.
func platforms(t *testing.T, idx v1.ImageIndex) map[string]v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Image{}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil || cf.Architecture != d.Platform.Architecture {
			t.Fatalf("%s: config %+v %v", d.Platform.Architecture, cf, err)
		}
		out[d.Platform.Architecture] = img
	}
	return out
}

// layerFiles reads the regular files of a single-layer image.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	ls, err := img.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatalf("layers: %d %v", len(ls), err)
	}
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = b
		}
	}
}
