"""The ``--format json`` document of CONTRACT.md, with vfiolint's extensions."""

from __future__ import annotations

import json

from vfiolint import __version__
from vfiolint.findings import Finding

SCHEMA_VERSION = "1.0.0"


def finding_object(f: Finding) -> dict[str, object]:
    """Return one finding as its JSON object."""
    patch = None
    if f.patch is not None:
        patch = {
            "input": f.patch.input,
            "subject": f.patch.subject,
            "message_id": f.patch.message_id,
            "commit": f.patch.commit,
            "index": f.patch.index,
        }
    return {
        "rule": f.rule,
        "name": f.name,
        "status": f.status.value,
        "severity": f.severity.value,
        "path": f.path,
        "line": f.line,
        "end_line": f.end_line,
        "message": f.message,
        "patch": patch,
        "column": f.span.column,
        "confidence": f.confidence.value,
        "function": f.function,
        "fingerprint": f.fingerprint,
        "input": f.input,
        "waived": {"by": f.waiver.by, "reason": f.waiver.reason} if f.waiver else None,
    }


def render(findings: list[Finding], errors: list[tuple[str, str]]) -> str:
    """Render findings and input errors as the JSON document."""
    doc = {
        "version": SCHEMA_VERSION,
        "tool": {"name": "vfiolint", "version": __version__},
        "findings": [finding_object(f) for f in findings],
        "errors": [{"input": name, "message": message} for name, message in errors],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
