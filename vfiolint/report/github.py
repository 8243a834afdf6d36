"""GitHub Actions workflow commands: one annotation per finding a pull request can show."""

from __future__ import annotations

from typing import TextIO

from vfiolint.findings import Finding
from vfiolint.report import Report, location, problems, utf8

LEVELS = {"error": "error", "warning": "warning", "note": "notice"}


def _data(text: str) -> str:
    """Escape a workflow-command message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """Escape a workflow-command property value."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(findings: list[Finding], errors: list[tuple[str, str]]) -> str:
    """Render ``::error file=…,line=…::…`` lines; fixed hazards have no post-image line to mark,
    and a range's finding whose code is gone at the head has no line to annotate."""
    out = []
    for f, blamed in problems(findings):
        where = location(f)
        if where is None:
            continue
        path, line, end_line = where
        level = LEVELS[f.severity.value] if blamed else "notice"
        props = (f"file={_property(path)},line={line},endLine={end_line},"
                 f"col={f.span.column},title={_property(f'{f.rule} {f.name} ({f.status})')}")
        out.append(f"::{level} {props}::{_data(f.message)}")
    out += [f"::error title=vfiolint::{_data(message)}" for _, message in errors]
    return utf8("".join(line + "\n" for line in out))  # the runner reads UTF-8


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Write the workflow commands."""
    out.write(render(report.findings, report.errors))
