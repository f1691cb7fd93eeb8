#!/usr/bin/env bash
# The C side of libmcx (issue 6): builds the library, then compiles ffi/tests/c/*.c against
# ffi/include/mcx.h with the system C compiler and runs each test three ways: plain, with
# -fsanitize=address,undefined, and under valgrind. Called by scripts/test.sh; each run
# prints a cargo-style "test result:" line.
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
