"""Reporters: pure functions from findings (and their context) to text."""

from __future__ import annotations

from collections.abc import Iterator

from vfiolint.findings import Finding, Status


def problems(findings: list[Finding]) -> Iterator[tuple[Finding, bool]]:
    """Yield the findings a problem list shows, with whether each is blamed on the change.

    Fixed and waived hazards are not problems. An introduced hazard, or one present in a plain
    source file, is blamed (reported at its rule's severity); one present in touched code of a
    patch is shown at the mildest level."""
    for f in findings:
        if f.status is Status.FIXED or f.waiver is not None:
            continue
        yield f, f.status is Status.INTRODUCED or f.patch is None
