"""Shared bits of the workload programs: arguments, stop signal, payloads."""
import argparse
import hashlib
import os
import random
import signal
import struct
import zlib

stop = False


def _on_term(_sig, _frame):
    global stop
    stop = True


def setup(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--root", required=True, help="directory to work in (mount or raw fs)")
    ap.add_argument("--log", required=True, help="ack log path prefix (outside the cut)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--fsync", action="store_true",
                    help="use the correct pattern (fsync file and directory)")
    ap.add_argument("--durfs", action="store_true",
                    help="root is a durfs mount (not the raw filesystem)")
    ap.add_argument("--ckpt", action="store_true",
                    help="also force durfs checkpoints in a loop")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    os.umask(0)
    return args


def start(description):
    """Parse the arguments and fork the processes.  In each process: (args, its
    index, its seeded rng, its ack log); process 0 also starts the checkpoint
    forcer when asked (--ckpt)."""
    import acklog
    args = setup(description)
    idx = fork_procs(args.procs)
    if idx == 0 and args.ckpt:
        force_checkpoints(args.root)
    rng = random.Random(args.seed * 1000 + idx)
    return args, idx, rng, acklog.AckLog(f"{args.log}.{idx}.log")


def tree(root):
    """(is_dir, path relative to root) of everything below root."""
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for n in dirs:
            yield True, n if rel == "." else f"{rel}/{n}"
        for n in files:
            yield False, n if rel == "." else f"{rel}/{n}"


def fork_procs(n):
    """Fork n-1 children; returns this process's index (0..n-1)."""
    for i in range(1, n):
        if os.fork() == 0:
            return i
    return 0


def wait_children():
    try:
        while True:
            os.wait()
    except ChildProcessError:
        pass


def pattern(key, size):
    """Deterministic bytes for (key, size): never all zeros, differs per key."""
    block = hashlib.sha256(key.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


HDR = struct.Struct("<8sQII")  # magic, version, payload size, crc32(payload)
MAGIC = b"DURPCV01"


def versioned(key, version, size):
    body = pattern(f"{key}:{version}", size)
    return HDR.pack(MAGIC, version, size, zlib.crc32(body)) + body


def parse_versioned(data):
    """(version, None) for a complete version, or (None, why) if not one."""
    if len(data) == 0:
        return None, "zero-length file"
    if len(data) < HDR.size:
        return None, f"{len(data)} bytes, shorter than the header"
    magic, version, size, crc = HDR.unpack_from(data)
    if magic != MAGIC:
        return None, f"bad header {data[:8]!r} (zeros or garbage)"
    if len(data) != HDR.size + size:
        return None, f"version {version}: {len(data) - HDR.size} payload bytes, expected {size}"
    if zlib.crc32(data[HDR.size:]) != crc:
        return None, f"version {version}: payload checksum mismatch (torn or mixed content)"
    return version, None


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mount_root(path):
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def force_checkpoints(root):
    """Child process asking durfs for checkpoints in a loop (cut during
    checkpoint/rotation).  durfs serves trusted.durfs.* on its root inode only."""
    pid = os.fork()
    if pid:
        return pid
    import sys
    import time
    target = mount_root(root)
    done, failed = 0, None
    while not stop:
        try:
            os.setxattr(target, "trusted.durfs.checkpoint", b"1")
            done += 1
        except OSError as e:
            failed = e
        time.sleep(0.05)
    if done == 0:
        print(f"checkpoint forcer: no checkpoint on {target} succeeded: {failed}", file=sys.stderr)
        os._exit(1)
    os._exit(0)


def crc(data):
    return zlib.crc32(data)


def write_all(fd, data):
    """os.write until done: a short write (ENOSPC on the way) must never be
    acknowledged as a whole record."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
