"""Counting snapshots and violations, and the final table."""
import sys


class Results:
    def __init__(self, seed):
        self.seed = seed
        self.rows = {}        # (workload, fs, mode) -> [snapshots, violations, expect]
        self.violations = []
        self.notes = []
        self.kept = 0
        self.errors = []

    @staticmethod
    def is_control(label):
        return label.startswith("raw") or label.startswith("nosync")

    @staticmethod
    def mode_label(cfg):
        if cfg.get("preload"):
            return "nosync-" + cfg["mode"]
        if cfg["mode"] == "raw":
            return "raw+fsync" if cfg["fsync"] else "raw"
        return cfg["mode"] + ("+ckpt" if cfg["ckpt"] else "")

    def _row(self, cfg, workload):
        key = (workload, cfg["fs"], self.mode_label(cfg))
        if key not in self.rows:
            self.rows[key] = [0, 0, cfg.get("expect", {}).get(workload, "none")]
        return self.rows[key]

    def snapshot_checked(self, cfg, workload):
        self._row(cfg, workload)[0] += 1

    def violation(self, cfg, workload, snapshot, path, expected, found):
        self._row(cfg, workload)[1] += 1
        v = dict(workload=workload, fs=cfg["fs"], mode=self.mode_label(cfg), seed=cfg["seed"],
                 snapshot=snapshot, file=path, expected=expected, found=found)
        self.violations.append(v)
        raw = self.is_control(self.mode_label(cfg))
        # print the first few of each table row; the row counts say the rest
        if self._row(cfg, workload)[1] <= (2 if raw else 4) or workload.startswith("("):
            replay = (f"tests/powercut/run --durfs DURFS --seed {cfg['seed']} --fs {cfg['fs']} "
                      f"--modes {cfg['mode'] if not raw else 'close'} --budget ci")
            expect = cfg.get("expect", {}).get(workload)
            tag = ("control (expected)" if raw and expect == "violations"
                   else "reported (may fail)" if expect == "any" else "VIOLATION")
            print(f"{tag}: workload={workload} fs={cfg['fs']} mode={v['mode']} seed={cfg['seed']} "
                  f"snapshot={snapshot}\n    file: {path}\n    expected: {expected}\n"
                  f"    found: {found}\n    replay: {replay}", flush=True)

    def count_violations(self):
        return len(self.violations)

    def note(self, text):
        self.notes.append(text)
        print(text, flush=True)

    def failures(self):
        """Reasons the run fails: durfs violations and insensitive controls."""
        out = []
        for (w, fs, mode), (snaps, bad, expect) in sorted(self.rows.items()):
            if self.is_control(mode):
                if expect == "violations" and bad == 0 and snaps > 0:
                    out.append(f"control {w}/{fs}/{mode} showed no violation in {snaps} "
                               f"snapshots: the rig is not sensitive")
                if expect == "none" and bad:
                    out.append(f"control {w}/{fs}/{mode} (correct pattern) showed {bad} "
                               f"violations: rig or kernel broken")
            elif bad and expect != "any":
                out.append(f"durfs {w}/{fs}/{mode}: {bad} violations")
        return out + self.errors

    def table(self, out=sys.stdout):
        hdr = f"{'workload':<13} {'fs':<7} {'mode':<12} {'snapshots':>9} {'violations':>10}  verdict"
        print(hdr, file=out)
        print("-" * len(hdr), file=out)
        for raw in (False, True):
            for (w, fs, mode), (snaps, bad, expect) in sorted(self.rows.items()):
                if self.is_control(mode) != raw:
                    continue
                if raw:
                    ok = expect == "any" or ((bad > 0) if expect == "violations" else (bad == 0))
                    verdict = ("control ok" if ok else "CONTROL FAILED") + \
                        {"violations": " (must lose data)", "any": " (may fail)"}.get(expect, " (must not)")
                else:
                    verdict = "ok" if bad == 0 else "kernel failure (reported)" if expect == "any" \
                        else "FAIL"
                print(f"{w:<13} {fs:<7} {mode:<12} {snaps:>9} {bad:>10}  {verdict}", file=out)
