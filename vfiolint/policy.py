"""Which findings are kept and in what order: de-duplication and the report order (docs/output.md)."""

from __future__ import annotations

from vfiolint.findings import Finding, Status


def keep(findings: list[Finding]) -> list[Finding]:
    """Drop repeats of one finding within one patch and sort in report order."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for f in sorted(findings, key=lambda f: (*f.sort_key(), f.status, f.fingerprint)):
        key = (f.input, f.patch.index if f.patch else -1, f.fingerprint, f.status, f.line)
        if key not in seen:
            seen.add(key)
            kept.append(f)
    return kept


def failing(findings: list[Finding]) -> bool:
    """Tell whether findings fail a run: anything introduced, or present in a source file,
    that is not waived."""
    return any(
        f.waiver is None
        and (f.status is Status.INTRODUCED or (f.status is Status.PRESENT and f.patch is None))
        for f in findings
    )
