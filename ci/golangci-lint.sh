#!/usr/bin/env bash
# Prints the path of the pinned golangci-lint (make lint, part of make
# check), building it from the Go module proxy into the cache the first
# time. Its rules are .golangci.yml.
set -euo pipefail
. "$(dirname "$0")/gotool.sh"
VERSION=v2.15.0
gotool golangci-lint "$VERSION" "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$VERSION"
