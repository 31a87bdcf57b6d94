# kube-lustre. `make demo` runs the system on an embedded example; `make test`
# is what CI runs (.ci/run). Built tools are cached under $(CACHE), outside
# the repo, and reused across runs.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(HOME)/.cache/kube-lustre
export KUBE_LUSTRE_CACHE := $(CACHE)
FUZZTIME ?= 20s
PKGS := ./...
# ci/test.sh has built everything before the e2e stages: PREBUILD= skips it there
PREBUILD ?= prebuild

.PHONY: demo-sim demo-down binaries deps-check all test check fmt-check vet schema schema-check chart-docs chart-docs-check chart-golden unit fuzz bench helm plugin demo clean

all: plugin

## test: everything CI checks (L0 unit + table tests and hostsim bring-ups, L1 chart render, the plugin through the real helm CLI, fuzzing, L2/L3 smoke on a real local cluster) as timed stages, every build before any test with a timeout (ci/test.sh; the stage table at the end)
test:
	MAKE="$(MAKE)" ci/test.sh

## prebuild: everything the e2e suites need built (helm, Kubernetes, CSI sidecars, images, test binaries), each timed
.PHONY: prebuild
prebuild: helm
	ci/stage.sh kubernetes ci/cluster/build.sh >/dev/null
	ci/stage.sh sidecars ci/cluster/sidecars/build.sh >/dev/null
	ci/stage.sh images ci/prebuild.sh images
	ci/stage.sh test-binaries ci/prebuild.sh test-binaries

## e2e-vm-if-changed: make e2e-vm when the code it proves on real kernels changed since it last passed (ci/vm/should-run.sh, ci/vm/verified)
.PHONY: e2e-vm-if-changed
e2e-vm-if-changed:
	@if ci/vm/should-run.sh; then $(MAKE) e2e-vm; fi

check: schema-check chart-docs-check fmt-check vet lint deps-check sidecars-check committed-check

## lint: golangci-lint (pinned, built from the Go module proxy once: ci/golangci-lint.sh) with .golangci.yml's rules
.PHONY: lint
lint:
	$$(ci/golangci-lint.sh) run ./...

## committed-check: no executable or archive is committed (build output stays out of history)
.PHONY: committed-check
committed-check:
	ci/check-committed.sh

## sidecars-check: the chart's default CSI sidecar images are the versions ci/cluster builds from the Go module proxy
.PHONY: sidecars-check
sidecars-check:
	@$(GO) run ./ci/cluster/sidecars/chartcheck

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## deps-check: the image binaries link no clientset, Helm or text/template
deps-check:
	ci/check-deps.sh

## schema: copy the single source of truth into the chart (Helm reads it there)
schema:
	cp schemas/values.schema.json charts/kube-lustre/values.schema.json

schema-check:
	@cmp -s schemas/values.schema.json charts/kube-lustre/values.schema.json || \
		{ echo "charts/kube-lustre/values.schema.json is stale: run make schema"; exit 1; }

## chart-docs: regenerate the values table of charts/kube-lustre/README.md from the schema
chart-docs:
	$(GO) run ./ci/chartdoc

chart-docs-check:
	@$(GO) run ./ci/chartdoc -check

## chart-golden: rewrite the chart's golden renderings (charts/kube-lustre/tests/testdata) after a template change
chart-golden: helm
	UPDATE_GOLDEN=1 HELM_BIN=$$(ci/helm.sh) $(GO) test -count=1 -run TestGolden ./charts/...

## helm: build the pinned helm CLI into the cache (once)
helm:
	@ci/helm.sh >/dev/null

unit: helm
	HELM_BIN=$$(ci/helm.sh) $(GO) test -count=1 $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCheckDocument -fuzztime $(FUZZTIME) ./internal/topology
	$(GO) test -run '^$$' -fuzz FuzzLoadIsHelms -fuzztime $(FUZZTIME) ./internal/topology/helmvalues
	$(GO) test -run '^$$' -fuzz FuzzWithDefaultsIsHelms -fuzztime $(FUZZTIME) ./internal/topology/helmvalues

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/topology

## plugin: build the helm plugin binary in place (helm plugin install ./plugin does this too)
plugin:
	CGO_ENABLED=0 $(GO) build -trimpath -o plugin/bin/helm-lustre ./plugin

## images: the seven images of a release for linux/amd64 and arm64 (ARCHES), as OCI layouts in dist/images, without a Docker engine (ci/images.sh)
.PHONY: images push package push-chart dist
images:
	ci/images.sh

## push: push them to REGISTRY/kube-lustre/NAME (REGISTRY=registry.example.com/hpc; PLAIN_HTTP=1 for a test registry), print each digest, write dist/image-values.yaml
push:
	ci/push.sh

## package: the chart archive into dist/ (the pinned helm CLI's helm package)
package: helm
	$$(ci/helm.sh) package charts/kube-lustre -d $${DIST:-dist}

## push-chart: push the chart archive to oci://REGISTRY/charts
push-chart: helm
	ci/push-chart.sh

## release-test: make images push package push-chart dist into an in-process registry, then the chart from there pins every pushed image, and the plugin installs from its archive on Helm 3 and Helm 4 (ci/ociimage, tag release)
.PHONY: release-test
release-test: helm
	cd ci/ociimage && HELM_BIN=$$(../helm.sh) HELM4_BIN=$$(../helm.sh 4) $(GO) test -tags release -count=1 -v -timeout 30m .

## dist: the helm plugin's release archives per OS/architecture, with checksums, into dist/ (ci/dist.sh)
dist:
	ci/dist.sh

## binaries: the static entrypoint binaries into bin/, with their sizes
binaries:
	ci/binaries.sh

## demo: build what is missing, start the local cluster, install examples/ha.yaml on it (simulated hosts)
demo: helm
	ci/demo.sh

## demo-sim: the same filesystem on simulated hosts only, no cluster (seconds, nothing left running)
demo-sim:
	go run ./ci/simdemo examples/ha.yaml

## demo-down: stop the demo cluster and leave nothing running
demo-down:
	ci/cluster/down.sh
	rm -rf $${STATE:-/tmp/kube-lustre-cluster}/hostsim/demo

clean:
	rm -rf plugin/bin dist

## cluster-up: start the local Kubernetes cluster (ci/cluster: real control plane and kubelets; NODES="s1 s2 c1" or a count); KUBECONFIG=/tmp/kube-lustre-cluster/admin.kubeconfig
.PHONY: cluster-up cluster-down e2e-smoke
NODES ?= 3
cluster-up:
	NODES="$(NODES)" ci/cluster/up.sh

## cluster-down: stop it and leave nothing running
cluster-down:
	ci/cluster/down.sh

## e2e-smoke: the local cluster smoke test (starts and stops a cluster unless one is up)
e2e-smoke: $(PREBUILD)
	$(GO) test -tags e2e -count=1 -v -timeout 20m ./test/e2e

## e2e-chart: the chart end-to-end suite on the local cluster (helm install/upgrade/test/uninstall of examples/minimal.yaml, installed from a registry the release targets pushed to, and ha.yaml on simulated hosts, node crash failover and the fault matrix); starts and stops a 10-node cluster unless one is up with those nodes
.PHONY: e2e-chart
e2e-chart: $(PREBUILD)
	HELM_BIN=$$(ci/helm.sh) $(GO) test -tags e2echart -count=1 -v -timeout 30m -run TestChart ./test/e2e

## e2e-kind: the same two suites on a kind cluster instead of ci/cluster, for developers with a Docker engine (ci/kind/e2e.sh: builds the pinned kind, creates the cluster, loads our images, runs e2e-smoke's and e2e-chart's tests with E2E_PROVIDER=kind, deletes the cluster; E2E_KEEP=1 keeps it). Needs Docker and root; never run in CI (no Docker engine there)
.PHONY: e2e-kind kind-unit
## kind-unit: the kind target's own module (ci/kind): its config decoded by kind's types, its docker command lines; no Docker needed
kind-unit:
	cd ci/kind && $(GO) vet ./... && $(GO) test -count=1 ./...

e2e-kind:
	ci/kind/e2e.sh

## e2e-vm: the DRBD, ZFS and blank-disk steps on real kernels in two Debian 12 guests under qemu (ci/vm/e2e.sh: installs qemu and debootstrap when missing, builds the guest image once into $(CACHE)/vm, 9 to 27 min cold, then bring-up, restart, MMP, kill -9 failover, rejoin and blank-proof cases). Needs root for the image build. ci/vm/should-run.sh says whether a change calls for it
.PHONY: e2e-vm
e2e-vm:
	GO=$(GO) ci/vm/e2e.sh
