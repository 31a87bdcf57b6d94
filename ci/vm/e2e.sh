#!/usr/bin/env bash
# make e2e-vm: kube-lustre's real DRBD, ZFS and host steps on real kernels in
# two Debian 12 guests under qemu (TCG: this machine's /dev/kvm cannot boot
# a stock kernel). Installs qemu and debootstrap when missing, builds the
# guest image once (ci/vm/image.sh, cached outside the repo), then runs the
# Go suite test/vm (build tag e2evm). KUBE_LUSTRE_VM_KEEP=1 keeps the guests'
# consoles and command transcripts.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go
ci/vm/deps.sh
start=$(date +%s)
image=$(ci/vm/image.sh)
echo "guest image: $image (ready after $(($(date +%s) - start)) s)"
"$GO" test -tags e2evm -count=1 -v -timeout 60m ./test/vm "$@"
# Passed: record the covered code's content hash for ci/vm/should-run.sh,
# but only when that code is committed (a run on uncommitted changes proves
# nothing about a commit). Commit ci/vm/verified with the change.
mapfile -t covered < <(ci/vm/should-run.sh --paths)
if git diff --quiet HEAD -- "${covered[@]}"; then
	printf 'content %s\npassed %s on %s\n' "$(ci/vm/should-run.sh --hash)" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(git rev-parse --short HEAD)" >ci/vm/verified
	echo "recorded in ci/vm/verified: commit it with the change"
fi
