#!/usr/bin/env bash
# Static checks over the C sources of core/, fs/, tools/ and tests/ (the tests, their
# helpers, the fuzz harnesses and the powercut nosync shim):
#   cppcheck      (warning, performance, portability), with the build's flags
#   clang-tidy    (checks in .clang-tidy; tests/.clang-tidy drops three cert checks
#                 for tests/ and reports header findings there in tests/ headers only),
#                 with the build's flags
#   clang-format  (config .clang-format) over the C sources and headers in FORMAT_DIRS
# Exits 1 on any finding, 2 on a usage/setup error.
#
#   tests/lint.sh [BUILD_DIR]     BUILD_DIR: a configured meson build (default: build)
#   LINT_JOBS=N                   parallel clang-tidy processes (default 2)
#   LINT_ONLY="a.c b.c"           lint just these files (paths from the repo root)
#   LINT_VERBOSE=1                show clang-tidy's full explanation (notes) of each finding
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
JOBS=${LINT_JOBS:-2}
FORMAT_DIRS=(core fs tools tests)

die() {
    echo "lint: $*" >&2
    exit 2
}
[ -f "$BUILD/compile_commands.json" ] ||
    die "$BUILD/compile_commands.json not found: run 'meson setup $BUILD' first"
for tool in cppcheck clang-tidy clang-format python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -n "${LINT_ONLY:-}" ]; then
    read -r -a srcs <<<"$LINT_ONLY"
else
    # Tracked and new (not ignored) files, so work not yet committed is checked too.
    mapfile -t srcs < <(git ls-files -co --exclude-standard \
        'core/*.c' 'fs/*.c' 'tools/*.c' 'tests/*.c')
fi
[ ${#srcs[@]} -gt 0 ] || die "no sources to check"

# meson lists a file once per target that compiles it (core/ goes into a shared
# and a static library).  clang-tidy would then analyse such a file twice in one
# process, and clang-tidy 14 carries analyzer state from the first run into the
# second (spurious valist.Uninitialized reports), so keep the first entry per file.
# Files not in the build are reported, not silently skipped.
python3 - "$BUILD/compile_commands.json" "$tmp" "${srcs[@]}" <<'EOF'
import json, os, sys
db, out, srcs = sys.argv[1], sys.argv[2], sys.argv[3:]
seen, entries = set(), []
for e in json.load(open(db)):
    path = os.path.realpath(os.path.join(e["directory"], e["file"]))
    if path not in seen:
        seen.add(path)
        entries.append(e)
json.dump(entries, open(os.path.join(out, "compile_commands.json"), "w"))
missing = [s for s in srcs if os.path.realpath(s) not in seen]
open(os.path.join(out, "missing"), "w").write("".join(m + "\n" for m in missing))
EOF
mapfile -t missing <"$tmp/missing"
status=0
if [ ${#missing[@]} -gt 0 ]; then
    echo "lint: not compiled by $BUILD (add to meson.build or reconfigure): ${missing[*]}"
    status=1
fi
built=()
for f in "${srcs[@]}"; do
    case " ${missing[*]} " in *" $f "*) ;; *) built+=("$f") ;; esac
done

echo "== cppcheck (${#built[@]} files)"
filters=()
for f in "${built[@]}"; do filters+=("--file-filter=$ROOT/$f"); done
# style is on for its bug-like checks (knownConditionTrueFalse, shadowVariable,
# clarifyCalculation, unreadVariable); the two pure-taste ones are off.
cppcheck --quiet --error-exitcode=1 --enable=style,warning,performance,portability \
    --suppress=variableScope --suppress=constParameter \
    --inline-suppr --suppress=missingIncludeSystem --template=gcc -j "$JOBS" \
    --project="$tmp/compile_commands.json" "${filters[@]}" 2>&1 || status=1

echo "== clang-tidy (${#built[@]} files, $JOBS jobs)"
# One file per process (state leaks between files in one process, see above).
# analyzer-hints.h tells the analyzer that the error helpers return their code
# argument; error.c and path.c define those helpers, so they go without it.
tidy_one() { # file -> $tmp/tidy/<file>.log; exit status of clang-tidy
    local f=$1 log extra=()
    log="$tmp/tidy/${f//\//_}.log"
    case "$f" in
    core/src/error.c | core/src/path.c) ;;
    *) extra=(--extra-arg=-include --extra-arg="$ROOT/tests/lint/analyzer-hints.h") ;;
    esac
    clang-tidy --quiet -p "$tmp" "${extra[@]}" "$ROOT/$f" >"$log" 2>&1
}
export -f tidy_one
export tmp ROOT
mkdir -p "$tmp/tidy"
if ! printf '%s\n' "${built[@]}" | xargs -P "$JOBS" -I{} bash -c 'tidy_one "$1"' _ {}; then
    status=1
    if [ "${LINT_VERBOSE:-0}" = 1 ]; then
        cat "$tmp"/tidy/*.log | grep -v -E '^[0-9]+ (warning|error)s? generated|^Suppressed |^Use -header-filter|NOLINT'
    else
        # A header finding shows once per file including it: print each once.
        found=$(cat "$tmp"/tidy/*.log | grep -E ': (warning|error): ' |
            sed -e "s|^$ROOT/||" -e 's|^\(.*\/\)\?\.\./||' | sort -u || true)
        if [ -n "$found" ]; then
            echo "$found"
            echo "(LINT_VERBOSE=1 for the analyzer's path to each finding)"
        else # clang-tidy failed without a diagnostic line (crash, bad flags): show all
            cat "$tmp"/tidy/*.log
        fi
    fi
fi

echo "== clang-format"
mapfile -t fmt < <(git ls-files -co --exclude-standard "${FORMAT_DIRS[@]/%//*.c}" "${FORMAT_DIRS[@]/%//*.h}")
if [ -n "${LINT_ONLY:-}" ]; then fmt=("${srcs[@]}"); fi
if ! clang-format --dry-run --Werror "${fmt[@]}" 2>"$tmp/format.log"; then
    echo "not formatted (fix with: clang-format -i FILE):"
    grep -E ': (error|warning): code should be clang-formatted' "$tmp/format.log" | cut -d: -f1 |
        sed "s|^$ROOT/||" | sort -u
    status=1
fi

[ $status -eq 0 ] && echo "== lint clean"
exit $status
