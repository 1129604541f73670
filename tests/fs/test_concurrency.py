"""Many processes create, rename and unlink in shared directories at once:
every acknowledged result is there (also after a remount), and the journal's
group commit shares fsyncs (wal.syncs < metadata ops)."""
import os
import unittest

import durfs_harness as H

H.require_root_fuse()
PROCS = 16
OPS = 150  # per process; 3 kinds of metadata op each
DIRS = 2 * PROCS


def name(k, i):
    return 'p%d-%d' % (k, i)


def home(k, i):
    """Where file i of process k is created: mostly its own two directories (the
    kernel serializes creates in one directory, so shared dirs alone would hide
    any parallelism from the daemon)."""
    return 'd%d' % ((2 * k + i % 2) % DIRS)


def moved(k, i):
    """Renames go to the next process's directory: cross-directory, contended."""
    return 'd%d' % ((2 * k + 3) % DIRS)


def final(k, i):
    return (moved(k, i), 'r' + name(k, i)) if i % 2 == 0 else (home(k, i), name(k, i))


def worker(root, k):
    """Creates file i; renames every 2nd into another process's directory;
    unlinks every 3rd (three ops later).  Each process owns its names."""
    code = 0
    try:
        for i in range(OPS):
            p = os.path.join(root, home(k, i), name(k, i))
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, name(k, i).encode())
            os.close(fd)
            if i % 2 == 0:
                os.rename(p, os.path.join(root, *final(k, i)))
            if i % 3 == 0 and i >= 3:
                os.unlink(os.path.join(root, *final(k, i - 3)))
    except OSError as e:
        print('worker %d: %s' % (k, e), flush=True)
        code = 1
    os._exit(code)


def expected(root):
    exp = {}
    for k in range(PROCS):
        for i in range(OPS):
            exp[final(k, i)] = name(k, i).encode()
        for i in range(3, OPS, 3):
            del exp[final(k, i - 3)]
    return exp


def metadata_ops():
    per = 0
    for i in range(OPS):
        per += 1 + (i % 2 == 0) + (i % 3 == 0 and i >= 3)
    return per * PROCS


class Concurrency(unittest.TestCase):
    def test_parallel_namespace_churn(self):
        fx = H.Fixture()
        try:
            m = fx.mount()
            root = m.path('c')
            os.mkdir(root)
            for d in range(DIRS):
                os.mkdir(os.path.join(root, 'd%d' % d))
            s0 = m.status()
            pids = []
            for k in range(PROCS):
                pid = os.fork()
                if pid == 0:
                    worker(root, k)
                pids.append(pid)
            codes = [os.waitpid(p, 0)[1] for p in pids]
            self.assertEqual(codes, [0] * PROCS, 'a worker got an error; log:\n' + m.log())
            s1 = m.status()
            exp = expected(root)
            self.check_tree(root, exp)
            ops = metadata_ops()
            syncs = s1['wal']['syncs'] - s0['wal']['syncs']
            appends = s1['wal']['appends'] - s0['wal']['appends']
            print('%d metadata ops from %d processes: %d WAL appends, %d WAL syncs '
                  '(%.1f records per sync)' % (ops, PROCS, appends, syncs,
                                               appends / max(syncs, 1)))
            self.assertGreaterEqual(appends, ops, 'not every metadata op was journaled')
            self.assertGreater(syncs, 0)
            self.assertLess(syncs, ops, 'group commit did not share any fsync')
            self.assertEqual(s1['durable_lsn'], s1['last_lsn'])
            self.assertEqual(fx.unmount(), 0)
            m = fx.mount()
            self.check_tree(root, exp)
            self.assertEqual(fx.unmount(), 0)
        finally:
            fx.close()

    def check_tree(self, root, exp):
        got = {}
        for d in range(DIRS):
            for n in os.listdir(os.path.join(root, 'd%d' % d)):
                with open(os.path.join(root, 'd%d' % d, n), 'rb') as f:
                    got[('d%d' % d, n)] = f.read()
        missing = sorted(set(exp) - set(got))
        extra = sorted(set(got) - set(exp))
        self.assertEqual((missing[:10], extra[:10]), ([], []), 'tree differs')
        bad = [k for k in exp if got[k] != exp[k]]
        self.assertEqual(bad[:10], [], 'content differs')


if __name__ == '__main__':
    H.main()
