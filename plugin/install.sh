#!/bin/sh
# Builds bin/helm-lustre from this checkout. A binary placed beforehand (for
# example by `make plugin` or a release archive) is used when Go is missing.
set -eu
# -P: helm links a local plugin directory into HELM_PLUGINS; build from the
# real path so go finds the module's go.mod above it.
dir=$(cd -P "$(dirname "$0")" && pwd)
cd "$dir"
if command -v go >/dev/null 2>&1; then
	CGO_ENABLED=0 go build -trimpath -o bin/helm-lustre .
elif [ ! -x bin/helm-lustre ]; then
	echo "helm-lustre: Go is not installed and no prebuilt bin/helm-lustre is present" >&2
	exit 1
fi
echo "helm-lustre installed: $dir/bin/helm-lustre"
