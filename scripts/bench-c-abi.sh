#!/usr/bin/env bash
# The C receive path against the Rust handle, in one run on one core (issue 14: within
# 1.15×): builds libmcx and the example in release (plain `cargo build --release`), compiles
# benches/c/rx_bench.c with gcc -O2 against libmcx.a, runs each `runs` times pinned to one
# core, alternating, and prints the medians, the minima and their ratios. The example also
# times the exported receiver call from Rust in the same process as the handle: what the
# C ABI itself adds.
#
# Usage: scripts/bench-c-abi.sh [core] [rounds] [runs]   (default core 1, 201 rounds, 7 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
core=${1:-1}
rounds=${2:-201}
runs=${3:-7}
cargo build --release --locked -p mcx-ffi >&2
cargo build --release --locked -p mcx-benches --example rx_handle >&2
out=target/bench-c
mkdir -p "$out"
cc -std=c11 -O2 -Wall -Wextra -Iffi/include benches/c/rx_bench.c target/release/libmcx.a \
    -lpthread -ldl -lm -o "$out/rx_bench"
: >"$out/runs.txt"
for _ in $(seq "$runs"); do
    taskset -c "$core" target/release/examples/rx_handle "$rounds" | tee -a "$out/runs.txt" >&2
    taskset -c "$core" "$out/rx_bench" "$rounds" | tee -a "$out/runs.txt" >&2
done
awk '
    /^rust Engine/ { r[nr++] = $3 }
    /^rust mcx_receiver/ { f[nf++] = $3 }
    /^c mcx_receiver/ { x[nx++] = $3 }
    /^c mcx_srtcp/ { l[nl++] = $3 }
    function sort(a, n,   i, j, t) { for (i = 1; i < n; i++) for (j = i; j > 0 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
    END {
        sort(r, nr); sort(f, nf); sort(x, nx); sort(l, nl)
        mr = r[int(nr / 2)]; mf = f[int(nf / 2)]; mx = x[int(nx / 2)]; ml = l[int(nl / 2)]
        printf "median of %d: Rust handle %.1f ns, exported receiver call from Rust %.1f ns, C receiver %.1f ns, C engine-level (locked stripes) %.1f ns\n", nr, mr, mf, mx, ml
        printf "minimum:      Rust handle %.1f ns, exported receiver call from Rust %.1f ns, C receiver %.1f ns, C engine-level (locked stripes) %.1f ns\n", r[0], f[0], x[0], l[0]
        printf "exported call / Rust handle = %.3f; C receiver / Rust handle = %.3f (medians), %.3f (minima); C engine-level / Rust handle = %.3f\n", mf / mr, mx / mr, x[0] / r[0], ml / mr
    }' "$out/runs.txt"
