#!/usr/bin/env python3
"""Workload: a database log -- appends acknowledged after fsync.

Each process creates log<i> (fsync file and directory before the first ack),
then loops: append 1..8 framed records, fdatasync, acknowledge the last sequence
number.  Every 200 records it starts a new log file the way databases rotate
(create, fsync, fsync dir), so creates and appends interleave.

Invariant checked (every mode, raw control too): each log file parses from the
start as records 0, 1, 2, ... and contains every acknowledged record intact;
after the last acknowledged one only a torn tail (garbage, zeros) is allowed.
"""
import os
import time
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

REC = struct.Struct("<4sQII")  # magic, seq, payload length, crc32(payload)
MAGIC = b"REC1"
PER_FILE = 200
MAX_RECORDS = 40 * PER_FILE  # per process, then it idles


def record(name, seq, rng):
    body = common.pattern(f"{name}#{seq}", rng.randint(1, 4096))
    return REC.pack(MAGIC, seq, len(body), zlib.crc32(body)) + body


def main():
    args, idx, rng, log = common.start(__doc__)
    seq, fd, name = 0, -1, None
    while not common.stop:
        if seq >= MAX_RECORDS:  # bounded space on the test device
            time.sleep(0.1)
            continue
        if seq % PER_FILE == 0:
            if fd >= 0:
                os.close(fd)
            name = f"log{idx}.{seq // PER_FILE}"
            log.begin(f=name, q=-1)
            fd = os.open(os.path.join(args.root, name),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            os.fsync(fd)
            common.fsync_dir(args.root)
            log.ack(f=name, q=-1)
        n = rng.randint(1, 8)
        first = seq % PER_FILE
        last = min(first + n, PER_FILE) - 1
        log.begin(f=name, q=last)
        common.write_all(fd, b"".join(record(name, s, rng) for s in range(first, last + 1)))
        os.fdatasync(fd)
        log.ack(f=name, q=last)
        seq += last - first + 1
    if idx == 0:
        common.wait_children()


def parse(data):
    """Number of leading valid records, and why parsing stopped."""
    off, seq = 0, 0
    while off < len(data):
        if len(data) - off < REC.size:
            return seq, f"torn header at byte {off}"
        magic, s, ln, crc = REC.unpack_from(data, off)
        body = data[off + REC.size: off + REC.size + ln]
        if magic != MAGIC or s != seq:
            return seq, f"record {seq} at byte {off}: bad magic/sequence"
        if len(body) != ln or zlib.crc32(body) != crc:
            return seq, f"record {seq} at byte {off}: torn or corrupt payload"
        off += REC.size + ln
        seq += 1
    return seq, "end of file"


def check(root, bounds, mode, report):
    acked, begun = {}, set()
    for name in bounds.logs():
        for r in bounds.acked(name):
            acked[r["f"]] = max(acked.get(r["f"], -1), r["q"])
        for r in bounds.begun(name):
            begun.add(r["f"])
    for f, last in sorted(acked.items()):
        try:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            report(f, f"records 0..{last} (acknowledged)", "log file missing")
            continue
        good, why = parse(data)
        if good < last + 1:
            report(f, f"records 0..{last} intact (acknowledged)",
                   f"{good} valid records; {why}")
    # the rig makes root without syncing it: a cut before the first log's
    # fsync of its directory may leave no root at all (nothing acknowledged)
    for n in os.listdir(root) if os.path.isdir(root) else []:
        if n not in begun:
            report(n, "no such file (never created)", "file exists")


if __name__ == "__main__":
    main()
