"""The console report: per input and patch, each finding with its lines and function."""

from __future__ import annotations

from itertools import groupby
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from vfiolint.findings import Finding, PatchRef, Status
from vfiolint.model import Patch
from vfiolint.report import Counts, Report, location

STYLES = {Status.INTRODUCED: "bold red", Status.FIXED: "green", Status.PRESENT: "yellow"}


def _group_key(f: Finding) -> tuple[str, int]:
    """Group findings by input and patch."""
    return f.input, f.patch.index if f.patch else -1


def _heading(f: Finding) -> str:
    """Name the patch or file a group of findings belongs to."""
    if f.patch is None:
        return f.input
    subject = f.patch.subject or "(no subject)"
    commit = f"{f.patch.commit[:12]} " if f.patch.commit else ""
    return f"{f.input}: {commit}{subject}"


def render(console: Console, findings: list[Finding], errors: list[tuple[str, str]],
           counts: Counts, patches: dict[tuple[str, int], Patch] | None = None) -> None:
    """Print the report to a rich Console (plain when it is not a terminal or NO_COLOR is set)."""
    for _, group in groupby(findings, key=_group_key):
        items = list(group)
        console.print(f"[bold]{escape(_heading(items[0]))}[/bold]")
        for f in items:
            style = STYLES[f.status]
            where = location(f)
            path, line = (where[0], where[1]) if where else (f.path, f.line)
            gone = f" [dim](gone at {f.head.commit[:12]})[/dim]" if f.head and not where else ""
            console.print(
                f"  {escape(path)}:{line}{gone}: [bold]{f.rule}[/bold] "
                f"[{style}]{f.status.value}[/{style}]: {escape(f.message)}"
                f" [dim]({f.name}, {f.severity.value}, {f.confidence.value} confidence)[/dim]"
            )
            if f.waiver is not None:
                console.print(f"    [dim]waived ({f.waiver.by}): {escape(f.waiver.reason)}[/dim]")
            scope = f"in {f.function}()" if f.function else "at file scope"
            console.print(f"    [dim]{escape(scope)}[/dim]")
            if len(f.flow) > 1:
                path = " -> ".join(step.shown() for step in f.flow)
                console.print(f"    [dim]via[/dim] {escape(path)}")
            for line, text in f.snippet:
                console.print(f"    [dim]{line:>6} |[/dim] {escape(text)}")
        console.print()
    for summary in series_summary(findings, patches or {}):
        console.print(escape(summary))
    statuses = {s: sum(1 for f in findings if f.status is s) for s in Status}
    waived = sum(1 for f in findings if f.waiver is not None)
    console.print(
        f"{counts.describe()}: {statuses[Status.INTRODUCED]} introduced, "
        f"{statuses[Status.FIXED]} fixed, {statuses[Status.PRESENT]} present"
        + (f", {waived} waived" if waived else "")
        + (f", {len(errors)} error(s)" if errors else "")
    )


def _name(patch: Patch | None, ref: PatchRef) -> str:
    """Name a patch in a series summary: its commit, its counter (2/5), else its subject."""
    if ref.commit:
        return ref.commit[:12]
    if patch is not None and patch.counter is not None and patch.expected:
        return f"{patch.counter}/{patch.expected}"
    return f'"{ref.subject or ref.input}"'


def series_summary(findings: list[Finding], patches: dict[tuple[str, int], Patch]) -> list[str]:
    """Summarise each multi-patch input: "VFIO003 introduced in 2/5, fixed in 4/5", or with
    commit ids for a range."""
    lines = []
    for name, group in groupby(findings, key=lambda f: f.input):
        items = [f for f in group if f.patch is not None]
        total = sum(1 for key in patches if key[0] == name)
        if total < 2 or not items:
            continue
        parts = []
        for rule in sorted({f.rule for f in items}):
            events: dict[str, list[str]] = {}
            for f in items:
                if f.rule == rule and f.patch is not None:
                    where = _name(patches.get((name, f.patch.index)), f.patch)
                    if where not in events.setdefault(f.status.value, []):
                        events[f.status.value].append(where)
            parts.append(f"{rule} " + ", ".join(f"{status} in {' '.join(where)}"
                                               for status, where in events.items()))
        lines.append(f"Series {name}: " + "; ".join(parts))
    return lines


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Print the report, in colour only when asked (a terminal without NO_COLOR)."""
    console = Console(file=out, soft_wrap=True, no_color=not color, highlight=False, emoji=False,
                      force_terminal=color)
    render(console, report.findings, report.errors, report.counts, report.patches)
