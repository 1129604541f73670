"""A full BACKING filesystem (the journal in BACKING/.durfs, the default).

A disk that fills up while the application is stopped is the common case: the
next mount must work, so that the operator (or the application) can delete
files through the mount.  Before the fix every mount of a cleanly unmounted
journal wrote recovery marks into JOURNAL/replay-map, also with nothing to
replay, and a full BACKING made durfs refuse to mount ("cannot append to the
replay map (No space left on device)").
"""
import errno
import mmap
import os
import stat
import time

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

    def test_unmount_on_a_full_backing_is_clean(self):
        """BACKING fills up while mounted, the operator unmounts: the final
        checkpoint needs a block for its file and one for the next WAL segment.
        The journal's zero fill is given back first, so the unmount is clean
        (exit 0) and the next mount, on the still full disk, has nothing to
        replay and works, letting space be freed through it.  Before, the final
        checkpoint failed (exit 1) and the next mount was refused (found by a
        helper's full-disk probe; fails without dur_wal_release_fill, checked)."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        for i in range(20):
            os.mkdir(m.path('d%d' % i))
        filler = os.path.join(self.disk, 'filler')
        H.fill_up(filler)
        self.assertEqual(self.fx.unmount(), 0, m.log())
        self.assertEqual(os.statvfs(self.disk).f_bfree * os.statvfs(self.disk).f_frsize
                         < 2 << 20, True)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        self.assertEqual(set(os.listdir(m.path())), {'d%d' % i for i in range(20)})
        os.rmdir(m.path('d0'))
        os.unlink(filler)
        self.assertEqual(self.fx.unmount(), 0, m.log())

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

    def test_replay_that_runs_out_of_space_stops_and_skips_nothing(self):
        """A close's content journaled (FILE_DATA), the daemon killed, the file's
        data lost (as by a power cut: truncated here), BACKING full, the journal
        on another filesystem: replay cannot write the content back.  It used to
        skip the record as one that cannot apply and publish a checkpoint over it,
        losing the acknowledged content for good (found by a helper's audit).
        Now the mount is refused naming the record and ENOSPC, the journal is
        kept, and once space is back the content returns."""
        self.backing_on_ext4(32 << 20)
        journal = os.path.join(self.fx.tmp, 'journal')
        opts = 'checkpoint_secs=3600,journal=%s' % journal
        env = {'DUR_TEST_FORCE_DATA_JOURNAL': '1'}  # a journal elsewhere syncfs()es
        m = self.fx.mount(opts=opts, env=env)
        content = os.urandom(20000)
        with open(m.path('g'), 'wb') as f:
            f.write(content)
        self.assertGreaterEqual(m.status()['file_data_records'], 1)
        m.kill9()
        self.fx.m = None
        os.truncate(os.path.join(self.fx.backing, 'g'), 0)
        filler = os.path.join(self.disk, 'filler')
        H.fill_up(filler)
        refused = H.Mount(self.fx.backing, self.fx.mntdir, opts, env=env)
        refused.log_path = os.path.join(self.fx.tmp, 'refused.log')
        with self.assertRaises(RuntimeError) as cm:
            refused.start()
        self.assertIn('replay stopped at LSN', str(cm.exception))
        self.assertIn('No space left on device', str(cm.exception))
        os.unlink(filler)
        m = self.fx.mount(opts=opts, env=env)
        with open(m.path('g'), 'rb') as f:
            self.assertEqual(f.read(), content)
        self.assertEqual(self.fx.unmount(), 0)

    def test_failed_checkpoint_is_retried_after_a_while_not_every_second(self):
        """A checkpoint due on a full disk fails; each try costs a syncfs and a log
        line, so the next one waits checkpoint_secs (at most 30 s) instead of the
        checkpointer's 1 s tick (found by a helper's probe; without the wait this
        counts a failure per second, checked)."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=4')
        os.mkdir(m.path('d'))
        H.fill_up(os.path.join(self.disk, 'filler'))
        time.sleep(11)
        failures = m.log().count('checkpoint failed')
        self.assertGreaterEqual(failures, 1, m.log())
        self.assertLessEqual(failures, 3, m.log())
        self.assertIn('next try in 4 s', m.log())
        os.unlink(os.path.join(self.disk, 'filler'))
        self.assertEqual(self.fx.unmount(), 0)

    def test_full_backing_refuses_changes_with_enospc_and_lets_space_be_freed(self):
        """BACKING fills up while mounted (the journal in it): changes are
        refused with ENOSPC before they are applied, the journal stays healthy,
        and unlink/rmdir through the mount still work, so the disk can be
        cleared there; then changes work again, and survive a SIGKILL.  Before
        ensure_room (core/src/ns_journal.c) the journal outran its zero fill,
        its write failed and poisoned it: chmod got EIO after ~12,000 calls and
        so did every unlink until a remount (fails without, checked)."""
        self.refuses_with_enospc_and_lets_space_be_freed('checkpoint_secs=3600')

    def test_full_backing_in_ordered_mode_refuses_changes_with_enospc(self):
        """The same in ordered mode, whose journal keeps no zero fill (its
        segments stay append-only): room is reserved ahead of the records with
        fallocate(FALLOC_FL_KEEP_SIZE) instead (core/src/wal_writer.c).
        Without the reservation the journal's write failed and poisoned it:
        every change, unlinks too, failed with EIO until a remount (fails
        without, checked)."""
        self.refuses_with_enospc_and_lets_space_be_freed('durability=ordered,checkpoint_secs=3600')

    def refuses_with_enospc_and_lets_space_be_freed(self, opts):
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts=opts)
        open(m.path('f'), 'w').close()
        for i in range(20):
            os.mkdir(m.path('d%d' % i))
        H.fill_up(os.path.join(self.fx.backing, 'filler'))
        done, refused = 0, None
        while done < 100000 and refused is None:
            try:
                os.chmod(m.path('f'), 0o600 | (done & 0o77))
                done += 1
            except OSError as e:
                refused = e.errno
        self.assertEqual(refused, errno.ENOSPC, 'after %d chmods' % done)
        self.assertFalse(m.status()['journal_failed'])
        self.assertIn('its filesystem is full', m.log())
        mode = stat.S_IMODE(os.stat(os.path.join(self.fx.backing, 'f')).st_mode)
        self.assertEqual(mode, 0o600 | ((done - 1) & 0o77))  # the refused one: no effect
        self.assertEqual(H.errno_of(os.mkdir, m.path('new')), errno.ENOSPC)
        for i in range(10):
            os.rmdir(m.path('d%d' % i))
        os.unlink(m.path('filler'))
        os.chmod(m.path('f'), 0o640)
        os.mkdir(m.path('new'))
        self.assertFalse(m.status()['journal_failed'])
        if 'ordered' in opts:
            m.checkpoint()  # ordered: acknowledged is not durable until a commit
        m.kill9()
        self.fx.m = None
        m = self.fx.mount()
        self.assertEqual(sorted(os.listdir(m.path())),
                         sorted(['f', 'new'] + ['d%d' % i for i in range(10, 20)]))
        self.assertEqual(stat.S_IMODE(os.stat(m.path('f')).st_mode), 0o640)
        self.assertEqual(self.fx.unmount(), 0)

    def test_a_refused_setid_clearing_writes_no_data(self):
        """A write that must clear set-id bits (KILLPRIV_V2, fs/fuse_io.c)
        clears them before the data goes, as a local filesystem does: when the
        journal has no room for that mode change the write fails with ENOSPC
        and writes nothing.  Found in review: the data was written first, then
        the error returned, and the file stayed setuid (fails with the clearing
        after the write, checked).  O_DIRECT: no page cache, the WRITE is the
        write(2)."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        p = m.path('setuid')
        with open(p, 'wb') as f:
            f.write(b'O' * 4096)
        os.chmod(p, 0o4777)
        open(m.path('f'), 'w').close()
        H.fill_up(os.path.join(self.fx.backing, 'filler'))
        done = 0
        while H.errno_of(os.chmod, m.path('f'), 0o600 | (done & 0o77)) == 0:
            done += 1
            self.assertLess(done, 100000)

        def overwrite():
            fd = os.open(p, os.O_WRONLY | os.O_DIRECT)
            buf = mmap.mmap(-1, 4096)
            buf.write(b'N' * 4096)
            try:
                return H.errno_of(os.pwrite, fd, buf, 0)
            finally:
                os.close(fd)
        self.assertEqual(H.run_as(65534, 65534, overwrite), errno.ENOSPC)
        b = os.path.join(self.fx.backing, 'setuid')
        with open(b, 'rb') as f:
            self.assertEqual(f.read(), b'O' * 4096)
        self.assertEqual(stat.S_IMODE(os.stat(b).st_mode), 0o4777)
        self.assertFalse(m.status()['journal_failed'])
        os.unlink(m.path('filler'))
        deadline = time.monotonic() + 30  # ext4 reuses freed blocks after its commit
        while H.errno_of(os.chmod, m.path('f'), 0o644) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(H.run_as(65534, 65534, overwrite), 0)
        with open(b, 'rb') as f:
            self.assertEqual(f.read(), b'N' * 4096)
        self.assertEqual(stat.S_IMODE(os.stat(b).st_mode), 0o777)
        self.assertEqual(self.fx.unmount(), 0)

    def test_freeing_changes_on_the_reserve_log_the_full_journal_once(self):
        """Unlinks let through on the reserve while other changes are refused:
        "its filesystem is full" is logged once, and no "has room again" until
        any change fits.  Before, each freeing change (smaller need) logged room
        again and the next refused one logged full again: a pair per unlink."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        open(m.path('f'), 'w').close()
        for i in range(20):
            open(m.path('e%d' % i), 'w').close()  # empty: unlinking frees no block
        H.fill_up(os.path.join(self.disk, 'filler'))
        done = 0
        while H.errno_of(os.chmod, m.path('f'), 0o600 | (done & 0o77)) == 0:
            done += 1
            self.assertLess(done, 100000)
        for i in range(20):
            os.unlink(m.path('e%d' % i))
            self.assertEqual(H.errno_of(os.chmod, m.path('f'), 0o644), errno.ENOSPC)
        log = m.log()
        self.assertEqual(log.count('its filesystem is full'), 1, log)
        self.assertNotIn('has room again', log)
        self.assertFalse(m.status()['journal_failed'])
        os.unlink(os.path.join(self.disk, 'filler'))
        os.chmod(m.path('f'), 0o644)
        self.assertIn('has room again', m.log())
        self.assertEqual(self.fx.unmount(), 0)

    def test_data_refused_on_a_full_backing_fails_close_fsync_rename_with_enospc(self):
        """Small files written on a full BACKING: their write-back is refused, and
        close, fsync and a rename over them fail with ENOSPC (as on a local
        filesystem), never EIO and never success.  Before, the daemon answered
        EIO for every sticky failure (file_errno, prepare_rename)."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        H.fill_up(os.path.join(self.disk, 'filler'))
        seen = set()
        for i in range(20):
            p = m.path('s%d' % i)
            try:
                fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
            except OSError as e:
                seen.add(('open', e.errno))
                continue
            try:
                os.write(fd, b'x' * 100)
                seen.add(('fsync', H.errno_of(os.fsync, fd)))
                seen.add(('fsync2', H.errno_of(os.fsync, fd)))
            finally:
                seen.add(('close', H.errno_of(os.close, fd)))
            seen.add(('rename', H.errno_of(os.rename, p, m.path('t%d' % i))))
        self.assertEqual({e for _, e in seen}, {errno.ENOSPC}, sorted(seen))
        os.unlink(os.path.join(self.disk, 'filler'))
        self.assertEqual(self.fx.unmount(), 0)

    def test_failed_zero_range_leaves_the_file_to_be_synced(self):
        """A ZERO_RANGE that fails (ENOSPC) may have zeroed part of the range
        first: the file must count as changed, so its close syncs it (a file
        sync or its content journaled).  Without marking it in h_fallocate the
        close finds the file clean and syncs nothing (checked)."""
        self.backing_on_ext4(32 << 20)
        m = self.fx.mount(opts='checkpoint_secs=3600')
        with open(m.path('f'), 'wb') as f:
            f.write(b'x' * 8192)
        H.fill_up(os.path.join(self.disk, 'filler'))
        fd = os.open(m.path('f'), os.O_RDWR)
        try:
            before = m.status()
            self.assertEqual(H.errno_of(H.fallocate, fd, 0x10, 4096, 64 << 20),  # ZERO_RANGE
                             errno.ENOSPC)
        finally:
            os.close(fd)
        after = m.status()
        self.assertGreaterEqual(after['file_syncs'] - before['file_syncs'] +
                                after['file_data_records'] - before['file_data_records'], 1)
        os.unlink(os.path.join(self.disk, 'filler'))  # room for the final checkpoint
        self.assertEqual(self.fx.unmount(), 0)


if __name__ == '__main__':
    H.main()
