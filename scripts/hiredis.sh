#!/usr/bin/env bash
# scripts/hiredis.sh — makes sure the build has hiredis >= 1.0 with TLS.
#
# Nothing to do where the system's libhiredis-dev is 1.0 or later (Debian 13,
# Ubuntu 24.04). Older (Debian 12, Ubuntu 22.04: 0.14, no TLS): builds hiredis
# 1.2.0 with USE_SSL=1 from Debian trixie's source package into
# $BITMON_CACHE/hiredis-1.2.0 (static archives only, so that nothing needs an
# rpath or LD_LIBRARY_PATH), once; the Makefile then finds it through
# PKG_CONFIG_PATH. Trixie is added as a deb-src entry in its own sources file:
# source packages only, nothing is ever installed from trixie.
#
#   scripts/hiredis.sh           build when needed (quiet, fast when cached)
#   scripts/hiredis.sh --prefix  print the prefix the Makefile should use
set -eu
cache=${BITMON_CACHE:-$HOME/.cache/bitmon}
version=1.2.0
prefix=$cache/hiredis-$version
if [ "${1:-}" = --prefix ]; then
        echo "$prefix"
        exit 0
fi
pkg-config --atleast-version=1.0 hiredis 2>/dev/null && exit 0
[ -f "$prefix/lib/libhiredis_ssl.a" ] && [ -f "$prefix/lib/pkgconfig/hiredis_ssl.pc" ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
src_list=/etc/apt/sources.list.d/bitmon-trixie-src.sources
echo "deps: building hiredis $version with TLS into $prefix" >&2
if [ ! -f "$src_list" ]; then
        $sudo tee "$src_list" >/dev/null <<'SRC'
# Added by bitmon's scripts/hiredis.sh: Debian trixie's source packages only,
# to build hiredis 1.2 with TLS on older releases. No binary entry: nothing is
# installed or upgraded from trixie.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        $sudo apt-get update -qq >/dev/null
fi
tmp=$(mktemp -d -t bitmon-hiredis.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # apt's _apt user downloads into it
(
        cd "$tmp"
        apt-get source -qq --download-only "hiredis/trixie" >/dev/null 2>&1 ||
                { $sudo apt-get update -qq >/dev/null && apt-get source -qq --download-only "hiredis/trixie" >/dev/null; }
        dsc=$(ls hiredis_"$version"-*.dsc)
        dpkg-source --no-check -x "$dsc" src >/dev/null # applies Debian's patches
        make -C src -s -j"$(nproc)" USE_SSL=1 PREFIX="$tmp/inst" install >/dev/null
)
[ -f "$tmp/inst/lib/libhiredis_ssl.a" ] || { echo "deps: hiredis build failed" >&2; exit 1; }
rm -f "$tmp/inst/lib/"*.so*
sed -i "s|$tmp/inst|$prefix|g" "$tmp/inst/lib/pkgconfig/"*.pc
mkdir -p "$cache"
rm -rf "$prefix"
mv "$tmp/inst" "$prefix"
