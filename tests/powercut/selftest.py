#!/usr/bin/env python3
"""Unit test of the power-cut checkers (no root, no FUSE): each workload runs
briefly on a plain directory; the checker must accept the finished tree, and
must report each kind of damage a power cut causes when we inflict it."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "workloads"))
import acklog  # noqa: E402
import common  # noqa: E402
import append  # noqa: E402
import churn  # noqa: E402
import create  # noqa: E402
import replace  # noqa: E402
import rewrite  # noqa: E402

failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run_workload(name, tmp, seconds=1.0):
    root, logdir = os.path.join(tmp, name), os.path.join(tmp, name + "-log")
    os.makedirs(root)
    os.makedirs(logdir)
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "workloads", name + ".py"),
                          "--root", root, "--log", os.path.join(logdir, name), "--seed", "3",
                          "--procs", "2"], start_new_session=True)
    time.sleep(seconds)
    os.killpg(p.pid, signal.SIGTERM)
    expect(p.wait() == 0, f"{name}: workload exits cleanly on SIGTERM")
    time.sleep(0.2)  # children finish their last op
    s = acklog.sizes(logdir)
    return root, acklog.Bounds(logdir, s, s)


def violations(mod, root, bounds, mode="close"):
    out = []
    mod.check(root, bounds, mode, lambda f, e, g: out.append((f, e, g)))
    return out


def files(root):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)


def main():
    tmp = tempfile.mkdtemp(prefix="powercut-selftest-")
    try:
        root, b = run_workload("replace", tmp)
        expect(violations(replace, root, b) == [], "replace: intact tree accepted")
        target = [f for f in files(root) if not f.endswith(".tmp")][0]
        open(target, "wb").close()
        v = violations(replace, root, b)
        expect(any("zero-length" in g for _, _, g in v), "replace: zero-length target reported")
        os.unlink(target)
        expect(any("missing" in g for _, _, g in violations(replace, root, b)),
               "replace: lost target reported")
        expect(violations(replace, root, b, "ordered") == [], "replace: ordered tolerates loss")

        root, b = run_workload("create", tmp)
        expect(violations(create, root, b) == [], "create: intact tree accepted")
        victim = [f for f in files(root) if os.path.getsize(f) > 0][0]
        with open(victim, "r+b") as f:
            f.truncate(1)
        expect(len(violations(create, root, b)) == 1, "create: short file reported")
        open(os.path.join(root, "p0", "stray"), "w").close()
        expect(any("never created" in e for _, e, _ in violations(create, root, b)),
               "create: file never created reported")

        root, b = run_workload("append", tmp)
        expect(violations(append, root, b) == [], "append: intact logs accepted")
        log = files(root)[0]
        with open(log, "r+b") as f:
            f.seek(os.path.getsize(log) // 2)
            f.write(b"\0" * 64)
        expect(len(violations(append, root, b)) == 1, "append: damaged acknowledged record reported")

        # a cut before anything was acknowledged may leave no workload
        # directory at all (the rig does not sync it): no violation, no crash
        gone = os.path.join(tmp, "gone")
        empty = acklog.Bounds(b.logdir, {n: 0 for n in b.pre}, {n: 0 for n in b.post})
        for mod in (append, churn, create, replace, rewrite):
            expect(violations(mod, gone, empty) == [],
                   f"{mod.__name__}: missing directory with nothing acknowledged accepted")
        expect(any("missing" in g for _, _, g in violations(append, gone, b)),
               "append: missing directory with acknowledged records reported")

        root, b = run_workload("churn", tmp)
        expect(violations(churn, root, b) == [], "churn: final tree equals the model")
        entries = sorted(os.path.join(d, n) for d, ds, fs in os.walk(os.path.join(root, "c0"))
                         for n in ds + fs)
        victim = next(e for e in entries if os.path.isfile(e) and not os.path.islink(e))
        os.chmod(victim, 0o777)
        expect(len(violations(churn, root, b)) > 0, "churn: changed mode reported")
        os.rename(os.path.join(root, "c1"), os.path.join(root, "c1x"))
        expect(any("c1/" in f for f, _, _ in violations(churn, root, b, "ordered")),
               "churn: lost directory reported in ordered mode too")

        root, b = run_workload("rewrite", tmp)
        expect(violations(rewrite, root, b) == [], "rewrite: intact files accepted")
        victim = max(files(root), key=os.path.getsize)
        key = os.path.relpath(victim, root)
        with open(victim, "rb") as f:
            data = f.read()
        v, _ = common.parse_versioned(data)
        with open(victim, "wb") as f:  # the version before the acknowledged one
            f.write(rewrite.content(key, v - 1))
        expect(any(f == key for f, _, _ in violations(rewrite, root, b)),
               "rewrite: older content reported")
        with open(victim, "r+b") as f:  # the acknowledged one with a block of zeros
            f.write(data)
            f.seek(4096)
            f.write(bytes(4096))
        expect(any(f == key for f, _, _ in violations(rewrite, root, b)),
               "rewrite: zeroed block reported")
        expect(violations(rewrite, root, b, "ordered") == [], "rewrite: ordered tolerates it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
