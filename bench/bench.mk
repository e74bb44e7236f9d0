# Benchmarks of moat against nginx proxy_cache, Varnish and a bare net/http
# ceiling (docs/benchmarks.md). Included by the top-level Makefile.
#
#   make bench-quick     one 2 s run per system and scenario, under 2 minutes;
#                        without the groups of issue #17 (both cores, Redis
#                        L2), which would take it past two minutes
#   make bench           3 runs of 6 s, alternating systems, repeating runs
#                        disturbed by other load, every scenario: 12 min 10 s
#                        measured on a quiet machine (more when runs repeat)
#
# Both print the table and then issue #17's targets, met or behind; so does
# `go run ./bench/cmd/runner -table bench/results/latest.json`.
#
# The issue #17 groups:
#   hit-1k-c64-2cpu, miss-1k-c64-2cpu   nothing pinned: moat (GOMAXPROCS 2),
#       nginx (2 workers), Varnish (2 thread pools), the ceiling, an origin
#       of their own and wrk (2 threads) share both cores
#   l2-hit-1k-c64    L2 hits with L1 cold (moat with a 1 MiB L1 over 10,000
#       URLs warmed into Redis) vs bench/cmd/redisfront (Redis in front of
#       the API) vs redis-benchmark -t get -d 1024 -c 64 on the same Redis
#   hit-1k-c64-l2    moat with L1+L2 vs redisfront
#   Redis runs on the load core (with wrk and the origin), its clients on
#   the server core. Run them alone in quick mode by naming them, e.g.
#   make bench-quick BENCH_FLAGS='-scenarios l2-hit-1k-c64,hit-1k-c64-l2'
#   make bench-trace     eviction policy: moat's L1 vs LRU vs Belady on traces
#   make bench-profile   CPU and allocation profiles of moat and the ceiling
#                        serving hit-1k-c64 (bench/results/*.prof); any
#                        scenario, the Redis and 2-core ones included:
#   make bench-profile PROFILE_SCENARIO=l2-hit-1k-c64
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
