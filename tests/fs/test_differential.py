"""Differential test: one seeded random sequence of operations is applied to a
plain directory (on the same filesystem as BACKING) and to the durfs mount in
lockstep.  Return values and errno must match at every step, and at the end
(and again after a remount) the trees must be equal: names, types, modes,
sizes, content, link counts, xattrs, symlink targets.  A failure prints the
seed and the step; rerun one seed with DIFF_SEEDS=<seed>.  DIFF_MOUNT_OPTS picks
the mode (meson runs close, sync and ordered)."""
import errno
import os
import random
import stat
import unittest

import durfs_harness as H

H.require_root_fuse()
SEEDS = [int(s) for s in os.environ.get('DIFF_SEEDS', '1,2,3,4,5,6').split(',')]
STEPS = int(os.environ.get('DIFF_STEPS', '1500'))
MOUNT_OPTS = os.environ.get('DIFF_MOUNT_OPTS')  # e.g. durability=sync (no writeback cache)
NAMES = ['a', 'b', 'c', 'd1', 'd2', 'd1/x', 'd1/y', 'd2/x', 'd1/d3', 'd1/d3/z', 'l']
FDS = 4


class Side:
    """One tree plus its table of open fds (slots)."""

    def __init__(self, root):
        self.root = root
        self.fds = [None] * FDS

    def p(self, rel):
        return os.path.join(self.root, rel)

    def close_all(self):
        for i, fd in enumerate(self.fds):
            if fd is not None:
                os.close(fd)
                self.fds[i] = None


def gen_op(rng):
    """A random op as (name, args); args are plain values so both sides get the same."""
    n = lambda: rng.choice(NAMES)  # noqa: E731
    data = lambda: bytes([rng.randrange(256)]) * rng.choice((1, 100, 5000, 70000))  # noqa: E731
    kind = rng.choice(['create', 'create', 'write', 'truncate', 'mkdir', 'mkdir', 'rmdir',
                       'unlink', 'rename', 'rename', 'rename2', 'link', 'symlink', 'chmod',
                       'setxattr', 'removexattr', 'read', 'stat', 'open', 'fdwrite', 'fdread',
                       'fdstat', 'fdtrunc', 'close', 'fsync', 'readdir', 'mkfifo', 'chown',
                       'utime', 'fallocate', 'copy', 'fdatasync'])
    if kind == 'create':
        return kind, (n(), rng.choice([0, os.O_EXCL, os.O_TRUNC, os.O_APPEND]),
                      rng.choice([0o644, 0o600, 0o755]), data())
    if kind == 'write':
        return kind, (n(), rng.randrange(0, 100000), data())
    if kind in ('truncate', 'fdtrunc'):
        return kind, (n() if kind == 'truncate' else rng.randrange(FDS), rng.randrange(0, 90000))
    if kind in ('mkdir', 'rmdir', 'unlink', 'read', 'stat', 'readdir', 'mkfifo', 'removexattr'):
        return kind, (n(),) + (('user.k%d' % rng.randrange(3),) if kind == 'removexattr' else ())
    if kind == 'rename':
        return kind, (n(), n())
    if kind == 'rename2':
        return kind, (n(), n(), rng.choice([H.RENAME_NOREPLACE, H.RENAME_EXCHANGE]))
    if kind == 'link':
        return kind, (n(), n())
    if kind == 'symlink':
        return kind, (rng.choice(['a', '../b', 'nowhere', 'd1/x']), n())
    if kind == 'chmod':
        return kind, (n(), rng.choice([0o600, 0o644, 0o755, 0o700, 0o1777, 0o2755, 0o4711]))
    if kind == 'chown':  # clears set-id bits of files, as a local fs decides
        return kind, (n(), rng.choice([-1, 0, 1234]), rng.choice([-1, 0, 5678]))
    if kind == 'utime':
        return kind, (n(), rng.choice([H.UTIME_NOW, H.UTIME_OMIT, (1, 5), (2 ** 33, 999999999)]),
                      rng.choice([H.UTIME_OMIT, (7, 0), (1700000000, 123456789)]))
    if kind == 'fallocate':  # 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE
        return kind, (rng.randrange(FDS), rng.choice([0, 1, 3, 0x10]), rng.randrange(0, 90000),
                      rng.choice([1, 4096, 20000]))
    if kind == 'copy':
        return kind, (rng.randrange(FDS), rng.randrange(FDS), rng.choice([1, 5000, 100000]),
                      rng.randrange(0, 80000), rng.randrange(0, 80000))
    if kind == 'setxattr':
        return kind, (n(), 'user.k%d' % rng.randrange(3), data()[:rng.choice((1, 50, 3000))],
                      rng.choice([0, os.XATTR_CREATE, os.XATTR_REPLACE]))
    if kind == 'open':
        return kind, (rng.randrange(FDS), n(), rng.choice([os.O_RDWR, os.O_RDONLY,
                                                           os.O_RDWR | os.O_CREAT,
                                                           os.O_WRONLY | os.O_APPEND]))
    if kind == 'fdwrite':
        return kind, (rng.randrange(FDS), rng.randrange(0, 100000), data())
    if kind in ('fdread', 'fdstat', 'close', 'fsync', 'fdatasync'):
        return kind, (rng.randrange(FDS),)
    raise AssertionError(kind)


def apply(side, kind, a):
    """Apply one op; returns a comparable result (never an fd or inode number)."""
    P = side.p
    if kind == 'create':
        fd = os.open(P(a[0]), os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK | a[1], a[2])
        try:
            return os.write(fd, a[3])
        finally:
            os.close(fd)
    if kind == 'write':
        fd = os.open(P(a[0]), os.O_WRONLY | os.O_NONBLOCK)  # never block on a fifo
        try:
            return os.pwrite(fd, a[2], a[1])
        finally:
            os.close(fd)
    if kind == 'truncate':
        return os.truncate(P(a[0]), a[1])
    if kind == 'mkdir':
        return os.mkdir(P(a[0]), 0o755)
    if kind == 'rmdir':
        return os.rmdir(P(a[0]))
    if kind == 'unlink':
        return os.unlink(P(a[0]))
    if kind == 'rename':
        return os.rename(P(a[0]), P(a[1]))
    if kind == 'rename2':
        return H.renameat2(P(a[0]), P(a[1]), a[2])
    if kind == 'link':
        return os.link(P(a[0]), P(a[1]), follow_symlinks=False)
    if kind == 'symlink':
        return os.symlink(a[0], P(a[1]))
    if kind == 'chmod':
        return os.chmod(P(a[0]), a[1], follow_symlinks=True)
    if kind == 'chown':
        os.chown(P(a[0]), a[1], a[2], follow_symlinks=False)
        return describe(os.lstat(P(a[0])))
    if kind == 'utime':
        H.utimensat(P(a[0]), a[1], a[2], follow=False)
        # NOW differs between the sides: compare the fixed times.  Not a symlink's
        # atime: resolving a path through that same symlink (hard-linked into a
        # directory it points to) reads it, and relatime moves its atime to now.
        st = os.lstat(P(a[0]))
        fixed = lambda t: t not in (H.UTIME_NOW, H.UTIME_OMIT)  # noqa: E731
        return (st.st_atime_ns if fixed(a[1]) and not stat.S_ISLNK(st.st_mode) else None,
                st.st_mtime_ns if fixed(a[2]) else None)
    if kind == 'setxattr':
        return os.setxattr(P(a[0]), a[1], a[2], a[3], follow_symlinks=False)
    if kind == 'removexattr':
        return os.removexattr(P(a[0]), a[1], follow_symlinks=False)
    if kind == 'read':  # O_NONBLOCK: a fifo must not block the test
        fd = os.open(P(a[0]), os.O_RDONLY | os.O_NONBLOCK)
        try:
            return os.read(fd, 200000)
        finally:
            os.close(fd)
    if kind == 'stat':
        return describe(os.lstat(P(a[0])))
    if kind == 'readdir':
        return sorted(os.listdir(P(a[0])))
    if kind == 'mkfifo':
        return os.mkfifo(P(a[0]), 0o600)
    if kind == 'open':
        slot = a[0]
        if side.fds[slot] is not None:
            os.close(side.fds[slot])
            side.fds[slot] = None
        side.fds[slot] = os.open(P(a[1]), a[2] | os.O_NONBLOCK, 0o640)
        return 'opened'
    fd = side.fds[a[0]]
    if fd is None:
        return 'no fd'
    if kind == 'fdwrite':
        return os.pwrite(fd, a[2], a[1])
    if kind == 'fdread':
        return os.pread(fd, 200000, 0)
    if kind == 'fdstat':
        st = os.fstat(fd)
        return (st.st_size, st.st_nlink, stat.S_IFMT(st.st_mode))
    if kind == 'fdtrunc':
        return os.ftruncate(fd, a[1])
    if kind == 'fallocate':
        H.fallocate(fd, a[1], a[2], a[3])
        return os.fstat(fd).st_size
    if kind == 'copy':
        out = side.fds[a[1]]
        if out is None:
            return 'no fd'
        return os.copy_file_range(fd, out, a[2], a[3], a[4])
    if kind == 'fdatasync':
        return os.fdatasync(fd)
    if kind == 'fsync':
        return os.fsync(fd)
    if kind == 'close':
        os.close(fd)
        side.fds[a[0]] = None
        return 'closed'
    raise AssertionError(kind)


def describe(st):
    size = st.st_size if not stat.S_ISDIR(st.st_mode) else None  # dir sizes are fs-internal
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), size, st.st_nlink, st.st_uid,
            st.st_gid)


def outcome(side, kind, a):
    try:
        return ('ok', apply(side, kind, a))
    except OSError as e:
        return ('errno', errno.errorcode.get(e.errno, e.errno))


def snapshot(root):
    """Everything comparable about a tree, keyed by relative path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for nm in dirnames + filenames:
            full = os.path.join(dirpath, nm)
            rel = os.path.relpath(full, root)
            if rel == '.durfs':
                continue
            st = os.lstat(full)
            entry = {'stat': describe(st)}
            if stat.S_ISREG(st.st_mode):
                with open(full, 'rb') as f:
                    entry['data'] = f.read()
            if stat.S_ISLNK(st.st_mode):
                entry['link'] = os.readlink(full)
            else:
                entry['xattrs'] = {x: os.getxattr(full, x, follow_symlinks=False)
                                   for x in sorted(os.listxattr(full, follow_symlinks=False))
                                   if x.startswith('user.')}
            out[rel] = entry
        dirnames[:] = [d for d in dirnames if not (dirpath == root and d == '.durfs')]
    return out


class Differential(unittest.TestCase):
    def test_seeds(self):
        fx = H.Fixture()
        try:
            ref_root = os.path.join(fx.tmp, 'ref')
            m = fx.mount(opts=MOUNT_OPTS)
            for seed in SEEDS:
                ref_dir = os.path.join(ref_root, 's%d' % seed)
                os.makedirs(ref_dir)
                os.mkdir(m.path('s%d' % seed))
                self.run_seed(seed, Side(ref_dir), Side(m.path('s%d' % seed)))
            self.assertEqual(fx.unmount(), 0)
            m = fx.mount(opts=MOUNT_OPTS)  # the remounted tree must still be equal
            for seed in SEEDS:
                self.compare(seed, 'after remount', os.path.join(ref_root, 's%d' % seed),
                             m.path('s%d' % seed))
            self.assertEqual(fx.unmount(), 0)
        finally:
            fx.close()

    def run_seed(self, seed, ref, dut):
        rng = random.Random(seed)
        try:
            for step in range(STEPS):
                kind, a = gen_op(rng)
                r_ref, r_dut = outcome(ref, kind, a), outcome(dut, kind, a)
                if r_ref != r_dut:
                    short = lambda r: (r[0], r[1][:40] if isinstance(r[1], bytes) else r[1])  # noqa
                    self.fail('seed %d step %d: %s%r: plain dir %r, durfs %r' % (
                        seed, step, kind, tuple(x if not isinstance(x, bytes) else
                                                '<%d bytes>' % len(x) for x in a),
                        short(r_ref), short(r_dut)))
        finally:
            ref.close_all()
            dut.close_all()
        self.compare(seed, 'after %d steps' % STEPS, ref.root, dut.root)
        print('seed %d: %d steps equal' % (seed, STEPS))

    def compare(self, seed, when, ref_root, dut_root):
        a, b = snapshot(ref_root), snapshot(dut_root)
        self.assertEqual(sorted(a), sorted(b), 'seed %d %s: names differ' % (seed, when))
        for rel in a:
            for key in a[rel]:
                self.assertEqual(a[rel][key], b[rel].get(key), 'seed %d %s: %s of %s differs' % (
                    seed, when, key, rel))


if __name__ == '__main__':
    H.main()
