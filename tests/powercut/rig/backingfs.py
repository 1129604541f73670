"""How each kernel filesystem under BACKING is made and mounted.

Live mount options make the kernel hold unsynced changes as long as possible, so
a snapshot shows what a power cut loses:
  ext4   noauto_da_alloc (no implicit flush on replace-by-rename/truncate) and
         commit=600 (no 5 s journal commit);
  btrfs  commit=600 (no 30 s transaction commit);
  xfs    defaults (delayed logging already holds metadata in memory; the 30 s
         log worker is slowed through fs.xfs.xfssyncd_centisecs, rig/tuning.py).
ext4-fc is ext4 made with fast_commit (opt-in, 5.10+): an fsync may then write a
fast commit of the tracked inodes instead of a full jbd2 commit, so it is the
ext4 variant whose ordering durfs's "fsync hardens all metadata" rests on least.
Snapshots are checked only after the live filesystem is unmounted, so identical
UUIDs never meet; XFS still gets nouuid because its UUID table can outlive the
unmount briefly.
"""
from . import sysutil

IMAGE_SIZE = 1 << 30  # sparse; XFS needs >= 300 MiB


class Profile:
    def __init__(self, name, mkfs, live_opts, snap_opts, fstype=None):
        self.name = name
        self.fstype = fstype or name
        self.mkfs = mkfs
        self.live_opts = live_opts
        self.snap_opts = snap_opts

    def make(self, image):
        sysutil.run(self.mkfs + [image])

    def mount_live(self, dev, target):
        sysutil.mount(dev, target, self.fstype, self.live_opts)

    def mount_snapshot(self, dev, target):
        sysutil.mount(dev, target, self.fstype, self.snap_opts)


PROFILES = {
    "ext4": Profile("ext4", ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"],
                    "noauto_da_alloc,commit=600", "noauto_da_alloc"),
    "ext4-fc": Profile("ext4-fc", ["mkfs.ext4", "-q", "-F", "-O", "fast_commit",
                                   "-E", "lazy_itable_init=0,lazy_journal_init=0"],
                       "noauto_da_alloc,commit=600", "noauto_da_alloc", fstype="ext4"),
    "xfs": Profile("xfs", ["mkfs.xfs", "-q", "-f", "-s", "size=4096"], "", "nouuid"),
    "btrfs": Profile("btrfs", ["mkfs.btrfs", "-q", "-f"], "commit=600", ""),
}


def profile(name):
    if name not in PROFILES:
        raise sysutil.RigError(f"unknown backing filesystem '{name}' "
                               f"(choose from {', '.join(PROFILES)})")
    return PROFILES[name]


def device_image_size():
    return IMAGE_SIZE
