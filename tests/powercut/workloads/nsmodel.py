"""In-memory model of a directory tree for the namespace-churn workload.

The workload applies each operation to the real tree and to this model; the
checker replays the logged operations to get the exact tree after every prefix.
Operations are JSON lists so the log is the replay script.
"""
import copy
import ctypes
import os
import stat

import common

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(a, b, flags):
    if _libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


class Model:
    def __init__(self):
        self.nodes = {0: {"t": "d", "mode": 0o755, "x": {}, "c": {}}}
        self.next_id = 1
        self.count = 0  # operations applied

    def clone(self):
        return copy.deepcopy(self)

    # -- lookup ------------------------------------------------------------
    def lookup(self, path):
        nid = 0
        for part in [p for p in path.split("/") if p]:
            nid = self.nodes[nid]["c"][part]
        return nid

    def split(self, path):
        parent, _, name = path.rpartition("/")
        return self.lookup(parent), name

    def paths(self):
        """[(path, node id)] for every entry below the root, parents first."""
        out, stack = [], [("", 0)]
        while stack:
            prefix, nid = stack.pop()
            for name, cid in sorted(self.nodes[nid]["c"].items()):
                p = f"{prefix}/{name}" if prefix else name
                out.append((p, cid))
                if self.nodes[cid]["t"] == "d":
                    stack.append((p, cid))
        return out

    # -- mutation ----------------------------------------------------------
    def _new(self, node):
        nid = self.next_id
        self.next_id += 1
        node["born"] = self.count
        self.nodes[nid] = node
        return nid

    def apply(self, op):
        kind, a = op[0], op[1:]
        if kind == "mkdir":
            pid, name = self.split(a[0])
            self.nodes[pid]["c"][name] = self._new({"t": "d", "mode": a[1], "x": {}, "c": {}})
        elif kind == "create":
            pid, name = self.split(a[0])
            data = common.pattern(a[3], a[2])
            self.nodes[pid]["c"][name] = self._new({"t": "f", "mode": a[1], "x": {}, "data": data})
        elif kind == "symlink":
            pid, name = self.split(a[1])
            self.nodes[pid]["c"][name] = self._new({"t": "l", "tgt": a[0]})
        elif kind == "link":
            nid = self.lookup(a[0])
            pid, name = self.split(a[1])
            self.nodes[pid]["c"][name] = nid
        elif kind in ("unlink", "rmdir"):
            pid, name = self.split(a[0])
            del self.nodes[pid]["c"][name]
        elif kind in ("rename", "noreplace"):
            sp, sn = self.split(a[0])
            dp, dn = self.split(a[1])
            self.nodes[dp]["c"][dn] = self.nodes[sp]["c"].pop(sn)
        elif kind == "exchange":
            ap, an = self.split(a[0])
            bp, bn = self.split(a[1])
            x = self.nodes[ap]["c"][an]
            self.nodes[ap]["c"][an] = self.nodes[bp]["c"][bn]
            self.nodes[bp]["c"][bn] = x
        elif kind == "chmod":
            self.nodes[self.lookup(a[0])]["mode"] = a[1]
        elif kind == "truncate":
            n = self.nodes[self.lookup(a[0])]
            d = n["data"]
            n["data"] = d[:a[1]] + bytes(max(0, a[1] - len(d)))
            n["touched"] = self.count
        elif kind == "setxattr":
            self.nodes[self.lookup(a[0])]["x"][a[1]] = a[2]
        else:
            raise ValueError(f"unknown op {kind}")
        self.count += 1

    # -- comparison ----------------------------------------------------------
    def flatten(self, exact_data_before):
        """{path: description}; file data is compared only for files whose data
        (creation or last truncate) comes from an op < exact_data_before."""
        out, links = {}, {}
        entries = self.paths()
        for _, nid in entries:
            links[nid] = links.get(nid, 0) + 1
        for p, nid in entries:
            n = self.nodes[nid]
            if n["t"] == "d":
                out[p] = ("dir", oct(n["mode"]), tuple(sorted(n["x"].items())))
            elif n["t"] == "l":
                out[p] = ("symlink", n["tgt"])
            else:
                last = max(n["born"], n.get("touched", -1))
                data = (len(n["data"]), common.crc(n["data"])) if last < exact_data_before else "*"
                out[p] = ("file", oct(n["mode"]), links[nid], tuple(sorted(n["x"].items())), data)
        return out


def perform(root, op):
    """Do op on the real tree below root."""
    kind, a = op[0], op[1:]
    P = lambda p: os.path.join(root, p)  # noqa: E731
    if kind == "mkdir":
        os.mkdir(P(a[0]), a[1])
    elif kind == "create":
        fd = os.open(P(a[0]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, a[1])
        try:
            common.write_all(fd, common.pattern(a[3], a[2]))
        finally:
            os.close(fd)
    elif kind == "symlink":
        os.symlink(a[0], P(a[1]))
    elif kind == "link":
        os.link(P(a[0]), P(a[1]))
    elif kind == "unlink":
        os.unlink(P(a[0]))
    elif kind == "rmdir":
        os.rmdir(P(a[0]))
    elif kind == "rename":
        os.rename(P(a[0]), P(a[1]))
    elif kind == "noreplace":
        renameat2(P(a[0]), P(a[1]), RENAME_NOREPLACE)
    elif kind == "exchange":
        renameat2(P(a[0]), P(a[1]), RENAME_EXCHANGE)
    elif kind == "chmod":
        os.chmod(P(a[0]), a[1])
    elif kind == "truncate":
        os.truncate(P(a[0]), a[1])
    elif kind == "setxattr":
        os.setxattr(P(a[0]), a[1], a[2].encode())


def scan(root, data_wildcards):
    """The real tree below root in Model.flatten's format.  Files whose model
    entry is a wildcard ('*') get '*' too, so their data is not compared."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in sorted(dirs + files):
            full = os.path.join(dirpath, name)
            p = name if rel == "." else f"{rel}/{name}"
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[p] = ("symlink", os.readlink(full))
                continue
            xs = tuple(sorted((k, os.getxattr(full, k, follow_symlinks=False).decode())
                              for k in os.listxattr(full, follow_symlinks=False)
                              if k.startswith("user.")))
            if stat.S_ISDIR(st.st_mode):
                out[p] = ("dir", oct(stat.S_IMODE(st.st_mode)), xs)
            elif stat.S_ISREG(st.st_mode):
                if p in data_wildcards:
                    data = "*"
                else:
                    with open(full, "rb") as f:
                        d = f.read()
                    data = (len(d), common.crc(d))
                out[p] = ("file", oct(stat.S_IMODE(st.st_mode)), st.st_nlink, xs, data)
            else:
                out[p] = ("other", oct(st.st_mode))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
    return out


def make_durable(root, op):
    """The correct pattern after op (raw-fs control): fsync every object whose
    inode changed and every directory whose entries changed."""
    kind, a = op[0], op[1:]
    if kind == "symlink":
        paths = [a[1]]
    elif kind in ("setxattr", "chmod", "truncate", "mkdir", "create", "unlink", "rmdir"):
        paths = [a[0]]
    else:  # rename, noreplace, exchange, link: both names
        paths = [a[0], a[1]]
    targets = set()
    for p in paths:
        full = os.path.join(root, p)
        if kind not in ("unlink", "rmdir") and os.path.lexists(full) and not os.path.islink(full):
            targets.add(full)
        targets.add(os.path.dirname(full))
    for t in sorted(targets, key=len, reverse=True):
        fd = os.open(t, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
