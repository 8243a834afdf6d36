"""A line of one commit, carried to a later commit (a range's head) through git's diff.

A pull request is annotated on the tree of its head, while a finding of a range is on the
lines of the commit that touched the code. ``HeadMap.place`` follows a finding's lines from its
commit to the head: through the zero-context hunks of ``git diff COMMIT HEAD`` (renames
followed), shifted by what was inserted or deleted above them; a line a hunk rewrites or
deletes is gone, and so is the finding's code at the head.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vfiolint.errors import GitError
from vfiolint.gitstore import check_revision, git
from vfiolint.inputs.git import DIFF_OPTIONS

HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
# Renames are looked for only when the head no longer has a file under its name.
NAME_OPTIONS = ("--no-color", "--no-ext-diff", "-M", "--name-status", "-z")


@dataclass(frozen=True, slots=True)
class Hunk:
    """The numbers of one zero-context hunk: ``old_len`` lines at ``old_start`` became
    ``new_len`` lines at ``new_start`` (a length 0 start names the line before the gap)."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int


def parse_hunks(diff_text: bytes) -> list[Hunk]:
    """Read the ``@@`` headers of a one-file, zero-context diff."""
    def length(text: bytes | None) -> int:
        return 1 if text is None else int(text)

    return [Hunk(int(m[1]), length(m[2]), int(m[3]), length(m[4]))
            for m in HUNK_RE.finditer(diff_text)]


def map_span(hunks: Sequence[Hunk], line: int, end_line: int) -> tuple[int, int] | None:
    """Carry lines ``line..end_line`` through hunks in file order; None when a hunk rewrote
    or deleted any of them."""
    shift = 0
    for h in hunks:
        if h.old_len == 0:  # an insertion after line old_start
            if h.old_start >= end_line:
                break
            if h.old_start >= line:
                return None  # inserted inside the span: the code there changed
            shift += h.new_len
            continue
        if h.old_start > end_line:
            break
        if h.old_start + h.old_len - 1 >= line:
            return None
        shift += h.new_len - h.old_len
    return line + shift, end_line + shift


@dataclass(frozen=True, slots=True)
class Place:
    """Where lines are in the head: its path and lines."""

    path: str
    line: int
    end_line: int


@dataclass
class HeadMap:
    """Carries lines of any commit of a repository to one head commit, one diff per file."""

    repo: Path
    head: str
    _files: dict[tuple[str, str], tuple[str, list[Hunk]] | None] = field(default_factory=dict)

    def place(self, commit: str, path: str, line: int, end_line: int) -> Place | None:
        """Return where lines of ``path`` in ``commit`` are in the head, None if gone."""
        key = (commit, path)
        if key not in self._files:
            self._files[key] = self._follow(commit, path)
        found = self._files[key]
        if found is None:
            return None
        new_path, hunks = found
        span = map_span(hunks, line, end_line)
        return None if span is None else Place(new_path, *span)

    def _follow(self, commit: str, path: str) -> tuple[str, list[Hunk]] | None:
        """Return a file's path in the head and the hunks from ``commit`` to the head."""
        new_path = path if self._exists(path) else self._renamed(commit, path)
        if new_path is None:
            return None
        # Blob against blob: the two are compared however little of the file is left alike.
        options = [o for o in DIFF_OPTIONS if not o.startswith(("-U", "-M"))]
        return new_path, parse_hunks(git(self.repo, "diff", *options, "-U0",
                                         f"{commit}:{path}", f"{self.head}:{new_path}"))

    def _exists(self, path: str) -> bool:
        """Tell whether the head has a file at ``path``."""
        try:
            git(self.repo, "cat-file", "-e", f"{self.head}:{path}")
        except GitError:
            return False
        return True

    def _renamed(self, commit: str, path: str) -> str | None:
        """Follow a file's renames from ``commit`` to the head, commit by commit (one diff
        from ``commit`` to the head may no longer pair a file that changed much as well)."""
        raw = git(self.repo, "log", "--reverse", *NAME_OPTIONS, "--diff-filter=R",
                  "--format=", f"{commit}..{self.head}", "--")
        for status in _statuses(raw):
            if status[1] == path:
                path = status[2]
        return path if self._exists(path) else None


def _statuses(raw: bytes) -> list[tuple[str, ...]]:
    """Split ``--name-status -z`` output into (status, path[, new path]) records."""
    words = raw.decode("utf-8", "surrogateescape").split("\0")
    out: list[tuple[str, ...]] = []
    i = 0
    while i < len(words) and words[i]:
        status = words[i]
        width = 2 if status[0] in "RC" else 1
        out.append((status, *words[i + 1:i + 1 + width]))
        i += 1 + width
    return out


def range_head(repo: Path, revision_range: str) -> str | None:
    """Return the commit a range ends at: its one positive revision (``A..B``: B; one
    commit: itself); None for a range with several tips or a symmetric difference."""
    check_revision(revision_range)
    if "..." in revision_range:
        return None
    words = revision_range.split()
    if len(words) == 1 and ".." in revision_range:
        tip = revision_range.split("..", 1)[1] or "HEAD"
    else:
        tips = [w for w in words if not w.startswith("^")]
        if len(tips) != 1:
            return None
        tip = tips[0]
    check_revision(tip)
    out = git(repo, "rev-parse", "--verify", "--end-of-options", f"{tip}^{{commit}}")
    return out.decode().strip()
