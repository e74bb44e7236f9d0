#!/usr/bin/env bash
# examples/books/bench.sh: the books API without a cache, with its cache-aside caches in memory, with
# Redis, and without a cache behind the moat proxy, each loaded for 10 s twice (the first 10 s after
# a warm-up, then 10 s more) by `books load` (32 workers, 5,000 paths by a Zipf law).
#
#   examples/books/bench.sh [REPS]     # from the repository root; needs redis-server, curl, taskset
#
# The serving processes (the API, Redis, moat) run on core 0 and the load tool on core 1
# (taskset), so that each setup gets the same CPU. Each line ends with the serving processes' CPU
# time per request (utime+stime from /proc) and the load average, since other work on the machine
# lowers requests/s first. Ports 8080 (moat.yaml's), 8081 (the API) and 6390 (Redis) must be
# free. Everything it starts is stopped by PID when it ends; its files are in a temporary directory.
set -euo pipefail
reps=${1:-1}
cd "$(git rev-parse --show-toplevel)"
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/books" ./examples/books
go build -o "$dir/moat" ./cmd/moat
db=$dir/books.db
"$dir/books" seed -db "$db" >&2

up() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
start() { taskset -c 0 "$@" >>"$dir/log" 2>&1 & pids+=($!); }
stop() { for p in "$@"; do kill "$p"; wait "$p" 2>/dev/null || true; done; pids=(); }
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
# run URL NAME PIDS...: one 10 s load, with the CPU time of PIDS per request.
run() {
  local url=$1 name=$2 t0 t1 line rps; shift 2
  t0=$(ticks "$@")
  line=$(taskset -c 1 "$dir/books" load -url "$url" -stats http://127.0.0.1:8081 -d 10s -c 32 -keys 5000 -name "$name" -header=false)
  t1=$(ticks "$@")
  rps=$(awk '{print $(NF-5)}' <<<"$line")
  printf '%s %8.0fµs/req  load %s\n' "$line" "$(awk -v t=$((t1 - t0)) -v r="$rps" -v hz="$(getconf CLK_TCK)" 'BEGIN{print t*1e6/hz/(r*10)}')" "$(cut -d' ' -f1 /proc/loadavg)"
}
warm() { taskset -c 1 "$dir/books" warm -db "$db" -url "$1" -pages 20 -books 200 -rate 500 >&2; }

printf '# %s, commit %s, %s, %s CPUs\n' "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD)" "$(go version | cut -d' ' -f3)" "$(nproc)"
printf '%-28s %11s %9s %9s %14s %9s %8s %12s\n' setup requests/s p50 p99 "DB queries/s" non-2xx errors "server CPU"
for _ in $(seq "$reps"); do
  start "$dir/books" serve -db "$db" -cache=false -log warn; up http://127.0.0.1:8081/debug/stats
  run http://127.0.0.1:8081 "no cache" "${pids[@]}"
  run http://127.0.0.1:8081 "no cache, again" "${pids[@]}"
  stop "${pids[@]}"

  start "$dir/books" serve -db "$db" -log warn; up http://127.0.0.1:8081/debug/stats
  warm http://127.0.0.1:8081
  run http://127.0.0.1:8081 "aside L1" "${pids[@]}"
  run http://127.0.0.1:8081 "aside L1, steady" "${pids[@]}"
  stop "${pids[@]}"

  start redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --dir "$dir"
  for _ in $(seq 50); do redis-cli -p 6390 ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p 6390 flushall >/dev/null
  start "$dir/books" serve -db "$db" -redis 127.0.0.1:6390 -log warn; up http://127.0.0.1:8081/debug/stats
  warm http://127.0.0.1:8081
  run http://127.0.0.1:8081 "aside L1+Redis" "${pids[@]}"
  run http://127.0.0.1:8081 "aside L1+Redis, steady" "${pids[@]}"
  stop "${pids[@]}"

  start "$dir/books" serve -db "$db" -cache=false -log warn; up http://127.0.0.1:8081/debug/stats
  start "$dir/moat" serve --config examples/books/moat.yaml; up http://127.0.0.1:8080/debug/stats
  warm http://127.0.0.1:8080
  run http://127.0.0.1:8080 "moat proxy" "${pids[@]}"
  run http://127.0.0.1:8080 "moat proxy, steady" "${pids[@]}"
  stop "${pids[@]}"
done
