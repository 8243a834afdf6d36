#!/usr/bin/env python3
"""Measure what inputs that are not regular files cost: peak RSS, wall time, exit, error line.

    python bench/streams.py [--baseline REV] [--runs 3] [--only SHAPE,...] [--json out.json]

Each shape (standard input, named pipes with and without a writer, process substitution,
``/dev/zero``, a large mbox and large non-mail streams on standard input) is run with the
code of this work tree and, unless ``--baseline ''``, with the code of ``REV`` (default: the
merge base of HEAD and ``main``) exported by ``git archive`` into a temporary directory. Both
run with this interpreter, one command at a time, never in parallel.

Peak RSS is ``ru_maxrss`` from ``os.wait4()`` of the ``bash -c`` that runs the shape: the
largest single process of its tree (vfiolint, or a ``head``/``cat`` beside it). The script
keeps its own RSS small, since a child started by ``vfork`` inherits its parent's peak. A run that
grows past ``--rss-cap`` MiB or lasts longer than ``--time-cap`` seconds is killed (its whole
process group) and shown as such: the code before this change takes all the memory of the
machine on ``/dev/zero`` and never ends on a named pipe without a writer.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt"
MBOX_SEED = "corpus/qemu/2017-only-mmap-target-page-size-regions-reverse.patch"  # From-line first
MIB = 1 << 20

# name -> (shell command, what it shows); {vf} is the vfiolint command line, {tmp} a scratch
# directory holding big.mbox, p (a FIFO fed by the shape) and q (a FIFO nobody writes).
SHAPES: dict[str, tuple[str, str]] = {
    "stdin": ("cat {seed} | {vf} check -", "a patch on standard input"),
    "fifo-writer": ("cat {seed} > {tmp}/p & {vf} check {tmp}/p {seed}", "a named pipe with a writer"),
    "fifo-no-writer": ("{vf} check --timeout 5 {tmp}/q {seed}", "a named pipe nobody writes"),
    "procsub": ("{vf} check <(head -c 200000000 /dev/zero) {seed}", "<(200 MB of NUL bytes)"),
    "dev-zero": ("{vf} check --timeout 5 /dev/zero {seed}", "/dev/zero, named"),
    "mbox-stdin": ("cat {tmp}/big.mbox | {vf} check -", "a 300 MB mbox on standard input"),
    "zeros-stdin": ("head -c 300000000 /dev/zero | {vf} check -", "300 MB of NUL bytes on stdin"),
    "text-stdin": ("head -c 300000000 {tmp}/lines | {vf} check -",
                   "300 MB of text lines, no mail, on stdin"),
}


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run of one shape with one version of the code."""

    seconds: float
    rss_mib: float
    code: int | None  # None: killed by a cap
    killed: str
    error: str


def _peak_rss(pgid: int) -> float:
    """Return the largest VmHWM (MiB) of the live processes of a process group."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            status = (entry / "status").read_text()
        except (OSError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def run_shape(command: str, env: dict[str, str], cwd: Path, rss_cap: float,
              time_cap: float) -> Run:
    """Run one shell command in its own process group; measure it, kill it past a cap.

    It runs in ``cwd``, away from this tree: ``python -m`` imports from its working directory
    first, and the version measured must be the one on PYTHONPATH."""
    start = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", command], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=cwd, start_new_session=True)
    killed = ""
    polled = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        elapsed = time.monotonic() - start
        rss = _peak_rss(proc.pid)
        polled = max(polled, rss)
        if rss > rss_cap or elapsed > time_cap:
            killed = (f"killed at {rss:.0f} MiB" if rss > rss_cap
                      else f"killed after {time_cap:g} s")
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    seconds = time.monotonic() - start
    with _quiet():
        os.killpg(proc.pid, signal.SIGKILL)  # a writer left behind (fifo-writer)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").splitlines()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    code = None if killed else proc.returncode
    rss = max(usage.ru_maxrss / 1024, polled)
    return Run(seconds, rss, code, killed, err[0] if err else "")


class _quiet:
    """Ignore a process group that is already gone."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is ProcessLookupError or exc[0] is PermissionError


def export(rev: str, dest: Path) -> None:
    """Export a revision's tree into dest."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def build_inputs(tmp: Path, mbox_mb: int) -> None:
    """Write the large inputs and the named pipes."""
    seed = (ROOT / MBOX_SEED).read_bytes()
    with (tmp / "big.mbox").open("wb") as out:
        size = n = 0
        while size < mbox_mb * MIB:
            message = seed.replace(b"\nSubject:", f"\nMessage-ID: <{n}@bench>\nSubject:".encode(),
                                   1)
            out.write(message)
            size += len(message)
            n += 1
    line = b"a line of plain text that is neither mail nor C, " * 2 + b"\n"
    with (tmp / "lines").open("wb") as out:
        block = line * 10_000  # written in blocks: this process's own peak RSS stays small
        for _ in range(300_000_000 // len(block) + 1):
            out.write(block)
    for fifo in ("p", "q"):
        os.mkfifo(tmp / fifo)


def command_line(name: str, tmp: Path) -> str:
    """Return the shell command of one shape."""
    vf = f"{shlex.quote(sys.executable)} -m vfiolint"
    return SHAPES[name][0].format(vf=vf, seed=shlex.quote(str(ROOT / SEED)),
                                  tmp=shlex.quote(str(tmp)))


def measure(name: str, versions: dict[str, Path], tmp: Path, runs: int,
            caps: tuple[float, float]) -> dict[str, list[Run]]:
    """Run one shape ``runs`` times with each version, alternating the versions run by run
    (a version a cap killed runs once)."""
    line = command_line(name, tmp)
    out: dict[str, list[Run]] = {version: [] for version in versions}
    for _ in range(runs):
        for version, src in versions.items():
            if out[version] and out[version][-1].killed:
                continue
            print(f"{name} ({version}) ...", file=sys.stderr, flush=True)
            env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
            out[version].append(run_shape(line, env, tmp, *caps))
    return out


def summary(runs: list[Run]) -> dict[str, object]:
    """Return the median time and RSS of runs, with the outcome of the last."""
    last = runs[-1]
    return {
        "seconds": statistics.median(r.seconds for r in runs),
        "rss_mib": statistics.median(r.rss_mib for r in runs),
        "exit": last.killed or last.code,
        "error": last.error,
        "runs": len(runs),
    }


def main() -> int:
    """Measure every shape before and after; print a table (and JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=None,
                        help="revision to compare with (default: merge base with main; '' none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated shapes")
    parser.add_argument("--mbox-mb", type=int, default=300)
    parser.add_argument("--rss-cap", type=float, default=2048, help="MiB")
    parser.add_argument("--time-cap", type=float, default=30, help="seconds")
    parser.add_argument("--version", dest="which", default="before,after",
                        help="which versions to run: before, after or both (default)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    shapes = [s for s in args.only.split(",") if s] or list(SHAPES)
    baseline = args.baseline
    if baseline is None:
        baseline = subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
                                  check=True, capture_output=True, text=True).stdout.strip()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="vfiolint-streams-") as scratch:
        tmp = Path(scratch)
        build_inputs(tmp, args.mbox_mb)
        versions = {"after": ROOT}
        if baseline:
            (tmp / "before").mkdir()
            export(baseline, tmp / "before")
            versions = {"before": tmp / "before", "after": ROOT}
        versions = {k: v for k, v in versions.items() if k in args.which.split(",")}
        for shape in shapes:
            measured = measure(shape, versions, tmp, args.runs, (args.rss_cap, args.time_cap))
            for version, runs in measured.items():
                results[f"{shape}/{version}"] = summary(runs)
    print(f"baseline: {baseline or 'none'}; medians of up to {args.runs} runs, the versions "
          f"alternating; caps {args.rss_cap:g} MiB, {args.time_cap:g} s; load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| shape | version | wall s | peak RSS MiB | exit | first stderr line |")
    print("|---|---|---|---|---|---|")
    for key, row in results.items():
        shape, version = key.split("/")
        print(f"| {shape} | {version} | {row['seconds']:.2f} | {row['rss_mib']:.0f} | "
              f"{row['exit']} | {str(row['error'])[:110]} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
