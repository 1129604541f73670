#!/usr/bin/env bash
# Fresh Debian 12 machine -> durfs running over a default directory.
#   1. installs the build and run dependencies (apt-get)
#   2. builds everything and installs it (meson install: durfs, mount.durfs,
#      durfsctl, libdurability + headers + pkg-config file, man pages)
#   3. mounts durfs over DIR (default /var/lib/durfs-demo) at the same path,
#      writes a file the unsafe way (write tmp, rename, no fsync) and shows the
#      journal's status: that rename is already durable.
# Leaves the mount in place; `umount DIR` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/var/lib/durfs-demo}
if [ "$(id -u)" -ne 0 ]; then echo "quickstart: run as root (sudo $0)" >&2; exit 1; fi

export DEBIAN_FRONTEND=noninteractive
need=()
for p in meson ninja-build pkg-config gcc libfuse3-dev fuse3 libcmocka-dev libxxhash-dev attr; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== building"
if [ -d build ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
meson compile -C build >/dev/null
echo "== installing"
meson install -C build --quiet
ldconfig

mkdir -p "$DIR"
if mountpoint -q "$DIR"; then umount "$DIR"; fi
echo "== mounting durfs over $DIR (same path: the application keeps using $DIR)"
durfs -o durability=close "$DIR" "$DIR"
echo "hello from durfs, $(date)" > "$DIR/greeting.tmp"
mv "$DIR/greeting.tmp" "$DIR/greeting.txt"   # no fsync anywhere: durfs makes it durable
echo "== $DIR now holds:"
ls -la "$DIR"
cat "$DIR/greeting.txt"
echo "== journal status"
durfsctl status "$DIR"
echo "== durfs is mounted on $DIR; unmount with: umount $DIR"
