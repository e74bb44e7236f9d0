#!/usr/bin/env bash
# build-deb.sh VERSION ARCH BINARY OUTDIR: build OUTDIR/moat_<debian version>_ARCH.deb around a
# linux/ARCH moat binary (make release or make deb call it; see release.mk).
#
#   VERSION  a semver tag or git describe output: v1.2.3, v1.2.3-rc.1, v1.2.3-4-gabc1234-dirty
#   ARCH     amd64 or arm64 (Debian and Go spell them alike)
#
# The package holds /usr/bin/moat, /lib/systemd/system/moat.service, /etc/moat/moat.yaml and
# /etc/logrotate.d/moat (conffiles) and the copyright file; its maintainer scripts create the moat user and the admin
# token (packaging/deb). File times are SOURCE_DATE_EPOCH (default: the last commit's time) and
# owners root:root, so the same inputs give the same .deb.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 VERSION ARCH BINARY OUTDIR" >&2
	exit 2
fi
version=$1 arch=$2 binary=$3 outdir=$4
here=$(cd "$(dirname "$0")" && pwd)

case $arch in
amd64 | arm64) ;;
*) echo "build-deb.sh: unsupported ARCH $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
[ -f "$binary" ] || { echo "build-deb.sh: no binary at $binary" >&2; exit 2; }

# Debian versions sort like semver: a pre-release (-rc.1) sorts before its release (~), commits
# after a tag after it (+).
v=${version#v}
if [[ $v =~ ^([0-9]+\.[0-9]+\.[0-9]+)-([0-9]+)-g([0-9a-f]+)(-dirty)?$ ]]; then
	debver="${BASH_REMATCH[1]}+${BASH_REMATCH[2]}.g${BASH_REMATCH[3]}${BASH_REMATCH[4]:+.dirty}"
elif [[ $v =~ ^[0-9][0-9A-Za-z.+~-]*$ ]]; then
	debver=${v//-/\~}
else
	echo "build-deb.sh: VERSION $version is not vMAJOR.MINOR.PATCH[-...]" >&2
	exit 2
fi

: "${SOURCE_DATE_EPOCH:=$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/moat
umask 022

install -D -m 0755 "$binary" "$root/usr/bin/moat"
install -D -m 0644 "$here/deb/moat.service" "$root/lib/systemd/system/moat.service"
install -D -m 0644 "$here/deb/moat.yaml" "$root/etc/moat/moat.yaml"
install -D -m 0644 "$here/deb/logrotate" "$root/etc/logrotate.d/moat"
install -d -m 0755 "$root/usr/share/doc/moat"
cat >"$root/usr/share/doc/moat/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: moat
Source: https://github.com/moatproxy/moat

Files: *
Copyright: the moat authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0; it is also the LICENSE file of the source.
COPYRIGHT

install -d -m 0755 "$root/DEBIAN"
install -m 0644 "$here/deb/conffiles" "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/deb/$s" "$root/DEBIAN/$s"
done
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: moat
Version: $debver
Architecture: $arch
Maintainer: moat maintainers <security@moat.dev>
Installed-Size: $size
Depends: adduser
Section: httpd
Priority: optional
Homepage: https://github.com/moatproxy/moat
Description: caching API gateway
 moat sits in front of an HTTP API as a reverse proxy and answers the reads
 it repeats from memory: an RFC 9111 shared cache with per-route policies,
 tag and route purges, request coalescing, stale-while-revalidate, an
 optional Redis tier shared by many nodes, and Prometheus metrics.
 .
 This package runs it under systemd (moat.service) with /etc/moat/moat.yaml.
CONTROL

find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$outdir"
out="$outdir/moat_${debver}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
