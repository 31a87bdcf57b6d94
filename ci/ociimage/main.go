// Command ociimage packs static binaries into single-layer images without a
// Docker engine, and pushes them. Each file is FROM=TO (TO absolute in the
// image); an optional -symlink NAME=TARGET adds a link. What each
// kube-lustre image holds is ci/imagespec.sh's to say: the binary,
// busybox-static's nsenter where it touches the host, nothing else.
//
// For the test cluster, one architecture as a `docker save` tarball (which
// `ctr images import` reads):
//
//	ociimage -tag kube-lustre.local/installer:dev -o installer.tar \
//	  -file bin/installer=/usr/local/bin/installer -file /bin/busybox=/usr/bin/nsenter \
//	  -entrypoint /usr/local/bin/installer -cmd verify
//
// For a release, one image index over several architectures as an OCI
// image layout directory; {arch} in a FROM path is replaced per
// architecture:
//
//	ociimage -tag kube-lustre/installer:0.1.0 -layout dist/images/installer -arch amd64,arm64 \
//	  -file dist/bin/linux-{arch}/installer=/usr/local/bin/installer ...
//
// And a layout pushed to a registry, printing REF@DIGEST:
//
//	ociimage push [-plain-http] dist/images/installer registry.example.com/kube-lustre/installer:0.1.0
//
// And a throwaway registry for tests (go-containerregistry's, in memory,
// plain HTTP), printing the address it listens on, until killed:
//
//	ociimage serve 10.77.0.1:0
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

const usage = `usage: ociimage -tag REF (-o OUT.tar | -layout DIR [-arch A,B]) -file FROM=TO... [-symlink N=T] [-entrypoint W]... [-cmd W]... [-user U]
       ociimage push [-plain-http] LAYOUT-DIR REF
       ociimage serve HOST:PORT`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "push" {
		fs := flag.NewFlagSet("push", flag.ExitOnError)
		plain := fs.Bool("plain-http", false, "talk HTTP to the registry (a test registry)")
		_ = fs.Parse(os.Args[2:])
		if fs.NArg() != 2 {
			fail(2, usage)
		}
		ref, err := push(fs.Arg(0), fs.Arg(1), *plain)
		if err != nil {
			fail(1, "ociimage: "+err.Error())
		}
		fmt.Println(ref)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if len(os.Args) != 3 {
			fail(2, usage)
		}
		if err := serve(os.Args[2]); err != nil {
			fail(1, "ociimage: "+err.Error())
		}
		return
	}
	var files, links, entry, cmd list
	tag := flag.String("tag", "", "image reference, e.g. kube-lustre.local/installer:dev")
	out := flag.String("o", "", "output tarball (one architecture, docker save layout)")
	dir := flag.String("layout", "", "output OCI image layout directory (an index over -arch)")
	arches := flag.String("arch", "amd64", "architectures, comma-separated; {arch} in a FROM path is replaced by each")
	user := flag.String("user", "", "image user (uid:gid)")
	flag.Var(&files, "file", "FROM=TO: host file FROM at absolute path TO (repeatable)")
	flag.Var(&links, "symlink", "NAME=TARGET: a symlink in the image (repeatable)")
	flag.Var(&entry, "entrypoint", "entrypoint word (repeatable)")
	flag.Var(&cmd, "cmd", "cmd word (repeatable)")
	flag.Parse()
	if *tag == "" || (*out == "") == (*dir == "") || len(files) == 0 {
		fail(2, usage)
	}
	spec := spec{user: *user, files: files, links: links, entry: entry, cmd: cmd}
	var err error
	if *out != "" {
		err = writeTarball(*tag, *out, spec)
	} else {
		err = writeLayout(*tag, *dir, strings.Split(*arches, ","), spec)
	}
	if err != nil {
		fail(1, "ociimage: "+err.Error())
	}
}

// serve runs an in-memory registry on addr (port 0: any free one) and
// prints the address it took, the line a test waits for.
func serve(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().String())
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: time.Minute}
	return srv.Serve(l)
}

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(code)
}

// epoch keeps the layer reproducible: same inputs, same digest.
var epoch = time.Unix(0, 0).UTC()

func layerTar(files, links []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var addDirs func(string) error
	addDirs = func(d string) error {
		if d == "/" || d == "." || dirs[d] {
			return nil
		}
		if err := addDirs(path.Dir(d)); err != nil {
			return err
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch})
	}
	sort.Strings(files)
	for _, f := range files {
		from, to, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(to) {
			return nil, fmt.Errorf("-file %q: want FROM=/absolute/TO", f)
		}
		b, err := os.ReadFile(from)
		if err != nil {
			return nil, err
		}
		if err := addDirs(path.Dir(to)); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(to, "/"), Mode: 0o755, Size: int64(len(b)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		n, t, ok := strings.Cut(l, "=")
		if !ok || !path.IsAbs(n) {
			return nil, fmt.Errorf("-symlink %q: want /NAME=TARGET", l)
		}
		if err := addDirs(path.Dir(n)); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(n, "/"), Linkname: t, Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	// Writable scratch places programs expect.
	for _, d := range []string{"/tmp", "/run", "/etc"} {
		if err := addDirs(d); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// spec is what goes into an image, whatever its architecture.
type spec struct {
	user                     string
	files, links, entry, cmd []string
}

// image builds the image for one architecture: {arch} in the FROM paths
// becomes arch.
func (sp spec) image(arch string) (v1.Image, error) {
	files := make([]string, len(sp.files))
	for i, f := range sp.files {
		files[i] = strings.ReplaceAll(f, "{arch}", arch)
	}
	b, err := layerTar(files, sp.links)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = arch, "linux", v1.Time{Time: epoch}
	cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User = sp.entry, sp.cmd, sp.user
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	return mutate.ConfigFile(img, cf)
}

func writeTarball(tag, out string, sp spec) error {
	ref, err := name.ParseReference(tag)
	if err != nil {
		return err
	}
	img, err := sp.image("amd64")
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// writeLayout writes an OCI image layout holding one index over arches,
// named tag (org.opencontainers.image.ref.name). The directory is written
// aside and renamed, so a failed run leaves no half layout.
func writeLayout(tag, dir string, arches []string, sp spec) error {
	if _, err := name.ParseReference(tag); err != nil {
		return err
	}
	var adds []mutate.IndexAddendum
	for _, arch := range arches {
		img, err := sp.image(arch)
		if err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		if size, err := compressedSize(img); err == nil {
			fmt.Printf("%s linux/%s: %.1f MB compressed\n", tag, arch, float64(size)/1e6)
		}
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{imagespec.AnnotationRefName: tag})); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// compressedSize is what a node pulls for img: its manifest, config and
// layers as stored in a registry.
func compressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// push sends the image index of an OCI layout to ref and returns
// ref@digest: the digest the chart's image.digest pins.
func push(dir, to string, plainHTTP bool) (string, error) {
	var opts []name.Option
	if plainHTTP {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(to, opts...)
	if err != nil {
		return "", err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return "", err
	}
	top, err := p.ImageIndex()
	if err != nil {
		return "", err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return "", err
	}
	if len(m.Manifests) != 1 {
		return "", fmt.Errorf("%s holds %d entries, want the one image index ociimage -layout writes", dir, len(m.Manifests))
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", err
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return ref.Context().Name() + ":" + ref.Identifier() + "@" + d.String(), nil
}
