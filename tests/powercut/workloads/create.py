#!/usr/bin/env python3
"""Workload: create + write + close WITHOUT fsync, in deep directory trees.

Each process creates files d<a>/d<b>/.../f<n> (depth 1..6, directories made on
demand) with deterministic content of 0 .. 128 KiB (at most 1500 files per
process, then it idles), and acknowledges each file
after close().  With --fsync: fsync the file and every directory it created.

Invariant checked (close/sync and raw controls): every acknowledged file exists
with exactly its content; no file or directory exists that was never begun.
ordered: only the second part (close does not make data durable there).
"""
import os
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


MAX_FILES = 1500  # per process


def file_path(idx, n, rng):
    depth = rng.randint(1, 6)
    parts = [f"p{idx}"] + [f"d{rng.randrange(3)}" for _ in range(depth)]
    return "/".join(parts + [f"f{n}"])


def main():
    args, idx, rng, log = common.start(__doc__)
    n = 0
    while not common.stop:
        if n >= MAX_FILES:  # keep the 1 GiB device from filling up on the raw fs
            time.sleep(0.1)
            continue
        n += 1
        rel = file_path(idx, n, rng)
        size = rng.choice([0, rng.randint(1, 4096), rng.randint(4097, 128 << 10)])
        log.begin(f=rel, s=size)
        parent = os.path.join(args.root, os.path.dirname(rel))
        made = []
        p = parent
        while not os.path.isdir(p):
            made.append(p)
            p = os.path.dirname(p)
        os.makedirs(parent, exist_ok=True)
        fd = os.open(os.path.join(args.root, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        common.write_all(fd, common.pattern(rel, size))
        if args.fsync:
            os.fsync(fd)
        os.close(fd)
        if args.fsync:
            common.fsync_dir(parent)
            for m in made:
                common.fsync_dir(os.path.dirname(m))
        log.ack(f=rel, s=size)
    if idx == 0:
        common.wait_children()


def check(root, bounds, mode, report):
    acked, begun = {}, {}
    for name in bounds.logs():
        for r in bounds.acked(name):
            acked[r["f"]] = r["s"]
        for r in bounds.begun(name):
            begun[r["f"]] = r["s"]
    for rel, size in sorted(acked.items()):
        path = os.path.join(root, rel)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if mode != "ordered":
                report(rel, f"file of {size} bytes (acknowledged)", "file missing")
            continue
        if mode != "ordered" and data != common.pattern(rel, size):
            got = "zero-length" if not data else f"{len(data)} bytes, wrong content" \
                if len(data) == size else f"{len(data)} bytes"
            report(rel, f"{size} bytes of its content", got)
    dirs_begun = set()
    for rel in begun:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            dirs_begun.add("/".join(parts[:i]))
    for is_dir, p in common.tree(root):
        if is_dir and p not in dirs_begun:
            report(p + "/", "no such directory (never created)", "directory exists")
        elif not is_dir and p not in begun:
            report(p, "no such file (never created)", "file exists")


if __name__ == "__main__":
    main()
