"""The side channel: what each workload process began and what was acknowledged.

A workload writes one line per event with a single write() to an O_APPEND file on
a filesystem outside the power cut (the rig's tmpfs work directory):
    B <json>   written just BEFORE the operation is issued
    A <json>   written just AFTER the operation returned success
The rig reads every log's size right before a snapshot (pre) and right after it
(post).  An A line inside pre was acknowledged before the snapshot instant, so it
must survive; an operation whose B line lies beyond post started after the
instant, so no trace of it may appear.
"""
import json
import os


class AckLog:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def begin(self, **rec):
        self._put("B", rec)

    def ack(self, **rec):
        self._put("A", rec)

    def _put(self, kind, rec):
        line = (kind + " " + json.dumps(rec, separators=(",", ":")) + "\n").encode()
        if os.write(self.fd, line) != len(line):
            raise OSError("short write to the ack log")


def read(path, limit):
    """Events [(kind, rec)] from the complete lines within the first limit bytes."""
    with open(path, "rb") as f:
        data = f.read(limit)
    out = []
    for line in data.split(b"\n")[:-1]:  # the last piece is partial or empty
        out.append((line[:1].decode(), json.loads(line[2:])))
    return out


def sizes(logdir):
    """Current byte size of every log in logdir."""
    return {n: os.path.getsize(os.path.join(logdir, n))
            for n in sorted(os.listdir(logdir)) if n.endswith(".log")}


class Bounds:
    """Per-log events acknowledged before the snapshot and begun before its end."""

    def __init__(self, logdir, pre, post, cut_time=0.0, max_age=0.0):
        self.logdir = logdir
        self.pre = pre
        self.post = post
        self.cut_time = cut_time  # time.time() just before the snapshot
        self.max_age = max_age    # ordered mode: how old the surviving prefix may be

    def logs(self):
        return sorted(self.post)

    def acked(self, name):
        return [r for k, r in read(os.path.join(self.logdir, name), self.pre.get(name, 0))
                if k == "A"]

    def begun(self, name):
        return [r for k, r in read(os.path.join(self.logdir, name), self.post.get(name, 0))
                if k == "B"]
