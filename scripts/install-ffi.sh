#!/usr/bin/env bash
# Builds libmcx and installs it under PREFIX (default /usr/local):
#   PREFIX/include/mcx.h
#   PREFIX/lib/libmcx.a, libmcx.so.0.1.0 (+ libmcx.so.0, libmcx.so links)
#   PREFIX/lib/pkgconfig/mcx.pc
# Usage: scripts/install-ffi.sh [PREFIX] [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
profile=release
[ "${2:-}" = "--debug" ] && profile=debug
if [ "$profile" = release ]; then
    cargo build -p mcx-ffi --release --locked
else
    cargo build -p mcx-ffi --locked
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
lib="$prefix/lib"
mkdir -p "$prefix/include" "$lib/pkgconfig"
install -m 0644 ffi/include/mcx.h "$prefix/include/mcx.h"
install -m 0644 "target/$profile/libmcx.a" "$lib/libmcx.a"
install -m 0755 "target/$profile/libmcx.so" "$lib/libmcx.so.$version"
ln -sf "libmcx.so.$version" "$lib/libmcx.so.0"
ln -sf libmcx.so.0 "$lib/libmcx.so"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" ffi/mcx.pc.in >"$lib/pkgconfig/mcx.pc"
echo "installed libmcx $version under $prefix"
