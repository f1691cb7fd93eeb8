#!/usr/bin/env bash
# The C side of libmcx (issue 6): builds the library, then compiles ffi/tests/c/*.c against
# ffi/include/mcx.h with the system C compiler and runs each test three ways: plain, with
# -fsanitize=address,undefined, and under valgrind. Then installs the library into a
# scratch prefix (scripts/install-ffi.sh) and builds ffi/examples/cs_proxy.c the way a user
# would, with `pkg-config --cflags --libs mcx` and nothing but mcx.h, and runs it. Called by
# scripts/test.sh; each run prints a cargo-style "test result:" line.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p mcx-ffi --locked
lib=target/debug/libmcx.a
out=target/c-tests
mkdir -p "$out"
cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -O1 -g -Iffi/include)
libs=(-lpthread -ldl -lm)

for src in ffi/tests/c/*.c; do
    name=$(basename "$src" .c)
    echo "c-tests: $name (plain)" >&2
    cc "${cflags[@]}" "$src" "$lib" "${libs[@]}" -o "$out/$name"
    "$out/$name"

    echo "c-tests: $name (-fsanitize=address,undefined)" >&2
    cc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer "$src" "$lib" "${libs[@]}" -o "$out/$name-asan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
        "$out/$name-asan"

    echo "c-tests: $name (valgrind)" >&2
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        "$out/$name"
done

echo "c-tests: install to a scratch prefix, build the example with pkg-config" >&2
prefix=$(pwd)/$out/prefix
rm -rf "$prefix"
scripts/install-ffi.sh "$prefix" --debug >&2
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -pedantic ffi/examples/cs_proxy.c $(pkg-config --cflags --libs mcx) \
    -o "$out/cs_proxy"
if LD_LIBRARY_PATH="$prefix/lib" "$out/cs_proxy" >"$out/cs_proxy.out"; then
    cat "$out/cs_proxy.out" >&2
    grep -q "the client's Floor Request" "$out/cs_proxy.out"
    echo "test result: ok. 1 passed; 0 failed; (cs_proxy example via pkg-config)"
else
    cat "$out/cs_proxy.out" >&2
    echo "test result: FAILED. 0 passed; 1 failed; (cs_proxy example via pkg-config)"
    exit 1
fi
