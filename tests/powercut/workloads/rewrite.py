#!/usr/bin/env python3
"""Workload: small files rewritten in place and closed WITHOUT fsync.

This is the content durfs journals at close (FILE_DATA) and the in-place syncs
that must supersede it (FILE_SYNCED).  Each process keeps 4 files and loops:
pick one, write its next version over it at offset 0 (no O_TRUNC: a version is
versioned(key, v, size) with sizes growing ~512 bytes per version, so a file
crosses 64 KiB, durfs's default data_journal limit, and is then synced in place
at close), then one of
  - close                       (durfs: content journaled, or fdatasync if large)
  - fsync, close                (durfs: synced in place, FILE_SYNCED logged)
  - fdatasync, close            (durfs: content journaled if the size changed or
                                 it was journaled since the checkpoint, else in place)
  - writes through O_DSYNC, close
  - on durfs only: writes through O_DIRECT|O_DSYNC, close (a FUSE direct_io
    file: the kernel sends no FSYNC after such a write, durfs syncs it itself;
    the raw filesystem would refuse the unaligned O_DIRECT write)
and acknowledge the version (a synchronous write's right after it returns,
before the close, which a cut then may not reach).  A file past 96 KiB is retired (kept as it is) and
a new one started.  With --fsync every version is fsynced (raw-fs control).

Invariant checked (close/sync, and the raw-fs controls): a file whose version a
was acknowledged holds exactly version a -- or, while versions up to b were
begun, a length between a's and b's and every 4 KiB block from one of the
versions a..b (zero-padded).  Never older content, never a missing file.
ordered: no longer than the newest begun version.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FILES = 4
STEP = 512
RETIRE = 96 << 10
BLOCK = 4096


def size_of(key, version):
    base = int.from_bytes(common.pattern(key, 2), "little") % (8 << 10)
    return base + STEP * version


def content(key, version):
    return b"" if version == 0 else common.versioned(key, version, size_of(key, version))


def main():
    args, idx, rng, log = common.start(__doc__)
    d = os.path.join(args.root, f"p{idx}")
    os.makedirs(d, exist_ok=True)
    if args.fsync:
        common.fsync_dir(d)
        common.fsync_dir(args.root)
    gen = [0] * FILES
    version = [0] * FILES
    hows = ["close", "close", "fsync", "fdatasync", "dsync"]
    if args.durfs:
        hows.append("direct-dsync")
    while not common.stop:
        k = rng.randrange(FILES)
        key = f"p{idx}/f{k}.{gen[k]}"
        v = version[k] + 1
        data = content(key, v)
        log.begin(t=key, v=v)
        how = rng.choice(hows)
        flags = os.O_WRONLY | os.O_CREAT
        if how == "dsync":
            flags |= os.O_DSYNC
        elif how == "direct-dsync":
            flags |= os.O_DIRECT | os.O_DSYNC
        path = os.path.join(args.root, key)
        fd = os.open(path, flags, 0o644)
        common.write_all(fd, data)  # at offset 0: the file is not truncated
        early = how in ("dsync", "direct-dsync") and v > 1
        if early:  # durable when the write returns: acknowledged before close,
            log.ack(t=key, v=v)  # and a cut while the file stays open finds it
            time.sleep(0.005)
        if how == "fsync" or args.fsync:
            os.fsync(fd)
        elif how == "fdatasync":
            os.fdatasync(fd)
        os.close(fd)
        if v == 1 and args.fsync:
            common.fsync_dir(d)
        if not early:
            log.ack(t=key, v=v)
        version[k] = v
        if len(data) > RETIRE:
            gen[k] += 1
            version[k] = 0
    if idx == 0:
        common.wait_children()


def blocks_ok(data, versions):
    """Offset of the first block of data that is in none of versions (each
    zero-padded or cut to data's size), or None."""
    n = len(data)
    cands = [v[:n] + bytes(max(0, n - len(v))) for v in versions]
    for off in range(0, n, BLOCK):
        b = data[off:off + BLOCK]
        if all(b != c[off:off + BLOCK] for c in cands):
            return off
    return None


def check(root, bounds, mode, report):
    """Check one recovered snapshot; report(file, expected, found) per violation."""
    acked, begun = {}, {}
    for name in bounds.logs():
        for r in bounds.acked(name):
            acked[r["t"]] = max(acked.get(r["t"], 0), r["v"])
        for r in bounds.begun(name):
            begun[r["t"]] = max(begun.get(r["t"], 0), r["v"])
    for key in sorted(set(acked) | set(begun)):
        a, b = acked.get(key, 0), begun.get(key, 0)
        try:
            with open(os.path.join(root, key), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if a and mode != "ordered":
                report(key, f"version {a} (acknowledged)", "file missing")
            continue
        if mode == "ordered":  # prefix of operations; content not synced at close
            if len(data) > len(content(key, b)):
                report(key, f"at most {len(content(key, b))} bytes", f"{len(data)} bytes")
            continue
        va = content(key, a)
        if b <= a:
            if data != va:
                v, why = common.parse_versioned(data)
                report(key, f"exactly version {a} (acknowledged, nothing in flight)",
                       why or f"version {v}")
            continue
        # versions a+1..b may have been in flight (several, when ops completed
        # while the clone was taken): any of their blocks may be on disk
        vb = content(key, b)
        if not len(va) <= len(data) <= len(vb):
            report(key, f"{len(va)}..{len(vb)} bytes (version {a} acknowledged, up to {b} begun)",
                   f"{len(data)} bytes")
            continue
        off = blocks_ok(data, [content(key, v) for v in range(a, b + 1)])
        if off is not None:
            report(key, f"blocks of versions {a} (acknowledged) to {b} (begun)",
                   f"other bytes at offset {off}")
    for is_dir, p in common.tree(root):
        if not is_dir and p not in begun:
            report(p, "no such file (never created)", "file exists")


if __name__ == "__main__":
    main()
