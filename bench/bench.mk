# Benchmarks of moat against nginx proxy_cache, Varnish and a bare net/http
# ceiling (docs/benchmarks.md). Included by the top-level Makefile.
#
#   make bench-quick     one 2 s run per system and scenario, under 2 minutes
#   make bench           3 runs of 6 s, alternating systems, repeating runs
#                        disturbed by other load: 8 to 10 minutes
#   make bench-trace     eviction policy: moat's L1 vs LRU vs Belady on traces
#   make bench-profile   CPU and allocation profiles of moat and the ceiling
#                        serving hit-1k-c64 (bench/results/*.prof)
#
# BENCH_FLAGS passes flags to bench/cmd/runner, e.g.
#   make bench BENCH_FLAGS='-scenarios hit-1k-c64,hit-16k-c64 -reps 5'

GO          ?= go
BENCH_FLAGS ?=

PROFILE_SCENARIO ?= hit-1k-c64

.PHONY: bench bench-quick bench-trace bench-profile

bench:
	bench/run.sh $(BENCH_FLAGS)

# bench-quick writes an untracked report (bench/results/quick.json), so that
# a quick look never changes the figures make bench recorded.
bench-quick:
	bench/run.sh -quick -out bench/results/quick.json $(BENCH_FLAGS)

bench-trace:
	$(GO) run ./bench/cmd/tracesim

bench-profile:
	bench/run.sh -profile moat -scenarios $(PROFILE_SCENARIO) -duration 15s $(BENCH_FLAGS)
	bench/run.sh -profile ceiling -scenarios $(PROFILE_SCENARIO) -duration 15s $(BENCH_FLAGS)
	@for s in moat ceiling; do \
	  echo "== $$s: top of the CPU profile (cumulative)"; \
	  $(GO) tool pprof -top -cum -nodecount=30 bench/results/$$s-$(PROFILE_SCENARIO).cpu.prof 2>/dev/null | tail -n +6; \
	done
