"""A writeback error of the backing filesystem is reported to the program even
where durfs journals a small file's content instead of fdatasyncing it
(docs/design.md 3a): the failed pages can be evicted, and a content read
afterwards is stale, so logging it and answering success would hide lost data
(the ATC'20 fsync-failure lesson).

The error is real: BACKING is ext4 on a loop device whose image is a sparse file
on a small tmpfs, filled up after mkfs, so writes of new data blocks fail with
ENOSPC while ext4's journal and metadata (written at mkfs) keep working.  The
journal is on another filesystem (-o journal=).
"""
import errno
import os
import subprocess

import durfs_harness as H

H.require_root_fuse()


def fail_writeback_and_evict(path):
    """Make a write-back of path fail and wait for it, through an fd of our own: its
    fdatasync reports the error, which proves the failure.  Each try dirties a block
    not yet written (allocated, then written, at write-back; a few of the image's
    pages were written by mkfs, so one try is not always enough), staying below the
    64 KiB up to which durfs journals the content.  Then drop every clean page
    cache, the FUSE mount's included, as memory pressure would.  durfs's fd was
    opened before: the error is still unseen through it."""
    def dirty_new_blocks_until_a_sync_fails(fd):
        for off in range(8192, 60 << 10, 4096):
            os.pwrite(fd, b'x', off)
            os.fdatasync(fd)

    fd = os.open(path, os.O_RDWR)
    try:
        failed = H.errno_of(dirty_new_blocks_until_a_sync_fails, fd)
    finally:
        os.close(fd)
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')
    return failed


class WritebackError(H.LoopExt4Case):
    def setUp(self):
        super().setUp()
        self.store = os.path.join(self.fx.tmp, 'store')
        self.journal = os.path.join(self.fx.tmp, 'journal')
        os.mkdir(self.store)
        H.run_or_skip('mount', '-t', 'tmpfs', '-o', 'size=48m', 'durfs-test-store', self.store)
        self.backing_on_ext4(256 << 20, image=os.path.join(self.store, 'img'))

    def tearDown(self):
        self.release_mounts()
        subprocess.run(['umount', self.store], capture_output=True)
        self.fx.close()

    def check_reported(self, how):
        """Journaled content written back with an error, evicted, then the file is
        appended to and closed or fdatasynced: the call fails, and so does the next
        one (sticky: never a later success for data that may be lost)."""
        m = self.fx.mount(opts='checkpoint_secs=3600,journal=%s' % self.journal)
        s0 = m.status()
        with open(m.path('f'), 'wb') as f:
            f.write(b'v2 ' * 1000)
        s1 = m.status()
        if s1['file_data_records'] == s0['file_data_records']:
            self.skipTest('content not journaled at close here: %s' % s1['fs'])
        H.fill_up(os.path.join(self.store, 'fill'))
        for attempt in range(2):
            with self.assertRaises(OSError, msg='%s #%d' % (how, attempt)) as cm:
                with open(m.path('f'), 'ab') as f:
                    if attempt == 0:
                        failed = fail_writeback_and_evict(os.path.join(self.fx.backing, 'f'))
                        self.assertIn(failed, (errno.EIO, errno.ENOSPC),
                                      'the backing write-back did not fail')
                    f.write(b'v3')
                    if how == 'fdatasync':
                        f.flush()
                        os.fdatasync(f.fileno())
            self.assertIn(cm.exception.errno, (errno.EIO, errno.ENOSPC))
        self.assertGreaterEqual(m.status()['errors'], 2)  # the sticky repeat counts too

    def test_failed_truncate_fsync_is_sticky(self):
        """A truncate's own fsync (docs/design.md section 4) is the first to see a
        write-back error of the file: the truncate fails, and so must every later
        sync of the file, or the fsync after it would succeed through the same
        backing fd, whose error the truncate's fsync consumed.  Without marking
        the file's state failed there the fsync and fdatasync below succeed
        (checked)."""
        m = self.fx.mount(opts='checkpoint_secs=3600,journal=%s' % self.journal)
        with open(m.path('f'), 'wb') as f:
            f.write(b'v2 ' * 1000)
        fd = os.open(m.path('f'), os.O_RDWR)
        try:
            H.fill_up(os.path.join(self.store, 'fill'))
            failed = fail_writeback_and_evict(os.path.join(self.fx.backing, 'f'))
            self.assertIn(failed, (errno.EIO, errno.ENOSPC), 'the backing write-back did not fail')
            self.assertIn(H.errno_of(os.ftruncate, fd, 100), (errno.EIO, errno.ENOSPC))
            self.assertNotEqual(H.errno_of(os.fsync, fd), 0, 'fsync after the failed truncate')
            self.assertNotEqual(H.errno_of(os.fdatasync, fd), 0, 'fdatasync after it')
        finally:
            H.errno_of(os.close, fd)

    def test_close_reports_a_writeback_error_of_journaled_content(self):
        self.check_reported('close')

    def test_fdatasync_reports_a_writeback_error_of_journaled_content(self):
        self.check_reported('fdatasync')


class RefusedWriteBack(H.LoopExt4Case):
    """BACKING full: the kernel accepted the program's write(2) into its page cache,
    and its write-back to BACKING fails.  The kernel reports that once (close);
    durfs must keep failing every later sync of the file, also through a new fd,
    since the data is gone.  And a program that keeps writing must be told.  Without dur_file_state_note_lost_write in the WRITE
    handler the reopened file's fsync succeeds and this test fails (checked)."""

    def setUp(self):
        super().setUp()
        self.backing_on_ext4(32 << 20)

    def test_refused_write_back_fails_every_later_sync(self):
        journal = os.path.join(self.fx.tmp, 'journal')  # not on the full disk
        m = self.fx.mount(opts='journal=%s' % journal)
        H.fill_up(os.path.join(self.fx.backing, 'fill'))
        f = os.open(m.path('f'), os.O_WRONLY | os.O_CREAT, 0o644)
        self.assertEqual(os.write(f, b'lost' * 65536), 4 * 65536)  # into the page cache
        self.assertIn(H.errno_of(os.close, f), (errno.ENOSPC, errno.EIO), 'close succeeded')
        # Attempt 0 fails without durfs too: the kernel hands its unseen write-back
        # error to the first fsync of a newly opened fd.  Attempt 1 is durfs's.
        for attempt in range(2):
            f = os.open(m.path('f'), os.O_RDWR)
            try:
                self.assertNotEqual(H.errno_of(os.fsync, f), 0, 'fsync #%d after the loss' % attempt)
            finally:
                H.errno_of(os.close, f)
        st = os.stat(os.path.join(self.fx.backing, 'f'))
        self.assertLess(st.st_size, 4 * 65536)
        # the daemon names the file: the lost write-back once, then the failed close
        # and fsyncs (one line per 10 s: test_a_program_retrying_fsync_...)
        self.assertEqual(m.log().count('writing cached data of BACKING inode %d ' % st.st_ino), 1,
                         m.log())
        self.assertIn('close of BACKING inode %d:' % st.st_ino, m.log())
        self.assertEqual(m.status()['lost_writebacks'], 1)
        status = H.durfsctl('status', m.mnt)
        self.assertIn('LOST DATA:        1 file(s)', status)
        self.assertIn('durable now:      yes for everything acknowledged (the LOST DATA', status)

    def test_a_program_retrying_fsync_does_not_flood_the_log(self):
        """Every fsync of a file whose data was lost fails, and a program may retry
        in a loop: one log line per file per 10 s, not one per call (a probe saw
        ~4,000 LOG_ERR lines in 10 s; without log_limit_pass in file_errno the log
        holds a line per call, checked).  The daemon's log is kept off the full
        disk (durfs_harness Fixture.mount), or its lines would be lost."""
        m = self.fx.mount(opts='journal=%s' % os.path.join(self.fx.tmp, 'journal'))
        H.fill_up(os.path.join(self.fx.backing, 'fill'))
        f = os.open(m.path('f'), os.O_WRONLY | os.O_CREAT, 0o644)
        self.assertEqual(os.write(f, b'lost' * 65536), 4 * 65536)
        self.assertNotEqual(H.errno_of(os.close, f), 0)
        ino = os.stat(m.path('f')).st_ino
        failed = 0
        for _ in range(100):
            f = os.open(m.path('f'), os.O_RDWR)
            failed += H.errno_of(os.fsync, f) != 0
            failed += H.errno_of(os.close, f) != 0
        self.assertEqual(failed, 200)
        lines = [x for x in m.log().splitlines() if 'of BACKING inode %d' % ino in x]
        self.assertLessEqual(len(lines), 3, '\n'.join(lines))

    def test_write_back_cut_short_reports_why(self):
        """A write-back that BACKING takes only in part must report BACKING's
        errno, as a local filesystem's write(2) would: here 8 KiB written back
        across ext4's largest file size (natively: 4 KiB written, then EFBIG).
        fuse_buf_copy drops the errno of a short copy; without asking BACKING
        about the first byte not written (short_write_errno) fsync says EIO
        (checked)."""
        m = self.fx.mount(opts='journal=%s' % os.path.join(self.fx.tmp, 'journal'))
        native = os.open(os.path.join(self.fx.backing, 'native'), os.O_WRONLY | os.O_CREAT, 0o644)
        end = ((1 << 32) - 1) * os.statvfs(self.fx.backing).f_bsize  # ext4's largest file
        try:
            self.assertEqual(os.pwrite(native, bytes(8192), end - 4096), 4096)
            self.assertEqual(H.errno_of(os.pwrite, native, bytes(4096), end), errno.EFBIG)
        finally:
            os.close(native)
        f = os.open(m.path('f'), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            self.assertEqual(os.pwrite(f, bytes(8192), end - 4096), 8192)  # page cache
            self.assertEqual(H.errno_of(os.fsync, f), errno.EFBIG)
        finally:
            H.errno_of(os.close, f)

    def test_streaming_writer_gets_enospc(self):
        """A program writing a stream into a full BACKING must see write(2) fail,
        as on a local filesystem, not write on forever into the page cache while
        BACKING refuses every page.  The failure comes a few writes late (the
        write-back lags), once per refusal; reads of the file and writes to
        another file once space is freed are unaffected.  Without the GETATTR
        refusal (ops_entry.c) all 1 GiB of writes succeed and this fails."""
        m = self.fx.mount(opts='journal=%s' % os.path.join(self.fx.tmp, 'journal'))
        H.fill_up(os.path.join(self.fx.backing, 'fill'))
        reader = os.open(m.path('stream'), os.O_RDONLY | os.O_CREAT, 0o644)
        f = os.open(m.path('stream'), os.O_WRONLY)
        written, failed = 0, 0
        try:
            while written < (1 << 30) and not failed:
                failed = H.errno_of(os.write, f, bytes(1 << 20))
                written += 1 << 20
            self.assertEqual(failed, errno.ENOSPC, 'wrote %d MiB into a full BACKING' % (written >> 20))
            self.assertEqual(H.errno_of(os.pread, reader, 4096, 0), 0)  # readers are not told
            self.assertEqual(H.errno_of(os.fstat, f), 0)
            # Refuse one more write-back (the fsync reports it), then free space:
            # the refusal is stale and the writer's next write(2) goes through
            # (a spurious ENOSPC here before the free-space check, found in review).
            for _ in range(5):
                H.errno_of(os.write, f, bytes(4096))  # may be the one told instead
                if H.errno_of(os.fsync, f):
                    break
            else:
                self.fail('no write-back was refused')
            os.unlink(m.path('fill'))
            os.sync()
            self.assertEqual(H.errno_of(os.fstat, f), 0)
            self.assertEqual(H.errno_of(os.pwrite, f, b'room again', 0), 0)
        finally:
            H.errno_of(os.close, reader)  # FUSE hands a write-back error to any closing fd
            H.errno_of(os.close, f)
        with open(m.path('after'), 'wb') as g:  # a new file takes writes again
            for _ in range(4):
                g.write(bytes(1 << 20))
            g.flush()
            os.fsync(g.fileno())


class RootReserve(H.LoopExt4Case):
    """ext4 keeps blocks (5% by default) that only root may use, so that root's
    services still work when users fill the disk.  A user filling BACKING through
    durfs must stop short of them, as natively, and leave them to root: the daemon
    writes file data as the file's owner (creds.c, creds_enter_data_owner).
    Without that the daemon's root write-back takes them all and this fails
    (checked); the same rule keeps a quota's hard limit in force.  (Root on
    the CI machines lacks CAP_SYS_RESOURCE, so there the owner's fsuid is what
    this shows; the capability's drop is for machines where root has it.)"""

    def setUp(self):
        super().setUp()
        self.backing_on_ext4(32 << 20)

    def test_users_cannot_take_roots_reserve(self):
        pub = os.path.join(self.fx.backing, 'pub')
        os.mkdir(pub)
        os.chmod(pub, 0o1777)
        m = self.fx.mount(opts='allow_other,journal=%s' % os.path.join(self.fx.tmp, 'journal'))
        sv = os.statvfs(self.fx.backing)
        reserve = (sv.f_bfree - sv.f_bavail) * sv.f_frsize
        self.assertGreater(reserve, 1 << 20)

        def fill():
            fd = os.open(m.path('pub', 'fill'), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for _ in range(256):
                    os.write(fd, bytes(1 << 20))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                return 'ENOSPC'
            finally:
                H.errno_of(os.close, fd)
            return 'wrote 256 MiB'

        self.assertEqual(H.run_as(65534, 65534, fill), 'ENOSPC')
        # a directory needs a block too: natively ENOSPC for a user now
        sv = os.statvfs(self.fx.backing)
        self.assertGreater(sv.f_bfree * sv.f_frsize, reserve // 2,
                           "nobody's writes took root's reserve")
        with open(m.path('for-root'), 'wb') as f:  # root still gets it
            f.write(bytes(reserve // 4))
            f.flush()
            os.fsync(f.fileno())


if __name__ == '__main__':
    H.main()
