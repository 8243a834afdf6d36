"""Analyse one series: the only place in the bot that knows how.

The series' messages (cover letter first, then the patches in order) become one mbox in
memory, and that mbox goes through the very path ``vfiolint check series.mbox`` takes
(``run.stream_outcome``): the same findings, errors, coverage and patch numbering.

Before that, the cost control: the patches are read (mail and diff, no C parsing) and the
keyword pre-filter (``rules_for``, through ``run.hunks_wanted``) says whether any C file is one
an enabled rule cares about; if none is, the series is skipped without parsing any C.

A configured tree is resolved here (``base-commit:`` of the series when the repository has
it, else the configured branch) and recorded with the verdict. With a tree, the series is read
as ``vfiolint check --repo TREE --base BASE series.mbox`` reads it: each patch applied in
memory on what the earlier ones made of its files, whole files judged with the repository's
index; ``TreeUse.mode`` is ``tree`` when at least one file was judged whole, else ``hunks``
(no tree, or no patch applied). The pre-filter then looks at the whole base file too: a
hunk that names none of a rule's keywords may sit in a function that does.
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vfiolint.bot.settings import Tree
from vfiolint.config import Config
from vfiolint.inputs import load_stream
from vfiolint.inputs.stream import MBOX_FROM_RE
from vfiolint.limits import Limits
from vfiolint.model import is_c_path
from vfiolint.rules.loader import Rule
from vfiolint.run import Outcome, Task, hunks_wanted, stream_outcome

if TYPE_CHECKING:
    from vfiolint.gitstore import BlobReader
    from vfiolint.inputs.context import Context

SEPARATOR = b"From vfiolint-bot Thu Jan  1 00:00:00 1970\n"
BASE_RE = re.compile(rb"^base-commit: ([0-9a-f]{7,64})\s*$", re.M)
BASE_COMMIT_NOTE = "base-commit of the series"  # TreeUse.note when the series named its base


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
                 limits: Limits, base: tuple[BlobReader, str] | None = None
                 ) -> tuple[list[str], bool]:
    """Return the C files of a series some enabled rule cares about (keyword pre-filter on
    the hunks, and with a ``base`` (reader, commit) on the whole file there; no C parsing),
    and whether some message could not be read."""
    from vfiolint.rules.engine import rules_for

    wanted: list[str] = []
    broken = False
    for loaded in load_stream(name, io.BytesIO(mbox), True, limits):
        broken = broken or bool(loaded.errors)
        for patch in loaded.patches:
            for f in patch.files:
                if not is_c_path(f.path) or not f.hunks:
                    continue
                if hunks_wanted(f, rules, config):
                    wanted.append(f.path)
                elif base is not None and f.old_path is not None:
                    reader, commit = base
                    text = reader.read(f"{commit}:{f.old_path}")
                    if text is not None and rules_for(rules, f.path, config, text):
                        wanted.append(f.path)
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
            return TreeUse(repo, tree.branch, base, note=BASE_COMMIT_NOTE)
    base = _rev_parse(repo, tree.branch)
    if base is None:
        return TreeUse(repo, tree.branch, None, note=f"{tree.branch} not found in {repo}")
    return TreeUse(repo, tree.branch, base, note=f"tip of {tree.branch}")


def analyse_series(name: str, messages: list[bytes], rules: list[Rule], config: Config,
                   tree: Tree | None, limits: Limits | None = None,
                   debug: bool = False, cache_root: Path | None = None) -> SeriesCheck:
    """Check one series (cover letter and patches in order) as ``vfiolint check`` checks the
    same mbox; skip it, without parsing any C, when no rule cares about any of its files.

    ``tree`` is the configured tree: its base is resolved, and the series is read with it
    (``--repo``/``--base``, the index cached under ``cache_root``, by default vfiolint's
    cache folder)."""
    limits = limits or Limits()
    mbox = as_mbox(messages)
    use = tree_use(tree, messages)
    context = _context(use, cache_root)
    try:
        base = ((context.repository(Path(use.repo)).reader, use.base)
                if context is not None and use.repo and use.base else None)
        wanted, broken = wanted_files(name, mbox, rules, config, limits, base)
        if not wanted and not broken:
            return SeriesCheck(name, (), None, use)
        task = Task(limits.seconds, debug, True, limits,
                    repo=Path(use.repo) if context is not None and use.repo else None,
                    base=use.base)
        outcome = stream_outcome(name, io.BytesIO(mbox), rules, config, task, context)
    finally:
        if context is not None:
            context.close()
    whole = any(f.context not in ("hunks", "") for c in outcome.coverage for f in c.files)
    return SeriesCheck(name, tuple(dict.fromkeys(wanted)), outcome,
                       replace(use, mode="tree" if whole else "hunks"))


def _context(use: TreeUse, cache_root: Path | None) -> Context | None:
    """Open the trees of a series that has a resolved base (None without one)."""
    if not use.repo or not use.base:
        return None
    from vfiolint.c.cache import default_root
    from vfiolint.inputs.context import Context

    return Context(cache_root or default_root(), None, True, 1)
