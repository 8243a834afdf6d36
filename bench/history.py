#!/usr/bin/env python3
"""Verdicts of ``vfiolint check --git`` commit by commit, and how two sets of them differ.

    python bench/history.py run --repo DPDK --out before.json [--paths P ...] [--grep RE]
                                [--rev v24.03] [--vfiolint CMD] [-- EXTRA VFIOLINT ARGS]
    python bench/history.py diff before.json after.json

``run`` lists the non-merge commits reachable from ``--rev`` that touch ``--paths`` (default:
DPDK's ``drivers/bus/pci`` and ``lib/eal``, under their old names too) and whose touched files
match ``--grep`` (default: any file name holding ``vfio``), runs ``vfiolint check --git C`` on
each one (one process per commit, ``--jobs 1``) and saves the findings (rule, status, path,
line, function, message) per commit. With ``--as mail`` each commit is checked as the mail
``git format-patch --base=C^`` makes of it, from its hunks alone; with ``--as mail-repo``, the
same mail with ``--repo``. ``diff`` prints the findings one file has and the other has not,
commit by commit: the verdicts a change to vfiolint, or the way a change arrives, moved.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

DEFAULT_PATHS = ["drivers/bus/pci", "lib/eal", "lib/librte_eal"]


def commits(repo: str, rev: str, paths: list[str], grep: str) -> list[str]:
    """List the commits to judge, oldest first."""
    out = subprocess.run(["git", "-C", repo, "log", "--no-merges", "--reverse", "--format=%H",
                          "--name-only", rev, "--", *paths], capture_output=True, text=True,
                         check=True).stdout
    wanted, current, pattern = [], "", re.compile(grep)
    for line in out.splitlines():
        if re.fullmatch(r"[0-9a-f]{40}", line):
            current = line
        elif line and current and pattern.search(line) and (not wanted or wanted[-1] != current):
            wanted.append(current)
    return wanted


def run(args: argparse.Namespace) -> int:
    """Judge every commit and save the findings."""
    base = shlex.split(args.vfiolint)
    result: dict[str, list[list[object]]] = {}
    errors: dict[str, str] = {}
    listed = commits(args.repo, args.rev, args.paths, args.grep)
    for n, commit in enumerate(listed, 1):
        how = ["--git", commit, "--repo", args.repo]
        if args.way != "git":
            mail = subprocess.run(["git", "-C", args.repo, "format-patch", "-1", "--stdout",
                                   f"--base={commit}^", commit], capture_output=True, check=True)
            patch = Path(args.out).with_suffix(".patch")
            patch.write_bytes(mail.stdout)
            how = [str(patch), *(["--repo", args.repo] if args.way == "mail-repo" else [])]
        proc = subprocess.run([*base, "check", *how, "--jobs", "1", "--format", "json",
                               *args.extra], capture_output=True, text=True, check=False)
        doc = json.loads(proc.stdout or '{"findings": []}')
        reported = [f"{name}: {message}" for name, message in
                    ((e.get("input", ""), e.get("message", "")) for e in doc.get("errors", []))]
        if proc.returncode not in (0, 1) or reported or proc.stderr.strip():
            errors[commit] = "\n".join([*reported, proc.stderr.strip()]).strip()
        result[commit] = [[f["rule"], f["status"], f["path"], f["line"], f["function"],
                           f["message"]] for f in doc["findings"]]
        print(f"\r{n}/{len(listed)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    version = subprocess.run([*base, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    Path(args.out).write_text(json.dumps({"vfiolint": version, "source": _source_state(),
                                          "args": args.extra, "way": args.way,
                                          "commits": result, "errors": errors}, indent=1))
    if errors:
        print(f"{len(errors)} commit(s) with errors: see 'errors' in {args.out}", file=sys.stderr)
    return 0


def _source_state() -> str:
    """Name the vfiolint code measured: this checkout's commit, and whether it was edited (a
    long run over an editable install should measure a snapshot, never a work tree in flux)."""
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "vfiolint",
                            "rules"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{head or 'unknown'}{' (modified)' if dirty else ''}"


def diff(args: argparse.Namespace) -> int:
    """Print the findings that differ between two saved runs."""
    before = json.loads(Path(args.before).read_text())["commits"]
    after = json.loads(Path(args.after).read_text())["commits"]
    changed = 0
    for commit in [c for c in before if c in after]:
        old = {tuple(f[:4]): f for f in before[commit]}
        new = {tuple(f[:4]): f for f in after[commit]}
        for key in sorted(set(old) ^ set(new)):
            side, f = ("-", old[key]) if key in old else ("+", new[key])
            print(f"{side} {commit[:12]} {f[0]} {f[1]} {f[2]}:{f[3]} {f[4]}: {f[5]}")
            changed += 1
    print(f"{changed} finding(s) differ over {len(set(before) & set(after))} commit(s)")
    return 0


def main() -> int:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--repo", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--rev", default="v24.03")
    r.add_argument("--paths", nargs="*", default=DEFAULT_PATHS)
    r.add_argument("--grep", default="vfio")
    r.add_argument("--vfiolint", default=f"{sys.executable} -m vfiolint")
    r.add_argument("--as", dest="way", choices=("git", "mail", "mail-repo"), default="git",
                   help="check each commit with --git, or as its mail (hunks, or --repo)")
    r.add_argument("extra", nargs="*")
    d = sub.add_parser("diff")
    d.add_argument("before")
    d.add_argument("after")
    args = parser.parse_args()
    return run(args) if args.command == "run" else diff(args)


if __name__ == "__main__":
    sys.exit(main())
