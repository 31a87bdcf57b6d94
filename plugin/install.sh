#!/bin/sh
# The plugin's install and update hook (plugin.yaml). Two ways in:
#  - a release archive (make dist: helm plugin install URL): bin/helm-lustre
#    is already there, built for one OS and architecture; it must run here;
#  - a checkout (helm plugin install ./plugin): built from source with Go.
# Helm leaves a plugin registered when its hook fails (Helm 3 and Helm 4
# alike), so a failure here removes its own registration first: the link
# Helm made to a checkout (never the checkout itself), or Helm's copy of an
# archive. Helm 4 gives a hook only HELM_PLUGIN_DIR and HELM_PLUGIN_NAME.
set -eu
# -P: helm links a local plugin directory into its plugins; build from the
# real path so go finds the module's go.mod above it.
dir=$(cd -P "$(dirname "$0")" && pwd)
cd "$dir"

fail() {
	echo "helm-lustre: $*" >&2
	reg=${HELM_PLUGIN_DIR:-}
	if [ -n "$reg" ] && [ -L "$reg" ]; then
		rm -f "$reg" && echo "helm-lustre: removed the registration $reg (the checkout stays)" >&2
	elif [ -n "$reg" ] && [ -d "$reg" ] && [ "$(cd -P "$reg" && pwd)" = "$dir" ] && ! in_checkout; then
		rm -rf "$reg" && echo "helm-lustre: removed the installed copy $reg" >&2
	fi
	exit 1
}

in_checkout() {
	[ -f ../go.mod ] && grep -q '^module github.com/kube-lustre/kube-lustre$' ../go.mod
}

if in_checkout; then
	command -v go >/dev/null 2>&1 || fail "building from a checkout needs Go 1.26 (or install a release archive: see the README)"
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/helm-lustre . || fail "go build failed (above)"
elif [ ! -x bin/helm-lustre ]; then
	fail "no bin/helm-lustre here and no checkout to build it from"
fi
bin/helm-lustre version >/dev/null 2>&1 || fail "bin/helm-lustre does not run here ($(uname -s)/$(uname -m)): install the archive built for this OS and architecture"
echo "helm-lustre installed: $("$dir/bin/helm-lustre" version)"
