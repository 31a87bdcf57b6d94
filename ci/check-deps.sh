#!/usr/bin/env bash
# Keeps the simulated hosts out of production: no entrypoint binary built
# without the hostsim tag links internal/hostsim or internal/simcluster
# (test clusters build theirs with -tags hostsim: ci/cluster/images.sh).
# Keeps the entrypoint binaries small: none may link client-go's full
# clientset (every API group: +12 MB), Helm (+15 MB; the binaries read
# values Helm already rendered) or text/template (its reflection keeps every
# method of every type alive: +18 MB). gRPC (images/csi) pulls
# html/template through golang.org/x/net/trace unless built with the
# grpcnotrace tag, which every image build passes (ci/binaries.sh, which
# make images and the test cluster's images use).
set -euo pipefail
cd "$(dirname "$0")/.."
bad='^(k8s.io/client-go/kubernetes|helm.sh/helm/v[34]/.*|text/template|html/template|github.com/kube-lustre/kube-lustre/internal/(hostsim|simcluster))$'
status=0
for d in images/*/; do
	if hits=$(go list -tags grpcnotrace -deps "./$d" | grep -E "$bad"); then
		echo "$d links packages that bloat the image or do not belong in production:" >&2
		echo "$hits" | sed 's/^/  /' >&2
		status=1
	fi
done
# The helm plugin stays under 20 MB stripped (issue 17): of Helm it links
# only strvals (--set; helmvalues layers the values itself), and of
# client-go no typed client, whose scheme registers every API group (status
# reads through internal/kube, as the images do).
pbad='^(k8s.io/client-go/kubernetes(/.*)?|helm.sh/helm/v[34]/.*)$'
if hits=$(go list -deps ./plugin | grep -E "$pbad" | grep -vx 'helm.sh/helm/v4/pkg/strvals'); then
	echo "plugin/ links packages that take the plugin binary past 20 MB:" >&2
	echo "$hits" | sed 's/^/  /' >&2
	status=1
fi
exit $status
