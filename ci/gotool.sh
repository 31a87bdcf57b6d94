# Sourced by ci/helm.sh and ci/golangci-lint.sh: builds a pinned Go program
# from the Go module proxy into the cache once, and prints its path.
# shellcheck shell=bash
. "$(dirname "${BASH_SOURCE[0]}")/built.sh"

# gotool NAME VERSION PACKAGE@VERSION [LDFLAGS]: prints the path of
# $cache/bin/NAME-VERSION, building PACKAGE there first if it is missing.
# One build at a time per NAME (flock): parallel stages share the cache.
gotool() {
	local name=$1 version=$2 pkg=$3 ld=${4:-"-s -w"}
	local cache=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}
	local out=$cache/bin/$name-$version
	mkdir -p "$cache/bin"
	exec 9>"$cache/bin/.$name.lock"
	flock 9
	if [ ! -x "$out" ]; then
		must_be_prebuilt "$name $version"
		local start tmp
		start=$(date +%s)
		tmp=$(mktemp -d "$cache/bin/.$name-build.XXXXXX")
		echo "building $name $version into $out" >&2
		if ! (cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags "$ld" "$pkg"); then
			rm -rf "$tmp"
			return 1
		fi
		mv "$tmp/$(basename "${pkg%@*}")" "$out"
		rm -rf "$tmp"
		echo "built $name $version in $(($(date +%s) - start)) s" >&2
		stage_did built
	else
		stage_did cached
	fi
	exec 9>&-
	echo "$out"
}
