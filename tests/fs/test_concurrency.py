"""Many processes create, rename and unlink in shared directories at once:
every acknowledged result is there (also after a remount), and the journal's
group commit shares fsyncs (wal.syncs < metadata ops)."""
import os
import unittest

import durfs_harness as H

H.require_root_fuse()
PROCS = 8
OPS = 240  # per process; 3 kinds of metadata op each
DIRS = 3


def name(k, i):
    return 'p%d-%d' % (k, i)


def worker(root, k):
    """Creates file i in dir i%DIRS; renames every 2nd into the next dir;
    unlinks every 3rd.  Each process owns its names, the directories are shared."""
    code = 0
    try:
        for i in range(OPS):
            d = os.path.join(root, 'd%d' % (i % DIRS))
            fd = os.open(os.path.join(d, name(k, i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, name(k, i).encode())
            os.close(fd)
            if i % 2 == 0:
                os.rename(os.path.join(d, name(k, i)),
                          os.path.join(root, 'd%d' % ((i + 1) % DIRS), 'r' + name(k, i)))
            if i % 3 == 0:
                j = i - 3
                if j >= 0:
                    src = os.path.join(root, 'd%d' % ((j + 1) % DIRS), 'r' + name(k, j)) \
                        if j % 2 == 0 else os.path.join(root, 'd%d' % (j % DIRS), name(k, j))
                    os.unlink(src)
    except OSError as e:
        print('worker %d: %s' % (k, e), flush=True)
        code = 1
    os._exit(code)


def expected(root):
    exp = {}
    for k in range(PROCS):
        for i in range(OPS):
            loc = ('d%d' % ((i + 1) % DIRS), 'r' + name(k, i)) if i % 2 == 0 \
                else ('d%d' % (i % DIRS), name(k, i))
            exp[loc] = name(k, i).encode()
        for i in range(0, OPS, 3):
            j = i - 3
            if j >= 0:
                loc = ('d%d' % ((j + 1) % DIRS), 'r' + name(k, j)) if j % 2 == 0 \
                    else ('d%d' % (j % DIRS), name(k, j))
                del exp[loc]
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
