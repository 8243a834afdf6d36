"""checkpatch.pl's ``--terse --showfile`` shape, so b4 and Patchew can call vfiolint unchanged.

``FILE:LINE: LEVEL: message``: an introduced hazard is ERROR or WARNING by severity, a hazard
already present in touched code (or in a source file) is CHECK; a fixed one is not a problem.
"""

from __future__ import annotations

from vfiolint.findings import Finding, Status

LEVELS = {"error": "ERROR", "warning": "WARNING", "note": "CHECK"}


def render(findings: list[Finding], errors: list[tuple[str, str]]) -> str:
    """Render one line per finding."""
    out = []
    for f in findings:
        if f.status is Status.FIXED or f.waiver is not None:
            continue
        level = LEVELS[f.severity.value] if f.status is Status.INTRODUCED or f.patch is None \
            else "CHECK"
        out.append(f"{f.path}:{f.line}: {level}:{f.rule}: {f.message} [{f.name}, {f.status}]")
    out += [f"{name}:0: ERROR:VFIOLINT: {message}" for name, message in errors]
    return "".join(line + "\n" for line in out)
