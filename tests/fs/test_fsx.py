"""fsx-style data exerciser (after xfstests' fsx): per seed, one file takes a
random sequence of writes (also through a second, O_APPEND fd), reads, writes
and reads through a shared mapping, truncates, fallocate (0, KEEP_SIZE,
PUNCH_HOLE, ZERO_RANGE), copy_file_range inside the file, fsync/fdatasync,
page-cache drops (POSIX_FADV_DONTNEED) and close/reopen.  Every read and every
size must match an in-memory model of the file, and after every fsync BACKING's
own copy of the file must too (what the daemon wrote is what the program
wrote).  The writeback cache is where a FUSE filesystem loses or resurrects
data: dirty pages past a truncate, a hole punched under cached pages, a mapping
extended by a truncate.

The same sequence runs on a plain directory first, which checks the model
itself.  A failure prints the seed and step; rerun one with FSX_SEEDS=<seed>.
FSX_MOUNT_OPTS picks the mode (meson runs close, which has the writeback cache,
and sync, which has none)."""
import mmap
import os
import random
import unittest

import durfs_harness as H

H.require_root_fuse()
SEEDS = [int(s) for s in os.environ.get('FSX_SEEDS', '1,2,3,4').split(',')]
STEPS = int(os.environ.get('FSX_STEPS', '1500'))
MOUNT_OPTS = os.environ.get('FSX_MOUNT_OPTS')
MAX_SIZE = 300 * 1024  # a few dozen pages, offsets not aligned to them
FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE, FALLOC_ZERO_RANGE = 0x1, 0x2, 0x10


class Mismatch(AssertionError):
    pass


class Exerciser:
    """Applies ops to one file (path) and keeps the model (bytearray)."""

    def __init__(self, path, backing_path):
        self.path = path
        self.backing_path = backing_path  # BACKING's copy (the file itself natively)
        self.model = bytearray()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.afd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def close(self):
        os.close(self.fd)
        os.close(self.afd)

    def expect(self, what, got, want):
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                      min(len(got), len(want))) if isinstance(got, bytes) else None
            raise Mismatch('%s: got %s, model %s%s' % (
                what, describe(got), describe(want),
                '' if at is None else ' (first difference at byte %d of it)' % at))

    def put(self, off, data):
        end = off + len(data)
        if end > len(self.model):
            self.model.extend(bytes(end - len(self.model)))
        self.model[off:end] = data

    def zero(self, off, end):
        end = min(end, len(self.model))
        if off < end:
            self.model[off:end] = bytes(end - off)

    def check_size(self, what):
        self.expect(what + ' size', os.fstat(self.fd).st_size, len(self.model))

    def step(self, rng):
        kind = rng.choice(['write', 'write', 'write', 'append', 'read', 'read', 'mapwrite',
                           'mapread', 'truncate', 'falloc', 'copy', 'sync', 'drop', 'reopen'])
        size = len(self.model)
        off = rng.randrange(MAX_SIZE)
        length = rng.choice((1, rng.randrange(1, 100), rng.randrange(1, 5000),
                             rng.randrange(1, 40000)))
        data = rng.randbytes(length)
        if kind == 'write':
            self.expect('pwrite count', os.pwrite(self.fd, data, off), length)
            self.put(off, data)
        elif kind == 'append':
            self.expect('append count', os.write(self.afd, data), length)
            self.put(size, data)
        elif kind == 'read':
            self.expect('pread(%d, %d)' % (off % (size + 1), length),
                        os.pread(self.fd, length, off % (size + 1)),
                        bytes(self.model[off % (size + 1):off % (size + 1) + length]))
        elif kind in ('mapwrite', 'mapread') and size:
            off %= size
            length = min(length, size - off)
            with mmap.mmap(self.fd, size) as m:
                if kind == 'mapwrite':
                    m[off:off + length] = data[:length]
                    if rng.random() < 0.5:
                        m.flush()  # msync(MS_SYNC)
                    self.put(off, data[:length])
                else:
                    self.expect('mapped read(%d, %d)' % (off, length), m[off:off + length],
                                bytes(self.model[off:off + length]))
        elif kind == 'truncate':
            new = rng.choice((0, off, size // 2, size + length))
            os.ftruncate(self.fd, new)
            del self.model[new:]
            self.model.extend(bytes(new - len(self.model)))
        elif kind == 'falloc':
            mode = rng.choice((0, FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE,
                               FALLOC_ZERO_RANGE, FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE))
            H.fallocate(self.fd, mode, off, length)
            if mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
                self.zero(off, off + length)
            if not mode & FALLOC_KEEP_SIZE and off + length > size:
                self.model.extend(bytes(off + length - size))
        elif kind == 'copy' and size:
            src = rng.randrange(size)
            dst = rng.choice((off, rng.randrange(size)))
            if src < dst + length and dst < src + length:
                return  # overlapping ranges in one file: EINVAL by design
            n = os.copy_file_range(self.fd, self.fd, length, src, dst)
            self.expect('copy_file_range count', 0 < n <= length, True)
            self.put(dst, bytes(self.model[src:src + n]))
        elif kind == 'sync':
            (os.fsync if rng.random() < 0.5 else os.fdatasync)(self.fd)
            with open(self.backing_path, 'rb') as f:
                self.expect('BACKING after fsync', f.read(), bytes(self.model))
        elif kind == 'drop':
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        elif kind == 'reopen':
            self.close()
            self.fd = os.open(self.path, os.O_RDWR)
            self.afd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        else:
            return
        self.check_size('after %s' % kind)


def describe(v):
    return '<%d bytes>' % len(v) if isinstance(v, bytes) else repr(v)


def run_seed(seed, path, backing_path):
    rng = random.Random(seed)
    ex = Exerciser(path, backing_path)
    step = 0
    try:
        for step in range(STEPS):
            ex.step(rng)
        ex.close()
        with open(path, 'rb') as f:
            ex.expect('content at the end', f.read(), bytes(ex.model))
    except Mismatch as e:
        raise Mismatch('seed %d step %d: %s' % (seed, step, e)) from None
    return bytes(ex.model)


class Fsx(unittest.TestCase):
    def test_seeds(self):
        fx = H.Fixture()
        try:
            plain = os.path.join(fx.tmp, 'plain')
            os.mkdir(plain)
            m = fx.mount(opts=MOUNT_OPTS)
            final = {}
            for seed in SEEDS:
                name = 'f%d' % seed
                run_seed(seed, os.path.join(plain, name), os.path.join(plain, name))
                final[name] = run_seed(seed, m.path(name), os.path.join(fx.backing, name))
                print('seed %d: %d steps, the model held' % (seed, STEPS))
            self.assertEqual(fx.unmount(), 0)
            m = fx.mount(opts=MOUNT_OPTS)
            for name, content in final.items():
                with open(m.path(name), 'rb') as f:
                    self.assertEqual(f.read(), content, '%s after remount' % name)
            self.assertEqual(fx.unmount(), 0)
        finally:
            fx.close()


if __name__ == '__main__':
    H.main()
