#!/usr/bin/env bash
# make dist: the helm plugin's release archives, one per OS/architecture of
# PLATFORMS (default linux/amd64 linux/arm64 darwin/amd64 darwin/arm64), as
# $DIST/helm-lustre-VERSION-OS-ARCH.tgz (default dist/), each holding
# plugin.yaml, install.sh and the stripped bin/helm-lustre at its root (the
# layout `helm plugin install URL` takes on Helm 3 and Helm 4), and
# $DIST/helm-lustre-VERSION.sha256 with their checksums. Windows is left
# out: the plugin's install hook is a POSIX shell script.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${DIST:-dist}
read -r -a platforms <<<"${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"
version=$(sed -n 's/^version: *//p' plugin/plugin.yaml)
grep -q "^const version = \"$version\"$" plugin/main.go || { echo "plugin/plugin.yaml says $version, plugin/main.go does not" >&2; exit 1; }
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
sums=()
for p in "${platforms[@]}"; do
	os=${p%/*} arch=${p#*/}
	stage=$(mktemp -d)
	mkdir -p "$stage/bin"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$stage/bin/helm-lustre" ./plugin
	cp plugin/plugin.yaml plugin/install.sh "$stage/"
	archive=helm-lustre-$version-$os-$arch.tgz
	# Named entries, no "./" (Helm 3 refuses an archive holding it), and
	# bin/ as an entry of its own (Helm 3 creates no directory a file needs).
	tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -czf "$dist/$archive" plugin.yaml install.sh bin
	size=$(stat -c %s "$stage/bin/helm-lustre")
	awk -v a="$archive" -v b="$size" -v z="$(stat -c %s "$dist/$archive")" \
		'BEGIN { printf "%-40s binary %5.1f MB, archive %5.1f MB\n", a, b / 1048576, z / 1048576 }'
	# A plugin is downloaded by every admin's helm: 20 MB at most (issue
	# 17; ci/check-deps.sh keeps out what grew it past that before).
	[ "$size" -le $((20 * 1000 * 1000)) ] || { echo "$archive: the binary is $size bytes, over 20 MB" >&2; exit 1; }
	rm -rf "$stage"
	sums+=("$archive")
done
(cd "$dist" && sha256sum "${sums[@]}" >"helm-lustre-$version.sha256")
