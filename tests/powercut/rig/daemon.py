"""Start and stop the durfs daemon under test (foreground, so the rig owns it)."""
import os
import signal
import subprocess
import time

from . import sysutil


class Durfs:
    def __init__(self, binary, backing, mnt, mode, extra_opts=(), logfile=None, preload=None):
        self.binary = binary
        self.backing = backing
        self.mnt = mnt
        self.mode = mode
        self.extra = list(extra_opts)
        self.logfile = logfile
        self.proc = None
        self.preload = preload  # LD_PRELOAD for the "sync removed" control

    def start(self, wait=True, timeout=60):
        os.makedirs(self.mnt, exist_ok=True)
        opts = ",".join([f"durability={self.mode}"] + self.extra)
        log = open(self.logfile, "ab") if self.logfile else subprocess.DEVNULL
        env = dict(os.environ, LD_PRELOAD=self.preload) if self.preload else None
        self.proc = subprocess.Popen([self.binary, "-f", "-o", opts, self.backing, self.mnt],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        if log is not subprocess.DEVNULL:
            log.close()
        if wait:
            self.wait_mounted(timeout)
        return self

    def wait_mounted(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fstype = sysutil.mount_fstype(self.mnt)
            if fstype and fstype.startswith("fuse"):
                return
            if self.proc.poll() is not None:
                raise sysutil.RigError(
                    f"durfs exited with status {self.proc.returncode} before mounting "
                    f"{self.backing} on {self.mnt} (mode {self.mode}); log: {self.logfile}"
                    f"{self.log_tail()}")
            time.sleep(0.02)
        raise sysutil.RigError(f"durfs did not mount {self.mnt} within {timeout}s; "
                               f"log: {self.logfile}{self.log_tail()}")

    def log_tail(self):
        if not self.logfile or not os.path.exists(self.logfile):
            return ""
        with open(self.logfile, "rb") as f:
            tail = f.read()[-600:].decode(errors="replace").strip()
        return ("\n    " + tail.replace("\n", "\n    ")) if tail else ""

    def kill(self):
        """Power cut for the daemon process itself (used after snapshots are taken)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        sysutil.run(["fusermount3", "-u", "-z", self.mnt], check=False)

    def stop(self, timeout=60):
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            p = sysutil.run(["fusermount3", "-u", self.mnt], check=False)
            if p.returncode != 0:
                time.sleep(0.5)
                sysutil.run(["fusermount3", "-u", "-z", self.mnt], check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise sysutil.RigError(f"durfs on {self.mnt} did not exit after unmount "
                                       f"within {timeout}s{self.log_tail()}")
        return self.proc.returncode
