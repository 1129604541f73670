"""durfs command line: help/version, every refused configuration gives a
non-zero exit and a message naming the problem, the lock on BACKING, mounting
BACKING over itself, daemonizing, and the clean-exit paths."""
import os
import re
import subprocess
import sys
import time
import unittest

import durfs_harness as H

H.require_root_fuse()


def run(*args, timeout=60):
    return subprocess.run([H.durfs_binary()] + list(args), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def running(pid):
    """True while pid exists and is not a zombie (a daemon is reaped by init later)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def out(r):
    return (r.stdout + r.stderr).decode('utf-8', 'replace')


def stand_in_holder(backing, fuse_secs, lock_secs):
    """A process that takes BACKING's durfs lock as a daemon would (flock, its
    pid in the file), keeps /dev/fuse open for fuse_secs (0: never opens it),
    then holds the lock lock_secs more: an old daemon on its way out."""
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import fcntl, os, sys, time\n'
         'f = open(sys.argv[1], "r+")\n'
         'fcntl.flock(f, fcntl.LOCK_EX)\n'
         'f.seek(0); f.truncate(); f.write(str(os.getpid())); f.flush()\n'
         'fuse_secs = float(sys.argv[2])\n'
         'fuse = os.open("/dev/fuse", os.O_RDWR) if fuse_secs else -1\n'
         'print("locked", flush=True)\n'
         'if fuse_secs:\n'
         '    time.sleep(fuse_secs)\n'
         '    os.close(fuse)\n'
         'time.sleep(float(sys.argv[3]))\n',
         os.path.join(backing, '.durfs', 'lock'), str(fuse_secs), str(lock_secs)],
        stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b'locked'
    return holder


class Cmdline(unittest.TestCase):
    def setUp(self):
        self.fx = H.Fixture()

    def tearDown(self):
        self.fx.close()

    def assertRefused(self, r, *needles):
        self.assertNotEqual(r.returncode, 0, 'durfs accepted it: ' + out(r))
        msg = out(r)
        for n in needles:
            self.assertIn(n, msg, 'message does not name %r: %r' % (n, msg))
        self.assertFalse(H.is_fuse_mounted(self.fx.mntdir))

    def test_help_version(self):
        r = run('--help')
        self.assertEqual(r.returncode, 0, out(r))
        self.assertIn('durability=', out(r))
        r = run('--version')
        self.assertEqual(r.returncode, 0, out(r))
        self.assertIn('durfs 0.1.0', out(r))

    def test_bad_options(self):
        fx = self.fx
        self.assertRefused(run('-f', '-o', 'durability=bogus', fx.backing, fx.mntdir),
                           'bogus')
        self.assertRefused(run('-f', '-o', 'frobnicate', fx.backing, fx.mntdir), 'frobnicate')
        self.assertRefused(run('-f', '-o', 'durability=ordered,commit=-3', fx.backing,
                               fx.mntdir), 'commit')
        self.assertRefused(run('--no-such-flag', fx.backing, fx.mntdir))

    def test_missing_or_wrong_paths(self):
        fx = self.fx
        self.assertRefused(run('-f', fx.mntdir))  # only one path
        missing = os.path.join(fx.tmp, 'no-such-backing')
        self.assertRefused(run('-f', missing, fx.mntdir), 'no-such-backing')
        afile = os.path.join(fx.tmp, 'plainfile')
        open(afile, 'w').close()
        self.assertRefused(run('-f', afile, fx.mntdir), 'plainfile')
        self.assertRefused(run('-f', fx.backing, os.path.join(fx.tmp, 'no-such-mnt')),
                           'no-such-mnt')

    def test_journal_inside_backing(self):
        """-o journal=DIR inside BACKING would put the journal where programs can
        list and delete it through the mount: refused, also through a symlink and
        when BACKING is MOUNTPOINT.  Nothing but the (hidden) reserved directory
        is created in BACKING.  Without the
        check in ns_journal.c these mounts succeed and `ls MOUNTPOINT` shows the
        journal."""
        fx = self.fx
        link = os.path.join(fx.tmp, 'link-to-backing')
        os.symlink(fx.backing, link)
        try:  # without -f: a wrongly accepted mount returns at once, and is undone below
            for journal in (os.path.join(fx.backing, 'j'), fx.backing,
                            os.path.join(link, 'a', 'b')):
                self.assertRefused(run('-o', 'journal=' + journal, fx.backing, fx.mntdir),
                                   journal, 'inside BACKING')
                self.assertRefused(run('-o', 'journal=' + journal, fx.backing, fx.backing),
                                   'inside BACKING')
            # through ".." past a directory still to be created (found in review)
            sneaky = os.path.join(fx.tmp, 'out', 'missing', '..', '..', 'backing', 'j')
            self.assertRefused(run('-o', 'journal=' + sneaky, fx.backing, fx.mntdir), '..')
            # inside MOUNTPOINT the mount would hide the journal, and the next
            # mount would find MOUNTPOINT not empty (found in stop 13)
            self.assertRefused(run('-o', 'journal=' + os.path.join(fx.mntdir, 'j'),
                                   fx.backing, fx.mntdir), 'inside MOUNTPOINT')
            self.assertEqual(os.listdir(fx.mntdir), [])
        finally:
            for mnt in (fx.mntdir, fx.backing):
                if H.is_fuse_mounted(mnt):
                    subprocess.run(['umount', '-l', mnt], capture_output=True)
        self.assertEqual([n for n in os.listdir(fx.backing) if n != '.durfs'], [])
        # the reserved directory is hidden: a journal there is accepted
        m = fx.mount(opts='journal=' + os.path.join(fx.backing, '.durfs', 'elsewhere'))
        self.assertEqual(os.listdir(fx.mntdir), [])
        self.assertEqual(fx.unmount(), 0)

    def test_damaged_checkpoint_stops_the_mount(self):
        """A damaged checkpoint is refused at mount, naming it (docs/guarantees.md:
        damage stops the mount).  Recovery's best effort skipped it: where the WAL
        still began at LSN 1 the mount went on and its new checkpoint deleted the
        damaged one (found by probing), else the mount failed on a "WAL gap" that
        did not name it (this case; fails without check_checkpoints, checked).
        Nothing is deleted, and restored from a copy, it mounts."""
        fx = self.fx
        m = fx.mount()
        with open(m.path('f'), 'wb') as f:
            f.write(b'kept')
        self.assertEqual(fx.unmount(), 0)
        ckdir = os.path.join(fx.backing, '.durfs', 'journal', 'checkpoints')
        names = [n for n in os.listdir(ckdir) if n.endswith('.ckpt')]
        self.assertEqual(len(names), 1, names)
        with open(os.path.join(ckdir, names[0]), 'rb') as f:
            good = f.read()
        with open(os.path.join(ckdir, names[0]), 'r+b') as f:
            f.seek(20)
            f.write(b'garbage')
        r = run('-f', fx.backing, fx.mntdir)
        if H.is_fuse_mounted(fx.mntdir):
            subprocess.run(['umount', '-l', fx.mntdir], capture_output=True)
        self.assertRefused(r, names[0], 'not mounted')
        self.assertEqual(sorted(os.listdir(ckdir)), sorted(names), 'the evidence is kept')
        with open(os.path.join(ckdir, names[0]), 'wb') as f:  # restored from a copy
            f.write(good)
        m = fx.mount()
        with open(m.path('f'), 'rb') as f:
            self.assertEqual(f.read(), b'kept')
        self.assertEqual(fx.unmount(), 0)

    def test_other_users_enter_by_default(self):
        """Run as root, durfs lets every user in, as BACKING's own directory
        does (default_permissions decides), without -o allow_other: a service
        running as its own user reaches its data.  libfuse alone would refuse
        everyone but root (EACCES)."""
        m = self.fx.mount()
        os.mkdir(m.path('pub'))
        os.chmod(m.path('pub'), 0o1777)
        os.mkdir(m.path('private'), 0o700)
        H.run_as(65534, 65534, lambda: open(os.path.join(m.path('pub'), 'mine'), 'w').close())
        self.assertEqual(os.stat(os.path.join(self.fx.backing, 'pub', 'mine')).st_uid, 65534)
        with self.assertRaises(PermissionError):  # the mode bits still decide
            H.run_as(65534, 65534, lambda: os.listdir(m.path('private')))
        self.assertEqual(self.fx.unmount(), 0)

    def test_mount_flags_given_win(self):
        """nosuid/nodev/noexec come from BACKING's mount unless -o says otherwise
        (test_ops test_statfs checks the inherited ones)."""
        m = self.fx.mount(opts='nosuid,nodev,noexec')
        flags = os.statvfs(m.mnt).f_flag
        self.assertEqual(flags & (os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC),
                         os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC)
        self.assertEqual(self.fx.unmount(), 0)

    def test_nonempty_mountpoint(self):
        fx = self.fx
        open(os.path.join(fx.mntdir, 'occupant'), 'w').close()
        r = run('-f', fx.backing, fx.mntdir)
        self.assertRefused(r, fx.mntdir)
        self.assertRegex(out(r), re.compile('empty', re.I))

    def test_locked_backing(self):
        fx = self.fx
        m1 = fx.mount()
        other = os.path.join(fx.tmp, 'mnt2')
        os.mkdir(other)
        try:
            r = run('-f', fx.backing, other)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('locked by pid %d' % m1.pid, out(r))
            self.assertFalse(H.is_fuse_mounted(other))
            # the first mount is unharmed
            open(m1.path('still-works'), 'w').close()
        finally:
            self.assertEqual(fx.unmount(), 0)
        # the lock dies with the daemon: a new mount works
        fx.mount()
        self.assertTrue(os.path.exists(fx.m.path('still-works')))
        self.assertEqual(fx.unmount(), 0)

    def mount_past_an_exiting_holder(self, fuse_secs, lock_secs, before_mount=lambda: None):
        fx = self.fx
        fx.mount()
        self.assertEqual(fx.unmount(), 0)
        holder = stand_in_holder(fx.backing, fuse_secs, lock_secs)
        try:
            before_mount()
            m = fx.mount()
            self.assertTrue(H.is_fuse_mounted(fx.mntdir))
            self.assertIn('waiting for durfs (pid %d)' % holder.pid, m.log())
            self.assertEqual(fx.unmount(), 0)
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()

    def test_waits_for_an_exiting_lock_holder(self):
        """`umount` returns before the old daemon's final checkpoint releases the
        lock; a new durfs waits for a holder that no longer serves /dev/fuse
        instead of failing "locked by pid N".  A stand-in holder (flock, no
        /dev/fuse) releases after 1.5 s; without the wait in fs/main.c this
        mount fails."""
        def options_first():
            r = run('-f', '-o', 'nonexistent_option_to_stop_early', self.fx.backing,
                    self.fx.mntdir)
            self.assertNotEqual(r.returncode, 0)  # options are checked before the lock
        self.mount_past_an_exiting_holder(0, 1.5, options_first)

    def test_waits_for_a_holder_still_closing_dev_fuse(self):
        """`umount` returns before the old daemon has even closed /dev/fuse
        (its request loop is still ending); `umount X && durfs B X` then failed
        "locked by pid N" now and then.  A stand-in holder keeps /dev/fuse
        open for 0.3 s, then the lock for 1 s more: the new durfs must wait
        and mount, not fail at once (fails without holder_leaves_fuse in
        fs/main.c, checked by the helper that found it)."""
        self.mount_past_an_exiting_holder(0.3, 1)

    def test_mount_over_itself(self):
        fx = H.Fixture(same=True)
        try:
            with open(os.path.join(fx.backing, 'existing'), 'wb') as f:
                f.write(b'before mount')
            os.mkdir(os.path.join(fx.backing, 'dir'))
            m = fx.mount()
            self.assertEqual(m.mnt, m.backing)
            self.assertEqual(sorted(os.listdir(m.mnt)), ['dir', 'existing'])
            with open(m.path('existing'), 'rb') as f:
                self.assertEqual(f.read(), b'before mount')
            with open(m.path('dir', 'new'), 'wb') as f:
                f.write(b'through durfs')
            os.rename(m.path('existing'), m.path('dir', 'moved'))
            self.assertGreater(m.status()['last_lsn'], 0)
            self.assertEqual(fx.unmount(), 0)
            self.assertEqual(sorted(os.listdir(fx.backing)), ['.durfs', 'dir'])
            with open(os.path.join(fx.backing, 'dir', 'new'), 'rb') as f:
                self.assertEqual(f.read(), b'through durfs')
            self.assertTrue(os.path.exists(os.path.join(fx.backing, 'dir', 'moved')))
        finally:
            fx.close()

    def test_fstab_options_mount_and_work(self):
        """Options fstab lines carry: max_read= (libfuse makes init repeat it; the
        mount died with EPROTO at the first request before init did) and atime
        policies libfuse 3.14 refuses (relatime, nodiratime: dropped, FUSE keeps
        no atime; the mount failed before)."""
        fx = self.fx
        m = fx.mount(opts='max_read=131072,relatime,nodiratime,strictatime,lazytime')
        with open(m.path('f'), 'wb') as f:
            f.write(b'x' * 300000)
        with open(m.path('f'), 'rb') as f:
            self.assertEqual(len(f.read()), 300000)
        self.assertEqual(fx.unmount(), 0)

    def test_mount_libfuse_refuses_is_a_failed_mount(self):
        """durfs (daemon mode) exits 0 only once a stat of MOUNTPOINT went through
        the request loop.  With an init libfuse refuses after it ran (test hook;
        a -o max_read= durfs did not repeat was one), it exits 1 with a message
        and leaves nothing mounted.  Before, it exited 0 for a dead mount."""
        fx = self.fx
        env = dict(os.environ, DURFS_TEST_BREAK_INIT='1')
        r = subprocess.run([H.durfs_binary(), fx.backing, fx.mntdir], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('could not start the mount', r.stderr)
        deadline = time.monotonic() + 10
        while H.is_fuse_mounted(fx.mntdir) and time.monotonic() < deadline:
            time.sleep(0.05)  # the child unmounts after telling the parent
        self.assertFalse(H.is_fuse_mounted(fx.mntdir))

    def test_daemonize_and_umount(self):
        fx = self.fx
        m = fx.mount(foreground=False)  # returns only when mounted (checked in start)
        self.assertNotEqual(m.pid, os.getpid())
        open(m.path('x'), 'w').close()
        m.stop(how='umount')
        fx.m = None
        self.assertFalse(H.is_fuse_mounted(fx.mntdir))
        self.assertFalse(running(m.pid), 'daemon still running after umount')

    def test_exit_codes(self):
        fx = self.fx
        fx.mount(opts='durability=sync')
        self.assertEqual(fx.m.status()['mode'], 'sync')
        self.assertEqual(fx.unmount(), 0, 'fusermount3 -u: durfs exit status')
        m = fx.mount(opts='durability=ordered,commit=1')
        self.assertEqual(m.status()['mode'], 'ordered')
        self.assertEqual(m.stop(how='sigterm'), 0, 'SIGTERM: durfs exit status')
        fx.m = None
        self.assertFalse(H.is_fuse_mounted(fx.mntdir), 'SIGTERM left the mount behind')


if __name__ == '__main__':
    H.main()
