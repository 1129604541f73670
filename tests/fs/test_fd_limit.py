"""Programs holding as many files open through durfs as the daemon's fd limit
allows must not starve the journal: a checkpoint (which starts a new WAL
segment and writes a checkpoint file) still works, every change is still
journaled, and an open past the budget fails cleanly with EMFILE before
anything is created (fs/fd_budget.c).

Without the budget (fd_budget_take always 0) the held files take every fd the
daemon has: checkpoints fail ("checkpoint failed ... Too many open files" in
the log, the count stays put), and before the WAL put off rotations for want
of fds the journal was poisoned and every later change failed with EIO."""
import errno
import os
import resource
import time
import unittest

import durfs_harness as H

H.require_root_fuse()
DAEMON_FDS = 1024


class FdLimit(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        self.fx = H.Fixture(opts='checkpoint_secs=1', rlimit_nofile=DAEMON_FDS)
        self.held = []

    def tearDown(self):
        for fd in self.held:
            os.close(fd)
        self.fx.close()

    def hold_all_it_allows(self, m, d):
        os.mkdir(m.path(d))
        for i in range(DAEMON_FDS):
            try:
                self.held.append(os.open(m.path(d, 'f%04d' % i), os.O_CREAT | os.O_RDWR, 0o644))
            except OSError as e:
                self.assertEqual(e.errno, errno.EMFILE, 'open %d: %s; log:\n%s' % (i, e, m.log()))
                self.assertFalse(os.path.exists(os.path.join(self.fx.backing, d, 'f%04d' % i)),
                                 'a create refused for want of fds must create nothing')
                return i
        self.fail('the daemon took %d opens with an fd limit of %d' % (DAEMON_FDS, DAEMON_FDS))

    def test_held_files_leave_the_journal_its_fds(self):
        m = self.fx.mount()
        held = self.hold_all_it_allows(m, 'd')
        self.assertGreater(held, DAEMON_FDS // 3)
        with self.assertRaises(OSError) as cm:
            os.open(m.path(), os.O_RDONLY | os.O_DIRECTORY)
        self.assertEqual(cm.exception.errno, errno.EMFILE)
        before = m.status()['checkpoint']['count']
        deadline = time.time() + 15
        i = 0
        while m.status()['checkpoint']['count'] < before + 2 and time.time() < deadline:
            os.chmod(m.path('d', 'f0000'), 0o600 if i % 2 else 0o644)
            os.rename(m.path('d', 'f0001' if i % 2 == 0 else 'g0001'),
                      m.path('d', 'g0001' if i % 2 == 0 else 'f0001'))
            i += 1
            time.sleep(0.05)
        st = m.status()
        self.assertGreaterEqual(st['checkpoint']['count'], before + 2,
                                'no checkpoint while files are held; log:\n%s' % m.log())
        self.assertFalse(st['journal_failed'], m.log())
        self.assertNotIn('checkpoint failed', m.log())
        # the held handles still work, and once they go, opens work again
        os.write(self.held[2], b'still writable')
        os.fsync(self.held[2])
        for fd in self.held:
            os.close(fd)
        self.held = []
        os.close(os.open(m.path('d', 'after'), os.O_CREAT | os.O_WRONLY, 0o644))
        self.assertEqual(self.fx.unmount(), 0)
        m = self.fx.mount()
        self.assertTrue(os.path.exists(m.path('d', 'after')))
        with open(m.path('d', 'f0002'), 'rb') as f:
            self.assertEqual(f.read(), b'still writable')
        self.assertEqual(os.stat(m.path('d', 'f0000')).st_mode & 0o777, 0o600 if i % 2 == 0 else 0o644)
        self.assertEqual(self.fx.unmount(), 0)


if __name__ == '__main__':
    H.main()
