#!/usr/bin/env python3
"""Workload: namespace churn -- mkdir, create, rename (files, dirs, across
directories), RENAME_EXCHANGE, RENAME_NOREPLACE, link, symlink, unlink, rmdir,
chmod, truncate, setxattr -- on a tree of at most ~120 entries per process.

Each process works in c<i>/ and logs every operation (B with the op, A after it
returned).  Invariant checked: the tree c<i>/ equals the model after some prefix
of c<i>'s operations: in close/sync at least every acknowledged one and at most
every begun one (data of files created/truncated by unacknowledged ops is not
compared); ordered: any prefix up to the begun ones (file data not compared,
metadata is what ordered mode promises).  Raw-fs control: the same check shows
lost creates/renames.
"""
import os
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import nsmodel  # noqa: E402

MAX_ENTRIES = 120


def choose(m, rng, serial):
    """A random operation valid in model m."""
    entries = m.paths()
    dirs = [""] + [p for p, nid in entries if m.nodes[nid]["t"] == "d"]
    files = [p for p, nid in entries if m.nodes[nid]["t"] == "f"]
    nondirs = [p for p, nid in entries if m.nodes[nid]["t"] != "d"]
    empty_dirs = [p for p, nid in entries if m.nodes[nid]["t"] == "d" and not m.nodes[nid]["c"]]

    def fresh():
        d = rng.choice(dirs)
        return (d + "/" if d else "") + f"n{serial}"

    grow = len(entries) < MAX_ENTRIES
    kinds = ["mkdir", "create", "create", "symlink", "link"] if grow else []
    kinds += ["rename", "rename", "exchange", "noreplace", "unlink", "rmdir", "chmod",
              "truncate", "setxattr", "rename"]
    if not grow:
        kinds += ["unlink", "unlink", "rmdir"]
    for _ in range(20):
        k = rng.choice(kinds)
        if k == "mkdir":
            return ["mkdir", fresh(), rng.choice([0o755, 0o700, 0o750])]
        if k == "create":
            return ["create", fresh(), rng.choice([0o644, 0o600, 0o640]),
                    rng.choice([0, rng.randint(1, 8192)]), f"c{serial}"]
        if k == "symlink":
            return ["symlink", rng.choice(["../x", "target", f"t{serial}", "/abs/path"]), fresh()]
        if k == "link" and files:
            return ["link", rng.choice(files), fresh()]
        if k == "unlink" and nondirs:
            return ["unlink", rng.choice(nondirs)]
        if k == "rmdir" and empty_dirs:
            return ["rmdir", rng.choice(empty_dirs)]
        if k in ("chmod", "setxattr"):
            cands = files + dirs[1:]
            if not cands:
                continue
            p = rng.choice(cands)
            if k == "chmod":
                base = 0o700 if m.nodes[m.lookup(p)]["t"] == "d" else 0o600
                return ["chmod", p, base | rng.choice([0, 0o40, 0o44, 0o55])]
            return ["setxattr", p, f"user.k{rng.randrange(3)}", f"v{serial}"]
        if k == "truncate" and files:
            return ["truncate", rng.choice(files), rng.choice([0, rng.randint(1, 12000)])]
        if k in ("rename", "noreplace") and entries:
            src = rng.choice(entries[:])[0]
            sid = m.lookup(src)
            if m.nodes[sid]["t"] == "d":
                dsts = [d for d in dirs if not (d == src or d.startswith(src + "/"))]
                d = rng.choice(dsts)
                return [k, src, (d + "/" if d else "") + f"n{serial}"]
            if k == "rename" and rng.random() < 0.4:
                others = [f for f in files if f != src and m.lookup(f) != sid]
                if others and m.nodes[sid]["t"] == "f":
                    return ["rename", src, rng.choice(others)]
            return [k, src, fresh()]
        if k == "exchange" and len(entries) >= 2:
            a, b = rng.sample([p for p, _ in entries], 2)
            if a.startswith(b + "/") or b.startswith(a + "/") or m.lookup(a) == m.lookup(b):
                continue
            return ["exchange", a, b]
    return ["mkdir", fresh(), 0o755]


def main():
    args, idx, rng, log = common.start(__doc__)
    root = os.path.join(args.root, f"c{idx}")
    os.mkdir(root)
    common.fsync_dir(args.root)
    m = nsmodel.Model()
    serial = 0
    while not common.stop:
        serial += 1
        op = choose(m, rng, serial)
        log.begin(n=m.count, op=op)
        nsmodel.perform(root, op)
        if args.fsync:
            nsmodel.make_durable(root, op)
        m.apply(op)
        log.ack(n=m.count - 1, t=round(time.time(), 3))
    if idx == 0:
        common.wait_children()


def same(want, got):
    """Trees equal; a wildcard ('*') data field in want matches any data."""
    if want.keys() != got.keys():
        return False
    for p, w in want.items():
        g = got[p]
        if w != g and not (w[0] == "file" and w[4] == "*" and g[0] == "file" and w[:4] == g[:4]):
            return False
    return True


def check(root, bounds, mode, report):
    for name in bounds.logs():
        idx = name.rsplit(".", 2)[-2]
        sub = os.path.join(root, f"c{idx}")
        begun = bounds.begun(name)
        acked = bounds.acked(name)
        if not os.path.isdir(sub):
            if begun:
                report(f"c{idx}/", "the churn directory (created and fsynced)", "missing")
            continue
        if mode == "ordered":
            # a prefix at most max_age old: every op acknowledged before then is in
            lo = sum(1 for r in acked if r.get("t", 0) < bounds.cut_time - bounds.max_age)
            exact_before = 0  # ordered: close does not make data durable
        else:
            lo = exact_before = len(acked)
        got = nsmodel.scan(sub, set())
        m = nsmodel.Model()
        best = None
        for k in range(len(begun) + 1):
            if k >= lo:
                want = m.flatten(exact_before)
                if same(want, got):
                    best = None
                    break
                diff = sorted({p for p in want.keys() | got.keys()
                               if p not in want or p not in got or not same({p: want[p]}, {p: got[p]})})
                if best is None or len(diff) <= len(best[1]):
                    best = (k, diff, want)
            if k < len(begun):
                m.apply(begun[k]["op"])
        if best:
            k, diff, want = best
            for p in diff[:4]:
                report(f"c{idx}/{p}",
                       f"{want.get(p, 'absent')} (closest: after op {k}; valid: ops {lo}..{len(begun)}"
                       f", acked {len(acked)})", f"{got.get(p, 'absent')}")


if __name__ == "__main__":
    main()
