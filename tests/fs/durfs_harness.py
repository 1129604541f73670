"""Shared harness for the durfs integration tests (tests/fs/test_*.py).

Every test program mounts durfs itself on a fresh BACKING under /var/tmp and
unmounts in all cases -- normal end, assertion failure, exception, SIGTERM from
the meson timeout -- so no stale mount is ever left behind.  A temp tree is
removed only after its mount is gone (never rm -rf through a live mount).
Exit code 77 (meson "skip") when not root or without /dev/fuse.
"""
import atexit
import ctypes
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
MOUNT_WAIT_S = 60  # guard against a hung daemon, not a speed claim

_libc = ctypes.CDLL(None, use_errno=True)


def durfs_binary():
    path = os.environ.get('DURFS')
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, '..', '..', 'build', 'fs', 'durfs')
    return os.path.abspath(path)


def durfsctl(*args):
    """durfsctl's output (its exit status must be 0)."""
    ctl = os.environ.get('DURFSCTL') or os.path.join(os.path.dirname(durfs_binary()), '..',
                                                     'tools', 'durfsctl')
    r = subprocess.run([ctl] + list(args), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError('durfsctl %s: %s' % (' '.join(args), r.stderr.strip()))
    return r.stdout


def journal_dump(backing):
    """The journal's records as text lines (durfsctl dump; read-only, works while
    mounted)."""
    return durfsctl('dump', backing).splitlines()


def require_root_fuse():
    if os.geteuid() != 0:
        print('SKIP: durfs integration tests need root')
        sys.exit(SKIP)
    if not os.path.exists('/dev/fuse'):
        print('SKIP: no /dev/fuse')
        sys.exit(SKIP)
    if not shutil.which('fusermount3'):
        print('SKIP: no fusermount3')
        sys.exit(SKIP)
    if not os.access(durfs_binary(), os.X_OK):
        print('FAIL: durfs binary not found at %s (set DURFS=)' % durfs_binary())
        sys.exit(1)


def _unescape_mountinfo(field):
    out, i = bytearray(), 0
    b = field.encode('latin-1') if isinstance(field, str) else field
    while i < len(b):
        if b[i] == 0x5c and i + 3 < len(b):  # \ooo
            out.append(int(b[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def mount_entry(path):
    """The mountinfo line (as list of fields) of the topmost mount at path, or None."""
    want = os.fsencode(os.path.abspath(path))
    found = None
    with open('/proc/self/mountinfo', 'rb') as f:
        for line in f:
            fields = line.split()
            if _unescape_mountinfo(fields[4]) == want:
                found = fields
    return found


def is_fuse_mounted(path):
    e = mount_entry(path)
    if e is None:
        return False
    sep = e.index(b'-')
    return e[sep + 1].startswith(b'fuse')


_live = []  # Mount objects not yet stopped


def _cleanup_all():
    for m in list(_live):
        m.force_cleanup()


def _on_sigterm(signum, frame):
    _cleanup_all()
    sys.exit(128 + signum)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_sigterm)


def new_tmp(prefix='durfs-test-'):
    d = tempfile.mkdtemp(prefix=prefix, dir='/var/tmp')
    os.chmod(d, 0o755)
    return d


def remove_tree(path):
    """rm -rf path, but refuse if anything below it is still mounted."""
    want = os.fsencode(os.path.abspath(path)) + b'/'
    with open('/proc/self/mountinfo', 'rb') as f:
        for line in f:
            mp = _unescape_mountinfo(line.split()[4])
            if (mp + b'/').startswith(want):
                print('NOT removing %s: %s still mounted' % (path, mp), file=sys.stderr)
                return
    shutil.rmtree(path, ignore_errors=True)


class Mount:
    """One durfs daemon, run in the foreground (-f) as our child so that we know
    its pid and exit status.  The log (stderr) goes to a file next to BACKING."""

    def __init__(self, backing, mountpoint, opts=None, foreground=True, rlimit_nofile=None,
                 env=None, wrapper=()):
        self.backing = os.path.abspath(backing)
        self.mnt = os.path.abspath(mountpoint)
        self.opts = opts
        self.foreground = foreground
        self.rlimit_nofile = rlimit_nofile
        self.env = env
        self.wrapper = list(wrapper)  # argv before durfs's, e.g. unshare
        self.proc = None
        self.pid = None
        self.exit_code = None
        self.log_path = os.path.join(os.path.dirname(self.backing),
                                     'durfs-%s.log' % os.path.basename(self.mnt))

    def argv(self):
        a = self.wrapper + [durfs_binary()]
        if self.foreground:
            a.append('-f')
        if self.opts:
            a += ['-o', self.opts]
        return a + [self.backing, self.mnt]

    def _preexec(self):
        if self.rlimit_nofile:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.rlimit_nofile, self.rlimit_nofile))

    def start(self):
        with open(self.log_path, 'ab') as log:
            self._start(log)
        return self

    def _start(self, log):
        _live.append(self)
        if self.foreground:
            log_start = log.seek(0, os.SEEK_END)
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True,
                                         preexec_fn=self._preexec, env=self.env)
            self.pid = self.proc.pid
            deadline = time.monotonic() + MOUNT_WAIT_S
            # Mounted is not yet ready: durfs logs "mounted" once its own stat of
            # MOUNTPOINT went through, and an unmount before that finds the
            # mount busy (EBUSY).
            while not (is_fuse_mounted(self.mnt) and self._logged_since(log_start, b'durfs: mounted ')):
                if self.proc.poll() is not None:
                    _live.remove(self)
                    raise RuntimeError('durfs exited with %d before mounting; log:\n%s'
                                       % (self.proc.returncode, self.log()))
                if time.monotonic() > deadline:
                    self.force_cleanup()
                    raise RuntimeError('durfs did not mount within %ds; log:\n%s'
                                       % (MOUNT_WAIT_S, self.log()))
                time.sleep(0.02)
        else:
            r = subprocess.run(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                               preexec_fn=self._preexec, env=self.env, timeout=MOUNT_WAIT_S)
            if r.returncode != 0:
                _live.remove(self)
                raise RuntimeError('durfs exited with %d; log:\n%s' % (r.returncode, self.log()))
            if not is_fuse_mounted(self.mnt):
                self.force_cleanup()
                raise AssertionError('durfs returned 0 but %s is not mounted yet' % self.mnt)
            self.pid = self.status()['pid']

    def _logged_since(self, offset, text):
        with open(self.log_path, 'rb') as f:
            f.seek(offset)
            return text in f.read()

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read()[-8000:].decode('utf-8', 'replace')
        except OSError:
            return ''

    def _wait_pid_gone(self, timeout):
        deadline = time.monotonic() + timeout
        if self.proc is not None:
            try:
                self.exit_code = self.proc.wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        while os.path.exists('/proc/%d' % self.pid):
            try:
                with open('/proc/%d/stat' % self.pid) as f:
                    if f.read().split(')')[-1].split()[0] == 'Z':
                        break
            except OSError:
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, how='fusermount'):
        """Clean unmount; returns the daemon's exit status (None if daemonized)."""
        if how == 'fusermount':
            r = subprocess.run(['fusermount3', '-u', self.mnt], capture_output=True)
        elif how == 'umount':
            r = subprocess.run(['umount', self.mnt], capture_output=True)
        elif how == 'sigterm':
            os.kill(self.pid, signal.SIGTERM)
            r = None
        else:
            raise ValueError(how)
        if r is not None and r.returncode != 0:
            self.force_cleanup()
            raise RuntimeError('unmount of %s failed: %s' % (self.mnt, r.stderr.decode()))
        if not self._wait_pid_gone(120):
            self.force_cleanup()
            raise RuntimeError('durfs did not exit after unmount; log:\n' + self.log())
        if self in _live:
            _live.remove(self)
        if is_fuse_mounted(self.mnt):
            subprocess.run(['fusermount3', '-uz', self.mnt], capture_output=True)
            raise RuntimeError('durfs exited but %s is still mounted' % self.mnt)
        return self.exit_code

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self._wait_pid_gone(60)
        subprocess.run(['fusermount3', '-uz', self.mnt], capture_output=True)
        if self in _live:
            _live.remove(self)

    def force_cleanup(self):
        """Last resort: never leave a mount or a daemon behind."""
        if self.pid and os.path.exists('/proc/%d' % self.pid):
            subprocess.run(['fusermount3', '-u', self.mnt], capture_output=True)
            if not self._wait_pid_gone(10):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._wait_pid_gone(10)
        for _ in range(3):
            if not is_fuse_mounted(self.mnt):
                break
            subprocess.run(['fusermount3', '-uz', self.mnt], capture_output=True)
        if self in _live:
            _live.remove(self)

    def status(self):
        raw = os.getxattr(self.mnt, 'trusted.durfs.status')
        return json.loads(raw.decode())

    def checkpoint(self):
        os.setxattr(self.mnt, 'trusted.durfs.checkpoint', b'1')

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)


class Fixture:
    """A temp dir holding backing/ and mnt/ (and anything else a test wants)."""

    def __init__(self, opts=None, same=False, **kw):
        self.tmp = new_tmp()
        self.backing = os.path.join(self.tmp, 'backing')
        self.mntdir = self.backing if same else os.path.join(self.tmp, 'mnt')
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mntdir, exist_ok=True)
        os.chmod(self.backing, 0o755)
        os.chmod(self.mntdir, 0o755)
        self.opts = opts
        self.kw = kw
        self.m = None

    def mount(self, opts=None, **kw):
        k = dict(self.kw)
        k.update(kw)
        self.m = Mount(self.backing, self.mntdir, opts if opts is not None else self.opts, **k)
        # in the fixture's own directory: BACKING may be on a disk a test fills
        self.m.log_path = os.path.join(self.tmp, os.path.basename(self.m.log_path))
        return self.m.start()

    def unmount(self):
        code = None
        if self.m is not None:
            code = self.m.stop()
            self.m = None
        return code

    def close(self):
        if self.m is not None:
            self.m.force_cleanup()
            self.m = None
        remove_tree(self.tmp)


# ---- helpers shared by several tests ----

def errno_of(fn, *a, **kw):
    """Run fn; 0 if it succeeded, else the errno it raised."""
    try:
        fn(*a, **kw)
        return 0
    except OSError as e:
        return e.errno


def fill_up(path):
    """Use every free block of path's filesystem (as root: the reserve too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 4096, 512):
            try:
                while True:
                    os.write(fd, bytes(chunk))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
        os.fsync(fd)
    finally:
        os.close(fd)


def run_or_skip(*cmd):
    """Run a setup command; skip the test (not fail it) when the machine cannot."""
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise unittest.SkipTest('%s: %s' % (' '.join(cmd), r.stderr.decode(errors='replace')))
    return r.stdout.decode().strip()


class LoopExt4:
    """A fresh ext4 (mkfs.ext4 -O each of features) on a loop device over a new
    sparse image of size bytes, mounted at target.  close() undoes what was done."""

    def __init__(self, image, size, target, features=()):
        self.loop = None
        self.target = None
        with open(image, 'wb') as f:
            f.truncate(size)
        self.loop = run_or_skip('losetup', '-f', '--show', image)
        try:
            feats = [a for feat in features for a in ('-O', feat)]
            run_or_skip('mkfs.ext4', '-q', '-F', *feats, '-E',
                        'lazy_itable_init=0,lazy_journal_init=0', self.loop)
            run_or_skip('mount', self.loop, target)
        except BaseException:
            self.close()
            raise
        self.target = target

    def close(self):
        if self.target:
            subprocess.run(['umount', self.target], capture_output=True)
            self.target = None
        if self.loop:
            subprocess.run(['losetup', '-d', self.loop], capture_output=True)
            self.loop = None


class LoopExt4Case(unittest.TestCase):
    """A test whose BACKING is a directory on a fresh ext4 on a loop device:
    self.fx, then backing_on_ext4() makes the filesystem; tearDown undoes both."""

    def setUp(self):
        self.fx = Fixture()
        self.disk = os.path.join(self.fx.tmp, 'disk')
        os.mkdir(self.disk)
        self.ext4 = None

    def backing_on_ext4(self, size, features=(), image=None):
        self.ext4 = LoopExt4(image or os.path.join(self.fx.tmp, 'img'), size, self.disk, features)
        self.fx.backing = os.path.join(self.disk, 'data')
        os.mkdir(self.fx.backing)

    def release_mounts(self):
        """Unmount durfs, then the ext4."""
        if self.fx.m is not None:
            self.fx.m.force_cleanup()
            self.fx.m = None
        if self.ext4:
            self.ext4.close()
            self.ext4 = None

    def tearDown(self):
        self.release_mounts()
        self.fx.close()


def run_as(uid, gid, fn, groups=(), umask=0o022):
    """Run fn() in a forked child with the given credentials; return its result
    (or re-raise its OSError errno as OSError in the parent)."""
    import pickle
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.umask(umask)
            try:
                res = ('ok', fn())
            except OSError as e:
                res = ('oserror', e.errno, str(e))
            except BaseException as e:  # noqa: B902 -- report, never hang the parent
                res = ('exc', repr(e))
            os.write(w, pickle.dumps(res))
        finally:
            os._exit(0)
    os.close(w)
    data = b''
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    res = pickle.loads(data)
    if res[0] == 'ok':
        return res[1]
    if res[0] == 'oserror':
        raise OSError(res[1], res[2])
    raise RuntimeError('child failed: ' + res[1])


RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def renameat2(old, new, flags):
    r = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new),
                        ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


class _Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


def utimensat(path, atime, mtime, follow=True):
    """atime/mtime: (sec, nsec) tuples, or UTIME_NOW / UTIME_OMIT."""
    ts = (_Timespec * 2)()
    for i, t in enumerate((atime, mtime)):
        if t in (UTIME_NOW, UTIME_OMIT):
            ts[i].tv_sec, ts[i].tv_nsec = 0, t
        else:
            ts[i].tv_sec, ts[i].tv_nsec = t
    r = _libc.utimensat(AT_FDCWD, os.fsencode(path), ts, 0 if follow else 0x100)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def fallocate(fd, mode, off, length):
    r = _libc.fallocate(ctypes.c_int(fd), ctypes.c_int(mode), ctypes.c_long(off),
                        ctypes.c_long(length))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


AT_STATX_FORCE_SYNC = 0x2000


def getattr_sync(path):
    """statx(AT_STATX_FORCE_SYNC): a FUSE mount answers it with a GETATTR sent
    to the daemon, whatever the kernel has cached."""
    buf = ctypes.create_string_buffer(256)
    r = _libc.statx(AT_FDCWD, os.fsencode(path), AT_STATX_FORCE_SYNC, ctypes.c_uint(0x7ff), buf)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def main():
    """unittest.main with exit 1 on any failure and the daemon logs printed."""
    prog = unittest.main(exit=False, verbosity=2)
    _cleanup_all()
    ok = prog.result.wasSuccessful()
    sys.exit(0 if ok else 1)
