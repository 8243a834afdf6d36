"""Reporters: one interface, one module per format.

Every format module defines ``write(report, out, color)``; ``reporter(name)`` returns it, so
the command line never needs to know one format from another. Reporters are pure renderings
of a ``Report``: they never decide what is kept or what the run's exit code is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from vfiolint.findings import Finding, Status

if TYPE_CHECKING:
    from vfiolint.coverage import Coverage
    from vfiolint.model import Patch
    from vfiolint.rules.loader import Rule

FORMATS = ("console", "json", "sarif", "github", "email", "checkpatch")
_MODULES = {"console": "console", "json": "json_doc", "sarif": "sarif", "github": "github",
            "email": "email_reply", "checkpatch": "checkpatch"}


def utf8(text: str) -> str:
    """Return text that can be written as UTF-8: each byte of the input that was not UTF-8
    (a lone surrogate, from a file name or a message body) written as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


@dataclass(frozen=True, slots=True)
class Counts:
    """What a run read, each kind counted apart: inputs (files and standard input; a directory
    counts its files), the patches and C files found in them, commits of a range, and the
    staged change."""

    inputs: int = 0
    patches: int = 0
    source_files: int = 0
    commits: int = 0
    staged: int = 0

    def describe(self) -> str:
        """Say what was read: "2 inputs (3 patches, 1 source file)", "5 commits"."""
        found = ", ".join(plural(n, word) for n, word in (
            (self.patches, "patch"), (self.source_files, "source file")) if n)
        parts = []
        if self.inputs:
            parts.append(plural(self.inputs, "input") + (f" ({found})" if found else ""))
        elif found:  # files of a revision (--tree): no input was named
            parts.append(found)
        elif not (self.commits or self.staged):
            parts.append(plural(self.inputs, "input"))
        if self.commits:
            parts.append(plural(self.commits, "commit"))
        if self.staged:
            parts.append("the staged change")
        return ", ".join(parts)


def plural(n: int, word: str) -> str:
    """Write a count with its noun: "1 patch", "3 patches"."""
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}{'es' if word.endswith(('ch', 'sh', 's', 'x')) else 's'}"


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a reporter may show: the kept findings in report order (docs/output.md), the input errors,
    what was read, the rules that ran, and the command line that reproduces the run."""

    findings: list[Finding]
    errors: list[tuple[str, str]]
    coverage: list[Coverage] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    patches: dict[tuple[str, int], Patch] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    command: list[str] = field(default_factory=lambda: ["vfiolint", "check"])
    sender: str = "vfiolint <vfiolint@localhost>"  # the email format's From


Writer = Callable[[Report, TextIO, bool], None]


def reporter(name: str) -> Writer:
    """Return the ``write`` function of a format (its module is imported only when used)."""
    module = importlib.import_module(f"vfiolint.report.{_MODULES[name]}")
    writer: Writer = module.write
    return writer


def problems(findings: list[Finding]) -> Iterator[tuple[Finding, bool]]:
    """Yield the findings a problem list shows, with whether each is blamed on the change.

    Fixed and waived hazards are not problems. An introduced hazard, or one present in a plain
    source file, is blamed (reported at its rule's severity); one present in touched code of a
    patch is shown at the mildest level."""
    for f in findings:
        if f.status is Status.FIXED or f.waiver is not None:
            continue
        yield f, f.status is Status.INTRODUCED or f.patch is None


def location(f: Finding) -> tuple[str, int, int] | None:
    """Return the path and lines a finding is shown at: its place in the range's head when it
    was placed there (``--lines head``), else its own; None when its code is gone at the head."""
    if f.head is None:
        return f.path, f.line, f.end_line
    if f.head.path is None or f.head.line is None or f.head.end_line is None:
        return None
    return f.head.path, f.head.line, f.head.end_line
