# release.mk: reproducible release builds, included by the Makefile.
#
#   make release                   everything below for every platform, then dist/SHA256SUMS
#   make release VERSION=v1.2.3    the same, named and stamped with another version
#   make release-bin RELEASE_OS=linux RELEASE_ARCH=arm64    one static binary
#   make deb DEB_ARCH=amd64        the linux binary and its .deb (packaging/build-deb.sh)
#   make release-version           print the version the other targets use
#
# Outputs, all in $(DIST) (default dist/, which ignores itself with its own .gitignore):
#   moat_$(VERSION)_<os>_<arch>    static binaries (no cgo) for RELEASE_PLATFORMS
#   moat_<debian version>_<arch>.deb for DEB_ARCHS: /usr/bin/moat, the systemd unit, /etc/moat/moat.yaml
#   ca-certificates.crt            the build machine's CA bundle, for the Dockerfile (FROM scratch)
#   SHA256SUMS                     sha256 of every binary and .deb (sha256sum -c SHA256SUMS)
#
# Versions are semver tags, vMAJOR.MINOR.PATCH (git tag -a v0.1.0); between tags VERSION is git
# describe's v0.1.0-3-gabc1234, with -dirty for uncommitted changes, and before the first tag
# v0.0.0-<commit>. `moat version` prints it (-X main.version).
#
# Reproducible: the same commit built with the same Go release gives the same bytes on any machine
# and in any directory. Nothing of the build machine reaches the output: no cgo, no file paths
# (-trimpath), no VCS stamp (-buildvcs=false), no build ID, GOFLAGS and the GOAMD64/GOARM64 levels
# pinned, and the .deb's file times are SOURCE_DATE_EPOCH (the commit's time). The Go release is
# recorded in each binary (go version -m). packaging/packaging_test.go builds linux/amd64 twice
# from two copies of the tree and compares the checksums.

GO                ?= go
DIST              ?= dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DEB_ARCHS         ?= amd64 arm64
CA_BUNDLE         ?= /etc/ssl/certs/ca-certificates.crt
SHA256SUM         ?= sha256sum

ifeq ($(origin VERSION),undefined)
VERSION := $(shell v=$$(git describe --tags --always --dirty --match 'v[0-9]*' 2>/dev/null || echo unknown); \
  case $$v in (v[0-9]*) echo $$v ;; (*) echo v0.0.0-$$v ;; esac)
endif
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif

RELEASE_OS      ?= $(shell $(GO) env GOOS)
RELEASE_ARCH    ?= $(shell $(GO) env GOARCH)
DEB_ARCH        ?= $(shell $(GO) env GOARCH)
RELEASE_LDFLAGS  = -s -w -buildid= -X main.version=$(VERSION)

.PHONY: release release-bin release-ca release-version deb

release: check-go
	@rm -f $(DIST)/moat_* $(DIST)/SHA256SUMS
	@for p in $(RELEASE_PLATFORMS); do \
	  $(MAKE) --no-print-directory release-bin VERSION=$(VERSION) RELEASE_OS=$${p%/*} RELEASE_ARCH=$${p#*/} || exit 1; \
	done
	@for a in $(DEB_ARCHS); do \
	  SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) packaging/build-deb.sh $(VERSION) $$a $(DIST)/moat_$(VERSION)_linux_$$a $(DIST) || exit 1; \
	done
	@$(MAKE) --no-print-directory release-ca
	cd $(DIST) && $(SHA256SUM) $$(ls moat_* | LC_ALL=C sort) > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

# GOFLAGS is emptied so that a -race or -cover from the environment cannot change the bytes.
release-bin: check-go
	@mkdir -p $(DIST) && printf '*\n' > $(DIST)/.gitignore
	CGO_ENABLED=0 GOOS=$(RELEASE_OS) GOARCH=$(RELEASE_ARCH) GOFLAGS= GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT= \
	  $(GO) build -trimpath -buildvcs=false -ldflags "$(RELEASE_LDFLAGS)" \
	  -o $(DIST)/moat_$(VERSION)_$(RELEASE_OS)_$(RELEASE_ARCH) ./cmd/moat

release-ca:
	@mkdir -p $(DIST) && printf '*\n' > $(DIST)/.gitignore
	cp $(CA_BUNDLE) $(DIST)/ca-certificates.crt

deb:
	@$(MAKE) --no-print-directory release-bin VERSION=$(VERSION) RELEASE_OS=linux RELEASE_ARCH=$(DEB_ARCH)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) packaging/build-deb.sh $(VERSION) $(DEB_ARCH) $(DIST)/moat_$(VERSION)_linux_$(DEB_ARCH) $(DIST)

release-version:
	@echo $(VERSION)
