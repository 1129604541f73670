# Assertions for the tools shell tests; results end with "N passed, N failed".
# Needs $T (a scratch directory).
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
show() { sed 's/^/    /' "$T/out" "$T/err" | head -20; }
# expect_rc WANT DESCRIPTION CMD... : runs CMD; stdout to $T/out, stderr to $T/err
expect_rc() {
    local want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$what (exit $rc)"; else
        bad "$what: exit $rc, wanted $want; output:"
        show
    fi
}
# out_has TEXT DESCRIPTION : the last command's stdout or stderr contains TEXT
out_has() {
    if cat "$T/out" "$T/err" | grep -qiF -- "$1"; then ok "$2"; else
        bad "$2: output lacks '$1':"
        show
    fi
}
# json_check PYEXPR DESCRIPTION : PYEXPR over d = the last stdout parsed as JSON
json_check() {
    if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" \
        "$T/out" 2>"$T/pyerr"; then ok "$2"; else
        bad "$2: ($1) false on:"
        show
        tail -2 "$T/pyerr"
    fi
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}
