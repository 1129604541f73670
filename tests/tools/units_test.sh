#!/usr/bin/env bash
# The example systemd units parse cleanly (systemd-analyze verify: no unknown keys,
# name matching Where=), and the example fstab lines are accepted by mount.durfs.
#   units_test.sh SRC_TOOLS_DIR MOUNT_DURFS
set -u
SRC=$1 MOUNT_DURFS=$(realpath "$2")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/assert.sh"
if command -v systemd-analyze >/dev/null; then
    cp "$SRC/systemd/var-lib-app.mount" "$SRC/systemd/app.service" "$T/"
    expect_rc 0 "systemd-analyze verify var-lib-app.mount" systemd-analyze verify --man=no "$T/var-lib-app.mount"
    [ ! -s "$T/err" ] && ok "mount unit: no warnings" || { bad "mount unit warnings:"; show; }
    # The example application's binary does not exist here; nothing else may be wrong.
    systemd-analyze verify --man=no "$T/app.service" >"$T/out" 2>"$T/err"
    grep -v "/usr/local/bin/app" "$T/err" >"$T/err2"
    [ ! -s "$T/err2" ] && ok "app.service: no warnings beyond the example binary" || { bad "app.service:"; cat "$T/err2"; }
else
    echo "skip: no systemd-analyze"
fi
# Every option of every example fstab line must pass mount.durfs's checks (-f: fake).
mkdir -p "$T/dir"
while read -r src dst type opts _; do
    case $src in ''|'#'*) continue ;; esac
    expect_rc 0 "fstab.example line for $dst ($type) accepted" env DURFS_BIN=/bin/true \
        "$MOUNT_DURFS" -f "$T/dir" "$T/dir" -o "$opts"
done <"$SRC/systemd/fstab.example"
expect_rc 0 "var-lib-app.mount Options= accepted" env DURFS_BIN=/bin/true "$MOUNT_DURFS" -f "$T/dir" "$T/dir" \
    -o "$(sed -n 's/^Options=//p' "$SRC/systemd/var-lib-app.mount")"
finish
