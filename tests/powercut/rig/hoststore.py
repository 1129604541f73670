"""Where the backing filesystem's device image lives: a reflink-capable XFS.

Why: a snapshot must be ONE instant of the device.  Reading the device while the
filesystem keeps writing gives a torn copy no power cut could produce.  Instead
the test device is a loop device in direct-I/O mode over an image file on this
host XFS, and a snapshot is FICLONE (reflink) of that image.  XFS's remap takes
the image inode's IOLOCK and MMAPLOCK exclusively and waits for all in-flight
direct I/O (inode_dio_wait) before sharing the extents, so the clone holds every
device write that completed before it and none that started after it: exactly
the device of a machine whose power failed at that instant (with a write-through
device cache; see docs/powercut.md for the limits).

The host XFS itself sits on a loop device over a sparse file in /dev/shm (fast,
and its own durability is irrelevant: it is only a copy-on-write store).
"""
import fcntl
import os

from . import sysutil

FICLONE = 0x40049409


class HostStore:
    def __init__(self, workdir, size_gib=8):
        self.workdir = workdir
        self.image = os.path.join("/dev/shm", f"durfs-powercut-host-{os.getpid()}.img")
        self.mnt = os.path.join(workdir, "host")
        self.size = size_gib << 30
        self.dev = None

    def __enter__(self):
        with open(self.image, "wb") as f:
            f.truncate(self.size)
        try:
            sysutil.run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", self.image])
            self.dev = sysutil.loop_attach(self.image, direct_io=False)
            sysutil.mount(self.dev, self.mnt, "xfs", "")
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if sysutil.is_mounted(self.mnt):
            sysutil.umount(self.mnt)
        if self.dev:
            sysutil.loop_detach(self.dev)
            self.dev = None
        if os.path.exists(self.image):
            os.unlink(self.image)
        return False

    def path(self, name):
        return os.path.join(self.mnt, name)

    def new_image(self, name, size):
        p = self.path(name)
        with open(p, "wb") as f:
            f.truncate(size)
        return p

    def clone(self, src, dst):
        """Point-in-time copy of src (see module comment for why it is one instant)."""
        with open(src, "rb") as s, open(dst, "wb") as d:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
        return dst

    def remove(self, name_or_path):
        p = name_or_path if os.path.isabs(name_or_path) else self.path(name_or_path)
        if os.path.exists(p):
            os.unlink(p)
