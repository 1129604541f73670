"""Daemon-level checks of what only the daemon can get wrong (fs/ owns these; the
integration suite proper is tests/fs/):

* a rename of a regular file whose data is not yet durable makes the data durable
  first (dur_ns_prepare_rename) in ORDERED mode, where close does not sync --
  also after the kernel forgot the inode between close and rename (zombie
  nodes, fs/inode.c; without file handles, DURFS_TEST_NO_HANDLES=1, the data
  is made durable at forget instead) -- and a rename of a file whose data is already durable
  does not sync again;
* under the writeback cache, stat through the mount equals stat on BACKING
  after close (mtime kept equal to the kernel's, fs/ops_file.c).
The file_syncs counter of trusted.durfs.status counts the data syncs."""
import os
import unittest

import durfs_harness as H

H.require_root_fuse()


def write(path, data):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def drop_kernel_caches():
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('2\n')


class DaemonPolicy(unittest.TestCase):
    def setUp(self):
        self.fx = H.Fixture(opts='durability=ordered,commit=3600')
        self.m = self.fx.mount()

    def tearDown(self):
        self.fx.close()

    def syncs(self):
        return self.m.status()['file_syncs']

    def test_rename_syncs_dirty_source_first(self):
        p = self.m.path
        write(p('a.tmp'), b'new content')
        s0 = self.syncs()  # ordered: close did not sync
        os.rename(p('a.tmp'), p('a'))
        self.assertEqual(self.syncs(), s0 + 1, 'rename of unsynced data did not sync it first')
        os.rename(p('a'), p('b'))  # now clean: no second sync
        self.assertEqual(self.syncs(), s0 + 1, 'rename of durable data synced again')

    def test_rename_after_forget_still_syncs(self):
        p = self.m.path
        write(p('z.tmp'), b'x' * 5000)
        s0 = self.syncs()
        drop_kernel_caches()  # the kernel forgets the inode; the daemon keeps its state
        os.rename(p('z.tmp'), p('z'))
        if os.environ.get('DURFS_TEST_NO_HANDLES'):
            # no zombies without handles: the data is made durable at forget, and the
            # rename of the node looked up afresh may sync once more
            self.assertGreaterEqual(self.syncs(), s0 + 1,
                                    'forgotten dirty file renamed without a data sync')
        else:
            self.assertEqual(self.syncs(), s0 + 1,
                             'forgotten dirty file renamed without a data sync')
        with open(p('z'), 'rb') as f:
            self.assertEqual(f.read(), b'x' * 5000)

    def test_stat_matches_backing_after_close(self):
        for i in range(300):
            name = 'm%d' % (i % 7)
            write(self.m.path(name), b'y' * (i % 50))
            sm = os.stat(self.m.path(name))
            sb = os.stat(os.path.join(self.fx.backing, name))
            self.assertEqual((sm.st_mtime_ns, sm.st_size), (sb.st_mtime_ns, sb.st_size),
                             'iteration %d' % i)


if __name__ == '__main__':
    H.main()
