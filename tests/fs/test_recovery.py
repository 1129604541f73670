"""Journal and recovery through the daemon: SIGKILL mid-workload loses nothing
acknowledged and the next mount reports its replay; the status shows records
being journaled and made durable; a forced checkpoint moves checkpoint.lsn and
shrinks the WAL; a clean unmount leaves nothing to replay."""
import errno
import hashlib
import os
import re
import subprocess
import time
import unittest

import durfs_harness as H

H.require_root_fuse()
WORKERS = 3
KILL_AFTER = 150  # acknowledged ops per worker before the daemon is killed


def content(k, i):
    return hashlib.sha256(b'%d/%d' % (k, i)).digest() * (1 + i % 7)


def apply_op(state, k, i):
    """The deterministic workload of worker k: op i on a dict name -> content."""
    if i % 8 == 3:
        state['g%d_%d' % (k, i - 1)] = state.pop('f%d_%d' % (k, i - 1))
    elif i % 8 == 7:
        del state['f%d_%d' % (k, i - 2)]
    else:
        state['f%d_%d' % (k, i)] = content(k, i)


def do_op(root, k, i):
    if i % 8 == 3:
        os.rename(os.path.join(root, 'f%d_%d' % (k, i - 1)),
                  os.path.join(root, 'g%d_%d' % (k, i - 1)))
    elif i % 8 == 7:
        os.unlink(os.path.join(root, 'f%d_%d' % (k, i - 2)))
    else:
        fd = os.open(os.path.join(root, 'f%d_%d' % (k, i)), os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.write(fd, content(k, i))
        finally:
            os.close(fd)


def worker(root, k, logpath):
    """Logs the index of every op after it returned success (= acknowledged)."""
    log = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    i = 0
    try:
        while i < 100000:
            do_op(root, k, i)
            os.write(log, b'%d\n' % i)
            i += 1
    except OSError:
        pass  # the daemon died under us: ENOTCONN / EIO / ECONNABORTED
    os._exit(0)


def acked(logpath):
    try:
        with open(logpath, 'rb') as f:
            return len(f.read().split())
    except FileNotFoundError:
        return 0


class Recovery(unittest.TestCase):
    def setUp(self):
        self.fx = H.Fixture(opts='checkpoint_secs=3600')

    def tearDown(self):
        self.fx.close()

    def test_sigkill_mid_workload_close(self):
        self.sigkill_mid_workload('close')

    def test_sigkill_mid_workload_ordered(self):
        # ordered mode acknowledges before the journal is written; a process crash
        # (not a power cut) must still lose nothing: BACKING's page cache holds it
        self.sigkill_mid_workload('ordered')

    def test_sigkill_mid_workload_sync(self):
        self.sigkill_mid_workload('sync')

    def sigkill_mid_workload(self, mode):
        fx = self.fx
        m = fx.mount(opts='checkpoint_secs=3600,durability=%s' % mode)
        root = m.path('work')
        os.mkdir(root)
        logs = [os.path.join(fx.tmp, 'ack%d.log' % k) for k in range(WORKERS)]
        pids = []
        for k in range(WORKERS):
            pid = os.fork()
            if pid == 0:
                worker(root, k, logs[k])
            pids.append(pid)
        try:
            while min(acked(p) for p in logs) < KILL_AFTER:
                for pid in pids:
                    r, _ = os.waitpid(pid, os.WNOHANG)
                    self.assertEqual(r, 0, 'a worker stopped before the kill; log:\n' + m.log())
                time.sleep(0.01)
            data_journal = mode == 'close' and os.environ.get('DUR_TEST_FORCE_DATA_JOURNAL')
            if data_journal:
                self.assertGreater(m.status()['file_data_records'], 0)
            m.kill9()  # mid-workload: workers are still issuing ops
            fx.m = None
        finally:
            for pid in pids:
                os.waitpid(pid, 0)
        self.assertFalse(H.is_fuse_mounted(fx.mntdir))
        if data_journal:
            # As if writeback had not reached the disk: every file's bytes lost in
            # BACKING.  Each was closed after its content was journaled (checkpoints
            # are an hour apart), so recovery must write all of it back.
            work = os.path.join(fx.backing, 'work')
            for name in os.listdir(work):
                os.truncate(os.path.join(work, name), 0)
        m = fx.mount()
        st = m.status()
        rec = st['recovery']
        print('recovery after SIGKILL (%s):' % mode, rec)
        if mode != 'ordered':  # close/sync: the journal reached the kernel before each ack
            self.assertGreater(rec['records_replayed'], 0, 'nothing replayed after SIGKILL')
        for key in ('ops_redone', 'ops_already', 'ops_skipped', 'bytes_cut', 'elapsed_ms'):
            self.assertIn(key, rec)
        names = set(os.listdir(root))
        for k in range(WORKERS):
            n = acked(logs[k])
            self.assertGreaterEqual(n, KILL_AFTER)
            before, after = {}, {}
            for i in range(n):
                apply_op(before, k, i)
            after = dict(before)
            apply_op(after, k, n)  # the op in flight at the kill may or may not have happened
            mine = {x for x in names if x.split('_')[0][1:] == str(k)}
            ok_names = mine == set(before) or mine == set(after)
            self.assertTrue(ok_names, 'worker %d after %d acked ops: missing %s, extra %s' % (
                k, n, sorted(set(before) - mine)[:10], sorted(mine - set(after))[:10]))
            inflight = 'f%d_%d' % (k, n)
            for name in mine:
                with open(os.path.join(root, name), 'rb') as f:
                    data = f.read()
                if name == inflight:
                    self.assertTrue(after[name].startswith(data), 'in-flight file has garbage')
                else:
                    self.assertEqual(data, before.get(name, after.get(name)),
                                     'content of acknowledged %s' % name)
        self.assertEqual(fx.unmount(), 0)

    def test_journal_status_and_checkpoint(self):
        fx = self.fx
        m = fx.mount()
        s0 = m.status()
        for key in ('last_lsn', 'durable_lsn', 'checkpoint', 'recovery', 'wal', 'journal_bytes',
                    'records_since_checkpoint'):
            self.assertIn(key, s0)
        self.assertEqual(s0['mode'], 'close')
        self.assertEqual(os.path.realpath(s0['backing']), os.path.realpath(fx.backing))
        self.assertEqual(s0['pid'], m.pid)
        os.mkdir(m.path('d'))
        for i in range(3000):
            os.close(os.open(m.path('d', 'file-with-a-longish-name-%05d' % i),
                             os.O_CREAT | os.O_WRONLY, 0o644))
        for i in range(0, 3000, 2):
            os.rename(m.path('d', 'file-with-a-longish-name-%05d' % i), m.path('d', 'r%05d' % i))
        s1 = m.status()
        self.assertGreaterEqual(s1['last_lsn'] - s0['last_lsn'], 4501, 'creates/renames not journaled')
        self.assertGreaterEqual(s1['wal']['appends'] - s0['wal']['appends'], 4501)
        self.assertGreater(s1['wal']['syncs'], s0['wal']['syncs'])
        # close mode: every acknowledged metadata op is durable when it returns
        self.assertEqual(s1['durable_lsn'], s1['last_lsn'])
        self.assertGreaterEqual(s1['records_since_checkpoint'], 4501)
        m.checkpoint()
        s2 = m.status()
        print('journal bytes before/after checkpoint: %d / %d, checkpoint.lsn %d -> %d' % (
            s1['journal_bytes'], s2['journal_bytes'], s1['checkpoint']['lsn'],
            s2['checkpoint']['lsn']))
        self.assertGreaterEqual(s2['checkpoint']['lsn'], s1['last_lsn'])
        self.assertGreater(s2['checkpoint']['lsn'], s1['checkpoint']['lsn'])
        self.assertEqual(s2['checkpoint']['count'], s1['checkpoint']['count'] + 1)
        self.assertLess(s2['records_since_checkpoint'], 10)
        self.assertLess(s2['journal_bytes'], s1['journal_bytes'], 'checkpoint did not shrink the WAL')
        # non-root may not force a checkpoint
        with self.assertRaises(OSError) as cm:
            H.run_as(65534, 65534, lambda: os.setxattr(m.mnt, 'trusted.durfs.checkpoint', b'1'))
        self.assertIn(cm.exception.errno, (errno.EPERM, errno.EACCES))
        self.assertEqual(fx.unmount(), 0)
        # clean unmount: the final checkpoint leaves nothing to replay
        m = fx.mount()
        s3 = m.status()
        self.assertEqual(s3['recovery']['records_replayed'], 0, s3['recovery'])
        self.assertEqual(len(os.listdir(m.path('d'))), 3000)
        self.assertTrue(os.path.exists(m.path('d', 'r02998')))
        self.assertEqual(fx.unmount(), 0)

    def test_status_in_each_mode(self):
        fx = self.fx
        for mode in ('sync', 'ordered'):
            # commit=3600: in ordered mode only the fsync(dir) below commits
            m = fx.mount(opts='durability=%s,commit=3600' % mode if mode == 'ordered'
                         else 'durability=sync')
            s0 = m.status()
            self.assertEqual(s0['mode'], mode)
            os.mkdir(m.path(mode))
            with open(m.path(mode, 'f'), 'wb') as f:
                f.write(b'x')
            dfd = os.open(m.path(mode), os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(dfd)  # waits for the journal in every mode
            os.close(dfd)
            s1 = m.status()
            self.assertGreater(s1['last_lsn'], s0['last_lsn'])
            self.assertEqual(s1['durable_lsn'], s1['last_lsn'], 'fsync(dir) did not commit')
            self.assertEqual(fx.unmount(), 0)

    def assertMountRefused(self, opts, *needles):
        with self.assertRaises(RuntimeError) as cm:
            self.fx.mount(opts=opts)
        for n in needles:
            self.assertIn(n, str(cm.exception))

    def test_switching_journals_replays_the_old_one_first(self):
        """A session cut short (kill -9) leaves changes in its journal; a mount
        from another journal (journal= given, or dropped) must not start over
        them, or the old journal replays them later over newer data: content,
        mode and xattr went back (found by probing; fails without
        check_other_journals, checked).  Each is refused, naming the journal,
        until that journal is replayed; then switching works."""
        fx = self.fx
        other = os.path.join(fx.tmp, 'other-journal')
        elsewhere = 'checkpoint_secs=3600,journal=' + other
        # default journal dirty -> journal= refused
        m = fx.mount()
        with open(m.path('f'), 'wb') as f:
            f.write(b'old')
        os.chmod(m.path('f'), 0o600)
        m.kill9()
        self.assertMountRefused(elsewhere, 'not yet replayed', 'without journal=')
        m = fx.mount()  # replays the default journal
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o600)
        self.assertEqual(fx.unmount(), 0)
        # journal= session dirty -> default refused, and another journal= too
        m = fx.mount(opts=elsewhere)
        with open(m.path('f'), 'wb') as f:
            f.write(b'new content')
        os.chmod(m.path('f'), 0o644)
        m.kill9()
        self.assertMountRefused(None, 'not yet replayed', other + ':', 'with that journal=')
        self.assertMountRefused('journal=' + os.path.join(fx.tmp, 'third'), other + ':')
        marker = os.path.join(fx.backing, '.durfs', 'journal-elsewhere')
        marker_ino = os.stat(marker).st_ino
        m = fx.mount(opts=elsewhere)
        # it already named this journal: not rewritten (an atomic write, two fsyncs)
        self.assertEqual(os.stat(marker).st_ino, marker_ino)
        self.assertEqual(fx.unmount(), 0)
        m = fx.mount()  # clean: the default journal takes over
        with open(m.path('f'), 'rb') as f:
            self.assertEqual(f.read(), b'new content')
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o644)
        self.assertEqual(fx.unmount(), 0)
        # the same journal spelled otherwise is the same journal (found in
        # review: the marker compared strings); a read-only mount's empty
        # default journal holds nothing; the default path given as journal= is
        # the default journal
        m = fx.mount(opts=elsewhere)
        os.chmod(m.path('f'), 0o640)
        m.kill9()
        m = fx.mount(opts=elsewhere + '/')
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o640)
        self.assertEqual(fx.unmount(), 0)
        m = fx.mount(opts='ro')
        self.assertEqual(fx.unmount(), 0)
        m = fx.mount(opts=elsewhere)
        self.assertEqual(fx.unmount(), 0)
        m = fx.mount(opts='journal=' + os.path.join(fx.backing, '.durfs', 'journal'))
        os.chmod(m.path('f'), 0o600)
        m.kill9()
        m = fx.mount()
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o600)
        self.assertEqual(fx.unmount(), 0)

    def test_journal_directories_others_can_write_are_refused(self):
        """Replay applies the journal with the daemon's privileges to whatever
        its handles name, so a journal directory another user can write is
        refused by name: found by probing, the owner of BACKING swapped .durfs
        for a directory of their own while durfs was not mounted, and root's
        next mount rewrote a root-only file outside BACKING for them (each case
        mounts without check_private_dir, checked)."""
        fx = self.fx
        fx.mount()
        self.assertEqual(fx.unmount(), 0)
        reserved = os.path.join(fx.backing, '.durfs')
        journal = os.path.join(reserved, 'journal')
        cases = [(reserved, 0o700, 65534, 'chown -R 0:0 BACKING/.durfs'),
                 (reserved, 0o777, 0, 'writable by the daemon'),
                 (journal, 0o770, 0, 'writable by the daemon')]
        for path, mode, uid, how in cases:
            st = os.stat(path)
            os.chown(path, uid, uid)
            os.chmod(path, mode)
            self.assertMountRefused(None, path if path != reserved else 'BACKING/.durfs',
                                    'uid %d' % uid, '%04o' % mode, how)
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, st.st_mode & 0o7777)
        other = os.path.join(fx.tmp, 'shared-journal')
        os.mkdir(other)
        os.chmod(other, 0o1777)
        self.assertMountRefused('journal=' + other, other, 'mode 1777')
        os.chmod(other, 0o755)
        fx.mount(opts='journal=' + other)
        self.assertEqual(fx.unmount(), 0)

    def test_status_gives_the_age_of_an_earlier_sessions_checkpoint(self):
        """After a clean remount no checkpoint is published, and status gave the
        age of the one in place as 0.0 s ("0.0 s ago" in durfsctl status); it
        comes from the checkpoint's own time now (checked: 0 without)."""
        fx = self.fx
        fx.mount()
        self.assertEqual(fx.unmount(), 0)
        time.sleep(2.2)
        m = fx.mount()
        s = m.status()
        self.assertEqual(s['checkpoint']['count'], 0)  # none this session
        self.assertGreaterEqual(s['checkpoint']['age_seconds'], 2.0)
        self.assertEqual(fx.unmount(), 0)

    def test_missing_journal_of_an_unfinished_session_is_not_clean(self):
        """A journal= session cut short, then its journal unavailable (its
        filesystem not mounted): a mount without it must be refused, or a later
        mount from that journal replays its old changes over newer ones (found
        by probing: a chmod went back; it counted as clean, checked).  Removing
        the marker is the way to go on without it."""
        fx = self.fx
        other = os.path.join(fx.tmp, 'other-journal')
        m = fx.mount(opts='journal=' + other)
        with open(m.path('f'), 'wb') as f:
            f.write(b'x')
        os.chmod(m.path('f'), 0o600)
        m.kill9()
        os.rename(other, other + '.away')
        self.assertMountRefused(None, other, 'cannot be opened', 'journal-elsewhere')
        os.rename(other + '.away', other)
        m = fx.mount(opts='journal=' + other)
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o600)
        os.chmod(m.path('f'), 0o640)
        m.kill9()
        H.remove_tree(other)
        marker = os.path.join(fx.backing, '.durfs', 'journal-elsewhere')
        with open(marker, 'w') as f:  # damaged: a relative path was taken from the cwd
            f.write('other-journal')
        self.assertMountRefused(None, 'journal-elsewhere names no absolute')
        os.unlink(marker)
        m = fx.mount()
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o640)  # BACKING had it
        self.assertEqual(fx.unmount(), 0)

    def test_read_only_mount_recovers_once(self):
        """-o ro recovers like any mount (replay writes BACKING) and then
        checkpoints, so the next read-only mount replays nothing (without the
        checkpoint every -o ro mount replayed the journal again; checked).  On a
        read-only filesystem (a read-only bind mount of BACKING) a clean journal
        mounts (the lock file could not be opened: EROFS; checked) and one
        holding changes is refused by name (replay would fail every record and
        the mount show BACKING without them)."""
        fx = self.fx
        def mount_logging(m):
            start = os.path.getsize(m.log_path) if os.path.exists(m.log_path) else 0
            m.start()
            with open(m.log_path, 'rb') as f:
                f.seek(start)
                return f.read().decode('utf-8', 'replace')
        def replayed(log):
            return [int(n) for n in re.findall(r'(\d+) records replayed', log)]
        m = fx.mount()
        with open(m.path('f'), 'wb') as f:
            f.write(b'before the kill')
        os.chmod(m.path('f'), 0o640)
        m.kill9()
        ro = H.Mount(fx.backing, fx.mntdir, 'ro')
        self.assertGreater(replayed(mount_logging(ro))[0], 0)
        with open(ro.path('f'), 'rb') as f:
            self.assertEqual(f.read(), b'before the kill')
        self.assertEqual(os.stat(ro.path('f')).st_mode & 0o777, 0o640)
        self.assertEqual(ro.stop(), 0)
        self.assertEqual(replayed(mount_logging(ro)), [0])
        self.assertEqual(ro.stop(), 0)

        robind = os.path.join(fx.tmp, 'robind')
        os.mkdir(robind)
        subprocess.run(['mount', '--bind', fx.backing, robind], check=True)
        try:
            subprocess.run(['mount', '-o', 'remount,bind,ro', robind], check=True)
            with self.assertRaises(RuntimeError) as cm:  # read-write: told to use ro
                mount_logging(H.Mount(robind, fx.mntdir, None))
            self.assertIn('read-only filesystem: mount with -o ro', str(cm.exception))
            ro = H.Mount(robind, fx.mntdir, 'ro')
            mount_logging(ro)
            with open(ro.path('f'), 'rb') as f:
                self.assertEqual(f.read(), b'before the kill')
            self.assertEqual(ro.stop(), 0)
            m = fx.mount()
            os.chmod(m.path('f'), 0o600)
            m.kill9()
            with self.assertRaises(RuntimeError) as cm:
                mount_logging(H.Mount(robind, fx.mntdir, 'ro'))
            for needle in ('not yet replayed', 'read-only filesystem',
                           os.path.join(robind, '.durfs', 'journal')):
                self.assertIn(needle, str(cm.exception))
        finally:
            subprocess.run(['umount', robind])
        m = fx.mount()
        self.assertEqual(os.stat(m.path('f')).st_mode & 0o777, 0o600)
        self.assertEqual(fx.unmount(), 0)

    def test_full_journal_refuses_changes_before_applying_them(self):
        """The journal (-o journal= on a 512 KiB tmpfs) fills up, and it cannot
        reserve room ahead (DUR_TEST_NO_WAL_RESERVE: a filesystem without
        fallocate; with it, changes are refused with ENOSPC first, see
        test_full_tmpfs_journal_refuses_changes_with_enospc).  The create that
        hits ENOSPC fails with EIO; every later metadata change fails with EIO and
        never reaches BACKING (without the refusal in dur_ns_begin each one is
        applied and then reported failed); reads keep working; the operator frees
        space and remounts: the tree is as BACKING had it, and changes work again."""
        self.fill_tmpfs_journal(dict(os.environ, DUR_TEST_NO_WAL_RESERVE='1'))

    def test_full_tmpfs_journal_refuses_changes_with_enospc(self):
        """The same journal filesystem, now with its room reserved ahead of the
        records (fallocate KEEP_SIZE, reserve_bytes: tmpfs keeps no zero fill):
        creates are refused with ENOSPC before they are applied, the journal
        stays healthy, and an unlink still works (fails without the
        reservation: EIO and a poisoned journal, as above)."""
        self.fill_tmpfs_journal(None)

    def fill_tmpfs_journal(self, env):
        fx = self.fx
        jfs = os.path.join(fx.tmp, 'jfs')
        os.mkdir(jfs)
        if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=512k', 'durfs-test-jfs', jfs],
                          capture_output=True).returncode != 0:
            self.skipTest('cannot mount a tmpfs')
        try:
            opts = 'checkpoint_secs=3600,journal=%s' % os.path.join(jfs, 'journal')
            m = fx.mount(opts=opts, env=env)
            os.mkdir(m.path('keep'))
            with open(m.path('keep', 'file'), 'wb') as f:
                f.write(b'readable after the journal fills')
            filler = os.path.join(jfs, 'filler')
            with open(filler, 'wb') as f:
                try:
                    while True:
                        f.write(bytes(65536))
                        f.flush()
                except OSError:
                    pass
            for i in range(20000):
                try:
                    os.close(os.open(m.path('f%05d-%s' % (i, 'x' * 200)),
                                     os.O_CREAT | os.O_WRONLY, 0o644))
                except OSError as e:
                    self.assertEqual(e.errno, errno.EIO if env else errno.ENOSPC)
                    break
            else:
                self.fail('the journal never filled up')
            if not env:
                self.assertFalse(m.status()['journal_failed'])
                os.unlink(m.path('keep', 'file'))
                self.assertFalse(os.path.exists(os.path.join(fx.backing, 'keep', 'file')))
                self.assertEqual(H.errno_of(os.mkdir, m.path('refused')), errno.ENOSPC)
                self.assertFalse(m.status()['journal_failed'])
                m.kill9()
                fx.m = None
                os.unlink(filler)
                m = fx.mount(opts=opts)
                self.assertEqual(os.listdir(m.path('keep')), [])
                self.assertEqual(fx.unmount(), 0)
                return
            b = lambda *p: os.path.join(fx.backing, *p)  # noqa: E731
            mode0 = os.stat(b('keep')).st_mode
            refused = [
                ('mkdir', lambda: os.mkdir(m.path('new-dir')),
                 lambda: not os.path.exists(b('new-dir'))),
                ('create', lambda: os.close(os.open(m.path('new-file'), os.O_CREAT | os.O_WRONLY)),
                 lambda: not os.path.exists(b('new-file'))),
                ('rename', lambda: os.rename(m.path('keep', 'file'), m.path('moved')),
                 lambda: os.path.exists(b('keep', 'file')) and not os.path.exists(b('moved'))),
                ('unlink', lambda: os.unlink(m.path('keep', 'file')),
                 lambda: os.path.exists(b('keep', 'file'))),
                ('chmod', lambda: os.chmod(m.path('keep'), 0o700),
                 lambda: os.stat(b('keep')).st_mode == mode0),
                ('setxattr', lambda: os.setxattr(m.path('keep'), 'user.refused', b'1'),
                 lambda: 'user.refused' not in os.listxattr(b('keep'))),
                ('symlink', lambda: os.symlink('target', m.path('link')),
                 lambda: not os.path.lexists(b('link'))),
            ]
            for name, op, unchanged in refused:
                with self.assertRaises(OSError, msg=name) as cm:
                    op()
                self.assertEqual(cm.exception.errno, errno.EIO, name)
                self.assertTrue(unchanged(), '%s failed with EIO but reached BACKING' % name)
            with open(m.path('keep', 'file'), 'rb') as f:
                self.assertEqual(f.read(), b'readable after the journal fills')
            self.assertGreaterEqual(m.status()['errors'], len(refused) + 1)
            # and the operator is told the journal failed, not that commits are
            # still under way (found by probing)
            self.assertTrue(m.status()['journal_failed'])
            self.assertIn('THE JOURNAL FAILED', H.durfsctl('status', m.mnt))
            self.assertFalse(m.status()['all_durable'])
            m.stop()
            m = None
            os.unlink(filler)
            m = fx.mount(opts=opts)
            self.assertEqual(sorted(os.listdir(m.path('keep'))), ['file'])
            self.assertFalse(os.path.exists(m.path('new-dir')))
            os.mkdir(m.path('works-again'))
            self.assertEqual(fx.unmount(), 0)
        finally:
            if fx.m is not None:  # tearDown removes the tree once jfs is unmounted
                fx.m.force_cleanup()
                fx.m = None
            subprocess.run(['umount', '-l', jfs], capture_output=True)


if __name__ == '__main__':
    H.main()
