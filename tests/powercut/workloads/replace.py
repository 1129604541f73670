#!/usr/bin/env python3
"""Workload: atomic replace WITHOUT fsync, many writers, sizes 0 .. 2 MiB.

Each process owns 6 targets and loops: write TARGET.tmp, close, rename over
TARGET (what editors and config writers do).  With --fsync it uses the correct
pattern instead: fsync tmp, rename, fsync the directory.

Invariant checked (close/sync, and the raw-fs controls): every target whose
version v was acknowledged holds a complete version >= v that was begun before
the snapshot.  ordered: a target, if present, holds a complete begun version.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

TARGETS = 6


def sizes(rng):
    r = rng.random()
    if r < 0.3:
        return rng.randint(0, 64)
    if r < 0.8:
        return rng.randint(65, 64 << 10)
    return rng.randint(64 << 10, 2 << 20)


def main():
    args, idx, rng, log = common.start(__doc__)
    d = os.path.join(args.root, f"w{idx}")
    os.makedirs(d, exist_ok=True)
    if args.fsync:
        common.fsync_dir(d)
        common.fsync_dir(args.root)
    version = 0
    while not common.stop:
        version += 1
        t = f"t{rng.randrange(TARGETS)}"
        key = f"w{idx}/{t}"
        log.begin(t=key, v=version)
        tmp = os.path.join(d, t + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        common.write_all(fd, common.versioned(key, version, sizes(rng)))
        if args.fsync:
            os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(d, t))
        if args.fsync:
            common.fsync_dir(d)
        log.ack(t=key, v=version)
    if idx == 0:
        common.wait_children()


def check(root, bounds, mode, report):
    """Check one recovered snapshot; report(file, expected, found) per violation."""
    acked, begun = {}, {}
    for name in bounds.logs():
        for r in bounds.acked(name):
            acked[r["t"]] = max(acked.get(r["t"], 0), r["v"])
        for r in bounds.begun(name):
            begun.setdefault(r["t"], set()).add(r["v"])
    for key in sorted(set(acked) | set(begun)):
        path = os.path.join(root, key)
        want = acked.get(key, 0)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if want and mode != "ordered":
                report(key, f"version >= {want} (acknowledged)", "file missing")
            continue
        v, why = common.parse_versioned(data)
        if v is None:
            report(key, f"a complete version >= {want}", why)
        elif v not in begun.get(key, ()):
            report(key, f"a version begun before the cut {sorted(begun.get(key, ()))[-3:]}",
                   f"version {v} never written")
        elif v < want and mode != "ordered":
            report(key, f"version >= {want} (acknowledged)", f"older version {v}")
    # Nothing that was never created: only targets, their tmp files, and w* dirs.
    for is_dir, p in common.tree(root):
        base = p[:-4] if p.endswith(".tmp") else p
        if not is_dir and base not in begun:
            report(p, "no such file (never created)", "file exists")


if __name__ == "__main__":
    main()
