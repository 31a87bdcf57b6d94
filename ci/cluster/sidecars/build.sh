#!/usr/bin/env bash
# Builds the CSI sidecars of sidecars.txt (all, or the NAMEs given, e.g.
# csi-provisioner) from the Go module proxy at their pinned versions, each
# from its module NAME/ (gen-gomod.sh), into
# $KUBE_LUSTRE_CACHE/csi-sidecars/NAME-VERSION/bin/NAME, and prints one line
# a sidecar:
#
#   NAME IMAGE:VERSION BINARY KEY
#
# Static (CGO_ENABLED=0), -trimpath, -X main.version=VERSION as upstream's
# release-tools set it, stripped (-s -w). A built binary is reused while its
# recipe's hash (KEY: name, module, version, ldflags, flags, the Go version,
# NAME/go.mod, go.sum, tools.go) is the stamp of its directory; concurrent
# callers wait on a lock. -mod=readonly: go.mod and go.sum are the pin, and a
# second build needs only the module cache (GOPROXY=off works).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../built.sh"
cache=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}/csi-sidecars
goflags="-mod=readonly -buildvcs=false"
want=" $* "
gov=$(go env GOVERSION)
n=0
while read -r _ image module version command; do
	name=${command##*/}
	[ $# = 0 ] || [[ $want == *" $name "* ]] || continue
	n=$((n + 1))
	m=$here/$name
	grep -q "^require $module $version\$" "$m/go.mod" 2>/dev/null ||
		{ echo "$name/go.mod does not require $module $version (sidecars.txt): run ci/cluster/sidecars/gen-gomod.sh $name" >&2; exit 1; }
	ld="-s -w -X main.version=$version"
	k=$( {
		echo "$name $module $version $command $ld $goflags CGO_ENABLED=0 -trimpath $gov"
		cat "$m/go.mod" "$m/go.sum" "$m/tools.go"
	} | sha256sum | cut -c1-16)
	dir=$cache/$name-$version
	out=$dir/bin
	mkdir -p "$dir"
	exec 9>"$dir/.lock"
	if [ "$(cat "$out/.stamp" 2>/dev/null)" != "$k" ] || [ ! -x "$out/$name" ]; then
		flock 9 # another build may be running: wait for it, then look again
		if [ "$(cat "$out/.stamp" 2>/dev/null)" != "$k" ] || [ ! -x "$out/$name" ]; then
			must_be_prebuilt "$name $version"
			start=$(date +%s)
			echo "building $name $version into $out" >&2
			tmp=$(mktemp -d "$dir/.build.XXXXXX")
			trap 'rm -rf "$tmp"' EXIT
			(cd "$m" && CGO_ENABLED=0 GOWORK=off GOFLAGS=$goflags nice -n 10 \
				go build -trimpath -ldflags "$ld" -o "$tmp/$name" "$module/$command" </dev/null)
			echo "$k" >"$tmp/.stamp"
			rm -rf "$out"
			mv "$tmp" "$out"
			trap - EXIT
			echo "built $name in $(($(date +%s) - start)) s: $(du -h "$out/$name" | cut -f1)" >&2
			stage_did built
		fi
	fi
	stage_did cached
	exec 9>&-
	echo "$name $image:$version $out/$name $k"
done < <(grep -v '^[[:space:]]*#' "$here/sidecars.txt" | grep .)
[ "$n" -gt 0 ] || { echo "no sidecar of sidecars.txt matched: $*" >&2; exit 1; }
