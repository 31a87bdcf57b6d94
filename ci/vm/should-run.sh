#!/usr/bin/env bash
# Says whether CI must run make e2e-vm: exit 0 ("yes ...") when the code the
# VM suite proves on real kernels differs from the code it last passed on,
# exit 1 ("no ...") when it is exactly that code.
#
# The covered code is derived, not listed: every package of this module
# that the suite really links (go list -deps of test/vm with its tag and
# tests, and of the binaries it builds into the guests: ci/vm/agent and
# images/drbd), plus ci/vm (the image recipe, the agent, these scripts) and
# go.mod/go.sum (the versions of everything else it links). ci/vm/verified
# records the hash of their committed content when make e2e-vm passed on it
# (ci/vm/e2e.sh writes it after a pass on a tree whose covered files are
# committed; the developer commits it). The same content was proven
# already, on any machine; any change to it, in any number of commits, runs
# the suite again.
#
#   ci/vm/should-run.sh           # yes/no, as above
#   ci/vm/should-run.sh --paths   # the covered paths, one a line
#   ci/vm/should-run.sh --hash    # the hash of their committed content
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go
root=$PWD
# A package's directory stands for its files (not its subdirectories: those
# are packages of their own, listed when linked).
pkgs=$("$GO" list -deps -test -tags e2evm -f '{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}' \
	./test/vm ./ci/vm/agent ./images/drbd | sort -u | sed "s|^$root/||")
[ -n "$pkgs" ] || { echo "go list found no package of the VM suite" >&2; exit 2; }
files=()
while read -r d; do
	while IFS= read -r -d '' f; do files+=("$f"); done < <(git ls-tree -z --name-only HEAD -- "$d/" | while IFS= read -r -d '' f; do
		[ "$(git cat-file -t "HEAD:$f")" = blob ] && printf '%s\0' "$f"
	done)
done <<<"$pkgs"
paths=(ci/vm go.mod go.sum "${files[@]}")
case ${1:-} in
--paths)
	printf '%s\n' "${paths[@]}"
	exit 0
	;;
--hash)
	git ls-tree -r HEAD -- "${paths[@]}" | grep -v $'\tci/vm/verified$' | sha256sum | cut -c1-64
	exit 0
	;;
esac
hash=$(git ls-tree -r HEAD -- "${paths[@]}" | grep -v $'\tci/vm/verified$' | sha256sum | cut -c1-64)
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
