#!/usr/bin/env bash
# The C receive path against the Rust handle, in one run on one core (issue 14: within
# 1.15×): builds libmcx and the example in release (plain `cargo build --release`), compiles
# benches/c/rx_bench.c with gcc -O2 against libmcx.a, runs each three times pinned to one
# core, alternating, and prints the medians and the ratio.
#
# Usage: scripts/bench-c-abi.sh [core] [rounds]   (default core 1, 201 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
core=${1:-1}
rounds=${2:-201}
cargo build --release --locked -p mcx-ffi -p mcx-benches --example rx_handle >&2
out=target/bench-c
mkdir -p "$out"
cc -std=c11 -O2 -Wall -Wextra -Iffi/include benches/c/rx_bench.c target/release/libmcx.a \
    -lpthread -ldl -lm -o "$out/rx_bench"
rust=() c_rx=() c_locked=()
for _ in 1 2 3; do
    r=$(taskset -c "$core" target/release/examples/rx_handle "$rounds")
    c=$(taskset -c "$core" "$out/rx_bench" "$rounds")
    echo "$r" >&2
    echo "$c" >&2
    rust+=("$(echo "$r" | awk '/^rust/ { print $3 }')")
    c_rx+=("$(echo "$c" | awk '/mcx_receiver_unprotect/ { print $3 }')")
    c_locked+=("$(echo "$c" | awk '/mcx_srtcp_unprotect/ { print $3 }')")
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
r=$(median "${rust[@]}")
x=$(median "${c_rx[@]}")
l=$(median "${c_locked[@]}")
echo "median of 3: Rust handle $r ns, C receiver $x ns, C engine-level (locked stripes) $l ns"
awk -v r="$r" -v x="$x" -v l="$l" 'BEGIN {
    printf "C receiver / Rust handle = %.3f; C engine-level / Rust handle = %.3f\n", x / r, l / r }'
