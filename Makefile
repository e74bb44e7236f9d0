# moat: the two commands a newcomer needs are in README.md:
#   go run ./cmd/moat demo      run the demo (no files, no Redis)
#   make test                   run every test

GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 20s

.PHONY: test deps vet unit fuzz bench-go build check-go

test: check-go deps vet unit ## vet, all tests with -race (fuzz targets run their seed corpora)

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "make test: Go is not installed or not on PATH (need Go 1.26+)"; exit 1; }

# deps installs what the tests need beyond Go (chromium, redis-server,
# redis-tools) with apt-get as root, or says how: see scripts/deps.sh.
deps:
	@scripts/deps.sh

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# fuzz runs each fuzz target for FUZZTIME (coverage-guided), one at a time.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# bench runs the Go micro-benchmarks of the hot paths (see docs/benchmarks.md).
bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./cache/ ./gateway/ ./internal/...

build:
	$(GO) build -o bin/moat ./cmd/moat

# security runs moat's own security suite: a real moat in front of a recording
# origin, attacked by class (docs/security.md). make test runs it too.
.PHONY: security flood
security: check-go
	$(GO) test -race -count=1 ./security/...

# flood runs the large memory flood of security/flood in full
# (MOAT_FLOOD=full); it takes minutes.
flood: check-go
	MOAT_FLOOD=full $(GO) test -count=1 -run Flood -v -timeout 30m ./security/flood/

# bench and bench-quick (moat against nginx, Varnish and a bare net/http
# ceiling) live in bench/bench.mk.
-include bench/bench.mk
-include release.mk
