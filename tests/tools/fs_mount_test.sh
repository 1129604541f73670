#!/usr/bin/env bash
# mount -t durfs, /etc/fstab-style tables through mount -a -T and mount -T (types
# durfs and fuse.durfs, with systemd/mount-only options), mounting over the same
# directory, umount and fusermount3 -u leaving a clean journal, and clear errors
# with mount(8) exit codes for bad options and missing directories.
#   fs_mount_test.sh DURFS MOUNT_DURFS DURFSCTL
DURFS=$(realpath "$1") MOUNT_DURFS=$(realpath "$2") DURFSCTL=$(realpath "$3")
. "$(dirname "$0")/lib.sh"

# mount(8) runs helpers from /sbin only: lay ours over /usr/sbin, in this
# namespace only, without touching the real directory.
mkdir -p "$T/helpers"
ln -s "$MOUNT_DURFS" "$T/helpers/mount.durfs"
ln -s "$MOUNT_DURFS" "$T/helpers/mount.fuse.durfs"
if ! mount -t overlay overlay -o "lowerdir=$T/helpers:/usr/sbin" /usr/sbin; then
    echo "SKIP: cannot overlay /usr/sbin (no overlayfs?)"
    exit $SKIP
fi
HELPER_OVERLAY=1

# unmount_clean HOW DIR BACKING: unmount, wait for the daemon, journal must verify clean.
unmount_clean() {
    local how=$1 dir=$2 backing=$3 pid
    pid=$(daemon_pid_for "$dir")
    if [ "$how" = fusermount ]; then
        expect_rc 0 "fusermount3 -u $dir" fusermount3 -u "$dir"
    else
        expect_rc 0 "umount $dir" umount "$dir"
    fi
    if [ -n "$pid" ] && ! wait_gone "$pid"; then bad "daemon $pid still running after unmount"; fi
    expect_rc 0 "journal of $backing verifies clean after $how" "$DURFSCTL" verify "$backing"
    out_has "clean" "verify says clean"
}

mkdir -p "$T"/{b1,m1,b2,m2,b3,m3,same,b5,m5}

echo "== mount -t durfs with fstab-only options"
expect_rc 0 "mount -t durfs" mount -t durfs \
    -o durability=sync,nofail,_netdev,x-systemd.requires=foo.service,nodev "$T/b1" "$T/m1"
if is_durfs_mount "$T/m1"; then ok "m1 is a FUSE mount"; else bad "m1 not mounted"; fi
echo hello >"$T/m1/file" && [ "$(cat "$T/b1/file")" = hello ] && ok "write through m1 lands in b1" ||
    bad "write through m1 not in b1"
expect_rc 0 "status of m1" "$DURFSCTL" status "$T/m1" --json
json_check "d['mode'] == 'sync'" "durability=sync reached the daemon"
findmnt -rn -M "$T/m1" -o OPTIONS >"$T/out"
out_has "nodev" "nodev passed to FUSE"
mkdir -p "$T/m1b"
expect_rc 32 "second mount of a backing already served" mount -t durfs "$T/b1" "$T/m1b"
out_has "$(daemon_pid_for "$T/m1")" "error names the pid holding the lock"
is_durfs_mount "$T/m1b" && bad "second daemon mounted" || ok "second daemon did not mount"
unmount_clean umount "$T/m1" "$T/b1"

echo "== mount -a -T with types durfs and fuse.durfs"
cat >"$T/fstab" <<FSTAB
# scratch fstab for the tools test
$T/b2  $T/m2  durfs       defaults,durability=ordered,commit=2,nofail,_netdev,x-systemd.requires=network-online.target,comment=test  0 0
$T/b3  $T/m3  fuse.durfs  nofail,_netdev,x-systemd.requires=foo.service,x-systemd.automount,noatime  0 0
$T/same  $T/same  durfs   noauto,durability=close  0 0
FSTAB
expect_rc 0 "mount -a -T fstab" mount -a -T "$T/fstab"
is_durfs_mount "$T/m2" && ok "durfs line mounted" || bad "durfs line not mounted"
is_durfs_mount "$T/m3" && ok "fuse.durfs line mounted" || bad "fuse.durfs line not mounted"
is_durfs_mount "$T/same" && bad "noauto line was mounted by -a" || ok "noauto line left alone"
expect_rc 0 "status of m2" "$DURFSCTL" status "$T/m2" --json
json_check "d['mode'] == 'ordered'" "durability=ordered from fstab reached the daemon"
expect_rc 0 "status of m3" "$DURFSCTL" status "$T/m3" --json
json_check "d['mode'] == 'close'" "fuse.durfs line runs in the default mode"
expect_rc 0 "mount -a -T again" mount -a -T "$T/fstab"
[ "$(mount_count "$T/m2")" -eq 1 ] && ok "second mount -a does not stack a mount" ||
    bad "second mount -a stacked a second mount on m2"
unmount_clean fusermount "$T/m3" "$T/b3"
unmount_clean umount "$T/m2" "$T/b2"

echo "== type fuse.durfs through mount.fuse3 (no mount.fuse.durfs installed)"
# mount.fuse3 runs "durfs BACKING DIR -o OPTS" from PATH, passing fstab options on.
mkdir -p "$T/pathbin" "$T/b4" "$T/m4"
ln -s "$DURFS" "$T/pathbin/durfs"
expect_rc 0 "mount.fuse3 -t fuse.durfs with fstab options" env PATH="$T/pathbin:$PATH" \
    /usr/sbin/mount.fuse3 "$T/b4" "$T/m4" -t fuse.durfs \
    -o durability=ordered,nofail,_netdev,x-systemd.requires=foo.service,comment=x
is_durfs_mount "$T/m4" && ok "mounted through mount.fuse3" || bad "mount.fuse3 path did not mount"
expect_rc 0 "status of m4" "$DURFSCTL" status "$T/m4" --json
json_check "d['mode'] == 'ordered'" "options reached the daemon through mount.fuse3"
unmount_clean umount "$T/m4" "$T/b4"

echo "== mount -T over the same directory"
echo "written before the mount" >"$T/same/before.txt"
expect_rc 0 "mount -T fstab DIR (BACKING = DIR)" mount -T "$T/fstab" "$T/same"
is_durfs_mount "$T/same" && ok "same-path mount is FUSE" || bad "same-path not mounted"
[ "$(cat "$T/same/before.txt" 2>/dev/null)" = "written before the mount" ] &&
    ok "files from before the mount visible through it" || bad "pre-existing file not visible"
echo after >"$T/same/after.tmp" && mv "$T/same/after.tmp" "$T/same/after.txt"
ls -a "$T/same" >"$T/out"
grep -qx ".durfs" "$T/out" && bad ".durfs journal visible in the mount" || ok ".durfs hidden from the mount"
expect_rc 0 "status on same-path mount" "$DURFSCTL" status "$T/same"
out_has "$T/same" "status names the backing path"
expect_rc 3 "offline verify refuses a mounted path" "$DURFSCTL" verify "$T/same"
out_has "umount" "refusal says to unmount first"
# umount returns before the daemon's final checkpoint; the new durfs waits for
# the old daemon instead of failing with "in use".
expect_rc 0 "umount, then mount again at once" sh -c "umount '$T/same' && mount -T '$T/fstab' '$T/same'"
is_durfs_mount "$T/same" && ok "remounted" || bad "not remounted"
[ "$(cat "$T/same/after.txt" 2>/dev/null)" = after ] && ok "file still there after remount" || bad "after.txt lost"
unmount_clean umount "$T/same" "$T/same"
[ "$(cat "$T/same/after.txt" 2>/dev/null)" = after ] && ok "file written through mount is in the directory" ||
    bad "after.txt missing after unmount"

echo "== bad options, missing directories"
expect_rc 1 "mount -t durfs with durability=fast" mount -t durfs -o durability=fast "$T/b5" "$T/m5"
out_has "durability=fast" "error names the bad option"
expect_rc 1 "mount.durfs with a misspelt option" "$MOUNT_DURFS" "$T/b5" "$T/m5" -o durablity=sync
out_has "durablity" "error names the misspelt option"
expect_rc 1 "mount.durfs with commit=0" "$MOUNT_DURFS" "$T/b5" "$T/m5" -o commit=0
expect_rc 1 "mount.durfs with one argument" "$MOUNT_DURFS" "$T/b5"
expect_rc 32 "mount -t durfs with missing backing" mount -t durfs "$T/nonexistent" "$T/m5"
out_has "does not exist" "error says the backing directory does not exist"
out_has "$T/nonexistent" "error names the missing path"
expect_rc 32 "mount.durfs with missing mount point" "$MOUNT_DURFS" "$T/b5" "$T/nodir"
out_has "mount point" "error names the mount point"
echo "$T/b5 $T/m5 durfs bogus_option 0 0" >"$T/fstab.bad"
expect_rc 1 "mount -T with an unknown option in fstab" mount -T "$T/fstab.bad" "$T/m5"
out_has "bogus_option" "fstab error names the option"
is_durfs_mount "$T/m5" && bad "m5 mounted despite errors" || ok "nothing mounted on errors"
expect_rc 0 "mount.durfs -f (fake) checks without mounting" "$MOUNT_DURFS" -f "$T/b5" "$T/m5" -o ro
is_durfs_mount "$T/m5" && bad "fake mode mounted" || ok "fake mode did not mount"

finish
