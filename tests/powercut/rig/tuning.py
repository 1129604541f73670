"""Keep unsynced data unsynced while the rig runs.

The kernel's periodic writeback would otherwise write dirty pages and commit
journals within seconds, hiding exactly the losses a power cut causes.  These
are global sysctls: we save them and always restore them (also on SIGINT/SIGTERM,
which the entry script turns into exceptions).
"""

SETTINGS = {
    "/proc/sys/vm/dirty_expire_centisecs": "360000",   # dirty data "old" after 1 h
    "/proc/sys/vm/dirty_writeback_centisecs": "0",     # no periodic flusher wakeups
    "/proc/sys/vm/dirty_ratio": "80",                  # (before background: must stay larger)
    "/proc/sys/vm/dirty_background_ratio": "50",       # no background writeback
    "/proc/sys/fs/xfs/xfssyncd_centisecs": "720000",   # XFS periodic log work
}


class WritebackHold:
    def __init__(self):
        self.saved = {}

    def __enter__(self):
        for path, value in SETTINGS.items():
            try:
                with open(path) as f:
                    self.saved[path] = f.read().strip()
                with open(path, "w") as f:
                    f.write(value)
            except OSError:
                pass  # e.g. xfs module not loaded yet: nothing to hold
        return self

    def __exit__(self, *exc):
        for path, value in self.saved.items():
            try:
                with open(path, "w") as f:
                    f.write(value)
            except OSError:
                pass
        return False
