#!/usr/bin/env bash
# Fails when a committed file is an executable or an archive: build output
# (a Go binary is 15-30 MB) belongs in bin/ or the cache, never in history.
# Judged by content (magic bytes), not by name, so a binary named like a
# directory (./csi) is caught too.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	magic=$(head -c 8 -- "$f" | od -An -tx1 | tr -d ' \n')
	kind=
	case $magic in
	7f454c46*) kind="ELF executable" ;;
	cafebabe* | feedfac* | cefaedfe* | cffaedfe*) kind="Mach-O executable" ;;
	4d5a*) kind="PE executable" ;;
	504b0304*) kind="zip archive" ;;
	1f8b*) kind="gzip archive" ;;
	fd377a585a00*) kind="xz archive" ;;
	28b52ffd*) kind="zstd archive" ;;
	425a68*) kind="bzip2 archive" ;;
	377abcaf271c*) kind="7z archive" ;;
	esac
	if [ -z "$kind" ] && [ "$(head -c 262 -- "$f" | tail -c 5)" = ustar ]; then kind="tar archive"; fi
	if [ -n "$kind" ]; then
		echo "$f: committed $kind; remove it (git rm --cached) and ignore it" >&2
		status=1
	fi
done < <(git ls-files -z)
exit $status
