#!/usr/bin/env bash
# Says whether CI must run make e2e-vm: exit 0 ("yes ...") when the code the
# VM suite proves on real kernels differs from the code it last passed on,
# exit 1 ("no ...") when it is exactly that code.
#
# The covered code is internal/drbd, internal/zfs, internal/host (the steps
# and the runner), internal/lustre/server.go (the start path the suite
# drives), internal/vmagent, ci/vm and test/vm (the suite, its agent and
# the guest image recipe). ci/vm/verified records the hash of their
# committed content when make e2e-vm passed on it (ci/vm/e2e.sh writes it
# after a pass on a tree whose covered files are committed; the developer
# commits it). The same content was proven already, on any machine; any
# change to it, in any number of commits, runs the suite again. Not
# internal/hostsim: the suite does not run it.
set -euo pipefail
cd "$(dirname "$0")/../.."
paths=(internal/drbd internal/zfs internal/host internal/vmagent internal/lustre/server.go ci/vm test/vm)
hash=$(git ls-tree -r HEAD -- "${paths[@]}" | grep -v $'\tci/vm/verified$' | sha256sum | cut -c1-64)
if [ "${1:-}" = --hash ]; then
	echo "$hash"
	exit 0
fi
if ! git diff --quiet HEAD -- "${paths[@]}"; then
	echo "yes: uncommitted changes to what the VM suite covers"
	exit 0
fi
verified=$(sed -n 's/^content //p' ci/vm/verified 2>/dev/null || true)
if [ "$verified" = "$hash" ]; then
	echo "no: the VM suite passed on exactly this code ($(sed -n 's/^passed //p' ci/vm/verified))"
	exit 1
fi
echo "yes: the code the VM suite covers changed since it last passed"
exit 0
