#!/usr/bin/env bash
# bench/run.sh: moat against nginx proxy_cache, Varnish and a bare net/http
# ceiling on this machine. `make bench` runs it; `make bench-quick` passes
# -quick. Any argument is passed to bench/cmd/runner (see -help there).
#
# It installs nginx, varnish, wrk and Redis (redis-server, redis-benchmark)
# with apt-get when missing, builds the Go programs into a temporary
# directory, and runs the runner, which starts and stops every server itself. On exit (normal, error or signal) the
# runner is stopped by PID; it stops what it started the same way.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
PATH="$PATH:/usr/sbin:/sbin"

# Debian packages providing each tool.
declare -A pkg=([wrk]=wrk [nginx]=nginx [varnishd]=varnish [taskset]=util-linux
  [redis-server]=redis-server [redis-benchmark]=redis-tools)
missing=()
for tool in wrk nginx varnishd taskset redis-server redis-benchmark; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg[$tool]}")
done
if ((${#missing[@]})); then
  echo "bench: installing ${missing[*]} with apt-get" >&2
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update >/dev/null
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Packages may start their system service on install (where no
  # policy-rc.d forbids it); those would hold ports and CPU, so stop them.
  if [[ -d /run/systemd/system ]]; then
    for unit in nginx varnish varnishncsa redis-server; do
      if systemctl is-active --quiet "$unit" 2>/dev/null; then
        echo "bench: stopping the $unit service that apt-get just started" >&2
        "${sudo[@]}" systemctl stop "$unit" || true
      fi
    done
  fi
fi

bin=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench-bin.XXXXXX")
runner_pid=
cleanup() {
  if [[ -n $runner_pid ]] && kill -0 "$runner_pid" 2>/dev/null; then
    kill -TERM "$runner_pid" 2>/dev/null || true
    wait "$runner_pid" 2>/dev/null || true
  fi
  rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "bench: building moat and the bench tools" >&2
if [[ -n ${MOAT_BIN:-} ]]; then
  # A moat built elsewhere (a release, another commit) instead of this tree.
  cp "$MOAT_BIN" "$bin/moat"
else
  "$GO" build -o "$bin/moat" ./cmd/moat
fi
for cmd in origin ceiling stampede redisfront runner; do
  "$GO" build -o "$bin/$cmd" "./bench/cmd/$cmd"
done
if [[ " $* " == *" -profile "* ]]; then
  "$GO" build -tags moatprof -o "$bin/moatprof" ./bench/cmd/moatprof
fi

"$bin/runner" -bin "$bin" -script bench/wrk/bench.lua "$@" &
runner_pid=$!
wait "$runner_pid"
