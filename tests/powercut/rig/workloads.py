"""Which workload programs run in a session, and how their checkers are called."""
import importlib
import os
import signal
import subprocess
import sys
import time

from . import sysutil

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WL_DIR = os.path.join(HERE, "workloads")
sys.path.insert(0, WL_DIR)

# name -> processes; every session runs all of them side by side, each in its
# own directory below the session root, like unrelated applications sharing a disk.
PROCS = {"replace": 3, "create": 2, "churn": 2, "append": 2, "rewrite": 2}


def checker(name):
    return importlib.import_module(name).check


class Running:
    def __init__(self, name, root, logdir, seed, fsync, ckpt, durfs):
        self.name = name
        self.root = root
        self.logdir = logdir
        os.makedirs(root, exist_ok=True)
        os.makedirs(logdir, exist_ok=True)
        cmd = [sys.executable, os.path.join(WL_DIR, name + ".py"), "--root", root,
               "--log", os.path.join(logdir, name), "--seed", str(seed),
               "--procs", str(PROCS[name])]
        if fsync:
            cmd.append("--fsync")
        if durfs:
            cmd.append("--durfs")
        if ckpt and name == "churn":  # one checkpoint forcer per session
            cmd.append("--ckpt")
        self.stderr_path = os.path.join(logdir, "stderr.txt")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM the workload's process group; returns its error text, or ''."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return f"workload {self.name} did not stop within {timeout}s"
        # children of the group may still be exiting
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        with open(self.stderr_path, "rb") as f:
            err = f.read().decode(errors="replace").strip()
        if self.proc.returncode != 0 or err:  # workloads print nothing unless they fail
            return f"workload {self.name} failed (exit {self.proc.returncode}): {err[-800:]}"
        return ""


def sizes_all(running):
    from acklog import sizes
    return {r.name: sizes(r.logdir) for r in running}


def ensure_tools():
    for tool in ("losetup", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "fusermount3"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") + ["/usr/sbin", "/sbin"]):
            raise sysutil.RigError(f"{tool}: not found in PATH")
