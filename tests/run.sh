#!/usr/bin/env bash
# The whole test suite, as the README and CI run it:
#   1. normal build: every meson test (unit, crash, corruption, daemon, tools)
#      then tests/lint.sh (cppcheck, clang-tidy, clang-format; non-zero on findings)
#   2. ASan+UBSan build: the same tests
#   3. libFuzzer targets, each briefly (clang)
#   4. the power-cut rig, bounded budget
# Needs root and /dev/fuse for the daemon, tools and power-cut tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
POWERCUT_BUDGET=${POWERCUT_BUDGET:-ci}

setup() { # dir, extra args...
    local dir=$1; shift
    if [ -d "$dir" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
    meson compile -C "$dir"
}

# Install what the suite needs when it is missing (a fresh Debian 12 machine).
need=()
for p in meson ninja-build pkg-config gcc clang libfuse3-dev fuse3 libcmocka-dev libxxhash-dev \
    xfsprogs btrfs-progs e2fsprogs attr sqlite3 python3 cppcheck clang-tidy clang-format; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== normal build"
setup build
meson test -C build --print-errorlogs --num-processes 2 --no-suite bench

echo "== static analysis and formatting (cppcheck, clang-tidy, clang-format)"
"$ROOT/tests/lint.sh" build

echo "== ASan + UBSan build"
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite bench --no-suite slow \
    --timeout-multiplier 3

if command -v clang >/dev/null; then
    echo "== fuzz targets (${FUZZ_SECONDS}s each)"
    CC=clang setup build-fuzz -Dfuzz=true -Dtests=true
    "$ROOT/tests/fuzz/run.sh" build-fuzz "$FUZZ_SECONDS"
fi

if [ -x "$ROOT/tests/powercut/run" ]; then
    echo "== power-cut rig (budget $POWERCUT_BUDGET)"
    "$ROOT/tests/powercut/run" --durfs "$ROOT/build/fs/durfs" --budget "$POWERCUT_BUDGET"
fi
echo "== all tests passed"
