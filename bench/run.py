#!/usr/bin/env python3
"""Benchmark vfiolint on a DPDK clone: "fast enough to run on every commit of a history".

    python bench/run.py --repo /path/to/dpdk [--range v24.03-rc1..v24.03] [--runs 5]
                        [--extra DIR]... [--big-mbox-mb 1024] [--json out.json]

No network: every workload is built from the clone given with --repo (bare or not) and the
trees given with --extra. Each measured command runs once as a warm-up, then --runs times;
the table shows the median, min and max wall time, the peak RSS (ru_maxrss of the child, from
os.wait4, i.e. the largest process of the command's tree) and the ratio to the workload's
baseline measured in the same run. Peers (checkpatch.pl, semgrep, spatch) are used when found
(env VFIOLINT_BENCH_CHECKPATCH / VFIOLINT_BENCH_SEMGREP / VFIOLINT_BENCH_SPATCH, else PATH)
and skipped with a message otherwise. See bench/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"

# DPDK devtools/checkpatches.sh options.
CHECKPATCH_OPTS = [
    "--no-tree", "--max-line-length=100", "--show-types",
    "--ignore=LINUX_VERSION_CODE,ENOSYS,FILE_PATH_CHANGES,MAINTAINERS_STYLE,SPDX_LICENSE_TAG,"
    "VOLATILE,PREFER_PACKED,PREFER_ALIGNED,PREFER_PRINTF,STRLCPY,PREFER_KERNEL_TYPES,"
    "PREFER_FALLTHROUGH,BIT_MACRO,CONST_STRUCT,SPLIT_STRING,LONG_LINE_STRING,C99_COMMENT_STYLE,"
    "LINE_SPACING,PARENTHESIS_ALIGNMENT,NETWORKING_BLOCK_COMMENT_STYLE,NEW_TYPEDEFS,"
    "COMPARISON_TO_NULL,AVOID_BUG,EXPORT_SYMBOL,BAD_REPORTED_BY_LINK",
]

# W2: the DPDK directories exported at the range's end (the first existing of each group).
W2_DIRS = [
    ["drivers/bus/pci"],
    ["lib/eal/linux"],
    ["lib/eal/common"],
    ["drivers/net/intel/ixgbe", "drivers/net/ixgbe"],
]

TS_PARSE = r"""
import os, sys
import tree_sitter, tree_sitter_c
parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        if name.endswith((".c", ".h")):
            with open(os.path.join(root, name), "rb") as f:
                parser.parse(f.read())
            n += 1
print(n)
"""
TS_IMPORT = "import tree_sitter, tree_sitter_c"

MBOX_FROM_RE = re.compile(rb"^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001$", re.M)


# --------------------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def git(repo: str, *args: str, binary: bool = False) -> str | bytes:
    out = subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.PIPE)
    return out.stdout if binary else out.stdout.decode("utf-8", "replace")


def find_tool(env: str, names: list[str]) -> list[str] | None:
    """A peer's command: $env (a path or a command line), else the first of names on PATH."""
    value = os.environ.get(env)
    if value:
        cmd = shlex.split(value)
        if shutil.which(cmd[0]) or Path(cmd[0]).is_file():
            return cmd
        log(f"{env}={value!r} not found")
        return None
    return first_found(names)


def first_found(names: list[str]) -> list[str] | None:
    """The first of names that is a command on PATH or a file (a name with a "/")."""
    for name in names:
        path = shutil.which(name)
        if path:
            return [path]
        if "/" in name and Path(name).is_file():
            return [name]
    return None


def run_once(cmd: list[str], stdout=None, cwd=None, env=None, timeout=None) -> tuple[float, float, int, float]:
    """Run cmd; return (wall seconds, peak RSS MB of its process tree, exit code, CPU seconds
    of the process and the children it waited for: steadier than wall time on a busy machine)."""
    out = Path(stdout).open("wb") if isinstance(stdout, (str, Path)) else subprocess.DEVNULL  # noqa: SIM115
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, cwd=cwd, env=env,
                                start_new_session=True)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise TimeoutError(f"{cmd[0]}: killed after {timeout:.0f} s")
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        return wall, ru.ru_maxrss / 1024.0, proc.returncode, ru.ru_utime + ru.ru_stime
    finally:
        if out is not subprocess.DEVNULL:
            out.close()


class Bench:
    def __init__(self, runs: int, warmup: int = 1):
        self.runs, self.warmup = runs, warmup
        self.rows: list[dict] = []

    def measure(self, workload: str, tool: str, cmds: list[list[str]], *, baseline=False,
                ok_codes=(0,), stdout=None, cwd=None, env=None, runs=None, warmup=None,
                per=1, note="", timeout=None, validate=None) -> dict | None:
        """Time `cmds` (run one after another = one sample) warmup + runs times.

        per: divide each sample by this (e.g. the number of patches, for per-patch times)."""
        runs = self.runs if runs is None else runs
        warmup = self.warmup if warmup is None else warmup
        times, cpus, rss, codes = [], [], 0.0, set()
        log(f"  {workload}: {tool}: {len(cmds)} command(s) x ({warmup} warm-up + {runs} runs)")
        try:
            for i in range(warmup + runs):
                total = cpu_total = 0.0
                for cmd in cmds:
                    wall, mb, code, cpu = run_once(cmd, stdout=stdout, cwd=cwd, env=env,
                                                   timeout=timeout)
                    total += wall
                    cpu_total += cpu
                    rss = max(rss, mb)
                    codes.add(code)
                    if code not in ok_codes:
                        raise RuntimeError(f"exit code {code}: {shlex.join(cmd)[:300]}")
                    problem = validate() if validate else None
                    if problem:
                        raise RuntimeError(f"run {i + 1}: {problem}: {shlex.join(cmd)[:300]}")
                if i >= warmup:
                    times.append(total / per)
                    cpus.append(cpu_total / per)
        except (RuntimeError, TimeoutError) as exc:
            log(f"  {workload}: {tool}: FAILED: {exc}")
            row = {"workload": workload, "tool": tool, "error": str(exc), "note": note}
            self.rows.append(row)
            return None
        row = {
            "workload": workload, "tool": tool, "baseline": baseline,
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "times_s": times, "peak_rss_mb": rss, "exit_codes": sorted(codes),
            "cpu_median_s": statistics.median(cpus), "cpu_s": cpus,
            "commands": len(cmds), "per": per, "note": note,
        }
        self.rows.append(row)
        log(f"  -> median {row['median_s']:.4f} s, peak RSS {rss:.1f} MB")
        return row

    def add(self, row: dict) -> None:
        self.rows.append(row)

    def ratios(self) -> None:
        base = {}
        for r in self.rows:
            if r.get("baseline") and "median_s" in r:
                base[r["workload"]] = r
        for r in self.rows:
            b = base.get(r["workload"])
            # A per-patch time is not comparable with the baseline's whole-workload time.
            if b and "median_s" in r and b["median_s"] > 0 and r.get("per", 1) == 1:
                r["ratio"] = r["median_s"] / b["median_s"]
                if b.get("cpu_median_s") and "cpu_median_s" in r:
                    r["cpu_ratio"] = r["cpu_median_s"] / b["cpu_median_s"]


# --------------------------------------------------------------------------- workloads

def range_commits(repo: str, rng: str) -> list[str]:
    return git(repo, "rev-list", "--reverse", "--no-merges", rng).split()


def touches_c(repo: str, sha: str) -> bool:
    names = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha).split()
    return any(n.endswith((".c", ".h")) for n in names)


def default_vfiolint() -> list[str]:
    """Return the vfiolint command to time: the console script installed beside the
    interpreter the baselines run (what a venv's bin/ holds), else the one on PATH, else
    ``python -m vfiolint``. The script beside the interpreter comes first because what PATH
    finds may be a version manager's shim (pyenv's is a shell script that runs ``pyenv
    exec``, about 70 ms a run): its cost is not vfiolint's, and the baselines do not pay it."""
    beside = str(Path(sys.executable).with_name("vfiolint"))
    return first_found([beside, "vfiolint"]) or [sys.executable, "-m", "vfiolint"]


def pick_series(repo: str, rng: str, n: int) -> list[str]:
    """n consecutive commits (each the parent of the next) that all touch C files."""
    lines = git(repo, "rev-list", "--reverse", "--topo-order", "--parents", rng).splitlines()
    chain: list[str] = []
    c_cache: dict[str, bool] = {}
    for line in lines:
        sha, *parents = line.split()
        if len(parents) != 1:
            chain = []
            continue
        if sha not in c_cache:
            c_cache[sha] = touches_c(repo, sha)
        if not c_cache[sha]:
            chain = []
            continue
        if chain and parents[0] != chain[-1]:
            chain = []
        chain.append(sha)
        if len(chain) == n:
            return chain
    # No linear run: fall back to the first n C-touching commits.
    log(f"no {n} consecutive C-touching commits in {rng}; taking the first {n} that touch C")
    out = [s for s in range_commits(repo, rng) if c_cache.get(s, touches_c(repo, s))]
    return out[:n]


def format_patch(repo: str, sha: str) -> bytes:
    # As DPDK devtools/checkpatches.sh does.
    return git(repo, "format-patch", "--find-renames", "--no-stat", "--stdout", "-1", sha,
               binary=True)


def export_tree(repo: str, treeish: str, paths: list[str], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(["git", "-C", repo, "archive", treeish, *paths], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait():
        raise RuntimeError(f"git archive {treeish} {paths} failed")


def is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def keep_only_c(root: Path) -> None:
    for p in sorted(root.rglob("*"), reverse=True):
        if p.is_symlink() or (p.is_file() and not p.name.endswith((".c", ".h"))):
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()


def c_stats(root: Path) -> dict:
    files = [p for p in root.rglob("*") if p.is_file() and p.name.endswith((".c", ".h"))]
    lines = size = 0
    for p in files:
        data = p.read_bytes()
        size += len(data)
        lines += data.count(b"\n")
    return {"files": len(files), "lines": lines, "bytes": size}


def build_big_mbox(series: bytes, path: Path, mb: int) -> dict:
    """Repeat the series with distinct Message-IDs until the file reaches mb MiB."""
    starts = [m.start() for m in MBOX_FROM_RE.finditer(series)] + [len(series)]
    messages = [series[a:b] for a, b in itertools.pairwise(starts)]
    target = mb * 1024 * 1024
    written = copies = 0
    with path.open("wb") as f:
        while written < target:
            for i, msg in enumerate(messages):
                nl = msg.index(b"\n") + 1
                mid = b"Message-ID: <bench.%d.%d@vfiolint.invalid>\n" % (copies, i)
                chunk = msg[:nl] + mid + msg[nl:]
                f.write(chunk)
                written += len(chunk)
            copies += 1
    return {"bytes": written, "copies": copies, "messages": copies * len(messages)}


def json_report(path: Path):
    """A validator: the run must have printed a JSON report (exit 1 is also a crash's code)."""
    def check() -> str | None:
        if count_json_findings(path) is None:
            return f"no JSON report in {path.name}"
        return None
    return check


def source_state(vfiolint: list[str], cwd: Path) -> str | None:
    """Where the measured vfiolint lives and a digest of its modules and rules (to see them
    change mid-run); None when the command is not a Python entry point we can ask."""
    code = ("import hashlib, pathlib, vfiolint; r = pathlib.Path(vfiolint.__file__).resolve().parent; h = hashlib.sha256()\n"
            "for p in sorted([*r.rglob('*.py'), *r.parent.glob('rules/*/*'), *r.glob('_rules/*/*')]):\n"
            "    h.update(str(p).encode() + p.read_bytes()) if p.is_file() else None\n"
            "print(r, h.hexdigest()[:16])")
    exe = vfiolint[0]
    if len(vfiolint) >= 3 and vfiolint[1:3] == ["-m", "vfiolint"]:
        python = exe
    else:
        try:
            first = Path(exe).read_bytes()[:200].split(b"\n")[0]
        except OSError:
            return None
        shebang = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
        if shebang and Path(shebang[0]).name == "env":
            shebang = shebang[1:]
        python = shebang[0] if shebang else sys.executable
        if not Path(python).name.startswith("python"):
            return None  # a wrapper (a pyenv shim is a shell script): nothing to ask
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd)
    except OSError:
        return None
    return r.stdout.strip() or None


def count_json_findings(path: Path) -> int | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict):
        for key in ("findings", "results"):
            if isinstance(data.get(key), list):
                return len(data[key])
    return None


# --------------------------------------------------------------------------- report

def fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def table(rows: list[dict], targets: list[dict]) -> str:
    out = []
    head = (f"{'workload':<10} {'tool':<44} {'median s':>10} {'min':>10} {'max':>10} {'RSS MB':>8} "
            f"{'ratio':>9} {'CPU s':>8} {'CPU ratio':>9}")
    out.append(head)
    out.append("-" * len(head))
    for r in rows:
        tool = r["tool"] + (" [baseline]" if r.get("baseline") else "")
        if "error" in r:
            out.append(f"{r['workload']:<10} {tool:<44} {'FAILED: ' + r['error'][:60]}")
            continue
        spec = ".4f" if r["median_s"] < 1 else ".3f"
        out.append(
            f"{r['workload']:<10} {tool:<44} {fmt(r['median_s'], spec):>10} {fmt(r['min_s'], spec):>10} "
            f"{fmt(r['max_s'], spec):>10} {fmt(r.get('peak_rss_mb'), '.1f'):>8} "
            f"{fmt(r.get('ratio'), '.2f') + 'x' if r.get('ratio') is not None else '-':>9} "
            f"{fmt(r.get('cpu_median_s'), '.3f'):>8} "
            f"{fmt(r.get('cpu_ratio'), '.2f') + 'x' if r.get('cpu_ratio') is not None else '-':>9}")
    out.append("")
    out.append("targets (issue: fast enough to run on every commit of a history)")
    head = f"{'target':<58} {'measured':>12} {'limit':>10} {'result':>7}  margin"
    out.append(head)
    out.append("-" * len(head))
    for t in targets:
        if t.get("measured") is None:
            out.append(f"{t['name']:<58} {'-':>12} {t['limit_text']:>10} {'n/a':>7}  {t.get('why', '')}")
            continue
        out.append(f"{t['name']:<58} {t['measured_text']:>12} {t['limit_text']:>10} "
                   f"{'PASS' if t['pass'] else 'MISS':>7}  {t['margin']}")
    return "\n".join(out)


def target(name, measured, limit, kind, unit="", why=""):
    """kind 'le': measured <= limit; 'ge': measured >= limit; 'lt': measured < limit."""
    t = {"name": name, "limit": limit, "kind": kind, "measured": measured}
    sym = {"le": "<=", "ge": ">=", "lt": "<"}[kind]
    t["limit_text"] = f"{sym} {limit:g}{unit}"
    if measured is None:
        t["why"] = why or "not measured"
        return t
    t["measured_text"] = f"{measured:.3g}{unit}" if unit != " MB" else f"{measured:.1f}{unit}"
    t["pass"] = {"le": measured <= limit, "ge": measured >= limit, "lt": measured < limit}[kind]
    if kind == "ge":
        f = measured / limit
        t["margin"] = f"{f:.2f}x the minimum" if t["pass"] else f"{limit / measured:.2f}x short"
    else:
        f = measured / limit
        t["margin"] = f"{1 / f:.2f}x under" if t["pass"] else f"{f:.2f}x over"
    return t


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, help="DPDK clone (a work tree or a bare git dir)")
    ap.add_argument("--range", default="v24.03-rc1..v24.03", help="A..B (default %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per command (>= 5 advised)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs per command")
    ap.add_argument("--extra", action="append", default=[], metavar="DIR",
                    help="extra C tree for W2 (a directory, or a git dir whose HEAD is exported); repeatable")
    ap.add_argument("--checkpatch-sample", type=int, default=20, metavar="N",
                    help="W1: checkpatch.pl on N patches of the range, evenly spaced (default %(default)s)")
    ap.add_argument("--series-len", type=int, default=26, help="W3: patches in the series")
    ap.add_argument("--big-mbox-mb", type=int, default=1024, help="W4: size of the big mbox in MiB; 0 skips it")
    ap.add_argument("--big-mbox-timeout", type=float, default=3600, help="W4: give up after this many seconds")
    ap.add_argument("--only", default="W1,W2,W3,W4,W5", help="comma-separated workloads to run")
    ap.add_argument("--vfiolint", default=None, help="vfiolint command (default: vfiolint on PATH, else python -m vfiolint)")
    ap.add_argument("--workdir", default=None, help="keep the workloads here (default: a temp dir, removed)")
    ap.add_argument("--profile", metavar="FILE", default=None,
                    help="also cProfile one W1 vfiolint run into FILE and print its top 15 functions")
    ap.add_argument("--per-rule", action="store_true",
                    help="W1: also time the range with each enabled rule alone (--select ID), 3 runs each")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    only = {w.strip().upper() for w in args.only.split(",") if w.strip()}

    repo = str(Path(args.repo).resolve())
    try:
        git(repo, "rev-parse", "--git-dir")
    except subprocess.CalledProcessError:
        ap.error(f"{repo}: not a git repository")
    rng = args.range
    if ".." not in rng:
        ap.error("--range must be A..B")
    end = rng.split("..", 1)[1] or "HEAD"

    vfiolint = shlex.split(args.vfiolint) if args.vfiolint else default_vfiolint()
    checkpatch = find_tool("VFIOLINT_BENCH_CHECKPATCH", ["checkpatch.pl", "/opt/checkpatch/checkpatch.pl"])
    semgrep = find_tool("VFIOLINT_BENCH_SEMGREP", ["semgrep"])
    spatch = find_tool("VFIOLINT_BENCH_SPATCH", ["spatch"])
    if checkpatch and checkpatch[0].endswith(".pl") and len(checkpatch) == 1:
        checkpatch = ["perl", checkpatch[0]]

    tmp_ctx = None
    if args.workdir:
        work = Path(args.workdir).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="vfiolint-bench-")
        work = Path(tmp_ctx.name)
    # Peers must not pick up a git repository or config from where the user stands.
    peer_cwd = work / "cwd"
    peer_cwd.mkdir(exist_ok=True)
    penv = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    penv.update(SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0", NO_COLOR="1")
    # vfiolint's index cache lives in the workdir: warm after the warm-up run, never the user's
    venv = {**os.environ, "XDG_CACHE_HOME": str(work / "xdg-cache")}
    # ...and it runs as installed: Python may write its bytecode (the warm-up run does), as a
    # pip install does once; PYTHONDONTWRITEBYTECODE would recompile every module each run.
    venv.pop("PYTHONDONTWRITEBYTECODE", None)

    bench = Bench(args.runs, args.warmup)
    info: dict = {
        "range": rng, "repo": repo, "runs": args.runs, "warmup": args.warmup,
        "python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
        "vfiolint": vfiolint, "tools": {},
    }
    try:
        info["vfiolint_version"] = subprocess.run([*vfiolint, "--version"], capture_output=True, text=True).stdout.strip()
        src = HERE.parent
        if (src / ".git").exists():
            info["vfiolint_commit"] = git(str(src), "rev-parse", "HEAD").strip()
            info["vfiolint_dirty"] = bool(git(str(src), "status", "--porcelain", "--", "vfiolint", "rules").strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    for name, cmd, vargs in (("checkpatch", checkpatch, None), ("semgrep", semgrep, ["--version"]),
                             ("spatch", spatch, ["--version"])):
        if cmd is None:
            print(f"{name}: not found (set VFIOLINT_BENCH_{name.upper()} or put it on PATH); skipped")
            continue
        version = ""
        if vargs:
            r = subprocess.run([*cmd, *vargs], capture_output=True, text=True, env=penv)
            version = (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else ""
        info["tools"][name] = {"command": cmd, "version": version}

    state0 = source_state(vfiolint, peer_cwd)
    info["vfiolint_source_state"] = state0
    commits = range_commits(repo, rng)
    if not commits:
        ap.error(f"{rng}: no non-merge commits")
    info["commits"] = len(commits)
    log(f"range {rng}: {len(commits)} non-merge commits; workdir {work}")
    results: dict = {"info": info, "workloads": {}}
    vf_w1 = None

    # ---- W1: git range
    if "W1" in only:
        log("W1: git range")
        w1 = {"commits": len(commits)}
        bench.measure("W1 range", "git log -p", [["git", "-C", repo, "log", "-p", rng]], baseline=True)
        out = work / "w1.json"
        vf_w1 = bench.measure("W1 range", "vfiolint check --git", [[*vfiolint, "check", "--git", rng, "--repo", repo,
                                                                   "--format", "json"]], ok_codes=(0, 1), stdout=out,
                              validate=json_report(out), cwd=peer_cwd, env=venv)
        w1["vfiolint_findings"] = count_json_findings(out)
        # The same run with the index warm but no blob's keyword parts kept: every touched file
        # is scanned again, as on a range vfiolint has never seen.
        keywords_cold = [sys.executable, "-c",
                         "import glob, os, subprocess, sys\n"
                         f"for f in glob.glob({str(work / 'xdg-cache' / 'vfiolint' / '*' / 'keywords-*')!r}):\n"
                         "    os.unlink(f)\n"
                         f"sys.exit(subprocess.call({[*vfiolint, 'check', '--git', rng, '--repo', repo, '--format', 'json']!r},"
                         " stdout=subprocess.DEVNULL))"]
        bench.measure("W1 range", "vfiolint check --git, blob keywords cold", [keywords_cold], ok_codes=(0, 1),
                      cwd=peer_cwd, env=venv,
                      note="a python wrapper drops the kept keyword parts of blobs before each run; the index stays warm")
        out = work / "w1-noindex.json"
        bench.measure("W1 range", "vfiolint check --git --no-index",
                      [[*vfiolint, "check", "--git", rng, "--repo", repo, "--format", "json", "--no-index"]],
                      ok_codes=(0, 1), stdout=out, validate=json_report(out), cwd=peer_cwd, env=venv,
                      note="the same run asking the repository nothing")
        if args.per_rule:  # what each rule costs the range (the run with the cheapest one is the frame)
            listed = subprocess.run([*vfiolint, "rules"], capture_output=True, text=True, check=True, env=venv)
            ids = [line.split()[0] for line in listed.stdout.splitlines() if re.match(r"VFIO\d{3}\s", line)]
            w1["per_rule"] = {}
            for rid in ids:
                row = bench.measure("W1 range", f"vfiolint check --git --select {rid} (alone)",
                                    [[*vfiolint, "check", "--git", rng, "--repo", repo, "--format", "json",
                                      "--select", rid]], ok_codes=(0, 1), cwd=peer_cwd, env=venv, runs=3)
                if row:
                    w1["per_rule"][rid] = row["median_s"]
        if vf_w1:
            vf_w1["per_patch_s"] = vf_w1["median_s"] / len(commits)
        if checkpatch:
            n = min(args.checkpatch_sample, len(commits))
            step = len(commits) / n
            sample = [commits[int(i * step)] for i in range(n)]
            pdir = work / "w1-patches"
            pdir.mkdir(exist_ok=True)
            files = []
            for i, sha in enumerate(sample):
                p = pdir / f"{i:04d}.patch"
                p.write_bytes(format_patch(repo, sha))
                files.append(p)
            w1["checkpatch_sample"] = sample
            w1["checkpatch_sample_bytes"] = sum(p.stat().st_size for p in files)
            cmds = [[*checkpatch, *CHECKPATCH_OPTS, str(p)] for p in files]
            row = bench.measure("W1 range", f"checkpatch.pl, per patch ({n} sampled)", cmds, ok_codes=(0, 1),
                                cwd=peer_cwd, env=penv, per=n, note="one process per patch, per-patch time")
            if row:
                row["per_patch_s"] = row["median_s"]
                ext = {"workload": "W1 range", "tool": f"checkpatch.pl, extrapolated to {len(commits)} patches",
                       "median_s": row["median_s"] * len(commits), "min_s": row["min_s"] * len(commits),
                       "max_s": row["max_s"] * len(commits), "peak_rss_mb": row["peak_rss_mb"],
                       "extrapolated": True, "note": f"per-patch median x {len(commits)}"}
                bench.add(ext)
        results["workloads"]["W1"] = w1

    # ---- W5: the repository index
    if "W5" in only:
        log("W5: repository index")
        w5: dict = {"tree": end}
        colds = work / "w5-cold"
        colds.mkdir(exist_ok=True)
        # each run indexes into a cache directory of its own: every run is a first index
        cold = [sys.executable, "-c",
                "import subprocess, sys, tempfile\n"
                f"d = tempfile.mkdtemp(dir={str(colds)!r})\n"
                f"sys.exit(subprocess.call({[*vfiolint, 'index', end, '--repo', repo]!r} + ['--cache-dir', d],"
                " stdout=subprocess.DEVNULL))"]
        bench.measure("W5 index", f"vfiolint index {end} (first index, empty cache)", [cold], cwd=peer_cwd,
                      note="a python wrapper makes a fresh cache directory per run")
        shutil.rmtree(colds, ignore_errors=True)
        bench.measure("W5 index", f"vfiolint index {end} (cached)", [[*vfiolint, "index", end, "--repo", repo]],
                      cwd=peer_cwd, env=venv)
        out = work / "w5-tree-noindex.json"
        bench.measure("W5 tree", f"vfiolint check --tree {end} --no-index", [[*vfiolint, "check", "--tree", end,
                      "--repo", repo, "--format", "json", "--no-index"]], baseline=True, ok_codes=(0, 1),
                      stdout=out, validate=json_report(out), cwd=peer_cwd, env=venv)
        out = work / "w5-tree.json"
        bench.measure("W5 tree", f"vfiolint check --tree {end} (index cached)", [[*vfiolint, "check", "--tree",
                      end, "--repo", repo, "--format", "json"]], ok_codes=(0, 1), stdout=out,
                      validate=json_report(out), cwd=peer_cwd, env=venv)
        w5["tree_findings"] = count_json_findings(out)
        results["workloads"]["W5"] = w5

    # ---- W2: C files
    if "W2" in only:
        log("W2: C files")
        cdir = work / "w2-src"
        if cdir.exists():
            shutil.rmtree(cdir)
        paths = []
        for group in W2_DIRS:
            for cand in group:
                if git(repo, "ls-tree", "-d", end, cand).strip():
                    paths.append(cand)
                    break
            else:
                log(f"W2: none of {group} at {end}; left out")
        export_tree(repo, end, paths, cdir / "dpdk")
        extras = []
        for extra in args.extra:
            ep = Path(extra).resolve()
            name = re.sub(r"[^A-Za-z0-9_.+-]", "_", ep.name if ep.name not in ("repo", ".git") else ep.parent.name)
            dest = cdir / f"extra-{len(extras)}-{name}"
            if is_git_dir(ep) or (ep / ".git").exists():
                export_tree(str(ep), "HEAD", [], dest)
            elif ep.is_dir():
                shutil.copytree(ep, dest, symlinks=True)
            else:
                log(f"W2: --extra {extra}: not a directory; left out")
                continue
            extras.append(str(ep))
        keep_only_c(cdir)
        stats = c_stats(cdir)
        stats.update(dpdk_paths=paths, extras=extras, ref=end)
        log(f"W2: {stats['files']} files, {stats['lines']} lines")
        results["workloads"]["W2"] = stats
        bench.measure("W2 C files", "tree-sitter parse (python)", [[sys.executable, "-c", TS_PARSE, str(cdir)]],
                      baseline=True)
        out = work / "w2.json"
        bench.measure("W2 C files", "vfiolint check DIR", [[*vfiolint, "check", str(cdir), "--format", "json"]],
                      ok_codes=(0, 1), stdout=out, validate=json_report(out), cwd=peer_cwd, env=venv)
        stats["vfiolint_findings"] = count_json_findings(out)
        if semgrep:
            out = work / "w2-semgrep.json"
            cmd = [*semgrep, "scan", "--config", str(PEERS / "vfio.semgrep.yml"), "--metrics=off",
                   "--disable-version-check", "--no-git-ignore", "--jobs", "2", "--json", "--quiet",
                   "--output", str(out), str(cdir)]
            bench.measure("W2 C files", "semgrep (5 rules, --jobs 2)", [cmd], ok_codes=(0, 1), cwd=peer_cwd, env=penv)
            stats["semgrep_findings"] = count_json_findings(out)
        else:
            print("semgrep: skipped")
        if spatch:
            cocci = work / "vfio-all.cocci"
            cocci.write_text("\n".join(p.read_text() for p in sorted(PEERS.glob("vfio0*.cocci"))))
            out = work / "w2-spatch.txt"
            cmd = [*spatch, "--sp-file", str(cocci), "--dir", str(cdir), "--jobs", "2", "--very-quiet",
                   "--no-includes", "--include-headers"]
            bench.measure("W2 C files", "spatch --jobs 2 (5 rules)", [cmd], cwd=peer_cwd, env=penv, stdout=out)
            with contextlib.suppress(OSError):
                stats["spatch_findings"] = sum(1 for x in out.read_text().splitlines() if ": VFIO00" in x)
        else:
            print("spatch: skipped")

    # ---- W3: series
    series = b""
    if "W3" in only or "W4" in only:
        shas = pick_series(repo, rng, args.series_len)
        first = shas[0]
        linear = all(git(repo, "rev-parse", f"{b}^").strip() == a for a, b in itertools.pairwise(shas))
        if linear:
            series = git(repo, "format-patch", "--stdout", "--numbered", f"{first}^..{shas[-1]}", binary=True)
        else:
            series = b"".join(format_patch(repo, s) for s in shas)
        mbox = work / "series.mbox"
        mbox.write_bytes(series)
        results["workloads"]["W3"] = {"commits": shas, "linear": linear, "bytes": len(series),
                                      "patches": len(MBOX_FROM_RE.findall(series))}
    if "W3" in only:
        log("W3: series")
        w3 = results["workloads"]["W3"]
        bench.measure("W3 series", "python: import tree_sitter, tree_sitter_c", [[sys.executable, "-c", TS_IMPORT]],
                      baseline=True)
        out = work / "w3.json"
        bench.measure("W3 series", f"vfiolint check series.mbox ({w3['patches']} patches)",
                      [[*vfiolint, "check", str(mbox), "--format", "json"]], ok_codes=(0, 1), stdout=out,
                      validate=json_report(out), cwd=peer_cwd, env=venv)
        w3["vfiolint_findings"] = count_json_findings(out)
        if checkpatch:
            pdir = work / "w3-patches"
            pdir.mkdir(exist_ok=True)
            starts = [m.start() for m in MBOX_FROM_RE.finditer(series)] + [len(series)]
            files = []
            for i, (a, b) in enumerate(itertools.pairwise(starts)):
                p = pdir / f"{i + 1:04d}.patch"
                p.write_bytes(series[a:b])
                files.append(p)
            bench.measure("W3 series", f"checkpatch.pl, one process per patch ({len(files)})",
                          [[*checkpatch, *CHECKPATCH_OPTS, str(p)] for p in files], ok_codes=(0, 1),
                          cwd=peer_cwd, env=penv)

    # ---- W4: memory
    if "W4" in only:
        log("W4: memory")
        w4: dict = {}
        if vf_w1:
            w4["range_rss_mb"] = vf_w1["peak_rss_mb"]
        if args.big_mbox_mb > 0:
            big = work / "big.mbox"
            log(f"W4: writing a {args.big_mbox_mb} MiB mbox")
            w4.update(build_big_mbox(series, big, args.big_mbox_mb))
            w4["mb"] = args.big_mbox_mb
            out = work / "w4.json"
            row = bench.measure("W4 memory", f"vfiolint check big.mbox ({w4['bytes'] / 2**20:.0f} MiB, "
                                f"{w4['messages']} msgs)", [[*vfiolint, "check", str(big), "--format", "json"]],
                                ok_codes=(0, 1), stdout=out, runs=1, warmup=0, timeout=args.big_mbox_timeout,
                                note="one run, no warm-up", validate=json_report(out), cwd=peer_cwd, env=venv)
            w4["vfiolint_findings"] = count_json_findings(out)
            if row:
                w4["big_rss_mb"] = row["peak_rss_mb"]
                w4["big_s"] = row["median_s"]
            big.unlink(missing_ok=True)
        else:
            print("W4: big mbox skipped (--big-mbox-mb 0)")
        results["workloads"]["W4"] = w4

    # ---- profile
    if args.profile and "W1" in only:
        log(f"profiling one W1 vfiolint run into {args.profile}")
        prof = Path(args.profile).resolve()
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "vfiolint", "check", "--git", rng,
                        "--repo", repo, "--format", "json"], stdout=subprocess.DEVNULL, cwd=peer_cwd)
        import io
        import pstats
        buf = io.StringIO()
        st = pstats.Stats(str(prof), stream=buf)
        st.sort_stats("tottime").print_stats(15)
        st.sort_stats("cumulative").print_stats(25)
        results["profile"] = buf.getvalue()

    state1 = source_state(vfiolint, peer_cwd)
    if state0 != state1:
        info["vfiolint_changed_during_run"] = True
        print(f"WARNING: vfiolint's source changed during the benchmark ({state0} -> {state1}); "
              "the numbers mix versions")

    # ---- targets
    bench.ratios()
    rows = bench.rows

    def find(workload, prefix):
        for r in rows:
            if r["workload"] == workload and r["tool"].startswith(prefix) and "median_s" in r:
                return r
        return None

    targets = []
    gl, vf = find("W1 range", "git log"), find("W1 range", "vfiolint")
    targets.append(target("W1 vfiolint --git (index on) / git log -p",
                          vf["median_s"] / gl["median_s"] if gl and vf else None, 2, "le", "x"))
    kc = find("W1 range", "vfiolint check --git, blob keywords cold")
    targets.append(target("W1 vfiolint --git, blob keywords cold / git log -p",
                          kc["median_s"] / gl["median_s"] if gl and kc else None, 2, "le", "x"))
    cp = find("W1 range", "checkpatch.pl, per patch")
    targets.append(target("W1 checkpatch per patch / vfiolint per patch",
                          cp["per_patch_s"] / vf["per_patch_s"] if cp and vf else None, 100, "ge", "x",
                          why="checkpatch.pl not found" if not checkpatch else ""))
    vw2, sp, sg = find("W2 C files", "vfiolint"), find("W2 C files", "spatch"), find("W2 C files", "semgrep")
    targets.append(target("W2 vfiolint / spatch --jobs 2", vw2["median_s"] / sp["median_s"] if vw2 and sp else None,
                          0.5, "le", "x", why="spatch not found" if not spatch else ""))
    targets.append(target("W2 vfiolint / semgrep", vw2["median_s"] / sg["median_s"] if vw2 and sg else None,
                          0.15, "le", "x", why="semgrep not found" if not semgrep else ""))
    ti, v3 = find("W3 series", "python: import"), find("W3 series", "vfiolint")
    targets.append(target("W3 vfiolint series / tree-sitter import", v3["median_s"] / ti["median_s"] if ti and v3 else None,
                          5, "le", "x"))
    targets.append(target("W4 peak RSS, vfiolint --git on the range", vf["peak_rss_mb"] if vf else None, 250, "lt", " MB"))
    targets.append(target("W1 (CPU time) vfiolint --git (index on) / git log -p",
                          vf["cpu_median_s"] / gl["cpu_median_s"] if gl and vf else None, 2, "le", "x"))
    first = find("W5 index", "vfiolint index")
    targets.append(target(f"W5 first index of the {end} tree", first["median_s"] if first else None, 10, "le",
                          " s"))
    targets.append(target("W5 peak RSS of the first index", first["peak_rss_mb"] if first else None, 250, "lt",
                          " MB"))
    t0, t1 = find("W5 tree", f"vfiolint check --tree {end} --no-index"), find("W5 tree", f"vfiolint check --tree {end} (")
    targets.append(target("W5 --tree with the cached index minus without",
                          t1["median_s"] - t0["median_s"] if t0 and t1 else None, 0.3, "le", " s"))
    targets.append(target("W5 (CPU time) --tree with the cached index minus without",
                          t1["cpu_median_s"] - t0["cpu_median_s"] if t0 and t1 else None, 0.3, "le", " s"))
    big = find("W4 memory", "vfiolint")
    label = f"W4 peak RSS, vfiolint on the {args.big_mbox_mb} MiB mbox"
    targets.append(target(label, big["peak_rss_mb"] if big else None, 200, "lt", " MB",
                          why="--big-mbox-mb 0" if args.big_mbox_mb == 0 else ""))
    if args.big_mbox_mb and args.big_mbox_mb < 1024 and big:
        targets[-1]["name"] += " (issue: 1 GB)"

    text = table(rows, targets)
    print(text)
    if "profile" in results:
        print("\ncProfile of one W1 vfiolint run (top 15 by own time, then by cumulative time)")
        print(results["profile"])
    results["rows"] = rows
    results["targets"] = targets
    results["table"] = text
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if tmp_ctx:
        tmp_ctx.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
