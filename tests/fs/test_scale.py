"""Scale (suite 'slow'): create, stat and rename 200,000 files through durfs
while the daemon's fd limit is 20,000, then check its peak resident memory
(VmHWM) against 64 MiB + 256 B per inode.  Prints the figures.
SCALE_FILES=<n> runs a smaller version."""
import os
import unittest

import durfs_harness as H

H.require_root_fuse()
FILES = int(os.environ.get('SCALE_FILES', '200000'))
DIRS = 100
PROCS = 4
FD_LIMIT = 20000


def vm(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def work(root, k, phase):
    per_dir = FILES // DIRS
    code = 0
    try:
        for d in range(k, DIRS, PROCS):
            dp = os.path.join(root, 'd%03d' % d)
            for i in range(per_dir):
                n = os.path.join(dp, 'f%06d' % i)
                if phase == 'create':
                    os.close(os.open(n, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                elif phase == 'stat':
                    if os.stat(n).st_size != 0:
                        code = 2
                elif phase == 'rename':
                    os.rename(n, os.path.join(dp, 'r%06d' % i))
    except OSError as e:
        print('worker %d %s: %s' % (k, phase, e), flush=True)
        code = 1
    os._exit(code)


def parallel(root, phase):
    pids = []
    for k in range(PROCS):
        pid = os.fork()
        if pid == 0:
            work(root, k, phase)
        pids.append(pid)
    return [os.WEXITSTATUS(os.waitpid(p, 0)[1]) for p in pids]


class Scale(unittest.TestCase):
    def test_200k_files(self):
        # ordered mode: this test is about memory and fds, not the cost of fsync
        fx = H.Fixture(opts='durability=ordered', rlimit_nofile=FD_LIMIT)
        try:
            m = fx.mount()
            with open('/proc/%d/limits' % m.pid) as f:
                line = [x for x in f if x.startswith('Max open files')][0]
            self.assertEqual(line.split()[3:5], [str(FD_LIMIT)] * 2, line)
            root = m.path('scale')
            os.mkdir(root)
            for d in range(DIRS):
                os.mkdir(os.path.join(root, 'd%03d' % d))
            for phase in ('create', 'stat', 'rename'):
                codes = parallel(root, phase)
                self.assertEqual(codes, [0] * PROCS, '%s failed; daemon log:\n%s' % (phase,
                                                                                    m.log()))
                fds = len(os.listdir('/proc/%d/fd' % m.pid))
                print('%s of %d files done: daemon has %d fds open, VmRSS %.1f MiB' % (
                    phase, FILES, fds, vm(m.pid, 'VmRSS') / 2**20), flush=True)
                self.assertLess(fds, FD_LIMIT)
            total = sum(len(os.listdir(os.path.join(root, 'd%03d' % d))) for d in range(DIRS))
            self.assertEqual(total, FILES // DIRS * DIRS)
            self.assertTrue(os.path.exists(os.path.join(root, 'd042', 'r%06d' % (FILES // DIRS - 1))))
            hwm = vm(m.pid, 'VmHWM')
            inodes = FILES + DIRS + 2
            limit = 64 * 2**20 + 256 * inodes
            print('daemon peak RSS (VmHWM) %.1f MiB for %d inodes = %.0f B/inode over 64 MiB; '
                  'limit %.1f MiB' % (hwm / 2**20, inodes, max(hwm - 64 * 2**20, 0) / inodes,
                                      limit / 2**20))
            self.assertLess(hwm, limit, 'daemon peak RSS over budget')
            self.assertEqual(fx.unmount(), 0)
        finally:
            fx.close()


if __name__ == '__main__':
    H.main()
