#!/usr/bin/env bash
# make e2e-vm: kube-lustre's real DRBD, ZFS and host steps on real kernels in
# two Debian 12 guests under qemu (TCG: this machine's /dev/kvm cannot boot
# a stock kernel). Installs qemu and debootstrap when missing, builds the
# guest image once (ci/vm/image.sh, cached outside the repo), then runs the
# Go suite test/vm (build tag e2evm). KUBE_LUSTRE_VM_KEEP=1 keeps the guests'
# consoles and command transcripts.
#
# KUBE_LUSTRE_VM_LUSTRE=DIR adds the Lustre cases, on the Lustre in DIR
# (.deb packages or an installed tree for the guest kernel; the project
# does not build Lustre): ci/vm/image-lustre.sh first installs it into a
# variant of the guest image, cached by DIR's content (docs/vm-lustre.md).
# Without it they do not run, and the summary at the end says so in one
# line (also in make test's stage table): that is not a pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/sbin:/sbin
GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go
ci/vm/deps.sh
start=$(date +%s)
image=$(ci/vm/image.sh)
echo "guest image: $image (ready after $(($(date +%s) - start)) s)"
timeout=60m
if [ -n "${KUBE_LUSTRE_VM_LUSTRE:-}" ]; then
	start=$(date +%s)
	lustre_image=$(ci/vm/image-lustre.sh "$image" "$KUBE_LUSTRE_VM_LUSTRE")
	echo "guest image with Lustre: $lustre_image (ready after $(($(date +%s) - start)) s)"
	# Three guests more, one of them a client, under TCG on the same cores.
	timeout=120m
fi
out=$(mktemp "${TMPDIR:-/tmp}/kl-e2e-vm.XXXXXX")
trap 'rm -f "$out"' EXIT
rc=0
"$GO" test -tags e2evm -count=1 -v -timeout "$timeout" ./test/vm "$@" 2>&1 | tee "$out" || rc=$?
echo
ci/vm/summary.sh "$out"
[ "$rc" = 0 ] || exit "$rc"
# Passed: record the covered code's content hash for ci/vm/should-run.sh,
# but only when that code is committed (a run on uncommitted changes proves
# nothing about a commit), and whether the Lustre cases ran. Commit
# ci/vm/verified with the change.
lustre="did not run"
if grep -q '^--- PASS: TestVMLustre ' "$out"; then
	lustre="passed on $(sed -n 's/^key=//p' "${lustre_image:-}/manifest") ($(sed -n 's/^lustre_version=//p' "${lustre_image:-}/manifest"))"
fi
mapfile -t covered < <(ci/vm/should-run.sh --paths)
if git diff --quiet HEAD -- "${covered[@]}"; then
	printf 'content %s\npassed %s on %s\nlustre %s\n' "$(ci/vm/should-run.sh --hash)" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(git rev-parse --short HEAD)" "$lustre" >ci/vm/verified
	echo "recorded in ci/vm/verified: commit it with the change"
fi
