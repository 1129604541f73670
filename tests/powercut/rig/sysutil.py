"""Small wrappers around the commands the rig needs (losetup, mount, ...).

Every failure raises RigError naming the command and its stderr, so a broken
environment is reported as such and never mistaken for a durability violation.
"""
import os
import subprocess
import time


class RigError(Exception):
    """The rig itself could not do its job (environment, tools, daemon)."""


def run(cmd, check=True, timeout=120):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RigError(f"{' '.join(cmd)}: timed out after {timeout}s") from e
    except FileNotFoundError as e:
        raise RigError(f"{cmd[0]}: not installed") from e
    if check and p.returncode != 0:
        raise RigError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def loop_attach(image, direct_io=True, prefer=None):
    """Attach image to a free loop device (prefer: that device, if it is free);
    with direct I/O the device content is exactly what the filesystem above
    submitted (no page cache of the image)."""
    opts = []
    if direct_io:
        # 4096-byte sectors: XFS demands block-aligned direct I/O on files
        # with shared (reflinked) extents, which every snapshotted image has.
        opts = ["--direct-io=on", "--sector-size", "4096"]
    dev = None
    if prefer:
        for _ in range(20):
            if run(["losetup"] + opts + [prefer, image], check=False).returncode == 0:
                dev = prefer
                break
            time.sleep(0.05)
    if dev is None:
        dev = run(["losetup", "-f", "--show"] + opts + [image]).stdout.strip()
    if direct_io:
        flag = f"/sys/block/{os.path.basename(dev)}/loop/dio"
        try:
            with open(flag) as f:
                on = f.read().strip() == "1"
        except OSError:
            on = False
        if not on:
            loop_detach(dev)
            raise RigError(f"{dev} over {image}: direct I/O could not be enabled "
                           f"({flag} != 1); snapshots would not be coherent")
    return dev


def loop_detach(dev):
    for _ in range(50):
        if run(["losetup", "-d", dev], check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RigError(f"losetup -d {dev}: device stays busy")


def mount(dev, target, fstype, opts):
    os.makedirs(target, exist_ok=True)
    cmd = ["mount", "-t", fstype]
    if opts:
        cmd += ["-o", opts]
    run(cmd + [dev, target])


def umount(target):
    for _ in range(50):
        p = run(["umount", target], check=False)
        if p.returncode == 0:
            return
        if "not mounted" in p.stderr:
            return
        time.sleep(0.1)
    raise RigError(f"umount {target}: still busy")


def is_mounted(target):
    target = os.path.realpath(target)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == target:
                return True
    return False


def mount_fstype(target):
    """Filesystem type of the mount exactly at target, or None."""
    target = os.path.realpath(target)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == target:
                return parts[parts.index("-") + 1]
    return None
