# tinymapper — build, run and test. `make help` lists the targets.
#
# `make test` installs what it needs when it is missing (Debian packages with
# apt-get, Go tools at pinned versions into bin/tools), then runs every test.

SHELL        := /bin/bash
GO           ?= go
BIN          := bin/tinymapper
TOOLS        := $(CURDIR)/bin/tools
# The stamps may come from the command line or the environment; either way
# they are computed once (:=), so every binary and image tag of one run has
# the same ones.
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE         ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION      := $(VERSION)
COMMIT       := $(COMMIT)
DATE         := $(DATE)
LDFLAGS      := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# grpcnotrace keeps golang.org/x/net/trace out: it pulls in html/template,
# whose reflection keeps every exported method alive (2.5 MB on arm64).
# nethttpomithttp2 keeps net/http's bundled HTTP/2 out: the REST API speaks
# HTTP/1.1, also over TLS (327 680 bytes on arm64; gRPC has its own HTTP/2).
# TAGS adds build tags to these (which every build keeps), such as the
# sinks a gateway leaves out: make cross TAGS='nomqtt nomysql'.
# SINK_TAGS are the tags that leave out one sink each, the //go:build
# !noNAME line of each sink_*.go: make cross TAGS='$(SINK_TAGS)' builds
# without any push or database sink.
SINK_TAGS    := $(shell sed -s -n '1s,^//go:build !\(no[a-z0-9]*\)$$,\1,p' sink_*.go)
TAGS         ?=
BUILD_TAGS   := grpcnotrace nethttpomithttp2 $(TAGS)
GOBUILD      := CGO_ENABLED=0 $(GO) build -trimpath -tags '$(BUILD_TAGS)' -ldflags '$(LDFLAGS)'

# Release binaries: `make cross` writes $(DIST)/tinymapper-linux-ARCH for each of CROSS.
DIST         ?= dist
CROSS        ?= arm64 armv7 armv6 amd64
GOENV_arm64  := GOARCH=arm64
GOENV_armv7  := GOARCH=arm GOARM=7
GOENV_armv6  := GOARCH=arm GOARM=6
GOENV_amd64  := GOARCH=amd64

# Container image (Dockerfile.arm), built by buildah without a daemon.
IMAGE           ?= tinymapper
IMAGE_PLATFORMS ?= linux/arm64,linux/arm/v7,linux/amd64
IMAGE_ARCHIVE   := $(DIST)/tinymapper-image.tar
# The archive names the image (org.opencontainers.image.ref.name) with full
# references, IMAGE_REF:VERSION and IMAGE_REF:latest, as containerd wants them:
# `ctr images import` keeps a full name as it is, and the kubelet looks the
# DaemonSet's "tinymapper:latest" up as docker.io/library/tinymapper:latest.
IMAGE_REF       ?= docker.io/library/$(IMAGE)
IMAGE_TAGS      ?= $(VERSION) latest
IMAGE_LAYOUT    := $(DIST)/image-layout
# A private, throw-away image store under dist/: the OCI archive is the product.
IMAGE_STORE     := $(abspath $(DIST))/image-store
BUILDAH         := buildah --storage-driver vfs --root $(IMAGE_STORE)/root --runroot $(IMAGE_STORE)/run
CA_BUNDLE       ?= /etc/ssl/certs/ca-certificates.crt

# make install [PREFIX=/usr/local] [DESTDIR=...] [INSTALL_BIN=dist/tinymapper-linux-arm64]
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share/tinymapper
SYSCONFDIR  ?= /etc
UNITDIR     ?= /etc/systemd/system
INSTALL_BIN ?= $(BIN)

# make run [DEVICES=deploy/examples/push/push-mqtt.yaml]: a file or a
# directory (its *.yaml, not its subdirectories). The default loads no push
# example: their servers are not running on a fresh machine.
DEVICES     ?= deploy/examples

# Pinned code generators.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# Debian packages the tests use (test/arm/deps_test.go checks the list): gcc and
# libc6-dev for cgo, which -race needs; protoc and libprotobuf-dev, whose
# /usr/include/google/protobuf/*.proto check-generate reads (protobuf-compiler
# only recommends it); git for VERSION, COMMIT and lint; iproute2 (ip netns,
# veth), python3-zeroconf and avahi (avahi-daemon, avahi-utils, dbus-daemon and
# dbus-system-bus-common for the bus they talk over), independent DNS-SD
# implementations, for the mDNS tests;
# curl for the tests that try the REST API as another user. make and Go (go.mod's
# version) must be there first; the rest (diff, tar, nproc, ...) is Essential.
APT_PACKAGES := gcc libc6-dev protobuf-compiler libprotobuf-dev qemu-user-static buildah skopeo ca-certificates systemd git iproute2 python3-zeroconf avahi-daemon avahi-utils mount dbus-daemon dbus-system-bus-common curl mosquitto mosquitto-clients victoria-metrics redis-server redis-tools mariadb-server mariadb-server-core mariadb-client-core

export PATH := $(TOOLS):$(PATH)

.PHONY: help run build cross size image image-context install test unit test-faults test-arm test-image kubeedge-compat lint check-generate generate deps apt-deps go-tools clean

help:
	@echo "make run       run on the simulated board, standalone, REST on 127.0.0.1:7777 (DEVICES=file or dir, default deploy/examples)"
	@echo "make build     build $(BIN) for this machine"
	@echo "make cross     static release binaries in $(DIST)/: linux arm64, armv7, armv6 (Pi Zero/1), amd64"
	@echo "make size      sizes of the release binaries and the packages that weigh most"
	@echo "make image     multi-arch image (arm64, arm/v7, amd64) in $(IMAGE_ARCHIVE), with buildah"
	@echo "make install   binary, systemd unit, config and examples under DESTDIR/PREFIX (INSTALL_BIN= picks a dist/ binary)"
	@echo "make test      install test dependencies when missing, run every test"
	@echo "make test-faults  the fault suite: restarts, kills, replugs, hostile input; one table (FAULTS_SOAK=1: longer)"
	@echo "make bench     run the Go benchmarks, print one table and the targets (instructions/op under callgrind when installed)"
	@echo "make bench-scale  N=10/100/1000 sim devices against the EdgeCore stand-in: CPU, RSS, goroutines, twins/s, latency; then N=1000 pushed to mosquitto"
	@echo "make generate  regenerate the DMI gRPC code from dmi/v1beta1/api.proto"

run: build
	@echo "REST token: $(CURDIR)/bin/token (created at first start); writes need it:"
	@echo "  curl -X PUT -H \"Authorization: Bearer \$$(cat bin/token)\" -d '{\"value\":\"42\"}' http://127.0.0.1:7777/api/v1/device/NS/NAME/PROPERTY"
	./$(BIN) --board sim --devices $(DEVICES) --http 127.0.0.1:7777 --token-file bin/token

build:
	$(GOBUILD) -o $(BIN) .

cross: $(CROSS:%=cross-%)

cross-%:
	$(if $(GOENV_$*),,$(error cross-$*: unknown target; want one of $(CROSS)))
	@mkdir -p $(DIST)
	GOOS=linux $(GOENV_$*) $(GOBUILD) -o $(DIST)/tinymapper-linux-$* .

# The packages are counted in an unstripped arm64 build with the same flags.
size: cross
	@GOOS=linux $(GOENV_arm64) CGO_ENABLED=0 $(GO) build -trimpath -tags '$(BUILD_TAGS)' \
		-ldflags '$(filter-out -s -w,$(LDFLAGS))' -o $(DIST)/tinymapper-linux-arm64.unstripped .
	@$(GO) run ./scripts/binsize -top 15 -packages $(DIST)/tinymapper-linux-arm64.unstripped \
		$(CROSS:%=$(DIST)/tinymapper-linux-%)
	@echo
	@echo "What the push sinks cost (linux/arm64, stripped): the binary built without them."
	@echo "The file grows in 64 KiB steps; its content (the sections, without padding) by what is linked."
	@echo "(test/arm's budgets: 13 000 000 bytes with every sink, 11 500 000 with none)"
	@$(GO) build -o $(DIST)/binsize ./scripts/binsize
	@full=$$(stat -c %s $(DIST)/tinymapper-linux-arm64); fullc=$$($(DIST)/binsize -content $(DIST)/tinymapper-linux-arm64); \
	printf '  %-26s %10d bytes, content %d\n' "every sink" $$full $$fullc; \
	for t in $(SINK_TAGS) "$(SINK_TAGS)"; do \
		GOOS=linux $(GOENV_arm64) CGO_ENABLED=0 $(GO) build -trimpath -tags "$(BUILD_TAGS) $$t" -ldflags '$(LDFLAGS)' -o $(DIST)/size.tmp . || exit 1; \
		s=$$(stat -c %s $(DIST)/size.tmp); c=$$($(DIST)/binsize -content $(DIST)/size.tmp); \
		if [ "$$t" = "$(SINK_TAGS)" ]; then n="no sink (every tag above)"; else n="-tags $$t"; fi; \
		printf '  %-26s %10d bytes, content %d: %d less (content %d less)\n' "$$n" $$s $$c $$((full-s)) $$((fullc-c)); \
	done; rm -f $(DIST)/size.tmp $(DIST)/binsize
	@echo
	@$(if $(filter amd64,$(CROSS)),scripts/rss.sh $(DIST)/tinymapper-linux-amd64 10,true)

# The binary, the systemd unit (with the paths installed to), the config
# (kept if there is one) and the example devices.
install: $(if $(filter $(BIN),$(INSTALL_BIN)),build)
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/tinymapper
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/tinymapper $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/examples/push
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/tinymapper/config.yaml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/tinymapper/config.yaml"; \
	else \
		echo "install -m 0644 deploy/config.yaml $(DESTDIR)$(SYSCONFDIR)/tinymapper/config.yaml"; \
		install -m 0644 deploy/config.yaml $(DESTDIR)$(SYSCONFDIR)/tinymapper/config.yaml; \
	fi
	sed -e 's|/usr/local/bin/tinymapper|$(BINDIR)/tinymapper|g' -e 's|/etc/tinymapper/|$(SYSCONFDIR)/tinymapper/|g' \
		deploy/systemd/tinymapper.service > $(DESTDIR)$(UNITDIR)/tinymapper.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tinymapper.service
	install -m 0644 deploy/examples/*.yaml $(DESTDIR)$(DATADIR)/examples/
	install -m 0644 deploy/examples/push/*.yaml $(DESTDIR)$(DATADIR)/examples/push/

# The rootfs every image gets besides the binary, and the binaries named by
# platform, the way Dockerfile.arm picks them: linux/arm/v7 is
# bin/linux-arm-v7 (make cross's armv7), linux/arm64 bin/linux-arm64.
comma := ,
image-context: cross
	rm -rf $(DIST)/image
	install -D -m 0644 $(CA_BUNDLE) $(DIST)/image/rootfs/etc/ssl/certs/ca-certificates.crt
	install -D -m 0644 deploy/container/config.yaml $(DIST)/image/rootfs/etc/tinymapper/config.yaml
	install -d -m 0755 $(DIST)/image/rootfs/etc/kubeedge
	@for p in $(subst $(comma), ,$(IMAGE_PLATFORMS)); do \
		IFS=/ read -r os arch variant <<< "$$p"; \
		echo "install -D -m 0755 $(DIST)/tinymapper-$$os-$$arch$$variant $(DIST)/image/bin/$${p//\//-}"; \
		install -D -m 0755 $(DIST)/tinymapper-$$os-$$arch$$variant $(DIST)/image/bin/$${p//\//-} || exit 1; \
	done

# One manifest list, one image per platform, pushed once per tag into an OCI
# layout (the blobs are shared) and packed as the OCI archive.
image: apt-deps cross image-context
	rm -rf $(IMAGE_STORE) $(IMAGE_LAYOUT)
	$(BUILDAH) bud --isolation chroot --platform $(IMAGE_PLATFORMS) --manifest $(IMAGE):$(VERSION) \
		--build-arg DIST=$(DIST) --build-arg VERSION=$(VERSION) -f Dockerfile.arm .
	for tag in $(IMAGE_TAGS); do \
		$(BUILDAH) manifest push --all $(IMAGE):$(VERSION) oci:$(IMAGE_LAYOUT):$(IMAGE_REF):$$tag || exit 1; \
	done
	rm -f $(IMAGE_ARCHIVE)
	tar -C $(IMAGE_LAYOUT) -cf $(IMAGE_ARCHIVE) oci-layout index.json blobs
	rm -rf $(IMAGE_STORE) $(IMAGE_LAYOUT)
	@echo "$(IMAGE_ARCHIVE): $(IMAGE_TAGS:%=$(IMAGE_REF):%) for $(IMAGE_PLATFORMS)"

test: deps lint check-generate unit scale-smoke test-faults kubeedge-compat test-arm test-image

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# test/arm runs release binaries under emulation: test-arm runs it, without -race.
# test/faults is test-faults'.
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '/test/arm$$' -e '/test/arm/' -e '/test/scale$$' -e '/test/faults$$')

# The fault suite (test/faults): EdgeCore restarts, the mapper SIGKILLed, a
# serial replug, hostile DMI and REST requests, churn; one table, a pass line
# per figure. About a minute; FAULTS_SOAK=1 runs it longer (about 5 minutes).
FAULTS_SOAK ?=
test-faults:
	FAULTS_SOAK=$(FAULTS_SOAK) $(GO) test -count=1 -timeout 60m -v -run '^TestFaults$$' ./test/faults

# The ARM release binaries under qemu-user: standalone REST, DMI against the
# EdgeCore stand-in, the arm64 size budget; make install and the systemd unit.
# -v: a skipped test (no qemu, say, outside CI) shows as SKIP with its reason.
test-arm: apt-deps cross
	TINYMAPPER_DIST=$(abspath $(DIST)) $(GO) test -count=1 -v ./test/arm

# The image's names, platforms, entrypoint, user, files and size per platform.
test-image: image
	TINYMAPPER_IMAGE=$(abspath $(IMAGE_ARCHIVE)) $(GO) test -count=1 -v ./test/arm/image

kubeedge-compat:
	cd test/kubeedge && $(GO) vet ./... && $(GO) test -count=1 ./...

# Benchmarks (not part of `make test`): see the README's Performance section.
# bench: every Go benchmark of the sampling and report paths, one table, with
# callgrind instruction counts for the hot paths when valgrind is installed.
# bench-scale: test/scale, the release binary against the EdgeCore stand-in
# (about 3 minutes with these flags). scale-smoke: the harness for a few
# seconds at N=10 (and -push mqtt), so that `make test` keeps it working.
.PHONY: bench bench-scale scale-smoke
BENCH_FLAGS ?=
SCALE_FLAGS ?= -n 10,100,1000 -warmup 5s -window 20s -push mqtt

bench:
	$(GO) run ./bench -raw $(DIST)/bench.txt $(BENCH_FLAGS)

bench-scale:
	$(GO) run ./test/scale $(SCALE_FLAGS)

scale-smoke:
	$(GO) test -count=1 -v -run '^TestSmoke(Push)?$$' ./test/scale

# The generated code must be what `make generate` produces from the .proto.
check-generate: go-tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp -r dmi/v1beta1/. $$tmp/; \
	dmi/v1beta1/generate.sh; \
	if ! diff -r -q $$tmp dmi/v1beta1 >/dev/null; then \
		echo "dmi/v1beta1: generated code is stale; run make generate and commit"; \
		diff -r $$tmp dmi/v1beta1 | head -40; cp -r $$tmp/. dmi/v1beta1/; exit 1; fi

generate: deps
	dmi/v1beta1/generate.sh

deps: apt-deps go-tools

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

go-tools:
	@mkdir -p $(TOOLS)
	@[ -x $(TOOLS)/protoc-gen-go ] && $(TOOLS)/protoc-gen-go --version | grep -q $(PROTOC_GEN_GO_VERSION) || \
		GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@[ -x $(TOOLS)/protoc-gen-go-grpc ] && $(TOOLS)/protoc-gen-go-grpc --version | grep -q $(PROTOC_GEN_GO_GRPC_VERSION:v%=%) || \
		GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

clean:
	rm -rf bin dist
