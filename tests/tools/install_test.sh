#!/usr/bin/env bash
# `meson install --destdir` puts binaries, mount helpers, man pages, headers and
# libdurability.pc in place, and a program builds against the installed headers
# and library through pkg-config with a sysroot.
#   install_test.sh BUILD_DIR
set -u
BUILD=$1
T=$(mktemp -d /tmp/durfs-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

D=$T/dest
if ! meson install -C "$BUILD" --destdir "$D" --no-rebuild --quiet >"$T/install.log" 2>&1; then
    cat "$T/install.log"
    echo "FAIL: meson install --destdir"
    echo "0 passed, 1 failed"
    exit 1
fi
prefix=$(meson introspect "$BUILD" --buildoptions | python3 -c '
import json,sys
o={x["name"]:x["value"] for x in json.load(sys.stdin)}
print(o["prefix"]); print(o["bindir"]); print(o["sbindir"]); print(o["libdir"]);
print(o["includedir"]); print(o["mandir"]); print(o["mount_helper_dir"])')
{ read -r P; read -r BIN; read -r SBIN; read -r LIB; read -r INC; read -r MAN; read -r HELPERS; } <<<"$prefix"
case $LIB in /*) ;; *) LIB=$P/$LIB ;; esac
case $HELPERS in /*) ;; *) HELPERS=$P/$HELPERS ;; esac

check "durfsctl in sbindir" "[ -x '$D$P/$SBIN/durfsctl' ]"
if [ -x "$BUILD/fs/durfs" ]; then
    check "durfs daemon in sbindir or bindir" "[ -x '$D$P/$SBIN/durfs' ] || [ -x '$D$P/$BIN/durfs' ]"
fi
check "mount.durfs in $HELPERS" "[ -x '$D$HELPERS/mount.durfs' ]"
check "mount.fuse.durfs -> mount.durfs" "[ \"\$(readlink '$D$HELPERS/mount.fuse.durfs')\" = mount.durfs ]"
for m in durfs.8 mount.durfs.8 durfsctl.8; do
    check "man page $m" "[ -s '$D$P/$MAN/man8/$m' ]"
done
check "umbrella header" "[ -f '$D$P/$INC/durability/durability.h' ] || [ -f '$D$P/$INC/durability.h' ]"
check "nsjournal.h" "[ -f '$D$P/$INC/durability/nsjournal.h' ]"
check "shared library" "ls '$D$LIB'/libdurability.so* >/dev/null 2>&1"
check "example systemd units" "[ -f '$D$P/share/doc/durfs/examples/var-lib-app.mount' ]"
PC=$D$LIB/pkgconfig
check "libdurability.pc" "[ -f '$PC/libdurability.pc' ]"

# Compile and run a program against the installed copy only.
cat >"$T/prog.c" <<'C'
#include <durability/error.h>
#include <durability/nsjournal.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    dur_ns_options o;
    dur_ns_options_default(&o);
    printf("%s %s\n", dur_code_name(DUR_E_CORRUPT), dur_ns_mode_name(o.mode));
    return strcmp(dur_code_name(DUR_E_CORRUPT), "corrupt") != 0;
}
C
flags=$(PKG_CONFIG_PATH=$PC PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs libdurability 2>"$T/pc.err")
check "pkg-config --cflags --libs libdurability (sysroot)" "[ -n \"\$flags\" ] && [[ \"\$flags\" == *-ldurability* ]] && [[ \"\$flags\" == *$D* ]]"
if cc -std=c17 -Wall -Werror -o "$T/prog" "$T/prog.c" $flags 2>"$T/cc.err"; then
    ok "compile against installed headers"
    # An ASan-built library needs its runtime first; that is not what this checks.
    out=$(ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 LD_LIBRARY_PATH=$D$LIB "$T/prog" 2>&1)
    check "run against installed library (got: $out)" "[ \"\$out\" = 'corrupt close' ]"
else
    cat "$T/cc.err" "$T/pc.err"
    bad "compile against installed headers"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
