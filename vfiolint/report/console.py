"""The console report: per input and patch, each finding with its lines and function."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.markup import escape

from vfiolint.findings import Finding, Status

STYLES = {Status.INTRODUCED: "bold red", Status.FIXED: "green", Status.PRESENT: "yellow"}


def _group_key(f: Finding) -> tuple[str, int]:
    """Group findings by input and patch."""
    return f.input, f.patch.index if f.patch else -1


def _heading(f: Finding) -> str:
    """Name the patch or file a group of findings belongs to."""
    if f.patch is None:
        return f.input
    subject = f.patch.subject or (f.patch.commit or "")[:12] or "(no subject)"
    return f"{f.input}: {subject}"


def render(console: Console, findings: list[Finding], errors: list[tuple[str, str]],
           inputs: int) -> None:
    """Print the report to a rich Console (plain when it is not a terminal or NO_COLOR is set)."""
    for _, group in groupby(findings, key=_group_key):
        items = list(group)
        console.print(f"[bold]{escape(_heading(items[0]))}[/bold]")
        for f in items:
            style = STYLES[f.status]
            console.print(
                f"  {escape(f.path)}:{f.line}: [bold]{f.rule}[/bold] "
                f"[{style}]{f.status.value}[/{style}]: {escape(f.message)}"
                f" [dim]({f.name}, {f.severity.value}, {f.confidence.value} confidence)[/dim]"
            )
            where = f"in {f.function}()" if f.function else "at file scope"
            console.print(f"    [dim]{escape(where)}[/dim]")
            for line, text in f.snippet:
                console.print(f"    [dim]{line:>6} |[/dim] {escape(text)}")
        console.print()
    counts = {s: sum(1 for f in findings if f.status is s) for s in Status}
    console.print(
        f"{inputs} input(s): {counts[Status.INTRODUCED]} introduced, "
        f"{counts[Status.FIXED]} fixed, {counts[Status.PRESENT]} present"
        + (f", {len(errors)} error(s)" if errors else "")
    )
