"""Writes a program asks to be synchronous (O_SYNC, O_DSYNC, RWF_DSYNC).

durfs opens backing files without O_SYNC/O_DSYNC: the backing kernel's own sync
of one file could persist it ahead of older operations (btrfs's log tree, ext4
fast_commit), which in ordered mode would leave BACKING in no prefix state.
durfs makes such a write durable itself instead, through the core's policy (in
place, or a syncfs where that is needed).  The kernel follows a synchronous
write with an FSYNC request only when it went through its page cache; a
direct_io file's WRITE gets none, so durfs syncs it before replying.

Removing the durable branch of note_written (fs/ops_file.c) makes the direct_io,
copy_file_range and fallocate tests fail: the write then adds no file sync
(checked).
Before durfs synced these writes itself, the RWF_DSYNC write on a direct_io file
was not made durable at all (its backing fd had no O_DSYNC to do it).
"""
import errno
import os
import signal
import subprocess
import time
import signal
import unittest

import durfs_harness as H

H.require_root_fuse()


class FileSyncs:
    """Mixin: a mount with OPTS, and the file syncs one write adds."""
    OPTS = None

    def setUp(self):
        self.fx = H.Fixture()
        self.m = self.fx.mount(opts=self.OPTS)

    def tearDown(self):
        self.fx.close()

    def file_syncs_added(self, name, flags, write):
        """file syncs that one write adds (the create is settled first)."""
        fd = os.open(self.m.path(name), os.O_WRONLY | os.O_CREAT | flags, 0o644)
        try:
            os.fsync(fd)
            before = self.m.status()['file_syncs']
            write(fd)
            return self.m.status()['file_syncs'] - before
        finally:
            os.close(fd)



class SyncWrites(FileSyncs, unittest.TestCase):
    def test_direct_io_dsync_write_is_synced_before_it_returns(self):
        n = self.file_syncs_added('dsync', os.O_DIRECT | os.O_DSYNC,
                                  lambda fd: os.write(fd, b'x' * 4096))
        self.assertGreaterEqual(n, 1)

    def test_direct_io_osync_write_is_synced_before_it_returns(self):
        n = self.file_syncs_added('osync', os.O_DIRECT | os.O_SYNC,
                                  lambda fd: os.write(fd, b'y' * 4096))
        self.assertGreaterEqual(n, 1)

    def test_direct_io_rwf_dsync_write_is_synced_before_it_returns(self):
        n = self.file_syncs_added('rwf', os.O_DIRECT,
                                  lambda fd: os.pwritev(fd, [b'z' * 4096], 0, os.RWF_DSYNC))
        self.assertGreaterEqual(n, 1)

    def test_direct_io_plain_write_is_not_synced(self):
        """The control: nothing asked for durability, nothing is synced."""
        n = self.file_syncs_added('plain', os.O_DIRECT, lambda fd: os.write(fd, b'p' * 4096))
        self.assertEqual(n, 0)

    def test_copy_file_range_into_dsync_file_is_synced(self):
        """copy_file_range and fallocate get no FSYNC from the kernel either."""
        src = self.m.path('src')
        with open(src, 'wb') as f:
            f.write(b's' * 8192)
        sfd = os.open(src, os.O_RDONLY)
        try:
            n = self.file_syncs_added('copy', os.O_DSYNC,
                                      lambda fd: os.copy_file_range(sfd, fd, 8192, 0, 0))
        finally:
            os.close(sfd)
        self.assertGreaterEqual(n, 1)

    def test_fallocate_in_dsync_file_is_synced(self):
        n = self.file_syncs_added('falloc', os.O_DSYNC,
                                  lambda fd: os.posix_fallocate(fd, 0, 1 << 16))
        self.assertGreaterEqual(n, 1)

    def test_backing_fd_never_syncs_on_its_own(self):
        fd = os.open(self.m.path('own'), os.O_WRONLY | os.O_CREAT | os.O_SYNC, 0o644)
        try:
            os.write(fd, b'o' * 100)
            target = os.path.join(self.fx.backing, 'own')
            proc = '/proc/%d' % self.m.status()['pid']
            found = []
            for e in os.listdir(proc + '/fd'):
                try:
                    if os.readlink('%s/fd/%s' % (proc, e)) != target:
                        continue
                    with open('%s/fdinfo/%s' % (proc, e)) as f:
                        flags = int(f.read().split('flags:')[1].split()[0], 8)
                except (OSError, IndexError):
                    continue
                found.append(flags)
            self.assertTrue(found, 'the daemon holds no fd of %s' % target)
            for flags in found:
                self.assertEqual(flags & os.O_DSYNC, 0, oct(flags))
        finally:
            os.close(fd)


class SyncMode(FileSyncs, unittest.TestCase):
    """-o durability=sync: every write(2) is durable when it returns, as if the
    file were O_DSYNC (no writeback cache: each write reaches the daemon).  Fails
    without dur_ns_file_written's SYNC-mode fdatasync (checked)."""
    OPTS = 'durability=sync'

    def test_every_plain_write_is_synced_before_it_returns(self):
        def three_writes(fd):
            for i in range(3):
                os.pwrite(fd, b'w' * 1000, i * 1000)
        self.assertGreaterEqual(self.file_syncs_added('plainsync', 0, three_writes), 3)

    def test_direct_io_write_is_synced_before_it_returns(self):
        n = self.file_syncs_added('direct', os.O_DIRECT, lambda fd: os.write(fd, b'p' * 4096))
        self.assertGreaterEqual(n, 1)

    def test_fdatasync_after_synced_writes_costs_nothing(self):
        """Each write is synced already, so an fdatasync after it (the program's,
        or the kernel's after an O_DSYNC write) has nothing left to do: one file
        sync per write, not two (without fdatasync_is_noop each costs two,
        checked).  A file this session has not synced yet is synced: BACKING's
        cache may hold pages an earlier session left dirty."""
        def write_then_fdatasync(fd):
            for i in range(3):
                os.pwrite(fd, b'd' * 1000, i * 1000)
                os.fdatasync(fd)
        self.assertEqual(self.file_syncs_added('fdatasynced', 0, write_then_fdatasync), 3)
        def three_writes(fd):
            for i in range(3):
                os.pwrite(fd, b'o' * 1000, i * 1000)
        self.assertEqual(self.file_syncs_added('odsync', os.O_DSYNC, three_writes), 3)
        with open(os.path.join(self.fx.backing, 'earlier'), 'wb') as f:
            f.write(b'written before')
        self.assertEqual(self.file_syncs_added('earlier', 0, os.fdatasync), 1)


class RenameWhileOpen(unittest.TestCase):
    """Atomic replace (guarantees.md, close clause 2) for a source still open for
    writing, or still mapped: under the writeback cache its written pages may
    still be in the kernel's page cache, which writes back before FLUSH and
    FSYNC but not before RENAME.  The rename must not be acknowledged before
    that data is durable (a file sync or a FILE_DATA record during the rename).
    Without prepare_rename's write-back request (fs/ops_namespace.c) the rename
    adds neither, and BACKING's file is still empty when it returns (checked)."""

    def setUp(self):
        self.fx = H.Fixture()
        self.m = self.fx.mount()

    def tearDown(self):
        self.fx.close()

    def made_durable_by_rename(self, write):
        with open(self.m.path('target'), 'wb') as f:
            f.write(b'old content')
        fd = os.open(self.m.path('new'), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.fsync(fd)
            write(fd)
            before = self.m.status()
            os.rename(self.m.path('new'), self.m.path('target'))
            after = self.m.status()
            size = os.stat(os.path.join(self.fx.backing, 'target')).st_size
        finally:
            os.close(fd)
        return (after['file_syncs'] - before['file_syncs'] +
                after['file_data_records'] - before['file_data_records'], size)

    def test_written_file_renamed_before_close(self):
        n, size = self.made_durable_by_rename(lambda fd: os.write(fd, b'N' * 5000))
        self.assertEqual(size, 5000)
        self.assertGreaterEqual(n, 1)

    def test_mapped_file_renamed_before_munmap(self):
        import mmap
        def write(fd):
            os.ftruncate(fd, 8192)
            self.map = mmap.mmap(fd, 8192)
            self.map[:8192] = b'M' * 8192
        try:
            n, size = self.made_durable_by_rename(write)
            with open(os.path.join(self.fx.backing, 'target'), 'rb') as f:
                self.assertEqual(f.read(), b'M' * 8192)
            self.assertGreaterEqual(n, 1)
        finally:
            self.map.close()

    def test_many_concurrent_renames_of_open_files_finish(self):
        """20 renames at once (one per directory: the kernel lets one RENAME
        per directory in at a time), 8 MiB of each file still in the page
        cache: every rename ends, done or EBUSY (the cap on renames waiting for
        write-back: fs/ops_namespace.c), and each one done left its complete
        data in BACKING.  The timing rarely lets 16 of them wait at once, so
        this shows no hang and no loss, not that the cap is reached."""
        import threading
        data = b'D' * (8 << 20)
        outcome = {}

        def one(k):
            d = self.m.path('d%02d' % k)
            os.mkdir(d)
            fd = os.open(os.path.join(d, 'new'), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                go.wait()
                try:
                    os.rename(os.path.join(d, 'new'), os.path.join(d, 'target'))
                    outcome[k] = 0
                except OSError as e:
                    outcome[k] = e.errno
            finally:
                os.close(fd)
        go = threading.Event()
        threads = [threading.Thread(target=one, args=(k,)) for k in range(20)]
        for t in threads:
            t.start()
        go.set()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive(), 'a rename did not return')
        self.assertEqual(sorted(set(outcome.values()) - {0, errno.EBUSY}), [])
        for k, e in outcome.items():
            if e == 0:
                self.assertEqual(os.stat(os.path.join(self.fx.backing, 'd%02d' % k,
                                                      'target')).st_size, len(data))


def abort_connection(conn):
    """Free a wedged connection by hand (what fs/conn_abort.c does), so that a
    failing test leaves no unkillable daemon behind."""
    top = '/sys/fs/fuse/connections'
    if not os.path.exists(os.path.join(top, str(conn))):
        subprocess.run(['mount', '-t', 'fusectl', 'fusectl', top], capture_output=True)
    try:
        with open(os.path.join(top, str(conn), 'abort'), 'w') as f:
            f.write('1')
    except OSError:
        pass


class DaemonDiesDuringWriteBack(unittest.TestCase):
    """A rename of a file open for writing waits in the kernel for the file's
    pages to be written back, which other workers answer (RenameWhileOpen).  If
    the daemon dies then (SIGKILL here; a crash, the OOM killer), nobody
    answers: the waiting thread never left the kernel, the process never
    finished dying, the mount and BACKING's lock stayed held, and a new durfs on
    BACKING waited for good.  At SIGTERM the daemon hung joining its workers.
    Now a watchdog process (a kill, also of the daemon's whole process group) or
    the daemon itself (SIGTERM) aborts the connection (fs/conn_abort.c): the
    daemon goes, BACKING mounts again, and the rename was done with all its
    data or not at all, also when someone else aborts the connection (fusectl,
    `umount -f`) while the daemon lives, and no dead mount is left behind.
    A core-dumping daemon (SIGSEGV, SIGABRT) never ends its main thread, so the
    watchdog also looks for CoreDumping.  Without the watchdog, its setsid, its
    CoreDumping poll or the self-abort the daemon is still there 15 s later on
    the first try; without asking the connection after the write-back
    (conn_is_aborted) the target is left partial; without conn_abort_unmount
    a dead mount stays (found by helpers' stress, review and probes; checked)."""

    SIZE = 64 << 20

    def one_try(self, how, delay):
        fx = H.Fixture()
        try:
            m = fx.mount()
            conn = os.minor(os.stat(m.mnt).st_dev)
            with open(m.path('target'), 'wb') as f:
                f.write(b'old' * 1000)
            r, w = os.pipe()
            child = os.fork()
            if child == 0:
                try:
                    fd = os.open(m.path('new'), os.O_RDWR | os.O_CREAT, 0o644)
                    os.write(fd, b'x' * self.SIZE)  # stays open: dirty in the kernel
                    os.write(w, b'1')
                    os.rename(m.path('new'), m.path('target'))
                except OSError:
                    pass
                os._exit(0)
            os.close(w)
            os.read(r, 1)
            os.close(r)
            time.sleep(delay)
            if how == 'killpg':
                os.killpg(m.pid, signal.SIGKILL)
            elif how == 'abort':
                abort_connection(conn)
            else:
                os.kill(m.pid, how)
            deadline = time.monotonic() + 15
            while m.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            wedged = m.proc.poll() is None
            if wedged:
                abort_connection(conn)
                m.proc.wait(30)
            os.waitpid(child, 0)
            left_mounted = os.path.ismount(m.mnt)
            subprocess.run(['fusermount3', '-uz', m.mnt], capture_output=True)
            fx.m = None
            self.assertFalse(wedged, 'the daemon was still there 15 s after %s' % how)
            if how in (signal.SIGTERM, 'abort'):  # the daemon itself ends the mount
                self.assertFalse(left_mounted, 'a dead mount left at MOUNTPOINT (%s)' % how)
            m = fx.mount()
            self.assertIn(os.stat(m.path('target')).st_size, (3000, self.SIZE))
            self.assertEqual(fx.unmount(), 0)
        finally:
            fx.close()

    def test_sigkill_during_a_rename_write_back(self):
        for delay in (0.01, 0.03, 0.06):
            self.one_try(signal.SIGKILL, delay)

    def test_sigkill_of_the_process_group_during_a_rename_write_back(self):
        for delay in (0.01, 0.03, 0.06):
            self.one_try('killpg', delay)

    def test_sigterm_during_a_rename_write_back(self):
        for delay in (0.01, 0.03, 0.06):
            self.one_try(signal.SIGTERM, delay)

    def test_core_dumping_signals_during_a_rename_write_back(self):
        # a core dump waits for every thread: the main one never exits to
        # trigger PR_SET_PDEATHSIG (wedged without the CoreDumping poll).  No
        # core file (the daemon inherits the limit); the wait happens anyway.
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        for how, delay in ((signal.SIGSEGV, 0.03), (signal.SIGABRT, 0.06)):
            self.one_try(how, delay)

    def test_abort_from_outside_during_a_rename_write_back(self):
        for delay in (0.01, 0.03, 0.06):
            self.one_try('abort', delay)

if __name__ == '__main__':
    unittest.main()
