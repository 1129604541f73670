"""A full BACKING filesystem (the journal in BACKING/.durfs, the default).

A disk that fills up while the application is stopped is the common case: the
next mount must work, so that the operator (or the application) can delete
files through the mount.  Before the fix every mount of a cleanly unmounted
journal wrote recovery marks into JOURNAL/replay-map, also with nothing to
replay, and a full BACKING made durfs refuse to mount ("cannot append to the
replay map (No space left on device)").
"""
import os

import durfs_harness as H

H.require_root_fuse()


class FullBacking(H.LoopExt4Case):
    def test_clean_journal_mounts_on_a_full_backing(self):
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        os.mkdir(m.path('dir'))
        with open(m.path('dir', 'f'), 'wb') as f:
            f.write(b'acknowledged')
        self.assertEqual(self.fx.unmount(), 0)
        # outside BACKING, on its filesystem: the disk fills while durfs is down
        filler = os.path.join(self.disk, 'filler')
        H.fill_up(filler)
        self.assertEqual(os.statvfs(self.disk).f_bavail, 0)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        with open(m.path('dir', 'f'), 'rb') as f:
            self.assertEqual(f.read(), b'acknowledged')
        os.rename(m.path('dir', 'f'), m.path('dir', 'g'))
        os.unlink(m.path('dir', 'g'))
        os.unlink(filler)
        os.mkdir(m.path('after'))
        self.assertEqual(self.fx.unmount(), 0)
        m = self.fx.mount()
        self.assertEqual(sorted(os.listdir(m.path())), ['after', 'dir'])
        self.assertEqual(os.listdir(m.path('dir')), [])
        self.assertEqual(self.fx.unmount(), 0)

    def test_replay_on_a_full_backing_is_refused_naming_the_journal(self):
        """SIGKILL with records to replay, then BACKING fills up: the mount is
        refused with ENOSPC and an error naming the journal directory (before,
        only "replay-map", relative to a directory it did not name); once space
        is back the replay brings back every acknowledged change."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        for i in range(20):
            os.mkdir(m.path('d%d' % i))
        os.rename(m.path('d0'), m.path('renamed'))
        m.kill9()
        self.fx.m = None
        filler = os.path.join(self.disk, 'filler')
        H.fill_up(filler)
        refused = H.Mount(self.fx.backing, self.fx.mntdir, 'checkpoint_secs=3600')
        refused.log_path = os.path.join(self.fx.tmp, 'refused.log')  # not on the full disk
        with self.assertRaises(RuntimeError) as cm:
            refused.start()
        journal = os.path.join(self.fx.backing, '.durfs', 'journal')
        self.assertIn('journal %s' % journal, str(cm.exception))
        self.assertIn('No space left on device', str(cm.exception))
        os.unlink(filler)
        m = self.fx.mount()
        names = set(os.listdir(m.path()))
        self.assertEqual(names, {'renamed'} | {'d%d' % i for i in range(1, 20)})
        self.assertEqual(self.fx.unmount(), 0)


if __name__ == '__main__':
    H.main()
