"""Analyse one series: the only place in the bot that knows how.

The series' messages (cover letter first, then the patches in order) become one mbox in
memory, and that mbox goes through the very path ``vfiolint check series.mbox`` takes
(``run.stream_outcome``): the same findings, errors, coverage and patch numbering.

Before that, the cost control: the patches are read (mail and diff, no C parsing) and the
keyword pre-filter (``rules_for``, through ``run.hunks_wanted``) says whether any C file is one
an enabled rule cares about; if none is, the series is skipped without parsing any C.

A configured tree is resolved here (``base-commit:`` of the series when the repository has
it, else the configured branch) and recorded with the verdict. The analysis itself is on
hunks: ``analyse_series`` is where the repository and base are to be handed to the
repository-context check, and ``TreeUse.mode`` says which one ran.
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from vfiolint.bot.settings import Tree
from vfiolint.config import Config
from vfiolint.inputs import load_stream
from vfiolint.inputs.images import is_c_path
from vfiolint.inputs.stream import MBOX_FROM_RE
from vfiolint.limits import Limits
from vfiolint.rules.loader import Rule
from vfiolint.run import Outcome, Task, hunks_wanted, stream_outcome

SEPARATOR = b"From vfiolint-bot Thu Jan  1 00:00:00 1970\n"
BASE_RE = re.compile(rb"^base-commit: ([0-9a-f]{7,64})\s*$", re.M)


@dataclass(frozen=True, slots=True)
class TreeUse:
    """What a series was checked against: the tree's repository, branch and base commit
    (None without a tree, or when it cannot be resolved), and the mode that ran."""

    repo: str | None = None
    branch: str | None = None
    base: str | None = None
    mode: str = "hunks"
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesCheck:
    """The outcome of checking a series (analysed under ``name``); ``outcome`` is None for a
    skipped series."""

    name: str
    wanted: tuple[str, ...]
    outcome: Outcome | None
    tree: TreeUse


def as_mbox(messages: Iterable[bytes]) -> bytes:
    """Join messages into one mbox (mboxrd: a body line that reads as a separator is quoted)."""
    out = bytearray()
    for data in messages:
        lines = data.splitlines(keepends=True)
        if lines and lines[0].startswith(b"From "):
            out += lines.pop(0)
        else:
            out += SEPARATOR
        for line in lines:
            unquoted = line.lstrip(b">")
            out += b">" + line if MBOX_FROM_RE.match(unquoted) else line
        if not out.endswith(b"\n"):
            out += b"\n"
    return bytes(out)


def wanted_files(name: str, mbox: bytes, rules: list[Rule], config: Config,
                 limits: Limits) -> tuple[list[str], bool]:
    """Return the C files of a series some enabled rule cares about (keyword pre-filter on
    the hunks, no C parsing), and whether some message could not be read."""
    wanted: list[str] = []
    broken = False
    for loaded in load_stream(name, io.BytesIO(mbox), True, limits):
        broken = broken or bool(loaded.errors)
        for patch in loaded.patches:
            wanted += [f.path for f in patch.files
                       if is_c_path(f.path) and f.hunks and hunks_wanted(f, rules, config)]
    return wanted, broken


def _rev_parse(repo: str, rev: str) -> str | None:
    """Return the commit a revision names in a repository, or None."""
    try:
        proc = subprocess.run(["git", "-C", repo, "rev-parse", "--verify", "-q",
                               "--end-of-options", f"{rev}^{{commit}}"],
                              capture_output=True, check=False)
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip() or None


def tree_use(tree: Tree | None, messages: list[bytes]) -> TreeUse:
    """Resolve the base a series applies to: its ``base-commit:`` when the repository has it,
    else the configured branch."""
    if tree is None:
        return TreeUse()
    repo = str(tree.repo)
    for data in messages:
        m = BASE_RE.search(data)
        if m and (base := _rev_parse(repo, m.group(1).decode())):
            return TreeUse(repo, tree.branch, base, note="base-commit of the series")
    base = _rev_parse(repo, tree.branch)
    if base is None:
        return TreeUse(repo, tree.branch, None, note=f"{tree.branch} not found in {repo}")
    return TreeUse(repo, tree.branch, base, note=f"tip of {tree.branch}")


def analyse_series(name: str, messages: list[bytes], rules: list[Rule], config: Config,
                   tree: Tree | None, limits: Limits | None = None,
                   debug: bool = False) -> SeriesCheck:
    """Check one series (cover letter and patches in order) as ``vfiolint check`` checks the
    same mbox; skip it, without parsing any C, when no rule cares about any of its files.

    ``tree`` is the configured tree; its base is resolved and recorded. The analysis runs on
    the hunks (``mode = "hunks"``): this call is the one to give the repository and base to
    once patches can be checked against their tree."""
    limits = limits or Limits()
    mbox = as_mbox(messages)
    use = tree_use(tree, messages)
    wanted, broken = wanted_files(name, mbox, rules, config, limits)
    if not wanted and not broken:
        return SeriesCheck(name, (), None, use)
    task = Task(limits.seconds, debug, True, limits)
    outcome = stream_outcome(name, io.BytesIO(mbox), rules, config, task)
    return SeriesCheck(name, tuple(dict.fromkeys(wanted)), outcome, use)
