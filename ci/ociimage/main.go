// Command ociimage packs static binaries into a single-layer image tarball
// (the `docker save` layout, which `ctr images import` reads) without a
// Docker engine or a registry. Each file is FROM=TO (TO absolute in the
// image); an optional -symlink NAME=TARGET adds a link. The image matches what
// images/Dockerfile builds: the binary, busybox-static's nsenter, nothing else.
//
//	ociimage -tag kube-lustre.local/installer:dev -o installer.tar \
//	  -file bin/installer=/usr/local/bin/installer -file /bin/busybox=/usr/bin/nsenter \
//	  -entrypoint /usr/local/bin/installer -cmd verify
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var files, links, entry, cmd list
	tag := flag.String("tag", "", "image reference, e.g. kube-lustre.local/installer:dev")
	out := flag.String("o", "", "output tarball")
	user := flag.String("user", "", "image user (uid:gid)")
	flag.Var(&files, "file", "FROM=TO: host file FROM at absolute path TO (repeatable)")
	flag.Var(&links, "symlink", "NAME=TARGET: a symlink in the image (repeatable)")
	flag.Var(&entry, "entrypoint", "entrypoint word (repeatable)")
	flag.Var(&cmd, "cmd", "cmd word (repeatable)")
	flag.Parse()
	if *tag == "" || *out == "" || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: ociimage -tag REF -o OUT.tar -file FROM=TO... [-symlink N=T] [-entrypoint W]... [-cmd W]... [-user U]")
		os.Exit(2)
	}
	if err := run(*tag, *out, *user, files, links, entry, cmd); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
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

func run(tag, out, user string, files, links, entry, cmd []string) error {
	ref, err := name.ParseReference(tag)
	if err != nil {
		return err
	}
	b, err := layerTar(files, links)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: epoch}
	cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User = entry, cmd, user
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
