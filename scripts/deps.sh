#!/usr/bin/env bash
# deps.sh installs what `make test` needs beyond Go, from Debian's packages,
# when it is missing: each line below is a command the tests run and the
# package that brings it. As root with apt-get it installs them in one go;
# otherwise it says what is missing and how to install it (tests that need a
# missing component then fail in CI, CI=true, and are skipped elsewhere).
set -euo pipefail

needs=(
  "chromium:chromium"          # dashboard browser test (internal/browsertest)
  "redis-server:redis-server"  # Redis L2, bus, lease (redisl2, fleet tests)
  "redis-cli:redis-tools"      # Redis Cluster creation in tests
  "tmux:tmux"                  # moat top rendered in a terminal (cmd/moat)
  "dpkg-deb:dpkg"              # the .deb built and unpacked (packaging)
  "varnishd:varnish"            # Varnish in front of moat, purged by it (edgetest)
  "libvmod_xkey:varnish-modules" # Varnish's xkey (tag purges) (edgetest)
  "logrotate:logrotate"        # the .deb's logrotate file run for real (packaging)
  "memcached:memcached"        # Memcached L2 (memcachel2, server fleet tests)
)

missing=()
for n in "${needs[@]}"; do
  cmd=${n%%:*} pkg=${n#*:}
  if [ "$cmd" = chromium ] && [ -x "${CHROME_PATH:-/usr/bin/chromium}" ]; then
    continue
  fi
  if [ "$cmd" = libvmod_xkey ]; then
    ls /usr/lib/*/varnish/vmods/libvmod_xkey.so >/dev/null 2>&1 || missing+=("$pkg")
    continue
  fi
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "make test: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update >/dev/null || { echo "make test: apt-get update failed"; exit 1; }
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
      { echo "make test: apt-get install ${missing[*]} failed"; exit 1; }
  fi
  # The redis-server package starts a service on port 6379 where systemd
  # runs; the tests never use it (they start their own on free ports).
else
  echo "make test: missing ${missing[*]} and this is not a root Debian shell: run 'sudo apt-get install ${missing[*]}' (the tests that need them fail in CI and are skipped otherwise)"
fi
