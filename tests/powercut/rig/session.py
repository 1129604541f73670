"""One session: a fresh backing filesystem, the workloads running on it (through
durfs, or directly for the raw-filesystem controls), snapshots at random
instants, then every snapshot mounted, recovered and checked.

Snapshots are checked after the live filesystem is gone, so a snapshot never
shares the machine with its origin (same UUIDs) and checking does not compete
with the workloads for the 2 CPUs.
"""
import json
import os
import random
import shutil
import time

from . import backingfs, sysutil
from .daemon import Durfs
from .results import Results
from .workloads import Running, checker, sizes_all

import acklog  # noqa: E402  (from workloads/, put on sys.path by rig.workloads)

FAIL_DIR = "/var/tmp/durfs-powercut-failures"


class Session:
    def __init__(self, cfg, store, workdir, results):
        self.cfg = cfg            # dict: fs, mode ('raw' or durfs mode), fsync, ckpt, seed, ...
        self.store = store
        self.workdir = workdir
        self.results = results
        self.sid = f"{cfg['fs']}-{cfg['label']}-s{cfg['seed']}"
        self.rng = random.Random(cfg["seed"])
        self.snaps = []

    # ---------------------------------------------------------------- live
    def run(self):
        prof = backingfs.profile(self.cfg["fs"])
        img = self.store.new_image(self.sid + ".img", backingfs.device_image_size())
        prof.make(img)
        dev = sysutil.loop_attach(img)
        backing = os.path.join(self.workdir, "backing")
        mnt = os.path.join(self.workdir, "mnt")
        durfs = None
        running = []
        live_ok = False
        try:
            prof.mount_live(dev, backing)
            if self.cfg["mode"] == "raw":
                top = backing
            else:
                durfs = Durfs(self.cfg["durfs"], backing, mnt, self.cfg["mode"],
                              self.cfg.get("durfs_opts", ()),
                              os.path.join(self.workdir, self.sid + ".durfs.log"),
                              preload=self.cfg.get("preload")).start()
                top = mnt
            root = os.path.join(top, "pc")
            os.mkdir(root)
            _fsync_dir(root)
            _fsync_dir(top)
            logroot = os.path.join(self.workdir, "logs", self.sid)
            for name in self.cfg["workloads"]:
                running.append(Running(name, os.path.join(root, name), os.path.join(logroot, name),
                                       self.cfg["seed"], self.cfg["fsync"], self.cfg["ckpt"],
                                       durfs is not None))
            deadline = time.monotonic() + self.cfg["seconds"]
            time.sleep(self.rng.uniform(0.3, 1.0))
            while len(self.snaps) < self.cfg["snapshots"] and time.monotonic() < deadline:
                self.snaps.append(self.snapshot(img, running))
                if not all(r.alive() for r in running):
                    break
                time.sleep(self.rng.uniform(0.1, self.cfg["gap"]))
            errors = [e for e in (r.stop() for r in running) if e]
            running = []
            for e in errors:
                self.results.violation(self.cfg, "(workload)", self.sid, "-",
                                       "operations succeed", e)
            if durfs:
                durfs.stop()
                durfs = None
            live_ok = True
        finally:
            for r in running:
                r.stop(5)
            if durfs:
                durfs.kill()
            sysutil.umount(backing)
            if not live_ok:
                sysutil.loop_detach(dev)
                self.store.remove(img)
                for snap in self.snaps:
                    self.store.remove(snap["image"])
        # After the cut the same disk comes back: each snapshot is attached to
        # the live loop device's number when it is still free (XFS's f_fsid is
        # derived from the device number, and durfs checks it).  A fresh attach
        # also starts with an empty block-device page cache.
        sysutil.loop_detach(dev)
        self.store.remove(img)
        self.live_dev = dev
        try:
            for snap in self.snaps:
                self.check(snap, logroot)
        finally:
            for snap in self.snaps:
                self.store.remove(snap["image"])

    def present(self, image):
        """Attach image: (device, moved) where moved says the device number
        differs from the live one (another user took it meanwhile)."""
        live = getattr(self, "live_dev", None)
        dev = sysutil.loop_attach(image, prefer=live)
        return dev, bool(live) and dev != live

    def snapshot(self, img, running):
        n = len(self.snaps)
        t = time.time()
        pre = sizes_all(running)
        path = self.store.clone(img, self.store.path(f"{self.sid}.snap{n}.img"))
        post = sizes_all(running)
        return {"n": n, "image": path, "pre": pre, "post": post, "t": t}

    # --------------------------------------------------------------- check
    def check(self, snap, logroot):
        recut = self.cfg["mode"] != "raw" and self.cfg.get("recut") and snap["n"] % 2 == 1
        # recovery writes to the image it runs on: run it on a clone, so the
        # snapshot stays untouched for the failure copy
        work = self.store.clone(snap["image"], snap["image"] + ".work")
        found = self.check_image(snap, logroot, work, recut)
        self.store.remove(work)
        if found and not Results.is_control(Results.mode_label(self.cfg)):
            self.keep_failure(snap, logroot, snap["image"])
        self.store.remove(snap["image"])

    def mount_snapshot(self, prof, dev, backing, label):
        """A snapshot the kernel cannot mount is a crash state its filesystem does
        not recover from: a violation row of its own, whoever wrote the image."""
        try:
            prof.mount_snapshot(dev, backing)
            return True
        except sysutil.RigError as e:
            self.results.violation(self.cfg, "(fs mount)", label, "-",
                                   "the kernel mounts the snapshot", str(e))
            return False

    def unmountable_counts(self):
        """A known kernel failure (ext4-fc) keeps no image: 0; else 1."""
        return 0 if self.cfg.get("expect", {}).get("(fs mount)") == "any" else 1

    def check_image(self, snap, logroot, image, recut):
        """Mount image, recover with durfs, check every workload; with recut also
        cut again during that recovery and check the second recovery gives the
        same tree.  Returns the number of violations found."""
        prof = backingfs.profile(self.cfg["fs"])
        backing = os.path.join(self.workdir, "snapb")
        mnt = os.path.join(self.workdir, "snapm")
        dev, moved = self.present(image)
        durfs = None
        label = f"{self.sid}/snap{snap['n']}"
        bad = 0
        second = None
        try:
            if not self.mount_snapshot(prof, dev, backing, label):
                return self.unmountable_counts()
            if self.cfg["mode"] == "raw":
                top = backing
            else:
                durfs = Durfs(self.cfg["durfs"], backing, mnt, self.cfg["mode"],
                              self.cfg.get("durfs_opts", ()),
                              os.path.join(self.workdir, self.sid + ".recovery.log"))
                durfs.start(wait=False)
                if recut:
                    time.sleep(self.rng.choice([0, 0.002, 0.01, 0.03, 0.1]))
                    second = self.store.clone(image, image + ".recut")
                try:
                    durfs.wait_mounted()
                except sysutil.RigError as e:
                    if second:
                        self.store.remove(second)
                    if moved and "different backing tree" in durfs.log_tail():
                        # docs/powercut.md, finding 2: not a power-cut result
                        self.results.note(f"{label}: skipped: loop device number changed "
                                          f"and durfs refuses the moved filesystem")
                        return 0
                    # durfs ran on this device before the cut: failing to
                    # recover it is a durfs failure, not a rig failure
                    self.results.violation(self.cfg, "(recovery)", label, "-",
                                           "durfs recovers and mounts the snapshot", str(e))
                    return 1
                top = mnt
            bad = self.check_tree(os.path.join(top, "pc"), snap, logroot, label)
            tree = _tree(os.path.join(top, "pc")) if second else None
            if durfs:
                rc = durfs.stop()
                durfs = None
                if rc != 0:
                    self.results.violation(self.cfg, "(daemon)", label, "-",
                                           "clean exit after unmount", f"exit status {rc}")
                    bad += 1
        finally:
            if durfs:
                durfs.kill()
            sysutil.umount(backing)
            sysutil.loop_detach(dev)
        if second:
            bad += self.check_recut(snap, logroot, second, tree)
        return bad

    def check_recut(self, snap, logroot, image, first_tree):
        prof = backingfs.profile(self.cfg["fs"])
        backing = os.path.join(self.workdir, "snapb")
        mnt = os.path.join(self.workdir, "snapm")
        dev, moved = self.present(image)
        durfs = None
        label = f"{self.sid}/snap{snap['n']}/recut"
        bad = 0
        try:
            if not self.mount_snapshot(prof, dev, backing, label):
                return self.unmountable_counts()
            durfs = Durfs(self.cfg["durfs"], backing, mnt, self.cfg["mode"],
                          self.cfg.get("durfs_opts", ()),
                          os.path.join(self.workdir, self.sid + ".recovery.log"))
            try:
                durfs.start()
            except sysutil.RigError as e:
                if moved and "different backing tree" in durfs.log_tail():
                    self.results.note(f"{label}: skipped: loop device number changed "
                                      f"and durfs refuses the moved filesystem")
                    return 0
                self.results.violation(self.cfg, "recovery-cut", label, "-",
                                       "durfs recovers and mounts the re-cut snapshot", str(e))
                return 1
            root = os.path.join(mnt, "pc")
            before = self.results.count_violations()
            self.check_tree(root, snap, logroot, label, "recovery-cut")
            bad = self.results.count_violations() - before
            tree = _tree(root)
            if tree != first_tree:
                diff = sorted(set(tree.items()) ^ set(first_tree.items()))[:3]
                self.results.violation(self.cfg, "recovery-cut", label, str([d[0] for d in diff]),
                                       "same tree as the uninterrupted recovery",
                                       f"differs: {diff}")
                bad += 1
            durfs.stop()
            durfs = None
        finally:
            if durfs:
                durfs.kill()
            sysutil.umount(backing)
            sysutil.loop_detach(dev)
            self.store.remove(image)
        return bad

    def check_tree(self, root, snap, logroot, label, row=None):
        bad = 0
        for name in self.cfg["workloads"]:
            logdir = os.path.join(logroot, name)
            # ordered: durfs's commit interval (default 5 s) plus slack for a
            # slow group commit on 2 shared CPUs
            bounds = acklog.Bounds(logdir, snap["pre"][name], snap["post"][name],
                                   snap.get("t", 0.0), self.cfg.get("commit", 5) + 5)
            found = []
            sub = os.path.join(root, name)
            mode = "close" if self.cfg["mode"] == "raw" else self.cfg["mode"]
            try:
                checker(name)(sub, bounds, mode, lambda f, e, g: found.append((f, e, g)))
            except OSError as e:
                # e.g. EIO/EUCLEAN reading the recovered tree: reported, never a crash
                found.append((name + "/", "a readable tree", f"{e}"))
            rowname = row or name
            self.results.snapshot_checked(self.cfg, rowname)
            for f, e, g in found:
                self.results.violation(self.cfg, rowname, label, f"{name}/{f}", e, g)
            bad += len(found)
        return bad

    def keep_failure(self, snap, logroot, image):
        """Keep the failing snapshot and logs so the check can be replayed."""
        if self.results.kept >= 3:
            return
        self.results.kept += 1
        dest = os.path.join(FAIL_DIR, f"{self.sid}-snap{snap['n']}")
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        sysutil.run(["cp", "--sparse=always", image, os.path.join(dest, "device.img")])
        shutil.copytree(logroot, os.path.join(dest, "logs"))
        with open(os.path.join(dest, "snapshot.json"), "w") as f:
            json.dump({"cfg": {k: v for k, v in self.cfg.items() if k != "durfs"},
                       "pre": snap["pre"], "post": snap["post"], "n": snap["n"], "t": snap["t"]}, f, indent=1)
        self.results.note(f"kept {label_of(self.sid, snap)} in {dest}; replay its check with: "
                          f"tests/powercut/run --durfs DURFS --recheck {dest}")


def label_of(sid, snap):
    return f"{sid}/snap{snap['n']}"


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tree(root):
    import nsmodel
    return nsmodel.scan(root, set())
