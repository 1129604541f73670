"""What durfs trusts of the backing filesystem decides where it syncs.

ext4 with fast_commit: the power-cut rig (tests/powercut, --fs ext4-fc) saw
programs that fsync correctly lose appended data there after a cut (kernel
6.18; docs/powercut.md finding 8).  durfs detects the feature at mount and
makes every in-place file sync a syncfs of BACKING (a full jbd2 commit) instead
of trusting the file's fsync.  The same fsync on plain ext4 stays a file fsync:
that case is the control showing the assertion can fail.

Removing the fast_commit case from ns_file_sync_is_syncfs (core/src/ns_internal.h)
makes both fast_commit tests fail: the fsync, or the O_SYNC write, then adds no
syncfs.
"""
import os

import durfs_harness as H

H.require_root_fuse()

BIG = 1 << 20  # over data_journal= (64 KiB): synced in place, never journaled


class BackingPolicy(H.LoopExt4Case):
    def mount_ext4(self, *features):
        self.backing_on_ext4(256 << 20, features)
        return self.fx.mount(opts='checkpoint_secs=3600')  # no checkpoint syncfs meanwhile

    def syncfs_added_by_fsync(self, m):
        """syncfs calls that one fsync of a big, freshly written file adds; the
        create before it is already committed, so nothing else is pending."""
        fd = os.open(m.path('big'), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.fsync(fd)  # the create (and any hook syncfs it needs) done first
            os.write(fd, os.urandom(BIG))
            before = m.status()['syncfs_calls']
            os.fsync(fd)
            return m.status()['syncfs_calls'] - before
        finally:
            os.close(fd)

    def syncfs_added_by_osync_write(self, m):
        """syncfs calls that one write through an O_SYNC fd adds (create done first).
        The kernel follows such a write with an FSYNC request (writeback cache), so
        this is the fsync path again, seen from an O_SYNC program; the O_DSYNC
        backing-fd branch of dur_ns_file_written is not reached here."""
        fd = os.open(m.path('osync'), os.O_WRONLY | os.O_CREAT | os.O_SYNC, 0o644)
        try:
            os.fsync(fd)
            before = m.status()['syncfs_calls']
            os.write(fd, os.urandom(BIG))
            return m.status()['syncfs_calls'] - before
        finally:
            os.close(fd)

    def test_fast_commit_osync_write_is_followed_by_a_syncfs(self):
        m = self.mount_ext4('fast_commit')
        self.assertGreaterEqual(self.syncfs_added_by_osync_write(m), 1)

    def test_fast_commit_file_fsync_is_a_syncfs(self):
        m = self.mount_ext4('fast_commit')
        fs = m.status()['fs']
        self.assertEqual(fs['name'], 'ext4 (fast_commit)', fs)
        self.assertFalse(fs['file_fsync_trusted'], fs)
        self.assertFalse(fs['fsync_hardens_all_metadata'], fs)
        self.assertGreaterEqual(self.syncfs_added_by_fsync(m), 1)
        with open(m.path('big'), 'rb') as f:
            self.assertEqual(len(f.read()), BIG)

    def test_plain_ext4_file_fsync_stays_a_file_fsync(self):
        m = self.mount_ext4()
        fs = m.status()['fs']
        self.assertEqual(fs['name'], 'ext4', fs)
        self.assertTrue(fs['file_fsync_trusted'], fs)
        self.assertTrue(fs['fsync_hardens_all_metadata'], fs)
        self.assertEqual(self.syncfs_added_by_fsync(m), 0)


if __name__ == '__main__':
    H.main()
