#!/usr/bin/env bash
# The test command (README.md): installs what the tests need when it is missing, then checks
# formatting and lints and runs the whole workspace test suite (the SRTCP suites run every
# AES-GCM provider this CPU has, in one process), the C tests and the loom models.
#
# Needs: libsrtp2-dev (the SRTCP interop peer), xmlsec1 and python3-lxml (the XML peers),
# pkg-config, a C compiler (with its sanitizer runtimes) and valgrind (the C ABI tests),
# iproute2 and ethtool (the relay's two-host tests make network namespaces and a device
# that refuses GSO; they need root, as CI runs), tshark (Wireshark's RTCP/MCPTT dissector,
# the floor-control peer).
# Installed with apt-get as root (or through sudo) on Debian when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if ! pkg-config --exists libsrtp2 2>/dev/null; then need+=(libsrtp2-dev); fi
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
# XML interop peers: xmlsec1 (encrypts and decrypts against the engine) and Python's lxml
# (canonicalizes and checks the signatures with hmac).
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
/usr/bin/python3 -c 'import lxml' >/dev/null 2>&1 || need+=(python3-lxml)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v tshark >/dev/null 2>&1 || need+=(tshark)

if ((${#need[@]})); then
    echo "scripts/test.sh: installing ${need[*]}" >&2
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "scripts/test.sh: need root to install ${need[*]} (apt-get)" >&2
        exit 1
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

echo "libsrtp2 $(pkg-config --modversion libsrtp2), $(cc --version | head -1)" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# Run the suite, keeping its output to total the results: cargo's own last line belongs to
# whichever crate ran last (often a doc-test crate with no tests), so close with the sum.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# The pure core without the pool (STYLE.md rule 1: the engine builds and tests without its
# default features, which are what spawns threads).
cargo test -p mcx-engine --no-default-features --lib --locked 2>&1 | tee -a "$log"
# The C ABI from C: ffi/tests/c built against ffi/include/mcx.h and run plain, with
# AddressSanitizer + UBSan, and under valgrind.
scripts/c-tests.sh 2>&1 | tee -a "$log"
# The loom models of RCU publication (engine/tests/loom_rcu.rs), of the key store's index
# (engine/tests/loom_table.rs) and of the pool's rings (engine/tests/loom_ring.rs), in their
# own target directory because --cfg loom changes every crate's build.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p mcx-engine --test loom_rcu --test loom_table --test loom_ring --release --locked \
    2>&1 | tee -a "$log"
awk '/^test result:/ { p += $4; f += $6 } END {
    if (p == 0) { print "scripts/test.sh: no test ran" > "/dev/stderr"; exit 1 }
    printf "summary: %d passed, %d failed\n", p, f }' "$log"
