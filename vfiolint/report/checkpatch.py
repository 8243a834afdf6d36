"""checkpatch.pl's ``--terse --showfile`` shape, so b4 and Patchew can call vfiolint unchanged.

``FILE:LINE: LEVEL: message``: an introduced hazard is ERROR or WARNING by severity, a hazard
already present in touched code (or in a source file) is CHECK; a fixed one is not a problem.
"""

from __future__ import annotations

from typing import TextIO

from vfiolint.findings import Finding
from vfiolint.report import Report, problems, utf8

LEVELS = {"error": "ERROR", "warning": "WARNING", "note": "CHECK"}


def render(findings: list[Finding], errors: list[tuple[str, str]]) -> str:
    """Render one line per finding."""
    out = []
    for f, blamed in problems(findings):
        level = LEVELS[f.severity.value] if blamed else "CHECK"
        out.append(f"{f.path}:{f.line}: {level}:{f.rule}: {f.message} [{f.name}, {f.status}]")
    out += [f"{name}:0: ERROR:VFIOLINT: {message}" for name, message in errors]
    return utf8("".join(line + "\n" for line in out))


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Write the checkpatch-shaped lines."""
    out.write(render(report.findings, report.errors))
