# Shared by the tools fs tests: skip rules, a private mount namespace, a scratch
# tree under /var/tmp, assertions that print "N passed, N failed", and cleanup
# that unmounts and ends only the daemons this test started.
# Callers set DURFS, MOUNT_DURFS, DURFSCTL before sourcing.
set -u
SKIP=77
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit $SKIP; }
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit $SKIP; }
command -v fusermount3 >/dev/null || { echo "SKIP: no fusermount3"; exit $SKIP; }
[ -x "$DURFS" ] || { echo "FAIL: durfs daemon not built at $DURFS"; exit 1; }

# Everything below runs in a private mount namespace: mounts made here (the
# helper overlay on /usr/sbin, durfs mounts) are invisible to the rest of the machine.
if [ -z "${DURFS_TOOLS_NS:-}" ]; then
    unshare --mount --propagation private true 2>/dev/null ||
        { echo "SKIP: cannot create a mount namespace"; exit $SKIP; }
    exec unshare --mount --propagation private env DURFS_TOOLS_NS=1 "$0" "$@"
fi

T=$(mktemp -d /var/tmp/durfs-tools.XXXXXX)
export DURFS_BIN=$DURFS
. "$(dirname "${BASH_SOURCE[0]}")/assert.sh"
is_durfs_mount() { findmnt -rn -M "$1" -o FSTYPE 2>/dev/null | grep -q '^fuse'; }
mount_count() { findmnt -rn -M "$1" | wc -l; }
# PIDs of the durfs daemons this test started: argv[0] is a durfs binary and an
# argument lies in our scratch tree.  With MOUNTPOINT, only the one serving it.
our_pids() {
    python3 - "$T/" "${1:-}" <<'PY'
import os, sys
tree, mnt = sys.argv[1], sys.argv[2]
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        args = open('/proc/%s/cmdline' % p, 'rb').read().decode(errors='replace').split('\0')
    except OSError:
        continue
    if os.path.basename(args[0]) != 'durfs' or not any(a.startswith(tree) for a in args[1:]):
        continue
    if not mnt or mnt in args[1:]:
        print(p)
PY
}
daemon_pid_for() { our_pids "$1" | head -1; }
# Wait (bounded; a guard against hangs, not a speed claim) for a pid to go away.
wait_gone() {
    local i
    for i in $(seq 1 600); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}
cleanup() {
    local m p
    for m in $(findmnt -rn -o TARGET | grep -F "$T/" | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    for p in $(our_pids); do kill -9 "$p" 2>/dev/null; done
    for m in $(findmnt -rn -o TARGET | grep -F "$T/" | sort -r); do umount -l "$m" 2>/dev/null; done
    [ -n "${HELPER_OVERLAY:-}" ] && umount -l /usr/sbin 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
