#!/usr/bin/env bash
# Run every fuzz target of BUILD_DIR for SECONDS each, starting from a temporary copy
# of its committed corpus (the committed corpus never grows).  Fails if a target
# crashes, leaks or times out; the reproducer is kept in BUILD_DIR/fuzz-artifacts/.
#   tests/fuzz/run.sh build-fuzz 20
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd)
SECONDS_EACH=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ARTIFACTS=$BUILD/fuzz-artifacts
mkdir -p "$ARTIFACTS"
status=0
ran=0
for target in fuzz_wal_segment fuzz_checkpoint fuzz_recovery; do
    bin=$BUILD/tests/fuzz/$target
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin missing (configure with CC=clang -Dfuzz=true)" >&2
        status=1
        continue
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/durfs-fuzz-$target.XXXXXX")
    mkdir -p "$work/corpus"
    if [ -d "$HERE/corpus/$target" ]; then
        cp "$HERE/corpus/$target"/* "$work/corpus/" 2>/dev/null || true
    fi
    echo "== $target for ${SECONDS_EACH}s ($(ls "$work/corpus" | wc -l) seeds)"
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target-" \
        "$work/corpus" >"$work/log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$work/log" || true
    else
        echo "fuzz: $target FAILED; log tail and reproducer:" >&2
        tail -n 40 "$work/log" >&2
        ls -1 "$ARTIFACTS"/"$target"-* >&2 2>/dev/null || true
        status=1
    fi
    ran=$((ran + 1))
    rm -rf "$work"
done
[ "$ran" -eq 3 ] || status=1
exit $status
